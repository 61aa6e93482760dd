import { DataResource } from "cdktf";
import { Construct } from "constructs";
import { FIREWALL_WAN_ADDRESS, NodePreparation, PREPARE_SCRIPT, preparationHostsEntry } from "../model/proxmox-prepare";
import { hclExpression } from "./hcl-text";

/** Properties for {@link PreparedNodes}. */
export interface PreparedNodesProps {
  /** The lab's name (the script names its unit, hosts lines and CA file after it). */
  readonly lab: string;
  /** One preparation per Proxmox node. */
  readonly nodes: readonly NodePreparation[];
  /** Module variable holding pfSense's WAN address (an empty value fails the plan, with what to do). */
  readonly wanAddressVariable: string;
  /** Module variable holding the lab CA's PEM (public). */
  readonly caVariable: string;
  /**
   * Module variable holding the provider's SSH private key (sensitive), handed to the script's own
   * agent through standard input; none when the provider uses the SSH agent (`proxmox.sshAgent`).
   */
  readonly sshKeyVariable?: string;
}

/**
 * `terraform_data.<node>-prepare` per Proxmox node: runs the stack's {@link PREPARE_SCRIPT} where
 * tofu runs, which gives the node its route to MGMT via pfSense's WAN address (persisted as a
 * systemd unit), the lab's hosts lines and the lab CA over SSH, idempotently. Keyed by node name, so
 * adding a node adds one and touches no other.
 *
 * It runs again when what it writes changes: the route, the hosts lines, the node's SSH address and
 * login (`delivers`), pfSense's WAN address, the CA (its SHA-256), or the script itself (its file's
 * SHA-256); never because the SSH key changed (the key is no trigger). A precondition stops the plan
 * while pfSense's WAN address is unset (`""`, the root variable's default until pfSense is installed)
 * and says where to read it.
 */
export class PreparedNodes extends Construct {
  /** The preparation resources by node name. */
  readonly byNode = new Map<string, DataResource>();

  constructor(scope: Construct, id: string, props: PreparedNodesProps) {
    super(scope, id);
    for (const p of props.nodes) {
      const environment: Record<string, string> = {
        TE_NODE: p.sshAddress,
        TE_SSH_USER: p.sshUser,
        TE_LAB: props.lab,
        TE_ROUTE_CIDR: p.routeCidr,
        TE_ROUTE_VIA: hclExpression(`var.${props.wanAddressVariable}`),
        TE_HOSTS: preparationHostsEntry(p),
        TE_CA: hclExpression(`var.${props.caVariable}`),
      };
      const delivers = { TE_NODE: p.sshAddress, TE_SSH_USER: p.sshUser, TE_LAB: props.lab, TE_ROUTE_CIDR: p.routeCidr, TE_HOSTS: environment.TE_HOSTS };
      if (props.sshKeyVariable) environment.TE_SSH_KEY = hclExpression(`var.${props.sshKeyVariable}`);
      const data = new DataResource(this, p.node, {
        triggersReplace: {
          delivers: JSON.stringify(delivers),
          [FIREWALL_WAN_ADDRESS]: hclExpression(`var.${props.wanAddressVariable}`),
          [`sha256_${props.caVariable}`]: hclExpression(`sha256(var.${props.caVariable})`),
          script: hclExpression(`filesha256("\${path.root}/${PREPARE_SCRIPT}")`),
        },
        lifecycle: {
          precondition: [
            {
              condition: hclExpression(`var.${props.wanAddressVariable} != ""`),
              errorMessage: `${FIREWALL_WAN_ADDRESS} is empty: install pfSense (step pfsense-install), read its WAN address on its console and set TF_VAR_${FIREWALL_WAN_ADDRESS} to it; the Proxmox nodes route MGMT through it.`,
            },
          ],
        },
        provisioners: [{ type: "local-exec", command: `bash ${hclExpression("path.root")}/${PREPARE_SCRIPT}`, environment }],
      });
      data.overrideLogicalId(`${p.node}-prepare`);
      this.byNode.set(p.node, data);
    }
  }

  /** node → resource id, for a module output that orders what needs a prepared node after it. */
  ids(): Record<string, string> {
    return Object.fromEntries([...this.byNode].map(([node, d]) => [node, d.id]));
  }
}
