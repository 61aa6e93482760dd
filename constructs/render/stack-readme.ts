import { LabModel } from "../model/lab-model";

/** The runbook written next to the stack: what is in it and the order an operator applies it. */
export function renderStackReadme(model: LabModel, modules: readonly string[]): string {
  const s = model.spec;
  const rows = model.vms.map(
    (v) => `| ${v.name} | ${v.role} | ${v.module} | ${v.node} | ${v.vmId} | ${v.address ?? "WAN: DHCP"} | ${v.size.cores} / ${v.size.memoryMiB} MiB / ${v.size.diskGiB} GiB |`,
  );
  const encryption = s.state.encryption
    ? "State and plans are encrypted (OpenTofu `terraform.encryption`, PBKDF2 + AES-GCM); keep `state_passphrase` safe."
    : "State encryption is off (`state.encryption: false`): use an encrypted backend or disk.";
  return `# ${model.name}: talos-enclave stack

Generated from the lab spec by talos-enclave; review changes to this tree like code.

## Machines

| name | role | module | Proxmox node | VM id | address | cores / memory / disk |
|---|---|---|---|---|---|---|
${rows.join("\n")}

## Layout

- \`cdk.tf.json\`: root module (providers, variables, module calls, outputs)
${modules.map((m) => `- \`modules/${m}/main.tf.json\`: the ${m} module`).join("\n")}
- \`cloud-init/\`: user-data templates of the Ubuntu VMs (filled by \`templatefile()\` at apply time)
- \`talos/\`: the Image Factory schematic and the machine-config patches every node is built from
  (\`all-nodes.yaml\`, \`controlplane.yaml\`, \`worker.yaml\`, \`nodes/<name>.yaml\`, and the registry TLS template)
- \`UPGRADE.md\`: the talosctl upgrade sequence for the versions this tree names
- \`pfsense/\`: aliases, filter and NAT for pfSense's Restore area, \`frr.conf\`, and \`RULES.md\` (read it first)
- \`flows.json\`: every network flow of the lab and the rules that carry it

## Apply

Set the variables (secrets through the environment, never in files):

\`\`\`sh
export TF_VAR_proxmox_endpoint=https://pve.example:8006/
export TF_VAR_proxmox_api_token='user@pve!token=…'
export TF_VAR_admin_ssh_public_keys='["ssh-ed25519 AAAA… admin"]'
export TF_VAR_lab_ca_certificate="$(cat lab-ca.pem)"   # certificate only; the CA key stays with you
${s.proxmox.sshAgent ? "# SSH for snippet uploads comes from the local agent" : "export TF_VAR_proxmox_ssh_private_key=\"$(cat ~/.ssh/id_ed25519)\""}
${s.state.encryption ? "export TF_VAR_state_passphrase='at least 16 characters'" : ""}
tofu init
tofu apply -target=module.edge    # bridges, pfSense, base images
# install pfSense from the console (WAN vtnet0, LAN/MGMT vtnet1, OPT1/DMZ vtnet2, OPT2/SRV vtnet3),
# then restore pfsense/aliases.xml, filter.xml and nat.xml in that order (see pfsense/RULES.md),
# and enable the Proxmox datacenter firewall so the VM firewalls act
tofu apply -target=module.mgmt    # Harbor and the Image Factory must answer before Talos boots
tofu apply                        # DMZ, SRV (Talos: configure, bootstrap) and the platform
tofu output -raw talosconfig > talosconfig
tofu output -raw kubeconfig > kubeconfig
\`\`\`

${encryption}
`;
}
