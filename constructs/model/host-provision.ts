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

/** A file on the host made from a sensitive module variable. */
export interface ProvisionSecret {
  /** The module variable whose value the file holds (one the service declares). */
  readonly variable: string;
  /** Absolute path on the host. */
  readonly path: string;
  /** File mode, octal: owner read (and write) only, or group read as well. */
  readonly mode: "0400" | "0600" | "0640";
  /** `user:group` that owns the file. */
  readonly owner: string;
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
  /** Files written from sensitive module variables. */
  readonly secrets?: readonly ProvisionSecret[];
  /** systemd units restarted once everything above is in place (in this order). */
  readonly start?: readonly string[];
}

/** The generated script the provisioning runs, relative to the stack directory. */
export const PROVISION_SCRIPT = "provision/provision-host.sh";

/** Environment variable that carries a secret's value to the script. */
export function provisionSecretEnv(variable: string): string {
  return `TE_SECRET_${variable.toUpperCase()}`;
}

/** Unit names systemd accepts: a name, a dot and a unit type. */
const UNIT = /^[A-Za-z0-9:_.@-]+\.(service|socket|target|timer|path|mount)$/;
/** Debian package names (Debian policy 5.6.1): lower-case alphanumerics and `+ - .`, two or more. */
const PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;
/** An image reference without shell or whitespace characters: registry/path:tag or @digest. */
const IMAGE = /^[a-z0-9.-]+(:[0-9]+)?\/[a-z0-9._\/-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$/;

/** Why a provisioning is unusable (empty when it is fine); `declared` are the service's variables. */
export function hostProvisionProblems(p: HostProvision, declared: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const pkg of p.packages ?? []) if (!PACKAGE.test(pkg)) out.push(`package ${JSON.stringify(pkg)} is not a Debian package name`);
  for (const image of p.images ?? []) if (!IMAGE.test(image)) out.push(`image ${JSON.stringify(image)} is not a registry/path:tag reference`);
  for (const unit of p.start ?? []) if (!UNIT.test(unit)) out.push(`unit ${JSON.stringify(unit)} is not a systemd unit name`);
  const paths = new Set<string>();
  for (const s of p.secrets ?? []) {
    if (!declared.has(s.variable)) out.push(`secret ${s.path} reads variable ${s.variable}, which the service does not declare`);
    if (!/^\/[A-Za-z0-9._\/-]+$/.test(s.path) || s.path.split("/").includes("..")) out.push(`secret path ${JSON.stringify(s.path)} must be an absolute path of letters, digits and . _ - /`);
    if (paths.has(s.path)) out.push(`secret path ${s.path} is written twice`);
    paths.add(s.path);
    if (!/^[a-z_][a-z0-9_-]*:[a-z_][a-z0-9_-]*$/.test(s.owner)) out.push(`secret ${s.path}: owner ${JSON.stringify(s.owner)} must be user:group`);
  }
  return out;
}
