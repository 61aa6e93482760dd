import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { hostProvisionProblems } from "../constructs/model/host-provision";
import { afterAll, describe, expect, it } from "vitest";
import { HOST_STANDIN_DIR } from "../tools/tfsim/sandbox";
import { PROJECT_ROOT, readTree, tempDir } from "./support/tree";
import { localExecEnvironment } from "./support/local-exec";

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
  // the client desktop's password: chpasswd reads `user:password`, so a colon in it must survive too
  client_desktop_password: "Desk:top-pa$$ `id` $(touch /tmp/pwned) 'q' \"dq\" ;|& %{x} ${y}",
  // the srv module's admin kubeconfig, which mints the ingress controller's token and must go nowhere
  kubernetes_admin_kubeconfig:
    "apiVersion: v1\nkind: Config\nclusters:\n- name: talos-lab\n  cluster: {server: 'https://10.10.100.10:6443', certificate-authority-data: QURNSU4tQ0E=}\nusers:\n- name: admin@talos-lab\n  user: {client-key-data: ADMIN-CLIENT-KEY-sample $(touch /tmp/pwned)}\ncontexts:\n- name: admin@talos-lab\n  context: {cluster: talos-lab, user: admin@talos-lab}\ncurrent-context: admin@talos-lab\n",
};

/** What the kubectl stand-in answers (tools/tfsim/host-standin/kubectl): the cluster CA and a token naming its request. */
const STANDIN_CA = "U1RBTkRJTi1DTFVTVEVSLUNB";
const standinToken = (namespace: string, sa: string, duration: string) => `standin-token.${namespace}.${sa}.${duration}`;
/** The ingress kubeconfig the script builds from the stand-in's answers. */
const INGRESS_KUBECONFIG = `apiVersion: v1\nkind: Config\nclusters:\n- name: cluster\n  cluster:\n    server: https://10.10.100.10:6443\n    certificate-authority-data: ${STANDIN_CA}\nusers:\n- name: haproxy-ingress\n  user:\n    token: ${standinToken("ingress-access", "haproxy-ingress", "720h")}\ncontexts:\n- name: default\n  context:\n    cluster: cluster\n    namespace: ingress-access\n    user: haproxy-ingress\ncurrent-context: default\n`;

interface Provision {
  readonly module: string;
  readonly key: string;
  readonly environment: Record<string, string>;
  readonly command: string;
}
const provisions: Provision[] = modules.flatMap((m) =>
  // the hosts' provisioning resources (the gates are terraform_data with local-exec too)
  Object.entries(m.doc.resource?.terraform_data ?? {}).filter(([key]) => key.endsWith("-provision")).flatMap(([key, r]) =>
    ((r.provisioner as Json[] | undefined) ?? [])
      .map((p) => p["local-exec"] as { command: string; environment: Record<string, string> } | undefined)
      .filter((x) => x !== undefined)
      .map((x) => ({ module: m.name, key, environment: x!.environment, command: x!.command })),
  ),
);
const byHost = (host: string) => provisions.find((p) => p.key === `${host}-provision`)!;

interface Call {
  readonly tool: string;
  readonly args: string;
  readonly stdin?: { size: number; sha256: string };
  /** kubectl: what its --kubeconfig named, `pipe|file:<size>:<sha256>`. */
  readonly kubeconfig?: string;
}

/** Runs the tree's script as the resource's local-exec would, with the stand-ins first on PATH. */
function runProvision(p: Provision, values: Record<string, string>, standins = HOST_STANDIN_DIR, extra: Record<string, string> = {}): { status: number; stderr: string; calls: Call[]; log: string } {
  expect(p.command).toBe("bash ${path.root}/provision/provision-host.sh");
  const log = join(work, `${p.key}-${Math.random().toString(36).slice(2)}.log`);
  const r = spawnSync("bash", [join(STACK, "provision", "provision-host.sh")], {
    env: { PATH: `${standins}:${process.env.PATH}`, HOME: work, TE_STANDIN_LOG: log, TE_WAIT: "0", ...extra, ...localExecEnvironment(p.key, p.environment, values) },
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
      const k = /^kubeconfig=(.*)$/.exec(stdin ?? "");
      return { tool, args, ...(m ? { stdin: { size: Number(m[1]), sha256: m[2] } } : {}), ...(k ? { kubeconfig: k[1] } : {}) };
    });
  return { status: r.status ?? -1, stderr: r.stderr, calls, log: text };
}

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");
const shellcheck = spawnSync("shellcheck", ["--version"]).status === 0;
if (!shellcheck) console.log("provision script lint skipped: shellcheck is not installed");

