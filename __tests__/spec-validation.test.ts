import { describe, expect, it } from "vitest";
import { problemLines } from "./support/spec-problems";
import { buildLabModel, referenceLab } from "../constructs/lab/build";
import { SpecError } from "../constructs/input/spec-error";
import { validateLabSpec } from "../constructs/lab/validate";

/**
 * Table-driven checks of the lab-spec validator. Every case is a small partial spec (only what differs
 * from the reference lab) and pins the exact, complete list of lines `SpecError.lines()` returns, so an
 * extra or a missing problem fails the case.
 */


// Building blocks copied from the defaults, for the cases that have to replace a whole list or zone.
const REGISTRY = { name: "registry", zone: "mgmt", role: "registry", ip: "192.168.100.11" };
const CLIENT = { name: "mgmt-client", zone: "mgmt", role: "client", ip: "192.168.100.20" };
const cp = (n: number, extra: object = {}) => ({ name: `talos-cp-${n}`, ip: `10.10.100.1${n}`, ...extra });
const worker = (n: number, extra: object = {}) => ({ name: `talos-worker-${n}`, ip: `10.10.100.2${n}`, ...extra });
const MGMT = { bridge: "vmbr1", cidr: "192.168.100.0/24", gateway: "192.168.100.1", domain: "mgmt.lab.internal" };
const DMZ = { bridge: "vmbr2", cidr: "172.16.100.0/24", gateway: "172.16.100.1", domain: "dmz.lab.internal" };
const FLOW = {
  id: "client-to-registry",
  from: "mgmt-client",
  to: "registry",
  protocol: "tcp",
  ports: [8443],
  purpose: "operator pulls images",
};

const DNS_LABEL_RULE =
  "must be a DNS label (lower-case letters, digits and '-', 1-63 characters, no leading or trailing '-')";
const NAME_RULE =
  "must be a name (lower-case letters, digits and '-', 1-63 characters, starting with a letter and not ending in '-'; it is a host name and part of terraform identifiers)";
const OVERLAP_HINT = "(every zone, the pod and the service range need their own subnet)";
const CLIENT_LAN_HINT =
  "(from the client LAN only the client hosts are reachable, on SSH (22) and remote desktop (3389), through the lab's own flows (<host>.client-lan-ssh, <host>.client-lan-rdp); it is the operators' way in, never a way on into the lab)";
const PRIVATE_AS_RULE = "must be a private AS number (RFC 6996: 64512-65534 or 4200000000-4294967294)";
const PORT_RULE = "must be a port or port range (1-65535, or 'low-high' with low < high, without leading zeros)";

interface Case {
  readonly name: string;
  readonly spec: unknown;
  readonly lines: readonly string[];
}

