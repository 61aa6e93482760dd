import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { secretsAtRest } from "../constructs/policy/secrets-at-rest";
import { PROJECT_ROOT, readTree, removeTempDir, synthToTemp, tempDir } from "./support/tree";

/**
 * The client's desktop (issue 16), judged on the generated user-data of the golden tree: what it
 * installs, from where, how xrdp ends up configured (the embedded install script run over a stand-in
 * root with stand-ins for apt, systemd and the account tools, and the xrdp files read back with an
 * INI reader of this test), that SSH stays key-only and that no password is in it. Every check is
 * shown failing on a planted fault. A spec with the desktop off gets none of it; the web UIs the
 * browser is for are declared flows.
 */

const STACK = join(PROJECT_ROOT, "examples", "reference-lab", "stacks", "talos-lab");
const golden = readFileSync(join(STACK, "cloud-init", "mgmt-client.user-data.yaml.tftpl"), "utf8");
const work = tempDir("client-desktop");
afterAll(() => removeTempDir(work));

const INSTALL = "/usr/local/sbin/talos-enclave-install-desktop";
const UNIT = "/etc/systemd/system/talos-enclave-desktop.service";
const SSHD_DROPIN = "/etc/ssh/sshd_config.d/10-talos-enclave-no-passwords.conf";
/** Browsers Ubuntu 24.04 ships as debs that use the system trust store. */
const DEB_BROWSERS = ["epiphany-browser"];
/** Names that are snaps (or a transitional deb that installs the snap) on Ubuntu 24.04. */
const SNAP_ONLY = ["firefox", "chromium", "chromium-browser", "snapd"];
const SNAPSHOT_ID = /^\d{8}T\d{6}Z$/;
const SNAPSHOT = "20261115T000000Z";

/** templatefile() for this file: its variables get sample values, `$${`/`%%{` are unescaped. */
function fill(text: string): string {
  const values: Record<string, string> = {
    ssh_authorized_keys: JSON.stringify(["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDesktopTestKey test"]),
    lab_ca_certificate: JSON.stringify("-----BEGIN CERTIFICATE-----\nMIIBdesktop\n-----END CERTIFICATE-----\n"),
  };
  return text.replace(/\$\$\{|%%\{|\$\{([a-z_]+)\}/g, (all: string, name: string | undefined) => {
    if (all === "$${") return "${";
    if (all === "%%{") return "%{";
    // any other variable is reported by desktopProblems; here it fills like a string
    return values[name!] ?? JSON.stringify(`<${name}>`);
  });
}

/** A tiny INI reader: `[section]`, `key=value`, `;`/`#` comments; the first value of a key wins. */
function readIni(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let section: Map<string, string> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith(";") || line.startsWith("#")) continue;
    const head = /^\[([^\]]+)\]$/.exec(line);
    if (head) {
      section = out.get(head[1]) ?? new Map();
      out.set(head[1], section);
    } else if (section && line.includes("=")) {
      const key = line.slice(0, line.indexOf("=")).trim();
      if (!section.has(key)) section.set(key, line.slice(line.indexOf("=") + 1).trim());
    }
  }
  return out;
}

/** xrdp.ini and sesman.ini as a fresh xrdp package leaves them, in the parts that matter here. */
const XRDP_INI = `[Globals]
; xrdp.ini file version number
ini_version=1
port=3389
#port=tcp://.:3389
security_layer=negotiate
crypt_level=high
certificate=
key_file=
ssl_protocols=TLSv1.2, TLSv1.3

[Xorg]
name=Xorg
lib=libxup.so
username=ask
password=ask
port=-1
`;
const SESMAN_INI = `[Globals]
ListenAddress=127.0.0.1
ListenPort=3350

[Security]
AllowRootLogin=true
MaxLoginRetry=4
TerminalServerUsers=tsusers

[Sessions]
X11DisplayOffset=10
`;

interface Run {
  readonly dir: string;
  readonly status: number;
  readonly stderr: string;
  readonly calls: string[];
  readonly xrdp: Map<string, Map<string, string>>;
  readonly sesman: Map<string, Map<string, string>>;
  readonly xsession: string | undefined;
}

let runNo = 0;
/**
 * Runs the install script of a user-data over a stand-in root (a fresh one, or `again`'s): apt-get,
 * dpkg-query, systemctl, usermod, update-alternatives, make-ssl-cert, getent, id and chown only
 * record their calls (getent and id answer for the admin user `labadmin` and the `xrdp` user); awk,
 * mktemp, mv and ln are real.
 */
