import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { App, Aspects, DataResource, ISynthesisSession, TerraformHclModule, TerraformOutput, TerraformVariable } from "cdktf";
import { addCustomSynthesis } from "cdktf/lib/synthesize/synthesizer";
import { Construct } from "constructs";
import { ProxmoxProvider } from "../.gen/providers/proxmox/provider";
import { HelmProvider } from "../.gen/providers/helm/provider";
import { TalosProvider } from "../.gen/providers/talos/provider";
import { LocalProvider } from "../.gen/providers/local/provider";
import { HclJsonStack } from "./stack/hcl-json-stack";
import { hclExpression } from "./stack/hcl-text";
import { stableJson } from "./render/text/stable-json";
import { renderFlowsJson } from "./render/flows/flows-json";
import { pfSenseTables } from "./render/pfsense/pfsense-rule-table";
import { FlowTable } from "./model/flows";
import { labFlows } from "./model/lab-flows";
import { LabModel, ModuleName } from "./model/lab-model";
import { buildLabModel } from "./lab/build";
import { LabVm } from "./proxmox/lab-vm";
import { labPolicyPack } from "./checks/lab-policy-pack";
import { PolicyHost } from "./checks/policy-host";
import { assertNoFindings, PolicyPack } from "./checks/policy-pack";
import { renderStackReadme } from "./render/readme/stack-readme";
import { applySteps, renderApplyStepsJson } from "./render/apply/apply-steps";
import { renderProvisionScript } from "./render/provision/provision-script";
import { CLIENT_DESKTOP_PASSWORD, clientDesktopInUse } from "./render/cloud-init/client-desktop";
import { MODULE_VARIABLES } from "./render/cloud-init/common";
import { renderGateScript } from "./render/gates/gate-script";
import { renderHandoffScript } from "./render/provision/handoff-script";
import { backendCredentialNames, HANDOFF_GUARD, HANDOFF_RESOURCE, HANDOFF_SCRIPT, runnerHandoff } from "./model/runner-handoff";
import { LabSpec, LabSpecInput } from "./input/lab-spec";
import { StateBackend } from "./state/state-backend";
import { defaultLocalStatePath, resolveBackend, ResolvedBackend } from "./model/backend";
import { proxmoxIdentityNeeds } from "./render/proxmox/proxmox-privileges";
import { PROXMOX_IDENTITY_MODULE, proxmoxIdentityModule } from "./stack/proxmox-identity";
import { validateLabSpec } from "./lab/validate";
import { EdgeZone } from "./zones/edge-zone";
import { PlatformZone } from "./zones/platform-zone";
import { moduleOutput } from "./stack/terraform-refs";
import { SrvZone } from "./zones/srv-zone";
import { FIREWALL_WAN_ADDRESS } from "./model/proxmox-prepare";
import { chartServiceAccounts, localCharts } from "./render/platform/platform-charts";
import { DmzZone, hostVariables, KUBERNETES_ADMIN_KUBECONFIG, KUBERNETES_SERVICE_ACCOUNTS, MgmtZone } from "./zones/ubuntu-zone";
import type { ServiceDescriptor } from "./model/service";
import { serviceCatalog } from "./services";
import { ZoneModule } from "./zones/zone-module";

/** Properties for a {@link TalosEnclave}. */
export interface TalosEnclaveProps {
  /** The lab; validated in the constructor. Default: the reference lab. */
  readonly spec?: LabSpecInput;
  /**
   * Name of the output folder the tree is written to, which names the default local state folder
   * (`<name>.state/` beside it). Default: the App's output folder's name (`cdktf.out`).
   */
  readonly outputName?: string;
  /**
   * Services beyond the built-in registry, client and ingress that hosts may name in `hosts[].role`,
   * each one {@link ServiceDescriptor}. Default: none.
   */
  readonly services?: readonly ServiceDescriptor[];
}

/** What a synth of a {@link TalosEnclave} rendered, for the one line the command ends with. */
export interface TalosEnclaveSummary {
  /** Child modules (`modules/<name>/main.tf.json`). */
  readonly modules: number;
  /** Resources and data sources over all child modules. */
  readonly resources: number;
  /** Reviewed sidecar files (everything but the module JSON, `cdk.tf.json` and the manifest). */
  readonly sidecarFiles: number;
}

