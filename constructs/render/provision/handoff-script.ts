import { HANDOFF_SCRIPT } from "../../model/runner-handoff";
import { renderTemplate } from "../text/template";
import { sshReachBlock } from "./ssh-reach";

/**
 * The stack's hand-off script (`provision/handoff.sh`): what tofu's `terraform_data.runner-handoff`
 * runs outside the lab, once MGMT exists, to copy the tree, the local state and the variables to the
 * runner over SSH (see {@link HANDOFF_SCRIPT} and the script's head). It takes every input from its
 * environment, so no spec text and no secret is ever part of a command line.
 */
export function renderHandoffScript(): { readonly path: string; readonly content: string } {
  return { path: HANDOFF_SCRIPT, content: renderTemplate("provision/handoff.sh", {}, { ssh_reach: sshReachBlock() }) };
}
