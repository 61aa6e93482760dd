import { DataResource, Token } from "cdktf";
import { Construct } from "constructs";
import { ClusterKubeconfig } from "../../.gen/providers/talos/cluster-kubeconfig";
import { DataTalosClientConfiguration } from "../../.gen/providers/talos/data-talos-client-configuration";
import { DataTalosMachineConfiguration } from "../../.gen/providers/talos/data-talos-machine-configuration";
import { MachineBootstrap } from "../../.gen/providers/talos/machine-bootstrap";
import { MachineConfigurationApply } from "../../.gen/providers/talos/machine-configuration-apply";
import { MachineSecrets } from "../../.gen/providers/talos/machine-secrets";
import { LabModel } from "../model/lab-model";
import { LabVm } from "../proxmox/lab-vm";
import { hclExpression } from "../stack/hcl-text";
import { sidecarFile } from "../stack/terraform-refs";
import { TALOS_FILES } from "../render/talos/talos-patch-files";

/** Properties for a {@link TalosCluster}. */
export interface TalosClusterProps {
  /** The resolved lab. */
  readonly model: LabModel;
  /** The Talos VMs by name; each node's config apply waits for its VM. */
  readonly vms: ReadonlyMap<string, LabVm>;
  /** HCL expression (no `${}` around it) giving the lab CA certificate PEM, e.g. `var.lab_ca_certificate`. */
  readonly caCertificateExpression: string;
}



/**
 * The Talos side of the srv module: secrets, one machine configuration per
 * role built from the reviewed patch files, one apply per node (its own address as endpoint), bootstrap
 * on the first control plane, and the kubeconfig and talosconfig.
 *
 * Escape hatches: `applies.get(name)`, `configs.controlplane|worker`, `secrets`, `bootstrap`.
 */
export class TalosCluster extends Construct {
  /** The cluster's machine secrets (`talos_machine_secrets.lab`). */
  readonly secrets: MachineSecrets;
  /**
   * The system-disk encryption the nodes were installed with (`terraform_data.disk_encryption`,
   * `input.mode`), frozen at creation like the secrets' contract: the configurations refuse a
   * `talos.diskEncryption` that differs, since Talos never re-encrypts a running node.
   */
  readonly diskEncryptionRecord: DataResource;
  /** The machine configuration per role, built from the shared, role and registry TLS patches. */
  readonly configs: { readonly controlplane: DataTalosMachineConfiguration; readonly worker: DataTalosMachineConfiguration };
  /** The configuration apply per node, by node name. */
  readonly applies = new Map<string, MachineConfigurationApply>();
  /** The etcd bootstrap on the first control plane. */
  readonly bootstrap: MachineBootstrap;
  /** The admin kubeconfig, read after the bootstrap. */
  readonly kubeconfig: ClusterKubeconfig;
  /** The talosctl configuration, with the node addresses as endpoints. */
  readonly clientConfiguration: DataTalosClientConfiguration;

