import { defaultConfigContract, talosMinorNumber } from "../input/talos-support";
import { IMAGE_VERIFICATION_SINCE, pemText, REFERENCE_LAB_COSIGN_PUBLIC_KEY, REFERENCE_LAB_FACTORY_PUBLIC_KEY } from "../input/image-signing";
import { DiskEncryption, HostRole, LabSpec, VmSize } from "../input/lab-spec";
import { VM_KINDS } from "../input/vm-kinds";
import { hostOffset, parseCidr, withPrefix } from "../input/addressing";
import { defaultVmId, placeByName, placeControlPlane } from "./placement";
import { renderSchematic, schematicId } from "./schematic";
import type { ServiceCatalog } from "./service";

/**
 * The resolved lab: every VM with its node, id, size and NICs, derived once from a validated spec.
 * Pure data; constructs and renderers read it and never re-derive placement or addressing.
 */

/** An internal zone of the lab. */
export type ZoneName = "mgmt" | "dmz" | "srv";
/** A child module of the stack (the folder name under `modules/`). */
export type ModuleName = "edge" | "mgmt" | "dmz" | "srv" | "platform";
/** What a VM is for: pfSense, an Ubuntu host's service role, or a Talos control plane or worker. */
export type VmRole = "firewall" | HostRole | "controlplane" | "worker";
/** The operating system a VM runs; it decides firmware, media and guest agent. */
export type GuestOs = "pfsense" | "ubuntu" | "talos";

/** One network interface of a planned VM. */
export interface NicPlan {
  /** Segment the NIC sits on: the WAN uplink, a zone, or the client LAN (pfSense only). */
  readonly segment: "wan" | ZoneName | "client";
  /** Linux bridge of the segment on the Proxmox node. */
  readonly bridge: string;
  /** 802.1Q tag of the segment. Default: untagged. */
  readonly vlanId?: number;
}

/** What every lab VM has, resolved: where it runs, its Proxmox id, size and NICs. */
export interface VmPlanBase {
  /** VM name, unique in the lab; also the host name. */
  readonly name: string;
  /** What the VM is for. */
  readonly role: VmRole;
  /** The VM's operating system; it tells the kinds of plan apart. */
  readonly os: GuestOs;
  /** Module that owns the VM. */
  readonly module: ModuleName;
  /** Proxmox node the VM runs on. */
  readonly node: string;
  /** Proxmox VM id. */
  readonly vmId: number;
  /** vCPU, memory and boot disk size. */
  readonly size: VmSize;
  /** NICs in the order the VM sees them (pfSense: {@link FIREWALL_NIC_ORDER}). */
  readonly nics: readonly NicPlan[];
  /** Proxmox start order: lower starts first (pfSense before everything). */
  readonly startupOrder: number;
  /** Proxmox tags: `talos-enclave`, the lab name, then the zone or module and the role. */
  readonly tags: readonly string[];
}

/** The pfSense VM: one NIC per segment, and no address of the lab's choosing (it configures its own). */
export interface FirewallPlan extends VmPlanBase {
  /** pfSense. */
  readonly os: "pfsense";
  /** Always `firewall`. */
  readonly role: "firewall";
  /** The edge module. */
  readonly module: "edge";
  /** pfSense has no lab-assigned address. */
  readonly address?: undefined;
  /** pfSense has no lab-assigned address. */
  readonly ip?: undefined;
  /** pfSense is the gateway. */
  readonly gateway?: undefined;
  /** pfSense has no search domain of the lab's. */
  readonly domain?: undefined;
  /** pfSense has no lab FQDN. */
  readonly fqdn?: undefined;
}

/** A VM that is a member of one internal zone, with its static address there. */
export interface MemberPlan extends VmPlanBase {
  /** Ubuntu (a service's host) or Talos. */
  readonly os: "ubuntu" | "talos";
  /** The zone's module. */
  readonly module: ZoneName;
  /** Static address with prefix (`10.10.100.11/24`). */
  readonly address: string;
  /** Static IPv4 address without prefix. */
  readonly ip: string;
  /** Default gateway (pfSense's address in the VM's zone). */
  readonly gateway: string;
  /** DNS search domain of the VM's zone. */
  readonly domain: string;
  /** `<name>.<domain>`. */
  readonly fqdn: string;
}

/** An Ubuntu VM running one service (`hosts[]`), in MGMT or DMZ. */
export interface HostPlan extends MemberPlan {
  /** Ubuntu. */
  readonly os: "ubuntu";
  /** MGMT or DMZ. */
  readonly module: "mgmt" | "dmz";
}

