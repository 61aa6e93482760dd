import { LabModel } from "../../model/lab-model";

const ENCRYPTION_TEXT = {
  tpm: "LUKS2 on STATE and EPHEMERAL, keys sealed to the TPM 2.0 and the SecureBoot state",
  nodeID: "LUKS2 on STATE and EPHEMERAL, keys derived from the node identity",
  off: "none (STATE and EPHEMERAL are plain)",
} as const;

/**
 * UPGRADE.md: the provider does not upgrade Talos (it only applies configuration), so the stack ships
 * the steps around `upgrade.sh` (the rolling talosctl upgrade), the machine-config contract rule, the
 * system-disk encryption rule, and what each kind of day-2 change does to running VMs (the change
 * matrix in the test suite shows it).
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
System-disk encryption: ${ENCRYPTION_TEXT[m.diskEncryption]} (talos.diskEncryption ${m.diskEncryption}).

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
- **Rotating the lab CA**: \`RegistryTLSConfig\` trusts exactly the PEM in \`lab_ca_certificate\`. Rotate
  in three applies: set \`lab_ca_certificate\` to the old and the new CA concatenated and apply; set
  \`lab_tls_certificate\` and \`lab_tls_private_key\` to a pair issued by the new CA and apply (the registry's
  provisioning writes both to \`${registryTls.certificate}\` and \`${registryTls.privateKey}\` and restarts
  Harbor and the Image Factory); then drop the old CA and apply. (Talos nodes trust the CA through their configuration; the Ubuntu VMs
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
- **The ingress controller's credential** is a service account token with a bounded lifetime
  (\`network.ingressCredentialDays\`): apply at least as often as the stack README's "Renewing the service
  account tokens" says, or the token expires. A changed lifetime is a change of what the provisioning delivers: the next apply mints a token with it.

## Changing the system-disk encryption

Talos encrypts STATE and EPHEMERAL only when it formats them, at install; it never re-encrypts a
running node, and new keys pushed to one would leave it unable to unlock STATE. The state remembers
the mode the nodes were installed with (\`terraform_data.disk_encryption\`), and a plan whose
\`talos.diskEncryption\` differs stops with an error naming it. Upgrades and other changes keep the
encryption documents as they are.

To change it on purpose, reinstall the nodes; this wipes their STATE and EPHEMERAL, so etcd and
everything under /var start empty:

1. Set \`talos.diskEncryption\` in the lab spec and synthesize (\`tpm\` needs \`talos.secureBoot: true\`).
2. Wipe every node: \`talosctl --talosconfig ./talosconfig -e <its address> -n <its address> reset
   --system-labels-to-wipe STATE --system-labels-to-wipe EPHEMERAL --graceful=false --reboot\`. Each comes
   back in maintenance mode and formats the volumes with the new keys when it gets its configuration.
3. \`tofu apply -replace='module.srv.terraform_data.disk_encryption' -replace='module.srv.talos_machine_bootstrap.lab'\`:
   the state records the new mode, every node gets its configuration, and etcd is bootstrapped again.

## Removing a control plane

Workers reset themselves (cordon, drain, leave) when they leave the spec. A control plane does not:
first run \`talosctl --talosconfig ./talosconfig -e ${cp1} -n <its address> etcd leave\`, then remove it
from the spec and apply. Keep an odd number of control planes.
`;
}
