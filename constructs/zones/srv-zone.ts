import { DataResource, dependable, TerraformLocal } from "cdktf";
import { Construct } from "constructs";
import { LocalProvider } from "../../.gen/providers/local/provider";
import { SensitiveFile } from "../../.gen/providers/local/sensitive-file";
import { ProxmoxProvider } from "../../.gen/providers/proxmox/provider";
import { TalosProvider } from "../../.gen/providers/talos/provider";
import { FlowTable } from "../model/flows";
import { labFlows } from "../model/lab-flows";
import { FactorySchematic } from "../talos/factory-schematic";
import { TalosCluster } from "../talos/talos-cluster";
import { talosPatchFiles } from "../render/talos/talos-patch-files";
import { REGISTRY_PATHS } from "../render/cloud-init/registry";
import { renderUpgradeGuide } from "../render/talos/upgrade-guide";
import { renderUpgradeScript } from "../render/talos/upgrade-script";
import { MIRROR_SCRIPT, renderMirrorScript } from "../render/talos/mirror-script";
import { VirtualEnvironmentPool } from "../../.gen/providers/proxmox/virtual-environment-pool";
import { LabModel } from "../model/lab-model";
import { proxmoxFirewall } from "../render/proxmox/proxmox-firewall-rules";
import { LabVm } from "../proxmox/lab-vm";
import { VmFirewall } from "../proxmox/vm-firewall";
import { NodeImages } from "../proxmox/node-images";
import { hclExpression } from "../stack/hcl-text";
import { varRef } from "../stack/terraform-refs";
import { serviceGate } from "../stack/service-gate";
import { labGates } from "../model/service-gates";
import { ZoneModule } from "./zone-module";

/** Properties for an {@link SrvZone}. */
export interface SrvZoneProps {
  /** The resolved lab. */
  readonly model: LabModel;
  /** The lab's flows, which its firewall rules derive from. Default: `labFlows(model)`. */
  readonly flows?: FlowTable;
}

/**
 * The `srv` module: the Talos VMs. Each Proxmox node that runs one downloads the nocloud boot ISO once
 * from the internal Image Factory (never from the internet); every VM boots it with a static address
 * through cloud-init, so Talos comes up in maintenance mode on its final address.
 *
 * The Talos cluster itself (secrets, configs from the reviewed `talos/` patches, apply, bootstrap,
 * kubeconfig) is {@link TalosCluster}.
 *
 * Before the Talos VMs are created, tofu waits until Harbor answers (`terraform_data.registry-gate`):
 * the nodes install from the Image Factory and pull every image through Harbor. Once the cluster is
 * up, the talosconfig and the admin kubeconfig are written where tofu runs (`local_sensitive_file`,
 * mode 0600 in directories made 0700) at the spec's `apply.talosconfigPath` and
 * `apply.kubeconfigPath`, outside the tree.
 *
 * Inputs: `bridges`, `lab_ca_certificate`; with `talos.imageVerification` on, the sensitive
 * `cosign_private_key`, `cosign_password` and `harbor_admin_password` of the image mirror. Outputs: `control_plane_addresses`, `worker_addresses`,
 * `kubernetes_api_url`, `kubernetes_ca_certificate`, `installer_image`, `schematic_id`, `vm_ids`, and
 * sensitive `kubeconfig`, `kubernetes_client_configuration` and `talosconfig`.
 */
export class SrvZone extends ZoneModule {
  /** The Talos nocloud boot ISO, downloaded once per node that runs a Talos VM. */
  readonly bootImages: NodeImages;
  /** The Talos VMs by name, control planes first. */
  readonly nodes = new Map<string, LabVm>();
  /** The Talos VMs' Proxmox firewalls by VM name. */
  readonly firewalls = new Map<string, VmFirewall>();
  /** The Proxmox pool `<lab>-srv` that holds the Talos VMs. */
  readonly pool: VirtualEnvironmentPool;
  /** The lab's schematic, registered with the internal Image Factory. */
  readonly schematic: FactorySchematic;
  /** Secrets, machine configurations, applies, bootstrap and client configurations of the cluster. */
  readonly talos: TalosCluster;
  /** `terraform_data.registry-gate`: waits until Harbor answers; every Talos VM depends on it. */
  readonly registryGate: DataResource;
  /**
   * `terraform_data.image-mirror` when `talos.imageVerification` is on: mirrors and signs the images
   * the cluster runs (`images/mirror-and-sign.sh`) once Harbor answers; every Talos VM depends on it.
   */
  readonly imageMirror?: DataResource;
  /** The client configurations written where tofu runs: `local_sensitive_file.talosconfig` and `.kubeconfig`. */
  readonly clientFiles: { readonly talosconfig: SensitiveFile; readonly kubeconfig: SensitiveFile };

