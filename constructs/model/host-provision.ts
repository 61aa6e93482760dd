/**
 * What a host gets over SSH after it boots, from where tofu runs, instead of through its cloud-init
 * snippet: the snippet is a file on the Proxmox snippet datastore, readable by anyone who reads that
 * storage, so it carries no secret; and a DMZ host opens no connection into MGMT, so what it needs
 * from MGMT (packages, images) is pushed to it.
 *
 * The zone modules turn a service's {@link HostProvision} into one `terraform_data.<host>-provision`
 * whose `local-exec` runs the stack's `provision/provision-host.sh` on the machine that runs tofu
 * (`provisionScriptPath`). The script reaches the host with `ssh` (through the Proxmox node for MGMT hosts,
 * which the bootstrap provisions from outside the lab), copies what is listed, and writes each secret
 * from an environment variable through the SSH session's standard input: a secret is never an
 * argument, never a file on the machine that runs tofu, never in the snippet.
 */

import type { LabModel, VmPlan } from "./lab-model";
import type { ServiceVariable } from "./service";

/** A file on the host made from a sensitive module variable. */
export interface ProvisionSecret {
  /** The sensitive module variable whose value the file holds (one the service declares). */
  readonly variable: string;
  /** Absolute path on the host. */
  readonly path: string;
  /** File mode, octal: owner read (and write) only, or group read as well. */
  readonly mode: "0400" | "0600" | "0640";
  /** `user:group` that owns the file. */
  readonly owner: string;
}

/**
 * A login password set from a sensitive module variable: the script sends `user:password` on the SSH
 * session's standard input to `chpasswd` on the host, which stores only its hash (/etc/shadow, the
 * host's own ENCRYPT_METHOD, yescrypt on Ubuntu 24.04's /etc/login.defs). An empty value sets nothing;
 * a value with a line break is refused (chpasswd reads one `user:password` per line). The password
 * unlocks the account for PAM logins (xrdp, the console); sshd keeps refusing passwords.
 */
export interface ProvisionPassword {
  /** The sensitive module variable that holds the password (one the service declares). */
  readonly variable: string;
  /** The local account whose password it is. */
  readonly user: string;
}

/**
 * A non-secret file the provisioning writes, because it must change together with what the
 * provisioning delivers (a certificate with its key, the name of a pushed image): from a module
 * variable, or from text rendered at synth.
 */
export type ProvisionFile = {
  /** Absolute path on the host. */
  readonly path: string;
  /** File mode, octal. */
  readonly mode: "0644" | "0640" | "0600" | "0444" | "0400";
  /** `user:group` that owns the file. */
  readonly owner: string;
} & ({ readonly variable: string; readonly content?: undefined } | { readonly content: string; readonly variable?: undefined });

/**
 * A kubeconfig for a Kubernetes service account, made at provisioning time: where tofu runs, the
 * script asks the cluster's TokenRequest API (`kubectl create token`, with the cluster's admin
 * kubeconfig from the module's `kubernetes_admin_kubeconfig`, read through a pipe, never a file) for a
 * token that expires after `durationHours`, builds the kubeconfig around it (the cluster CA from the
 * admin kubeconfig, `server`, the token) in memory, and writes it on the host like a secret, through
 * the SSH session's standard input. The token is renewed by a later apply: the zone module re-runs the
 * provisioning once a renewal window starts ({@link tokenRenewal}).
 */
export interface ProvisionToken {
  /** The service account the token is for (a DNS label); a platform chart must create it. */
  readonly serviceAccount: string;
  /** Its namespace (a DNS label). */
  readonly namespace: string;
  /** Lifetime the token is asked for, in hours: 1 to {@link MAX_TOKEN_HOURS}. */
  readonly durationHours: number;
  /** The API server URL the kubeconfig names, `https://<host>[:port]`, as the host reaches it. */
  readonly server: string;
  /** Absolute path of the kubeconfig on the host. */
  readonly path: string;
  /** File mode, octal: owner read (and write) only, or group read as well. */
  readonly mode: "0400" | "0600" | "0640";
  /** `user:group` that owns the file. */
  readonly owner: string;
}

/** The longest token lifetime a {@link ProvisionToken} may ask for: one year. */
export const MAX_TOKEN_HOURS = 8760;