/** Module order: edge first (bridges and pfSense), platform last (needs the cluster). */
export const MODULE_ORDER: readonly ModuleName[] = ["edge", "mgmt", "dmz", "srv", "platform"];

/**
 * The whole lab as one root stack: `cdk.tf.json` with providers, variables, module calls and outputs,
 * plus `modules/<zone>/main.tf.json` child modules and reviewed sidecar files, all written into the
 * stack's directory when the App synthesizes.
 *
 * Escape hatches: `zones.<name>` are the child modules (ordinary cdktf stacks; their resources take
 * `addOverride`), `vm(name)` finds any lab VM, `moduleCalls.<name>` are the root's module blocks.
 * The zones are the enclave's children: `Aspects.of(lab)` reaches every module's resources.
 *
 * Checks: the enclave adds {@link labPolicyPack} to itself and is the {@link PolicyHost} of its tree;
 * policy packs added to it (or inside it) record their checks while aspects run, and synthesis runs
 * them on the rendered files after every aspect, before it writes anything. A finding fails the
 * synth with a SpecError naming the construct.
 */
export class TalosEnclave extends HclJsonStack {
  /** The validated spec, with every default filled in. */
  readonly spec: LabSpec;
  /** The resolved lab the zones are built from. */
  readonly model: LabModel;
  /** The lab's flows: every firewall layer of every zone derives from this one table. */
  readonly flows: FlowTable;
  /** The child modules, one per zone; each is written to `modules/<name>/main.tf.json`. */
  readonly zones: {
    /** Bridges, pfSense and the Ubuntu cloud image. */
    readonly edge: EdgeZone;
    /** Registry and operator client. */
    readonly mgmt: MgmtZone;
    /** HAProxy ingress. */
    readonly dmz: DmzZone;
    /** Talos VMs and the Talos cluster. */
    readonly srv: SrvZone;
    /** In-cluster services installed with Helm. */
    readonly platform: PlatformZone;
  };
  /** The root stack's `module` blocks, by module name. */
  readonly moduleCalls: Readonly<Record<ModuleName, TerraformHclModule>>;
  /**
   * `terraform_data.runner-handoff`: copies the tree, the local state and every variable to the runner
   * once MGMT exists (`provision/handoff.sh`); `count` on `var.runner_handoff`, false on the runner.
   */
  readonly handoff: DataResource;
  /** The checks policy packs recorded for this lab, run at every synth ({@link TalosEnclave.files}). */
  readonly policy: PolicyHost;
  private readonly backend: ResolvedBackend;
  private readonly outputName: string;