/** A Talos node in SRV. */
export interface TalosPlan extends MemberPlan {
  /** Talos. */
  readonly os: "talos";
  /** Control plane or worker. */
  readonly role: "controlplane" | "worker";
  /** SRV. */
  readonly module: "srv";
}

/** One lab VM, resolved: pfSense, a service's host or a Talos node (tell them apart by `os`). */
export type VmPlan = FirewallPlan | HostPlan | TalosPlan;

/** Whether a VM is a member of a zone with an address of its own (every VM but pfSense). */
export function isMember(vm: VmPlan): vm is HostPlan | TalosPlan {
  return vm.os !== "pfsense";
}

/** An internal zone, resolved from the spec. */
export interface ZoneModel {
  /** The zone's name. */
  readonly name: ZoneName;
  /** Linux bridge of the zone on every Proxmox node. */
  readonly bridge: string;
  /** 802.1Q tag on the bridge. Default: untagged. */
  readonly vlanId?: number;
  /** IPv4 subnet of the zone, e.g. `10.10.100.0/24`. */
  readonly cidr: string;
  /** Prefix length of `cidr`. */
  readonly prefix: number;
  /** pfSense's address in the zone (gateway, DNS and NTP for its members). */
  readonly gateway: string;
  /** DNS search domain of the zone. */
  readonly domain: string;
}

/**
 * The client LAN (`zones.client`): the operators' network, a pfSense interface and no lab VM. Only the
 * client hosts are reachable from it (SSH and remote desktop); no zone initiates into it.
 */
export interface ClientLanModel extends Omit<ZoneModel, "name"> {
  /** Always `client`. */
  readonly name: "client";
  /** Whether the LAN exists already (the lab creates no bridge for it). */
  readonly existing: boolean;
}

/**
 * The resolved lab, derived once from a validated spec by {@link buildLabModel}: every VM with its
 * node, id, size and NICs, the zones, the Image Factory's addresses and the Kubernetes API.
 */
export interface LabModel {
  /** The validated spec the model was built from. */
  readonly spec: LabSpec;
  /** The services the spec's hosts may run, by role: built-in and registered ones. */
  readonly services: ServiceCatalog;
  /** The lab's name (the stack name). */
  readonly name: string;
  /** Names of the Proxmox nodes the lab may use, in spec order. */
  readonly proxmoxNodes: readonly string[];
  /** The internal zones by name. */
  readonly zones: Readonly<Record<ZoneName, ZoneModel>>;
  /** The client LAN, the operators' way in (pfSense's fifth NIC). */
  readonly clientLan: ClientLanModel;
  /** The pfSense VM. */
  readonly firewall: FirewallPlan;
  /** The Ubuntu VMs (MGMT and DMZ), in spec order. */
  readonly hosts: readonly HostPlan[];
  /** The host that runs Harbor and the Image Factory (`registry.host`). */
  readonly registry: HostPlan;
  /** The Talos control planes, in spec order. */
  readonly controlPlanes: readonly TalosPlan[];
  /** The Talos workers, in spec order. */
  readonly workers: readonly TalosPlan[];
  /** Every VM, pfSense first, then in module order; names are unique. */
  readonly vms: readonly VmPlan[];
  /** Proxmox nodes that run at least one Ubuntu VM (each downloads the cloud image once). */
  readonly ubuntuImageNodes: readonly string[];
  /** Proxmox nodes that run at least one Talos VM (each downloads the Talos boot image once). */
  readonly talosImageNodes: readonly string[];
  /** The internal Talos Image Factory: where it is and what it serves the lab. */
  readonly imageFactory: {
    /** `https://registry.mgmt.lab.internal:9443` */
    readonly url: string;
    /** Host part used in installer image references. */
    readonly host: string;
    /** Canonical schematic text (extensions, kernel args) and its content-addressed id. */
    readonly schematic: string;
    /** sha256 of `schematic`: the id the factory gives it. */
    readonly schematicId: string;
    /** nocloud ISO served by the internal factory for the schematic and version. */
    readonly bootIsoUrl: string;
    /** File name of the boot ISO on the Proxmox datastore; one stable name per lab. */
    readonly bootIsoFileName: string;
    /** `<factory-host>/nocloud-installer[-secureboot]/<schematic>:<version>` */
    readonly installerImage: string;
  };
  /** Kubernetes API: the VIP and the name clients may use. */
  readonly kubernetesApi: { readonly vip: string; readonly fqdn: string; readonly url: string };
  /**
   * The machine-config contract: the Talos minor (`v1.13`) whose config model the nodes get, and
   * whether the spec pinned it (`talos.configContract`) or it follows the minor of `talos.version`.
   */
  readonly machineConfigContract: { readonly minor: string; readonly pinned: boolean };
  /**
   * Image signature verification (`talos.imageVerification`): on by default where the contract has
   * `ImageVerificationConfig` (v1.13+); the public key Talos checks every image against, and the
   * Image Factory's, which Talos checks the installer against; `referenceKeys` when either is still
   * the reference lab's, whose private half nobody holds.
   */
  readonly imageVerification: { readonly enabled: boolean; readonly publicKey: string; readonly factoryPublicKey: string; readonly referenceKeys: boolean };
  /**
   * How the system volumes STATE and EPHEMERAL are encrypted: `talos.diskEncryption`, or by default
   * `tpm` with SecureBoot (the VMs then have a TPM 2.0) and `nodeID` without.
   */
  readonly diskEncryption: DiskEncryption;
}