function runInstall(script: string, again?: string): Run {
  const dir = again ?? join(work, `run-${++runNo}`);
  const root = join(dir, "root");
  const bin = join(dir, "bin");
  const log = join(dir, "calls.log");
  if (!again) {
    for (const d of ["etc/xrdp", "etc/ssl/private", "home/labadmin", "var/lib"]) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, "etc/xrdp/xrdp.ini"), XRDP_INI);
    writeFileSync(join(root, "etc/xrdp/sesman.ini"), SESMAN_INI);
  }
  rmSync(log, { force: true });
  mkdirSync(bin, { recursive: true });
  const standin = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/bash\necho "${name} $*" >> "${log}"\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  for (const name of ["apt-get", "systemctl", "usermod", "update-alternatives", "make-ssl-cert", "chown"]) standin(name, "exit 0");
  standin("dpkg-query", 'printf "install ok installed"');
  standin("getent", 'case "$2" in labadmin) echo "labadmin:x:1000:1000:lab administrator:/home/labadmin:/bin/bash" ;; xrdp) echo "xrdp:x:110:118::/run/xrdp:/usr/sbin/nologin" ;; *) exit 2 ;; esac');
  standin("id", "echo labadmin");
  const file = join(dir, "install-desktop.sh");
  writeFileSync(file, script);
  const r = spawnSync("bash", [file], { env: { PATH: `${bin}:/usr/bin:/bin`, HOME: dir, TALOS_ENCLAVE_DESKTOP_ROOT: root }, encoding: "utf8" });
  const read = (p: string) => (existsSync(join(root, p)) ? readFileSync(join(root, p), "utf8") : undefined);
  return {
    dir,
    status: r.status ?? -1,
    stderr: r.stderr,
    calls: existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [],
    xrdp: readIni(read("etc/xrdp/xrdp.ini") ?? ""),
    sesman: readIni(read("etc/xrdp/sesman.ini") ?? ""),
    xsession: read("home/labadmin/.xsession"),
  };
}

interface CloudConfig {
  ssh_pwauth?: unknown;
  chpasswd?: unknown;
  password?: unknown;
  users?: Record<string, unknown>[];
  write_files?: { path: string; content: string; encoding?: string }[];
  runcmd?: unknown[][];
}

const installScript = (template: string) => (parse(fill(template)) as CloudConfig).write_files!.find((f) => f.path === INSTALL)!.content;

