import { MIRROR_SCRIPT } from "../talos/mirror-script";
import { parseEndpoint } from "../../model/endpoint";
import { FlowTable } from "../../model/flows";
import { runnerHost } from "../../model/lab-flows";
import { provisionJumpHost } from "../../model/host-provision";
import { HANDOFF_RESOURCE, HANDOFF_SCRIPT, RUNNER_ENV_FILE, RUNNER_SSH_KEY_FILE, runnerHandoff } from "../../model/runner-handoff";
import { usedServiceVariables } from "../../model/service";
import { MODULE_VARIABLES } from "../cloud-init/common";
import { CLIENT_DESKTOP_PASSWORD, clientDesktopInUse } from "../cloud-init/client-desktop";
import { LabModel } from "../../model/lab-model";
import { chartRepository } from "../platform/platform-charts";
import { chartMirrorConfig } from "../cloud-init/registry";
import { resolveBackend } from "../../model/backend";
import { GATE_SCRIPT, labGates } from "../../model/service-gates";
import { firewallInstaller } from "../../model/firewall-installer";
import { FIREWALL_WAN_ADDRESS, PREPARE_SCRIPT } from "../../model/proxmox-prepare";

/**
 * The apply as data: every step of the runbook, where it runs, what it runs, and every connection it
 * opens, each tied to the flow that allows it (so pfSense, the VM firewalls and the Talos rules follow
 * from the same list) or marked as staying outside the lab. Rendered to `apply-steps.json`; the stack
 * README's apply section is rendered from it, and the twin replays it connection by connection.
 */

/** Where a step runs. */
export type StepPlace =
  /** An operator workstation on the WAN side (it reaches the Proxmox hosts, nothing inside the lab). */
  | "outside"
  /** Every Proxmox node, in its own shell. */
  | "proxmox"
  /** The pfSense console (VNC in the Proxmox UI). */
  | "pfsense-console"
  /** The runner: the mgmt client that runs tofu after the bootstrap. */
  | "runner";

/** One connection a step opens. Endpoints: `outside`, `proxmox`, `internet`, a host name, `group:talos`, `vip`. */
export interface StepConnection {
  readonly from: string;
  readonly to: string;
  readonly protocol: "tcp" | "udp";
  readonly port: number;
  /** What uses it: provider API, SSH upload, chart fetch, ISO download, apid, … */
  readonly why: string;
  /** The lab flow that allows it; absent for connections that stay on the WAN side. */
  readonly flow?: string;
}

/** One step of the runbook. */
export interface ApplyStep {
  /** Stable id, e.g. `bootstrap`. */
  readonly id: string;
  readonly title: string;
  readonly where: StepPlace;
  /** The runner's host name, for steps that run there. */
  readonly host?: string;
  /** Done by a person, not by tofu; `why` says why it cannot be automated. */
  readonly manual: boolean;
  readonly why?: string;
  /** Commands, in order. */
  readonly commands: readonly string[];
  /** Environment variables the step's commands read, which must be set where the step runs. */
  readonly environment?: readonly string[];
  readonly connections: readonly StepConnection[];
}

/** The whole apply. */
export interface ApplySteps {
  readonly lab: string;
  /** The host tofu runs on after the bootstrap. */
  readonly runner: string;
  readonly steps: readonly ApplyStep[];
  /** How many steps are manual. */
  readonly manualSteps: number;
}

/**
 * A root variable of the stack as the operator sets it: the same list as the root module's `variable`
 * blocks (constructs/talos-enclave.ts), in the order the README shows them.
 */
export interface RootVariable {
  /** The variable's name in cdk.tf.json; tofu reads it from `TF_VAR_<name>`. */
  readonly name: string;
  readonly sensitive: boolean;
  /**
   * The apply needs it: it has no default, so tofu stops (or prompts) when it is unset; or its default
   * (empty) stops the plan of what reads it (`firewall_wan_address`, once pfSense is installed).
   */
  readonly required: boolean;
  /** The right-hand side of its `export` line; `sshKey` is where the Proxmox SSH key file is. */
  readonly value: (sshKey: string) => string;
  /** A comment for its `export` line. */
  readonly note?: string;
}