  constructor(scope: Construct, id: string, props: TalosEnclaveProps = {}) {
    super(scope, id);
    const services = serviceCatalog(props.services);
    this.spec = validateLabSpec(props.spec ?? {}, services);
    this.model = buildLabModel(this.spec, services);
    this.flows = labFlows(this.model);
    const m = this.model;
    const s = this.spec;
    this.policy = new PolicyHost(this);
    Aspects.of(this).add(labPolicyPack());

    const outputName = props.outputName ?? basename(App.of(this).outdir);
    this.backend = resolveBackend(s, outputName);
    this.outputName = outputName;
    new StateBackend(this, "state", { backend: this.backend });

    // Module ids are the folder names under modules/ and part of every resource address. The modules
    // are the enclave's children, so Aspects.of(enclave) and enclave.node.findAll() reach their
    // resources; they are never synthesized as stacks of their own (see ZoneModule).
    const model = m;
    this.zones = {
      edge: new EdgeZone(this, "edge", { model, flows: this.flows }),
      mgmt: new MgmtZone(this, "mgmt", { model, flows: this.flows }),
      dmz: new DmzZone(this, "dmz", { model, flows: this.flows }),
      srv: new SrvZone(this, "srv", { model, flows: this.flows }),
      platform: new PlatformZone(this, "platform", { model }),
    };

    // A token is minted for a service account a platform chart creates (the plan would fail on another).
    const accounts = new Set(localCharts(m).flatMap(chartServiceAccounts));
    for (const h of m.hosts) {
      for (const t of m.services.of(h.role).provision?.({ model: m, host: h })?.tokens ?? []) {
        if (!accounts.has(`${t.namespace}/${t.serviceAccount}`)) throw new Error(`the provisioning of ${h.name} (service ${h.role}) mints a token for ${t.namespace}/${t.serviceAccount}, which no platform chart creates`);
      }
    }

    // every root variable, in order, with its type: the hand-off copies each to the runner
    const declared: { readonly name: string; readonly type: string }[] = [];
    const variable = (name: string, config: ConstructorParameters<typeof TerraformVariable>[2]) => {
      const v = new TerraformVariable(this, name, config);
      v.overrideLogicalId(name);
      declared.push({ name, type: config.type ?? "string" });
      return v;
    };
    const endpoint = variable("proxmox_endpoint", {
      type: "string",
      description: "Proxmox VE API URL, e.g. https://pve.example:8006/",
    });
    const token = variable("proxmox_api_token", {
      type: "string",
      sensitive: true,
      description: "Proxmox API token 'user@realm!id=secret'",
    });
    const sshKey = s.proxmox.sshAgent
      ? undefined
      : variable("proxmox_ssh_private_key", {
          type: "string",
          sensitive: true,
          description: "private key the provider uses to upload snippets over SSH",
        });
    const labCa = variable("lab_ca_certificate", {
      type: "string",
      description: "PEM certificate of the lab CA (public part only) that signed Harbor's and the Image Factory's certificates",
    });
    const labTlsCert = variable("lab_tls_certificate", {
      type: "string",
      description: "PEM chain of the registry's server certificate (Harbor and the Image Factory), signed by the lab CA",
    });
    const labTlsKey = variable("lab_tls_private_key", { type: "string", sensitive: true, description: "PEM private key of lab_tls_certificate" });
    const harborPassword = variable("harbor_admin_password", { type: "string", sensitive: true, description: "initial password of Harbor's admin user" });
    const factoryKey = variable("image_factory_signing_key", {
      type: "string",
      sensitive: true,
      description:
        "unencrypted PEM ECDSA P-256 private key the internal Image Factory signs its installers with (openssl ecparam -name prime256v1 -genkey -noout); its public half is talos.imageVerification.factoryPublicKey",
    });
    // pfSense takes its WAN address by DHCP: known once it is installed (its console shows it), so
    // empty until then; the mgmt module's preparation of the Proxmox nodes stops the plan while it is.
    const wanAddress = variable(FIREWALL_WAN_ADDRESS, {
      type: "string",
      default: "",
      description: "pfSense's WAN address as its console shows it after the install (DHCP): the Proxmox nodes route the MGMT subnet through it; empty until then",
      validation: [
        {
          condition: hclExpression(`var.${FIREWALL_WAN_ADDRESS} == "" || can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])[.]){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", var.${FIREWALL_WAN_ADDRESS}))`),
          errorMessage: `${FIREWALL_WAN_ADDRESS} must be an IPv4 address such as 203.0.113.7 (pfSense's WAN address, on its console), or empty before pfSense is installed.`,
        },
      ],
    });
    // the lab's cosign key signs the mirrored images on the runner (module srv's image-mirror)
    const cosign = m.imageVerification.enabled
      ? {
          key: variable("cosign_private_key", {
            type: "string",
            sensitive: true,
            description: "PEM of the lab's cosign private key (cosign generate-key-pair's cosign.key, encrypted with cosign_password); its public half is talos.imageVerification.publicKey",
          }),
          password: variable("cosign_password", { type: "string", sensitive: true, description: "password of cosign_private_key" }),
        }
      : undefined;
    // Only a lab whose client hosts have a desktop asks for its password (a CLI-only client has none).
    const desktopPassword = clientDesktopInUse(m)
      ? variable(CLIENT_DESKTOP_PASSWORD, {
          type: "string",
          sensitive: true,
          description: `password of ${s.adminUser} on the client hosts, for their desktop (xrdp over TLS); set over SSH with chpasswd, the hosts keep its hash; SSH stays key-only`,
          validation: [
            {
              condition: hclExpression(`length(var.${CLIENT_DESKTOP_PASSWORD}) >= 12 && length(regexall("[\\r\\n]", var.${CLIENT_DESKTOP_PASSWORD})) == 0`),
              errorMessage: `${CLIENT_DESKTOP_PASSWORD} needs at least 12 characters and no line break.`,
            },
          ],
        })
      : undefined;
    const adminKeys = variable("admin_ssh_public_keys", {
      type: "list(string)",
      description: `SSH public keys of ${s.adminUser} on the Ubuntu VMs`,
    });

    new ProxmoxProvider(this, "proxmox", {
      endpoint: endpoint.stringValue,
      apiToken: token.stringValue,
      insecure: s.proxmox.insecureTls,
      ssh: {
        username: s.proxmox.sshUsername,
        agent: s.proxmox.sshAgent,
        privateKey: sshKey?.stringValue,
        nodeAttribute: s.proxmox.nodes
          .filter((n) => n.sshAddress !== undefined)
          .map((n) => ({ name: n.name, address: n.sshAddress! })),
      },
    });

    // Talos nodes, the provider and the Proxmox hosts all use the internal factory, never the public one.
    new TalosProvider(this, "talos", { imageFactoryUrl: m.imageFactory.url });

    // The client configurations are written where tofu runs (module srv, local_sensitive_file).
    new LocalProvider(this, "local");

    // Helm reaches the cluster with the admin client certificate the srv module outputs (talos gives
    // the PEMs base64-encoded).
    const client = (attr: string) => hclExpression(`base64decode(module.srv.kubernetes_client_configuration.${attr})`);
    new HelmProvider(this, "helm", {
      kubernetes: {
        host: moduleOutput("srv", "kubernetes_client_configuration.host"),
        clusterCaCertificate: client("ca_certificate"),
        clientCertificate: client("client_certificate"),
        clientKey: client("client_key"),
      },
    });

    if (s.state.encryption) {
      const passphrase = variable("state_passphrase", {
        type: "string",
        sensitive: true,
        description: "passphrase of the OpenTofu state and plan encryption (16 characters or more)",
        validation: [
          { condition: hclExpression("length(var.state_passphrase) >= 16"), errorMessage: "state_passphrase needs at least 16 characters." },
        ],
      });
      this.addOverride("terraform.encryption", {
        key_provider: { pbkdf2: { state: { passphrase: passphrase.stringValue } } },
        method: { aes_gcm: { state: { keys: hclExpression("key_provider.pbkdf2.state") } } },
        state: { method: hclExpression("method.aes_gcm.state"), enforced: true },
        plan: { method: hclExpression("method.aes_gcm.state"), enforced: true },
      });
    }

    const call = (name: ModuleName, variables: Record<string, unknown>) => {
      const mod = new TerraformHclModule(this, `module-${name}`, {
        source: `./modules/${name}`,
        skipAssetCreationFromLocalModules: true,
        variables,
      });
      mod.overrideLogicalId(name);
      return mod;
    };
    const edgeBridges = moduleOutput("edge", "bridges");
    const rootValues: Record<string, unknown> = {
      bridges: edgeBridges,
      ubuntu_image_ids: moduleOutput("edge", "ubuntu_image_ids"),
      admin_ssh_public_keys: adminKeys.listValue,
      lab_ca_certificate: labCa.stringValue,
      lab_tls_certificate: labTlsCert.stringValue,
      lab_tls_private_key: labTlsKey.stringValue,
      harbor_admin_password: harborPassword.stringValue,
      image_factory_signing_key: factoryKey.stringValue,
      [FIREWALL_WAN_ADDRESS]: wanAddress.stringValue,
      ...(sshKey ? { proxmox_ssh_private_key: sshKey.stringValue } : {}),
      ...(desktopPassword ? { [CLIENT_DESKTOP_PASSWORD]: desktopPassword.stringValue } : {}),
      // a zone whose hosts get service account tokens mints them with the admin kubeconfig, once the
      // platform release that creates each account is in
      [KUBERNETES_ADMIN_KUBECONFIG]: moduleOutput("srv", "kubeconfig"),
      [KUBERNETES_SERVICE_ACCOUNTS]: moduleOutput("platform", "service_accounts"),
    };
    // Variables of added services: declared once in the root, passed to the zones whose hosts read them.
    for (const [name, v] of hostVariables(m)) {
      // the lab's own are declared above, each only where it is used
      if (name in rootValues || name in MODULE_VARIABLES) continue;
      const declared = variable(name, { type: v.type, sensitive: v.sensitive, description: v.description });
      rootValues[name] = v.type.startsWith("list(") ? declared.listValue : v.type === "number" ? declared.numberValue : declared.stringValue;
    }
    // A zone of Ubuntu hosts gets exactly the inputs it declares.
    const hostInputs = (zone: ZoneModule) => Object.fromEntries(zone.inputs.map((i) => [i.name, rootValues[i.name]]));
    this.moduleCalls = {
      edge: call("edge", {}),
      mgmt: call("mgmt", hostInputs(this.zones.mgmt)),
      dmz: call("dmz", hostInputs(this.zones.dmz)),
      srv: call("srv", {
        bridges: edgeBridges,
        lab_ca_certificate: labCa.stringValue,
        proxmox_prepared: moduleOutput("mgmt", "proxmox_prepared"),
        ...(cosign ? { cosign_private_key: cosign.key.stringValue, cosign_password: cosign.password.stringValue, harbor_admin_password: harborPassword.stringValue } : {}),
      }),
      platform: call("platform", {
        kubernetes_api_url: moduleOutput("srv", "kubernetes_api_url"),
        kubernetes_ca_certificate: moduleOutput("srv", "kubernetes_ca_certificate"),
      }),
    };

    this.handoff = this.runnerHandoff(declared);

    const output = (name: string, value: string, description: string, sensitive = false) => {
      const o = new TerraformOutput(this, `output-${name}`, { value, description, sensitive });
      o.overrideLogicalId(name);
    };
    output("firewall_vm_id", moduleOutput("edge", "firewall_vm_id"), "Proxmox VM id of pfSense");
    output("mgmt_addresses", moduleOutput("mgmt", "addresses"), "MGMT hosts");
    output("dmz_addresses", moduleOutput("dmz", "addresses"), "DMZ hosts");
    output("control_plane_addresses", moduleOutput("srv", "control_plane_addresses"), "Talos control planes");
    output("worker_addresses", moduleOutput("srv", "worker_addresses"), "Talos workers");
    output("kubernetes_api_url", moduleOutput("srv", "kubernetes_api_url"), "Kubernetes API through the VIP");
    output("talos_installer_image", moduleOutput("srv", "installer_image"), "installer image the Talos nodes use");
    output("talos_schematic_id", moduleOutput("srv", "schematic_id"), "Image Factory schematic of the Talos images");
    output("talosconfig", moduleOutput("srv", "talosconfig"), `talosctl configuration, also written on the runner at ${s.apply.talosconfigPath} (mode 0600)`, true);
    output("kubeconfig", moduleOutput("srv", "kubeconfig"), `admin kubeconfig, also written on the runner at ${s.apply.kubeconfigPath} (mode 0600)`, true);

    addCustomSynthesis(this, { onSynthesize: (session) => this.writeModulesAndSidecars(session) });
  }

