import { FlowTable } from "../../model/flows";
import { VmPlan } from "../../model/lab-model";

/** One inbound rule of a VM's Proxmox firewall (the attributes of bpg's `rule` block). */
export interface ProxmoxFirewallRule {
  /** Always inbound. */
  readonly type: "in";
  /** ACCEPT for a flow; DROP for the one rule that keeps pfSense's own address out (see below). */
  readonly action: "ACCEPT" | "DROP";
  /** IP protocol of the flow; absent on the DROP rule (every protocol). */
  readonly proto?: "tcp" | "udp" | "icmp";
  /** Comma-separated ports; ranges as `a:b` (Proxmox syntax). Absent for icmp. */
  readonly dport?: string;
  /**
   * Comma-separated addresses or subnets, or `+outside-lab` (the VM's IP set of everything outside
   * the lab's networks); absent when the flow may come from anywhere.
   */
  readonly source?: string;
  /** What the flow targets on this VM: its address, the API VIP, or the pod network. */
  readonly dest?: string;
  /** `<flow id>: <purpose>`, cut to 120 characters. */
  readonly comment: string;
}

/** One entry of a Proxmox IP set: a subnet, or an exception (`nomatch`) inside an earlier one. */
export interface ProxmoxIpsetEntry {
  readonly name: string;
  readonly nomatch?: boolean;
  readonly comment: string;
}

/** A VM-level Proxmox IP set (bpg's `proxmox_virtual_environment_firewall_ipset`). */
export interface ProxmoxIpset {
  /** Referenced in rules as `+<name>`. */
  readonly name: string;
  readonly comment: string;
  readonly cidr: readonly ProxmoxIpsetEntry[];
}

/** The IP set that stands for "outside the lab": any address but the lab's zones, its client LAN, pods and services. */
export const OUTSIDE_LAB_IPSET = "outside-lab";

/**
 * The IP set of everything outside the lab, for sources the lab cannot name by address: the internet,
 * and the Proxmox hosts when the spec leaves their addresses out. A Proxmox source list cannot say
 * "all but" (no negation, and no range inside a list: pve-firewall src/PVE/Firewall.pm,
 * parse_address_list), but an IP set can, with `nomatch` entries (pve-firewall ipset semantics).
 */
export function outsideLabIpset(flows: FlowTable): ProxmoxIpset {
  const m = flows.model;
  return {
    name: OUTSIDE_LAB_IPSET,
    comment: "talos-enclave: every address outside the lab's networks",
    cidr: [
      { name: "0.0.0.0/0", comment: "anywhere" },
      ...(["mgmt", "dmz", "srv"] as const).map((z) => ({ name: m.zones[z].cidr, nomatch: true, comment: `${z.toUpperCase()} zone` })),
      // the operators' LAN is the lab's too: it reaches only the client hosts, through their own flows
      { name: m.clientLan.cidr, nomatch: true, comment: "CLIENT LAN (operators)" },
      { name: m.spec.network.podCidr, nomatch: true, comment: "pod network" },
      { name: m.spec.network.serviceCidr, nomatch: true, comment: "service network" },
    ],
  };
}

function zoneOf(vm: VmPlan): "mgmt" | "dmz" | "srv" {
  return vm.module === "edge" ? "srv" : vm.module;
}

/** Where a flow may come from, as a Proxmox source (undefined: anywhere). */
function sourceOf(flows: FlowTable, from: string, zone: "mgmt" | "dmz" | "srv"): string | undefined {
  // "All Talos nodes" is admitted as the SRV subnet, so adding a node changes no other VM's rules;
  // pfSense's own address in it is dropped by the rule before (proxmoxFirewallRules).
  const e = flows.endpoint(from);
  if (e.kind === "group" && e.group === "talos") return flows.model.zones.srv.cidr;
  const cidrs = flows.resolve(from, zone).cidrs;
  if (e.kind === "internet" || (e.kind === "proxmox" && cidrs.length === 0)) return `+${OUTSIDE_LAB_IPSET}`;
  if (cidrs.length === 0 || cidrs.includes("0.0.0.0/0")) return undefined;
  return cidrs.map((c) => c.replace(/\/32$/, "")).join(",");
}

/**
 * The Proxmox firewall of a lab VM, derived from the flow model: with input policy DROP, exactly the
 * flows into the VM are accepted — including flows inside its zone, which pfSense never sees. A Talos
 * VM also accepts flows to the pod network, whose packets arrive on the node's NIC.
 *
 * Rules are first-match (pve-firewall): the flows from pfSense itself come first, then a DROP of
 * pfSense's address on the VM's zone, so a rule admitting the zone's subnet (all Talos nodes) does not
 * also admit the firewall.
 */
export function proxmoxFirewallRules(flows: FlowTable, vm: VmPlan): ProxmoxFirewallRule[] {
  const zone = zoneOf(vm);
  const intoVm = flows.flows.filter(
    (f) => flows.reaches(f, vm) || (vm.os === "talos" && flows.endpoint(f.to).kind === "pods"),
  );
  const accept = intoVm.map(
    (f): ProxmoxFirewallRule => {
      const to = flows.endpoint(f.to);
      return {
        type: "in",
        action: "ACCEPT",
        proto: f.protocol,
        dport: f.ports.length ? f.ports.map((p) => String(p).replace("-", ":")).join(",") : undefined,
        source: sourceOf(flows, f.from, zone),
        // Only what the flow targets: a rule for the node is not a rule for the pods behind it.
        dest: to.kind === "pods" ? flows.model.spec.network.podCidr : to.kind === "vip" ? flows.model.kubernetesApi.vip : vm.ip,
        // cut by code points, so a character outside the BMP is never split into a lone surrogate
        comment: Array.from(`${f.id}: ${f.purpose}`).slice(0, 120).join(""),
      };
    },
  );
  const fromFirewall = accept.filter((_, i) => flows.endpoint(intoVm[i].from).kind === "firewall");
  const rest = accept.filter((_, i) => flows.endpoint(intoVm[i].from).kind !== "firewall");
  const gateway: ProxmoxFirewallRule = {
    type: "in",
    action: "DROP",
    source: flows.model.zones[zone].gateway,
    comment: "pfSense itself: only the flows above (its address lies inside the subnets below)",
  };
  return [...fromFirewall, gateway, ...rest];
}

/** The IP sets a VM's rules refer to. */
export function proxmoxFirewallIpsets(flows: FlowTable, rules: readonly ProxmoxFirewallRule[]): ProxmoxIpset[] {
  return rules.some((r) => r.source === `+${OUTSIDE_LAB_IPSET}`) ? [outsideLabIpset(flows)] : [];
}

/** A VM's Proxmox firewall: its rules and the IP sets they name. */
export function proxmoxFirewall(flows: FlowTable, vm: VmPlan): { rules: ProxmoxFirewallRule[]; ipsets: ProxmoxIpset[] } {
  const rules = proxmoxFirewallRules(flows, vm);
  return { rules, ipsets: proxmoxFirewallIpsets(flows, rules) };
}
