import { LabModel } from "../model/lab-model";
import { ruleText } from "../input/lab-spec";
import { LabNetworks, SeparationViolation } from "./separation-policy";

/** The networks the separation invariants speak of, from the lab model. */
export function labNetworks(m: LabModel): LabNetworks {
  const zone = (z: "mgmt" | "dmz" | "srv") => ({ cidr: m.zones[z].cidr, gateway: m.zones[z].gateway });
  return {
    zones: { mgmt: zone("mgmt"), dmz: zone("dmz"), srv: zone("srv") },
    client: { cidr: m.clientLan.cidr, gateway: m.clientLan.gateway },
    podCidr: m.spec.network.podCidr, serviceCidr: m.spec.network.serviceCidr };
}

const HINT: Readonly<Record<SeparationViolation["invariant"], string>> = {
  1: "nothing from the internet or the Proxmox hosts reaches SRV; remove the flow or point it at the DMZ",
  2: "SRV deals only with the lab; mirror what it needs through the registry",
  3: "every rule that lets traffic through must come from a flow in flows.json and open no more than that flow",
  4: "only MGMT administers the firewall; DMZ and SRV use its DNS, NTP and (SRV) BGP",
  5: "the DMZ faces the internet and MGMT holds the supply chain: MGMT pushes to the DMZ over SSH, never the other way",
  6: "the client LAN is the operators' way in: from it only the client hosts' SSH (22) and RDP (3389), and nothing in the lab initiates into it",
};

/** A violation as a SpecError line: `separation: <layer> <rule>: "<flow>" — <what> (<hint>)`. */
export function violationProblem(v: SeparationViolation) {
  return { path: `separation: ${v.layer} ${v.rule}`, value: v.flow ?? "(no flow)", message: ruleText(v.message, HINT[v.invariant]) };
}