const cases: Case[] = [
  {
    name: "a zone spanning two Proxmox nodes without uplink ports",
    spec: { proxmox: { nodes: [{ name: "pve" }, { name: "pve2" }] }, talos: { workers: [{ name: "talos-worker-1", ip: "10.10.100.21", node: "pve2" }] } },
    lines: [
      "proxmox.nodes[0].uplinks: (missing) — must give vmbr3 an uplink port: zone srv spans 2 Proxmox nodes (pfsense on pve, talos-cp-2 on pve2) (name the NIC that joins the nodes, e.g. { vmbr3: [eno2] }; without one vmbr3 on pve is an island)",
      "proxmox.nodes[1].uplinks: (missing) — must give vmbr3 an uplink port: zone srv spans 2 Proxmox nodes (pfsense on pve, talos-cp-2 on pve2) (name the NIC that joins the nodes, e.g. { vmbr3: [eno2] }; without one vmbr3 on pve2 is an island)",
    ],
  },
  {
    name: "an uplink on a bridge no zone uses",
    spec: { proxmox: { nodes: [{ name: "pve", uplinks: { vmbr9: ["eno2"] } }] } },
    lines: ['proxmox.nodes[0].uplinks.vmbr9: ["eno2"] — names a bridge no zone uses (uplinks join zone bridges: vmbr1, vmbr2, vmbr3, vmbr4)'],
  },
  {
    name: "a zone spanning nodes on bridges the lab does not manage",
    spec: { proxmox: { manageBridges: false, nodes: [{ name: "pve" }, { name: "pve2" }] }, talos: { workers: [{ name: "talos-worker-1", ip: "10.10.100.21", node: "pve2" }] } },
    lines: [
      "proxmox.manageBridges: false — must be true: zone srv spans 2 Proxmox nodes (pfsense on pve, talos-cp-2 on pve2) (the lab declares the bridges' uplink ports only on bridges it manages)",
    ],
  },
  // ── Subnets ────────────────────────────────────────────────────────────────────────────────────
  {
    name: "malformed CIDR (no prefix length)",
    spec: { network: { podCidr: "10.244.0.0" } },
    lines: ['network.podCidr: "10.244.0.0" — must be an IPv4 subnet (write it as a.b.c.d/len, e.g. 10.10.100.0/24)'],
  },
  {
    name: "malformed CIDR (prefix longer than 32)",
    spec: { network: { podCidr: "10.244.0.0/33" } },
    lines: ['network.podCidr: "10.244.0.0/33" — must be an IPv4 subnet (write it as a.b.c.d/len, e.g. 10.10.100.0/24)'],
  },
  {
    name: "CIDR with host bits set",
    spec: { network: { podCidr: "10.244.1.0/16" } },
    lines: [
      'network.podCidr: "10.244.1.0/16" — must be an IPv4 subnet (host bits are set; the network address is 10.244.0.0/16)',
    ],
  },
  {
    name: "overlapping zone CIDRs (DMZ contains MGMT)",
    spec: {
      zones: { dmz: { ...DMZ, cidr: "192.168.0.0/16", gateway: "192.168.0.1" } },
      hosts: [REGISTRY, { name: "haproxy-ingress-1", zone: "dmz", role: "ingress", ip: "192.168.0.10" }],
      apply: { runner: "registry" },
    },
    lines: [
      `zones.dmz.cidr: "192.168.0.0/16" — overlaps zones.mgmt.cidr (192.168.100.0/24) ${OVERLAP_HINT}`,
      // 192.168.0.0/16 holds the client LAN's default 192.168.200.0/24 too
      `zones.client.cidr: "192.168.200.0/24" — overlaps zones.dmz.cidr (192.168.0.0/16) ${OVERLAP_HINT}`,
      'apply.runner: "registry" — must name a client host (tofu runs where the Talos API and the cluster are reachable: add a host with role client)',
    ],
  },
  {
    name: "client configuration paths that are relative, or a template",
    spec: { apply: { talosconfigPath: ".talos/config", kubeconfigPath: '~/${file("/etc/shadow")}' } },
    lines: [
      'apply.talosconfigPath: ".talos/config" — must be an absolute path or start with ~/ (the file is written on the runner, outside the tree; a relative path would put it into the stack folder)',
      'apply.kubeconfigPath: "~/${file(\\"/etc/shadow\\")}" — must not hold ${ or %{ (it is a path, not a template; tofu would evaluate it)',
    ],
  },
  {
    name: "client configuration paths with a line break, a '..' segment, or one file for both",
    spec: { apply: { talosconfigPath: "~/.talos/config\nx", kubeconfigPath: "~/../config" } },
    lines: [
      'apply.talosconfigPath: "~/.talos/config\\nx" — must be one line of printable text (no line breaks, tabs, control or invisible formatting characters)',
      "apply.kubeconfigPath: \"~/../config\" — must be a path of plain segments (letters, digits, '.', '_', '+', '@' and '-' between single '/', no '.' or '..' segment, not ending in '/', e.g. ~/.kube/config)",
    ],
  },
  {
    name: "one client configuration file for both, spelled once with ~ and once in full",
    spec: { apply: { talosconfigPath: "/home/labadmin/.kube/config", kubeconfigPath: "~/.kube/config" } },
    lines: [
      'apply.kubeconfigPath: "~/.kube/config" — must differ from apply.talosconfigPath (tofu writes the kubeconfig and the talosconfig as two files; one path would hold whichever came last)',
    ],
  },
  {
    name: "one client configuration path for both files",
    spec: { apply: { talosconfigPath: "/srv/lab/config", kubeconfigPath: "/srv/lab/config" } },
    lines: [
      'apply.kubeconfigPath: "/srv/lab/config" — must differ from apply.talosconfigPath (tofu writes the kubeconfig and the talosconfig as two files; one path would hold whichever came last)',
    ],
  },
  {
    name: "pod CIDR overlapping a zone",
    spec: { network: { podCidr: "10.10.0.0/16" } },
    lines: [`network.podCidr: "10.10.0.0/16" — overlaps zones.srv.cidr (10.10.100.0/24) ${OVERLAP_HINT}`],
  },
  {
    name: "service CIDR overlapping the pod CIDR",
    spec: { network: { serviceCidr: "10.240.0.0/12" } },
    lines: [`network.serviceCidr: "10.240.0.0/12" — overlaps network.podCidr (10.244.0.0/16) ${OVERLAP_HINT}`],
  },
  {
    name: "Calico block shorter than the pod CIDR",
    spec: { network: { podCidr: "10.244.0.0/24", podBlockSize: 22 } },
    lines: [
      "network.podBlockSize: 22 — must not be shorter than the pod CIDR prefix /24 (a Calico block is carved out of the pod CIDR)",
    ],
  },

  // ── Member addresses ───────────────────────────────────────────────────────────────────────────
  {
    name: "talos node address outside SRV",
    spec: { talos: { workers: [worker(1, { ip: "10.10.101.21" })] } },
    lines: [
      'talos.workers[0].ip: "10.10.101.21" — must lie inside zones.srv.cidr (10.10.100.0/24) (pick a free address in 10.10.100.0/24)',
    ],
  },
  {
    name: "host address outside its zone",
    spec: { hosts: [REGISTRY, { name: "mgmt-client", zone: "mgmt", role: "client", ip: "172.16.100.20" }] },
    lines: [
      'hosts[1].ip: "172.16.100.20" — must lie inside zones.mgmt.cidr (192.168.100.0/24) (pick a free address in 192.168.100.0/24)',
    ],
  },
  {
    name: "address equal to the zone gateway",
    spec: { talos: { workers: [worker(1, { ip: "10.10.100.1" })] } },
    lines: [
      'talos.workers[0].ip: "10.10.100.1" — must not equal zones.srv.gateway (the gateway address belongs to pfSense)',
    ],
  },
  {
    name: "broadcast address used",
    spec: { talos: { workers: [worker(1, { ip: "10.10.100.255" })] } },
    lines: [
      'talos.workers[0].ip: "10.10.100.255" — must not be the network or broadcast address (pick a host address in 10.10.100.0/24)',
    ],
  },
  {
    name: "network address used",
    spec: { hosts: [REGISTRY, { name: "mgmt-client", zone: "mgmt", role: "client", ip: "192.168.100.0" }] },
    lines: [
      'hosts[1].ip: "192.168.100.0" — must not be the network or broadcast address (pick a host address in 192.168.100.0/24)',
    ],
  },
  {
    name: "gateway outside its zone",
    spec: { zones: { mgmt: { ...MGMT, gateway: "192.168.101.1" } } },
    lines: [
      'zones.mgmt.gateway: "192.168.101.1" — must lie inside zones.mgmt.cidr (192.168.100.0/24) (the gateway is pfSense\'s address in the zone)',
    ],
  },
  {
    name: "gateway on the broadcast address",
    spec: { zones: { mgmt: { ...MGMT, gateway: "192.168.100.255" } } },
    lines: [
      'zones.mgmt.gateway: "192.168.100.255" — must not be the network or broadcast address (use a host address such as .1)',
    ],
  },
  {
    name: "duplicate address between two hosts",
    spec: { hosts: [REGISTRY, { name: "mgmt-client", zone: "mgmt", role: "client", ip: "192.168.100.11" }] },
    lines: [
      'hosts[1].ip: "192.168.100.11" — duplicates the address of hosts[0].ip (every member needs its own address)',
    ],
  },
  {
    name: "IP with a prefix length where an address is expected",
    spec: { talos: { vip: "10.10.100.10/24" } },
    lines: [
      'talos.vip: "10.10.100.10/24" — must be an IPv4 address (dotted quad such as 10.10.100.11, without a prefix length)',
    ],
  },

  // ── Names ──────────────────────────────────────────────────────────────────────────────────────
  {
    name: "duplicate name between a host and a talos node",
    spec: { talos: { workers: [worker(1, { name: "registry" })] } },
    lines: [
      'talos.workers[0].name: "registry" — duplicates hosts[0].name (every VM needs its own name; it is also its hostname and resource id)',
    ],
  },
  {
    name: "name with upper-case letters",
    spec: { name: "Talos-Lab" },
    lines: [`name: "Talos-Lab" — ${NAME_RULE}`],
  },
  {
    name: "host name with an underscore",
    spec: { hosts: [REGISTRY, { name: "mgmt_client", zone: "mgmt", role: "client", ip: "192.168.100.20" }] },
    lines: [`hosts[1].name: "mgmt_client" — ${NAME_RULE}`],
  },
  {
    name: "talos node name with a trailing dash",
    spec: { talos: { workers: [worker(1, { name: "talos-worker-" })] } },
    lines: [`talos.workers[0].name: "talos-worker-" — ${NAME_RULE}`],
  },
  {
    name: "empty cluster name",
    spec: { talos: { clusterName: "" } },
    lines: [`talos.clusterName: "" — ${DNS_LABEL_RULE}`],
  },

  // ── Talos cluster ──────────────────────────────────────────────────────────────────────────────
  {
    name: "VIP equal to a node address",
    spec: { talos: { vip: "10.10.100.11", controlPlanes: [cp(1), cp(2), cp(3)] } },
    lines: [
      'talos.controlPlanes[0].ip: "10.10.100.11" — must not equal talos.vip (the VIP floats between control planes; give each node its own address)',
    ],
  },
  {
    name: "VIP equal to a node's default address",
    spec: { talos: { vip: "10.10.100.11" } },
    lines: [
      "talos.controlPlanes[0].ip: (missing) — defaults to 10.10.100.11 (controlPlane offset 11 + 0 in zones.srv.cidr), which equals talos.vip (give the node an ip; the VIP floats between control planes)",
    ],
  },
  {
    name: "VIP outside SRV",
    spec: { talos: { vip: "10.10.101.10" } },
    lines: [
      'talos.vip: "10.10.101.10" — must lie inside zones.srv.cidr (10.10.100.0/24) (pick a free address in 10.10.100.0/24)',
    ],
  },
  {
    name: "even control-plane count without override",
    spec: { talos: { controlPlanes: [cp(1), cp(2)] } },
    lines: [
      'talos.controlPlanes: ["talos-cp-1","talos-cp-2"] — has an even count (2) (etcd tolerates no more failures than with one fewer; use an odd count or set talos.allowEvenControlPlanes: true)',
    ],
  },
  {
    name: "zero control planes",
    spec: { talos: { controlPlanes: [] } },
    lines: ["talos.controlPlanes: [] — must list at least one control plane (three is the usual choice)"],
  },
  {
    name: "Talos version older than 1.12",
    spec: { talos: { version: "v1.11.0" } },
    lines: [
      'talos.version: "v1.11.0" — must be a Talos version v1.12.0 or newer (with the leading v, e.g. v1.13.9; multi-document configs need 1.12+)',
    ],
  },
  {
    name: "Talos version without the leading v",
    spec: { talos: { version: "1.13.9" } },
    lines: [
      'talos.version: "1.13.9" — must be a Talos version v1.12.0 or newer (with the leading v, e.g. v1.13.9; multi-document configs need 1.12+)',
    ],
  },
  {
    name: "a machine-config contract newer than the Talos version",
    spec: { talos: { version: "v1.13.9", configContract: "v1.14" } },
    lines: [
      'talos.configContract: "v1.14" — is newer than talos.version v1.13.9 (a node understands only contracts up to its own minor; use v1.13 or older)',
    ],
  },
  {
    name: "a machine-config contract the bound Talos provider cannot generate",
    spec: { talos: { version: "v1.14.0", configContract: "v1.14" } },
    lines: [
      'talos.configContract: "v1.14" — is newer than the bound Talos provider supports (v1.13) (siderolabs/talos 0.11.0 is built on Talos machinery v1.13.0, which cannot read v1.14 documents; use v1.13, which Talos v1.14 nodes accept)',
    ],
  },
  {
    name: "a machine-config contract given as a full version",
    spec: { talos: { configContract: "v1.13.9" } },
    lines: ['talos.configContract: "v1.13.9" — must be a Talos minor version v1.12 or newer (the minor only, with the leading v, e.g. v1.13)'],
  },
  {
    name: "TPM disk encryption without SecureBoot (no TPM in the VM)",
    spec: { talos: { diskEncryption: "tpm" } },
    lines: [
      'talos.diskEncryption: "tpm" — needs talos.secureBoot: true (only the SecureBoot VMs have a TPM 2.0 to seal the keys to; set talos.secureBoot: true, or use nodeID)',
    ],
  },
  {
    name: "an unknown disk encryption",
    spec: { talos: { diskEncryption: "luks" } },
    lines: ['talos.diskEncryption: "luks" — must be one of "tpm", "nodeID", "off" (see lab-spec.schema.json)'],
  },
  {
    name: "extension without its owner",
    spec: { talos: { extensions: ["qemu-guest-agent"] } },
    lines: [
      `talos.extensions[0]: "qemu-guest-agent" — must be an official extension name ('<owner>/<name>', e.g. siderolabs/qemu-guest-agent)`,
    ],
  },
  {
    name: "kernel argument with a space",
    spec: { talos: { extraKernelArgs: ["console=ttyS0 quiet"] } },
    lines: [
      'talos.extraKernelArgs[0]: "console=ttyS0 quiet" — must be a plain kernel argument (a letter first, then letters, digits and . _ / : = , - only, and not a YAML word such as true, no or null (the schematic is YAML))',
    ],
  },
  {
    // YAML would read these as something else than the string the factory hashes (found by the fuzz).
    name: "kernel arguments YAML reads otherwise: a leading indicator, a number, a boolean",
    spec: { talos: { extraKernelArgs: [",x", "3", "No", "console=ttyS0"] } },
    lines: [
      'talos.extraKernelArgs[0]: ",x" — must be a plain kernel argument (a letter first, then letters, digits and . _ / : = , - only, and not a YAML word such as true, no or null (the schematic is YAML))',
      'talos.extraKernelArgs[1]: "3" — must be a plain kernel argument (a letter first, then letters, digits and . _ / : = , - only, and not a YAML word such as true, no or null (the schematic is YAML))',
      'talos.extraKernelArgs[2]: "No" — must be a plain kernel argument (a letter first, then letters, digits and . _ / : = , - only, and not a YAML word such as true, no or null (the schematic is YAML))',
    ],
  },
  {
    name: "spec flow reusing a lab flow id",
    spec: { flows: [{ ...FLOW, id: "etcd-peers" }] },
    lines: [
      'flows[0].id: "etcd-peers" — is the id of a flow the lab already declares (pick another id; see flows.json for the lab\'s own flows)',
    ],
  },

  // ── Proxmox placement ──────────────────────────────────────────────────────────────────────────
  {
    name: "unknown Proxmox node on a worker",
    spec: { talos: { workers: [worker(1, { node: "pve2" })] } },
    lines: [
      'talos.workers[0].node: "pve2" — is not a Proxmox node of the spec (declare it under proxmox.nodes or use one of: pve)',
    ],
  },
  {
    name: "duplicate Proxmox node",
    spec: { proxmox: { nodes: [{ name: "pve" }, { name: "pve" }] } },
    lines: ['proxmox.nodes[1].name: "pve" — is declared twice (list each Proxmox node once)'],
  },
  {
    name: "duplicate VM id (explicit host id equals the firewall's)",
    spec: { hosts: [{ ...REGISTRY, vmId: 100 }, CLIENT] },
    lines: ["hosts[0].vmId: 100 — duplicates firewall.vmId (every VM needs its own Proxmox id; set vmId explicitly)"],
  },
  {
    name: "explicit VM id equal to another node's default id",
    spec: { talos: { workers: [worker(1, { vmId: 3011 })] } },
    lines: [
      "talos.workers[0].vmId: 3011 — duplicates the default VM id of talos.controlPlanes[0] (every VM needs its own Proxmox id; set vmId explicitly)",
    ],
  },
  {
    name: "VM id below the Proxmox range",
    spec: { firewall: { vmId: 99 } },
    lines: ["firewall.vmId: 99 — must be a Proxmox VM id (100-999999999)"],
  },

  // ── BGP ────────────────────────────────────────────────────────────────────────────────────────
  {
    name: "public 16-bit AS number",
    spec: { bgp: { clusterAs: 15169 } },
    lines: [`bgp.clusterAs: 15169 — ${PRIVATE_AS_RULE}`],
  },
  {
    name: "AS number 0",
    spec: { bgp: { firewallAs: 0 } },
    lines: [`bgp.firewallAs: 0 — ${PRIVATE_AS_RULE}`],
  },
  {
    name: "AS number 65535 (reserved)",
    spec: { bgp: { clusterAs: 65535 } },
    lines: [`bgp.clusterAs: 65535 — ${PRIVATE_AS_RULE}`],
  },
  {
    name: "equal AS numbers",
    spec: { bgp: { firewallAs: 64512 } },
    lines: ["bgp.clusterAs: 64512 — must differ from bgp.firewallAs (pfSense and Calico peer over eBGP)"],
  },

  // ── Sizes ──────────────────────────────────────────────────────────────────────────────────────
  {
    name: "control plane below the Talos minimum memory",
    spec: { talos: { sizes: { controlPlane: { cores: 4, memoryMiB: 1024, diskGiB: 64 } } } },
    lines: ["talos.sizes.controlPlane.memoryMiB: 1024 — must be at least 2048 (Talos minimum for control planes)"],
  },
  {
    name: "worker below the Talos minimum disk",
    spec: { talos: { sizes: { worker: { cores: 4, memoryMiB: 8192, diskGiB: 5 } } } },
    lines: ["talos.sizes.worker.diskGiB: 5 — must be at least 10 (Talos minimum for workers)"],
  },
  {
    name: "pfSense below the minimum memory",
    spec: { firewall: { size: { cores: 2, memoryMiB: 512, diskGiB: 16 } } },
    lines: ["firewall.size.memoryMiB: 512 — must be at least 1024 (pfSense CE minimum)"],
  },
  {
    name: "registry host below the Harbor minimum",
    spec: { hosts: [{ ...REGISTRY, size: { cores: 2, memoryMiB: 2048, diskGiB: 100 } }, CLIENT] },
    lines: ["hosts[0].size.memoryMiB: 2048 — must be at least 4096 (Harbor minimum)"],
  },
  {
    name: "zero cores",
    spec: { firewall: { size: { cores: 0, memoryMiB: 2048, diskGiB: 16 } } },
    lines: ["firewall.size.cores: 0 — must be at least 1 (a positive whole number)"],
  },
  {
    name: "fractional cores",
    spec: { talos: { sizes: { worker: { cores: 2.5, memoryMiB: 8192, diskGiB: 100 } } } },
    lines: ["talos.sizes.worker.cores: 2.5 — must be a whole number (no fraction)"],
  },
  {
    name: "partial size object",
    spec: { firewall: { size: { cores: 2 } } },
    lines: [
      "firewall.size.memoryMiB: (missing) — must be a number (the field is required)",
      "firewall.size.diskGiB: (missing) — must be a number (the field is required)",
    ],
  },

  // ── Shape ──────────────────────────────────────────────────────────────────────────────────────
  {
    name: "unknown top-level field (typo of talos)",
    spec: { talso: { vip: "10.10.100.10" } },
    lines: ['talso: {"vip":"10.10.100.10"} — is not a field of the spec (did you mean talos?)'],
  },
  {
    name: "unknown nested field",
    spec: { proxmox: { nodes: [{ name: "pve", ssh: "10.0.0.2" }] } },
    lines: ['proxmox.nodes[0].ssh: "10.0.0.2" — is not a field of the spec (known fields here: address, name, sshAddress, uplinks)'],
  },
  {
    name: "string where a number is expected",
    spec: { firewall: { vmId: "100" } },
    lines: ['firewall.vmId: "100" — must be a number (got a string)'],
  },
  {
    name: "spec that is a list",
    spec: [],
    lines: ["(spec): [] — must be an object (got a list)"],
  },
  {
    name: "host in zone srv (invalid enum)",
    spec: { hosts: [REGISTRY, { name: "app", zone: "srv", role: "client", ip: "10.10.100.50" }] },
    lines: [
      'hosts[1].zone: "srv" — must be "mgmt" or "dmz" (Ubuntu hosts live in MGMT or DMZ; Talos nodes go under talos.controlPlanes and talos.workers)',
    ],
  },
  {
    name: "flow protocol in upper case",
    spec: { flows: [{ ...FLOW, protocol: "TCP" }] },
    lines: ['flows[0].protocol: "TCP" — must be one of "tcp", "udp", "icmp" (values are case-sensitive)'],
  },
  {
    name: "incomplete zone",
    spec: { zones: { mgmt: { cidr: "192.168.100.0/24" } } },
    // gateway and domain derive from the zone (see spec-defaults.test.ts); bridge and cidr do not
    lines: ["zones.mgmt.bridge: (missing) — must be a string (the field is required)"],
  },
  {
    name: "VLAN tag out of range",
    spec: { zones: { mgmt: { ...MGMT, vlan: 5000 } } },
    lines: ["zones.mgmt.vlan: 5000 — must be a VLAN id (1-4094)"],
  },

  // ── Flows ──────────────────────────────────────────────────────────────────────────────────────
  {
    name: "reversed port range in a flow",
    spec: { flows: [{ ...FLOW, ports: ["90-80"] }] },
    lines: [`flows[0].ports[0]: "90-80" — ${PORT_RULE}`],
  },
  {
    name: "port 0 in a flow",
    spec: { flows: [{ ...FLOW, ports: [0] }] },
    lines: [`flows[0].ports[0]: 0 — ${PORT_RULE}`],
  },
  {
    name: "unknown flow endpoint",
    spec: { flows: [{ ...FLOW, to: "regsitry" }] },
    lines: [
      'flows[0].to: "regsitry" — is not a known flow endpoint (a host name, zone:mgmt, zone:dmz, zone:srv, group:talos, group:controlplanes, group:workers, firewall, pods, internet, proxmox, vip)',
    ],
  },
  {
    name: "icmp flow with ports",
    spec: { flows: [{ ...FLOW, protocol: "icmp", ports: [443] }] },
    lines: ["flows[0].ports: [443] — must be empty for icmp (ports only exist for tcp and udp)"],
  },
  {
    name: "tcp flow without ports",
    spec: { flows: [{ ...FLOW, ports: [] }] },
    lines: ["flows[0].ports: [] — must list at least one port for tcp (a flow opens specific ports)"],
  },
  {
    name: "duplicate flow id",
    spec: { flows: [FLOW, { ...FLOW, to: "firewall" }] },
    lines: ['flows[1].id: "client-to-registry" — is used by another flow (flow ids must be unique)'],
  },
  {
    name: "flow without purpose",
    spec: { flows: [{ id: "x", from: "registry", to: "firewall", protocol: "tcp", ports: [443] }] },
    lines: ["flows[0].purpose: (missing) — must be a string (the field is required)"],
  },

  // ── Bridges, registry, state ───────────────────────────────────────────────────────────────────
  {
    name: "two zones sharing bridge and (no) VLAN",
    spec: { zones: { dmz: { ...DMZ, bridge: "vmbr1" } } },
    lines: [
      'zones.dmz.bridge: "vmbr1" — shares the untagged bridge with zones.mgmt.bridge (give each zone its own bridge or its own VLAN tag)',
    ],
  },
  {
    name: "two zones sharing bridge and VLAN tag",
    spec: { zones: { mgmt: { ...MGMT, bridge: "vmbr9", vlan: 10 }, dmz: { ...DMZ, bridge: "vmbr9", vlan: 10 } } },
    lines: [
      'zones.dmz.bridge: "vmbr9" — shares the bridge and VLAN 10 with zones.mgmt.bridge (give each zone its own bridge or its own VLAN tag)',
    ],
  },
  {
    name: "zone on the WAN uplink bridge",
    spec: { zones: { dmz: { ...DMZ, bridge: "vmbr0" } } },
    lines: [
      'zones.dmz.bridge: "vmbr0" — must not be the WAN uplink bridge (zones.wan.bridge) (internal zones need bridges of their own; with a VLAN tag on the uplink their frames would reach the WAN segment without crossing pfSense)',
    ],
  },
  {
    name: "registry.host naming a non-registry host",
    spec: { registry: { host: "mgmt-client" } },
    lines: [
      'registry.host: "mgmt-client" — must be a host with zone mgmt and role registry (Harbor and the Image Factory run in MGMT)',
    ],
  },
  {
    name: "registry.host naming no host",
    spec: { registry: { host: "harbor" } },
    lines: ['registry.host: "harbor" — must name a host of the spec (the host with role registry is registry: set registry.host: registry)'],
  },
  {
    name: "a registry host renamed, registry.host left at its default",
    spec: {
      hosts: [
        { name: "harbor", zone: "mgmt", role: "registry" },
        { name: "mgmt-client", zone: "mgmt", role: "client" },
      ],
    },
    lines: ['registry.host: "registry" — must name a host of the spec (the host with role registry is harbor: set registry.host: harbor)'],
  },
  {
    name: "Image Factory on port 443",
    spec: { registry: { factoryPort: 443 } },
    lines: ["registry.factoryPort: 443 — must be a TCP port other than 443 (Harbor serves 443 on the same host)"],
  },
  {
    name: "an unknown blocking severity",
    spec: { registry: { scanning: { blockSeverity: "severe" } } },
    lines: ['registry.scanning.blockSeverity: "severe" — must be one of "none", "low", "medium", "high", "critical" (the lowest severity that stops a pull; none scans and blocks nothing)'],
  },
  {
    name: "a blocking severity in Harbor's UI spelling",
    spec: { registry: { scanning: { blockSeverity: "Critical" } } },
    lines: ['registry.scanning.blockSeverity: "Critical" — must be one of "none", "low", "medium", "high", "critical" (values are lower-case)'],
  },
  {
    name: "a scanning setting the spec does not have",
    spec: { registry: { scanning: { severity: "high" } } },
    lines: ['registry.scanning.severity: "high" — is not a field of the spec (known fields here: blockSeverity)'],
  },
  {
    name: "upstream registry listed twice",
    spec: { registry: { upstreams: ["docker.io", "docker.io"] } },
    lines: ['registry.upstreams[1]: "docker.io" — is listed twice (list each upstream registry once)'],
  },
  {
    name: "the old state.backendPath field",
    spec: { state: { backendPath: "terraform.tfstate" } },
    lines: [
      'state.backendPath: "terraform.tfstate" — is not a field of the spec (moved to state.backend.path (with type: local); state now lives outside the generated tree by default)',
    ],
  },
  {
    name: "absolute local state path",
    spec: { state: { backend: { type: "local", path: "/var/lib/lab.tfstate" } } },
    lines: [
      'state.backend.path: "/var/lib/lab.tfstate" — must be a relative path (absolute paths make the output machine-specific)',
    ],
  },
  {
    name: "local state path that names no file",
    spec: { state: { backend: { type: "local", path: "../.." } } },
    lines: ['state.backend.path: "../.." — must name a file (end the path in a file name such as terraform.tfstate)'],
  },
  {
    name: "unknown backend type",
    spec: { state: { backend: { type: "consul" } } },
    lines: [
      'state.backend.type: "consul" — must have type "local", "pg" or "s3" (local keeps a state file; pg and s3 keep it in PostgreSQL or an S3-compatible store)',
    ],
  },
  {
    name: "s3 backend without a bucket",
    spec: { state: { backend: { type: "s3", endpoint: "https://minio.mgmt.lab.internal:9000" } } },
    lines: ["state.backend.bucket: (missing) — must be a string (the field is required)"],
  },
  {
    name: "pg backend with a credential in the spec",
    spec: { state: { backend: { type: "pg", connStr: "postgres://u:p@db/tf" } } },
    lines: ['state.backend.connStr: "postgres://u:p@db/tf" — is not a field of the spec (known fields here: schemaName, type)'],
  },

  // ── What a hostile review found ───────────────────────────────────────────────────────────────
  {
    name: "cdktf's string token syntax in free text",
    spec: { flows: [{ ...FLOW, purpose: "see ${TfToken[TOKEN.112]}" }] },
    lines: [
      'flows[0].purpose: "see ${TfToken[TOKEN.112]}" — must not contain cdktf\'s token syntax (text like ${TfToken[…]} or cdktf\'s encoded numbers is replaced by a reference at synth)',
    ],
  },
  {
    name: "cdktf's number token syntax in free text",
    spec: { flows: [{ ...FLOW, purpose: "n -8.109562212591379e+298" }] },
    lines: [
      'flows[0].purpose: "n -8.109562212591379e+298" — must not contain cdktf\'s token syntax (text like ${TfToken[…]} or cdktf\'s encoded numbers is replaced by a reference at synth)',
    ],
  },
  {
    name: "an invisible bidi override in free text",
    spec: { flows: [{ ...FLOW, purpose: "abc\u202edef" }] },
    lines: ['flows[0].purpose: "abc\u202edef" — must be one line of printable text (no line breaks, tabs, control or invisible formatting characters)'],
  },
  {
    name: "a zone on the WAN uplink bridge with a VLAN tag",
    spec: { zones: { srv: { bridge: "vmbr0", vlan: 300, cidr: "10.10.100.0/24", gateway: "10.10.100.1", domain: "srv.lab.internal" } } },
    lines: [
      'zones.srv.bridge: "vmbr0" — must not be the WAN uplink bridge (zones.wan.bridge) (internal zones need bridges of their own; with a VLAN tag on the uplink their frames would reach the WAN segment without crossing pfSense)',
    ],
  },
  {
    name: "the pfSense VM's name as a flow endpoint",
    spec: { flows: [{ ...FLOW, from: "pfsense" }] },
    lines: ['flows[0].from: "pfsense" — must not name the pfSense VM (flows to or from pfSense itself use the endpoint firewall)'],
  },
  {
    name: "a flow from the DMZ to pfSense itself",
    spec: { flows: [{ ...FLOW, from: "zone:dmz", to: "firewall", ports: [443] }] },
    lines: ['flows[0].from: "zone:dmz" — must be in MGMT for a flow to pfSense itself (only MGMT administers the firewall; DNS, NTP and BGP to pfSense are the lab\'s own flows)'],
  },
  {
    name: "a Calico version whose operator image is not in the reviewed table, with image verification on",
    spec: { platform: { calicoVersion: "v3.31.3" } },
    lines: [
      'platform.calicoVersion: "v3.31.3" — has no reviewed operator image for image verification (the tigera-operator image of Calico v3.31.3 is not in TIGERA_OPERATOR_BY_CALICO (known: v3.31.0), so nothing would sign it and the closing deny would stop it; use a known version, or set talos.imageVerification.enabled: false)',
    ],
  },
  {
    name: "a Talos minor whose default images are not in the reviewed table, with image verification on",
    spec: { talos: { version: "v1.15.0" } },
    lines: [
      'talos.version: "v1.15.0" — has no reviewed image list for image verification (the etcd, CoreDNS and pause images Talos v1.15 runs are not in TALOS_DEFAULT_IMAGES (known: v1.12, v1.13, v1.14), so nothing would sign them and the closing deny would stop them; use a known minor, or set talos.imageVerification.enabled: false)',
    ],
  },
  {
    name: "a flow from the DMZ ingress host into MGMT (Harbor)",
    spec: { flows: [{ ...FLOW, from: "haproxy-ingress-1", to: "registry", ports: [443] }] },
    lines: ['flows[0]: "haproxy-ingress-1 -> registry" — would let the DMZ initiate into MGMT (the DMZ faces the internet and MGMT holds the supply chain (Harbor, the Image Factory): MGMT pushes to the DMZ over SSH (a service\'s provision()), never the other way)'],
  },
  {
    name: "an existing client LAN without pfSense's address on it",
    spec: { zones: { client: { bridge: "vmbr5", cidr: "10.20.0.0/24", existing: true } } },
    lines: [
      "zones.client.gateway: (missing) — is required when zones.client.existing is true (give pfSense's address on the operators' LAN (10.20.0.0/24), a free one: its first address is usually the LAN's own router; the operators' machines then route to the mgmt client via it)",
    ],
  },
  {
    name: "a client LAN on the WAN uplink, inside MGMT",
    spec: { zones: { client: { bridge: "vmbr0", cidr: "192.168.100.0/25" } } },
    lines: [
      `zones.client.cidr: "192.168.100.0/25" — overlaps zones.mgmt.cidr (192.168.100.0/24) ${OVERLAP_HINT}`,
      'zones.client.bridge: "vmbr0" — must not be the WAN uplink bridge (zones.wan.bridge) (internal zones need bridges of their own; with a VLAN tag on the uplink their frames would reach the WAN segment without crossing pfSense)',
      "zones.client.gateway: (missing) — defaults to 192.168.100.1 (the first host address in zones.client.cidr), which duplicates the address of zones.mgmt.gateway (its default) (give one of them an explicit ip)",
    ],
  },
  {
    name: "a client LAN on MGMT's bridge, its gateway outside it",
    spec: { zones: { client: { bridge: "vmbr1", cidr: "192.168.200.0/24", gateway: "192.168.201.1" } } },
    lines: [
      'zones.client.bridge: "vmbr1" — shares the untagged bridge with zones.mgmt.bridge (give each zone its own bridge or its own VLAN tag)',
      'zones.client.gateway: "192.168.201.1" — must lie inside zones.client.cidr (192.168.200.0/24) (the gateway is pfSense\'s address in the zone)',
    ],
  },
  {
    name: "an uplink on an existing client LAN's bridge (the lab does not create it)",
    spec: { proxmox: { nodes: [{ name: "pve", uplinks: { vmbr4: ["eno2"] } }] }, zones: { client: { bridge: "vmbr4", cidr: "10.20.0.0/24", existing: true, gateway: "10.20.0.254" } } },
    lines: ['proxmox.nodes[0].uplinks.vmbr4: ["eno2"] — names a bridge no zone uses (uplinks join zone bridges: vmbr1, vmbr2, vmbr3)'],
  },
  {
    name: "a flow from the client LAN to the registry",
    spec: { flows: [{ ...FLOW, from: "zone:client", to: "registry", ports: [443] }] },
    lines: [`flows[0].from: "zone:client" — must not be the client LAN: the lab declares its only flows ${CLIENT_LAN_HINT}`],
  },
  {
    name: "a flow from the client LAN to the mgmt client beyond SSH and RDP (VNC)",
    spec: { flows: [{ ...FLOW, from: "zone:client", to: "mgmt-client", ports: [5900] }] },
    lines: [`flows[0].from: "zone:client" — must not be the client LAN: the lab declares its only flows ${CLIENT_LAN_HINT}`],
  },
  {
    name: "a flow from SRV into the client LAN",
    spec: { flows: [{ ...FLOW, from: "zone:srv", to: "zone:client", ports: [22] }] },
    lines: [`flows[0].to: "zone:client" — must not be the client LAN: nothing in the lab initiates into it ${CLIENT_LAN_HINT}`],
  },
  {
    name: "a flow from the whole DMZ into the whole MGMT zone",
    spec: { flows: [{ ...FLOW, from: "zone:dmz", to: "zone:mgmt", ports: [22] }] },
    lines: ['flows[0]: "zone:dmz -> zone:mgmt" — would let the DMZ initiate into MGMT (the DMZ faces the internet and MGMT holds the supply chain (Harbor, the Image Factory): MGMT pushes to the DMZ over SSH (a service\'s provision()), never the other way)'],
  },
  {
    name: "a flow from the DMZ to the Proxmox hosts",
    spec: { flows: [{ ...FLOW, from: "zone:dmz", to: "proxmox", ports: [22, 8006] }] },
    lines: ['flows[0]: "zone:dmz -> proxmox" — would let the DMZ reach the Proxmox hosts (the Proxmox hosts administer every VM and are the bootstrap\'s way into MGMT: from the DMZ they are a way into MGMT)'],
  },
  {
    name: "a flow from the Proxmox hosts to pfSense itself",
    spec: { flows: [{ ...FLOW, from: "proxmox", to: "firewall", ports: ["1-65535"] }] },
    lines: ['flows[0].from: "proxmox" — must be in MGMT for a flow to pfSense itself (only MGMT administers the firewall; DNS, NTP and BGP to pfSense are the lab\'s own flows)'],
  },
  {
    name: "a Proxmox host address inside a lab network",
    spec: { proxmox: { nodes: [{ name: "pve", address: "10.10.100.11" }] } },
    lines: [
      'proxmox.nodes[0].address: "10.10.100.11" — must lie outside the lab\'s networks (it is in zones.srv.cidr, 10.10.100.0/24) (give the host\'s address on the WAN side, as pfSense sees it)',
    ],
  },
  {
    name: "a service range of one address",
    spec: { network: { serviceCidr: "10.96.0.0/32" } },
    lines: [
      'network.serviceCidr: "10.96.0.0/32" — must be between a /12 and a /28 (Kubernetes allows at most a /12 for services and needs room for the API\'s and DNS\'s service addresses)',
    ],
  },
  {
    name: "a pod range with fewer blocks than nodes",
    spec: { network: { podCidr: "10.244.0.0/24", podBlockSize: 26 } },
    lines: [
      'network.podCidr: "10.244.0.0/24" — has room for 4 Calico blocks of /26, fewer than the lab\'s 5 Talos nodes (every node takes at least one block; use a larger pod range or smaller blocks)',
    ],
  },
  {
    name: "a zone too small for pfSense and members",
    spec: { zones: { dmz: { ...DMZ, cidr: "172.16.100.0/30", gateway: "172.16.100.1" } }, hosts: [REGISTRY, { name: "mgmt-client", zone: "mgmt", role: "client", ip: "192.168.100.20" }] },
    lines: ['zones.dmz.cidr: "172.16.100.0/30" — must be a /29 or larger (the zone holds pfSense\'s address and its members\')'],
  },
  {
    name: "a port with a leading zero",
    spec: { flows: [{ ...FLOW, ports: ["08443"] }] },
    lines: [`flows[0].ports[0]: "08443" — ${PORT_RULE}`],
  },
  {
    name: "an unknown key named like an object property",
    spec: { constructor: 1 },
    lines: ["constructor: 1 — is not a field of the spec (known fields here: adminUser, apply, bgp, clientDesktop, firewall, flows, hosts, images, name, network, platform, proxmox, registry, state, talos, zones)"],
  },

  // ── Inputs that used to crash ──────────────────────────────────────────────────────────────────
  {
    name: "no Proxmox node",
    spec: { proxmox: { nodes: [] } },
    lines: ["proxmox.nodes: [] — must list at least 1 entry (the lab needs it)"],
  },
  {
    name: "memory of infinity",
    spec: { talos: { sizes: { worker: { cores: 2, memoryMiB: Infinity, diskGiB: 20 } } } },
    lines: ["talos.sizes.worker.memoryMiB: Infinity — must be a finite number (got infinity)"],
  },
  {
    name: "a value that contains itself (YAML alias inside its anchor)",
    spec: (() => {
      const hosts: unknown[] = [];
      hosts.push(hosts);
      return { hosts };
    })(),
    lines: [
      'hosts[0]: "(refers to itself)" — must not contain itself (a YAML alias (*name) inside its own anchor (&name) makes an endless value; write the value out)',
    ],
  },
  {
    name: "a flow from the internet to the VIP",
    spec: { flows: [{ ...FLOW, from: "internet", to: "vip", ports: [6443] }] },
    lines: [
      'flows[0]: "internet -> vip" — would open the SRV side to the internet (nothing from the WAN side reaches SRV; the mgmt client and the DMZ ingress talk to the cluster)',
    ],
  },
  {
    name: "a flow from the internet to a control plane",
    spec: { flows: [{ ...FLOW, from: "internet", to: "talos-cp-1", ports: [50000] }] },
    lines: [
      'flows[0]: "internet -> talos-cp-1" — would open the SRV side to the internet (nothing from the WAN side reaches SRV; the mgmt client and the DMZ ingress talk to the cluster)',
    ],
  },
  {
    name: "a flow from the Proxmox hosts to the pods",
    spec: { flows: [{ ...FLOW, from: "proxmox", to: "pods", ports: [80] }] },
    lines: [
      'flows[0]: "proxmox -> pods" — would open the SRV side to the Proxmox hosts (nothing from the WAN side reaches SRV; the mgmt client and the DMZ ingress talk to the cluster)',
    ],
  },
  {
    name: "a flow from the internet to MGMT",
    spec: { flows: [{ ...FLOW, from: "internet", to: "registry", ports: [443] }] },
    lines: [
      'flows[0].to: "registry" — must be a DMZ host for a flow from the internet (pfSense forwards a WAN port to one address, and only the DMZ faces the internet)',
    ],
  },
  {
    name: "a flow from the internet to a whole zone",
    spec: { flows: [{ ...FLOW, from: "internet", to: "zone:dmz", ports: [8443] }] },
    lines: [
      'flows[0].to: "zone:dmz" — must be a DMZ host for a flow from the internet (pfSense forwards a WAN port to one address, and only the DMZ faces the internet)',
    ],
  },
  {
    name: "a second registry host",
    spec: { hosts: [REGISTRY, { name: "registry2", zone: "mgmt", role: "registry", ip: "192.168.100.12" }, CLIENT] },
    lines: [
      'hosts[1].role: "registry" — must not be registry: registry.host names registry (the lab runs one Harbor and Image Factory; give this host the role client, or point registry.host at it)',
    ],
  },
  {
    name: "an ingress host outside the DMZ",
    spec: { hosts: [REGISTRY, { name: "haproxy-ingress-1", zone: "mgmt", role: "ingress", ip: "192.168.100.10" }, CLIENT] },
    lines: [
      'hosts[1].zone: "mgmt" — must be "dmz" for role ingress (the ingress host takes internet traffic, so it lives in the DMZ)',
    ],
  },
  {
    name: "a VM named like a flow keyword",
    spec: { talos: { workers: [worker(1, { name: "internet" })] } },
    lines: [
      'talos.workers[0].name: "internet" — is a flow keyword (flows use firewall, pods, internet, proxmox, vip as endpoints; a VM of that name would change what a flow means)',
    ],
  },
  {
    name: "a VM name that starts with a digit (not a terraform identifier)",
    spec: { hosts: [REGISTRY, { name: "1client", zone: "mgmt", role: "client", ip: "192.168.100.20" }] },
    lines: [`hosts[1].name: "1client" — ${NAME_RULE}`],
  },
  {
    name: "a purpose over several lines",
    spec: { flows: [{ ...FLOW, purpose: "pull\nkey: v" }] },
    lines: ['flows[0].purpose: "pull\\nkey: v" — must be one line of printable text (no line breaks, tabs, control or invisible formatting characters)'],
  },
  {
    name: "a datastore with template syntax",
    spec: { proxmox: { vmDatastore: '${file("/etc/passwd")}' } },
    lines: [
      'proxmox.vmDatastore: "${file(\\"/etc/passwd\\")}" — must be a Proxmox storage id (a letter, then letters, digits, \'-\', \'_\' or \'.\', not ending in those, e.g. local-lvm)',
    ],
  },
  {
    name: "a bridge name with a dash",
    spec: { zones: { mgmt: { ...MGMT, bridge: "vmbr1-a" } } },
    lines: ['zones.mgmt.bridge: "vmbr1-a" — must be a Proxmox bridge name (a letter, then 1-20 letters, digits or \'_\', e.g. vmbr1)'],
  },
  {
    name: "an image URL with braces",
    spec: { images: { ubuntuCloudImageUrl: "https://example.com/${var.x}.img" } },
    lines: [
      'images.ubuntuCloudImageUrl: "https://example.com/${var.x}.img" — must be an http(s) URL (the Proxmox host downloads it; characters outside RFC 3986 must be percent-encoded)',
    ],
  },
  {
    name: "a pfSense installer over http, with a short checksum and a file name that is no ISO",
    spec: { firewall: { installer: { url: "http://mirror.example/pfSense.iso.gz", sha256: "abc123", fileName: "pfSense.img" } } },
    lines: [
      'firewall.installer.url: "http://mirror.example/pfSense.iso.gz" — must be an https URL (the Proxmox node downloads it; characters outside RFC 3986 must be percent-encoded)',
      'firewall.installer.sha256: "abc123" — must be a SHA-256 in hex (64 lower-case hex digits, Netgate\'s <url>.sha256 of the .gz)',
      'firewall.installer.fileName: "pfSense.img" — must be an ISO file name (letters, digits, \'.\', \'_\' and \'-\', ending in .iso, e.g. pfSense-CE-2.7.2-RELEASE-amd64.iso)',
    ],
  },
  {
    name: "a pfSense installer to download and an ISO already on the storage",
    spec: {
      firewall: {
        installer: { url: "https://mirror.example/pfSense-CE-2.7.2-RELEASE-amd64.iso.gz", sha256: "0".repeat(64), fileName: "pfSense-CE-2.7.2-RELEASE-amd64.iso" },
        isoFileId: "local:iso/pfSense-CE-2.7.2-RELEASE-amd64.iso",
      },
    },
    lines: [
      'firewall.isoFileId: "local:iso/pfSense-CE-2.7.2-RELEASE-amd64.iso" — must not be given with firewall.installer (give installer (the node downloads it) or isoFileId (an ISO already on the storage), not both)',
    ],
  },
  {
    name: "the ingress credential's lifetime: too short to renew, past a year, not whole",
    spec: { network: { ingressCredentialDays: 6 } },
    lines: [
      "network.ingressCredentialDays: 6 — must be a whole number 7-365 (days the DMZ ingress controller's service account token lives, at least a week; a tofu apply renews it, at least every half of it less a day)",
    ],
  },
  {
    name: "the ingress credential's lifetime past a year",
    spec: { network: { ingressCredentialDays: 400 } },
    lines: [
      "network.ingressCredentialDays: 400 — must be a whole number 7-365 (days the DMZ ingress controller's service account token lives, at least a week; a tofu apply renews it, at least every half of it less a day)",
    ],
  },
  {
    name: "edge protection: limits that are not positive whole numbers, a success status",
    spec: { network: { ingressProtection: { maxConnections: 0, requestsPerClient: -1, ratePeriodSeconds: 0, limitStatusCode: 200 } } },
    lines: [
      "network.ingressProtection.maxConnections: 0 — must be a whole number 1-30000 (HAProxy's global maxconn; each connection takes two file descriptors and the controller's container has 65536)",
      "network.ingressProtection.requestsPerClient: -1 — must be a whole number 1-1000000 (requests one source address may send per ratePeriodSeconds)",
      "network.ingressProtection.ratePeriodSeconds: 0 — must be a whole number 1-3600 (the window the request rate is counted over (rate-limit-period))",
      "network.ingressProtection.limitStatusCode: 200 — must be a status HAProxy can deny with (one of 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503, 504; 429 Too Many Requests is the standard one)",
    ],
  },
  {
    // HAProxy 2.6 refuses `deny_status 451`: the controller's reload would fail (found by a review)
    name: "edge protection: an error status HAProxy has no error file for",
    spec: { network: { ingressProtection: { limitStatusCode: 451 } } },
    lines: [
      "network.ingressProtection.limitStatusCode: 451 — must be a status HAProxy can deny with (one of 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503, 504; 429 Too Many Requests is the standard one)",
    ],
  },
  {
    name: "edge protection: a deny list that refuses everyone, and an entry inside a wider one of its list",
    spec: { network: { ingressProtection: { deny: ["0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16"] } } },
    lines: [
      'network.ingressProtection.deny[1]: "10.0.0.0/8" — lies inside network.ingressProtection.deny[0] (0.0.0.0/0) (the wider entry already covers it; drop this one)',
      'network.ingressProtection.deny[2]: "10.1.0.0/16" — lies inside network.ingressProtection.deny[0] (0.0.0.0/0) (the wider entry already covers it; drop this one)',
      'network.ingressProtection.deny[0]: "0.0.0.0/0" — must not deny every source (with no allow list the ingress would answer nobody; list the networks to allow instead, or drop the entry)',
    ],
  },
  {
    name: "edge protection: a maxconn past the container's file limit",
    spec: { network: { ingressProtection: { maxConnections: 40000 } } },
    lines: [
      "network.ingressProtection.maxConnections: 40000 — must be a whole number 1-30000 (HAProxy's global maxconn; each connection takes two file descriptors and the controller's container has 65536)",
    ],
  },
  {
    name: "edge protection: timeouts out of range, and a request-head timeout longer than the client timeout",
    spec: { network: { ingressProtection: { timeouts: { httpRequestSeconds: 0, httpKeepAliveSeconds: 301 } } } },
    lines: [
      "network.ingressProtection.timeouts.httpRequestSeconds: 0 — must be a whole number 1-60 (HAProxy's timeout http-request: the whole request head must arrive within it; a few seconds stops slowloris)",
      "network.ingressProtection.timeouts.httpKeepAliveSeconds: 301 — must be a whole number 1-300 (HAProxy's timeout http-keep-alive: how long an idle keep-alive connection waits for its next request)",
    ],
  },
  {
    name: "edge protection: cross-field limits",
    spec: { network: { ingressProtection: { maxConnections: 10, connectionsPerClient: 20, timeouts: { httpRequestSeconds: 40, clientSeconds: 30 } } } },
    lines: [
      "network.ingressProtection.connectionsPerClient: 20 — must not exceed network.ingressProtection.maxConnections (10) (one client could otherwise take every connection the ingress accepts)",
      "network.ingressProtection.timeouts.httpRequestSeconds: 40 — must not exceed network.ingressProtection.timeouts.clientSeconds (30) (the client timeout would cut a slow request head first; keep the request-head timeout the shorter one)",
    ],
  },
  {
    name: "edge protection: source networks that are not CIDRs",
    spec: { network: { ingressProtection: { allow: ["10.0.0.1/8"], deny: ["nope"] } } },
    lines: [
      'network.ingressProtection.allow[0]: "10.0.0.1/8" — must be an IPv4 subnet (host bits are set; the network address is 10.0.0.0/8)',
      'network.ingressProtection.deny[0]: "nope" — must be an IPv4 subnet (write it as a.b.c.d/len, e.g. 10.10.100.0/24)',
    ],
  },
  {
    name: "edge protection: a repeated network, and a deny entry that covers an allowed one",
    spec: { network: { ingressProtection: { allow: ["203.0.113.0/24", "203.0.113.0/24", "198.51.100.0/24"], deny: ["203.0.0.0/16", "198.51.100.128/25"] } } },
    lines: [
      'network.ingressProtection.allow[1]: "203.0.113.0/24" — duplicates network.ingressProtection.allow[0] (name each network once)',
      'network.ingressProtection.deny[0]: "203.0.0.0/16" — covers network.ingressProtection.allow[0] (203.0.113.0/24) (a network cannot be both allowed and denied; the deny list wins, so drop the allow entry or narrow the deny entry to a part of it)',
    ],
  },
  // ── Client desktop ─────────────────────────────────────────────────────────────────────────────
  {
    name: "an apt snapshot id that is a date, not an Ubuntu snapshot id",
    spec: { clientDesktop: { aptSnapshot: "2026-11-15" } },
    lines: ['clientDesktop.aptSnapshot: "2026-11-15" — must be an Ubuntu snapshot id (YYYYMMDDTHHMMSSZ, a real UTC date and time, e.g. 20261115T000000Z)'],
  },
  {
    name: "an apt snapshot id of a day that does not exist",
    spec: { clientDesktop: { aptSnapshot: "20260231T000000Z" } },
    lines: ['clientDesktop.aptSnapshot: "20260231T000000Z" — must be an Ubuntu snapshot id (YYYYMMDDTHHMMSSZ, a real UTC date and time, e.g. 20261115T000000Z)'],
  },
  {
    name: "an apt snapshot before the snapshot service has the archive",
    spec: { clientDesktop: { aptSnapshot: "20230228T235959Z" } },
    lines: ['clientDesktop.aptSnapshot: "20230228T235959Z" — must not be before 20230301T000000Z (snapshot.ubuntu.com serves the archive from 1 March 2023 on)'],
  },
  {
    name: "a client desktop switch that is not a boolean",
    spec: { clientDesktop: { enabled: "no" } },
    lines: ['clientDesktop.enabled: "no" — must be a boolean (got a string)'],
  },
];

