import { LabModel } from "../model/lab-model";
import { chartRepository, demoHost, INGRESS_NAMESPACE, INGRESS_SERVICE_ACCOUNT } from "../platform/platform-charts";
import { clientConfigPaths } from "./cloud-init";
import { markdownRow } from "./markdown";

/** The runbook written next to the stack: what is in it and the order an operator applies it. */
export function renderStackReadme(m: LabModel, modules: readonly string[]): string {
  const s = m.spec;
  const rows = m.vms.map(
    (v) => `| ${markdownRow([v.name, v.role, v.module, v.node, v.vmId, v.address ?? "WAN: DHCP", `${v.size.cores} / ${v.size.memoryMiB} MiB / ${v.size.diskGiB} GiB`])} |`,
  );
  const encryption = s.state.encryption
    ? "State and plans are encrypted (OpenTofu `terraform.encryption`, PBKDF2 + AES-GCM); keep `state_passphrase` safe."
    : "State encryption is off (`state.encryption: false`): use an encrypted backend or disk.";
  return `# ${m.name}: talos-enclave stack

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
export TF_VAR_lab_tls_certificate="$(cat registry.pem)" # ${m.spec.registry.fqdn}, signed by the lab CA
export TF_VAR_lab_tls_private_key="$(cat registry-key.pem)"
export TF_VAR_harbor_admin_password='…'
${s.proxmox.sshAgent ? "# SSH for snippet uploads comes from the local agent" : "export TF_VAR_proxmox_ssh_private_key=\"$(cat ~/.ssh/id_ed25519)\""}
${s.state.encryption ? "export TF_VAR_state_passphrase='at least 16 characters'" : ""}
tofu init
tofu apply -target=module.edge    # bridges, pfSense, base images
# install pfSense from the console (WAN vtnet0, LAN/MGMT vtnet1, OPT1/DMZ vtnet2, OPT2/SRV vtnet3),
# then restore pfsense/aliases.xml, filter.xml and nat.xml in that order (see pfsense/RULES.md),
# and enable the Proxmox datacenter firewall so the VM firewalls act
tofu apply -target=module.mgmt    # Harbor (proxy projects), Image Factory, apt proxy, the client
# push the tigera-operator chart ${s.platform.calicoVersion} into ${chartRepository(m)} from the client:
#   helm repo add projectcalico https://docs.tigera.io/calico/charts
#   helm pull projectcalico/tigera-operator --version ${s.platform.calicoVersion}
#   helm push tigera-operator-${s.platform.calicoVersion}.tgz ${chartRepository(m)}
tofu apply -target=module.srv -target=module.platform   # Talos: configure, bootstrap; Calico, BGP, demo
tofu output -raw talosconfig > talosconfig   # on the client: ${clientConfigPaths(m).talosconfig}
tofu output -raw kubeconfig > kubeconfig     # on the client: ${clientConfigPaths(m).kubeconfig}
\`\`\`

The DMZ ingress controller gets a kubeconfig of its own, for the least-privilege \`${INGRESS_SERVICE_ACCOUNT}\`
account (nothing secret is in this tree; build it on the client once the platform is up):

\`\`\`sh
TOKEN=$(kubectl -n ${INGRESS_NAMESPACE} get secret ${INGRESS_SERVICE_ACCOUNT}-token -o jsonpath='{.data.token}' | base64 -d)
kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d > cluster-ca.pem
kubectl --kubeconfig ingress.kubeconfig config set-cluster ${m.name} --server=${m.kubernetesApi.url} --certificate-authority=cluster-ca.pem --embed-certs
kubectl --kubeconfig ingress.kubeconfig config set-credentials ${INGRESS_SERVICE_ACCOUNT} --token="$TOKEN"
kubectl --kubeconfig ingress.kubeconfig config set-context default --cluster=${m.name} --user=${INGRESS_SERVICE_ACCOUNT}
kubectl --kubeconfig ingress.kubeconfig config use-context default
export TF_VAR_ingress_kubeconfig="$(cat ingress.kubeconfig)"
tofu apply                        # the DMZ ingress VM, with its kubeconfig
\`\`\`

## Check it works

\`\`\`sh
# BGP: every Talos node is an established neighbour of pfSense (Status > FRR > BGP, or vtysh):
vtysh -c 'show bgp summary'
# routes to the pod blocks arrived:
vtysh -c 'show ip route bgp'
# the demo through the WAN port-forward (from outside, with the name pointing at pfSense's WAN address):
curl -H 'Host: ${demoHost(m)}' http://<pfSense WAN address>/
\`\`\`

${encryption}
`;
}
