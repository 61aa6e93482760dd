import { FlowTable } from "../../model/flows";
import { stableJson } from "../text/stable-json";
import { PfSenseTables } from "../pfsense/pfsense-rule-table";

/** flows.json: the flow model with, for each flow, the pfSense rules that carry it (or why none). */
export function renderFlowsJson(flows: FlowTable, t: PfSenseTables): string {
  const doc = {
    lab: flows.model.name,
    flows: flows.flows.map((f) => ({
      id: f.id,
      from: f.from,
      to: f.to,
      protocol: f.protocol,
      ports: f.ports,
      purpose: f.purpose,
      origin: f.origin,
      pfsense: t.rules.filter((r) => r.flowId === f.id).map((r) => ({ interface: r.interface, order: r.order, tracker: r.tracker })),
      notFilteredBecause: t.notFiltered.find((n) => n.flow.id === f.id)?.reason ?? null,
    })),
  };
  return `${stableJson(doc)}\n`;
}
