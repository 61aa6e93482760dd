import { DEFAULT_HOST_SIZES, HostRole, LabSpec, VmSize } from "../spec/lab-spec";
import { hostOffset, parseCidr, withPrefix } from "./addressing";
import { defaultVmId, placeByName, placeControlPlane } from "./placement";
import { renderSchematic, schematicId } from "../talos/schematic";

/**
 * The resolved lab: every VM with its node, id, size and NICs, derived once from a validated spec.
 * Pure data; constructs and renderers read it and never re-derive placement or addressing.
 */

export type ZoneName = "mgmt" | "dmz" | "srv";
export type ModuleName = "edge" | "mgmt" | "dmz" | "srv" | "platform";
export type VmRole = "firewall" | HostRole | "controlplane" | "worker";
export type GuestOs = "pfsense" | "ubuntu" | "talos";

export interface NicPlan {
  /** Segment the NIC sits on: the WAN uplink or a zone. */
  readonly segment: "wan" | ZoneName;
  readonly bridge: string;
  readonly vlanId?: number;
}

export interface VmPlan {
  readonly name: string;
  readonly role: VmRole;
  readonly os: GuestOs;
  /** Module that owns the VM. */
  readonly module: ModuleName;
  readonly node: string;
  readonly vmId: number;
  readonly size: VmSize;
  readonly nics: readonly NicPlan[];
  /** Static address with prefix (`10.10.100.11/24`); pfSense configures its own. */
  readonly address?: string;
  readonly ip?: string;
  readonly gateway?: string;
  readonly domain?: string;
  readonly fqdn?: string;
  /** Proxmox start order: lower starts first (pfSense before everything). */
  readonly startupOrder: number;
  readonly tags: readonly string[];
}

export interface ZoneModel {
  readonly name: ZoneName;
  readonly bridge: string;
  readonly vlanId?: number;
  readonly cidr: string;
  readonly prefix: number;
  readonly gateway: string;
  readonly domain: string;
}

export interface LabModel {
  readonly spec: LabSpec;
  readonly name: string;
  readonly proxmoxNodes: readonly string[];
  readonly zones: Readonly<Record<ZoneName, ZoneModel>>;
  readonly firewall: VmPlan;
  readonly hosts: readonly VmPlan[];
  readonly controlPlanes: readonly VmPlan[];
  readonly workers: readonly VmPlan[];
  /** Every VM, pfSense first, then in module order; names are unique. */
  readonly vms: readonly VmPlan[];
  /** Proxmox nodes that run at least one Ubuntu VM (each downloads the cloud image once). */
  readonly ubuntuImageNodes: readonly string[];
  /** Proxmox nodes that run at least one Talos VM (each downloads the Talos boot image once). */
  readonly talosImageNodes: readonly string[];
  readonly imageFactory: {
    /** `https://registry.mgmt.lab.internal:9443` */
    readonly url: string;
    /** Host part used in installer image references. */
    readonly host: string;
    /** Canonical schematic text (extensions, kernel args) and its content-addressed id. */
    readonly schematic: string;
    readonly schematicId: string;
    /** nocloud ISO served by the internal factory for the schematic and version. */
    readonly bootIsoUrl: string;
    readonly bootIsoFileName: string;
    /** `<factory-host>/nocloud-installer[-secureboot]/<schematic>:<version>` */
    readonly installerImage: string;
  };
  /** Kubernetes API: the VIP and the name clients may use. */
  readonly kubernetesApi: { readonly vip: string; readonly fqdn: string; readonly url: string };
}

/** pfSense NIC order is fixed: vtnet0 WAN, vtnet1 MGMT, vtnet2 DMZ, vtnet3 SRV. */
export const FIREWALL_NIC_ORDER = ["wan", "mgmt", "dmz", "srv"] as const;

export const STARTUP_ORDER: Readonly<Record<VmRole, number>> = {
  firewall: 1,
  registry: 2,
  client: 3,
  ingress: 4,
  controlplane: 5,
  worker: 6,
};

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

/** Builds the model. The spec must have passed validateLabSpec. */
export function buildLabModel(spec: LabSpec): LabModel {
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
      startupOrder: STARTUP_ORDER[role],
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

  const hosts = spec.hosts.map((h) =>
    member(h.name, h.role, "ubuntu", zones[h.zone], h.ip, h.node ?? nodes[0], h.size ?? DEFAULT_HOST_SIZES[h.role], h.vmId),
  );
  const t = spec.talos;
  const controlPlanes = t.controlPlanes.map((n, i) =>
    member(n.name, "controlplane", "talos", zones.srv, n.ip, n.node ?? placeControlPlane(i, nodes), n.size ?? t.sizes.controlPlane, n.vmId),
  );
  const workers = t.workers.map((n) =>
    member(n.name, "worker", "talos", zones.srv, n.ip, n.node ?? placeByName(n.name, nodes), n.size ?? t.sizes.worker, n.vmId),
  );

  const factoryHost = `${spec.registry.fqdn}:${spec.registry.factoryPort}`;
  const schematic = renderSchematic({ officialExtensions: t.extensions, extraKernelArgs: t.extraKernelArgs });
  const sid = schematicId(schematic);
  const sb = t.secureBoot ? "-secureboot" : "";
  return {
    spec,
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
    kubernetesApi: {
      vip: t.vip,
      fqdn: t.apiFqdn ?? `api.${zones.srv.domain}`,
      url: `https://${t.vip}:6443`,
    },
  };
}
