import { z } from "zod";
import { cidrProblem, isIpv4 } from "./addressing";
import { REFERENCE_LAB_COSIGN_PUBLIC_KEY, REFERENCE_LAB_FACTORY_PUBLIC_KEY } from "./image-signing";

/**
 * The typed description of a lab. Shape only: every field carries its fixed default here so that a YAML
 * file names just what differs from the reference lab. Defaults that follow from other fields (member
 * addresses, the VIP and the gateways from the zones' subnets; domains and the registry's name) are
 * filled in by defaults.ts; cross-field rules (addresses inside their zone, no overlaps, …) live in
 * validate.ts, which reports every problem in one pass.
 */

/** Issue text for a broken rule: "rule (hint)"; the path and value are added when reported. */
export function ruleText(rule: string, hint: string): string {
  return `${rule} (${hint})`;
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

const dnsLabel = z
  .string()
  .refine((v) => DNS_LABEL.test(v), {
    message: ruleText("must be a DNS label", "lower-case letters, digits and '-', 1-63 characters, no leading or trailing '-'"),
  })
  .describe("DNS label: lower-case letters, digits and '-', 1-63 characters");

/**
 * A name that becomes a VM's host name *and* part of terraform identifiers (resource names, module
 * keys): terraform wants identifiers to start with a letter, DNS wants a label.
 */
const NAME = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
const name = z
  .string()
  .refine((v) => NAME.test(v), {
    message: ruleText(
      "must be a name",
      "lower-case letters, digits and '-', 1-63 characters, starting with a letter and not ending in '-'; it is a host name and part of terraform identifiers",
    ),
  })
  .describe("name: lower-case letters, digits and '-', starting with a letter");

/**
 * Proxmox storage id (pve-storage-id in PVE's JSONSchema: `[a-z][a-z0-9\-_.]*[a-z0-9]`, case-insensitive).
 */
const STORAGE_ID = /^[A-Za-z][A-Za-z0-9_.-]*[A-Za-z0-9]$/;
const storageId = z.string().refine((v) => STORAGE_ID.test(v), {
  message: ruleText("must be a Proxmox storage id", "a letter, then letters, digits, '-', '_' or '.', not ending in those, e.g. local-lvm"),
});

/**
 * Proxmox network interface name (pve-iface in PVE's JSONSchema: `[a-zA-Z][a-zA-Z0-9_]{1,20}`, with an
 * optional `.<vlan>`/`:<alias>` suffix that bridges never have).
 */
const IFACE = /^[A-Za-z][A-Za-z0-9_]{1,20}$/;
const bridgeName = z.string().refine((v) => IFACE.test(v), {
  message: ruleText("must be a Proxmox bridge name", "a letter, then 1-20 letters, digits or '_', e.g. vmbr1"),
});

/** An absolute https or http URL with only the characters RFC 3986 allows unencoded (no spaces, braces or quotes). */
const URL_CHARS = /^https?:\/\/[A-Za-z0-9._~:/?#[\]@!$&'()*+,;=%-]+$/;
function isUrl(v: string): boolean {
  if (!URL_CHARS.test(v)) return false;
  try {
    return ["http:", "https:"].includes(new URL(v).protocol) && new URL(v).hostname.length > 0;
  } catch {
    return false;
  }
}

/** Free text a person reads (purposes, descriptions): one line, printable, at most `max` characters. */
function prose(max: number) {
  return z
    .string()
    .refine((v) => v.trim().length > 0, { message: ruleText("must not be empty", "say in a few words why it exists"), abort: true })
    // \p{C}: control, format (bidi overrides, zero-width), surrogate, private-use and unassigned code
    // points; \p{Zl}\p{Zp}: line and paragraph separators. What is left renders as what it says.
    .refine((v) => !/[\p{C}\p{Zl}\p{Zp}]/u.test(v), {
      message: ruleText("must be one line of printable text", "no line breaks, tabs, control or invisible formatting characters"),
      abort: true,
    })
    .refine((v) => v.length <= max, { message: ruleText(`must be at most ${max} characters`, "shorten it; it is shown in rule comments and tables") });
}

const dnsName = z
  .string()
  .refine((v) => DNS_NAME.test(v), {
    message: ruleText("must be a fully qualified DNS name", "dot-separated DNS labels, e.g. mgmt.lab.internal"),
  });

const ipv4 = z.string().refine(isIpv4, {
  message: ruleText("must be an IPv4 address", "dotted quad such as 10.10.100.11, without a prefix length"),
});

const cidr = z.string().superRefine((v, ctx) => {
  const problem = cidrProblem(v);
  if (problem) ctx.addIssue({ code: "custom", message: ruleText("must be an IPv4 subnet", problem) });
});

function inPrivateAsRange(n: number): boolean {
  return (n >= 64512 && n <= 65534) || (n >= 4200000000 && n <= 4294967294);
}

const privateAs = z.number().int().refine(inPrivateAsRange, {
  message: ruleText("must be a private AS number", "RFC 6996: 64512-65534 or 4200000000-4294967294"),
});

const vmId = z.number().int().refine((n) => n >= 100 && n <= 999999999, {
  message: ruleText("must be a Proxmox VM id", "100-999999999"),
});

const PORT_RANGE = /^([1-9]\d{0,4})-([1-9]\d{0,4})$/;
const port = z.union([z.number().int(), z.string()]).superRefine((v, ctx) => {
  const ok = (n: number) => n >= 1 && n <= 65535;
  const single = typeof v === "number" ? v : /^[1-9]\d{0,4}$/.test(v) ? Number(v) : undefined;
  const m = typeof v === "string" ? PORT_RANGE.exec(v) : null;
  const valid = single !== undefined ? ok(single) : !!m && ok(Number(m[1])) && ok(Number(m[2])) && Number(m[1]) < Number(m[2]);
  if (!valid) ctx.addIssue({ code: "custom", message: ruleText("must be a port or port range", "1-65535, or 'low-high' with low < high, without leading zeros") });
});

/** Words YAML 1.1 or 1.2 reads as booleans or null: a schematic entry must never be one. */
const YAML_WORDS = new Set(["true", "false", "yes", "no", "on", "off", "y", "n", "null"]);

/**
 * A kernel argument the Image Factory's schematic YAML carries as a plain scalar, written the same by
 * Go's yaml.v3 and by this project: a letter first (no YAML indicator such as `,` `:` `-`, no number),
 * then letters, digits and `. _ / : = , -`, and no word YAML reads as a boolean or null.
 */
export function isPlainKernelArg(v: string): boolean {
  return /^[A-Za-z][A-Za-z0-9._/:=,-]*$/.test(v) && !YAML_WORDS.has(v.toLowerCase());
}

/** VM size. Disk is the boot disk on the spec's VM datastore. */
export const VmSizeSchema = z.strictObject({
  cores: z.number().int().positive().describe("vCPU cores"),
  memoryMiB: z.number().int().positive().describe("dedicated memory in MiB"),
  diskGiB: z.number().int().positive().describe("boot disk size in GiB"),
});

export const ProxmoxNodeSchema = z.strictObject({
  name: dnsLabel.describe("Proxmox node name as shown in the cluster"),
  sshAddress: z
    .string()
    .refine((v) => isIpv4(v) || DNS_LABEL.test(v) || DNS_NAME.test(v), {
      message: ruleText("must be a host name or an IPv4 address", "the address the provider opens SSH to, e.g. pve1.example.lan or 192.0.2.10"),
    })
    .optional()
    .describe("address the provider uses for SSH (snippet uploads); default: resolved by the provider"),
  address: ipv4
    .optional()
    .describe("the host's address on the WAN side, as pfSense sees it (firewall rules for the Proxmox host); default: the WAN subnet"),
  uplinks: z
    .record(
      bridgeName,
      z
        .array(
          z.string().refine((v) => /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(v), {
            message: ruleText("must be a network interface name", "the NIC as Proxmox names it, e.g. eno2 or bond0, at most 15 characters"),
          }),
        )
        .min(1),
    )
    .optional()
    .describe(
      "physical ports that join a zone bridge on this node to the same bridge on the other nodes, by bridge, e.g. { vmbr1: [eno2] }; needed on every node a zone spans (a bridge without a port exists on its node only). With VLAN-tagged zones the port is a trunk of the zones' tags.",
    ),
});

export const ProxmoxSchema = z.strictObject({
  nodes: z.array(ProxmoxNodeSchema).min(1).default([{ name: "pve" }]).describe("Proxmox nodes the lab may use"),
  vmDatastore: storageId.default("local-lvm").describe("datastore for VM disks, EFI and cloud-init drives"),
  isoDatastore: storageId.default("local").describe("datastore (content 'iso') for downloaded images"),
  snippetDatastore: storageId.default("local").describe("datastore (content 'snippets') for cloud-init user-data"),
  manageBridges: z
    .boolean()
    .default(true)
    .describe("create the internal zone bridges with proxmox_network_linux_bridge (false: they exist already)"),
  insecureTls: z.boolean().default(false).describe("skip TLS verification of the Proxmox API (self-signed lab hosts)"),
  sshUsername: z
    .string()
    .refine((v) => /^[a-z_][a-z0-9_-]{0,31}$/.test(v), {
      message: ruleText("must be a Linux user name", "lower-case letters, digits, '_' and '-', starting with a letter or '_', at most 32 characters"),
    })
    .default("root").describe("SSH user the provider uses to upload snippets"),
  sshAgent: z.boolean().default(false).describe("use the local SSH agent instead of the private-key variable"),
  datacenterFirewall: z
    .boolean()
    .default(true)
    .describe(
      "switch the Proxmox datacenter (cluster-wide) firewall on from the edge module (bpg proxmox_virtual_environment_cluster_firewall), " +
        "without which no VM firewall acts; it writes every cluster firewall option (host input policy ACCEPT, output and forward ACCEPT, ebtables on, " +
        "PVE's log rate limit) and a destroy leaves them as they are. false: the runbook's datacenter-firewall step switches it on by hand on a Proxmox node instead; " +
        "turn it off when the cluster's firewall options are managed elsewhere, e.g. an administrator's host input policy DROP with a management IP set, which this would overwrite (two labs of this project on one cluster write the same values)",
    ),
});

export const ZoneSchema = z.strictObject({
  bridge: bridgeName.describe("Linux bridge of the zone on every Proxmox node"),
  vlan: z
    .number()
    .int()
    .refine((n) => n >= 1 && n <= 4094, { message: ruleText("must be a VLAN id", "1-4094") })
    .optional().describe("802.1Q tag on the bridge; omit for an untagged bridge"),
  cidr: cidr.describe("IPv4 subnet of the zone, e.g. 192.168.100.0/24"),
  gateway: ipv4
    .optional()
    .describe("pfSense address in the zone (gateway, DNS and NTP for its members); default: the first host address of cidr"),
  domain: dnsName.optional().describe("DNS search domain of the zone; default: <zone>.lab.internal"),
});

/**
 * The client LAN (`zones.client`): the operators' way in. From it only the MGMT client hosts are
 * reachable, on SSH (tcp/22) and remote desktop (xrdp, tcp/3389); no lab zone initiates into it.
 * A further pfSense interface (vtnet4, OPT3) sits on it. By default it is a new bridge the edge module
 * creates (`vmbr4`, 192.168.200.0/24, pfSense at .1); with `existing: true` it is an operators' LAN
 * that already exists on `bridge`: the lab creates no bridge, and `gateway` (pfSense's address there)
 * must be given, since that LAN's first address is usually its own router; the operators' machines
 * then need a route to the mgmt client's address via that gateway.
 */
export const ClientLanSchema = ZoneSchema.extend({
  bridge: bridgeName.describe("Linux bridge of the client LAN on pfSense's Proxmox node"),
  cidr: cidr.describe("IPv4 subnet of the client LAN, e.g. 192.168.200.0/24"),
  gateway: ipv4
    .optional()
    .describe(
      "pfSense's address in the client LAN; default: the first host address of cidr. Required with existing: true (that LAN's own router usually holds .1)",
    ),
  domain: dnsName.optional().describe("DNS name of the client LAN, for tables only (pfSense serves it no DNS); default: client.lab.internal"),
  existing: z
    .boolean()
    .default(false)
    .describe(
      "true: the client LAN is an operators' network that exists already on bridge; the lab creates no bridge there, and the operators' machines need a route to the mgmt client via gateway",
    ),
});

export const ZonesSchema = z.strictObject({
  wan: z
    .strictObject({ bridge: bridgeName.default("vmbr0").describe("existing uplink bridge (DHCP)") })
    .default({ bridge: "vmbr0" }),
  mgmt: ZoneSchema.default({ bridge: "vmbr1", cidr: "192.168.100.0/24" }),
  dmz: ZoneSchema.default({ bridge: "vmbr2", cidr: "172.16.100.0/24" }),
  srv: ZoneSchema.default({ bridge: "vmbr3", cidr: "10.10.100.0/24" }),
  client: ClientLanSchema.default({ bridge: "vmbr4", cidr: "192.168.200.0/24", existing: false }).describe(
    "the client LAN, the operators' way in: only the MGMT client hosts are reachable from it (SSH, RDP); a further pfSense interface (OPT3)",
  ),
});

/** An Ubuntu VM in MGMT or DMZ. */
export const HostSchema = z.strictObject({
  name,
  zone: z
    .enum(["mgmt", "dmz"], {
      error: ruleText('must be "mgmt" or "dmz"', "Ubuntu hosts live in MGMT or DMZ; Talos nodes go under talos.controlPlanes and talos.workers"),
    })
    .describe("zone the VM's only NIC sits in"),
  role: name.describe(
    "the service the host runs: registry (Harbor + Image Factory), client (operator box), ingress (HAProxy), or a service registered with the lab",
  ),
  ip: ipv4
    .optional()
    .describe("static IPv4 address inside the zone; default: the zone's subnet at the service's host offset (registry 11, client 20, ingress 10) plus the host's index among the zone's hosts of that role without an ip"),
  size: VmSizeSchema.optional().describe("default depends on the role"),
  node: dnsLabel.optional().describe("Proxmox node; default: the first node"),
  vmId: vmId.optional().describe("Proxmox VM id; default: zone base + host offset in the subnet"),
});

export const TalosNodeSchema = z.strictObject({
  name,
  ip: ipv4
    .optional()
    .describe("static IPv4 address in SRV; default: zones.srv.cidr at host offset 11 (control planes) or 21 (workers) plus the node's index among the list's nodes without an ip"),
  node: dnsLabel.optional().describe("Proxmox node; default: control planes spread in order, workers by name hash"),
  size: VmSizeSchema.optional().describe("default: the role's size in talos.sizes"),
  vmId: vmId.optional(),
});

/**
 * How the Talos system volumes STATE and EPHEMERAL are encrypted (`talos.diskEncryption`): `tpm` seals
 * the LUKS2 keys to the TPM 2.0 (SecureBoot only), `nodeID` derives them from the node's identity,
 * `off` leaves them plain.
 */
export const DiskEncryptionSchema = z.enum(["tpm", "nodeID", "off"]);

/** A value of `talos.diskEncryption`. */
export type DiskEncryption = z.infer<typeof DiskEncryptionSchema>;

export const TalosSchema = z.strictObject({
  version: z
    .string()
    .refine((v) => /^v1\.(1[2-9]|[2-9]\d)\.\d+$/.test(v), {
      message: ruleText("must be a Talos version v1.12.0 or newer", "with the leading v, e.g. v1.13.9; multi-document configs need 1.12+"),
    })
    .default("v1.13.9").describe("Talos version, e.g. v1.13.9"),
  configContract: z
    .string()
    .refine((v) => /^v1\.(1[2-9]|[2-9]\d)$/.test(v), {
      message: ruleText("must be a Talos minor version v1.12 or newer", "the minor only, with the leading v, e.g. v1.13"),
    })
    .optional()
    .describe(
      "machine-config contract: the Talos minor whose config model the nodes get (talos_version of the machine configuration). Default: the minor of talos.version, at most v1.13 (the newest the bound Talos provider 0.11.0 can generate), which must then equal the minor the cluster was created with; pin it here before moving talos.version to a newer minor, and move it on purpose later",
    ),
  clusterName: dnsLabel.default("talos-lab").describe("Kubernetes cluster name"),
  imageVerification: z
    .strictObject({
      enabled: z
        .boolean()
        .optional()
        .describe(
          "run only images signed with publicKey (Talos ImageVerificationConfig; every other image is denied). Default: on where the machine-config contract has the document (v1.13 and newer), off below; true with an older contract is refused",
        ),
      publicKey: z
        .string()
        .max(4096)
        .default(REFERENCE_LAB_COSIGN_PUBLIC_KEY)
        .describe(
          "PEM public key (ECDSA P-256, cosign.pub of `cosign generate-key-pair`) the lab signs its mirrored images with; Talos verifies every image against it. The default is the reference lab's, whose private half nobody has: put your own here",
        ),
      factoryPublicKey: z
        .string()
        .max(4096)
        .default(REFERENCE_LAB_FACTORY_PUBLIC_KEY)
        .describe(
          "PEM public key (ECDSA P-256) of the internal Image Factory's signing key, the root variable image_factory_signing_key (`openssl ecparam -name prime256v1 -genkey -noout`, then `openssl ec -pubout`); the factory signs the installers it builds with it, and Talos verifies the installer against this. The default is the reference lab's, whose private half nobody has: put your own here",
        ),
    })
    .default({ publicKey: REFERENCE_LAB_COSIGN_PUBLIC_KEY, factoryPublicKey: REFERENCE_LAB_FACTORY_PUBLIC_KEY })
    .describe("image signature verification: the lab signs what it mirrors, Talos runs only what the lab signed"),

  vip: ipv4.optional().describe("shared Layer-2 VIP of the Kubernetes API in SRV; default: zones.srv.cidr at host offset 10"),
  extensions: z
    .array(
      z.string().refine((v) => /^[a-z0-9-]+\/[a-z0-9.-]+$/.test(v), {
        message: ruleText("must be an official extension name", "'<owner>/<name>', e.g. siderolabs/qemu-guest-agent"),
      }),
    )
    .default(["siderolabs/qemu-guest-agent"])
    .describe("official system extensions baked into the Image Factory schematic"),
  extraKernelArgs: z
    .array(
      z.string().refine(isPlainKernelArg, {
        message: ruleText(
          "must be a plain kernel argument",
          "a letter first, then letters, digits and . _ / : = , - only, and not a YAML word such as true, no or null (the schematic is YAML)",
        ),
      }),
    )
    .default([])
    .describe("kernel arguments baked into the schematic (boot image and installer)"),
  secureBoot: z
    .boolean()
    .default(false)
    .describe("boot and install the SecureBoot variants (UKI, TPM 2.0 state, keys enrolled from the ISO)"),
  diskEncryption: DiskEncryptionSchema.optional().describe(
    "LUKS2 encryption of the Talos system volumes STATE and EPHEMERAL (VolumeConfig documents): 'tpm' seals the keys to the VM's TPM 2.0 and the SecureBoot state (needs talos.secureBoot), 'nodeID' derives them from the node's identity (protects a copied disk image, not a stolen running VM), 'off' leaves the volumes plain. Default: 'tpm' with talos.secureBoot, else 'nodeID'. Talos encrypts a volume only when it formats it, so this is fixed when the nodes are installed: changing it on a running cluster fails the plan; reinstall the nodes to change it",
  ),
  installDisk: z
    .string()
    .refine((v) => /^\/dev\/[A-Za-z0-9][A-Za-z0-9/_.-]*$/.test(v) && !v.split("/").includes(".."), {
      message: ruleText("must be a device path", "/dev/<name>, e.g. /dev/sda or /dev/disk/by-id/<id>"),
    })
    .default("/dev/sda").describe("disk Talos installs to (the VM's scsi0)"),
  linkName: z
    .string()
    .regex(/^[a-z0-9]{1,15}$/)
    .default("ens18")
    .describe("name of the VM's NIC inside Talos (virtio in PCI slot 18 on Proxmox: ens18)"),
  apiFqdn: dnsName.optional().describe("DNS name of the Kubernetes API; default api.<SRV domain>"),
  kubernetesVersion: z
    .string()
    .refine((v) => /^v1\.\d+\.\d+$/.test(v), { message: ruleText("must be a Kubernetes version", "e.g. v1.36.3") })
    .default("v1.36.3")
    .describe("Kubernetes version, pinned so no provider default decides (Talos 1.13.9's own default; Talos 1.13 supports 1.31-1.36)"),
  allowEvenControlPlanes: z
    .boolean()
    .default(false)
    .describe("accept an even number of control planes (etcd loses quorum as easily as with one fewer)"),
  controlPlanes: z
    .array(TalosNodeSchema)
    .default([{ name: "talos-cp-1" }, { name: "talos-cp-2" }, { name: "talos-cp-3" }]),
  workers: z
    .array(TalosNodeSchema)
    .default([{ name: "talos-worker-1" }, { name: "talos-worker-2" }]),
  sizes: z
    .strictObject({
      controlPlane: VmSizeSchema.default({ cores: 4, memoryMiB: 6144, diskGiB: 64 }),
      worker: VmSizeSchema.default({ cores: 4, memoryMiB: 8192, diskGiB: 100 }),
    })
    .default({
      controlPlane: { cores: 4, memoryMiB: 6144, diskGiB: 64 },
      worker: { cores: 4, memoryMiB: 8192, diskGiB: 100 },
    }),
});

/**
 * Vulnerability severities a pull can be blocked from, lowest first: Harbor's project setting `severity`
 * takes exactly these (goharbor/harbor api/v2.0/swagger.yaml, `ProjectMetadata.severity`: "none", "low",
 * "medium", "high", "critical"). The spec reads `none` as "block nothing" (see {@link ScanningSchema}).
 */
export const VULNERABILITY_SEVERITIES = ["none", "low", "medium", "high", "critical"] as const;
/** One of {@link VULNERABILITY_SEVERITIES}. */
export type VulnerabilitySeverity = (typeof VULNERABILITY_SEVERITIES)[number];

/**
 * What Harbor's scanner (Trivy) does with the images the proxy-cache projects cache (`registry.scanning`).
 * Scanning itself is always on: every cached image is scanned when it arrives and every day after.
 */
export const ScanningSchema = z.strictObject({
  blockSeverity: z
    .enum(VULNERABILITY_SEVERITIES, {
      error: (issue) =>
        ruleText(
          `must be one of ${VULNERABILITY_SEVERITIES.map((v) => JSON.stringify(v)).join(", ")}`,
          typeof issue.input === "string" && (VULNERABILITY_SEVERITIES as readonly string[]).includes(issue.input.toLowerCase())
            ? "values are lower-case"
            : "the lowest severity that stops a pull; none scans and blocks nothing",
        ),
    })
    .default("critical")
    .describe(
      "lowest vulnerability severity that stops a pull from the proxy-cache projects (Harbor's 'prevent vulnerable images' with this severity): " +
        "low, medium, high or critical; none scans and reports but blocks nothing. It stops images in Harbor's cache that a scan found " +
        "vulnerable, or that are cached and not (successfully) scanned yet; an image's very first pull is served from upstream while it is being cached " +
        "and is not stopped (goharbor/harbor#13242). Every puller is held to it, the Image Factory included: exempt a CVE in Harbor's " +
        "system CVE allowlist",
    ),
});

export const RegistrySchema = z.strictObject({
  host: name.default("registry").describe("name of the MGMT host that runs Harbor and the Image Factory"),
  fqdn: dnsName.optional().describe("name on the lab certificate; default: <registry.host>.<zones.mgmt.domain>"),
  factoryPort: z
    .number()
    .int()
    .refine((n) => n >= 1 && n <= 65535 && n !== 443, {
      message: ruleText("must be a TCP port other than 443", "Harbor serves 443 on the same host"),
    })
    .default(9443).describe("HTTPS port of the internal Talos Image Factory"),
  upstreams: z
    .array(dnsName)
    .default(["docker.io", "ghcr.io", "registry.k8s.io", "quay.io", "gcr.io"])
    .describe("upstream registries Harbor mirrors as proxy-cache projects"),
  scanning: ScanningSchema.default(ScanningSchema.parse({})).describe(
    "Trivy vulnerability scanning of what the proxy-cache projects cache, and the severity that blocks a pull",
  ),
});

/**
 * The pfSense CE installer the Proxmox node downloads itself (bpg `proxmox_download_file`): pfSense
 * CE 2.7.2 is the last CE release Netgate's public mirror serves without an account login; Netgate
 * publishes the SHA-256 of the `.gz` beside it (`<url>.sha256`).
 */
export const PFSENSE_INSTALLER_DEFAULT = {
  url: "https://atxfiles.netgate.com/mirror/downloads/pfSense-CE-2.7.2-RELEASE-amd64.iso.gz",
  sha256: "883fb7bc64fe548442ed007911341dd34e178449f8156ad65f7381a02b7cd9e4",
  fileName: "pfSense-CE-2.7.2-RELEASE-amd64.iso",
} as const;

export const FirewallInstallerSchema = z.strictObject({
  url: z
    .string()
    .refine((v) => isUrl(v) && v.startsWith("https://"), {
      message: ruleText("must be an https URL", "the Proxmox node downloads it; characters outside RFC 3986 must be percent-encoded"),
    })
    .refine((v) => v.endsWith(".gz"), { message: ruleText("must name a gzip file (.gz)", "the node gunzips it into the ISO; Netgate ships pfSense-CE-<version>-RELEASE-amd64.iso.gz") })
    .describe("https URL of the gzipped installer ISO (…-amd64.iso.gz)"),
  sha256: z
    .string()
    .refine((v) => /^[0-9a-f]{64}$/.test(v), { message: ruleText("must be a SHA-256 in hex", "64 lower-case hex digits, Netgate's <url>.sha256 of the .gz") })
    .describe("SHA-256 of the .gz as Netgate publishes it; the node checks it before it decompresses"),
  fileName: z
    .string()
    .refine((v) => /^[A-Za-z0-9][A-Za-z0-9._-]*\.iso$/.test(v), {
      message: ruleText("must be an ISO file name", "letters, digits, '.', '_' and '-', ending in .iso, e.g. pfSense-CE-2.7.2-RELEASE-amd64.iso"),
    })
    .describe("file name of the decompressed ISO on proxmox.isoDatastore"),
});

export const FirewallSchema = z
  .strictObject({
    name: name.default("pfsense"),
    size: VmSizeSchema.default({ cores: 2, memoryMiB: 2048, diskGiB: 16 }),
    node: dnsLabel.optional().describe("Proxmox node; default: the first node"),
    vmId: vmId.default(100),
    installer: FirewallInstallerSchema.optional().describe(
      `the installer the Proxmox node downloads and checks (default: pfSense CE 2.7.2 from Netgate's public mirror, ${PFSENSE_INSTALLER_DEFAULT.url}); not with isoFileId`,
    ),
    isoFileId: z
      .string()
      .refine((v) => /^[A-Za-z][A-Za-z0-9_.-]*[A-Za-z0-9]:iso\/[A-Za-z0-9][A-Za-z0-9._-]*\.(iso|img)$/.test(v), {
        message: ruleText("must be a Proxmox ISO volume id", "<storage>:iso/<file>.iso, e.g. local:iso/pfSense-CE-2.8.0-RELEASE-amd64.iso"),
      })
      .optional()
      .describe("instead of installer: an installer ISO already on the Proxmox storage (e.g. a newer release behind Netgate's login), put there by hand"),
  })
  .superRefine((v, ctx) => {
    if (v.installer !== undefined && v.isoFileId !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["isoFileId"],
        input: v.isoFileId,
        message: ruleText("must not be given with firewall.installer", "give installer (the node downloads it) or isoFileId (an ISO already on the storage), not both"),
      });
    }
  });

