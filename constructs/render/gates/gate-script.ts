import { GATE_SCRIPT } from "../../model/service-gates";
import { renderTemplate } from "../text/template";

/**
 * The stack's gate script (`gates/wait-for-service.sh`): what each gate's `terraform_data` runs where
 * tofu runs, to wait until a lab service answers over HTTPS before tofu creates what needs it. It
 * takes every input from its environment (see the script's head), so no spec text is ever part of a
 * command line; one script serves every gate.
 */
export function renderGateScript(): { readonly path: string; readonly content: string } {
  return { path: GATE_SCRIPT, content: renderTemplate("gates/wait-for-service.sh", {}) };
}