/** Everything wrong with the desktop of a client user-data (a Terraform template, as in the tree). */
function desktopProblems(template: string, snapshot: string): string[] {
  const out: string[] = [];
  // no password in the template: the only template variables are the public keys and the CA
  const variables = [...template.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]);
  for (const v of variables) if (!["ssh_authorized_keys", "lab_ca_certificate"].includes(v)) out.push(`template reads \${${v}}`);
  const doc = parse(fill(template)) as CloudConfig;
  if (doc.ssh_pwauth !== false) out.push(`ssh_pwauth is ${JSON.stringify(doc.ssh_pwauth)}, not false`);
  if (doc.chpasswd !== undefined || doc.password !== undefined) out.push("the user-data sets a password (chpasswd/password)");
  for (const u of doc.users ?? []) {
    for (const k of ["passwd", "plain_text_passwd", "hashed_passwd"]) if (k in u) out.push(`user ${String(u.name)} has ${k}`);
    if (u.lock_passwd !== true) out.push(`user ${String(u.name)} is not lock_passwd: true`);
  }
  const files = new Map((doc.write_files ?? []).map((f) => [f.path, f.encoding === "b64" ? Buffer.from(f.content, "base64").toString("utf8") : f.content]));
  const all = [...files.values()].join("\n");
  if (/\bchpasswd\b|^\s*(echo|printf)\b.*\|\s*passwd\b/m.test(all)) out.push("a file of the user-data sets a password");
  // SSH key-only, also with the password the provisioning sets
  const dropin = (files.get(SSHD_DROPIN) ?? "").split("\n");
  for (const line of ["PasswordAuthentication no", "KbdInteractiveAuthentication no"]) if (!dropin.includes(line)) out.push(`sshd drop-in lacks "${line}"`);
  if (/^\s*(PasswordAuthentication|KbdInteractiveAuthentication)\s+yes/im.test(all)) out.push("some file turns SSH passwords on");
  // the unit runs the script and cloud-init starts it
  const script = files.get(INSTALL);
  if (!script) return [...out, `no ${INSTALL}`];
  if (!(files.get(UNIT) ?? "").split("\n").includes(`ExecStart=${INSTALL}`)) out.push(`${UNIT} does not run ${INSTALL}`);
  const runcmd = (doc.runcmd ?? []).map((c) => c.join(" "));
  for (const c of ["systemctl enable talos-enclave-desktop.service", "systemctl start --no-block talos-enclave-desktop.service"]) if (!runcmd.includes(c)) out.push(`runcmd lacks "${c}"`);
  // the packages: xrdp, an Xfce session, a deb browser, no snap
  const packages = /^PACKAGES="([^"]*)"$/m.exec(script)?.[1].split(",") ?? [];
  for (const p of ["xrdp", "xorgxrdp", "xfce4-session", "xfwm4"]) if (!packages.includes(p)) out.push(`package ${p} is missing`);
  if (!packages.some((p) => DEB_BROWSERS.includes(p))) out.push(`no deb browser (${DEB_BROWSERS.join(", ")}) among ${packages.join(" ")}`);
  for (const p of packages.filter((x) => SNAP_ONLY.includes(x))) out.push(`package ${p} is a snap on Ubuntu 24.04`);
  if (/\bsnap\s+install\b/.test(all)) out.push("something installs a snap");
  const id = /^SNAPSHOT="([^"]*)"$/m.exec(script)?.[1];
  if (id !== snapshot || !SNAPSHOT_ID.test(id)) out.push(`the snapshot is ${JSON.stringify(id)}, not ${snapshot}`);
  // run it: every install reads the snapshot, then xrdp is as it must be
  const r = runInstall(script);
  if (r.status !== 0) return [...out, `the install script failed: ${r.stderr}`];
  const apt = r.calls.filter((c) => c.startsWith("apt-get "));
  const isInstall = (c: string) => / install /.test(` ${c} `);
  const installs = apt.filter(isInstall);
  if (!installs.length) out.push("apt-get installs nothing");
  for (const c of installs) {
    if (!c.includes(`-o APT::Snapshot=${snapshot}`)) out.push(`an install does not read the snapshot: ${c}`);
    for (const p of packages) if (!c.split(" ").includes(p)) out.push(`the install lacks ${p}: ${c}`);
  }
  const snapUpdate = apt.findIndex((c) => c.includes(`APT::Snapshot=${snapshot}`) && / update$/.test(c));
  if (snapUpdate < 0 || snapUpdate > apt.findIndex(isInstall)) out.push("the snapshot's index is not fetched before the install");
  const g = r.xrdp.get("Globals");
  if (g?.get("security_layer") !== "tls") out.push(`xrdp security_layer is ${g?.get("security_layer")}, not tls`);
  if (g?.get("port") !== "3389") out.push(`xrdp listens on ${g?.get("port")}, not 3389`);
  const protocols = (g?.get("ssl_protocols") ?? "").split(",").map((x) => x.trim());
  if (protocols.some((p) => !["TLSv1.2", "TLSv1.3"].includes(p))) out.push(`xrdp allows ${protocols.join(", ")}`);
  if (r.xrdp.get("Xorg")?.get("port") !== "-1") out.push("the Xorg session's port changed");
  const root = r.sesman.get("Security")?.get("AllowRootLogin");
  if (root !== "false") out.push(`sesman AllowRootLogin is ${root}, not false`);
  if (!r.calls.includes("usermod -a -G ssl-cert xrdp")) out.push("xrdp does not join ssl-cert (it could not read its key)");
  if (!/^exec xfce4-session$/m.test(r.xsession ?? "")) out.push(`the admin's ~/.xsession is ${JSON.stringify(r.xsession)}`);
  if (!r.calls.includes("update-alternatives --set x-session-manager /usr/bin/xfce4-session")) out.push("Xfce is not the session manager");
  if (!r.calls.some((c) => /^systemctl restart .*xrdp\.service/.test(c))) out.push("xrdp is not restarted on its settings");
  return out;
}