  constructor(scope: Construct, id: string, props: TalosClusterProps) {
    super(scope, id);
    const m = props.model;
    const t = m.spec.talos;

    const contract = m.machineConfigContract;
    this.secrets = new MachineSecrets(this, "secrets", {
      // Frozen at creation (ignore_changes below): the state remembers the contract the cluster was
      // created with, which the configurations check against.
      talosVersion: contract.minor,
      // A version bump must not look like a change of the cluster's secrets.
      lifecycle: { ignoreChanges: ["talos_version"] },
    });
    this.secrets.overrideLogicalId("lab");
    // Frozen at creation (ignore_changes): the state remembers how the nodes' STATE and EPHEMERAL
    // were encrypted when Talos formatted them, which the configurations check against.
    this.diskEncryptionRecord = new DataResource(this, "disk-encryption", {
      input: { mode: m.diskEncryption },
      lifecycle: { ignoreChanges: ["input"] },
    });
    this.diskEncryptionRecord.overrideLogicalId("disk_encryption");
    const installed = hclExpression("terraform_data.disk_encryption.input.mode");
    const encryptionGuard = {
      condition: hclExpression(`terraform_data.disk_encryption.input.mode == "${m.diskEncryption}"`),
      error_message:
        `The cluster's nodes were installed with talos.diskEncryption ${installed}, but the spec now says ${m.diskEncryption}. ` +
        `Talos encrypts STATE and EPHEMERAL only when it formats them and never re-encrypts a running node: new keys would leave it unable to unlock STATE. ` +
        `Set talos.diskEncryption back to ${installed}; to change it on purpose, reinstall the nodes ` +
        `(talosctl reset --graceful=false --reboot --system-labels-to-wipe STATE --system-labels-to-wipe EPHEMERAL on every node; etcd goes with STATE), ` +
        `then apply with -replace=module.srv.terraform_data.disk_encryption -replace=module.srv.talos_machine_bootstrap.lab so the state records ${m.diskEncryption} and etcd is bootstrapped again (UPGRADE.md, "Changing the system-disk encryption", has the steps).`,
    };
    // Whole-object references: the bindings type these nested objects field by field and take no
    // token for them, but `talos_machine_secrets.lab.<attr>` is exactly the object each input wants
    // (typed `never` so it fits whichever struct the binding declares).
    const secretsRef = (attr: string) => Token.asAny(hclExpression(`talos_machine_secrets.lab.${attr}`)) as never;

    const registryTls = hclExpression(`templatefile("\${path.root}/${TALOS_FILES.registryTls}", { ca = ${props.caCertificateExpression} })`);
    const config = (role: "controlplane" | "worker") => {
      const c = new DataTalosMachineConfiguration(this, `config-${role}`, {
        clusterName: t.clusterName,
        clusterEndpoint: m.kubernetesApi.url,
        machineType: role,
        machineSecrets: secretsRef("machine_secrets"),
        // The contract, not the running version: a version bump must not push a newer minor's keys
        // to nodes whose configuration was made for the older one.
        talosVersion: contract.minor,
        kubernetesVersion: t.kubernetesVersion,
        configPatches: [sidecarFile(TALOS_FILES.allNodes), registryTls, sidecarFile(TALOS_FILES.role(role))],
        docs: false,
        examples: false,
      });
      c.overrideLogicalId(role);
      // The state remembers the contract the cluster was created with (the secrets' talos_version,
      // frozen by ignore_changes). Unpinned, the contract follows talos.version and must still be that
      // one; pinned, it may move forward on purpose but never back below it.
      const created = hclExpression("talos_machine_secrets.lab.talos_version");
      const createdMinor = `tonumber(split(".", talos_machine_secrets.lab.talos_version)[1])`;
      const minor = Number(contract.minor.split(".")[1]);
      c.addOverride("lifecycle.precondition", [
        contract.pinned
          ? {
              condition: hclExpression(`${createdMinor} <= ${minor}`),
              error_message: `talos.configContract ${contract.minor} is older than the contract the cluster was created with (${created}): a machine configuration cannot move back to an older config model. Set talos.configContract to ${created} or newer.`,
            }
          : {
              // by the minor number: the provider reads "v1.13", "1.13" and "v1.13.9" alike (contract.go)
              condition: hclExpression(`${createdMinor} == ${minor}`),
              error_message: `The cluster's machine-config contract was created as ${created}, but talos.version ${t.version} would make it ${contract.minor}. Pin talos.configContract in the lab spec to the contract the nodes run (${created}, or the newer one you moved them to on purpose); to move it, set it to ${contract.minor}.`,
            },
        encryptionGuard,
      ]);
      return c;
    };
    this.configs = { controlplane: config("controlplane"), worker: config("worker") };

    for (const node of [...m.controlPlanes, ...m.workers]) {
      const cp = node.role === "controlplane";
      const apply = new MachineConfigurationApply(this, `apply-${node.name}`, {
        nodeAttribute: node.ip,
        endpoint: node.ip,
        clientConfiguration: secretsRef("client_configuration"),
        machineConfigurationInput: (cp ? this.configs.controlplane : this.configs.worker).machineConfiguration,
        configPatches: [sidecarFile(TALOS_FILES.node(node.name))],
        // Workers leave the cluster cleanly (cordon, drain, leave) and are wiped before their VM goes.
        // Control planes are not reset from terraform: a graceful reset of the last one blocks a lab
        // teardown, so removing one is an operator step (talosctl etcd leave) documented in UPGRADE.md.
        onDestroy: cp ? { graceful: false, reset: false, reboot: false } : { graceful: true, reset: true, reboot: false },
        dependsOn: [props.vms.get(node.name)!.vm],
      });
      apply.overrideLogicalId(node.name);
      this.applies.set(node.name, apply);
    }

    const first = m.controlPlanes[0];
    this.bootstrap = new MachineBootstrap(this, "bootstrap", {
      nodeAttribute: first.ip,
      endpoint: first.ip,
      clientConfiguration: secretsRef("client_configuration"),
      dependsOn: [this.applies.get(first.name)!],
    });
    this.bootstrap.overrideLogicalId("lab");

    this.kubeconfig = new ClusterKubeconfig(this, "kubeconfig", {
      nodeAttribute: first.ip,
      endpoint: first.ip,
      clientConfiguration: secretsRef("client_configuration"),
      dependsOn: [this.bootstrap],
    });
    this.kubeconfig.overrideLogicalId("lab");

    // talosctl talks to node addresses, never the VIP (the VIP needs a healthy etcd to exist).
    this.clientConfiguration = new DataTalosClientConfiguration(this, "client-configuration", {
      clusterName: t.clusterName,
      clientConfiguration: secretsRef("client_configuration"),
      endpoints: m.controlPlanes.map((n) => n.ip),
      nodes: [...m.controlPlanes, ...m.workers].map((n) => n.ip),
    });
    this.clientConfiguration.overrideLogicalId("lab");
  }
}