  /**
   * `terraform_data.runner-handoff` in the root module: after module.mgmt, it runs the stack's
   * {@link HANDOFF_SCRIPT} where tofu runs (outside the lab, `tofu apply
   * -target=terraform_data.runner-handoff` once `tofu apply -target=module.mgmt` has finished), with
   * every root variable in its environment (`TE_VAR_<name>`; a list as JSON, which tofu reads back as
   * HCL from `TF_VAR_<name>`), never in its command line. Its triggers are the runner VM's id and a
   * SHA-256 of what it hands over, never a value. `count = var.runner_handoff ? 1 : 0`: the runner's
   * `tofu.env` sets it false, so tofu there never plans it (the state it copies lacks it).
   */
  private runnerHandoff(declared: readonly { readonly name: string; readonly type: string }[]): DataResource {
    const m = this.model;
    const { runner, jump } = runnerHandoff(m);
    const guard = new TerraformVariable(this, HANDOFF_GUARD, {
      type: "bool",
      default: true,
      description: "whether this apply hands the stack to the runner (outside the lab, once MGMT exists); the runner's ~/secrets/tofu.env sets it false",
    });
    guard.overrideLogicalId(HANDOFF_GUARD);
    const value = (v: { name: string; type: string }) => hclExpression(["string", "number", "bool"].includes(v.type) ? `var.${v.name}` : `jsonencode(var.${v.name})`);
    const settings: Record<string, string> = {
      TE_HANDOFF_HOST: runner.ip!,
      TE_HANDOFF_USER: m.spec.adminUser,
      TE_HANDOFF_JUMP: jump,
      TE_HANDOFF_STACK: `${this.outputName}/stacks/${this.node.id}`,
      TE_HANDOFF_STATE: this.backend.type === "local" ? this.backend.path : "",
      TE_HANDOFF_VARIABLES: declared.map((v) => v.name).join(" "),
      TE_HANDOFF_BACKEND: backendCredentialNames(this.backend.type).join(" "),
      TE_HANDOFF_GUARD: HANDOFF_GUARD,
      TE_HANDOFF_SSH_KEY: m.spec.proxmox.sshAgent ? "" : "proxmox_ssh_private_key",
    };
    // what is handed over, as a hash: the settings' at synth, the values' at plan (never a value)
    const settingsHash = createHash("sha256").update(JSON.stringify(settings)).digest("hex");
    const inputs = `sha256(jsonencode(["${settingsHash}", ${declared.map((v) => `var.${v.name}`).join(", ")}]))`;
    const data = new DataResource(this, HANDOFF_RESOURCE, {
      triggersReplace: { runner_vm: hclExpression(`module.mgmt.vm_ids[${JSON.stringify(runner.name)}]`), inputs: hclExpression(inputs) },
      provisioners: [
        {
          type: "local-exec",
          command: `bash ${hclExpression("path.root")}/${HANDOFF_SCRIPT}`,
          environment: { ...settings, ...Object.fromEntries(declared.map((v) => [`TE_VAR_${v.name}`, value(v)])) },
        },
      ],
      dependsOn: [this.moduleCalls.mgmt],
    });
    data.addOverride("count", hclExpression(`var.${HANDOFF_GUARD} ? 1 : 0`));
    data.overrideLogicalId(HANDOFF_RESOURCE);
    return data;
  }