export const BgpSchema = z.strictObject({
  firewallAs: privateAs.default(64520).describe("pfSense (FRR) AS number"),
  clusterAs: privateAs.default(64512).describe("Calico AS number of the Talos nodes"),
  nodeToNodeMesh: z.boolean().default(false).describe("Calico full mesh between nodes besides the pfSense peering"),
});

/** A whole number within [min, max], with the rule and hint a problem line shows. */
function intIn(min: number, max: number, hint: string) {
  const message = ruleText(`must be a whole number ${min}-${max}`, hint);
  return z
    .number()
    .int({ message })
    .refine((n) => n >= min && n <= max, { message });
}

/**
 * Statuses HAProxy can deny with out of the box (`http-request deny deny_status`): the codes it has
 * default error files for (HAProxy configuration manual, "errorfile"; HAProxy 2.6 refuses any other
 * without an errorfile of its own, which the controller does not write).
 */
export const HAPROXY_DENY_STATUSES: readonly number[] = [400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503, 504];

/**
 * Slow-request and idle timeouts of the DMZ ingress, in seconds. Delivered as the controller's
 * ConfigMap keys `timeout-http-request`, `timeout-client` and `timeout-http-keep-alive`.
 */
export const IngressTimeoutsSchema = z.strictObject({
  httpRequestSeconds: intIn(1, 60, "HAProxy's timeout http-request: the whole request head must arrive within it; a few seconds stops slowloris")
    .default(5)
    .describe("time a client has to send a complete request head (timeout http-request; slowloris)"),
  clientSeconds: intIn(1, 3600, "HAProxy's timeout client: inactivity on the client side")
    .default(30)
    .describe("longest client-side inactivity (timeout client; slow readers and writers)"),
  httpKeepAliveSeconds: intIn(1, 300, "HAProxy's timeout http-keep-alive: how long an idle keep-alive connection waits for its next request")
    .default(10)
    .describe("how long an idle keep-alive connection may wait for its next request (timeout http-keep-alive)"),
});