  constructor(scope: Construct, id: string, props: SrvZoneProps) {
    super(scope, id);
    const m = props.model;
    const spec = m.spec;
    new ProxmoxProvider(this, "proxmox");
    new TalosProvider(this, "talos-provider");
    new LocalProvider(this, "local");

    this.input("bridges", { type: "map(map(string))", description: "bridge name per Proxmox node and zone (edge module)" });
    const ca = this.input("lab_ca_certificate", {
      type: "string",
      description: "PEM certificate of the lab CA that signed Harbor's and the Image Factory's certificates",
    });
    // The Proxmox nodes download the Talos ISO from the Image Factory in MGMT: only once each node
    // routes MGMT, resolves the registry's name and trusts the lab CA (mgmt module, `<node>-prepare`).
    this.input("proxmox_prepared", { type: "map(string)", description: "the preparation of each Proxmox node (mgmt module): the Talos ISO downloads wait for it" });
    const flows = props.flows ?? labFlows(m);
    for (const [path, content] of talosPatchFiles(m, flows)) this.addSidecar(path, content);
    this.addSidecar("UPGRADE.md", renderUpgradeGuide(m, REGISTRY_PATHS));
    this.addSidecar("upgrade.sh", renderUpgradeScript(m));
    if (m.imageVerification.enabled) this.addSidecar(MIRROR_SCRIPT, renderMirrorScript(m));

    this.pool = new VirtualEnvironmentPool(this, "pool", {
      poolId: `${m.name}-srv`,
      comment: `talos-enclave ${m.name}: SRV zone (Talos)`,
    });
    this.pool.overrideLogicalId("srv");

    // Talos installs from the Image Factory and pulls every image through Harbor: neither the schematic
    // (registered with the factory, which runs on Harbor) nor a VM before Harbor answers healthy.
    this.registryGate = serviceGate(this, labGates(m).registry, ca.stringValue);
    this.imageMirror = m.imageVerification.enabled ? this.mirror(this.registryGate) : undefined;
    this.schematic = new FactorySchematic(this, "schematic", { model: m });
    this.schematic.resource.dependsOn = [...(this.schematic.resource.dependsOn ?? []), dependable(this.registryGate)];
    this.bootImages = new NodeImages(this, "talos-image", {
      nodes: m.talosImageNodes,
      url: m.imageFactory.bootIsoUrl,
      fileName: m.imageFactory.bootIsoFileName,
      datastoreId: spec.proxmox.isoDatastore,
      idPrefix: "talos",
      // a module variable in depends_on orders after whatever its value references (the preparations)
      dependsOn: [this.schematic.resource, { fqn: "var.proxmox_prepared" }],
    });


    const poolId = this.pool.poolId; // one reference for every VM
    for (const plan of [...m.controlPlanes, ...m.workers]) {
      const vm = new LabVm(this.vms, plan.name, {
        plan,
        datastoreId: spec.proxmox.vmDatastore,
        bridges: plan.nics.map((n) => varRef("bridges", plan.node, n.segment)),
        cdromFileId: this.bootImages.fileId(plan.node),
        dnsServers: plan.gateway ? [plan.gateway] : undefined,
        poolId,
        // Talos upgrades itself from the installer image; a new boot ISO must not recreate the VM.
        ignoreChanges: ["cdrom"],
        secureBoot: spec.talos.secureBoot,
        // the disk encryption keys are sealed to it (validation lets "tpm" through only with SecureBoot)
        // SecureBoot VMs have a TPM 2.0; diskEncryption tpm requires SecureBoot (validation).
        tpm: spec.talos.secureBoot,
      });
      vm.vm.dependsOn = [...(vm.vm.dependsOn ?? []), dependable(this.registryGate), ...(this.imageMirror ? [dependable(this.imageMirror)] : [])];
      this.nodes.set(plan.name, vm);
      this.firewalls.set(plan.name, new VmFirewall(this.vms, `${plan.name}.firewall`, { vm, ...proxmoxFirewall(flows, plan) }));
    }

    this.talos = new TalosCluster(this, "talos", { model: m, vms: this.nodes, caCertificateExpression: `var.${ca.friendlyUniqueId}` });

    // talosctl's and kubectl's configurations where tofu runs (the runner), outside the tree. The
    // paths are literal text in a local (escaped at the emission boundary like every spec text);
    // pathexpand() gives `~` its meaning, which local_sensitive_file does not.
    const paths = new TerraformLocal(this, "client-config-paths", { talosconfig: spec.apply.talosconfigPath, kubeconfig: spec.apply.kubeconfigPath });
    paths.overrideLogicalId("client_config_paths");
    const clientFile = (name: "talosconfig" | "kubeconfig", content: string) => {
      const f = new SensitiveFile(this, `client-file-${name}`, {
        filename: hclExpression(`pathexpand(local.client_config_paths.${name})`),
        content,
        filePermission: "0600",
        directoryPermission: "0700",
      });
      f.overrideLogicalId(name);
      return f;
    };
    this.clientFiles = {
      talosconfig: clientFile("talosconfig", this.talos.clientConfiguration.talosConfig),
      kubeconfig: clientFile("kubeconfig", this.talos.kubeconfig.kubeconfigRaw),
    };

    this.output("control_plane_addresses", Object.fromEntries(m.controlPlanes.map((n) => [n.name, n.ip])), "IPv4 per control plane");
    this.output("worker_addresses", Object.fromEntries(m.workers.map((n) => [n.name, n.ip])), "IPv4 per worker");
    this.output("kubernetes_api_url", `https://${spec.talos.vip}:6443`, "Kubernetes API through the control-plane VIP");
    this.output(
      "kubernetes_ca_certificate",
      hclExpression("base64decode(talos_cluster_kubeconfig.lab.kubernetes_client_configuration.ca_certificate)"),
      "PEM of the cluster's Kubernetes CA (public), which the API VIP's certificate chains to; known once the cluster is bootstrapped",
    );
    this.output("installer_image", m.imageFactory.installerImage, "Talos installer image from the internal Image Factory");
    this.output("vm_ids", Object.fromEntries([...this.nodes].map(([n, vm]) => [n, vm.vm.vmId])), "Proxmox VM id per Talos node");
    this.output("schematic_id", this.schematic.resource.id, "Image Factory schematic of the boot and installer images");
    this.output("kubeconfig", this.talos.kubeconfig.kubeconfigRaw, "admin kubeconfig of the cluster", true);
    this.output(
      "kubernetes_client_configuration",
      hclExpression("talos_cluster_kubeconfig.lab.kubernetes_client_configuration"),
      "host, CA and client certificate for the Kubernetes API (helm provider)",
      true,
    );
    this.output("talosconfig", this.talos.clientConfiguration.talosConfig, "talosctl configuration (node addresses as endpoints)", true);
  }

