import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HOST_STANDIN_DIR } from "../tools/tfsim/sandbox";
import { PROJECT_ROOT, readTree, tempDir } from "./support/tree";

/**
 * Tofu's host provisioning, judged on the written tree: the `terraform_data.<host>-provision`
 * resources of the zone modules and the stack's `provision/provision-host.sh`, run as tofu runs them
 * (the resource's `local-exec` environment, variables filled) against stand-ins for ssh, scp, skopeo
 * and apt-get. And the rule behind it, read from the module JSON alone: nothing stored on Proxmox
 * carries a secret.
 */

const STACK = join(PROJECT_ROOT, "examples", "reference-lab", "stacks", "talos-lab");
const files = readTree(STACK);
const work = tempDir("provision");
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Json = Record<string, unknown>;
const modules = [...files]
  .map(([path, text]) => [/^modules\/([a-z0-9_-]+)\/main\.tf\.json$/.exec(path)?.[1], text] as const)
  .filter((m): m is readonly [string, string] => m[0] !== undefined)
  .map(([name, text]) => ({ name, doc: JSON.parse(text) as { variable?: Record<string, Json>; resource?: Record<string, Record<string, Json>> } }));

/** Sample values of the sensitive variables, each with characters a careless shell would act on. */
const SECRETS: Record<string, string> = {
  lab_tls_certificate: "-----BEGIN CERTIFICATE-----\nMIIBsample\n-----END CERTIFICATE-----\n",
  lab_tls_private_key: "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIS4mpl3 $(touch /tmp/pwned) `id` ;|&\n-----END PRIVATE KEY-----\n",
  harbor_admin_password: "Sample-Harbor-pa$${x}%{y}: \"#1' $HOME",
  image_factory_signing_key: "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIFactorySample $(touch /tmp/pwned) `id`\n-----END EC PRIVATE KEY-----\n",
  ingress_kubeconfig: "apiVersion: v1\nkind: Config\nusers:\n  - name: ingress-access\n    user: {token: 'sample-sa-token-8f3a1c'}\n",
};

interface Provision {
  readonly module: string;
  readonly key: string;
  readonly environment: Record<string, string>;
  readonly command: string;
}
const provisions: Provision[] = modules.flatMap((m) =>
  Object.entries(m.doc.resource?.terraform_data ?? {}).flatMap(([key, r]) =>
    ((r.provisioner as Json[] | undefined) ?? [])
      .map((p) => p["local-exec"] as { command: string; environment: Record<string, string> } | undefined)
      .filter((x) => x !== undefined)
      .map((x) => ({ module: m.name, key, environment: x!.environment, command: x!.command })),
  ),
);
const byHost = (host: string) => provisions.find((p) => p.key === `${host}-provision`)!;

/** The local-exec environment as tofu hands it over: `${var.x}` filled, `$${` unescaped. */
function filledEnvironment(p: Provision, values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(p.environment).map(([k, v]) => {
      const ref = /^\$\{var\.([a-z0-9_]+)\}$/.exec(v);
      if (ref) return [k, values[ref[1]] ?? ""];
      expect(v, `${p.key} ${k}: only whole variable references are expressions`).not.toMatch(/(?<!\$)\$\{/);
      return [k, v.replace(/\$\$\{/g, "${")];
    }),
  );
}

interface Call {
  readonly tool: string;
  readonly args: string;
  readonly stdin?: { size: number; sha256: string };
}

/** Runs the tree's script as the resource's local-exec would, with the stand-ins first on PATH. */
function runProvision(p: Provision, values: Record<string, string>, standins = HOST_STANDIN_DIR, extra: Record<string, string> = {}): { status: number; stderr: string; calls: Call[]; log: string } {
  expect(p.command).toBe("bash ${path.root}/provision/provision-host.sh");
  const log = join(work, `${p.key}-${Math.random().toString(36).slice(2)}.log`);
  const r = spawnSync("bash", [join(STACK, "provision", "provision-host.sh")], {
    env: { PATH: `${standins}:${process.env.PATH}`, HOME: work, TE_STANDIN_LOG: log, TE_WAIT: "0", ...extra, ...filledEnvironment(p, values) },
    encoding: "utf8",
    input: "",
  });
  let text = "";
  try {
    text = readFileSync(log, "utf8");
  } catch {
    // no call was made
  }
  const calls = text
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [tool, args, stdin] = line.split("\t");
      const m = /^stdin=(\d+):([0-9a-f]{64})$/.exec(stdin ?? "");
      return { tool, args, ...(m ? { stdin: { size: Number(m[1]), sha256: m[2] } } : {}) };
    });
  return { status: r.status ?? -1, stderr: r.stderr, calls, log: text };
}

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");
const shellcheck = spawnSync("shellcheck", ["--version"]).status === 0;
if (!shellcheck) console.log("provision script lint skipped: shellcheck is not installed");

