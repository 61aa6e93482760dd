import { stringify } from "yaml";
import { FlowTable } from "../../model/flows";
import { LabModel, VmPlan } from "../../model/lab-model";
import { allNodesDocuments, nodeDocuments, registryTlsHosts, roleDocuments, TalosDocument } from "./machine-documents";

/** Sidecar paths of the Talos patches, relative to the stack root. */
export const TALOS_FILES = {
  schematic: "talos/schematic.yaml",
  allNodes: "talos/all-nodes.yaml",
  registryTls: "talos/registry-tls.yaml.tftpl",
  /** Patch of one role: `talos/<role>.yaml`. */
  role: (role: "controlplane" | "worker") => `talos/${role}.yaml`,
  /** Patch of one node: `talos/nodes/<name>.yaml`. */
  node: (name: string) => `talos/nodes/${name}.yaml`,
} as const;

/**
 * YAML for a list of documents. Written as YAML 1.1 so strings such as `off` stay quoted for any
 * reader (Talos's own decoder included).
 */
export function yamlDocuments(header: string, docs: readonly TalosDocument[]): string {
  const body = docs.map((d) => stringify(d, { version: "1.1", lineWidth: 0 })).join("---\n");
  return `# ${header}\n${body}`;
}

/**
 * RegistryTLSConfig documents as a Terraform template: the lab CA comes from a variable at apply
 * time and lands in a block scalar, never as a literal in the tree.
 */
export function registryTlsTemplate(m: LabModel): string {
  const docs = registryTlsHosts(m).map(
    (host) => `apiVersion: v1alpha1\nkind: RegistryTLSConfig\nname: ${host}\nca: |\n  \${indent(2, trimspace(ca))}\n`,
  );
  return `# Trust the lab CA for Harbor and the Image Factory. Filled by templatefile() with var.lab_ca_certificate.\n${docs.join("---\n")}`;
}

/**
 * The patch documents that make up one node's machine config, by file, in merge order (the
 * registry TLS template aside: its only variable part is the CA).
 */
export function nodePatchDocuments(m: LabModel, flows: FlowTable, node: VmPlan): Map<string, TalosDocument[]> {
  const role = node.role === "controlplane" ? "controlplane" : "worker";
  return new Map([
    [TALOS_FILES.allNodes, allNodesDocuments(m)],
    [TALOS_FILES.role(role), roleDocuments(m, flows, role)],
    [TALOS_FILES.node(node.name), nodeDocuments(m, flows, node)],
  ]);
}

/**
 * Every Talos sidecar file of the lab, by path. Whether Talos accepts them is checked at synth, on the
 * files as written, by the lab's policy pack (`lab-talos-config`, {@link talosConfigProblems}).
 */
export function talosPatchFiles(m: LabModel, flows: FlowTable): Map<string, string> {
  const files = new Map<string, string>();
  files.set(TALOS_FILES.schematic, m.imageFactory.schematic);
  files.set(
    TALOS_FILES.allNodes,
    yamlDocuments("Every Talos node: cluster settings, air-gapped registries, DNS and NTP from pfSense, default-deny ingress.", allNodesDocuments(m)),
  );
  files.set(TALOS_FILES.registryTls, registryTlsTemplate(m));
  files.set(
    TALOS_FILES.role("controlplane"),
    yamlDocuments("Control planes: API names and VIP, etcd subnet, ingress rules from the flow model.", roleDocuments(m, flows, "controlplane")),
  );
  files.set(TALOS_FILES.role("worker"), yamlDocuments("Workers: ingress rules from the flow model.", roleDocuments(m, flows, "worker")));
  for (const n of [...m.controlPlanes, ...m.workers]) {
    files.set(TALOS_FILES.node(n.name), yamlDocuments(`${n.name}: hostname and static address.`, nodeDocuments(m, flows, n)));
  }
  return files;
}