describe("validateLabSpec: invalid specs", () => {
  it("has at least 30 cases with unique names", () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it.each(cases)("$name", ({ spec, lines }) => {
    expect(problemLines(spec)).toEqual(lines);
  });
});

describe("validateLabSpec: one pass", () => {
  it("reports several independent semantic problems together", () => {
    const spec = {
      proxmox: { nodes: [{ name: "pve" }, { name: "pve" }] },
      talos: { vip: "10.10.101.10" },
      bgp: { firewallAs: 64512 },
    };
    let error: unknown;
    try {
      validateLabSpec(spec);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SpecError);
    const lines = (error as SpecError).lines();
    expect(lines).toEqual([
      'proxmox.nodes[1].name: "pve" — is declared twice (list each Proxmox node once)',
      'talos.vip: "10.10.101.10" — must lie inside zones.srv.cidr (10.10.100.0/24) (pick a free address in 10.10.100.0/24)',
      "bgp.clusterAs: 64512 — must differ from bgp.firewallAs (pfSense and Calico peer over eBGP)",
    ]);
    expect((error as SpecError).message).toBe(
      `the lab spec has 3 problems:\n${lines.map((l) => `  ${l}`).join("\n")}`,
    );
  });

  it("reports several independent shape problems together", () => {
    expect(problemLines({ name: "Lab", firewall: { vmId: "100" }, talso: {} })).toEqual([
      `name: "Lab" — ${NAME_RULE}`,
      'firewall.vmId: "100" — must be a number (got a string)',
      "talso: {} — is not a field of the spec (did you mean talos?)",
    ]);
  });

  it("reports cross-field problems together with shape problems", () => {
    expect(problemLines({ name: "Lab", bgp: { firewallAs: 64512 } })).toEqual([
      `name: "Lab" — ${NAME_RULE}`,
      "bgp.clusterAs: 64512 — must differ from bgp.firewallAs (pfSense and Calico peer over eBGP)",
    ]);
  });

  it("keeps checking the other list entries when one entry is malformed, with the user's indexes", () => {
    const w = (n: number, ip: string) => ({ name: `talos-worker-${n}`, ip });
    expect(
      problemLines({
        talos: { workers: [w(1, "10.10.100.300"), w(2, "10.10.100.22"), w(3, "10.10.100.22")], vip: "10.10.100.11" },
        network: { podCidr: "10.10.0.0/16" },
      }),
    ).toEqual([
      'talos.workers[0].ip: "10.10.100.300" — must be an IPv4 address (dotted quad such as 10.10.100.11, without a prefix length)',
      'network.podCidr: "10.10.0.0/16" — overlaps zones.srv.cidr (10.10.100.0/24) (every zone, the pod and the service range need their own subnet)',
      'talos.workers[2].ip: "10.10.100.22" — duplicates the address of talos.workers[1].ip (every member needs its own address)',
      // the control planes' addresses are defaults: checked after the written ones, which win
      "talos.controlPlanes[0].ip: (missing) — defaults to 10.10.100.11 (controlPlane offset 11 + 0 in zones.srv.cidr), which equals talos.vip (give the node an ip; the VIP floats between control planes)",
    ]);
  });
});

describe("validateLabSpec: many problems", () => {
  it("reports every one of 50 000 broken workers, each once (the time is in npm run bench)", () => {
    const workers = Array.from({ length: 50_000 }, (_, i) => ({ name: `w-${i}`, ip: i % 2 ? "10.10.100.300" : "10.10.101.7" }));
    // a pod range with a block for each of them
    const lines = problemLines({ talos: { workers }, network: { podCidr: "100.64.0.0/10" } });
    expect(lines).toHaveLength(50_000);
    // shape problems first, then the cross-field ones, each with the user's own index
    expect(lines[0]).toBe('talos.workers[1].ip: "10.10.100.300" — must be an IPv4 address (dotted quad such as 10.10.100.11, without a prefix length)');
    expect(lines[24_999]).toBe('talos.workers[49999].ip: "10.10.100.300" — must be an IPv4 address (dotted quad such as 10.10.100.11, without a prefix length)');
    expect(lines[25_000]).toBe('talos.workers[0].ip: "10.10.101.7" — must lie inside zones.srv.cidr (10.10.100.0/24) (pick a free address in 10.10.100.0/24)');
    expect(lines[49_999]).toBe('talos.workers[49998].ip: "10.10.101.7" — must lie inside zones.srv.cidr (10.10.100.0/24) (pick a free address in 10.10.100.0/24)');
  });
});

describe("validateLabSpec: valid specs", () => {
  it("accepts the empty spec and fills in the reference lab", () => {
    const spec = validateLabSpec({});
    expect(spec).toEqual(referenceLab());
    expect(spec.name).toBe("talos-lab");
    expect(spec.zones.srv).toEqual({
      bridge: "vmbr3",
      cidr: "10.10.100.0/24",
      gateway: "10.10.100.1",
      domain: "srv.lab.internal",
    });
    expect(spec.talos.controlPlanes.map((c) => c.ip)).toEqual(["10.10.100.11", "10.10.100.12", "10.10.100.13"]);
    expect(spec.talos.workers.map((w) => w.name)).toEqual(["talos-worker-1", "talos-worker-2"]);
    expect(spec.talos.vip).toBe("10.10.100.10");
    expect(spec.hosts.map((h) => h.name)).toEqual(["registry", "mgmt-client", "haproxy-ingress-1"]);
    expect(spec.firewall.vmId).toBe(100);
    expect(spec.bgp).toEqual({ firewallAs: 64520, clusterAs: 64512, nodeToNodeMesh: false });
    expect(spec.network).toEqual({
      podCidr: "10.244.0.0/16",
      serviceCidr: "10.96.0.0/12",
      podBlockSize: 26,
      ingressBackendPorts: [8080],
      // The ingress controller's token lives 30 days; an apply renews it.
      ingressCredentialDays: 30,
      // Edge protection is on by default: a lab is protected out of the box.
      ingressProtection: {
        maxConnections: 4096,
        connectionsPerClient: 50,
        requestsPerClient: 200,
        ratePeriodSeconds: 10,
        trackedClients: 100000,
        limitStatusCode: 429,
        timeouts: { httpRequestSeconds: 5, clientSeconds: 30, httpKeepAliveSeconds: 10 },
        allow: [],
        deny: [],
      },
    });
    expect(spec.flows).toEqual([]);
  });

  it("treats a missing spec (empty YAML file) like the empty spec", () => {
    expect(validateLabSpec(undefined)).toEqual(validateLabSpec({}));
    expect(validateLabSpec(null)).toEqual(validateLabSpec({}));
  });

  it("fills in defaults around a partial spec", () => {
    const spec = validateLabSpec({ talos: { vip: "10.10.100.9" } });
    expect(spec.talos.vip).toBe("10.10.100.9");
    expect(spec.talos.version).toBe("v1.13.9");
    expect(spec.talos.controlPlanes).toHaveLength(3);
    expect(spec.zones.mgmt.cidr).toBe("192.168.100.0/24");
  });

  it("encrypts the system disk by default: sealed to the TPM with SecureBoot, by node identity without", () => {
    const encryption = (talos: Record<string, unknown>) => buildLabModel(validateLabSpec({ talos })).diskEncryption;
    expect(encryption({})).toBe("nodeID");
    expect(encryption({ secureBoot: true })).toBe("tpm");
    expect(encryption({ secureBoot: true, diskEncryption: "nodeID" })).toBe("nodeID");
    expect(encryption({ diskEncryption: "off" })).toBe("off");
  });

  it("accepts an even control-plane count with allowEvenControlPlanes: true", () => {
    const spec = validateLabSpec({ talos: { allowEvenControlPlanes: true, controlPlanes: [cp(1), cp(2)] } });
    expect(spec.talos.controlPlanes.map((c) => c.name)).toEqual(["talos-cp-1", "talos-cp-2"]);
  });

  it("accepts port ranges and flows between known endpoints", () => {
    const spec = validateLabSpec({ flows: [{ ...FLOW, ports: ["8000-8080", 8443] }] });
    expect(spec.flows[0].ports).toEqual(["8000-8080", 8443]);
  });
});
