import { IConstruct } from "constructs";
import type { LabModel } from "../model/lab-model";

/**
 * What a rule sees when it checks: the tree as synthesis writes it, after every aspect changed it.
 */
export interface PolicyContext {
  /** The construct whose synthesis renders the files and runs the checks (a `TalosEnclave`). */
  readonly host: IConstruct;
  /** The resolved lab the host was built from. */
  readonly model: LabModel;
  /**
   * Every file the host writes besides `cdk.tf.json`, by path relative to its stack folder:
   * `modules/<zone>/main.tf.json`, `pfsense/filter.xml`, `talos/nodes/<name>.yaml`, `flows.json`, …
   */
  readonly files: ReadonlyMap<string, string>;
}

/** One problem a rule found, about one construct. */
export interface PolicyFinding {
  /** The construct the finding concerns; its path starts the finding's line. */
  readonly construct: IConstruct;
  /** Where in the construct, e.g. a file (`pfsense/filter.xml`) or a firewall rule. */
  readonly subject: string;
  /** The offending value (a flow, a name), shown quoted. Default: the rule's id. */
  readonly value?: unknown;
  /** What is wrong, with a hint how to fix it. */
  readonly message: string;
}

/** A {@link PolicyFinding} with the rule that found it, as {@link PolicyPack.run} returns it. */
export interface PolicyReport extends PolicyFinding {
  /** The id of the rule that found it. */
  readonly ruleId: string;
}

/**
 * A named check of a policy pack, in the style of cdk-nag: it applies to some constructs and, given
 * the rendered files, returns findings that each name a construct.
 */
export interface PolicyRule {
  /** Unique within a pack, e.g. `lab-separation`; shown with every finding that has no value. */
  readonly id: string;
  /** What the rule enforces, for a reviewer. */
  readonly description: string;
  /**
   * Which constructs the rule checks; it runs once for each. Default: only the policy host (the
   * `TalosEnclave`), for rules about the whole lab.
   */
  readonly appliesTo?: (construct: IConstruct) => boolean;
  /**
   * The rule's findings on one construct it applies to; empty when the construct passes.
   *
   * @param construct - a construct {@link PolicyRule.appliesTo} accepted
   * @param context - the rendered files, after every aspect ran
   */
  check(construct: IConstruct, context: PolicyContext): readonly PolicyFinding[];
}
