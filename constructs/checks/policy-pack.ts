import { IAspect } from "cdktf";
import { IConstruct } from "constructs";
import { SpecError, SpecProblem } from "../input/spec-error";
import { PolicyHost } from "./policy-host";
import type { PolicyContext, PolicyReport, PolicyRule } from "./policy-rule";

export type { PolicyContext, PolicyFinding, PolicyReport, PolicyRule } from "./policy-rule";

/** Whether `rule` checks `construct`, under `host`. */
export function ruleApplies(rule: PolicyRule, construct: IConstruct, host: IConstruct): boolean {
  return rule.appliesTo ? rule.appliesTo(construct) : construct === host;
}

/**
 * A set of {@link PolicyRule}s applied as a cdktf Aspect: `Aspects.of(lab).add(pack)`, or on any
 * construct inside the lab (a zone, say) to check only below it. (cdktf 0.21 invokes aspects from each
 * stack down, so a pack added to the App is never invoked.) The lab's own pack is
 * {@link labPolicyPack}; the `TalosEnclave` adds it to itself.
 *
 * Visiting only records which rule must check which construct (on the {@link PolicyHost} above it).
 * cdktf invokes aspects top-down, so a check run while visiting would miss what aspects change
 * further down; the host runs the recorded checks once every aspect ran and the files are rendered,
 * before anything is written, and a finding fails the synth (a SpecError, exit 2 from the command).
 * Constructs outside any policy host are not checked.
 */
export class PolicyPack implements IAspect {
  private readonly ruleList: PolicyRule[] = [];

  /**
   * @param name - the pack's name, e.g. `lab`
   * @param rules - its first rules; more with {@link PolicyPack.addRule}
   * @throws Error when two rules share an id
   */
  constructor(
    readonly name: string,
    rules: readonly PolicyRule[] = [],
  ) {
    for (const r of rules) this.addRule(r);
  }

  /**
   * Adds a rule; returns the pack.
   *
   * @throws Error when the pack has a rule with that id already
   */
  addRule(rule: PolicyRule): this {
    if (this.ruleList.some((r) => r.id === rule.id)) throw new Error(`policy pack ${this.name}: two rules with id ${rule.id}`);
    this.ruleList.push(rule);
    return this;
  }

  /** The pack's rules, in the order added. */
  get rules(): readonly PolicyRule[] {
    return this.ruleList;
  }

  /** Records the checks of the rules that apply to `node` on its policy host (cdktf calls this). */
  visit(node: IConstruct): void {
    const host = PolicyHost.of(node);
    if (!host) return;
    for (const rule of this.ruleList) if (ruleApplies(rule, node, host.construct)) host.record(rule, node);
  }

  /**
   * Runs the pack now over `scope` and everything below it, on the files given: for tests, and for
   * checking a tree already written (read its stack folder into `context.files`).
   *
   * @returns every finding, in construct order (parents first), then rule order
   */
  run(scope: IConstruct, context: PolicyContext): PolicyReport[] {
    const reports: PolicyReport[] = [];
    for (const node of scope.node.findAll()) {
      for (const rule of this.ruleList) {
        if (ruleApplies(rule, node, context.host)) reports.push(...rule.check(node, context).map((f) => ({ ...f, ruleId: rule.id })));
      }
    }
    return reports;
  }
}

/**
 * A report as a SpecError line: `<construct path>: <subject>: "<value or rule id>" — <message>`, e.g.
 * `talos-lab/edge: pfsense/filter.xml: "lab-pfsense-files" — filter rule 3: …`.
 */
export function reportProblem(r: PolicyReport): SpecProblem {
  return { path: `${r.construct.node.path}: ${r.subject}`, value: "value" in r && r.value !== undefined ? r.value : r.ruleId, message: r.message };
}

/**
 * Fails on findings the way a bad spec fails: a SpecError with one line per finding (the command
 * prints them and exits 2).
 *
 * @throws SpecError when `reports` is not empty
 */
export function assertNoFindings(reports: readonly PolicyReport[]): void {
  if (reports.length) throw new SpecError(reports.map(reportProblem), "the rendered lab");
}