describe("the provisioning resources", () => {
  it("provision the registry (secrets, through its Proxmox node) and the DMZ ingress (packages, image, kubeconfig, from the runner)", () => {
    expect(provisions.map((p) => `${p.module}/${p.key}`).sort()).toEqual(["dmz/haproxy-ingress-1-provision", "mgmt/registry-provision"]);
    const registry = byHost("registry").environment;
    expect(registry.TE_JUMP).toMatch(/^root@/);
    // the certificate before its key, then the password, then the factory's signing key
    expect(registry.TE_FILES.split(" ").map((e) => e.split("=")[0])).toEqual(["lab_tls_certificate", "lab_tls_private_key", "harbor_admin_password", "image_factory_signing_key"]);
    // the factory's key: from its variable, at the path its config names, owner-only, re-run on change
    expect(registry.TE_FILES.split(" ")).toContain("image_factory_signing_key=/etc/talos-enclave/image-factory/cache-signing-key.pem:0600:root:root");
    expect(registry.TE_FILE_IMAGE_FACTORY_SIGNING_KEY).toBe("${var.image_factory_signing_key}");
    const mgmt = modules.find((m) => m.name === "mgmt")!.doc;
    const provisionResource = mgmt.resource!.terraform_data["registry-provision"];
    expect((provisionResource.triggers_replace as Record<string, string>).sha256_image_factory_signing_key).toBe("${sha256(var.image_factory_signing_key)}");
    expect(mgmt.variable!.image_factory_signing_key).toMatchObject({ sensitive: true });
    const ingress = byHost("haproxy-ingress-1").environment;
    expect(ingress.TE_JUMP).toBe("");
    expect(ingress.TE_PACKAGES.split(" ")).toEqual(expect.arrayContaining(["podman", "nftables"]));
    expect(ingress.TE_IMAGES).toMatch(/^registry\.mgmt\.lab\.internal\/proxy-docker\.io\/haproxytech\/kubernetes-ingress:/);
    // the unit runs the image the provisioning names
    expect(ingress.TE_FILE__FILE1).toBe(`IMAGE=${ingress.TE_IMAGES}\n`);
  });

  it("re-run when the VM is replaced or a secret changes (by its hash, not its value)", () => {
    for (const m of modules) {
      for (const [key, r] of Object.entries(m.doc.resource?.terraform_data ?? {})) {
        if (!key.endsWith("-provision")) continue;
        const triggers = r.triggers_replace as Record<string, string>;
        expect(triggers.vm).toMatch(/^\$\{proxmox_virtual_environment_vm\.[a-z0-9-]+\.id\}$/);
        const env = ((r.provisioner as Json[])[0]["local-exec"] as { environment: Record<string, string> }).environment;
        for (const [name, value] of Object.entries(env).filter(([n, v]) => n.startsWith("TE_FILE_") && v.startsWith("${"))) {
          const variable = /^\$\{var\.([a-z0-9_]+)\}$/.exec(value)![1];
          expect(triggers[`sha256_${variable}`], name).toBe(`\${sha256(var.${variable})}`);
          expect(JSON.stringify(triggers)).not.toContain(`"\${var.${variable}}"`);
        }
      }
    }
  });

  it.skipIf(!shellcheck)("the script passes shellcheck", () => {
    const r = spawnSync("shellcheck", ["-S", "style", join(STACK, "provision", "provision-host.sh")], { encoding: "utf8" });
    expect(r.status, r.stdout).toBe(0);
  });
});