/** The root variables a lab's stack declares, with an example value each. */
export function rootVariables(m: LabModel): RootVariable[] {
  const s = m.spec;
  const v = (name: string, sensitive: boolean, value: RootVariable["value"], note?: string, required = true): RootVariable => ({ name, sensitive, required, value, ...(note ? { note } : {}) });
  return [
    v("proxmox_endpoint", false, () => "https://pve.example:8006/"),
    v("proxmox_api_token", true, () => "'user@pve!token=…'"),
    v("admin_ssh_public_keys", false, () => `'["ssh-ed25519 AAAA… admin"]'`),
    v("lab_ca_certificate", false, () => '"$(cat lab-ca.pem)"', "certificate only; the CA key stays with you"),
    v("lab_tls_certificate", false, () => '"$(cat registry.pem)"', `${s.registry.fqdn}, signed by the lab CA`),
    v("lab_tls_private_key", true, () => '"$(cat registry-key.pem)"'),
    v("harbor_admin_password", true, () => "'…'"),
    v(
      "image_factory_signing_key",
      true,
      () => '"$(cat factory-key.pem)"',
      "openssl ecparam -name prime256v1 -genkey -noout -out factory-key.pem (unencrypted: cosign generate-key-pair's key is encrypted, which the factory cannot read); its public half (openssl ec -in factory-key.pem -pubout) is talos.imageVerification.factoryPublicKey",
    ),
    ...(m.imageVerification.enabled
      ? [
          v("cosign_private_key", true, () => '"$(cat cosign.key)"', "cosign generate-key-pair's cosign.key (encrypted); its public half is talos.imageVerification.publicKey"),
          v("cosign_password", true, () => "'…'", "the password cosign.key is encrypted with"),
        ]
      : []),
    ...(clientDesktopInUse(m)
      ? [v(CLIENT_DESKTOP_PASSWORD, true, () => "'…'", `${s.adminUser}'s desktop (xrdp) password on the client hosts, 12 characters or more; SSH stays key-only`)]
      : []),
    ...(s.proxmox.sshAgent
      ? []
      : [v("proxmox_ssh_private_key", true, (key: string) => `"$(cat ${key})"`, "root's key on the Proxmox nodes; the runner provisions the DMZ hosts with it too, so its public half belongs in admin_ssh_public_keys")]),
    v(FIREWALL_WAN_ADDRESS, false, () => "'<the WAN address pfSense shows>'", "from step pfsense-install on (pfSense's console shows it); the Proxmox nodes route MGMT through it"),
    ...(s.state.encryption ? [v("state_passphrase", true, () => "'at least 16 characters'")] : []),
    // added services' own (the lab's services' are above)
    ...[...usedServiceVariables(m)].filter(([name]) => !(name in MODULE_VARIABLES)).map(([name, sv]) => v(name, sv.sensitive, () => "'…'", sv.description)),
  ];
}

/** Environment variables the state backend reads its credentials from (none for a local state). */
export function backendEnvironment(m: LabModel): { readonly name: string; readonly value: string; readonly note?: string }[] {
  switch (resolveBackend(m.spec, "cdktf.out").type) {
    case "pg":
      return [{ name: "PG_CONN_STR", value: "'postgres://user:…@db.example/lab_state'" }];
    case "s3":
      return [
        { name: "AWS_ACCESS_KEY_ID", value: "'…'", note: "or AWS_PROFILE with a profile instead of the two keys" },
        { name: "AWS_SECRET_ACCESS_KEY", value: "'…'" },
      ];
    default:
      return [];
  }
}

/** Whether a flow endpoint covers a concrete endpoint: the same name, its zone, or a group holding it. */
function endpointCovers(m: LabModel, flowEnd: string, end: string): boolean {
  if (flowEnd === end) return true;
  const f = parseEndpoint(flowEnd);
  const e = parseEndpoint(end);
  const allTalos = f?.kind === "group" && f.group === "talos";
  if (allTalos && e?.kind === "group") return true;
  if (e?.kind !== "host") return false;
  const vm = m.vms.find((v) => v.name === e.name);
  if (!vm) return false;
  if (f?.kind === "zone") return f.zone === vm.module;
  return allTalos && vm.os === "talos";
}

/** The flow a connection belongs to: endpoints the flow covers, on its protocol and a port it covers. */
function flowFor(m: LabModel, flows: FlowTable, c: Omit<StepConnection, "flow" | "why">): string | undefined {
  const covers = (ports: readonly (number | string)[]) =>
    ports.some((p) => {
      const [a, b] = String(p).split("-").map(Number);
      return c.port >= a && c.port <= (b ?? a);
    });
  const f = flows.flows.find(
    (x) => endpointCovers(m, x.from, c.from) && endpointCovers(m, x.to, c.to) && x.protocol === c.protocol && covers(x.ports),
  );
  return f?.id;
}

