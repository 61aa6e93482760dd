import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { removeTempDir, synthToTemp, tempDir } from "./support/tree";
import { localExecEnvironment } from "./support/local-exec";

/**
 * tofu's preparation of the Proxmox nodes, judged on the written tree: the mgmt module's
 * `terraform_data.<node>-prepare` and the stack's `provision/prepare-proxmox-node.sh`, run as tofu
 * runs them (the resource's `local-exec` environment, variables filled) with a real ssh-agent and
 * ssh-add, and an `ssh` stand-in that runs what the script sends to the node in a local shell whose
 * node files live under a temp root (TE_ROOT); `ip`, `systemctl` and `update-ca-certificates` are
 * recorded. Two runs: the route, the hosts line and the lab CA after the first, nothing changed by
 * the second.
 */

const work = tempDir("prepare-node");
const trees: (() => void)[] = [];
afterAll(() => {
  trees.forEach((c) => c());
  removeTempDir(work);
});

type Json = Record<string, unknown>;
interface Prepare {
  readonly key: string;
  readonly command: string;
  readonly environment: Record<string, string>;
}

function synth(spec: Parameters<typeof synthToTemp>[0]): { stack: string; prepares: Prepare[]; files: Map<string, string> } {
  const t = synthToTemp(spec, "prepare-node-tree");
  trees.push(t.cleanup);
  const stackPath = [...t.files.keys()].find((k) => k.endsWith("/cdk.tf.json"))!.slice(0, -"/cdk.tf.json".length);
  const stack = join(t.dir, stackPath);
  const files = new Map([...t.files].filter(([k]) => k.startsWith(`${stackPath}/`)).map(([k, v]) => [k.slice(stackPath.length + 1), v]));
  const mgmt = JSON.parse(files.get("modules/mgmt/main.tf.json")!) as { resource: { terraform_data: Record<string, Json> } };
  const prepares = Object.entries(mgmt.resource.terraform_data)
    .filter(([k]) => k.endsWith("-prepare"))
    .map(([key, r]) => {
      const x = (r.provisioner as Json[])[0]["local-exec"] as { command: string; environment: Record<string, string> };
      return { key, command: x.command, environment: x.environment };
    });
  return { stack, prepares, files };
}

const reference = synth({});

/** A real ed25519 key, as the provider's proxmox_ssh_private_key would be. */
const keyFile = join(work, "id_ed25519");
spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "prepare-test", "-f", keyFile]);
const KEY = readFileSync(keyFile, "utf8");
const KEY_FINGERPRINT = spawnSync("ssh-keygen", ["-l", "-f", `${keyFile}.pub`], { encoding: "utf8" }).stdout.split(" ")[1];
const CA = "-----BEGIN CERTIFICATE-----\nMIIBlabCAsample\n-----END CERTIFICATE-----";
const VALUES: Record<string, string> = { firewall_wan_address: "203.0.113.7", lab_ca_certificate: `${CA}\n`, proxmox_ssh_private_key: KEY };

/** Stand-ins: ssh runs the node's program locally under TE_ROOT; ip, systemctl, update-ca-certificates record. */
function standins(dir: string): string {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  const put = (name: string, text: string) => {
    writeFileSync(join(bin, name), text);
    chmodSync(join(bin, name), 0o755);
  };
  put(
    "ssh",
    [
      "#!/bin/bash",
      "set -euo pipefail",
      // what the agent holds when the script logs in: the provider's key, never a file argument
      'printf \'ssh\\t%s\\tagent=%s\\n\' "$*" "$(ssh-add -l 2>/dev/null | cut -d" " -f2 | tr "\\n" " ")" >> "$STANDIN_LOG"',
      "command=${*: -1}",
      '[ "$command" = true ] && exit 0',
      '[ "$command" = "bash -s" ] || { echo "unexpected remote command: $command" >&2; exit 2; }',
      'exec env TE_ROOT="$NODE_ROOT" bash -s',
      "",
    ].join("\n"),
  );
  for (const tool of ["ip", "systemctl", "update-ca-certificates"]) put(tool, `#!/bin/sh\nprintf '${tool}\\t%s\\n' "$*" >> "$STANDIN_LOG"\n`);
  return bin;
}

interface Run {
  readonly status: number;
  readonly stderr: string;
  readonly calls: string[];
}

