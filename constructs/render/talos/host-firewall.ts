import { FlowTable } from "../../model/flows";
import { VmPlan } from "../../model/lab-model";
import type { TalosDocument } from "./talos-document";

/**
 * Talos ingress rules (NetworkRuleConfig documents) for a set of nodes, from {@link talosFirewallRules}:
 * derived once and shared by every caller, so the lists are frozen.
 */
export interface TalosFirewallRules {
  /** Rules every node of the set gets (one NetworkRuleConfig per flow). */
  readonly shared: readonly TalosDocument[];
  /** Rules for flows that reach only some nodes of the set, by node name. */
  readonly perNode: ReadonlyMap<string, readonly TalosDocument[]>;
}

/**
 * Source subnets of a flow as Talos ingress entries. Traffic from "all Talos nodes" is admitted as
 * the SRV subnet minus the gateway (pfSense), as the Talos docs recommend for cluster ports: adding a
 * worker then changes no other node's rules.
 */
function ingressSubnets(flows: FlowTable, from: string): { subnet: string; except?: string }[] {
  const srv = flows.model.zones.srv;
  const e = flows.endpoint(from);
  if (e.kind === "group" && e.group === "talos") return [{ subnet: srv.cidr, except: `${srv.gateway}/32` }];
  return flows.resolve(from, "srv").cidrs.map((subnet) => ({ subnet }));
}

/**
 * Talos ingress firewall rules for a set of nodes, derived from the flow model: every tcp/udp flow
 * into one of the nodes becomes a NetworkRuleConfig named after the flow, admitting the flow's source
 * subnets on its ports. Everything else is blocked by `NetworkDefaultActionConfig: block` (ICMP stays
 * rate-limited-open, as Talos does in block mode). Derived once per flow table and node list; the
 * result is shared and its lists are frozen.
 */
export function talosFirewallRules(flows: FlowTable, nodes: readonly VmPlan[]): TalosFirewallRules {
  let byNodes = computed.get(flows);
  if (byNodes === undefined) computed.set(flows, (byNodes = new WeakMap()));
  let rules = byNodes.get(nodes);
  if (rules === undefined) {
    rules = deriveRules(flows, nodes);
    byNodes.set(nodes, rules);
  }
  return rules;
}

/**
 * Rules already derived, by flow table and node list: every node's patch asks for its role's rules,
 * and deriving them per node would cost nodes × flows × nodes.
 */
const computed = new WeakMap<FlowTable, WeakMap<readonly VmPlan[], TalosFirewallRules>>();

function deriveRules(flows: FlowTable, nodes: readonly VmPlan[]): TalosFirewallRules {
  const shared: TalosDocument[] = [];
  const perNode = new Map<string, TalosDocument[]>();
  const names = new Set(nodes.map((n) => n.name));
  for (const f of flows.flows) {
    if (f.protocol === "icmp") continue;
    const targets = flows.resolve(f.to).vms.filter((v) => names.has(v.name));
    if (targets.length === 0) continue;
    const sources = ingressSubnets(flows, f.from);
    if (sources.length === 0) continue;
    const rule: TalosDocument = {
      apiVersion: "v1alpha1",
      kind: "NetworkRuleConfig",
      name: f.id,
      portSelector: { ports: [...f.ports], protocol: f.protocol },
      ingress: sources,
    };
    if (targets.length === nodes.length) shared.push(rule);
    else
      for (const t of targets) {
        const list = perNode.get(t.name);
        if (list) list.push(rule);
        else perNode.set(t.name, [rule]);
      }
  }
  for (const list of perNode.values()) Object.freeze(list);
  return { shared: Object.freeze(shared), perNode };
}