/**
 * Edge protection of the DMZ ingress: per-client request rate and concurrent connections (stick
 * tables keyed by the source address), slow-request timeouts, allow and deny lists by source network
 * and a global connection ceiling. The defaults protect a lab out of the box.
 */
export const IngressProtectionSchema = z.strictObject({
  maxConnections: intIn(1, 30000, "HAProxy's global maxconn; each connection takes two file descriptors and the controller's container has 65536")
    .default(4096)
    .describe("most concurrent connections the ingress HAProxy accepts in all (global maxconn)"),
  connectionsPerClient: intIn(1, 100000, "concurrent connections one source address may hold; browsers open about 6 per host")
    .default(50)
    .describe("most concurrent connections one source address may hold; more are refused at accept"),
  requestsPerClient: intIn(1, 1000000, "requests one source address may send per ratePeriodSeconds")
    .default(200)
    .describe("most HTTP requests one source address may send per ratePeriodSeconds (rate-limit-requests)"),
  ratePeriodSeconds: intIn(1, 3600, "the window the request rate is counted over (rate-limit-period)")
    .default(10)
    .describe("window the per-client request rate is counted over (rate-limit-period)"),
  trackedClients: intIn(1, 10000000, "source addresses the stick tables remember; the oldest are replaced (rate-limit-size)")
    .default(100000)
    .describe("how many source addresses the stick tables track (rate-limit-size)"),
  limitStatusCode: z
    .number()
    .refine((n) => HAPROXY_DENY_STATUSES.includes(n), {
      message: ruleText("must be a status HAProxy can deny with", `one of ${HAPROXY_DENY_STATUSES.join(", ")}; 429 Too Many Requests is the standard one`),
    })
    .default(429)
    .describe("status a client over its request rate gets (rate-limit-status-code)"),
  timeouts: IngressTimeoutsSchema.default(IngressTimeoutsSchema.parse({})),
  allow: z.array(cidr).default([]).describe("source networks (CIDRs, /32 for one address) allowed to reach the ingress; empty: every source (allow-list)"),
  deny: z.array(cidr).default([]).describe("source networks (CIDRs, /32 for one address) refused with 403 (deny-list)"),
});