describe("the client desktop in the golden tree's client user-data", () => {
  it("installs xrdp, Xfce and a deb browser from the snapshot; xrdp is TLS only on 3389, without root; SSH stays key-only; no password", () => {
    expect(desktopProblems(golden, SNAPSHOT)).toEqual([]);
  });

  it("a second run (the unit runs at every boot) installs nothing again and leaves xrdp's files as they are", () => {
    const script = installScript(golden);
    const once = runInstall(script);
    expect(once.status, once.stderr).toBe(0);
    const ini = () => ["xrdp.ini", "sesman.ini"].map((f) => readFileSync(join(once.dir, "root", "etc/xrdp", f), "utf8"));
    const before = ini();
    const twice = runInstall(script, once.dir);
    expect(twice.status, twice.stderr).toBe(0);
    expect(ini()).toEqual(before);
    expect(twice.calls.filter((c) => c.startsWith("apt-get"))).toEqual([]);
  });

  it("stops, naming the spec field, when the snapshot's packages do not install", () => {
    const script = installScript(golden);
    const r = runInstall(script.replace('apt-get -q -y -o APT::Snapshot="$SNAPSHOT"', 'false -q -y -o APT::Snapshot="$SNAPSHOT"'));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("set clientDesktop.aptSnapshot to a later time");
    expect(r.xsession).toBeUndefined();
  });

  const faults: [string, (t: string) => string, RegExp][] = [
    ["root may log in", (t) => t.replace('require "$SESMAN_INI" Security AllowRootLogin false', 'require "$SESMAN_INI" Security AllowRootLogin true'), /AllowRootLogin is true/],
    ["RDP security may be negotiated down", (t) => t.replace("Globals security_layer tls", "Globals security_layer negotiate"), /security_layer is negotiate/],
    ["TLS 1.0 is allowed", (t) => t.replace('ssl_protocols "TLSv1.2, TLSv1.3"', 'ssl_protocols "TLSv1, TLSv1.2, TLSv1.3"'), /xrdp allows TLSv1, /],
    ["the browser is Firefox (a snap on noble)", (t) => t.replace(",epiphany-browser,", ",firefox,"), /package firefox is a snap/],
    ["the install reads the live archive", (t) => t.replace(/-o APT::Snapshot="\$SNAPSHOT" -o Dpkg/, "-o Dpkg"), /does not read the snapshot/],
    ["another snapshot", (t) => t.replace(`SNAPSHOT="${SNAPSHOT}"`, 'SNAPSHOT="20250101T000000Z"'), /the snapshot is "20250101T000000Z"/],
    ["SSH takes passwords", (t) => t.replace("ssh_pwauth: false", "ssh_pwauth: true"), /ssh_pwauth is true/],
    ["the sshd drop-in is gone", (t) => t.replace("      PasswordAuthentication no\n", ""), /sshd drop-in lacks "PasswordAuthentication no"/],
    ["a password in the user-data", (t) => t.replace("disable_root: true", 'disable_root: true\nchpasswd:\n  expire: false\n  users: [{name: labadmin, password: "Desk-top-pass-1", type: text}]'), /sets a password/],
    ["a password variable in the template", (t) => t.replace("disable_root: true", "disable_root: true\npassword: ${client_desktop_password}"), /template reads \$\{client_desktop_password\}/],
    ["xrdp cannot read its key", (t) => t.replace("usermod -a -G ssl-cert xrdp", "true"), /does not join ssl-cert/],
    ["the session is not Xfce", (t) => t.replace("printf 'exec xfce4-session\\n'", "printf 'exec xterm\\n'"), /\.xsession is/],
  ];
  it.each(faults)("a planted fault fails the check: %s", (_, plant, finding) => {
    const planted = plant(golden);
    expect(planted).not.toBe(golden);
    expect(desktopProblems(planted, SNAPSHOT).join("\n")).toMatch(finding);
  });
});

describe("the secret-at-rest policy covers the desktop password", () => {
  const tree = readTree(STACK);

  it("passes on the golden tree, where the mgmt module holds the password as a sensitive variable", () => {
    expect((JSON.parse(tree.get("modules/mgmt/main.tf.json")!) as { variable: Record<string, { sensitive?: boolean }> }).variable.client_desktop_password.sensitive).toBe(true);
    expect(secretsAtRest(tree)).toEqual([]);
  });

  it("finds it planted into the client's snippet on Proxmox", () => {
    const planted = new Map(tree);
    const text = planted.get("modules/mgmt/main.tf.json")!;
    const mgmt = JSON.parse(text) as { resource: Record<string, Record<string, { source_raw: { data: string } }>> };
    const snippet = mgmt.resource.proxmox_virtual_environment_file["mgmt-client-user-data"];
    snippet.source_raw.data = snippet.source_raw.data.replace("jsonencode(var.lab_ca_certificate)", "jsonencode(var.client_desktop_password)");
    planted.set("modules/mgmt/main.tf.json", JSON.stringify(mgmt));
    expect(secretsAtRest(planted)).toEqual([
      { file: "modules/mgmt/main.tf.json", resource: "proxmox_virtual_environment_file.mgmt-client-user-data", reads: "var.client_desktop_password" },
    ]);
  });
});

