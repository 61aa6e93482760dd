import { cidrContains, intToIpv4, parseCidr } from "../../constructs/input/addressing";
import type { LabModel, VmPlan, ZoneName } from "../../constructs/model/lab-model";
import { PF_INTERFACE, Segment } from "../../constructs/render/pfsense/pfsense-rule-table";
import type { NftContext } from "./nft";

/**
 * The simulated lab's addressing, derived from the model: what each namespace gets. Pure; the
 * topology builder (topology.ts) realises it with network namespaces.
 */

/** The simulated WAN: pfSense's DHCP lease, a Proxmox host and a neighbour beside it, and an internet host. */
export interface SimWan {
  /** pfSense's WAN subnet and address (its "DHCP lease"). */
  readonly subnet: string;
  readonly address: string;
  /** The Proxmox host, inside `subnet`. */
  readonly proxmox: string;
  /** Another machine on the uplink subnet (the ISP's router, a neighbour): not a Proxmox host. */
  readonly peer: string;
  /** A second subnet on the WAN bridge standing for the internet beyond the uplink. */
  readonly internetSubnet: string;
  readonly internetGateway: string;
  readonly internet: string;
}

export const SIM_WAN: SimWan = {
  subnet: "203.0.113.0/28",
  address: "203.0.113.1",
  proxmox: "203.0.113.5",
  peer: "203.0.113.6",
  internetSubnet: "198.51.100.0/24",
  internetGateway: "198.51.100.1",
  internet: "198.51.100.10",
};

export interface SimRoute {
  readonly to: string;
  readonly via: string;
}

export interface SimHost {
  /** VM name, or `proxmox`, `wan-peer`, `internet` (the WAN side), or `operator` (the client LAN). */
  readonly name: string;
  readonly kind: "vm" | "internet" | "proxmox" | "peer" | "operator";
  readonly segment: Segment;
  readonly vm?: VmPlan;
  readonly ip: string;
  readonly prefix: number;
  readonly gateway: string;
  /** Extra /32 addresses: the VIP on the first control plane (on eth0), a pod address (on lo). */
  readonly vip?: string;
  readonly pod?: string;
  /** Routes besides the default: pod blocks of the other workers, straight over the SRV switch. */
  readonly routes: readonly SimRoute[];
}

export interface SimSegment {
  readonly segment: Segment;
  /** pfSense interface name; also the bridge's name in the router namespace. */
  readonly iface: string;
  /** The router's addresses on the bridge, with prefix; the first one is pfSense's "interface address". */
  readonly addresses: readonly string[];
}

export interface SimPlan {
  readonly model: LabModel;
  readonly wan: SimWan;
  readonly segments: readonly SimSegment[];
  readonly hosts: readonly SimHost[];
  /** Routes in the router: each worker's pod block via the worker (as Calico would announce over BGP). */
  readonly routerRoutes: readonly SimRoute[];
}

const SEGMENTS: readonly Segment[] = ["wan", "mgmt", "dmz", "srv", "client"];

/** The subnet and pfSense address of an inner segment: a zone, or the client LAN. */
function segmentNet(model: LabModel, s: Exclude<Segment, "wan">): { readonly gateway: string; readonly prefix: number; readonly cidr: string } {
  return s === "client" ? model.clientLan : model.zones[s];
}

/** One /24 pod block per worker (block i+1 of the pod CIDR), its `.10` as the simulated pod. */
export function podBlock(podCidr: string, workerIndex: number): { block: string; pod: string } {
  const c = parseCidr(podCidr);
  if (c.prefix > 23) throw new Error(`pod CIDR ${podCidr} is too small for the simulation's /24 pod blocks`);
  const base = c.network + (workerIndex + 1) * 256;
  if (!cidrContains(c, intToIpv4(base))) throw new Error(`pod CIDR ${podCidr} has no block for worker ${workerIndex + 1}`);
  return { block: `${intToIpv4(base)}/24`, pod: intToIpv4(base + 10) };
}

