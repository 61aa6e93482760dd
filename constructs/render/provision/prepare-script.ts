import { PREPARE_SCRIPT } from "../../model/proxmox-prepare";
import { renderTemplate } from "../text/template";

/**
 * The stack's Proxmox node preparation script (`provision/prepare-proxmox-node.sh`): what tofu's
 * `terraform_data.<node>-prepare` runs where tofu runs, to give a Proxmox node its route to MGMT, the
 * registry's name and the lab CA over SSH. Every input comes from its environment (see the script's
 * head), so no spec text is part of a command line; one script serves every node.
 */
export function renderPrepareScript(): { readonly path: string; readonly content: string } {
  return { path: PREPARE_SCRIPT, content: renderTemplate("provision/prepare-proxmox-node.sh", {}) };
}