/**
 * The lab's apply steps, in order: the bootstrap from outside (edge, where pfSense's node downloads
 * its installer, unless the spec's `firewall.isoFileId` names one the operator puts on the storage by
 * hand first, and which switches the datacenter firewall on unless `proxmox.datacenterFirewall` is
 * off; pfSense by hand with its restore areas, DNS Resolver included, and its WAN address into
 * `TF_VAR_firewall_wan_address`; the datacenter firewall by hand when the switch is off; MGMT, which
 * first prepares each Proxmox node over SSH: route to MGMT, the registry's name, the lab CA), tofu's
 * hand-off of tree, state and variables to the runner (terraform_data.runner-handoff), then everything
 * else from the runner, which sources the variables the hand-off wrote there.
 *
 * @throws Error when a connection that crosses the lab has no flow (a generator bug, not user input)
 */
export function applySteps(m: LabModel, flows: FlowTable): ApplySteps {
  const runner = runnerHost(m);
  if (!runner) throw new Error("the lab has no runner host (validation requires a client)");
  const registry = m.registry;
  const factory = m.spec.registry.factoryPort;
  const local = resolveBackend(m.spec, "cdktf.out").type === "local";
  const connect = (protocol: "tcp" | "udp", from: string, to: string, port: number, why: string, lab = true): StepConnection => {
    const c = { from, to, protocol, port };
    if (!lab) return { ...c, why };
    const flow = flowFor(m, flows, c);
    if (!flow) throw new Error(`apply step connection ${from} -> ${to} ${protocol}/${port} (${why}) has no flow`);
    return { ...c, why, flow };
  };
  const conn = (from: string, to: string, port: number, why: string, lab = true) => connect("tcp", from, to, port, why, lab);
  /** What every VM of a zone opens as it boots: DNS and NTP at pfSense, as cloud-init and Talos configure them. */
  const bootServices = (zone: string, names: string) => [
    connect("udp", `zone:${zone}`, "firewall", 53, `${names} resolve the lab's names (${m.spec.registry.fqdn}, …) through pfSense's DNS Resolver`),
    connect("udp", `zone:${zone}`, "firewall", 123, `${names} set their clocks from pfSense`),
  ];
  const r = runner.name;
  const fromOutside = [
    conn("outside", "proxmox", 8006, "bpg provider: Proxmox API", false),
    conn("outside", "proxmox", 22, "bpg provider: snippet and file uploads over SSH", false),
  ];
  const fromRunner = [conn(r, "proxmox", 8006, "bpg provider: Proxmox API"), conn(r, "proxmox", 22, "bpg provider: snippet and file uploads over SSH")];
  /** Hosts tofu provisions over SSH after boot (their secrets, a DMZ host's packages and images), by zone. */
  const provisioned = (zone: "mgmt" | "dmz") =>
    m.hosts.filter((h) => h.module === zone).map((h) => ({ host: h, p: m.services.of(h.role).provision?.({ model: m, host: h }) })).filter((x) => x.p !== undefined);
  // The bootstrap provisions the MGMT hosts from outside, through each host's Proxmox node (ssh -J).
  const jumpHosts = provisioned("mgmt").map(({ host }) => ({ host: host.name, jump: provisionJumpHost(m, host) }));
  const mgmtProvision = provisioned("mgmt").map(({ host }) => conn("proxmox", host.name, 22, `tofu's provisioning writes ${host.name}'s secrets over SSH, through its Proxmox node`));
  // The runner provisions the DMZ hosts: it pushes what a DMZ host may not fetch from MGMT itself.
  const dmzProvision = provisioned("dmz").flatMap(({ host, p }) => [
    conn(r, host.name, 22, `tofu's provisioning delivers ${host.name}'s packages, images and secrets over SSH`),
    ...((p!.images ?? []).length ? [conn(r, registry.name, 443, `the provisioning copies ${host.name}'s images out of Harbor (skopeo)`)] : []),
    ...((p!.packages ?? []).length
      ? [80, 443].map((port) => conn(r, "internet", port, `the provisioning downloads ${host.name}'s packages from the Ubuntu archive`))
      : []),
    ...(p!.tokens ?? []).map((t) => {
      const url = new URL(t.server);
      const to = url.hostname === m.spec.talos.vip ? "vip" : (m.vms.find((v) => v.ip === url.hostname)?.name ?? url.hostname);
      return conn(r, to, Number(url.port || 443), `the provisioning mints ${host.name}'s token of ${t.namespace}/${t.serviceAccount} (kubectl create token)`);
    }),
  ]);
  const unique = (cs: StepConnection[]) => cs.filter((c, i) => cs.findIndex((x) => x.from === c.from && x.to === c.to && x.protocol === c.protocol && x.port === c.port) === i);

  // The pfSense installer: the edge module downloads it on pfSense's node, or attaches the ISO the
  // spec's `firewall.isoFileId` names (`<storage>:iso/<file>`), which the operator puts there by hand.
  const installer = firewallInstaller(m.spec);
  const iso = /^([^:]+):iso\/(.+)$/.exec(installer.fileId)!;
  const [isoStorage, isoFile] = [iso[1], iso[2]];
  const pfNode = m.firewall.node;
  const pfNodeSpec = m.spec.proxmox.nodes.find((n) => n.name === pfNode);
  const pfSsh = `root@${pfNodeSpec?.sshAddress ?? pfNodeSpec?.address ?? `<address of ${pfNode}>`}`;

  // The variables tofu needs on the runner: the hand-off writes them to ~/secrets/tofu.env there
  // (terraform_data.runner-handoff), with the guard that keeps the runner from handing off again.
  const handoff = runnerHandoff(m);
  const runnerShell = [
    `. ~/${RUNNER_ENV_FILE}   # every variable, written by the hand-off (mode 0600)`,
    ...(m.spec.proxmox.sshAgent
      ? ["# the provider's SSH (snippet uploads) and the hosts' provisioning use the runner's agent: connect with ssh -A, or ssh-add a key there"]
      : [`eval "$(ssh-agent -s)" && ssh-add ~/${RUNNER_SSH_KEY_FILE}   # the hosts' provisioning over SSH: a key of admin_ssh_public_keys (and root's on the Proxmox nodes)`]),
  ];
  // tofu's edge module switches the datacenter firewall on (proxmox.datacenterFirewall); else the
  // operator does, by hand, on a Proxmox host.
  const dcfwByTofu = m.spec.proxmox.datacenterFirewall;
  const gates = labGates(m);

  const steps: ApplyStep[] = [
    ...(installer.kind === "existing"
      ? [
          {
            id: "pfsense-iso",
            title: `Put the pfSense installer ${isoFile} on ${isoStorage} of node ${pfNode}`,
            where: "outside" as const,
            manual: true,
            why: `the spec names an installer already on the storage (firewall.isoFileId ${installer.fileId}) instead of one the node downloads (firewall.installer): a release behind Netgate's account login, which no provider fetches`,
            commands: [
              `# download ${isoFile}.gz from Netgate (account login) and check it against the SHA-256 Netgate publishes`,
              `gunzip ${isoFile}.gz`,
              `scp ${isoFile} ${pfSsh}:"$(ssh ${pfSsh} pvesm path ${installer.fileId})"   # where ${isoStorage} keeps ISO images`,
              `ssh ${pfSsh} pvesm list ${isoStorage} --content iso | grep -F '${installer.fileId}'`,
            ],
            connections: [conn("outside", "proxmox", 22, "scp of the ISO into the node's datastore", false)],
          },
        ]
      : []),
    {
      id: "edge",
      title: `Create the bridges, the pfSense VM and the base images${dcfwByTofu ? ", and switch the datacenter firewall on," : ""} from outside`,
      where: "outside",
      manual: false,
      commands: ["tofu init", "tofu apply -target=module.edge"],
      connections: [
        ...fromOutside,
        conn("proxmox", "internet", 443, "the Proxmox node downloads the Ubuntu cloud image", false),
        ...(installer.kind === "download" ? [conn("proxmox", "internet", 443, `the Proxmox node downloads the pfSense installer (${new URL(installer.url).hostname}) and checks its SHA-256`, false)] : []),
      ],
    },
    {
      id: "pfsense-install",
      title: "Install pfSense from its ISO and assign WAN, LAN (MGMT), OPT1 (DMZ), OPT2 (SRV), OPT3 (CLIENT)",
      where: "pfsense-console",
      manual: true,
      why: "pfSense's installer runs on the VM's console; no provider drives it",
      commands: [
        "install pfSense CE from the attached ISO",
        "assign vtnet0 WAN, vtnet1 LAN (MGMT), vtnet2 OPT1 (DMZ), vtnet3 OPT2 (SRV), vtnet4 OPT3 (CLIENT) and the zone addresses (pfsense/RULES.md)",
        `export TF_VAR_${FIREWALL_WAN_ADDRESS}=<the WAN address the console shows>   # where tofu runs, now and on the runner: tofu's preparation of the Proxmox nodes routes ${m.zones.mgmt.cidr} through it (DHCP: a changed lease needs a new value and an apply)`,
      ],
      connections: [],
    },
    {
      id: "pfsense-import",
      title: "Import the generated rules, NAT, DNS Resolver with the lab's names, FRR configuration and settings",
      where: "pfsense-console",
      manual: true,
      why: "pfSense has no API a stock provider drives for filter rules or the DNS Resolver; the restore areas are a GUI upload",
      commands: [
        "restore pfsense/aliases.xml, filter.xml, nat.xml, unbound.xml in that order (Diagnostics > Backup & Restore; each replaces its whole section: unbound.xml replaces every DNS Resolver setting with pfSense's defaults and the lab's host overrides)",
        "install the FRR package and paste pfsense/frr.conf (Services > FRR > Global Settings > Raw Config)",
        "copy pfsense/phpshellsessions/talos-enclave to /etc/phpshellsessions/ and run: pfSsh.php playback talos-enclave   # sets the settings pfsense/RULES.md lists, then reloads the filter and the DNS Resolver",
      ],
      connections: [],
    },
    ...(dcfwByTofu
      ? []
      : [
          {
            id: "datacenter-firewall",
            title: "Switch the Proxmox datacenter firewall on",
            where: "proxmox" as const,
            manual: true,
            why: "the spec leaves the datacenter firewall switch to the cluster's administrator (proxmox.datacenterFirewall is off), and without it no VM firewall acts",
            commands: [
              "pve-firewall localnet   # with the firewall on, only these hosts reach 8006 and 22: the workstation and pfSense's WAN address must be in it (else add them: pvesh create /cluster/firewall/ipset/management --cidr <address>)",
              "pvesh set /cluster/firewall/options --enable 1   # the datacenter firewall, without which no VM firewall acts (cluster-wide: once per cluster is enough)",
            ],
            connections: [],
          },
        ]),
    {
      id: "mgmt",
      title: "Create the MGMT hosts from outside: Harbor (which mirrors the platform's charts itself) and the Image Factory, the clients; their secrets over SSH",
      where: "outside",
      manual: false,
      commands: [
        `# first, on each Proxmox node over SSH (${PREPARE_SCRIPT}): a route to ${m.zones.mgmt.cidr} via pfSense's WAN address (TF_VAR_${FIREWALL_WAN_ADDRESS}), ${m.spec.registry.fqdn} in /etc/hosts, the lab CA in the trust store`,
        ...jumpHosts.map((j) => `# ${j.host}'s provisioning reaches it through ${j.jump} (ssh -J): that name must resolve here, and your agent must hold root's key there and a key of admin_ssh_public_keys`),
        "tofu apply -target=module.mgmt",
      ],
      connections: [
        ...fromOutside,
        conn("outside", "proxmox", 22, "tofu prepares each Proxmox node over SSH: route to MGMT, the registry's name, the lab CA", false),
        ...bootServices("mgmt", "the MGMT hosts"),
        conn(
          registry.name,
          "internet",
          443,
          chartMirrorConfig(m).charts.length
            ? `Harbor's installer, the proxy-cache upstreams, and the charts the registry host mirrors into Harbor (${chartRepository(m)}) by itself: ${chartMirrorConfig(m).charts.map((c) => `${c.name} ${c.version}`).join(", ")} with their published checksums`
            : "Harbor's installer and the proxy-cache upstreams",
        ),
        conn(r, "internet", 443, "the runner downloads OpenTofu, talosctl, kubectl and helm (checksummed)"),
        ...mgmtProvision,
      ],
    },
    {
      id: "handoff",
      title: `Hand the tree${local ? ", the state" : ""} and the variables to the runner ${r}`,
      where: "outside",
      manual: false,
      commands: [
        `# tofu copies them over SSH through ${handoff.jump} (ssh -J), as for the MGMT hosts: the tree without .terraform, ${local ? "the state (complete: the MGMT apply has finished), " : ""}and ~/${RUNNER_ENV_FILE} (0600) with every variable${m.spec.proxmox.sshAgent ? "" : ` and ~/${RUNNER_SSH_KEY_FILE}`}, on the SSH session's standard input (${HANDOFF_SCRIPT})`,
        `tofu apply -target=terraform_data.${HANDOFF_RESOURCE}`,
        "# from now on tofu runs on the runner only; the copy outside is stale",
      ],
      connections: [
        conn("outside", "proxmox", 8006, "tofu refreshes what the hand-off depends on (Proxmox API)", false),
        conn("outside", "proxmox", 22, "the hand-off's SSH jump through the runner's Proxmox node", false),
        conn("proxmox", r, 22, "the hand-off copies the tree, the state and the variables to the runner over SSH"),
      ],
    },
    {
      id: "cluster",
      title: "Create and configure the Talos cluster, install the platform, create the DMZ hosts with the ingress credential, and converge everything",
      where: "runner",
      host: r,
      manual: false,
      // One apply: the DMZ provisioning waits for the release that creates the ingress controller's
      // service account (module.platform's service_accounts), then mints its bounded token itself.
      commands: [
        ...runnerShell,
        // the helm provider reads the charts at plan time, before any gate: wait here for the registry
        // host's own mirror, bounded, with where to look when it does not come
        ...chartMirrorConfig(m).charts.map(
          (c) =>
            `for i in $(seq 60); do helm show chart ${chartRepository(m)}/${c.name} --version ${c.version} >/dev/null 2>&1 && break; [ "$i" -lt 60 ] || { echo "Harbor has no ${c.name} ${c.version} after 10 minutes: journalctl -u talos-enclave-chart-mirror on ${registry.name}" >&2; false; }; sleep 10; done   # the registry host mirrors it by itself`,
        ),
        "tofu init",
        "tofu apply",
        `# the apply waits for Harbor before the Talos VMs${m.imageVerification.enabled ? ", mirrors and signs the cluster's images (terraform_data.image-mirror, " + MIRROR_SCRIPT + ") before them too," : ""} and for the API VIP before the Helm releases (${GATE_SCRIPT}), and writes talosctl's ${m.spec.apply.talosconfigPath} and kubectl's and helm's ${m.spec.apply.kubeconfigPath} here, mode 0600`,
      ],
      connections: [
        conn(r, "internet", 443, "tofu init: providers from registry.opentofu.org"),
        ...fromRunner,
        conn(r, registry.name, 443, `gate: tofu waits until Harbor answers (${gates.registry.url}) before it creates the Talos VMs`),
        ...(m.imageVerification.enabled
          ? [
              conn(r, "internet", 443, "image mirror: crane and cosign read the upstream registries, cosign verifies their signatures, the tools download"),
              conn(r, registry.name, 443, "image mirror: crane copies and cosign signs into Harbor's signed projects"),
            ]
          : []),
        conn(r, registry.name, factory, "talos provider: registers the schematic with the Image Factory"),
        conn("proxmox", registry.name, factory, "the Proxmox node downloads the Talos boot ISO from the Image Factory"),
        conn(r, "group:talos", 50000, "talos provider: apply configuration, bootstrap, kubeconfig; later applies renew the kubeconfig near its expiry (apid; its Read is a no-op)"),
        ...bootServices("srv", "the Talos nodes"),
        conn("group:talos", registry.name, 443, "Talos pulls its images through the Harbor proxy cache"),
        conn("group:talos", registry.name, factory, "Talos fetches its installer image from the Image Factory"),
        conn(r, registry.name, 443, "helm provider: fetches the tigera-operator chart (OCI) at plan time"),
        conn(r, "vip", 6443, `gate: tofu waits until the API VIP answers (${gates.api.url}) before it installs the Helm releases`),
        conn(r, "vip", 6443, "helm provider: installs and upgrades the releases through the API VIP"),
        ...(m.hosts.some((h) => h.role === "ingress") ? bootServices("dmz", "the DMZ hosts") : []),
        ...unique(dmzProvision),
        // a replaced MGMT host, or a rotated secret, is provisioned again from here: through its Proxmox node
        ...mgmtProvision,
        conn(r, "proxmox", 22, "tofu prepares a Proxmox node again when what it writes changes (a new pfSense WAN address, the lab CA)"),
        ...m.hosts.filter((h) => h.role === "ingress").map((h) => conn(h.name, "vip", 6443, "the ingress controller watches the cluster")),
      ],
    },
  ];
  return { lab: m.name, runner: r, steps, manualSteps: steps.filter((s) => s.manual).length };
}

/** `apply-steps.json`: the steps as stable JSON (two-space indent, trailing newline). */
export function renderApplyStepsJson(steps: ApplySteps): string {
  return `${JSON.stringify(steps, null, 2)}\n`;
}