describe("the provisioning resources", () => {
  it("provision the registry (secrets, through its Proxmox node) and the DMZ ingress (packages, image, kubeconfig, from the runner)", () => {
    expect(provisions.map((p) => `${p.module}/${p.key}`).sort()).toEqual(["dmz/haproxy-ingress-1-provision", "mgmt/mgmt-client-provision", "mgmt/registry-provision"]);
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
    // the kubeconfig: a 30-day token of the ingress-access account minted with the srv module's admin
    // kubeconfig, renewed each 15-day window, after the platform release that creates the account
    expect(ingress.TE_TOKENS).toBe("ingress-access/haproxy-ingress:720:/etc/haproxy-ingress/kubeconfig:0600:root:root:https://10.10.100.10:6443");
    expect(ingress.TE_KUBECONFIG).toBe("${var.kubernetes_admin_kubeconfig}");
    expect(ingress.TE_FILES).not.toContain("kubeconfig");
    const dmz = modules.find((m) => m.name === "dmz")!.doc;
    expect(dmz.variable!.kubernetes_admin_kubeconfig).toMatchObject({ sensitive: true });
    expect(Object.keys(dmz.variable!)).not.toContain("ingress_kubeconfig");
    const triggers = dmz.resource!.terraform_data["haproxy-ingress-1-provision"].triggers_replace as Record<string, string>;
    expect(triggers.renewal_window).toBe('${format("%s/%d", formatdate("YYYY-MM", plantimestamp()), floor((tonumber(formatdate("D", plantimestamp())) - 1) / 15))}');
    expect(triggers.service_account_1).toBe('${var.kubernetes_service_accounts["ingress-access/haproxy-ingress"]}');
    // the admin kubeconfig is no trigger: a renewed one re-runs nothing
    expect(JSON.stringify(triggers)).not.toContain("kubernetes_admin_kubeconfig");
    const root = JSON.parse(files.get("cdk.tf.json")!) as { variable: Record<string, unknown>; module: Record<string, Record<string, string>> };
    expect(Object.keys(root.variable)).not.toContain("ingress_kubeconfig");
    expect(root.module.dmz.kubernetes_admin_kubeconfig).toBe("${module.srv.kubeconfig}");
    expect(root.module.dmz.kubernetes_service_accounts).toBe("${module.platform.service_accounts}");
    const platform = modules.find((m) => m.name === "platform")!.doc as { output: Record<string, { value: unknown }> };
    expect(platform.output.service_accounts.value).toEqual({ "ingress-access/haproxy-ingress": "${helm_release.ingress-access.id}" });
  });

  it("set the client's desktop password from its sensitive variable, through its Proxmox node, re-run by the value's hash only", () => {
    const client = byHost("mgmt-client").environment;
    expect(client.TE_JUMP).toMatch(/^root@/);
    expect(client.TE_PASSWORDS).toBe("client_desktop_password=labadmin");
    expect(client.TE_PASSWORD_CLIENT_DESKTOP_PASSWORD).toBe("${var.client_desktop_password}");
    // nothing else: no file, package, image or unit
    for (const k of ["TE_FILES", "TE_PACKAGES", "TE_IMAGES", "TE_START"]) expect(client[k], k).toBe("");
    const mgmt = modules.find((m) => m.name === "mgmt")!.doc;
    expect(mgmt.variable!.client_desktop_password).toMatchObject({ sensitive: true });
    const triggers = mgmt.resource!.terraform_data["mgmt-client-provision"].triggers_replace as Record<string, string>;
    expect(triggers.sha256_client_desktop_password).toBe("${sha256(var.client_desktop_password)}");
    expect(JSON.stringify(triggers)).not.toMatch(/\$\{var\.client_desktop_password\}/);
    // the root asks for it (sensitive, at least 12 characters, one line) and hands it to mgmt only
    const root = JSON.parse(files.get("cdk.tf.json")!) as { variable: Record<string, Json>; module: Record<string, Record<string, string>> };
    expect(root.variable.client_desktop_password).toMatchObject({ sensitive: true, type: "string" });
    expect(JSON.stringify(root.variable.client_desktop_password.validation)).toContain("length(var.client_desktop_password) >= 12");
    expect(root.module.mgmt.client_desktop_password).toBe("${var.client_desktop_password}");
    for (const m of ["dmz", "srv", "platform", "edge"]) expect(root.module[m]?.client_desktop_password, m).toBeUndefined();
  });

  it("refuses a password from an undeclared or non-sensitive variable, or for a user that is no login name (planted faults)", () => {
    const declared = new Map([
      ["client_desktop_password", { type: "string", sensitive: true, description: "" }],
      ["shown", { type: "string", sensitive: false, description: "" }],
    ]);
    expect(hostProvisionProblems({ passwords: [{ variable: "client_desktop_password", user: "labadmin" }] }, declared)).toEqual([]);
    expect(
      hostProvisionProblems(
        { passwords: [{ variable: "shown", user: "labadmin" }, { variable: "missing", user: "labadmin" }, { variable: "client_desktop_password", user: "root;id" }] },
        declared,
      ),
    ).toEqual([
      "password of labadmin reads variable shown, which is not sensitive: tofu would show its value",
      "password of labadmin is set twice",
      "password of labadmin reads variable missing, which the service does not declare",
      'password of "root;id": the user must be a login name',
    ]);
  });

  it("refuses a token that is not bounded or not well named (planted faults)", () => {
    const t = { serviceAccount: "haproxy-ingress", namespace: "ingress-access", durationHours: 720, server: "https://10.10.100.10:6443", path: "/etc/x/kubeconfig", mode: "0600", owner: "root:root" } as const;
    expect(hostProvisionProblems({ tokens: [t] }, new Map())).toEqual([]);
    expect(hostProvisionProblems({ tokens: [{ ...t, durationHours: 8761 }] }, new Map())).toEqual([
      "token /etc/x/kubeconfig: durationHours 8761 must be a whole number 1-8760 (a bounded lifetime, renewed by a later apply)",
    ]);
    expect(hostProvisionProblems({ tokens: [{ ...t, durationHours: 0, namespace: "Bad_NS", serviceAccount: "a;b", server: "https://x/$(id)" }] }, new Map())).toEqual([
      'token /etc/x/kubeconfig: namespace "Bad_NS" is not a DNS label',
      'token /etc/x/kubeconfig: service account "a;b" is not a DNS label',
      "token /etc/x/kubeconfig: durationHours 0 must be a whole number 1-8760 (a bounded lifetime, renewed by a later apply)",
      'token /etc/x/kubeconfig: server "https://x/$(id)" must be https://<host>[:port]',
    ]);
  });

  it("re-run when the VM is replaced or a secret changes (by its hash, not its value)", () => {
    for (const m of modules) {
      for (const [key, r] of Object.entries(m.doc.resource?.terraform_data ?? {})) {
        if (!key.endsWith("-provision")) continue;
        const triggers = r.triggers_replace as Record<string, string>;
        expect(triggers.vm).toMatch(/^\$\{proxmox_virtual_environment_vm\.[a-z0-9-]+\.id\}$/);
        const env = ((r.provisioner as Json[])[0]["local-exec"] as { environment: Record<string, string> }).environment;
        for (const [name, value] of Object.entries(env).filter(([n, v]) => (n.startsWith("TE_FILE_") || n.startsWith("TE_PASSWORD_")) && v.startsWith("${"))) {
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
      /^kubectl config view --raw --minify --kubeconfig \/dev\/fd\/\d+ -o jsonpath=\{\.clusters\[0\]\.cluster\.certificate-authority-data\}$/,
      /^kubectl create token haproxy-ingress --namespace ingress-access --duration 720h --kubeconfig \/dev\/fd\/\d+$/,
      /^ssh .* sudo install -D -m 0600 -o root -g root -- \/dev\/stdin \/etc\/haproxy-ingress\/kubeconfig $/,
      /^ssh .* sudo systemctl restart --no-block -- talos-enclave-ingress-setup\.service haproxy-ingress\.service $/,
    ].map(step);
    expect(order.every((i) => i >= 0), JSON.stringify(order) + "\n" + r.log).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    // the kubeconfig (server, cluster CA, the bounded token) travels on standard input, whole, never as an argument
    const write = r.calls.find((c) => c.args.includes("/etc/haproxy-ingress/kubeconfig"))!;
    expect(write.stdin).toEqual({ size: Buffer.byteLength(INGRESS_KUBECONFIG), sha256: sha256(INGRESS_KUBECONFIG) });
    expect(r.log).not.toContain("standin-token");
    expect(r.stderr).not.toContain("standin-token");
    // kubectl read the admin kubeconfig through a pipe, whole; it is in no argument, no log, no file
    const admin = SECRETS.kubernetes_admin_kubeconfig;
    const kubectl = r.calls.filter((c) => c.tool === "kubectl");
    expect(kubectl).toHaveLength(2);
    for (const c of kubectl) expect(c.kubeconfig).toBe(`pipe:${Buffer.byteLength(admin)}:${sha256(admin)}`);
    expect(r.log).not.toContain("ADMIN-CLIENT-KEY");
    expect(r.stderr).not.toContain("ADMIN-CLIENT-KEY");
    expect(r.stderr).toContain("wrote /etc/haproxy-ingress/kubeconfig (0600 root:root): a token of ingress-access/haproxy-ingress for 720h");
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
    const restart = ssh.findIndex((c) => /systemctl restart --no-block -- harbor\.service harbor-bootstrap\.service talos-enclave-chart-mirror\.service image-factory\.service $/.test(c.args));
    expect(restart).toBeGreaterThan(ssh.findIndex((c) => c.args.includes("harbor-admin-password")));
    // the last call cleans the inbox up
    expect(ssh.at(-1)!.args).toMatch(/ rm -rf \/var\/tmp\/te-standin-inbox $/);
  });

  it("sets the client's desktop password with chpasswd: user:password on standard input, never an argument or a log line", () => {
    const r = runProvision(byHost("mgmt-client"), SECRETS);
    expect(r.status, r.stderr).toBe(0);
    const line = `labadmin:${SECRETS.client_desktop_password}\n`;
    const set = r.calls.filter((c) => c.tool === "ssh" && / sudo chpasswd $/.test(c.args));
    expect(set).toHaveLength(1);
    expect(set[0].stdin).toEqual({ size: Buffer.byteLength(line), sha256: sha256(line) });
    expect(r.log).not.toContain("Desk:top");
    expect(r.stderr).not.toContain("Desk:top");
    expect(r.stderr).toContain("set the password of labadmin (chpasswd; the host keeps its hash)");
    // nothing written, installed or restarted besides
    expect(r.calls.some((c) => /install -D|systemctl|apt-get|podman/.test(c.args) || c.tool !== "ssh")).toBe(false);
  });

  it("sets no password from an empty value, and refuses one with a line break (planted faults)", () => {
    const empty = runProvision(byHost("mgmt-client"), { ...SECRETS, client_desktop_password: "" });
    expect(empty.status, empty.stderr).toBe(0);
    expect(empty.stderr).toContain("client_desktop_password is empty: the password of labadmin is not set (set TF_VAR_client_desktop_password and apply again)");
    expect(empty.calls.some((c) => c.args.includes("chpasswd"))).toBe(false);
    const twoLines = runProvision(byHost("mgmt-client"), { ...SECRETS, client_desktop_password: "first-line-pass\nroot:owned" });
    expect(twoLines.status).not.toBe(0);
    expect(twoLines.stderr).toContain("client_desktop_password holds a line break, which chpasswd cannot take");
    expect(twoLines.calls.some((c) => c.args.includes("chpasswd"))).toBe(false);
    const p = byHost("mgmt-client");
    const lacking = { ...p, environment: Object.fromEntries(Object.entries(p.environment).filter(([k]) => k !== "TE_PASSWORD_CLIENT_DESKTOP_PASSWORD")) };
    const r = runProvision(lacking, SECRETS);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("TE_PASSWORD_CLIENT_DESKTOP_PASSWORD is not set (the password of labadmin)");
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

  it("fails clearly without the admin kubeconfig, and refuses a token lifetime past the bound (planted faults)", () => {
    const none = runProvision(byHost("haproxy-ingress-1"), { ...SECRETS, kubernetes_admin_kubeconfig: "" });
    expect(none.status).not.toBe(0);
    expect(none.stderr).toContain("TE_KUBECONFIG is not set: the cluster's admin kubeconfig (the srv module's kubeconfig output) mints the tokens TE_TOKENS names");
    expect(none.calls.some((c) => c.tool === "kubectl" || c.args.includes("/etc/haproxy-ingress/kubeconfig"))).toBe(false);
    const p = byHost("haproxy-ingress-1");
    const long = { ...p, environment: { ...p.environment, TE_TOKENS: p.environment.TE_TOKENS.replace(":720:", ":9000:") } };
    const r = runProvision(long, SECRETS);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("a token lives 1-8760 hours, not 9000");
    expect(r.calls.some((c) => c.args.includes("create token"))).toBe(false);
  });

  it("fails on a secret the environment lacks", () => {
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
    // chpasswd keeps what it reads, as the host's /etc/shadow would keep its hash
    script("chpasswd", `#!/bin/bash\ncat >> "$FAR/chpasswd.in"\n`);
    script("kubectl", `#!/bin/bash\nexec "${HOST_STANDIN_DIR}/kubectl" "$@"\n`);
    far("apt-get", `echo "apt-get $*" >> "$FAR/calls.log"; for a in "$@"; do case "$a" in *.deb) test -e "$a" || exit 9;; esac; done`);
    far("podman", `echo "podman $*" >> "$FAR/calls.log"; [ "$1 $2" != "image exists" ] || exit 1; if [ "$1" = load ]; then test -e "\${@: -1}" || exit 9; fi`);
    script("systemctl", `#!/bin/bash\necho "systemctl $*" >> "$FAR/calls.log"\n`);
    // install -D -m MODE -o U -g G SRC DEST: ownership is the stand-in's, the rest is real
    script("install", `#!/bin/bash\nargs=(); while [ $# -gt 0 ]; do case "$1" in -o|-g) shift 2;; *) args+=("$1"); shift;; esac; done\ndest="\${args[-1]}"; unset 'args[-1]'\nexec /usr/bin/install "\${args[@]}" "$FAR$dest"\n`);
    script("rm", `#!/bin/bash\nargs=(); for a in "$@"; do case "$a" in "$FAR"/*) args+=("$a");; /*) args+=("$FAR$a");; *) args+=("$a");; esac; done\nexec /bin/rm "\${args[@]}"\n`);
    for (const host of ["registry", "haproxy-ingress-1", "mgmt-client"]) {
      const r = runProvision(byHost(host), SECRETS, bin);
      expect(r.status, `${host}: ${r.stderr}`).toBe(0);
    }
    for (const [variable, path, mode] of [["lab_tls_certificate", "/etc/talos-enclave/tls/registry.crt", 0o644], ["lab_tls_private_key", "/etc/talos-enclave/tls/registry.key", 0o600], ["harbor_admin_password", "/etc/talos-enclave/secrets/harbor-admin-password", 0o600], ["image_factory_signing_key", "/etc/talos-enclave/image-factory/cache-signing-key.pem", 0o600]] as const) {
      expect(readFileSync(join(root, path), "utf8"), variable).toBe(SECRETS[variable]);
      expect(statSync(join(root, path)).mode & 0o777).toBe(mode);
    }
    // the ingress kubeconfig as the controller reads it: the API VIP, the cluster CA, the bounded token
    const kubeconfig = readFileSync(join(root, "/etc/haproxy-ingress/kubeconfig"), "utf8");
    expect(statSync(join(root, "/etc/haproxy-ingress/kubeconfig")).mode & 0o777).toBe(0o600);
    const doc = parseYaml(kubeconfig) as { clusters: { cluster: Record<string, string> }[]; users: { name: string; user: Record<string, string> }[]; "current-context": string; contexts: { name: string; context: Record<string, string> }[] };
    expect(doc.clusters[0].cluster).toEqual({ server: "https://10.10.100.10:6443", "certificate-authority-data": STANDIN_CA });
    expect(doc.users).toEqual([{ name: "haproxy-ingress", user: { token: standinToken("ingress-access", "haproxy-ingress", "720h") } }]);
    expect(doc.contexts.find((c) => c.name === doc["current-context"])!.context).toEqual({ cluster: "cluster", namespace: "ingress-access", user: "haproxy-ingress" });
    // nothing on the far side or where tofu ran holds the admin kubeconfig
    const holders = spawnSync("grep", ["-rl", "ADMIN-CLIENT-KEY", work, root], { encoding: "utf8" }).stdout.trim();
    expect(holders).toBe("");
    expect(readFileSync(join(root, "/etc/haproxy-ingress/image.env"), "utf8")).toMatch(/^IMAGE=registry\.mgmt\.lab\.internal\/proxy-docker\.io\/haproxytech\/kubernetes-ingress:[\d.]+\n$/);
    const calls = readFileSync(join(root, "calls.log"), "utf8");
    expect(calls).toContain("systemctl restart --no-block -- harbor.service harbor-bootstrap.service talos-enclave-chart-mirror.service image-factory.service");
    const inbox = `${root}/var/tmp/inbox`;
    expect(calls).toContain(`apt-get install --yes --no-download ${inbox}/nftables_0_all.deb ${inbox}/podman_0_all.deb ${inbox}/qemu-guest-agent_0_all.deb\n`);
    expect(calls).toContain(`podman load --quiet --input ${inbox}/image.tar\n`);
    expect(calls).toContain("systemctl restart --no-block -- talos-enclave-ingress-setup.service haproxy-ingress.service");
    // the desktop password reached chpasswd byte for byte, as one user:password line
    expect(readFileSync(join(root, "chpasswd.in"), "utf8")).toBe(`labadmin:${SECRETS.client_desktop_password}\n`);
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
