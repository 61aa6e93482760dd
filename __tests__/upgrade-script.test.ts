import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSync } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { synthLab } from "../constructs/emit/synth-lab";
import type { StandinState } from "./support/talosctl-standin";

/**
 * The generated upgrade.sh, run by bash against a stand-in talosctl that models node versions and etcd
 * membership (support/talosctl-standin.ts). The test reads only the script and the stand-in's state.
 */
const hasShellcheck = spawnSync("shellcheck", ["--version"]).status === 0;
if (!hasShellcheck) console.warn("upgrade.sh shellcheck: skipped — shellcheck is not installed");

let root: string;
let talosctl: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "upgrade-sh-"));
  const bundle = join(root, "standin.js");
  buildSync({ entryPoints: [join(__dirname, "support", "talosctl-standin.ts")], bundle: true, platform: "node", format: "cjs", outfile: bundle, logLevel: "error" });
  talosctl = join(root, "talosctl");
  writeFileSync(talosctl, `#!/bin/sh\nexec "${process.execPath}" "${bundle}" "$@"\n`);
  chmodSync(talosctl, 0o755);
  // the Proxmox API as the stand-in answers it: a `curl` first on the PATH
  mkdirSync(join(root, "bin"));
  writeFileSync(join(root, "bin", "curl"), `#!/bin/sh\nexec "${process.execPath}" "${bundle}" --curl "$@"\n`);
  chmodSync(join(root, "bin", "curl"), 0o755);
  writeFileSync(join(root, "talosconfig"), "context: stand-in\n");
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const REFERENCE_NODES = [
  ["talos-cp-1", "10.10.100.11", "controlplane"],
  ["talos-cp-2", "10.10.100.12", "controlplane"],
  ["talos-cp-3", "10.10.100.13", "controlplane"],
  ["talos-worker-1", "10.10.100.21", "worker"],
  ["talos-worker-2", "10.10.100.22", "worker"],
] as const;

/** The schematic the reference lab's nodes run (its default extensions). */
const REFERENCE_SCHEMATIC = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515";

function cluster(
  nodes: readonly (readonly [string, string, "controlplane" | "worker"])[],
  version: string,
  extra: Partial<StandinState> = {},
  schematic = REFERENCE_SCHEMATIC,
): StandinState {
  return {
    nodes: nodes.map(([name, ip, role], i) => ({
      name,
      ip,
      role,
      version,
      schematic,
      recoverIn: 0,
      memberId: (0x1a2b3c4d00000000n + BigInt(i)).toString(16).padStart(16, "0"),
      // the reference lab's default VM ids: zone base 3000 plus the address's last octet
      vmid: 3000 + Number(ip.split(".")[3]),
      pveNode: "pve",
    })),
    recovery: 12,
    upgrades: [],
    violations: [],
    ...extra,
  };
}

interface Run {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly state: StandinState;
}

/** Synthesizes a lab and returns its upgrade.sh text. */
function script(spec: Parameters<typeof synthLab>[0], label: string): string {
  return readFileSync(join(synthLab(spec, join(root, label)), "upgrade.sh"), "utf8");
}

