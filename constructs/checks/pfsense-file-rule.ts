import { IConstruct } from "constructs";
import { pfSenseFileProblems, PfSenseFiles } from "../policy/pfsense-checks";
import { PolicyContext, PolicyFinding, PolicyRule } from "./policy-pack";
import { EdgeZone } from "../zones/edge-zone";

/** The pfSense restore areas the rule reads, as the edge zone's sidecars name them. */
const AREAS = ["aliases", "filter", "nat", "unbound"] as const;

/** The area file a problem of {@link pfSenseFileProblems} is about, from how it starts. */
function areaOf(problem: string): string {
  const m = /^(aliases|filter|nat|unbound)\.xml: /.exec(problem);
  if (m) return m[1];
  if (problem.startsWith("unbound")) return "unbound";
  if (problem.startsWith("alias ")) return "aliases";
  if (problem.startsWith("nat ")) return "nat";
  return "filter";
}

/**
 * pfSense reads the edge zone's restore files (`pfsense/aliases.xml`, `filter.xml`, `nat.xml`,
 * `unbound.xml`) the way {@link pfSenseFileProblems} checks them: well-formed, the area's root tag,
 * interface names, protocols, ports, unique trackers, aliases that exist, the DNS Resolver's host
 * overrides. Applies to each {@link EdgeZone}; the files
 * are read from what synthesis renders (the zone's sidecars, after every aspect).
 */
export const PFSENSE_FILE_RULE: PolicyRule = {
  id: "lab-pfsense-files",
  description: "pfSense accepts the edge zone's restore files (aliases, filter, NAT, DNS Resolver)",
  appliesTo: (c: IConstruct) => c instanceof EdgeZone,
  check(zone: IConstruct, context: PolicyContext): PolicyFinding[] {
    const sidecars = (zone as EdgeZone).sidecars;
    const findings: PolicyFinding[] = [];
    const files: Record<string, string> = {};
    for (const area of AREAS) {
      const path = `pfsense/${area}.xml`;
      const text = context.files.get(path) ?? sidecars.get(path);
      if (text === undefined) findings.push({ construct: zone, subject: path, message: "missing: the edge zone renders no such file for pfSense to restore" });
      else files[area] = text;
    }
    if (findings.length) return findings;
    return pfSenseFileProblems(files as unknown as PfSenseFiles).map((p) => ({ construct: zone, subject: `pfsense/${areaOf(p)}.xml`, message: p }));
  },
};
