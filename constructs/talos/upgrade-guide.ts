import { LabModel } from "../model/lab-model";

/**
 * UPGRADE.md: the provider does not upgrade Talos (it only applies configuration), so the stack ships
 * the steps around `upgrade.sh` (the rolling talosctl upgrade), the machine-config contract rule, and
 * what each kind of day-2 change does to running VMs (the change matrix in the test suite shows it).
 */
export function renderUpgradeGuide(m: LabModel): string {
  const image = m.imageFactory.installerImage;
  const cp1 = m.controlPlanes[0].ip!;
  const contract = m.machineConfigContract;
  return `# Upgrading ${m.name}

Talos ${m.spec.talos.version}, schematic \`${m.imageFactory.schematicId}\`
(${m.spec.talos.extensions.join(", ") || "no extensions"}). Installer image:

    ${image}

Machine-config contract: ${contract.minor} (${contract.pinned ? "pinned by talos.configContract" : "the minor of talos.version"}).

The Talos provider applies machine configuration; it does not upgrade Talos itself. To move to
another version or schematic:

1. Change \`talos.version\` or \`talos.extensions\` in the lab spec. Moving to a newer minor, first pin
   \`talos.configContract\` to the minor the cluster was created with: the contract decides the config
   model the nodes get, and a plan that would move it without the pin stops with an error naming the
   created minor. Move the contract later, on purpose, by setting it to the new minor.
2. Synthesize and review the diff: \`talos/all-nodes.yaml\` names the new installer image. No VM changes
   (their boot media is ignored after creation); the boot ISO is downloaded again for new VMs.
3. \`tofu apply\`: every node gets the new configuration in place; nothing reboots.
4. \`tofu output -raw talosconfig > talosconfig\`
5. \`bash upgrade.sh --dry-run\`, then \`bash upgrade.sh\`. It upgrades the control planes one at a time,
   each behind an etcd gate (every member healthy, one leader, no learner) before and after, then the
   workers; nodes already on ${m.spec.talos.version} are skipped, so a failed run can be started again.

## What other changes do to running VMs

- **Cloud-init templates and the lab CA** seed a VM's first boot only. An edited template or a rotated CA
  updates the snippet on the Proxmox datastore, and Talos nodes get the new CA through their
  configuration, but a running Ubuntu VM keeps what it booted with (terraform ignores its user-data id,
  which bpg would otherwise answer with a new VM). To re-provision one on purpose, which wipes its disk
  (the registry's cache included): \`tofu apply -replace='module.mgmt.proxmox_virtual_environment_vm.<name>'\`.
- **Cores and memory** change in place; bpg reboots the VM to apply them.
- **A larger disk** grows in place; a smaller one is refused by the provider.
- **A new Proxmox node** can move VMs to it: they are migrated in place (\`migrate = true\`), never re-created.
- **A removed worker** is cordoned, drained and reset before its VM is deleted; the others stay.

## Removing a control plane

Workers reset themselves (cordon, drain, leave) when they leave the spec. A control plane does not:
first run \`talosctl --talosconfig ./talosconfig -e ${cp1} -n <its address> etcd leave\`, then remove it
from the spec and apply. Keep an odd number of control planes.
`;
}