export function simPlan(model: LabModel, wan: SimWan = SIM_WAN): SimPlan {
  const wanCidr = parseCidr(wan.subnet);
  const inetCidr = parseCidr(wan.internetSubnet);
  for (const [ip, c] of [[wan.address, wanCidr], [wan.proxmox, wanCidr], [wan.peer, wanCidr], [wan.internetGateway, inetCidr], [wan.internet, inetCidr]] as const) {
    if (!cidrContains(c, ip)) throw new Error(`simulated WAN: ${ip} is not in ${c.text}`);
  }
  const pods = model.workers.map((w, i) => ({ worker: w, ...podBlock(model.spec.network.podCidr, i) }));
  const podRoutes = pods.map((p) => ({ to: p.block, via: p.worker.ip! }));
  const hosts: SimHost[] = [];
  for (const vm of model.vms) {
    if (vm.module === "edge") continue;
    const zone = model.zones[vm.module as ZoneName];
    const podOf = pods.find((p) => p.worker.name === vm.name);
    hosts.push({
      name: vm.name,
      kind: "vm",
      segment: zone.name,
      vm,
      ip: vm.ip!,
      prefix: zone.prefix,
      gateway: zone.gateway,
      vip: vm === model.controlPlanes[0] ? model.kubernetesApi.vip : undefined,
      pod: podOf?.pod,
      routes: zone.name === "srv" ? podRoutes.filter((r) => r.via !== vm.ip) : [],
    });
  }
  hosts.push(
    { name: "proxmox", kind: "proxmox", segment: "wan", ip: wan.proxmox, prefix: wanCidr.prefix, gateway: wan.address, routes: [] },
    { name: "wan-peer", kind: "peer", segment: "wan", ip: wan.peer, prefix: wanCidr.prefix, gateway: wan.address, routes: [] },
    { name: "internet", kind: "internet", segment: "wan", ip: wan.internet, prefix: inetCidr.prefix, gateway: wan.internetGateway, routes: [] },
    // an operator's machine on the client LAN, pfSense its gateway
    { name: "operator", kind: "operator", segment: "client", ip: operatorAddress(model), prefix: model.clientLan.prefix, gateway: model.clientLan.gateway, routes: [] },
  );
  const segments: SimSegment[] = SEGMENTS.map((s) =>
    s === "wan"
      ? { segment: s, iface: PF_INTERFACE[s], addresses: [`${wan.address}/${wanCidr.prefix}`, `${wan.internetGateway}/${inetCidr.prefix}`] }
      : { segment: s, iface: PF_INTERFACE[s], addresses: [`${segmentNet(model, s).gateway}/${segmentNet(model, s).prefix}`] },
  );
  return { model, wan, segments, hosts, routerRoutes: podRoutes };
}

/** Host offset of the simulated operator's machine in the client LAN. */
export const OPERATOR_OFFSET = 50;

/** The simulated operator's address: the client LAN at {@link OPERATOR_OFFSET}, or the next free one past pfSense's. */
export function operatorAddress(model: LabModel): string {
  const c = parseCidr(model.clientLan.cidr);
  const size = 2 ** (32 - c.prefix);
  const offset = Math.min(OPERATOR_OFFSET, size - 2);
  const ip = intToIpv4(c.network + offset);
  return ip === model.clientLan.gateway ? intToIpv4(c.network + (offset === 1 ? 2 : offset - 1)) : ip;
}

/** The translation context matching the plan. */
export function nftContext(plan: SimPlan, extra: Partial<NftContext> = {}): NftContext {
  // Real pf applies a wide routed rule to the firewall's own addresses too; simulate that.
  return { wan: { subnet: plan.wan.subnet, address: plan.wan.address }, log: false, wideRulesReachSelf: true, ...extra };
}

/** pfSense's address on a segment (the zone gateway, or the WAN address). */
export function routerAddress(plan: SimPlan, segment: Segment): string {
  return segment === "wan" ? plan.wan.address : segmentNet(plan.model, segment).gateway;
}

/** Whether the address is one of the lab's own networks (zones, pods, services): what `internet` is not. */
export function isLabInternal(model: LabModel, ip: string): boolean {
  const nets = [model.zones.mgmt.cidr, model.zones.dmz.cidr, model.zones.srv.cidr, model.clientLan.cidr, model.spec.network.podCidr, model.spec.network.serviceCidr];
  return nets.some((n) => cidrContains(parseCidr(n), ip));
}