describe("the provisioning script, run as tofu runs it", () => {
  it("pushes the ingress host's packages and image, then its kubeconfig on stdin, then starts its services, in that order", () => {
    const r = runProvision(byHost("haproxy-ingress-1"), SECRETS);
    expect(r.status, r.stderr).toBe(0);
    const step = (re: RegExp) => r.calls.findIndex((c) => re.test(`${c.tool} ${c.args}`));
    const order = [
      /^ssh .*labadmin@172\.16\.100\.10 true $/,
      /^ssh .* sudo cloud-init status --wait $/,
      /^apt-get .* update$/,
      /^apt-get .* install --download-only --yes --no-install-recommends qemu-guest-agent nftables podman$/,
      /^scp .*podman_0_all\.deb .*labadmin@172\.16\.100\.10:\/var\/tmp\/te-standin-inbox\/$/,
      /^ssh .* sudo env DEBIAN_FRONTEND=noninteractive sh -c .*--no-download/,
      /^skopeo copy --quiet -- docker:\/\/registry\.mgmt\.lab\.internal\/proxy-docker\.io\/haproxytech\/kubernetes-ingress:[\d.]+ docker-archive:.*image\.tar:registry\.mgmt/,
      /^ssh .* sudo podman load --quiet --input \/var\/tmp\/te-standin-inbox\/image\.tar $/,
      /^ssh .* sudo install -D -m 0644 -o root -g root -- \/dev\/stdin \/etc\/haproxy-ingress\/image\.env $/,
      /^ssh .* sudo install -D -m 0600 -o root -g root -- \/dev\/stdin \/etc\/haproxy-ingress\/kubeconfig $/,
      /^ssh .* sudo systemctl restart --no-block -- talos-enclave-ingress-setup\.service haproxy-ingress\.service $/,
    ].map(step);
    expect(order.every((i) => i >= 0), JSON.stringify(order) + "\n" + r.log).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    // the kubeconfig travels on standard input, whole, and never as an argument
    const write = r.calls.find((c) => c.args.includes("/etc/haproxy-ingress/kubeconfig"))!;
    expect(write.stdin).toEqual({ size: Buffer.byteLength(SECRETS.ingress_kubeconfig), sha256: sha256(SECRETS.ingress_kubeconfig) });
    expect(r.log).not.toContain("sample-sa-token");
    // the ingress host is reached directly: no jump host
    expect(r.calls.filter((c) => c.tool === "ssh").every((c) => !c.args.includes("-J"))).toBe(true);
  });

  it("writes the registry's certificate, key, Harbor's password and the factory's signing key, through its Proxmox node when it is not reachable directly, never in an argument", () => {
    // the stand-in host answers directly only through the jump host, as from outside the lab
    const r = runProvision(byHost("registry"), SECRETS, HOST_STANDIN_DIR, { TE_STANDIN_DIRECT: "refuse" });
    expect(r.status, r.stderr).toBe(0);
    const ssh = r.calls.filter((c) => c.tool === "ssh");
    expect(ssh.length).toBeGreaterThan(3);
    expect(ssh[0].args).not.toContain("-J");
    for (const c of ssh.slice(1)) expect(c.args).toMatch(/-J root@\S+ labadmin@192\.168\.100\.11 /);
    expect(r.stderr).toContain("reached over SSH through root@");
    for (const [variable, path, mode] of [["lab_tls_certificate", "/etc/talos-enclave/tls/registry.crt", "0644"], ["lab_tls_private_key", "/etc/talos-enclave/tls/registry.key", "0600"], ["harbor_admin_password", "/etc/talos-enclave/secrets/harbor-admin-password", "0600"], ["image_factory_signing_key", "/etc/talos-enclave/image-factory/cache-signing-key.pem", "0600"]]) {
      const write = ssh.find((c) => c.args.endsWith(`/dev/stdin ${path} `))!;
      expect(write.args).toContain(`install -D -m ${mode} -o root -g root --`);
      expect(write.stdin).toEqual({ size: Buffer.byteLength(SECRETS[variable]), sha256: sha256(SECRETS[variable]) });
    }
    const order = ["registry.crt", "registry.key", "harbor-admin-password", "cache-signing-key.pem"].map((f) => ssh.findIndex((c) => c.args.includes(f)));
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(r.log).not.toContain("MC4CAQAw");
    expect(r.log).not.toContain("Sample-Harbor");
    expect(r.log).not.toContain("FactorySample");
    // nothing to install or copy on a MGMT host, which fetches its own
    expect(r.calls.some((c) => c.tool === "apt-get" || c.tool === "skopeo" || c.tool === "scp")).toBe(false);
    const restart = ssh.findIndex((c) => /systemctl restart --no-block -- harbor\.service harbor-bootstrap\.service image-factory\.service $/.test(c.args));
    expect(restart).toBeGreaterThan(ssh.findIndex((c) => c.args.includes("harbor-admin-password")));
    // the last call cleans the inbox up
    expect(ssh.at(-1)!.args).toMatch(/ rm -rf \/var\/tmp\/te-standin-inbox $/);
  });

  it("stops at once, with the fix, when the host's key changed (a re-created VM)", () => {
    const t0 = Date.now();
    const r = runProvision(byHost("haproxy-ingress-1"), SECRETS, HOST_STANDIN_DIR, { TE_STANDIN_DIRECT: "host-key-changed", TE_WAIT: "900" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("the host key of 172.16.100.10 changed (a re-created VM?): check it, then ssh-keygen -R 172.16.100.10 and apply again");
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("waits while the host does not answer, and says so with ssh's reason when it gives up", () => {
    const r = runProvision(byHost("haproxy-ingress-1"), SECRETS, HOST_STANDIN_DIR, { TE_STANDIN_DIRECT: "refuse" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/no SSH answer after 0s \(is the VM up, and is this machine's key in admin_ssh_public_keys\?\): .*Connection refused/);
  });

  it("leaves a secret whose variable is still empty unwritten, and fails on one the environment lacks", () => {
    const empty = runProvision(byHost("haproxy-ingress-1"), { ...SECRETS, ingress_kubeconfig: "" });
    expect(empty.status, empty.stderr).toBe(0);
    expect(empty.stderr).toContain("ingress_kubeconfig is empty: /etc/haproxy-ingress/kubeconfig not written");
    expect(empty.calls.some((c) => c.args.includes("/etc/haproxy-ingress/kubeconfig"))).toBe(false);
    const p = byHost("registry");
    const lacking = { ...p, environment: Object.fromEntries(Object.entries(p.environment).filter(([k]) => k !== "TE_FILE_HARBOR_ADMIN_PASSWORD")) };
    const r = runProvision(lacking, SECRETS);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("TE_FILE_HARBOR_ADMIN_PASSWORD is not set");
  });

  it("quotes every remote argument: through a real shell on the far side, each step runs as written and each secret lands byte for byte with its mode", () => {
    // A stand-in host: ssh runs the command it gets in a fresh bash (the remote login shell), where
    // sudo drops to the command, absolute paths of writes move under a scratch root, and apt-get,
    // podman and systemctl only record what they were asked. Unquoted arguments would be split or
    // run by that shell.
    const root = join(work, "far-side");
    const bin = join(work, "far-side-bin");
    mkdirSync(join(root, "var", "tmp"), { recursive: true });
    mkdirSync(bin, { recursive: true });
    const script = (name: string, text: string) => {
      writeFileSync(join(bin, name), text);
      chmodSync(join(bin, name), 0o755);
    };
    const far = (name: string, body: string) => script(name, `#!/bin/bash\nif [ -z "\${FAR:-}" ]; then exec "${HOST_STANDIN_DIR}/${name}" "$@"; fi\n${body}\n`);
    script("ssh", `#!/bin/bash\nexec env -i PATH="${bin}:/usr/bin:/bin" FAR="${root}" bash --norc -c "\${@: -1}"\n`);
    script("scp", `#!/bin/bash\ndest="\${@: -1}"; dest="\${dest#*:}"; args=("\${@:1:$#-1}"); files=(); skip=0\nfor a in "\${args[@]}"; do if [ $skip = 1 ]; then skip=0; continue; fi; case "$a" in -o|-J) skip=1;; -*) ;; *) files+=("$a");; esac; done\nexec /bin/cp "\${files[@]}" "$dest"\n`);
    script("skopeo", `#!/bin/bash\nexec "${HOST_STANDIN_DIR}/skopeo" "$@"\n`);
    script("sudo", `#!/bin/bash\nexec "$@"\n`);
    script("mktemp", `#!/bin/bash\nmkdir -p "$FAR/var/tmp/inbox" && echo "$FAR/var/tmp/inbox"\n`);
    script("cloud-init", "#!/bin/bash\nexit 0\n");
    far("apt-get", `echo "apt-get $*" >> "$FAR/calls.log"; for a in "$@"; do case "$a" in *.deb) test -e "$a" || exit 9;; esac; done`);
    far("podman", `echo "podman $*" >> "$FAR/calls.log"; [ "$1 $2" != "image exists" ] || exit 1; if [ "$1" = load ]; then test -e "\${@: -1}" || exit 9; fi`);
    script("systemctl", `#!/bin/bash\necho "systemctl $*" >> "$FAR/calls.log"\n`);
    // install -D -m MODE -o U -g G SRC DEST: ownership is the stand-in's, the rest is real
    script("install", `#!/bin/bash\nargs=(); while [ $# -gt 0 ]; do case "$1" in -o|-g) shift 2;; *) args+=("$1"); shift;; esac; done\ndest="\${args[-1]}"; unset 'args[-1]'\nexec /usr/bin/install "\${args[@]}" "$FAR$dest"\n`);
    script("rm", `#!/bin/bash\nargs=(); for a in "$@"; do case "$a" in "$FAR"/*) args+=("$a");; /*) args+=("$FAR$a");; *) args+=("$a");; esac; done\nexec /bin/rm "\${args[@]}"\n`);
    for (const host of ["registry", "haproxy-ingress-1"]) {
      const r = runProvision(byHost(host), SECRETS, bin);
      expect(r.status, `${host}: ${r.stderr}`).toBe(0);
    }
    for (const [variable, path, mode] of [["lab_tls_certificate", "/etc/talos-enclave/tls/registry.crt", 0o644], ["lab_tls_private_key", "/etc/talos-enclave/tls/registry.key", 0o600], ["harbor_admin_password", "/etc/talos-enclave/secrets/harbor-admin-password", 0o600], ["image_factory_signing_key", "/etc/talos-enclave/image-factory/cache-signing-key.pem", 0o600], ["ingress_kubeconfig", "/etc/haproxy-ingress/kubeconfig", 0o600]] as const) {
      expect(readFileSync(join(root, path), "utf8"), variable).toBe(SECRETS[variable]);
      expect(statSync(join(root, path)).mode & 0o777).toBe(mode);
    }
    expect(readFileSync(join(root, "/etc/haproxy-ingress/image.env"), "utf8")).toMatch(/^IMAGE=registry\.mgmt\.lab\.internal\/proxy-docker\.io\/haproxytech\/kubernetes-ingress:[\d.]+\n$/);
    const calls = readFileSync(join(root, "calls.log"), "utf8");
    expect(calls).toContain("systemctl restart --no-block -- harbor.service harbor-bootstrap.service image-factory.service");
    const inbox = `${root}/var/tmp/inbox`;
    expect(calls).toContain(`apt-get install --yes --no-download ${inbox}/nftables_0_all.deb ${inbox}/podman_0_all.deb ${inbox}/qemu-guest-agent_0_all.deb\n`);
    expect(calls).toContain(`podman load --quiet --input ${inbox}/image.tar\n`);
    expect(calls).toContain("systemctl restart --no-block -- talos-enclave-ingress-setup.service haproxy-ingress.service");
  });
});

describe("no secret at rest on the hypervisor, read from the module JSON alone", () => {
  /**
   * What Proxmox stores: every proxmox resource's attributes (snippets, files, VM settings). A
   * secret is a sensitive variable of the module, or what the talos provider's secret-bearing
   * resources hold (machine secrets, configurations, client configurations, kubeconfigs).
   */
  const SECRET_RESOURCES = /\b(talos_machine_secrets|talos_machine_configuration|talos_client_configuration|talos_cluster_kubeconfig|talos_machine_bootstrap)\./;
  const leaks = (mods: typeof modules) =>
    mods.flatMap((m) => {
      const sensitive = Object.entries(m.doc.variable ?? {}).filter(([, v]) => v.sensitive === true).map(([k]) => k);
      return Object.entries(m.doc.resource ?? {})
        .filter(([type]) => type.startsWith("proxmox_"))
        .flatMap(([type, byName]) =>
          Object.entries(byName).flatMap(([name, r]) => {
            const text = JSON.stringify(r);
            // as HCL reads a reference: `var . x` is `var.x`
            const vars = [...text.matchAll(/\bvar\s*\.\s*([A-Za-z0-9_-]+)/g)].map((x) => x[1]).filter((v) => sensitive.includes(v));
            const other = SECRET_RESOURCES.exec(text)?.[1];
            return [...vars.map((v) => `${m.name}: ${type}.${name} reads var.${v}`), ...(other ? [`${m.name}: ${type}.${name} reads ${other}`] : [])];
          }),
        );
    });

  it("holds for the reference tree: no Proxmox resource reads a sensitive variable or a Talos secret", () => {
    expect(modules.some((m) => Object.values(m.doc.variable ?? {}).some((v) => v.sensitive === true))).toBe(true);
    expect(leaks(modules)).toEqual([]);
  });

  it("catches a snippet planted with Harbor's password, and a VM description planted with the machine secrets", () => {
    const planted = structuredClone(modules);
    const mgmt = planted.find((m) => m.name === "mgmt")!;
    const snippet = mgmt.doc.resource!.proxmox_virtual_environment_file["registry-user-data"] as { source_raw: { data: string } };
    const before = snippet.source_raw.data;
    snippet.source_raw.data = before.replace("jsonencode(var.lab_ca_certificate)", "jsonencode(var . harbor_admin_password)");
    expect(snippet.source_raw.data).not.toBe(before);
    const srv = planted.find((m) => m.name === "srv")!;
    const [vmName, vm] = Object.entries(srv.doc.resource!.proxmox_virtual_environment_vm)[0];
    vm.description = "${talos_machine_secrets.lab.machine_secrets}";
    expect(leaks(planted)).toEqual(["mgmt: proxmox_virtual_environment_file.registry-user-data reads var.harbor_admin_password", `srv: proxmox_virtual_environment_vm.${vmName} reads talos_machine_secrets`]);
  });
});