export const NetworkSchema = z.strictObject({
  podCidr: cidr.default("10.244.0.0/16"),
  serviceCidr: cidr.default("10.96.0.0/12"),
  podBlockSize: z
    .number()
    .int()
    .refine((n) => n >= 20 && n <= 32, { message: ruleText("must be a Calico block size", "a prefix length 20-32; Calico's default is 26") })
    .default(26).describe("Calico IPAM block size; pfSense accepts routes up to it"),
  ingressBackendPorts: z
    .array(port)
    .default([8080])
    .describe("pod ports the DMZ ingress may reach through pfSense (container ports of the backends)"),
  ingressCredentialDays: intIn(7, 365, "days the DMZ ingress controller's service account token lives, at least a week; a tofu apply renews it, at least every half of it less a day")
    .default(30)
    .describe(
      "lifetime in days of the DMZ ingress controller's service account token, minted by tofu's provisioning with the TokenRequest API; an apply in each renewal window (half the lifetime, at most a month) renews it",
    ),
  ingressProtection: IngressProtectionSchema.default(IngressProtectionSchema.parse({})).describe(
    "edge protection at the DMZ ingress: per-client rate and connection limits, slow-request timeouts, source allow/deny lists, a global maxconn",
  ),
});

export const PlatformSchema = z.strictObject({
  chartRepository: z
    .string()
    .refine((v) => /^oci:\/\/[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)+$/.test(v), {
      message: ruleText("must be an OCI chart location", "oci://<host>/<project>, e.g. the internal Harbor's charts project"),
    })
    .optional()
    .describe("where the tigera-operator chart is pulled from; default oci://<registry fqdn>/charts (never a public URL)"),
  calicoVersion: z
    .string()
    .refine((v) => /^v3\.\d+\.\d+$/.test(v), { message: ruleText("must be a Calico release", "e.g. v3.31.0") })
    .default("v3.31.0")
    .describe("tigera-operator chart version (= Calico release)"),
  demoHost: dnsName.optional().describe("host name the demo Ingress answers; default demo.<DMZ domain>"),
});