  /** The lab VM with this name, in whichever module owns it. */
  vm(name: string): LabVm {
    const z = this.zones;
    const found =
      (z.edge.firewall.node.id === name ? z.edge.firewall : undefined) ??
      z.mgmt.hosts.get(name)?.vm ??
      z.dmz.hosts.get(name)?.vm ??
      z.srv.nodes.get(name);
    if (!found) throw new Error(`no VM named ${name} in lab ${this.model.name}`);
    return found;
  }

  /**
   * Every file the stack writes besides cdk.tf.json, by path relative to the stack directory, checked
   * by the policy packs: the ones recorded while aspects ran (at synth), and the packs added to the
   * enclave itself even when no synth invoked them (the lab's pack, at least).
   *
   * @throws SpecError with one line per finding of a policy rule ({@link PolicyPack}), e.g. a broken
   *   separation invariant ({@link separationViolations}), a pfSense file pfSense would refuse or a
   *   Talos config Talos would refuse
   */
  files(): Map<string, string> {
    const files = this.renderFiles();
    // packs on the enclave record what they check as they would when aspects run (once per rule and construct)
    const own = Aspects.of(this).all.filter((a): a is PolicyPack => a instanceof PolicyPack);
    if (own.length) for (const node of this.node.findAll()) for (const pack of own) pack.visit(node);
    assertNoFindings(this.policy.run({ host: this, model: this.model, files }));
    return files;
  }

