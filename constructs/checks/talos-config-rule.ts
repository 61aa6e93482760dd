import { IConstruct } from "constructs";
import { loadAll } from "js-yaml";
import { talosConfigProblems } from "../policy/talos-config-checks";
import type { TalosDocument } from "../render/talos/machine-documents";
import { TALOS_FILES } from "../render/talos/talos-patch-files";
import { PolicyContext, PolicyFinding, PolicyRule } from "./policy-pack";
import { SrvZone } from "../zones/srv-zone";

/**
 * Talos accepts the machine config of every node of the srv zone: the patch documents that make it
 * up (`talos/all-nodes.yaml`, the role's, the node's own, in merge order) as synthesis renders them,
 * checked with {@link talosConfigProblems} for what Talos's own validation refuses and its schema
 * cannot say. Applies to each {@link SrvZone}; a problem in a node's own file names the node's VM, one
 * in a shared file the zone.
 */
export const TALOS_CONFIG_RULE: PolicyRule = {
  id: "lab-talos-config",
  description: "Talos accepts every node's machine config (the srv zone's patch documents)",
  appliesTo: (c: IConstruct) => c instanceof SrvZone,
  check(c: IConstruct, context: PolicyContext): PolicyFinding[] {
    const zone = c as SrvZone;
    const findings: PolicyFinding[] = [];
    const seen = new Set<string>();
    const add = (construct: IConstruct, subject: string, message: string) => {
      const key = `${construct.node.path}\u0000${subject}\u0000${message}`;
      if (seen.has(key)) return;
      seen.add(key);
      findings.push({ construct, subject, message });
    };
    // each shared file is read once, however many nodes merge it
    const read = new Map<string, TalosDocument[] | undefined>();
    const documents = (path: string, owner: IConstruct): TalosDocument[] | undefined => {
      if (read.has(path)) return read.get(path);
      const text = context.files.get(path) ?? zone.sidecars.get(path);
      let docs: TalosDocument[] | undefined;
      if (text === undefined) add(owner, path, "missing: every node's machine config merges it");
      else {
        try {
          docs = (loadAll(text) as unknown[]).filter((d): d is TalosDocument => d !== null && typeof d === "object" && !Array.isArray(d));
        } catch (e) {
          add(owner, path, `cannot be read as YAML (${(e as Error).message.split("\n")[0]})`);
        }
      }
      read.set(path, docs);
      return docs;
    };
    const controlPlanes = new Set(context.model.controlPlanes.map((n) => n.name));
    for (const [name, vm] of zone.nodes) {
      const role = controlPlanes.has(name) ? "controlplane" : "worker";
      const paths = [TALOS_FILES.allNodes, TALOS_FILES.role(role), TALOS_FILES.node(name)];
      const docs = new Map<string, TalosDocument[]>();
      for (const p of paths) docs.set(p, documents(p, p === TALOS_FILES.node(name) ? vm : zone) ?? []);
      for (const problem of talosConfigProblems(docs)) {
        add(problem.file === TALOS_FILES.node(name) ? vm : zone, problem.file, problem.message);
      }
    }
    return findings;
  },
};
