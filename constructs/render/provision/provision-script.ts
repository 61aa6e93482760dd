import { PROVISION_SCRIPT } from "../../model/host-provision";
import { renderTemplate } from "../text/template";
import { sshReachBlock } from "./ssh-reach";

/**
 * The stack's provisioning script (`provision/provision-host.sh`): what tofu's
 * `terraform_data.<host>-provision` runs where tofu runs, to deliver a host's packages, images and
 * secrets over SSH after boot. It takes every input from its environment (see the script's head), so
 * no spec text is ever part of a command line; one script serves every host.
 */
export function renderProvisionScript(): { readonly path: string; readonly content: string } {
  return { path: PROVISION_SCRIPT, content: renderTemplate("provision/provision-host.sh", {}, { ssh_reach: sshReachBlock() }) };
}
