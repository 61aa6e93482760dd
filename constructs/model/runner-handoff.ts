/**
 * The hand-off of the stack to the runner: the bootstrap ran tofu outside the lab (edge, then MGMT);
 * from then on only the runner, a client in MGMT, reaches the cluster, so the tree, the local state
 * and the variables move there once. The root module's `terraform_data.runner-handoff` runs the
 * stack's {@link HANDOFF_SCRIPT} where tofu runs (outside), after `module.mgmt`, with every root
 * variable in its environment; the script writes them on the runner to {@link RUNNER_ENV_FILE},
 * which the runner's steps source. The resource has `count = var.<guard> ? 1 : 0` on
 * {@link HANDOFF_GUARD} (default true), which that file sets false: the copied state lacks the
 * hand-off itself, and the runner never plans it.
 */

import type { LabModel, VmPlan } from "./lab-model";
import { runnerHost } from "./lab-flows";
import { provisionJumpHost } from "./host-provision";

/** The generated script the hand-off runs, relative to the stack directory. */
export const HANDOFF_SCRIPT = "provision/handoff.sh";

/** Logical id of the hand-off's `terraform_data` in the root module. */
export const HANDOFF_RESOURCE = "runner-handoff";

/** The root variable that switches the hand-off off (bool, default true; false on the runner). */
export const HANDOFF_GUARD = "runner_handoff";

/** Where the hand-off writes the variables on the runner, relative to its home (mode 0600, folder 0700). */
export const RUNNER_ENV_FILE = "secrets/tofu.env";

/** Where the hand-off writes the Proxmox SSH key on the runner when the stack reads it from a variable. */
export const RUNNER_SSH_KEY_FILE = "secrets/id_ed25519";

/** What the hand-off needs to know besides the variables' values. */
export interface RunnerHandoff {
  /** The runner. */
  readonly runner: VmPlan;
  /** `user@address` of the runner's Proxmox node (ssh -J): outside the lab only the Proxmox hosts answer. */
  readonly jump: string;
}

/**
 * The lab's hand-off.
 *
 * @throws Error when the lab has no runner (validation requires a client)
 */
export function runnerHandoff(m: LabModel): RunnerHandoff {
  const runner = runnerHost(m);
  if (!runner) throw new Error("the lab has no runner host (validation requires a client)");
  return { runner, jump: provisionJumpHost(m, runner) };
}

/**
 * The environment variable names the state backend reads its credentials from, which the hand-off
 * copies to the runner when they are set where it runs: PG_CONN_STR for pg (the pg backend's
 * `conn_str` default), the AWS SDK's key pair, session token and profile for s3; none for a local
 * state.
 */
export function backendCredentialNames(type: "local" | "pg" | "s3"): string[] {
  switch (type) {
    case "pg":
      return ["PG_CONN_STR"];
    case "s3":
      return ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"];
    default:
      return [];
  }
}