  /** Every file the stack writes besides cdk.tf.json, unchecked. */
  private renderFiles(): Map<string, string> {
    const files = new Map<string, string>();
    const put = (path: string, content: string) => {
      if (files.has(path)) throw new Error(`two writers for ${path}`);
      files.set(path, content);
    };
    let resources = 0;
    const written: Record<string, Record<string, unknown>> = {};
    for (const name of MODULE_ORDER) {
      const zone = this.zones[name];
      const json = zone.toModuleJson();
      written[name] = json;
      for (const kind of ["resource", "data"] as const) {
        for (const byName of Object.values((json[kind] ?? {}) as Record<string, object>)) resources += Object.keys(byName).length;
      }
      put(`modules/${name}/main.tf.json`, stableJson(json));
      for (const [path, content] of zone.sidecars) put(path, content);
    }
    // the script the hosts' provisioning runs (one for every host; its inputs come from the environment)
    if ([this.zones.mgmt, this.zones.dmz].some((z) => [...z.hosts.values()].some((h) => h.provision))) {
      const script = renderProvisionScript();
      put(script.path, script.content);
    }
    // the script the hand-off to the runner runs
    const handoff = renderHandoffScript();
    put(handoff.path, handoff.content);
    // the script the gates run (Harbor before the Talos VMs, the API VIP before the Helm releases)
    const gates = renderGateScript();
    put(gates.path, gates.content);
    // tofu's least-privilege Proxmox identity, from the types the written modules use (after every
    // escape hatch and aspect): an administrator applies it once, before the first lab apply
    put(
      PROXMOX_IDENTITY_MODULE,
      stableJson(
        proxmoxIdentityModule({
          labName: this.model.name,
          needs: proxmoxIdentityNeeds(written),
          insecureTls: this.spec.proxmox.insecureTls,
          statePath: this.identityStatePath(),
          encryption: this.spec.state.encryption,
        }),
      ),
    );
    const steps = applySteps(this.model, this.flows);
    put("apply-steps.json", renderApplyStepsJson(steps));
    put("README.md", renderStackReadme(this.model, MODULE_ORDER, steps));
    put("flows.json", renderFlowsJson(this.flows, pfSenseTables(this.flows)));
    this.rendered = { modules: MODULE_ORDER.length, resources, sidecarFiles: files.size - MODULE_ORDER.length - 1 };
    return files;
  }

