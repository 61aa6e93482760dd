import { defaultConfigContract } from "../input/talos-support";
import { HostRole, LabSpec, VmSize } from "../input/lab-spec";
import { hostOffset, parseCidr, withPrefix } from "./addressing";
import { defaultVmId, placeByName, placeControlPlane } from "./placement";
import { renderSchematic, schematicId } from "../talos/schematic";
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
  /** Segment the NIC sits on: the WAN uplink or a zone. */
  readonly segment: "wan" | ZoneName;
  /** Linux bridge of the segment on the Proxmox node. */
  readonly bridge: string;
  /** 802.1Q tag of the segment. Default: untagged. */
  readonly vlanId?: number;
}

/** One lab VM, resolved: where it runs, its Proxmox id, size, NICs and address. */
export interface VmPlan {
  /** VM name, unique in the lab; also the host name. */
  readonly name: string;
  /** What the VM is for. */
  readonly role: VmRole;
  /** The VM's operating system. */
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
  /** Static address with prefix (`10.10.100.11/24`); pfSense configures its own. */
  readonly address?: string;
  /** Static IPv4 address without prefix; absent for pfSense. */
  readonly ip?: string;
  /** Default gateway (pfSense's address in the VM's zone); absent for pfSense. */
  readonly gateway?: string;
  /** DNS search domain of the VM's zone; absent for pfSense. */
  readonly domain?: string;
  /** `<name>.<domain>`; absent for pfSense. */
  readonly fqdn?: string;
  /** Proxmox start order: lower starts first (pfSense before everything). */
  readonly startupOrder: number;
  /** Proxmox tags: `talos-enclave`, the lab name, then the zone or module and the role. */
  readonly tags: readonly string[];
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
  /** The pfSense VM. */
  readonly firewall: VmPlan;
  /** The Ubuntu VMs (MGMT and DMZ), in spec order. */
  readonly hosts: readonly VmPlan[];
  /** The Talos control planes, in spec order. */
  readonly controlPlanes: readonly VmPlan[];
  /** The Talos workers, in spec order. */
  readonly workers: readonly VmPlan[];
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
}

/** pfSense NIC order is fixed: vtnet0 WAN, vtnet1 MGMT, vtnet2 DMZ, vtnet3 SRV. */
export const FIREWALL_NIC_ORDER = ["wan", "mgmt", "dmz", "srv"] as const;

/**
 * Proxmox start order of the VMs that are not services: pfSense first, Talos after the services
 * (each service's own order is in its descriptor: registry 2, client 3, ingress 4).
 */
export const STARTUP_ORDER = { firewall: 1, controlplane: 5, worker: 6 } as const;

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
  const tag = (...t: string[]) => ["talos-enclave", spec.name, ...t];

  const member = (
    name: string,
    role: VmRole,
    os: GuestOs,
    zone: ZoneModel,
    ip: string,
    node: string,
    size: VmSize,
    explicitVmId: number | undefined,
    startupOrder: number,
  ): VmPlan => {
    const cidr = parseCidr(zone.cidr);
    const vmId = explicitVmId ?? defaultVmId(zone.name, hostOffset(cidr, ip));
    if (vmId === undefined) throw new Error(`no VM id for ${name}; the spec was not validated`);
    return {
      name,
      role,
      os,
      module: zone.name,
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

  const firewall: VmPlan = {
    name: spec.firewall.name,
    role: "firewall",
    os: "pfsense",
    module: "edge",
    node: spec.firewall.node ?? nodes[0],
    vmId: spec.firewall.vmId,
    size: spec.firewall.size,
    nics: [{ segment: "wan", bridge: spec.zones.wan.bridge }, nic(zones.mgmt), nic(zones.dmz), nic(zones.srv)],
    startupOrder: STARTUP_ORDER.firewall,
    tags: tag("edge", "firewall"),
  };

  const hosts = spec.hosts.map((h) => {
    const service = services.of(h.role);
    return member(h.name, h.role, "ubuntu", zones[h.zone], h.ip, h.node ?? nodes[0], h.size ?? service.defaultSize, h.vmId, service.startupOrder);
  });
  const t = spec.talos;
  const controlPlanes = t.controlPlanes.map((n, i) =>
    member(n.name, "controlplane", "talos", zones.srv, n.ip, n.node ?? placeControlPlane(i, nodes), n.size ?? t.sizes.controlPlane, n.vmId, STARTUP_ORDER.controlplane),
  );
  const workers = t.workers.map((n) =>
    member(n.name, "worker", "talos", zones.srv, n.ip, n.node ?? placeByName(n.name, nodes), n.size ?? t.sizes.worker, n.vmId, STARTUP_ORDER.worker),
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
    firewall,
    hosts,
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
    kubernetesApi: {
      vip: t.vip,
      fqdn: t.apiFqdn ?? `api.${zones.srv.domain}`,
      url: `https://${t.vip}:6443`,
    },
  };
}
