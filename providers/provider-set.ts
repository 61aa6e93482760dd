/**
 * The providers the project binds, their exact versions, and the subset of each schema it uses.
 * `npm run gen` generates `.gen/` from exactly this list; keeping it short keeps compile time low.
 */
export interface BoundProvider {
  /** Local name used in `required_providers` and as the `.gen/providers/<name>` folder. */
  readonly name: string;
  /** Registry source address. */
  readonly source: string;
  /** Exact version; emitted as the `required_providers` constraint. */
  readonly version: string;
  /** Schema file name under `<schemas>/providers/`. */
  readonly schemaFile: string;
  readonly resources: readonly string[];
  readonly dataSources: readonly string[];
}

export const BOUND_PROVIDERS: readonly BoundProvider[] = [
  {
    name: "proxmox",
    source: "bpg/proxmox",
    version: "0.111.1",
    schemaFile: "bpg-proxmox-0.111.1.schema.json",
    resources: [
      "proxmox_download_file",
      "proxmox_network_linux_bridge",
      "proxmox_virtual_environment_cluster_firewall",
      "proxmox_virtual_environment_file",
      "proxmox_virtual_environment_firewall_ipset",
      "proxmox_virtual_environment_firewall_options",
      "proxmox_virtual_environment_firewall_rules",
      "proxmox_virtual_environment_pool",
      "proxmox_virtual_environment_vm",
    ],
    dataSources: [],
  },
  {
    name: "talos",
    source: "siderolabs/talos",
    version: "0.11.0",
    schemaFile: "siderolabs-talos-0.11.0.schema.json",
    resources: [
      "talos_cluster_kubeconfig",
      "talos_image_factory_schematic",
      "talos_machine_bootstrap",
      "talos_machine_configuration_apply",
      "talos_machine_secrets",
    ],
    dataSources: ["talos_client_configuration", "talos_image_factory_urls", "talos_machine_configuration"],
  },
  {
    name: "helm",
    source: "hashicorp/helm",
    version: "3.1.1",
    schemaFile: "hashicorp-helm-3.1.1.schema.json",
    resources: ["helm_release"],
    dataSources: [],
  },
  {
    // the client configurations (talosconfig, kubeconfig) written where tofu runs; the gates that
    // wait for a service are terraform_data, terraform's own, so hashicorp/null is not bound
    name: "local",
    source: "hashicorp/local",
    version: "2.6.1",
    schemaFile: "hashicorp-local-2.6.1.schema.json",
    resources: ["local_sensitive_file"],
    dataSources: [],
  },
];

export function boundProvider(name: string): BoundProvider {
  const p = BOUND_PROVIDERS.find((b) => b.name === name);
  if (!p) throw new Error(`no bound provider named ${name}`);
  return p;
}
