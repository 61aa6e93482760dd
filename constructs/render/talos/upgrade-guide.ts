import { LabModel } from "../../model/lab-model";

/**
 * UPGRADE.md: the provider does not upgrade Talos (it only applies configuration), so the stack ships
 * the steps around `upgrade.sh` (the rolling talosctl upgrade), the machine-config contract rule, and
 * what each kind of day-2 change does to running VMs (the change matrix in the test suite shows it).
 *
 * @param m - the resolved lab
 * @param registryTls - where the registry host keeps its TLS pair (the cloud-init layer decides)
 */
export function renderUpgradeGuide(m: LabModel, registryTls: { readonly certificate: string; readonly privateKey: string }): string {
  const image = m.imageFactory.installerImage;
  const cp1 = m.controlPlanes[0].ip;
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
3. \`tofu apply\`: every node gets the new configuration in place; nothing reboots. (Create any new
   Harbor proxy project first; see below.)
4. \`tofu output -raw talosconfig > talosconfig\`
5. \`bash upgrade.sh --dry-run\`, then \`bash upgrade.sh\`. It upgrades the control planes one at a time,
   each behind an etcd gate (every member healthy, one leader, no learner) before and after, then the
   workers; nodes already on ${m.spec.talos.version} are skipped, so a failed run can be started again.

## What other changes do to running VMs

The change matrix in the test suite plans each of these against the providers' own rules.

- **Cores and memory** change in place. Talos VMs do not reboot on an update (three control planes
  rebooting at once would lose etcd quorum): the change waits, and \`bash upgrade.sh --reboot\` rolls the
  reboots one node at a time behind the same etcd gate. Ubuntu VMs reboot when bpg applies it.
- **A larger disk** grows in place; a smaller one is refused by the provider.
- **Cloud-init templates** seed a VM's first boot only. An edited template updates the snippet on the
  Proxmox datastore, but a running Ubuntu VM keeps what it booted with (terraform ignores its user-data
  id, which bpg would otherwise answer with a new VM). Carry the change to the host by hand, or
  re-provision it on purpose, which wipes its disk (the registry's cache included):
  \`tofu apply -replace='module.mgmt.proxmox_virtual_environment_vm.<name>'\`.
- **One more mirrored upstream**: the nodes get a mirror for its Harbor proxy project at once, so create
  the project first. On the registry, put the new \`proxyProjects\` entry (from
  \`cloud-init/registry.user-data.yaml.tftpl\`) into \`/etc/talos-enclave/harbor-bootstrap.json\` and run
  \`systemctl restart harbor-bootstrap.service\`; then \`tofu apply\`.
- **Rotating the lab CA**: \`RegistryTLSConfig\` trusts exactly the PEM in \`lab_ca_certificate\`, and the
  registry keeps the certificate it booted with. Rotate in three applies: set \`lab_ca_certificate\` to the
  old and the new CA concatenated; on the registry, replace \`${registryTls.certificate}\` and
  \`${registryTls.privateKey}\` with a pair issued by the new CA and restart Harbor and the Image
  Factory; then drop the old CA. (Talos nodes trust the CA through their configuration; the Ubuntu VMs
  keep the CA they booted with until you install the new one on them.)
- **A new Proxmox node** can move VMs to it (placement spreads over the node list). They are migrated in
  place (\`migrate = true\`), never re-created, but Proxmox refuses to migrate a VM with a local ISO in its
  CD-ROM: eject it first on each VM that moves (\`qm set <vmid> --ide3 none,media=cdrom\`; a Talos node
  boots from its disk once installed), or pin the VM to its node with \`node:\` in the spec.
- **A node's address** also names its VM id (unless \`vmId\` is pinned): a new address is a new VM, and
  the old one is deleted without a drain. Pin \`vmId\`, or drain and remove the node first.
- **A removed worker** is cordoned, drained and reset before its VM is deleted; the others stay.
- **A local chart** (\`charts/<name>/\`) is upgraded in place whenever its files change: their digest is
  a value of the release.

## Removing a control plane

Workers reset themselves (cordon, drain, leave) when they leave the spec. A control plane does not:
first run \`talosctl --talosconfig ./talosconfig -e ${cp1} -n <its address> etcd leave\`, then remove it
from the spec and apply. Keep an odd number of control planes.
`;
}