export const ImagesSchema = z.strictObject({
  ubuntuCloudImageUrl: z
    .string()
    .refine(isUrl, { message: ruleText("must be an http(s) URL", "the Proxmox host downloads it; characters outside RFC 3986 must be percent-encoded") })
    .default("https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img")
    .describe("Ubuntu cloud image, downloaded once per Proxmox node by the host (MGMT-side egress)"),
  ubuntuCloudImageFileName: z
    .string()
    .refine((v) => /^[\w.-]+\.(img|iso)$/.test(v), {
      message: ruleText("must be a file name ending in .img or .iso", "Proxmox stores downloads with content type iso"),
    })
    .default("ubuntu-24.04-server-cloudimg-amd64.img"),
});

export const FlowEndpointSchema = z.string().describe(
  "host name, 'zone:<mgmt|dmz|srv>', 'group:<talos|controlplanes|workers>', 'firewall', 'pods', 'internet' or 'proxmox'",
);

export const FlowSchema = z.strictObject({
  id: z
    .string()
    .refine((v) => /^[a-z0-9][a-z0-9-]{0,62}$/.test(v), { message: ruleText("must be a flow id", "lower-case letters, digits and '-', at most 63 characters") })
    .describe("stable flow id, e.g. mgmt-client-to-registry-https"),
  from: FlowEndpointSchema,
  to: FlowEndpointSchema,
  protocol: z.enum(["tcp", "udp", "icmp"]),
  ports: z.array(port).default([]).describe("ports or 'from-to' ranges"),
  purpose: prose(200).describe("why the flow exists; shown in RULES.md and rule comments"),
});

