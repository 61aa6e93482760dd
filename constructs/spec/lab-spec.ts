import { z } from "zod";
import { cidrProblem, isIpv4 } from "../model/addressing";

/**
 * The typed description of a lab. Shape only: every field carries its default here so that a YAML file
 * names just what differs from the reference lab. Cross-field rules (addresses inside their zone, no
 * overlaps, …) live in validate.ts, which reports every problem in one pass.
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

const PORT_RANGE = /^(\d{1,5})-(\d{1,5})$/;
const port = z.union([z.number().int(), z.string()]).superRefine((v, ctx) => {
  const ok = (n: number) => n >= 1 && n <= 65535;
  const single = typeof v === "number" ? v : /^\d{1,5}$/.test(v) ? Number(v) : undefined;
  const m = typeof v === "string" ? PORT_RANGE.exec(v) : null;
  const valid = single !== undefined ? ok(single) : !!m && ok(Number(m[1])) && ok(Number(m[2])) && Number(m[1]) < Number(m[2]);
  if (!valid) ctx.addIssue({ code: "custom", message: ruleText("must be a port or port range", "1-65535, or 'low-high' with low < high") });
});

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
    .optional()
    .describe("address the provider uses for SSH (snippet uploads); default: resolved by the provider"),
  address: ipv4
    .optional()
    .describe("the host's address on the WAN side, as pfSense sees it (firewall rules for the Proxmox host); default: the WAN subnet"),
});

export const ProxmoxSchema = z.strictObject({
  nodes: z.array(ProxmoxNodeSchema).default([{ name: "pve" }]).describe("Proxmox nodes the lab may use"),
  vmDatastore: z.string().default("local-lvm").describe("datastore for VM disks, EFI and cloud-init drives"),
  isoDatastore: z.string().default("local").describe("datastore (content 'iso') for downloaded images"),
  snippetDatastore: z.string().default("local").describe("datastore (content 'snippets') for cloud-init user-data"),
  manageBridges: z
    .boolean()
    .default(true)
    .describe("create the internal zone bridges with proxmox_network_linux_bridge (false: they exist already)"),
  insecureTls: z.boolean().default(false).describe("skip TLS verification of the Proxmox API (self-signed lab hosts)"),
  sshUsername: z.string().default("root").describe("SSH user the provider uses to upload snippets"),
  sshAgent: z.boolean().default(false).describe("use the local SSH agent instead of the private-key variable"),
});

export const ZoneSchema = z.strictObject({
  bridge: z.string().describe("Linux bridge of the zone on every Proxmox node"),
  vlan: z
    .number()
    .int()
    .refine((n) => n >= 1 && n <= 4094, { message: ruleText("must be a VLAN id", "1-4094") })
    .optional().describe("802.1Q tag on the bridge; omit for an untagged bridge"),
  cidr: cidr.describe("IPv4 subnet of the zone, e.g. 192.168.100.0/24"),
  gateway: ipv4.describe("pfSense address in the zone (gateway, DNS and NTP for its members)"),
  domain: dnsName.describe("DNS search domain of the zone"),
});

export const ZonesSchema = z.strictObject({
  wan: z
    .strictObject({ bridge: z.string().default("vmbr0").describe("existing uplink bridge (DHCP)") })
    .default({ bridge: "vmbr0" }),
  mgmt: ZoneSchema.default({
    bridge: "vmbr1",
    cidr: "192.168.100.0/24",
    gateway: "192.168.100.1",
    domain: "mgmt.lab.internal",
  }),
  dmz: ZoneSchema.default({
    bridge: "vmbr2",
    cidr: "172.16.100.0/24",
    gateway: "172.16.100.1",
    domain: "dmz.lab.internal",
  }),
  srv: ZoneSchema.default({
    bridge: "vmbr3",
    cidr: "10.10.100.0/24",
    gateway: "10.10.100.1",
    domain: "srv.lab.internal",
  }),
});

export const HOST_ROLES = ["registry", "client", "ingress"] as const;

/** An Ubuntu VM in MGMT or DMZ. */
export const HostSchema = z.strictObject({
  name: dnsLabel,
  zone: z
    .enum(["mgmt", "dmz"], {
      error: ruleText('must be "mgmt" or "dmz"', "Ubuntu hosts live in MGMT or DMZ; Talos nodes go under talos.controlPlanes and talos.workers"),
    })
    .describe("zone the VM's only NIC sits in"),
  role: z.enum(HOST_ROLES).describe("registry: Harbor + Image Factory; client: operator box; ingress: HAProxy"),
  ip: ipv4.describe("static IPv4 address inside the zone"),
  size: VmSizeSchema.optional().describe("default depends on the role"),
  node: z.string().optional().describe("Proxmox node; default: the first node"),
  vmId: vmId.optional().describe("Proxmox VM id; default: zone base + host offset in the subnet"),
});

