import { LabModel } from "../../model/lab-model";
import { tokenRenewal } from "../../model/host-provision";
import { backendEnvironment, rootVariables, type ApplyStep, type ApplySteps, type StepPlace } from "../apply/apply-steps";
import { RUNNER_ENV_FILE, RUNNER_SSH_KEY_FILE } from "../../model/runner-handoff";
import { MIRROR_SCRIPT } from "../talos/mirror-script";
import { CLIENT_DESKTOP_PASSWORD, clientDesktopInUse } from "../cloud-init/client-desktop";
import { chartRepository, demoHost } from "../platform/platform-charts";
import { chartMirrorConfig } from "../cloud-init/registry";
import { markdownCell, markdownRow } from "../text/markdown";

const PLACES: Readonly<Record<StepPlace, string>> = {
  outside: "outside the lab, on a workstation that reaches the Proxmox API",
  proxmox: "on every Proxmox node",
  "pfsense-console": "on the pfSense console and webGUI",
  runner: "on the runner",
};

/** One step of the runbook: where, what, and the connections it opens. */
function renderStep(n: number, step: ApplyStep): string {
  const where = step.where === "runner" ? `${PLACES.runner} \`${step.host}\`` : PLACES[step.where];
  const rows = step.connections.map((c) => `| ${markdownRow([c.from, c.to, `${c.protocol}/${c.port}`, c.why, c.flow ?? "outside the lab"])} |`);
  const table = rows.length
    ? `\n| from | to | port | why | flow |\n|---|---|---|---|---|\n${rows.join("\n")}\n`
    : "";
  const body = step.commands.join("\n");
  const fence = "\`".repeat(Math.max(3, ...[...body.matchAll(/\`+/g)].map((x) => x[0].length + 1)));
  // Console steps are things to do in a UI, not shell: a list, not a code block.
  const what =
    step.where === "pfsense-console" ? step.commands.map((c) => `- ${markdownCell(c)}`).join("\n") : `${fence}sh\n${body}\n${fence}`;
  const env = step.environment?.length ? `\n\nIt reads ${step.environment.map((e) => `\`${e}\``).join(", ")} from the environment.` : "";
  return `### ${n}. ${markdownCell(step.title)}

${step.manual ? "By hand" : "With tofu"}, ${where}${step.why ? ` (${markdownCell(step.why)})` : ""}.${env}

${what}
${table}`;
}

/**
 * Where the pull-blocking policy of the registry lives and what it does: `registry.scanning.blockSeverity`
 * becomes each proxy-cache project's "prevent vulnerable images" setting (see harborBootstrapConfig).
 */
function scanningNote(m: LabModel): string {
  const block = m.spec.registry.scanning.blockSeverity;
  if (block === "none") {
    return "Harbor scans but blocks no pull (`registry.scanning.blockSeverity: none` in the lab spec): findings are reported only.";
  }
  return `Harbor refuses a cached image with a \`${block}\`-or-worse finding, or one not scanned yet, to every puller (SRV and the Image
Factory alike); an image's first pull, served from upstream while it is cached, is not stopped. The level is
\`registry.scanning.blockSeverity\` in the lab spec; exempt a CVE in Harbor's system CVE allowlist (Administration >
Configuration > Security), which the proxy-cache projects use.`;
}

/**
 * Where each secret of the lab lives, as a Markdown table: the sensitive root variables (only in the
 * environment where tofu runs, and in the encrypted state where a resource keeps them), the files the
 * host provisioning writes from them over SSH (never a snippet on Proxmox), the ones made on the VMs,
 * and Talos's, which only the talos provider and the nodes hold.
 */
function secretsSection(m: LabModel): string {
  const delivered = new Map<string, string[]>();
  for (const h of m.hosts) {
    const p = m.services.get(h.role)?.provision?.({ model: m, host: h });
    for (const sec of [...(p?.secrets ?? []), ...(p?.files ?? []).flatMap((f) => (f.variable !== undefined ? [{ ...f, variable: f.variable }] : []))]) {
      const list = delivered.get(sec.variable) ?? [];
      list.push(`\`${h.name}:${sec.path}\` (${sec.mode} ${sec.owner}), written over SSH after boot`);
      delivered.set(sec.variable, list);
    }
    for (const pw of p?.passwords ?? []) {
      const list = delivered.get(pw.variable) ?? [];
      list.push(`the password of \`${pw.user}\` on \`${h.name}\`, set over SSH after boot (\`chpasswd\`): the host keeps only its hash in /etc/shadow`);
      delivered.set(pw.variable, list);
    }
  }
  const rows = rootVariables(m)
    .filter((v) => v.sensitive)
    .map((v) => [
      v.name,
      ["`TF_VAR_" + v.name + "` where tofu runs; on the runner in `~/" + RUNNER_ENV_FILE + "` (0600, in a folder made 0700), which the hand-off writes over SSH", ...(delivered.get(v.name) ?? [])].join("; "),
    ]);
  const registry = m.spec.registry.host;
  rows.push(
    ["Harbor's database password", `made on \`${registry}\` at install: \`${registry}:/etc/talos-enclave/secrets/harbor-db-password\` (0600 root:root)`],
    ["Talos machine secrets, talosconfig, kubeconfig", "the tofu state (encrypted when `state.encryption` is on) and the nodes, which get their configuration over apid"],
    [
      "talosconfig and admin kubeconfig files",
      `on the runner, outside this tree: tofu writes them where it runs (\`local_sensitive_file\` in module srv, content never shown in a plan) at \`${m.spec.apply.talosconfigPath}\` and \`${m.spec.apply.kubeconfigPath}\` (\`apply.talosconfigPath\`, \`apply.kubeconfigPath\`; \`~\` is the home of the user running tofu), mode 0600, a directory it makes 0700; it overwrites a file already there, and writes them again when one is missing or edited, or the kubeconfig's client certificate is renewed`,
    ],
    ...tokens(m).map(({ host, t }) => [
      `the token of the \`${t.namespace}/${t.serviceAccount}\` service account`,
      `minted by the provisioning where tofu runs (\`kubectl create token --duration ${t.durationHours}h\` with the admin kubeconfig, read through a pipe), held in memory there and written to \`${host}:${t.path}\` (${t.mode} ${t.owner}); never in the state, a variable or a file of the runner`,
    ]),
    [
      "SSH keys (Proxmox, the VMs' admin user)",
      m.spec.proxmox.sshAgent
        ? "the operator's agent (outside, and forwarded to the runner with `ssh -A`); the VMs get public keys only"
        : "outside: the operator's agent or key files; on the runner: `proxmox_ssh_private_key` in `~/" +
          RUNNER_ENV_FILE +
          "` and in `~/" +
          RUNNER_SSH_KEY_FILE +
          "` (0600), both written by the hand-off; the runner's provisioning of the DMZ hosts logs in with that key, so its public half must be in `admin_ssh_public_keys` too. The VMs get public keys only",
    ],
    ...(m.imageVerification.enabled
      ? [
          [
            "the lab's cosign signing key while the images are mirrored",
            "`cosign_private_key` (encrypted with `cosign_password`) reaches `" + MIRROR_SCRIPT + "` in the environment of `terraform_data.image-mirror` only (cosign reads it from `env://COSIGN_PRIVATE_KEY`), never as a file; its public half is `talos.imageVerification.publicKey`",
          ],
          ["Harbor's admin password while the images are mirrored", "in the same environment (`HARBOR_PASSWORD`); the registry login lives in a throw-away Docker config the script removes"],
        ]
      : []),
  );
  return `## Where each secret lives

No secret is in this tree, in a cloud-init snippet or in any other file tofu stores on Proxmox (the
snippet datastore is readable by whoever reads that storage): a host's secrets reach it over SSH once it
boots (\`terraform_data.<host>-provision\` runs \`provision/provision-host.sh\` where tofu runs, the value on
the SSH session's standard input), and it re-runs when the VM is replaced or a value changes.

| secret | where it lives |
|---|---|
${rows.map((r) => `| ${markdownRow(r)} |`).join("\n")}

Rotating: a new \`lab_tls_certificate\` and \`lab_tls_private_key\` are written together and Harbor is restarted
with them. Harbor takes \`harbor_admin_password\` only on its first start: change the password in Harbor
first (admin > Change Password), then set the variable to it and apply, which writes the file the
bootstrap logs in with. A new
\`image_factory_signing_key\` goes with its public half in \`talos.imageVerification.factoryPublicKey\`, in the
same apply: the factory restarts with it, finds that an installer it built before no longer verifies under
its key and builds and signs it again (siderolabs/image-factory v1.5.0, registry.go \`handleManifest\`).${
    clientDesktopInUse(m)
      ? `
A new \`${CLIENT_DESKTOP_PASSWORD}\` is set on every client host by the next apply (its SHA-256 in the state
triggers the provisioning again). It serves the desktop (xrdp) and the console; SSH takes keys only. It is
the admin user's password, and that user has sudo and, on the runner, \`~/${RUNNER_ENV_FILE}\` with every
variable above: whoever knows it from the client LAN holds the lab, so choose it like a root password.
On the runner the value is also in that file (the hand-off writes it there with the others).`
      : ""
  }
`;
}

/** The service account tokens the hosts' provisioning mints, with the host each goes to. */
function tokens(m: LabModel) {
  return m.hosts.flatMap((h) => (m.services.get(h.role)?.provision?.({ model: m, host: h })?.tokens ?? []).map((t) => ({ host: h.name, module: h.module, t })));
}

/**
 * How the bounded service account tokens are renewed (empty when no host gets one): each lives a
 * fixed time, and the apply that falls in a new renewal window mints a fresh one.
 */
export function tokenRenewalSection(m: LabModel): string {
  const all = tokens(m);
  if (!all.length) return "";
  const shortest = Math.min(...all.map(({ t }) => t.durationHours));
  const { windowDays, applyEveryDays } = tokenRenewal(shortest);
  return `## Renewing the service account tokens

${all.map(({ host, t }) => `\`${host}:${t.path}\` holds a token of \`${t.namespace}/${t.serviceAccount}\` that expires ${t.durationHours / 24} days after it was minted`).join("; ")}
(\`network.ingressCredentialDays\`). It is minted by the host's provisioning with the TokenRequest API, and
minted again, with the controller restarted on it, by the first \`tofu apply\` in each renewal window: the
${windowDays}-day stretches of each month (\`plantimestamp()\`, UTC). A plan shows the
\`terraform_data.<host>-provision\` replacement once per window and no change in between.

**Run \`tofu apply\` on the runner at least every ${applyEveryDays} days**, or the controller loses the cluster
when its token expires (it then serves its last routes and sees no new ones). A cron job on the runner
can do it, ${applyEveryDays >= 7 ? "weekly" : "daily"}, with the variables the hand-off wrote (\`~/${RUNNER_ENV_FILE}\`, 0600, outside the tree) and a
key of admin_ssh_public_keys in an agent of its own:
\`${applyEveryDays >= 7 ? "0 4 * * 1" : "0 4 * * *"} . ~/${RUNNER_ENV_FILE} && eval "$(ssh-agent -s)" >/dev/null && ssh-add -q ${m.spec.proxmox.sshAgent ? "<a key file of admin_ssh_public_keys>" : `~/${RUNNER_SSH_KEY_FILE}`} && cd <stack> && tofu apply -auto-approve -input=false >> ~/tofu-renew.log 2>&1; ssh-agent -k >/dev/null\`
— and read \`~/tofu-renew.log\`: a failed apply renews nothing. To renew at once:
${all.map(({ host, module }) => `\`tofu apply -replace='module.${module}.terraform_data.${host}-provision'\``).join(", ")}. A token cannot be
revoked before it expires except by deleting its service account (\`kubectl -n <namespace> delete serviceaccount
<name>\`), which ends every token of it; then make the account again with
\`tofu apply -replace='module.platform.helm_release.<its chart>'\` and renew as above.
`;
}

/**
 * How to see that the registry host mirrored the platform's upstream charts (talos-enclave-chart-mirror
 * on the registry host, no hand step): the chart as the helm provider will pull it, from the runner.
 */
function chartCheck(m: LabModel): string {
  const mirror = chartMirrorConfig(m);
  if (!mirror.charts.length) return "";
  return [
    "",
    `# the registry host mirrored the platform's charts into Harbor by itself (pinned, checked against their published SHA-256),`,
    `# before the cluster step pulls them; on ${m.spec.registry.host}, journalctl -u talos-enclave-chart-mirror shows each digest it checked:`,
    ...mirror.charts.map((c) => `helm show chart ${chartRepository(m)}/${c.name} --version ${c.version}`),
  ].join("\n");
}

/**
 * The keys and certificates an operator makes once, before the first apply, and where each public half
 * goes. The spec's defaults are the reference lab's public keys, whose private halves nobody holds: a
 * lab that keeps them can sign nothing, and its nodes would refuse every image.
 */
function keysSection(m: LabModel): string {
  const v = m.imageVerification;
  const warning = v.enabled && v.referenceKeys
    ? "\n**This spec still carries the reference lab's public keys** (`talos.imageVerification`), whose private halves nobody has: make your own as below and put their public halves in the spec before the first apply, or the nodes refuse every image.\n"
    : "";
  return `Make these once, outside the tree, before the first apply (the variables below carry them; the hand-off writes the variables to the runner's \`~/${RUNNER_ENV_FILE}\`):
${warning}
\`\`\`sh
umask 077
# the lab CA and the registry's certificate (${m.spec.registry.fqdn}), signed by it: lab-ca.pem, registry.pem, registry-key.pem
openssl ecparam -name prime256v1 -genkey -noout -out factory-key.pem   # the Image Factory's signing key (unencrypted EC PEM)
openssl ec -in factory-key.pem -pubout                                  # → talos.imageVerification.factoryPublicKey
${v.enabled ? "cosign generate-key-pair                                          # cosign.key (password-protected) and cosign.pub → talos.imageVerification.publicKey\n" : ""}\`\`\`
`;
}

/**
 * How operators get in: the client LAN (`zones.client`, pfSense's OPT3), from which only the client
 * hosts' SSH (tcp/22) and remote desktop (RDP through xrdp, tcp/3389) are reachable; for an existing
 * operators' LAN, the route its machines need to reach them through pfSense.
 */
function clientLanSection(m: LabModel): string {
  const lan = m.clientLan;
  const clients = m.hosts.filter((h) => h.role === "client");
  const targets = clients.length ? clients.map((h) => `\`${markdownCell(h.name)}\` (${h.ip})`).join(", ") : "no host: the lab has no client host";
  const first = clients[0];
  const where = lan.existing
    ? `the operators' existing network ${lan.cidr} on \`${lan.bridge}\`, where pfSense is ${lan.gateway} (OPT3, CLIENT). Its machines keep their own router, so each needs a route to the client host${clients.length === 1 ? "" : "s"} via pfSense (or the LAN's router one for them)${first ? `, e.g. \`ip route add ${first.ip}/32 via ${lan.gateway}\`` : ""}.`
    : `the client LAN ${lan.cidr} on the bridge \`${lan.bridge}\` the edge module creates on ${markdownCell(m.firewall.node)}, where pfSense is ${lan.gateway} (OPT3, CLIENT). The bridge has a physical port only where the spec gives one (\`proxmox.nodes[].uplinks: { ${lan.bridge}: [<nic>] }\`; a port added by hand is not the lab's and the next apply may drop it): connect an operator's machine through that port, with an address in ${lan.cidr} and ${lan.gateway} as its gateway; pfSense serves the LAN no DHCP, DNS or NTP.`;
  const desktop = m.spec.clientDesktop.enabled;
  const usage = first
    ? `\n\n\`\`\`sh\nssh ${m.spec.adminUser}@${first.ip}     # SSH\n${desktop ? `# remote desktop: an RDP client (xrdp) to ${first.ip}:3389\n` : ""}\`\`\`\n`
    : "\n";
  return `## The operators' way in (client LAN)

Operators come in from ${where}
From there only ${targets} ${clients.length === 1 ? "is" : "are"} reachable, on SSH (tcp/22)${desktop ? " and remote desktop (RDP, tcp/3389)" : " (clientDesktop is off: no remote desktop)"};
everything else in the lab, pfSense included, is not, and nothing in the lab initiates into the client LAN
(\`pfsense/RULES.md\`).${usage}`;
}

/** The runbook written next to the stack: what is in it and, from `apply-steps.json`, how to apply it. */
export function renderStackReadme(m: LabModel, modules: readonly string[], steps: ApplySteps): string {
  const s = m.spec;
  const rows = m.vms.map(
    (v) => `| ${markdownRow([v.name, v.role, v.module, v.node, v.vmId, v.address ?? "WAN: DHCP", `${v.size.cores} / ${v.size.memoryMiB} MiB / ${v.size.diskGiB} GiB`])} |`,
  );
  const variables = [
    ...rootVariables(m)
      .filter((v) => v.required)
      .map((v) => `export TF_VAR_${v.name}=${v.value("~/.ssh/id_ed25519")}${v.note ? ` # ${v.note}` : ""}`),
    ...(s.proxmox.sshAgent ? ["# SSH for snippet uploads comes from the local agent"] : []),
    ...backendEnvironment(m).map((e) => `export ${e.name}=${e.value}${e.note ? ` # ${e.note}` : ""}`),
  ];
  // Each service says how its hosts are reached and used; the lab's own say it in the sections below.
  const services = m.hosts.flatMap((h) => {
    const lines = m.services.get(h.role)?.readme?.({ model: m, host: h }) ?? [];
    return lines.length ? [`### ${markdownCell(h.name)} (${markdownCell(h.role)})\n\n${lines.join("\n")}\n`] : [];
  });
  const servicesSection = services.length ? `\n## Services\n\n${services.join("\n")}` : "";
  const encryption = s.state.encryption
    ? "State and plans are encrypted (OpenTofu `terraform.encryption`, PBKDF2 + AES-GCM); keep `state_passphrase` safe."
    : "State encryption is off (`state.encryption: false`): use an encrypted backend or disk.";
  return `# ${m.name}: talos-enclave stack

Generated from the lab spec by talos-enclave; review changes to this tree like code.

## Machines

| name | role | module | Proxmox node | VM id | address | cores / memory / disk |
|---|---|---|---|---|---|---|
${rows.join("\n")}

${clientLanSection(m)}
${servicesSection}
## Layout

- \`cdk.tf.json\`: root module (providers, variables, module calls, outputs)
- \`bootstrap/proxmox-identity/main.tf.json\`: tofu's least-privilege Proxmox identity, applied once by an administrator
${modules.map((m) => `- \`modules/${m}/main.tf.json\`: the ${m} module`).join("\n")}
- \`cloud-init/\`: user-data templates of the Ubuntu VMs (filled by \`templatefile()\` at apply time)
- \`talos/\`: the Image Factory schematic and the machine-config patches every node is built from
  (\`all-nodes.yaml\`, \`controlplane.yaml\`, \`worker.yaml\`, \`nodes/<name>.yaml\`, and the registry TLS template)
- \`UPGRADE.md\`: upgrading Talos, and what each kind of change does to running VMs
- \`upgrade.sh\`: the rolling Talos upgrade (\`bash upgrade.sh --dry-run\` first)
- \`pfsense/\`: aliases, filter and NAT for pfSense's Restore area, \`frr.conf\`, and \`RULES.md\` (read it first)
- \`flows.json\`: every network flow of the lab and the rules that carry it
- \`apply-steps.json\`: the apply, step by step, with every connection each step opens
- \`provision/provision-host.sh\`: what tofu runs to deliver a host's secrets (and a DMZ host's packages and images) over SSH
- \`provision/handoff.sh\`: what tofu runs, once, to hand the tree, the state and the variables to the runner over SSH

## Apply

The apply has ${steps.steps.length} steps, ${steps.manualSteps} of them by hand; \`apply-steps.json\` lists each with every
connection it opens and the flow that allows it. Tofu runs outside the lab until the MGMT hosts exist, then
only on the runner \`${steps.runner}\`.

Before the first apply, an administrator gives tofu its own Proxmox identity, once, with their own
token (its state lands beside the lab's, outside this tree, since it holds the new token's secret):

\`\`\`sh
cd bootstrap/proxmox-identity
export TF_VAR_proxmox_endpoint=https://pve.example:8006/ TF_VAR_proxmox_admin_api_token='root@pam!admin=…'${s.state.encryption ? " TF_VAR_state_passphrase=…" : ""}
tofu init && tofu apply
tofu output -raw proxmox_api_token   # the lab's TF_VAR_proxmox_api_token
\`\`\`

The token is privilege-separated; its role \`${m.name}-tofu\` holds only the privileges the modules' resource
types need, granted on the lab's paths (the module lists them). The administrator's token is not needed again.

${keysSection(m)}
Set the variables where the bootstrap runs (secrets through the environment, never in files of the tree);
tofu's hand-off writes them to \`~/${RUNNER_ENV_FILE}\` on the runner (mode 0600), which every runner step sources:

\`\`\`sh
${variables.join("\n")}
\`\`\`

${steps.steps.map((step, i) => renderStep(i + 1, step)).join("\n")}
## Check it works

\`\`\`sh
# BGP: every Talos node is an established neighbour of pfSense (Status > FRR > BGP, or vtysh):
vtysh -c 'show bgp summary'
# routes to the pod blocks arrived:
vtysh -c 'show ip route bgp'
# the demo through the WAN port-forward (from outside, with the name pointing at pfSense's WAN address):
curl -H 'Host: ${demoHost(m)}' http://<pfSense WAN address>/
# Harbor scans what its proxy-cache projects cache (Trivy, the default scanner) and every day everything it holds:
curl -su admin https://${s.registry.fqdn}/api/v2.0/scanners
curl -su admin https://${s.registry.fqdn}/api/v2.0/system/scanAll/schedule${chartCheck(m)}
\`\`\`

${scanningNote(m)}

${secretsSection(m)}
${tokenRenewalSection(m)}${tokenRenewalSection(m) ? "\n" : ""}${encryption}
`;
}