/** Runs the script (the tree's, or a planted copy) as the resource's local-exec would. */
function run(p: Prepare, script: string, dir: string, values = VALUES): Run {
  expect(p.command).toBe("bash ${path.root}/provision/prepare-proxmox-node.sh");
  const log = join(dir, "calls.log");
  writeFileSync(log, "");
  const r = spawnSync("bash", [script], {
    env: { PATH: `${standins(dir)}:${process.env.PATH}`, HOME: join(dir, "home"), STANDIN_LOG: log, NODE_ROOT: join(dir, "node"), ...localExecEnvironment(p.key, p.environment, values) },
    encoding: "utf8",
    input: "",
  });
  return { status: r.status ?? -1, stderr: r.stderr, calls: readFileSync(log, "utf8").split("\n").filter(Boolean) };
}

/** A node with an operator's /etc/hosts: its own lines, a blank line, another lab's line and a stale line of this lab. */
function node(label: string): string {
  const dir = join(work, label);
  mkdirSync(join(dir, "node", "etc"), { recursive: true });
  mkdirSync(join(dir, "home"), { recursive: true });
  writeFileSync(
    join(dir, "node", "etc", "hosts"),
    "127.0.0.1 localhost\n192.0.2.10 pve.example pve\n\n# operator's note\n10.0.0.5 other.lab.internal # talos-enclave other-lab\n192.168.100.50 registry.mgmt.lab.internal # talos-enclave talos-lab\n",
  );
  return dir;
}

const read = (dir: string, path: string) => readFileSync(join(dir, "node", path), "utf8");
const snapshot = (dir: string): Record<string, string> => {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, "node", rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else out[p] = read(dir, p);
    }
  };
  walk("");
  return out;
};
const UNIT = "etc/systemd/system/talos-enclave-talos-lab-mgmt-route.service";

/** Two runs of a script on one node: what each called, and the node's files after each. */
function twice(script: string, label: string) {
  const p = reference.prepares[0];
  const dir = node(label);
  const first = run(p, script, dir);
  const after1 = snapshot(dir);
  const second = run(p, script, dir);
  return { dir, first, second, after1, after2: snapshot(dir) };
}