/**
 * A flow a service declares (see `ServiceDescriptor.flows`): a spec flow's shape, with ids that may
 * join a host name and parts with '.' (`hostFlowId`), so two hosts of a role never share one.
 */
export const ServiceFlowSchema = FlowSchema.extend({
  id: z
    .string()
    .refine((v) => /^[a-z0-9]([a-z0-9.-]{0,198}[a-z0-9])?$/.test(v) && !v.includes(".."), {
      message: ruleText("must be a service flow id", "lower-case letters, digits, '-' and '.' between them, at most 200 characters; hostFlowId(host.name, …) makes one"),
    }),
});

/** A relative path of plain segments (letters, digits, '.', '_', '-'), never absolute. */
const relativePath = z
  .string()
  .refine((v) => !v.startsWith("/") && !/^[A-Za-z]:/.test(v), {
    message: ruleText("must be a relative path", "absolute paths make the output machine-specific"),
    abort: true,
  })
  .refine((v) => v.split("/").every((seg) => /^[A-Za-z0-9._-]+$/.test(seg)) && !v.endsWith("/"), {
    message: ruleText("must be a path of plain segments", "letters, digits, '.', '_' and '-' between single '/', e.g. ../../../lab.state/terraform.tfstate"),
    abort: true,
  })
  .refine((v) => v.split("/").some((seg) => seg !== ".." && seg !== "."), {
    message: ruleText("must name a file", "end the path in a file name such as terraform.tfstate"),
  });

