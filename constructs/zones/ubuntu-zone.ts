import { Construct } from "constructs";
import { DataResource } from "cdktf";
import { ProxmoxProvider } from "../../.gen/providers/proxmox/provider";
import { VirtualEnvironmentFile } from "../../.gen/providers/proxmox/virtual-environment-file";
import { VirtualEnvironmentPool } from "../../.gen/providers/proxmox/virtual-environment-pool";
import { LabModel, VmPlan } from "../model/lab-model";
import { proxmoxFirewall } from "../render/proxmox/proxmox-firewall-rules";
import { FlowTable } from "../model/flows";
import { labFlows } from "../model/lab-flows";
import { LabVm } from "../proxmox/lab-vm";
import { VmFirewall } from "../proxmox/vm-firewall";
import { MODULE_VARIABLES } from "../render/cloud-init";
import { ServiceVariable, usedServiceVariables } from "../model/service";
import { sidecarTemplate, varRef } from "../stack/terraform-refs";
import { hclExpression } from "../stack/hcl-text";
import { HostProvision, hostProvisionProblems, PROVISION_SCRIPT, provisionFileEnv, provisionJumpHost, provisionPasswordEnv, provisionTokenEntry, tokenRenewal, tokenRenewalWindow } from "../model/host-provision";
import { ZoneModule } from "./zone-module";
import { PreparedNodes } from "../stack/prepared-nodes";
import { FIREWALL_WAN_ADDRESS, nodePreparations } from "../model/proxmox-prepare";
import { renderPrepareScript } from "../render/provision/prepare-script";

/** What fills a user-data template variable: one module variable, as it is or through one encoder. */
const USER_DATA_EXPRESSION = /^(?:(jsonencode|base64encode|yamlencode)(\())?var\.([a-z][a-z0-9_]*)(\))?$/;

/** Module variables every host's user-data may read (its services' own come from their descriptors). */
const COMMON_INPUTS: Readonly<Record<string, ServiceVariable>> = {
  admin_ssh_public_keys: { type: "list(string)", sensitive: false, description: MODULE_VARIABLES.admin_ssh_public_keys },
  lab_ca_certificate: { type: "string", sensitive: false, description: MODULE_VARIABLES.lab_ca_certificate },
};

/**
 * Every module variable a host's user-data may read: the common ones, then those of each service a
 * host runs ({@link usedServiceVariables}).
 */
export function hostVariables(m: LabModel): ReadonlyMap<string, ServiceVariable> {
  return new Map([...Object.entries(COMMON_INPUTS), ...usedServiceVariables(m)]);
}

/** The zone input that carries the cluster's admin kubeconfig to a provisioning that mints tokens. */
export const KUBERNETES_ADMIN_KUBECONFIG = "kubernetes_admin_kubeconfig";
/** The zone input naming the release that creates each service account a token is minted for. */
export const KUBERNETES_SERVICE_ACCOUNTS = "kubernetes_service_accounts";

/** Properties for a {@link MgmtZone} or {@link DmzZone}. */
export interface UbuntuZoneProps {
  /** The resolved lab. */
  readonly model: LabModel;
  /** The lab's flows, which its firewall rules derive from. Default: `labFlows(model)`. */
  readonly flows?: FlowTable;
}

/** One Ubuntu VM of a zone module: its user-data snippet, the VM and its Proxmox firewall. */
export interface UbuntuHost {
  /** The host as planned in the model. */
  readonly plan: VmPlan;
  /** The cloud-init user-data snippet on the node's snippet storage. */
  readonly userData: VirtualEnvironmentFile;
  /** The VM. */
  readonly vm: LabVm;
  /** The VM's Proxmox firewall. */
  readonly firewall: VmFirewall;
  /**
   * `terraform_data.<host>-provision`: what the host gets over SSH after boot (its secrets, and a
   * DMZ host's packages and images), run by tofu where it runs; absent for a host that needs nothing.
   */
  readonly provision?: DataResource;
}

/**
 * A zone of Ubuntu VMs (MGMT or DMZ): per host a cloud-init user-data snippet uploaded to the node's
 * snippet storage and a VM whose disk is imported from the node's cloud image, with static address,
 * DNS and search domain through `initialization`, and a Proxmox firewall (input DROP) that accepts
 * exactly the flows into the VM.
 *
 * Inputs: `bridges`, `ubuntu_image_ids` (from the edge module), and the certificates and secrets its
 * hosts' user-data reads (`admin_ssh_public_keys`, `lab_ca_certificate`; MGMT: `lab_tls_certificate`,
 * `lab_tls_private_key`, `harbor_admin_password`, `image_factory_signing_key`). A zone whose hosts get
 * service account tokens ({@link HostProvision.tokens}; DMZ: the ingress controller's) also takes
 * `kubernetes_admin_kubeconfig` (srv module) to mint them and `kubernetes_service_accounts` (platform
 * module: the release that creates each account, which the provisioning waits for).
 * MGMT also prepares each Proxmox node (`terraform_data.<node>-prepare`, {@link PreparedNodes}) and so
 * takes `firewall_wan_address`, `lab_ca_certificate` and, without `proxmox.sshAgent`,
 * `proxmox_ssh_private_key`.
 * Outputs: `addresses` (name → IPv4), `vm_ids` (name → Proxmox id); MGMT: `proxmox_prepared` (node →
 * preparation id).
 */