const SCRIPT = join(reference.stack, "provision", "prepare-proxmox-node.sh");
/** A copy of the tree's script with one edit; the edit must change it. */
function plantedScript(edit: (t: string) => string): string {
  const before = readFileSync(SCRIPT, "utf8");
  const after = edit(before);
  expect(after, "the planted edit must change the script").not.toBe(before);
  const file = join(work, `planted-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(file, after);
  return file;
}
const registryLines = (hosts: string) => hosts.split("\n").filter((l) => /\sregistry\.mgmt\.lab\.internal(\s|$)/.test(l));

describe("tofu's preparation of the Proxmox nodes", () => {
  it("is one terraform_data per node in module mgmt, with the route, the registry's line, the CA and the provider's key", () => {
    expect(reference.prepares.map((p) => p.key)).toEqual(["pve-prepare"]);
    const env = reference.prepares[0].environment;
    expect(env).toMatchObject({
      TE_NODE: "pve",
      TE_SSH_USER: "root",
      TE_LAB: "talos-lab",
      TE_ROUTE_CIDR: "192.168.100.0/24",
      TE_ROUTE_VIA: "${var.firewall_wan_address}",
      TE_HOSTS: "192.168.100.11=registry.mgmt.lab.internal",
      TE_CA: "${var.lab_ca_certificate}",
      TE_SSH_KEY: "${var.proxmox_ssh_private_key}",
    });
    // with the provider on the agent there is no key to hand over
    const agent = synth({ proxmox: { sshAgent: true } });
    expect(agent.prepares[0].environment.TE_SSH_KEY).toBeUndefined();
    expect(JSON.parse(agent.files.get("modules/mgmt/main.tf.json")!).variable.proxmox_ssh_private_key).toBeUndefined();
    // on two nodes, one each, reached at the spec's SSH address
    const two = synth({
      proxmox: { nodes: [{ name: "pve-a", sshAddress: "198.51.100.7", uplinks: { vmbr1: ["eno2"], vmbr2: ["eno3"], vmbr3: ["eno4"] } }, { name: "pve-b", uplinks: { vmbr1: ["eno2"], vmbr2: ["eno3"], vmbr3: ["eno4"] } }] },
    });
    expect(two.prepares.map((p) => [p.key, p.environment.TE_NODE])).toEqual([
      ["pve-a-prepare", "198.51.100.7"],
      ["pve-b-prepare", "pve-b"],
    ]);
  });

  it("gives the node its route (persisted as a unit), exactly one line of the registry and the lab CA, and a second run changes nothing", () => {
    const { dir, first, second, after1, after2 } = twice(SCRIPT, "twice");
    expect(first.status, first.stderr).toBe(0);
    expect(second.status, second.stderr).toBe(0);
    // 1. the route, now and at boot
    expect(first.calls).toContain("ip\troute replace 192.168.100.0/24 via 203.0.113.7");
    expect(read(dir, UNIT)).toContain("ExecStart=/sbin/ip route replace 192.168.100.0/24 via 203.0.113.7\n");
    expect(read(dir, UNIT)).toMatch(/\[Service\]\nType=oneshot\nRemainAfterExit=yes\n/);
    expect(read(dir, UNIT)).toContain("WantedBy=multi-user.target");
    expect(first.calls).toContain("systemctl\tdaemon-reload");
    expect(first.calls).toContain("systemctl\tenable --quiet talos-enclave-talos-lab-mgmt-route.service");
    // 2. the hosts file: the operator's lines and the other lab's kept, this lab's stale line replaced
    const hosts = read(dir, "etc/hosts");
    expect(registryLines(hosts)).toEqual(["192.168.100.11 registry.mgmt.lab.internal # talos-enclave talos-lab"]);
    expect(hosts.startsWith("127.0.0.1 localhost\n192.0.2.10 pve.example pve\n\n# operator's note\n10.0.0.5 other.lab.internal # talos-enclave other-lab\n")).toBe(true);
    // 3. the CA in the trust store, then the store rebuilt
    expect(read(dir, "usr/local/share/ca-certificates/talos-enclave-talos-lab-ca.crt")).toBe(`${CA}\n`);
    expect(first.calls.filter((c) => c.startsWith("update-ca-certificates"))).toHaveLength(1);
    // the second run: same files, the route set again, nothing rewritten or rebuilt
    expect(after2).toEqual(after1);
    expect(second.calls).toContain("ip\troute replace 192.168.100.0/24 via 203.0.113.7");
    expect(second.calls.filter((c) => /^(update-ca-certificates|systemctl\tdaemon-reload)/.test(c))).toEqual([]);
    expect(registryLines(read(dir, "etc/hosts"))).toHaveLength(1);
  });

  it("logs in as the provider does: its key in an agent of the run, through standard input, never an argument or a file", () => {
    const { dir, first } = twice(SCRIPT, "key");
    const logins = first.calls.filter((c) => c.startsWith("ssh\t"));
    expect(logins.length).toBeGreaterThan(0);
    for (const c of logins) {
      expect(c).toMatch(/^ssh\t.* root@pve (true|bash -s)\t/);
      expect(c).toContain(`agent=${KEY_FINGERPRINT} `);
    }
    const body = KEY.split("\n")[1];
    for (const c of first.calls) expect(c).not.toContain(body);
    const written = Object.values(snapshot(dir)).join("\n") + readdirSync(join(dir, "home")).join("\n");
    expect(written).not.toContain(body);
  });

  it("stops before touching the node while pfSense's WAN address is unset, saying where to read it", () => {
    const dir = node("unset");
    const r = run(reference.prepares[0], SCRIPT, dir, { ...VALUES, firewall_wan_address: "" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("TE_ROUTE_VIA is not set");
    expect(r.calls.filter((c) => c.startsWith("ssh\t"))).toEqual([]);
    const bad = run(reference.prepares[0], SCRIPT, dir, { ...VALUES, firewall_wan_address: "203.0.113.7; reboot" });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("set TF_VAR_firewall_wan_address to the WAN address the pfSense console shows");
  });

  it.runIf(spawnSync("shellcheck", ["--version"]).status === 0)("is shellcheck-clean", () => {
    const r = spawnSync("shellcheck", [SCRIPT], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  describe("fails on planted faults", () => {
    it("a script that appends the hosts line instead of owning it: two lines after two runs", () => {
      const script = plantedScript((t) => t.replace(/^kept=\$\(grep .*$/m, 'kept=$(cat "$hosts")'));
      const { dir, second } = twice(script, "append");
      expect(second.status, second.stderr).toBe(0);
      expect(registryLines(read(dir, "etc/hosts")).length).toBeGreaterThan(1);
    });

    it("a script that sets no route: nothing routes MGMT through pfSense until a reboot", () => {
      const script = plantedScript((t) => t.replace(/^ip route replace "\$cidr" via "\$via"\n/m, ""));
      const { first } = twice(script, "no-route");
      expect(first.status, first.stderr).toBe(0);
      expect(first.calls.filter((c) => c.startsWith("ip\t"))).toEqual([]);
    });

    it("a script that rebuilds the trust store on every run", () => {
      const script = plantedScript((t) => t.replace(/^if put "\$root\/usr\/local\/share\/ca-certificates/m, 'true; if put "$root/usr/local/share/ca-certificates').replace(/^(  update-ca-certificates >\/dev\/null)$/m, "$1\nfi\nif true; then update-ca-certificates >/dev/null"));
      const { second } = twice(script, "rebuild");
      expect(second.calls.filter((c) => c.startsWith("update-ca-certificates"))).not.toEqual([]);
    });
  });
});