export const LocalBackendSchema = z.strictObject({
  type: z.literal("local"),
  path: relativePath
    .optional()
    .describe(
      "state file, relative to the stack directory; default ../../../<output folder>.state/<name>/terraform.tfstate: beside the output folder, outside the generated tree",
    ),
});

export const PgBackendSchema = z.strictObject({
  type: z.literal("pg"),
  schemaName: z
    .string()
    .refine((v) => /^[a-z_][a-z0-9_]{0,62}$/.test(v), {
      message: ruleText("must be a PostgreSQL schema name", "lower-case letters, digits and '_', starting with a letter or '_', at most 63 characters"),
    })
    .optional()
    .describe("schema that holds the state table; default talos_enclave_<name> (one per lab, so labs sharing a database never share a state). The connection string comes only from PG_CONN_STR."),
});

export const S3BackendSchema = z.strictObject({
  type: z.literal("s3"),
  bucket: z
    .string()
    .refine((v) => /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v) && !v.includes(".."), {
      message: ruleText("must be an S3 bucket name", "3-63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit"),
    })
    .describe("bucket that holds the state"),
  key: relativePath.optional().describe("object key of the state; default <name>/terraform.tfstate"),
  region: z
    .string()
    .refine((v) => /^[a-z0-9][a-z0-9-]{0,62}$/.test(v), { message: ruleText("must be a region name", "lower-case letters, digits and '-', e.g. us-east-1") })
    .default("us-east-1")
    .describe("region the bucket is in (MinIO and Ceph accept any)"),
  endpoint: z
    .string()
    .refine(isUrl, { message: ruleText("must be an http(s) URL", "the S3 API of MinIO or Ceph RGW, e.g. https://s3.mgmt.example:9000") })
    .optional()
    .describe("S3-compatible endpoint (MinIO, Ceph RGW); default: AWS"),
  usePathStyle: z
    .boolean()
    .default(true)
    .describe("path-style addressing (https://host/bucket/key), which MinIO and Ceph need"),
});

/**
 * A file on the machine that runs tofu (the runner), outside the tree: `~/` (that user's home) or `/`
 * first, then plain segments. It becomes a literal in the module (escaped like all spec text) that
 * tofu expands with pathexpand(); a relative path would land inside the tree, next to the stack.
 */
const runnerPath = z
  .string()
  .refine((v) => !/[\p{C}\p{Zl}\p{Zp}]/u.test(v), {
    message: ruleText("must be one line of printable text", "no line breaks, tabs, control or invisible formatting characters"),
    abort: true,
  })
  .refine((v) => !/[$%]\{/.test(v), {
    message: ruleText("must not hold ${ or %{", "it is a path, not a template; tofu would evaluate it"),
    abort: true,
  })
  .refine((v) => v.startsWith("~/") || v.startsWith("/"), {
    message: ruleText("must be an absolute path or start with ~/", "the file is written on the runner, outside the tree; a relative path would put it into the stack folder"),
    abort: true,
  })
  .refine((v) => v.replace(/^~?\//, "").split("/").every((seg) => /^[A-Za-z0-9._+@-]+$/.test(seg) && seg !== "." && seg !== ".."), {
    message: ruleText("must be a path of plain segments", "letters, digits, '.', '_', '+', '@' and '-' between single '/', no '.' or '..' segment, not ending in '/', e.g. ~/.kube/config"),
    abort: true,
  })
  .refine((v) => v.length <= 1024, { message: ruleText("must be at most 1024 characters", "a shorter path") });

export const ApplySchema = z.strictObject({
  runner: name
    .optional()
    .describe(
      "the MGMT client host that runs tofu after the bootstrap (only a client reaches the Talos API and the cluster); default: the first client host",
    ),
  talosconfigPath: runnerPath
    .default("~/.talos/config")
    .describe("where tofu writes the cluster's talosconfig on the runner, mode 0600 (~/ is the home of the user running tofu); default talosctl's own, ~/.talos/config"),
  kubeconfigPath: runnerPath
    .default("~/.kube/config")
    .describe("where tofu writes the cluster's admin kubeconfig on the runner, mode 0600 (~/ is the home of the user running tofu); default kubectl's and helm's own, ~/.kube/config"),
});

/**
 * An Ubuntu snapshot id, `YYYYMMDDTHHMMSSZ` (UTC), the form `apt --snapshot` and `APT::Snapshot` take
 * (documentation.ubuntu.com/server how-to/software/snapshot-service); snapshot.ubuntu.com serves the
 * archive as it was at any time after 1 March 2023 (snapshot.ubuntu.com), so earlier ids are refused.
 */
const APT_SNAPSHOT = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
/** The first moment snapshot.ubuntu.com has the archive for. */
export const FIRST_APT_SNAPSHOT = "20230301T000000Z";
const aptSnapshot = z
  .string()
  .refine(
    (v) => {
      const m = APT_SNAPSHOT.exec(v);
      if (!m) return false;
      const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
      const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
      // a real moment: Date.UTC rolls 20260231 over into March, which the round trip catches
      return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && t.getUTCHours() === h && t.getUTCMinutes() === mi && t.getUTCSeconds() === s;
    },
    { message: ruleText("must be an Ubuntu snapshot id", "YYYYMMDDTHHMMSSZ, a real UTC date and time, e.g. 20261115T000000Z"), abort: true },
  )
  .refine((v) => v >= FIRST_APT_SNAPSHOT, {
    message: ruleText(`must not be before ${FIRST_APT_SNAPSHOT}`, "snapshot.ubuntu.com serves the archive from 1 March 2023 on"),
  });

/**
 * The graphical desktop of the client hosts (`clientDesktop`): xrdp, a light Xfce session and a
 * browser, installed from the Ubuntu archive as it was at `aptSnapshot`.
 */
export const ClientDesktopSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(true)
    .describe("give every client host an Xfce desktop over RDP (xrdp, tcp/3389, TLS) with a browser for the pfSense, Harbor and Proxmox web UIs; false: command line only"),
  aptSnapshot: aptSnapshot
    .default("20261115T000000Z")
    .describe(
      "Ubuntu archive snapshot the desktop packages are installed from (apt -o APT::Snapshot=<id>), so every client gets the same versions; not older than the Ubuntu cloud image the clients boot from (apt does not downgrade what the image holds); move it forward to take newer packages",
    ),
});

