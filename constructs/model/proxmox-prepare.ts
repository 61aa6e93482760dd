/**
 * What each Proxmox node needs of the lab before tofu goes on from the MGMT module: a route to the
 * MGMT subnet via pfSense's WAN address (the node is the `ssh -J` hop of the MGMT hosts'
 * provisioning, and downloads the Talos ISO from the Image Factory in MGMT), the registry's name in
 * its hosts file (it resolves the factory's URL without the lab's DNS), and the lab CA in its trust
 * store (it checks the factory's certificate). The mgmt module turns it into one
 * `terraform_data.<node>-prepare` per node whose `local-exec` runs {@link PREPARE_SCRIPT} where tofu
 * runs; the script reaches the node over SSH as the provider does (`proxmox.sshUsername`, the
 * provider's key or agent).
 */

import type { LabModel } from "./lab-model";

/** The generated script the preparation runs, relative to the stack directory. */
export const PREPARE_SCRIPT = "provision/prepare-proxmox-node.sh";

/** The root variable that carries pfSense's WAN address (DHCP: known once pfSense is installed). */
export const FIREWALL_WAN_ADDRESS = "firewall_wan_address";

/** One node's preparation. */
export interface NodePreparation {
  /** The Proxmox node's name. */
  readonly node: string;
  /** Where its SSH answers: the node's `sshAddress`, else its `address`, else its name. */
  readonly sshAddress: string;
  /** Login on the node (`proxmox.sshUsername`). */
  readonly sshUser: string;
  /** The MGMT subnet the route is for, `a.b.c.d/n`. */
  readonly routeCidr: string;
  /** Names the node resolves from its hosts file: the registry's FQDN at its address. */
  readonly hosts: readonly { readonly address: string; readonly name: string }[];
}

/** Every Proxmox node's preparation, in the order of `proxmoxNodes`. */
export function nodePreparations(m: LabModel): NodePreparation[] {
  return m.proxmoxNodes.map((node) => {
    const spec = m.spec.proxmox.nodes.find((n) => n.name === node);
    return {
      node,
      sshAddress: spec?.sshAddress ?? spec?.address ?? node,
      sshUser: m.spec.proxmox.sshUsername,
      routeCidr: m.zones.mgmt.cidr,
      hosts: [{ address: m.registry.ip!, name: m.spec.registry.fqdn }],
    };
  });
}

/** `TE_HOSTS` of the script: space-separated `ADDRESS=NAME`. */
export function preparationHostsEntry(p: NodePreparation): string {
  return p.hosts.map((h) => `${h.address}=${h.name}`).join(" ");
}
