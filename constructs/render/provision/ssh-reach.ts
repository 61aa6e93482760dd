import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { TEMPLATE_DIR } from "../text/template";

/**
 * The shell functions the stack's SSH scripts share (`templates/provision/ssh-reach.sh`, inlined where
 * a script has `{{ssh_reach}}`): `remote` runs one command on the host with every argument quoted for
 * the remote shell, `try_ssh` tries once and stops at a changed host key, and `reach_host HOST JUMP
 * HINT` waits up to `wait_seconds` for the host, directly, else through its Proxmox node (ssh -J).
 * They read the script's `ssh_opts`, `target`, `wait_seconds`, `die` and `log`. Inlined, not sourced,
 * so each script stays one file that runs wherever tofu runs it.
 */
export function sshReachBlock(): string {
  return readFileSync(resolve(TEMPLATE_DIR, "provision/ssh-reach.sh"), "utf8").replace(/\n$/, "");
}