export const StateBackendSchema = z
  .discriminatedUnion("type", [LocalBackendSchema, PgBackendSchema, S3BackendSchema], {
    error: ruleText('must have type "local", "pg" or "s3"', "local keeps a state file; pg and s3 keep it in PostgreSQL or an S3-compatible store"),
  })
  .describe("where OpenTofu keeps the state; credentials of pg and s3 come only from the environment");

export const StateSchema = z.strictObject({
  encryption: z.boolean().default(true).describe("OpenTofu state and plan encryption (turn off for Terraform)"),
  backend: StateBackendSchema.default({ type: "local" }),
});

/**
 * The zod schema of a lab spec: parses what a user writes ({@link LabSpecInput}) into a
 * {@link ParsedLabSpec} with every fixed default filled in. Shape only; {@link validateLabSpec} adds
 * the defaults that derive from other fields (addresses from the zones' subnets, names from their
 * domains) and the cross-field rules, and returns a {@link LabSpec}.
 */
export const LabSpecSchema = z
  .strictObject({
    name: name.default("talos-lab").describe("stack name: cdktf.out/stacks/<name>/"),
    adminUser: name.default("labadmin").describe("login created on the Ubuntu VMs (SSH keys come from a variable)"),
    proxmox: ProxmoxSchema.default(ProxmoxSchema.parse({})),
    zones: ZonesSchema.default(ZonesSchema.parse({})),
    firewall: FirewallSchema.default(FirewallSchema.parse({})),
    hosts: z.array(HostSchema).default([
      { name: "registry", zone: "mgmt", role: "registry" },
      { name: "mgmt-client", zone: "mgmt", role: "client" },
      { name: "haproxy-ingress-1", zone: "dmz", role: "ingress" },
    ]),
    talos: TalosSchema.default(TalosSchema.parse({})),
    registry: RegistrySchema.default(RegistrySchema.parse({})),
    bgp: BgpSchema.default(BgpSchema.parse({})),
    network: NetworkSchema.default(NetworkSchema.parse({})),
    images: ImagesSchema.default(ImagesSchema.parse({})),
    platform: PlatformSchema.default(PlatformSchema.parse({})),
    flows: z.array(FlowSchema).default([]).describe("flows beyond the ones the components declare"),
    state: StateSchema.default(StateSchema.parse({})),
    apply: ApplySchema.default(ApplySchema.parse({})),
    clientDesktop: ClientDesktopSchema.default(ClientDesktopSchema.parse({})),
  })
  .describe("talos-enclave lab specification");

/** What a user writes (every field optional where a default exists). */
export type LabSpecInput = z.input<typeof LabSpecSchema>;
/**
 * What {@link LabSpecSchema} parses a spec into: the fixed defaults filled in, the derived ones
 * (addresses, the zones' gateways and domains, the registry's name) still open where the user left
 * them out. {@link validateLabSpec} turns it into a {@link LabSpec}.
 */
export type ParsedLabSpec = z.output<typeof LabSpecSchema>;
/** The DMZ ingress's edge protection (`network.ingressProtection`), defaults filled in. */
export type IngressProtection = z.output<typeof IngressProtectionSchema>;
/** A VM size: vCPU cores, memory in MiB and boot disk in GiB. */
export type VmSize = z.output<typeof VmSizeSchema>;
/** An Ubuntu VM in MGMT or DMZ (`hosts[]`), its address resolved. */
export type HostSpec = Omit<z.output<typeof HostSchema>, "ip"> & { ip: string };
/** A Talos node (`talos.controlPlanes[]`, `talos.workers[]`), its address resolved. */
export type TalosNodeSpec = Omit<z.output<typeof TalosNodeSchema>, "ip"> & { ip: string };
/** An internal zone (MGMT, DMZ or SRV): bridge, optional VLAN, subnet, and the resolved gateway and DNS domain. */
export type ZoneSpec = Omit<z.output<typeof ZoneSchema>, "gateway" | "domain"> & { gateway: string; domain: string };
/** The client LAN (`zones.client`), its gateway and domain resolved. */
export type ClientLanSpec = ZoneSpec & { existing: boolean };
/**
 * A validated spec with every default filled in, the derived ones included: what
 * {@link validateLabSpec} returns and the constructs and the model read.
 */
export type LabSpec = Omit<ParsedLabSpec, "zones" | "hosts" | "talos" | "registry"> & {
  zones: Omit<ParsedLabSpec["zones"], "mgmt" | "dmz" | "srv" | "client"> & { mgmt: ZoneSpec; dmz: ZoneSpec; srv: ZoneSpec; client: ClientLanSpec };
  hosts: HostSpec[];
  talos: Omit<ParsedLabSpec["talos"], "vip" | "controlPlanes" | "workers"> & {
    vip: string;
    controlPlanes: TalosNodeSpec[];
    workers: TalosNodeSpec[];
  };
  registry: Omit<ParsedLabSpec["registry"], "fqdn"> & { fqdn: string };
};
/** The client hosts' desktop (`clientDesktop`), defaults filled in. */
export type ClientDesktopSpec = z.output<typeof ClientDesktopSchema>;
/** An extra network flow the spec allows (`flows[]`), beyond the ones the components declare. */
export type FlowSpec = z.output<typeof FlowSchema>;
/**
 * Role of an Ubuntu host: the service it runs, `registry` (Harbor + Image Factory), `client`
 * (operator box), `ingress` (HAProxy) or one registered with the lab (see `ServiceDescriptor`).
 */
export type HostRole = string;