describe("a client without a desktop (clientDesktop.enabled: false)", () => {
  const t = synthToTemp({ clientDesktop: { enabled: false } }, "no-desktop");
  afterAll(() => t.cleanup());
  const file = (suffix: string) => [...t.files].find(([p]) => p.endsWith(suffix))![1];

  it("has none of it: no xrdp, no desktop unit, no password variable, provisioning or SSH flow for one", () => {
    const userData = file("cloud-init/mgmt-client.user-data.yaml.tftpl");
    for (const word of ["xrdp", "3389", "talos-enclave-desktop", "epiphany", "APT::Snapshot", "client_desktop_password", "sshd_config.d"]) expect(userData).not.toContain(word);
    // the tools install is there as before
    expect(userData).toContain("/usr/local/sbin/talos-enclave-install-tools");
    const mgmt = JSON.parse(file("modules/mgmt/main.tf.json")) as { variable: Record<string, unknown>; resource: { terraform_data: Record<string, unknown> } };
    expect(Object.keys(mgmt.variable)).not.toContain("client_desktop_password");
    expect(Object.keys(mgmt.resource.terraform_data).filter((k) => k.endsWith("-provision"))).toEqual(["registry-provision"]);
    const root = JSON.parse(file("cdk.tf.json")) as { variable: Record<string, unknown> };
    expect(Object.keys(root.variable)).not.toContain("client_desktop_password");
    for (const f of ["README.md", "apply-steps.json", "flows.json"]) expect(file(f)).not.toContain("client_desktop_password");
    // the runner's hand-off flow serves no provisioning of it
    const flows = (JSON.parse(file("flows.json")) as { flows: { id: string; purpose: string }[] }).flows;
    expect(flows.find((f) => f.id === "proxmox.ssh.mgmt-client")!.purpose).toBe("bootstrap hand-off: tree and state to the runner, through the Proxmox host");
    expect(flows.filter((f) => f.id.startsWith("proxmox.provision.")).map((f) => f.id)).toEqual(["proxmox.provision.registry"]);
    expect(file("README.md")).toContain("Command line only (`clientDesktop.enabled: false`)");
  });

  it("opens no RDP port anywhere: no client LAN flow, pfSense rule or VM firewall rule for 3389, and the runbooks offer none", () => {
    const flows = (JSON.parse(file("flows.json")) as { flows: { id: string; from: string; ports: (number | string)[] }[] }).flows;
    expect(flows.filter((f) => f.from === "zone:client").map((f) => f.ports)).toEqual([[22]]);
    expect(file("pfsense/filter.xml")).not.toMatch(/<port>3389<\/port>/);
    const mgmt = JSON.parse(file("modules/mgmt/main.tf.json")) as { resource: { proxmox_virtual_environment_firewall_rules: Record<string, { rule: { dport?: string }[] }> } };
    const dports = Object.values(mgmt.resource.proxmox_virtual_environment_firewall_rules).flatMap((r) => r.rule.map((x) => x.dport));
    expect(dports).not.toContain("3389");
    for (const f of ["README.md", "pfsense/RULES.md"]) expect(file(f)).not.toMatch(/RDP, tcp\/3389|xrdp\) to/);
  });
});

describe("the web UIs the desktop's browser reaches are declared flows", () => {
  const doc = JSON.parse(readFileSync(join(STACK, "flows.json"), "utf8")) as unknown;
  const list = (Array.isArray(doc) ? doc : (doc as { flows: unknown[] }).flows) as { id: string; from: string; to: string; protocol: string; ports: (number | string)[]; purpose: string }[];

  it.each([
    ["pfSense", "firewall", 443, /pfSense in its webGUI/],
    ["Harbor", "registry", 443, /Harbor web UI/],
    ["Proxmox", "proxmox", 8006, /Proxmox web UI/],
  ] as const)("mgmt-client reaches the %s web UI", (_, to, port, purpose) => {
    const f = list.find((x) => x.from === "mgmt-client" && x.to === to && x.protocol === "tcp" && x.ports.map(Number).includes(port));
    expect(f, JSON.stringify(list.filter((x) => x.from === "mgmt-client"))).toBeDefined();
    expect(f!.purpose).toMatch(purpose);
  });
});
