import { FlowTable } from "../model/flows";
import { VmPlan } from "../model/lab-model";

/** One inbound rule of a VM's Proxmox firewall (the attributes of bpg's `rule` block). */
export interface ProxmoxFirewallRule {
  /** Always inbound. */
  readonly type: "in";
  /** Always ACCEPT; the input policy drops the rest. */
  readonly action: "ACCEPT";
  /** IP protocol of the flow. */
  readonly proto: "tcp" | "udp" | "icmp";
  /** Comma-separated ports; ranges as `a:b` (Proxmox syntax). Absent for icmp. */
  readonly dport?: string;
  /** Comma-separated addresses or subnets; absent when the flow may come from anywhere. */
  readonly source?: string;
  /** `<flow id>: <purpose>`, cut to 120 characters. */
  readonly comment: string;
}

/**
 * The Proxmox firewall of a lab VM, derived from the flow model: with input policy DROP, exactly the
 * flows into the VM are accepted — including flows inside its zone, which pfSense never sees. A Talos
 * VM also accepts flows to the pod network, whose packets arrive on the node's NIC.
 */
export function proxmoxFirewallRules(flows: FlowTable, vm: VmPlan): ProxmoxFirewallRule[] {
  const zone = vm.module === "edge" ? "srv" : vm.module;
  const intoVm = flows.flows.filter(
    (f) => flows.resolve(f.to).vms.some((v) => v.name === vm.name) || (vm.os === "talos" && f.to === "pods"),
  );
  return intoVm.map((f) => {
    // "All Talos nodes" is admitted as the SRV subnet, so adding a node changes no other VM's rules.
    const sources = f.from === "group:talos" ? [flows.model.zones.srv.cidr] : flows.resolve(f.from, zone as "mgmt" | "dmz" | "srv").cidrs;
    const open = sources.length === 0 || sources.includes("0.0.0.0/0");
    return {
      type: "in",
      action: "ACCEPT",
      proto: f.protocol,
      dport: f.ports.length ? f.ports.map((p) => String(p).replace("-", ":")).join(",") : undefined,
      source: open ? undefined : sources.map((c) => c.replace(/\/32$/, "")).join(","),
      // cut by code points, so a character outside the BMP is never split into a lone surrogate
      comment: Array.from(`${f.id}: ${f.purpose}`).slice(0, 120).join(""),
    };
  });
}