/** The environment variable entry of a token: `NAMESPACE/SERVICEACCOUNT:HOURS:PATH:MODE:USER:GROUP:SERVER`. */
export function provisionTokenEntry(t: ProvisionToken): string {
  return `${t.namespace}/${t.serviceAccount}:${t.durationHours}:${t.path}:${t.mode}:${t.owner}:${t.server}`;
}

/**
 * When provisioned tokens are renewed. A token minted at any moment of a window lives `durationHours`;
 * the provisioning runs again at the first apply in a later window, so with windows of
 * `windowDays` (half the lifetime, at most a month: windows never cross a month's end) a token is
 * renewed in time when tofu applies at least every `applyEveryDays` (the lifetime less a window, less
 * a day of margin). The window's key changes at most once per window: a plan shows the renewal then,
 * and no change in between.
 */
export function tokenRenewal(durationHours: number): { readonly windowDays: number; readonly applyEveryDays: number } {
  const days = Math.floor(durationHours / 24);
  const windowDays = Math.max(1, Math.min(31, Math.floor(days / 2)));
  return { windowDays, applyEveryDays: Math.max(0, days - windowDays - 1) };
}

/**
 * The HCL expression of a renewal window's key, `YYYY-MM/<n>` of the plan's time (UTC): the n-th
 * stretch of `windowDays` days of the month. `plantimestamp()` (Terraform 1.5, OpenTofu 1.6) is the
 * same through a plan and its apply, and unknown in `validate`.
 */
export function tokenRenewalWindow(windowDays: number): string {
  return `format("%s/%d", formatdate("YYYY-MM", plantimestamp()), floor((tonumber(formatdate("D", plantimestamp())) - 1) / ${windowDays}))`;
}

/** What the machine that runs tofu delivers to a host over SSH once it boots. */
export interface HostProvision {
  /**
   * Ubuntu packages the host needs and cannot fetch itself: resolved against the host's own dpkg
   * status, downloaded where tofu runs (same Ubuntu release) and installed on the host offline.
   */
  readonly packages?: readonly string[];
  /** Container images copied from the lab registry to the host's podman store, as `<registry>/<path>:<tag>`. */
  readonly images?: readonly string[];
  /** Non-secret files written before the secrets (a certificate, an image name). */
  readonly files?: readonly ProvisionFile[];
  /** Files written from sensitive module variables. */
  readonly secrets?: readonly ProvisionSecret[];
  /** Kubeconfigs with a bounded service account token, minted where tofu runs, written after the secrets. */
  readonly tokens?: readonly ProvisionToken[];
  /** Account passwords set after the tokens, each from a sensitive variable (`chpasswd`, hash only on the host). */
  readonly passwords?: readonly ProvisionPassword[];
  /** systemd units restarted once everything above is in place (in this order). */
  readonly start?: readonly string[];
}

/**
 * The jump host of a MGMT host's provisioning, `<sshUsername>@<address>` of its Proxmox node: the
 * node's `sshAddress`, else its WAN `address`, else its name, which must then resolve where tofu
 * runs. The bootstrap provisions MGMT hosts from outside the lab, where only the Proxmox hosts answer.
 */
export function provisionJumpHost(m: LabModel, host: VmPlan): string {
  const node = m.spec.proxmox.nodes.find((n) => n.name === host.node);
  return `${m.spec.proxmox.sshUsername}@${node?.sshAddress ?? node?.address ?? host.node}`;
}

/** The generated script the provisioning runs, relative to the stack directory. */
export const PROVISION_SCRIPT = "provision/provision-host.sh";

/** Environment variable that carries a password to the script (`name` as in `TE_PASSWORDS`). */
export function provisionPasswordEnv(name: string): string {
  return `TE_PASSWORD_${name.toUpperCase()}`;
}

/** Environment variable that carries a file's content to the script (`name` as in `TE_FILES`). */
export function provisionFileEnv(name: string): string {
  return `TE_FILE_${name.toUpperCase()}`;
}

/** Unit names systemd accepts: a name (starting with a letter or digit), a dot and a unit type. */
const UNIT = /^[A-Za-z0-9][A-Za-z0-9:_.@-]*\.(service|socket|target|timer|path|mount)$/;
/** Debian package names (Debian policy 5.6.1): lower-case alphanumerics and `+ - .`, two or more. */
const PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;
/**
 * An image reference by tag, without shell or whitespace characters: `registry[:port]/path:tag`. A
 * digest is not accepted: an image loaded from an archive keeps its tag, not its registry digest.
 */
