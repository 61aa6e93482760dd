import { IConstruct } from "constructs";
import type { PolicyContext, PolicyReport, PolicyRule } from "./policy-rule";

const HOST = Symbol.for("talos-enclave/PolicyHost");

/**
 * The checks policy packs recorded for one construct tree, kept by the construct whose synthesis
 * renders the files (the `TalosEnclave`): packs record while cdktf invokes aspects, the host runs
 * the checks once all aspects ran, on the files it rendered, before it writes any.
 */
export class PolicyHost {
  /**
   * The policy host at or above `construct`: the nearest scope that made one.
   *
   * @returns undefined when no scope of the construct is a host
   */
  static of(construct: IConstruct): PolicyHost | undefined {
    const scopes = construct.node.scopes;
    for (let i = scopes.length - 1; i >= 0; i--) {
      const host = (scopes[i] as unknown as { [HOST]?: PolicyHost })[HOST];
      if (host) return host;
    }
    return undefined;
  }

  /** Constructs to check, by rule, in the order recorded (a rule and construct once). */
  private readonly checks = new Map<PolicyRule, Set<IConstruct>>();

  /**
   * Makes `construct` a policy host.
   *
   * @param construct - the construct that renders the files checked (the `TalosEnclave`)
   * @throws Error when the construct is a host already
   */
  constructor(readonly construct: IConstruct) {
    if ((construct as unknown as { [HOST]?: PolicyHost })[HOST]) throw new Error(`${construct.node.path} is a policy host already`);
    Object.defineProperty(construct, HOST, { value: this, enumerable: false });
  }

  /** Records that `rule` must check `construct`; recording the same pair again changes nothing. */
  record(rule: PolicyRule, construct: IConstruct): void {
    let constructs = this.checks.get(rule);
    if (!constructs) this.checks.set(rule, (constructs = new Set()));
    constructs.add(construct);
  }

  /** How many checks are recorded (a rule on a construct is one). */
  get size(): number {
    let n = 0;
    for (const c of this.checks.values()) n += c.size;
    return n;
  }

  /**
   * Runs every recorded check on the rendered files.
   *
   * @returns every finding, by rule in the order first recorded, then by construct
   */
  run(context: PolicyContext): PolicyReport[] {
    const reports: PolicyReport[] = [];
    for (const [rule, constructs] of this.checks) {
      for (const c of constructs) reports.push(...rule.check(c, context).map((f) => ({ ...f, ruleId: rule.id })));
    }
    return reports;
  }
}