  private rendered?: TalosEnclaveSummary;

  /**
   * The bootstrap's local state, relative to its folder (`bootstrap/proxmox-identity/`): beside the
   * lab's local state as `proxmox-identity.tfstate`, or beside the default local state when the lab's
   * state is remote. Outside the tree, like the lab's: it holds the token's secret.
   */
  private identityStatePath(): string {
    const labState = this.backend.type === "local" ? this.backend.path : defaultLocalStatePath(this.model.name, this.outputName);
    const dir = labState.includes("/") ? labState.slice(0, labState.lastIndexOf("/")) : ".";
    return dir.startsWith("/") ? `${dir}/proxmox-identity.tfstate` : `../../${dir}/proxmox-identity.tfstate`;
  }

  /** What the last synth of this stack rendered; undefined before the App synthesized. */
  get summary(): TalosEnclaveSummary | undefined {
    return this.rendered;
  }

  private writeModulesAndSidecars(session: ISynthesisSession): void {
    // cdktf 0.21 starts aspects at each stack, never at the App: a check or a tag added there would be
    // skipped without a word, so a synth with one fails instead.
    const appAspects = Aspects.of(App.of(this)).all.length;
    if (appAspects > 0) {
      throw new Error(
        `${appAspects} aspect(s) were added to the App, which cdktf never runs: add them to the lab instead (Aspects.of(lab).add(...)), where they reach every module`,
      );
    }
    const dir = join(session.outdir, session.manifest.forStack(this).workingDirectory);
    for (const [path, content] of [...this.files()].sort(([a], [b]) => a.localeCompare(b))) {
      const target = join(dir, path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, content);
    }
  }
}