export const TalosNodeSchema = z.strictObject({
  name: dnsLabel,
  ip: ipv4.describe("static IPv4 address in SRV"),
  node: z.string().optional().describe("Proxmox node; default: control planes spread in order, workers by name hash"),
  size: VmSizeSchema.optional().describe("default: the role's size in talos.sizes"),
  vmId: vmId.optional(),
});

export const TalosSchema = z.strictObject({
  version: z
    .string()
    .refine((v) => /^v1\.(1[2-9]|[2-9]\d)\.\d+$/.test(v), {
      message: ruleText("must be a Talos version v1.12.0 or newer", "with the leading v, e.g. v1.13.9; multi-document configs need 1.12+"),
    })
    .default("v1.13.9").describe("Talos version, e.g. v1.13.9"),
  clusterName: dnsLabel.default("talos-lab").describe("Kubernetes cluster name"),
  vip: ipv4.default("10.10.100.10").describe("shared Layer-2 VIP of the Kubernetes API in SRV"),
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
      z.string().refine((v) => /^[A-Za-z0-9._\/:=,-]+$/.test(v), {
        message: ruleText("must be a plain kernel argument", "letters, digits and . _ / : = , - only"),
      }),
    )
    .default([])
    .describe("kernel arguments baked into the schematic (boot image and installer)"),
  secureBoot: z
    .boolean()
    .default(false)
    .describe("boot and install the SecureBoot variants (UKI, TPM 2.0 state, keys enrolled from the ISO)"),
  installDisk: z.string().default("/dev/sda").describe("disk Talos installs to (the VM's scsi0)"),
  linkName: z
    .string()
    .regex(/^[a-z0-9]{1,15}$/)
    .default("ens18")
    .describe("name of the VM's NIC inside Talos (virtio in PCI slot 18 on Proxmox: ens18)"),
  apiFqdn: dnsName.optional().describe("DNS name of the Kubernetes API; default api.<SRV domain>"),
  kubernetesVersion: z
    .string()
    .refine((v) => /^v1\.\d+\.\d+$/.test(v), { message: ruleText("must be a Kubernetes version", "e.g. v1.35.2") })
    .optional()
    .describe("Kubernetes version; default: the one the Talos provider release pins"),
  allowEvenControlPlanes: z
    .boolean()
    .default(false)
    .describe("accept an even number of control planes (etcd loses quorum as easily as with one fewer)"),
  controlPlanes: z
    .array(TalosNodeSchema)
    .default([
      { name: "talos-cp-1", ip: "10.10.100.11" },
      { name: "talos-cp-2", ip: "10.10.100.12" },
      { name: "talos-cp-3", ip: "10.10.100.13" },
    ]),
  workers: z
    .array(TalosNodeSchema)
    .default([
      { name: "talos-worker-1", ip: "10.10.100.21" },
      { name: "talos-worker-2", ip: "10.10.100.22" },
    ]),
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

export const RegistrySchema = z.strictObject({
  host: dnsLabel.default("registry").describe("name of the MGMT host that runs Harbor and the Image Factory"),
  fqdn: dnsName.default("registry.mgmt.lab.internal").describe("name on the lab certificate"),
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
});

export const FirewallSchema = z.strictObject({
  name: dnsLabel.default("pfsense"),
  size: VmSizeSchema.default({ cores: 2, memoryMiB: 2048, diskGiB: 16 }),
  node: z.string().optional().describe("Proxmox node; default: the first node"),
  vmId: vmId.default(100),
  isoFileId: z
    .string()
    .default("local:iso/pfSense-CE-2.7.2-RELEASE-amd64.iso")
    .describe("installer ISO already on the Proxmox storage (Netgate's download needs a login)"),
});

export const BgpSchema = z.strictObject({
  firewallAs: privateAs.default(64520).describe("pfSense (FRR) AS number"),
  clusterAs: privateAs.default(64512).describe("Calico AS number of the Talos nodes"),
  nodeToNodeMesh: z.boolean().default(false).describe("Calico full mesh between nodes besides the pfSense peering"),
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
    .refine((v) => /^https?:\/\/\S+$/.test(v), { message: ruleText("must be an http(s) URL", "the Proxmox host downloads it") })
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
    .refine((v) => /^[a-z0-9][a-z0-9-]*$/.test(v), { message: ruleText("must be a flow id", "lower-case letters, digits and '-'") })
    .describe("stable flow id, e.g. mgmt-client-to-registry-https"),
  from: FlowEndpointSchema,
  to: FlowEndpointSchema,
  protocol: z.enum(["tcp", "udp", "icmp"]),
  ports: z.array(port).default([]).describe("ports or 'from-to' ranges"),
  purpose: z.string().describe("why the flow exists; shown in RULES.md"),
});

export const StateSchema = z.strictObject({
  encryption: z.boolean().default(true).describe("OpenTofu state and plan encryption (turn off for Terraform)"),
  backendPath: z
    .string()
    .refine((v) => !v.startsWith("/") && !/^[A-Za-z]:/.test(v), {
      message: ruleText("must be a relative path", "absolute paths make the output machine-specific"),
    })
    .refine((v) => !v.split(/[\\/]/).includes(".."), {
      message: ruleText("must stay inside the stack directory", "drop the '..'; the state belongs next to the stack"),
    })
    .default("terraform.tfstate").describe("local backend path, relative to the stack"),
});

/**
 * The zod schema of a lab spec: parses what a user writes ({@link LabSpecInput}) into a
 * {@link LabSpec} with every default filled in. Shape only; {@link validateLabSpec} adds the
 * cross-field rules.
 */
export const LabSpecSchema = z
  .strictObject({
    name: dnsLabel.default("talos-lab").describe("stack name: cdktf.out/stacks/<name>/"),
    adminUser: dnsLabel.default("labadmin").describe("login created on the Ubuntu VMs (SSH keys come from a variable)"),
    proxmox: ProxmoxSchema.default(ProxmoxSchema.parse({})),
    zones: ZonesSchema.default(ZonesSchema.parse({})),
    firewall: FirewallSchema.default(FirewallSchema.parse({})),
    hosts: z.array(HostSchema).default([
      { name: "registry", zone: "mgmt", role: "registry", ip: "192.168.100.11" },
      { name: "mgmt-client", zone: "mgmt", role: "client", ip: "192.168.100.20" },
      { name: "haproxy-ingress-1", zone: "dmz", role: "ingress", ip: "172.16.100.10" },
    ]),
    talos: TalosSchema.default(TalosSchema.parse({})),
    registry: RegistrySchema.default(RegistrySchema.parse({})),
    bgp: BgpSchema.default(BgpSchema.parse({})),
    network: NetworkSchema.default(NetworkSchema.parse({})),
    images: ImagesSchema.default(ImagesSchema.parse({})),
    platform: PlatformSchema.default(PlatformSchema.parse({})),
    flows: z.array(FlowSchema).default([]).describe("flows beyond the ones the components declare"),
    state: StateSchema.default(StateSchema.parse({})),
  })
  .describe("talos-enclave lab specification");

/** What a user writes (every field optional where a default exists). */
export type LabSpecInput = z.input<typeof LabSpecSchema>;
/** A spec with every default filled in. */
export type LabSpec = z.output<typeof LabSpecSchema>;
/** A VM size: vCPU cores, memory in MiB and boot disk in GiB. */
export type VmSize = z.output<typeof VmSizeSchema>;
/** An Ubuntu VM in MGMT or DMZ, as the spec declares it (`hosts[]`). */
export type HostSpec = z.output<typeof HostSchema>;
/** A Talos node, as the spec declares it (`talos.controlPlanes[]`, `talos.workers[]`). */
export type TalosNodeSpec = z.output<typeof TalosNodeSchema>;
/** An internal zone (MGMT, DMZ or SRV): bridge, optional VLAN, subnet, gateway and DNS domain. */
export type ZoneSpec = z.output<typeof ZoneSchema>;
/** An extra network flow the spec allows (`flows[]`), beyond the ones the components declare. */
export type FlowSpec = z.output<typeof FlowSchema>;
/** Role of an Ubuntu host: `registry` (Harbor + Image Factory), `client` (operator box) or `ingress` (HAProxy). */
export type HostRole = (typeof HOST_ROLES)[number];

/** Default VM sizes per Ubuntu host role (DESIGN §1). */
export const DEFAULT_HOST_SIZES: Readonly<Record<HostRole, VmSize>> = {
  registry: { cores: 4, memoryMiB: 8192, diskGiB: 100 },
  client: { cores: 2, memoryMiB: 4096, diskGiB: 64 },
  ingress: { cores: 2, memoryMiB: 4096, diskGiB: 32 },
};

/** The reference lab of the design (every default filled in): what `npm run synth` builds. */
export function referenceLab(): LabSpec {
  return LabSpecSchema.parse({});
}