/** pfSense NIC order is fixed: vtnet0 WAN, vtnet1 MGMT, vtnet2 DMZ, vtnet3 SRV, vtnet4 CLIENT. */
export const FIREWALL_NIC_ORDER = ["wan", "mgmt", "dmz", "srv", "client"] as const;

/**
 * Proxmox start order of the VMs that are not services (from `VM_KINDS`): pfSense first, Talos after
 * the services (each service's own order is in its descriptor: registry 2, client 3, ingress 4).
 */
export const STARTUP_ORDER = {
  firewall: VM_KINDS.firewall.startupOrder,
  controlplane: VM_KINDS.controlPlane.startupOrder,
  worker: VM_KINDS.worker.startupOrder,
} as const;

function zoneModel(spec: LabSpec, name: ZoneName): ZoneModel {
  const z = spec.zones[name];
  return {
    name,
    bridge: z.bridge,
    vlanId: z.vlan,
    cidr: z.cidr,
    prefix: parseCidr(z.cidr).prefix,
    gateway: z.gateway,
    domain: z.domain,
  };
}

function nic(zone: ZoneModel): NicPlan {
  return { segment: zone.name, bridge: zone.bridge, vlanId: zone.vlanId };
}

function uniqueSorted(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/**
 * Builds the model. The spec must have passed validation against the same catalog (every host's
 * role is registered in it).
 *
 * @throws Error for a host whose role the catalog does not hold (an unvalidated spec)
 */
export function planLab(spec: LabSpec, services: ServiceCatalog): LabModel {
  const nodes = spec.proxmox.nodes.map((n) => n.name);
  const zones = { mgmt: zoneModel(spec, "mgmt"), dmz: zoneModel(spec, "dmz"), srv: zoneModel(spec, "srv") };
  const c = spec.zones.client;
  const clientLan: ClientLanModel = {
    name: "client",
    bridge: c.bridge,
    vlanId: c.vlan,
    cidr: c.cidr,
    prefix: parseCidr(c.cidr).prefix,
    gateway: c.gateway,
    domain: c.domain,
    existing: c.existing,
  };
  const tag = (...t: string[]) => ["talos-enclave", spec.name, ...t];

  const member = <R extends VmRole>(
    name: string,
    role: R,
    zone: ZoneModel,
    ip: string,
    node: string,
    size: VmSize,
    explicitVmId: number | undefined,
    startupOrder: number,
  ) => {
    const cidr = parseCidr(zone.cidr);
    const vmId = explicitVmId ?? defaultVmId(zone.name, hostOffset(cidr, ip));
    if (vmId === undefined) throw new Error(`no VM id for ${name}; the spec was not validated`);
    return {
      name,
      role,
      node,
      vmId,
      size,
      nics: [nic(zone)],
      address: withPrefix(cidr, ip),
      ip,
      gateway: zone.gateway,
      domain: zone.domain,
      fqdn: `${name}.${zone.domain}`,
      startupOrder,
      tags: tag(zone.name, role),
    };
  };

  const firewall: FirewallPlan = {
    name: spec.firewall.name,
    role: "firewall",
    os: "pfsense",
    module: "edge",
    node: spec.firewall.node ?? nodes[0],
    vmId: spec.firewall.vmId,
    size: spec.firewall.size,
    nics: [
      { segment: "wan", bridge: spec.zones.wan.bridge },
      nic(zones.mgmt),
      nic(zones.dmz),
      nic(zones.srv),
      { segment: "client", bridge: clientLan.bridge, vlanId: clientLan.vlanId },
    ],
    startupOrder: STARTUP_ORDER.firewall,
    tags: tag("edge", "firewall"),
  };

  const hosts = spec.hosts.map((h) => {
    const service = services.of(h.role);
    const plan: HostPlan = {
      ...member(h.name, h.role, zones[h.zone], h.ip, h.node ?? nodes[0], h.size ?? service.defaultSize, h.vmId, service.startupOrder),
      os: "ubuntu",
      module: h.zone,
    };
    return plan;
  });
  const registry = hosts.find((h) => h.name === spec.registry.host);
  if (!registry) throw new Error(`registry host ${spec.registry.host} is not a host of the lab; the spec was not validated`);
  const t = spec.talos;
  const talos = (plan: ReturnType<typeof member<"controlplane" | "worker">>): TalosPlan => ({ ...plan, os: "talos", module: "srv" });
  const controlPlanes = t.controlPlanes.map((n, i) =>
    talos(member(n.name, "controlplane", zones.srv, n.ip, n.node ?? placeControlPlane(i, nodes), n.size ?? t.sizes.controlPlane, n.vmId, STARTUP_ORDER.controlplane)),
  );
  const workers = t.workers.map((n) =>
    talos(member(n.name, "worker", zones.srv, n.ip, n.node ?? placeByName(n.name, nodes), n.size ?? t.sizes.worker, n.vmId, STARTUP_ORDER.worker)),
  );

  const factoryHost = `${spec.registry.fqdn}:${spec.registry.factoryPort}`;
  const schematic = renderSchematic({ officialExtensions: t.extensions, extraKernelArgs: t.extraKernelArgs });
  const sid = schematicId(schematic);
  const sb = t.secureBoot ? "-secureboot" : "";
  return {
    spec,
    services,
    name: spec.name,
    proxmoxNodes: nodes,
    zones,
    clientLan,
    firewall,
    hosts,
    registry,
    controlPlanes,
    workers,
    vms: [firewall, ...hosts, ...controlPlanes, ...workers],
    ubuntuImageNodes: uniqueSorted(hosts.map((h) => h.node)),
    talosImageNodes: uniqueSorted([...controlPlanes, ...workers].map((n) => n.node)),
    imageFactory: {
      url: `https://${factoryHost}`,
      host: factoryHost,
      schematic,
      schematicId: sid,
      bootIsoUrl: `https://${factoryHost}/image/${sid}/${t.version}/nocloud-amd64${sb}.iso`,
      // One stable name per lab: a new version or schematic re-downloads into the same file, so VMs
      // whose CD-ROM still names it keep booting (their boot media is ignored by terraform).
      bootIsoFileName: `${spec.name}-talos-nocloud-amd64${sb}.iso`,
      installerImage: `${factoryHost}/nocloud-installer${sb}/${sid}:${t.version}`,
    },
    machineConfigContract: {
      minor: t.configContract ?? defaultConfigContract(t.version),
      pinned: t.configContract !== undefined,
    },
    imageVerification: {
      enabled:
        t.imageVerification.enabled ??
        talosMinorNumber(t.configContract ?? defaultConfigContract(t.version)) >= talosMinorNumber(IMAGE_VERIFICATION_SINCE),
      // PEM as Go and cosign print it: LF line ends, one trailing newline (a key pasted with CRLF
      // would otherwise differ from `cosign public-key`'s output byte for byte)
      publicKey: pemText(t.imageVerification.publicKey),
      factoryPublicKey: pemText(t.imageVerification.factoryPublicKey),
      referenceKeys:
        pemText(t.imageVerification.publicKey) === pemText(REFERENCE_LAB_COSIGN_PUBLIC_KEY) ||
        pemText(t.imageVerification.factoryPublicKey) === pemText(REFERENCE_LAB_FACTORY_PUBLIC_KEY),
    },
    diskEncryption: t.diskEncryption ?? (t.secureBoot ? "tpm" : "nodeID"),
    kubernetesApi: {
      vip: t.vip,
      fqdn: t.apiFqdn ?? `api.${zones.srv.domain}`,
      url: `https://${t.vip}:6443`,
    },
  };
}