/** Runs a script with bash (asynchronously: the test worker stays responsive while bash runs). */
async function run(text: string, state: StandinState, args: string[] = [], env: Record<string, string> = {}): Promise<Run> {
  const dir = mkdtempSync(join(root, "run-"));
  const file = join(dir, "upgrade.sh");
  writeFileSync(file, text);
  const statePath = join(dir, "state.json");
  writeFileSync(statePath, JSON.stringify(state));
  const child = spawn("bash", [file, "--talosconfig", join(root, "talosconfig"), ...args], {
    env: { PATH: `${join(root, "bin")}:${process.env.PATH}`, TALOSCTL: talosctl, STANDIN_STATE: statePath, GATE_INTERVAL: "0", GATE_TIMEOUT: "30", ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const status = await new Promise<number>((done) => child.on("close", (code) => done(code ?? -1)));
  return { status, stdout, stderr, state: JSON.parse(readFileSync(statePath, "utf8")) };
}

const versions = (s: StandinState) => Object.fromEntries(s.nodes.map((n) => [n.name, n.version]));
const everyNodeOn = (s: StandinState, v: string) => Object.fromEntries(s.nodes.map((n) => [n.name, v]));

describe("upgrade.sh against a stand-in talosctl", () => {
  let upgrade: string;
  beforeAll(() => {
    upgrade = script({ talos: { version: "v1.13.10" } }, "patch");
  });

  it("rolls control planes one at a time behind the etcd gate, then workers, and a re-run does nothing", async () => {
    const r = await run(upgrade, cluster(REFERENCE_NODES, "v1.13.9"));
    expect(r.stderr).not.toContain("upgrade.sh:");
    expect(r.status).toBe(0);
    expect(r.state.violations).toEqual([]);
    expect(r.state.upgrades).toEqual(REFERENCE_NODES.map(([n]) => `${n} v1.13.10`));
    expect(versions(r.state)).toEqual(everyNodeOn(r.state, "v1.13.10"));
    expect(r.stdout).toContain("every node runs v1.13.10");
    const again = await run(upgrade, r.state);
    expect(again.status).toBe(0);
    expect(again.state.upgrades).toEqual(r.state.upgrades);
    expect(again.stdout.match(/already runs v1\.13\.10/g)).toHaveLength(5);
  });

  it("resumes where an interrupted run stopped", async () => {
    const partly = cluster(REFERENCE_NODES, "v1.13.9");
    partly.nodes[0].version = "v1.13.10";
    partly.nodes[1].version = "v1.13.10";
    const r = await run(upgrade, partly);
    expect(r.status).toBe(0);
    expect(r.state.upgrades).toEqual(["talos-cp-3 v1.13.10", "talos-worker-1 v1.13.10", "talos-worker-2 v1.13.10"]);
  });

  it("changes nothing in --dry-run and says what it would do", async () => {
    const before = cluster(REFERENCE_NODES, "v1.13.9");
    const r = await run(upgrade, before, ["--dry-run"]);
    expect(r.status).toBe(0);
    expect(r.state.upgrades).toEqual([]);
    expect(versions(r.state)).toEqual(versions(before));
    expect(r.stdout.match(/dry run: would upgrade/g)).toHaveLength(5);
    expect(r.stdout).toContain("dry run: nothing was changed");
    expect(r.stdout).not.toContain("every node runs");
    expect(r.stdout).toContain("upgrade --image registry.mgmt.lab.internal:9443/nocloud-installer/");
  });

  it("stops at the first node that fails, before touching another", async () => {
    const r = await run(upgrade, cluster(REFERENCE_NODES, "v1.13.9", { failUpgrade: ["10.10.100.12"] }));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("talos-cp-2 (10.10.100.12): talosctl upgrade failed");
    expect(r.state.upgrades).toEqual(["talos-cp-1 v1.13.10"]);
  });

  it("gives up when etcd stays unhealthy, and upgrades nothing more", async () => {
    const sick = cluster(REFERENCE_NODES, "v1.13.9");
    sick.nodes[2].recoverIn = 1000;
    const r = await run(upgrade, sick, [], { GATE_TIMEOUT: "0" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("etcd is not healthy");
    expect(r.state.upgrades).toEqual([]);
  });

  it("refuses bad arguments with exit 2", async () => {
    const r = await run(upgrade, cluster(REFERENCE_NODES, "v1.13.9"), ["--frobnicate"]);
    expect(r.status).toBe(2);
    expect(r.state.upgrades).toEqual([]);
  });

  it("upgrades a single control plane (its downtime is inherent)", async () => {
    const single = script(
      { talos: { version: "v1.13.10", controlPlanes: [{ name: "talos-cp-1", ip: "10.10.100.11" }], workers: [{ name: "talos-worker-1", ip: "10.10.100.21" }] } },
      "single",
    );
    const r = await run(single, cluster([REFERENCE_NODES[0], REFERENCE_NODES[3]], "v1.13.9"));
    expect(r.status).toBe(0);
    expect(r.state.violations).toEqual([]);
    expect(r.state.upgrades).toEqual(["talos-cp-1 v1.13.10", "talos-worker-1 v1.13.10"]);
  });

  it("rolls a new schematic at the same version (extensions changed)", async () => {
    const ext = script({ talos: { extensions: ["siderolabs/qemu-guest-agent", "siderolabs/iscsi-tools"] } }, "schematic");
    const target = /^readonly TARGET_SCHEMATIC='([0-9a-f]{64})'$/m.exec(ext)![1];
    expect(target).not.toBe(REFERENCE_SCHEMATIC);
    const r = await run(ext, cluster(REFERENCE_NODES, "v1.13.9"));
    expect(r.status).toBe(0);
    expect(r.state.upgrades).toEqual(REFERENCE_NODES.map(([n]) => `${n} v1.13.9`));
    expect(new Set(r.state.nodes.map((n) => n.schematic))).toEqual(new Set([target]));
  });

  it("never downgrades a node that runs a newer version", async () => {
    const ahead = cluster(REFERENCE_NODES, "v1.13.9");
    ahead.nodes[1].version = "v1.14.0";
    const r = await run(upgrade, ahead);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("talos-cp-2 (10.10.100.12) runs v1.14.0, newer than v1.13.10: this script does not downgrade");
    expect(versions(r.state)["talos-cp-2"]).toBe("v1.14.0");
  });

  it("upgrades a node on a release candidate to the release, and refuses the other way round", async () => {
    const rc = cluster(REFERENCE_NODES, "v1.13.9");
    rc.nodes[4].version = "v1.13.10-rc.1";
    const r = await run(upgrade, rc);
    expect(r.status).toBe(0);
    expect(versions(r.state)["talos-worker-2"]).toBe("v1.13.10");
    const toRc = upgrade.replace("readonly TARGET_VERSION='v1.13.10'", "readonly TARGET_VERSION='v1.13.10-rc.1'");
    expect(toRc).not.toBe(upgrade);
    const back = await run(toRc, cluster(REFERENCE_NODES, "v1.13.10"));
    expect(back.status).toBe(1);
    expect(back.stderr).toContain("runs v1.13.10, newer than v1.13.10-rc.1");
  });

  it("tolerates talosctl's version-skew warnings on stderr", async () => {
    const r = await run(upgrade, cluster(REFERENCE_NODES, "v1.13.9"), [], { STANDIN_CLIENT_VERSION: "v1.13.10" });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("WARNING: 10.10.100.11: server version v1.13.9 is older than client version v1.13.10");
    expect(versions(r.state)).toEqual(everyNodeOn(r.state, "v1.13.10"));
  });

  it("refuses two control planes unless downtime is accepted", async () => {
    const two = script(
      {
        talos: {
          version: "v1.13.10",
          allowEvenControlPlanes: true,
          controlPlanes: [
            { name: "talos-cp-1", ip: "10.10.100.11" },
            { name: "talos-cp-2", ip: "10.10.100.12" },
          ],
        },
      },
      "two",
    );
    const nodes = [REFERENCE_NODES[0], REFERENCE_NODES[1], REFERENCE_NODES[3], REFERENCE_NODES[4]];
    const refused = await run(two, cluster(nodes, "v1.13.9"));
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain("two control planes lose etcd quorum");
    expect(refused.state.upgrades).toEqual([]);
  });

  it("handles a lab without workers", async () => {
    const none = script({ talos: { version: "v1.13.10", workers: [] } }, "no-workers");
    expect(none).toContain("readonly WORKERS=()");
    const r = await run(none, cluster(REFERENCE_NODES.slice(0, 3), "v1.13.9"));
    expect(r.status).toBe(0);
    expect(r.state.upgrades).toEqual(["talos-cp-1 v1.13.10", "talos-cp-2 v1.13.10", "talos-cp-3 v1.13.10"]);
  });

  it("rolls reboots with --reboot through the Proxmox API, control planes one at a time behind the gate", async () => {
    const noToken = await run(upgrade, cluster(REFERENCE_NODES, "v1.13.10"), ["--reboot"]);
    expect(noToken.status).toBe(1);
    expect(noToken.stderr).toContain("--reboot needs PROXMOX_ENDPOINT and PROXMOX_API_TOKEN");
    const r = await run(upgrade, cluster(REFERENCE_NODES, "v1.13.10"), ["--reboot"], { TF_VAR_proxmox_endpoint: "https://pve.example:8006/", TF_VAR_proxmox_api_token: "root@pam!tofu=s3cret" });
    expect(r.stderr).not.toContain("upgrade.sh:");
    expect(r.status).toBe(0);
    expect(r.state.violations).toEqual([]);
    expect(r.state.upgrades).toEqual(REFERENCE_NODES.map(([n]) => `${n} reboot`));
    expect(r.stdout).toContain("every node rebooted");
  });

  it.skipIf(!hasShellcheck)("is shellcheck-clean", () => {
    const file = join(root, "check.sh");
    writeFileSync(file, upgrade);
    const r = spawnSync("shellcheck", [file], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  // The stand-in must catch what a broken script would do.
  describe("planted faults", () => {
    it("a script without the etcd gate loses quorum", async () => {
      const r = await run(upgrade.replace(/^\s*etcd_gate .*$/gm, ""), cluster(REFERENCE_NODES, "v1.13.9"));
      expect(r.status).not.toBe(0);
      expect(r.state.violations.join("\n")).toContain("quorum would be lost");
    });

    it("a script that skips a node fails the run (health names every node of the cluster)", async () => {
      const r = await run(upgrade.replace("'talos-worker-1 10.10.100.21' ", ""), cluster(REFERENCE_NODES, "v1.13.9"));
      expect(r.status).toBe(1);
      expect(r.state.violations).toContain("health: the node lists miss talos-worker-1");
      expect(versions(r.state)["talos-worker-1"]).toBe("v1.13.9");
    });

    it("a script that upgrades workers first is caught", async () => {
      const swapped = upgrade.replace('for entry in "${CONTROL_PLANES[@]}"; do\n  etcd_gate', 'for entry in "${WORKERS[@]}" "${CONTROL_PLANES[@]}"; do\n  etcd_gate');
      expect(swapped).not.toBe(upgrade);
      const r = await run(swapped, cluster(REFERENCE_NODES, "v1.13.9"));
      expect(r.state.violations.join("\n")).toContain("(worker) upgraded before every control plane");
    });

    it("a script that upgrades a control plane through itself is caught", async () => {
      const self = upgrade.replace('endpoint=$(endpoint_for "$ip")', 'endpoint=$ip');
      expect(self).not.toBe(upgrade);
      const r = await run(self, cluster(REFERENCE_NODES, "v1.13.9"));
      expect(r.state.violations.join("\n")).toContain("upgraded through itself");
    });
  });
});