export abstract class UbuntuZone extends ZoneModule {
  /** The zone's hosts by name. */
  readonly hosts = new Map<string, UbuntuHost>();
  /** The Proxmox pool `<lab>-<zone>` that holds the zone's VMs. */
  readonly pool: VirtualEnvironmentPool;
  /**
   * MGMT only: `terraform_data.<node>-prepare` per Proxmox node (route to MGMT, the registry's name,
   * the lab CA), which the MGMT hosts' provisioning waits for; absent in the DMZ module.
   */
  readonly preparedNodes?: PreparedNodes;

  protected constructor(scope: Construct, id: string, zone: "mgmt" | "dmz", props: UbuntuZoneProps) {
    super(scope, id);
    const m = props.model;
    const spec = m.spec;
    new ProxmoxProvider(this, "proxmox");

    this.input("bridges", { type: "map(map(string))", description: "bridge name per Proxmox node and zone (edge module)" });
    this.input("ubuntu_image_ids", { type: "map(string)", description: "Ubuntu cloud image file id per Proxmox node (edge module)" });

    // The user-data of the zone's hosts decides which secrets and certificates the module takes in.
    const plans = m.hosts.filter((h) => h.module === zone);
    const templates = new Map(plans.map((p) => [p.name, m.services.of(p.role).userData({ model: m, host: p })]));
    // A host reads the common variables and its own service's, never another service's secrets. Each
    // template variable is one module variable, as it is or encoded: nothing else can hide a read.
    const reads = (host: string, t: { vars: Readonly<Record<string, string>> }) =>
      Object.entries(t.vars).map(([k, e]) => {
        const m = USER_DATA_EXPRESSION.exec(e);
        if (!m || (m[2] === undefined) !== (m[4] === undefined)) {
          throw new Error(`the user-data of ${host} fills \${${k}} with ${JSON.stringify(e)}: a template variable must be var.<name>, jsonencode(var.<name>), base64encode(var.<name>) or yamlencode(var.<name>)`);
        }
        return m[3];
      });
    const used = new Set<string>();
    const provisions = new Map<string, HostProvision>();
    for (const plan of plans) {
      const service = m.services.of(plan.role);
      const own = service.variables ?? {};
      for (const name of reads(plan.name, templates.get(plan.name)!)) {
        if (!(name in COMMON_INPUTS) && !Object.hasOwn(own, name)) {
          throw new Error(`the user-data of ${plan.name} (service ${plan.role}) reads var.${name}, which its service does not declare: a host reads the common variables and its own service's only`);
        }
        // the snippet is a file on the Proxmox snippet datastore: no secret may be rendered into it
        if (own[name]?.sensitive) {
          throw new Error(`the user-data of ${plan.name} (service ${plan.role}) reads the sensitive var.${name}: the snippet is stored in clear on the Proxmox datastore; deliver it with the service's provision().secrets instead`);
        }
        used.add(name);
      }
      const provision = service.provision?.({ model: m, host: plan });
      if (provision) {
        const problems = hostProvisionProblems(provision, new Map(Object.entries(own)));
        if (problems.length) throw new Error(`the provisioning of ${plan.name} (service ${plan.role}) cannot be used:\n  ${problems.join("\n  ")}`);
        for (const f of [...(provision.files ?? []), ...(provision.secrets ?? []), ...(provision.passwords ?? [])]) if (f.variable !== undefined) used.add(f.variable);
        provisions.set(plan.name, provision);
      }
    }
    const declared = hostVariables(m);
    for (const [name, decl] of declared) {
      if (used.has(name)) this.input(name, decl);
    }
    if ([...provisions.values()].some((p) => (p.tokens ?? []).length > 0)) {
      this.input(KUBERNETES_ADMIN_KUBECONFIG, {
        type: "string",
        sensitive: true,
        description: "the cluster's admin kubeconfig (srv module): mints the bounded service account tokens the hosts get, where tofu runs",
      });
      this.input(KUBERNETES_SERVICE_ACCOUNTS, {
        type: "map(string)",
        description: "the Helm release that creates each service account, by namespace/name (platform module): a token is minted once it exists",
      });
    }

    // MGMT is applied after pfSense is installed, and before anything that needs a Proxmox node to reach
    // MGMT: its hosts' provisioning (ssh -J through the node) and the srv module's Talos ISO download
    // (which waits for the `proxmox_prepared` output).
    if (zone === "mgmt") {
      this.input(FIREWALL_WAN_ADDRESS, { type: "string", description: "pfSense's WAN address (its console shows it): the Proxmox nodes route MGMT through it" });
      if (!used.has("lab_ca_certificate")) this.input("lab_ca_certificate", declared.get("lab_ca_certificate")!);
      if (!spec.proxmox.sshAgent) {
        this.input("proxmox_ssh_private_key", { type: "string", sensitive: true, description: "the provider's SSH key for the Proxmox nodes: the nodes' preparation logs in with it" });
      }
      this.preparedNodes = new PreparedNodes(this, "prepare", {
        lab: m.name,
        nodes: nodePreparations(m),
        wanAddressVariable: FIREWALL_WAN_ADDRESS,
        caVariable: "lab_ca_certificate",
        sshKeyVariable: spec.proxmox.sshAgent ? undefined : "proxmox_ssh_private_key",
      });
      const script = renderPrepareScript();
      this.addSidecar(script.path, script.content);
    }

    this.pool = new VirtualEnvironmentPool(this, "pool", {
      poolId: `${m.name}-${zone}`,
      comment: `talos-enclave ${m.name}: ${zone.toUpperCase()} zone`,
    });
    this.pool.overrideLogicalId(zone);

    const flows = props.flows ?? labFlows(m);
    for (const plan of plans) {
      const template = templates.get(plan.name)!;
      const sidecar = `cloud-init/${plan.name}.user-data.yaml.tftpl`;
      this.addSidecar(sidecar, template.text);
      const extra = m.services.of(plan.role).sidecars?.({ model: m, host: plan }) ?? {};
      for (const [path, content] of Object.entries(extra)) this.addSidecar(path, content);
      const userData = new VirtualEnvironmentFile(this.vms, `${plan.name}.user-data`, {
        nodeName: plan.node,
        datastoreId: spec.proxmox.snippetDatastore,
        contentType: "snippets",
        sourceRaw: {
          // '.' joins lab and host: neither contains one, so labs sharing a snippet store never clash.
          fileName: `${m.name}.${plan.name}.user-data.yaml`,
          data: sidecarTemplate(sidecar, template.vars),
        },
      });
      userData.overrideLogicalId(`${plan.name}-user-data`);
      const vm = new LabVm(this.vms, plan.name, {
        plan,
        datastoreId: spec.proxmox.vmDatastore,
        bridges: plan.nics.map((n) => varRef("bridges", plan.node, n.segment)),
        diskFileId: varRef("ubuntu_image_ids", plan.node),
        userDataFileId: userData.id,
        dnsServers: plan.gateway ? [plan.gateway] : undefined,
        poolId: this.pool.poolId,
        // The cloud image and the user-data only seed the first boot (cloud-init runs its per-instance
        // modules once), and bpg forces a new VM when either id changes (disk/schema.go:140,
        // vm.go:999): a newer image or an edited snippet must not replace a running VM. The snippet
        // itself is still updated; `tofu apply -replace=<vm>` re-provisions on purpose (README, UPGRADE.md).
        ignoreChanges: ["disk[0].file_id", "initialization[0].user_data_file_id"],
      });
      const firewall = new VmFirewall(this.vms, `${plan.name}.firewall`, { vm, ...proxmoxFirewall(flows, plan) });
      const wanted = provisions.get(plan.name);
      const provision = wanted ? this.provisioning(m, plan, vm, wanted, zone) : undefined;
      this.hosts.set(plan.name, { plan, userData, vm, firewall, ...(provision ? { provision } : {}) });
    }

    const hosts = [...this.hosts.values()];
    this.output("addresses", Object.fromEntries(hosts.map((h) => [h.plan.name, h.plan.ip])), "IPv4 address per host");
    this.output("vm_ids", Object.fromEntries(hosts.map((h) => [h.plan.name, h.vm.vm.vmId])), "Proxmox VM id per host");
    if (this.preparedNodes) this.output("proxmox_prepared", this.preparedNodes.ids(), "the preparation of each Proxmox node (route to MGMT, the registry's name, the lab CA), for what needs it done");
  }