const IMAGE = /^[a-z0-9][a-z0-9.-]*(:[0-9]+)?\/[a-z0-9][a-z0-9._\/-]*:[A-Za-z0-9_][A-Za-z0-9._-]*$/;
/** A DNS label (RFC 1123), what Kubernetes accepts as a namespace or service account name here. */
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** An API server URL of a host name or address and an optional port, nothing else. */
const SERVER = /^https:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?$/;
/** Absolute paths of letters, digits and `. _ - /`, never climbing. */
const PATH = /^\/[A-Za-z0-9._\/-]+$/;

/**
 * Why a provisioning is unusable (empty when it is fine); `declared` are the service's variables.
 * Secrets must come from sensitive variables (so tofu redacts them), files from declared ones.
 */
export function hostProvisionProblems(p: HostProvision, declared: ReadonlyMap<string, ServiceVariable>): string[] {
  const out: string[] = [];
  for (const pkg of p.packages ?? []) if (!PACKAGE.test(pkg)) out.push(`package ${JSON.stringify(pkg)} is not a Debian package name`);
  for (const image of p.images ?? []) if (!IMAGE.test(image)) out.push(`image ${JSON.stringify(image)} is not a registry/path:tag reference (by tag; no digest)`);
  for (const unit of p.start ?? []) if (!UNIT.test(unit)) out.push(`unit ${JSON.stringify(unit)} is not a systemd unit name`);
  const paths = new Set<string>();
  const common = (what: string, f: { path: string; owner: string }) => {
    if (!PATH.test(f.path) || f.path.split("/").includes("..")) out.push(`${what} path ${JSON.stringify(f.path)} must be an absolute path of letters, digits and . _ - /`);
    if (paths.has(f.path)) out.push(`${what} path ${f.path} is written twice`);
    paths.add(f.path);
    if (!/^[a-z_][a-z0-9_-]*:[a-z_][a-z0-9_-]*$/.test(f.owner)) out.push(`${what} ${f.path}: owner ${JSON.stringify(f.owner)} must be user:group`);
  };
  for (const f of p.files ?? []) {
    common("file", f);
    if (f.variable !== undefined && !declared.has(f.variable)) out.push(`file ${f.path} reads variable ${f.variable}, which the service does not declare`);
    if (f.variable !== undefined && declared.get(f.variable)?.sensitive) out.push(`file ${f.path} reads the sensitive variable ${f.variable}: make it one of the secrets`);
  }
  for (const s of p.secrets ?? []) {
    common("secret", s);
    const v = declared.get(s.variable);
    if (!v) out.push(`secret ${s.path} reads variable ${s.variable}, which the service does not declare`);
    else if (!v.sensitive) out.push(`secret ${s.path} reads variable ${s.variable}, which is not sensitive: tofu would show its value`);
  }
  const users = new Set<string>();
  for (const pw of p.passwords ?? []) {
    if (!/^[a-z_][a-z0-9_-]*$/.test(pw.user)) out.push(`password of ${JSON.stringify(pw.user)}: the user must be a login name`);
    if (users.has(pw.user)) out.push(`password of ${pw.user} is set twice`);
    users.add(pw.user);
    const v = declared.get(pw.variable);
    if (!v) out.push(`password of ${pw.user} reads variable ${pw.variable}, which the service does not declare`);
    else if (!v.sensitive) out.push(`password of ${pw.user} reads variable ${pw.variable}, which is not sensitive: tofu would show its value`);
  }
  for (const t of p.tokens ?? []) {
    common("token", t);
    if (!["0400", "0600", "0640"].includes(t.mode)) out.push(`token ${t.path}: mode ${JSON.stringify(t.mode)} must be 0400, 0600 or 0640`);
    if (!DNS_LABEL.test(t.namespace)) out.push(`token ${t.path}: namespace ${JSON.stringify(t.namespace)} is not a DNS label`);
    if (!DNS_LABEL.test(t.serviceAccount)) out.push(`token ${t.path}: service account ${JSON.stringify(t.serviceAccount)} is not a DNS label`);
    if (!Number.isInteger(t.durationHours) || t.durationHours < 1 || t.durationHours > MAX_TOKEN_HOURS) {
      out.push(`token ${t.path}: durationHours ${t.durationHours} must be a whole number 1-${MAX_TOKEN_HOURS} (a bounded lifetime, renewed by a later apply)`);
    }
    if (!SERVER.test(t.server)) out.push(`token ${t.path}: server ${JSON.stringify(t.server)} must be https://<host>[:port]`);
  }
  return out;
}