  /**
   * `terraform_data.image-mirror`: runs the stack's {@link MIRROR_SCRIPT} where tofu runs (the runner,
   * which reaches the upstream registries and Harbor), after the registry gate, with the lab's cosign
   * key, its password and Harbor's admin login in its environment from the module's sensitive inputs
   * `cosign_private_key`, `cosign_password` and `harbor_admin_password`: cosign reads the key from
   * `env://COSIGN_PRIVATE_KEY` (sigstore/cosign pkg/blob/load.go `LoadFileOrURL`, which
   * pkg/signature/keys.go's `loadKey` uses for a signing key) and its password from COSIGN_PASSWORD, so
   * the key is never a file of the tree or of the runner, nor an argument. It runs again when the
   * script changes (its SHA-256: the image table, the pins and the lab's public key are in it).
   */
  private mirror(gate: DataResource): DataResource {
    const secret = (name: string, description: string) => this.input(name, { type: "string", sensitive: true, description });
    const key = secret("cosign_private_key", "PEM of the lab's cosign private key, encrypted with cosign_password");
    const password = secret("cosign_password", "password of cosign_private_key");
    const harbor = secret("harbor_admin_password", "password of Harbor's admin user, which may push to the signed-* projects");
    const data = new DataResource(this, "image-mirror", {
      triggersReplace: { script: hclExpression(`filesha256("\${path.root}/${MIRROR_SCRIPT}")`) },
      provisioners: [
        {
          type: "local-exec",
          command: `bash ${hclExpression("path.root")}/${MIRROR_SCRIPT}`,
          environment: {
            LAB_COSIGN_KEY: "env://COSIGN_PRIVATE_KEY",
            COSIGN_PRIVATE_KEY: varRef(key.friendlyUniqueId),
            COSIGN_PASSWORD: varRef(password.friendlyUniqueId),
            HARBOR_USERNAME: "admin",
            HARBOR_PASSWORD: varRef(harbor.friendlyUniqueId),
          },
        },
      ],
      dependsOn: [gate],
    });
    data.overrideLogicalId("image-mirror");
    return data;
  }
}