  /**
   * `terraform_data.<host>-provision`: runs the stack's provisioning script ({@link PROVISION_SCRIPT})
   * where tofu runs, once the VM exists, with the host's {@link HostProvision} in its environment.
   * It runs again when the VM is replaced, when what it delivers changes, or when a variable it
   * writes or a password it sets changes (its SHA-256, never the value, is a trigger); a host that gets service account
   * tokens also at the first apply of each renewal window ({@link tokenRenewal}), which mints fresh
   * ones before the old expire, and after the release that creates their account. A MGMT host names its Proxmox node as
   * the jump host (`TE_JUMP`): the bootstrap creates it from outside the lab, where only the Proxmox
   * hosts are reachable, and the script goes direct when it can (on the runner). DMZ hosts are
   * provisioned from the runner, a client in MGMT, over the operator's SSH flow.
   */
  private provisioning(m: LabModel, plan: VmPlan, vm: LabVm, p: HostProvision, zone: "mgmt" | "dmz"): DataResource {
    const jump = zone === "mgmt" ? provisionJumpHost(m, plan) : "";
    // files first (a certificate before its key), then the secrets; each by a name of its own (a
    // variable's, or `_file<n>`, which no variable can be)
    const written = [
      ...(p.files ?? []).map((f, i) => ({ ...f, name: f.variable ?? `_file${i + 1}` })),
      ...(p.secrets ?? []).map((s) => ({ ...s, name: s.variable, content: undefined })),
    ];
    const environment: Record<string, string> = {
      TE_HOST: plan.ip!,
      TE_USER: m.spec.adminUser,
      TE_JUMP: jump,
      TE_PACKAGES: (p.packages ?? []).join(" "),
      TE_IMAGES: (p.images ?? []).join(" "),
      TE_FILES: written.map((f) => `${f.name}=${f.path}:${f.mode}:${f.owner}`).join(" "),
      TE_START: (p.start ?? []).join(" "),
    };
    const delivers = { ...environment, ...Object.fromEntries(written.filter((f) => f.content !== undefined).map((f) => [provisionFileEnv(f.name), f.content!])) };
    for (const f of written) environment[provisionFileEnv(f.name)] = f.content ?? varRef(f.variable!);
    // Passwords: `user:password` on the SSH session's standard input to chpasswd, after the files.
    const passwords = p.passwords ?? [];
    if (passwords.length) {
      environment.TE_PASSWORDS = passwords.map((pw) => `${pw.variable}=${pw.user}`).join(" ");
      delivers.TE_PASSWORDS = environment.TE_PASSWORDS;
      for (const pw of passwords) environment[provisionPasswordEnv(pw.variable)] = varRef(pw.variable);
    }
    const variables = [...new Set([...written.flatMap((f) => (f.variable !== undefined ? [f.variable] : [])), ...passwords.map((pw) => pw.variable)])];
    // Tokens: minted with the admin kubeconfig (a pipe, never a file), renewed in each new window, and
    // only once the release that creates their service account is in (a missing one fails the plan).
    const tokens = p.tokens ?? [];
    const tokenTriggers: Record<string, string> = {};
    if (tokens.length) {
      environment.TE_TOKENS = tokens.map(provisionTokenEntry).join(" ");
      environment.TE_KUBECONFIG = varRef(KUBERNETES_ADMIN_KUBECONFIG);
      delivers.TE_TOKENS = environment.TE_TOKENS;
      tokenTriggers.renewal_window = hclExpression(tokenRenewalWindow(tokenRenewal(Math.min(...tokens.map((t) => t.durationHours))).windowDays));
      tokens.forEach((t, i) => (tokenTriggers[`service_account_${i + 1}`] = varRef(KUBERNETES_SERVICE_ACCOUNTS, `${t.namespace}/${t.serviceAccount}`)));
    }
    const data = new DataResource(this.vms, `${plan.name}.provision`, {
      triggersReplace: {
        vm: vm.vm.id,
        delivers: JSON.stringify(delivers),
        ...Object.fromEntries(variables.map((v) => [`sha256_${v}`, hclExpression(`sha256(var.${v})`)])),
        ...tokenTriggers,
      },
      provisioners: [{ type: "local-exec", command: `bash ${hclExpression("path.root")}/${PROVISION_SCRIPT}`, environment }],
      // a MGMT host is reached through its Proxmox node, which needs its route to MGMT first
      dependsOn: zone === "mgmt" && this.preparedNodes ? [...this.preparedNodes.byNode.values()] : undefined,
    });
    data.overrideLogicalId(`${plan.name}-provision`);
    return data;
  }
}

/** The `mgmt` module: registry (Harbor + Image Factory) and the operator's client. */
export class MgmtZone extends UbuntuZone {
  constructor(scope: Construct, id: string, props: UbuntuZoneProps) {
    super(scope, id, "mgmt", props);
  }
}

/** The `dmz` module: the HAProxy ingress VM(s). */
export class DmzZone extends UbuntuZone {
  constructor(scope: Construct, id: string, props: UbuntuZoneProps) {
    super(scope, id, "dmz", props);
  }
}

