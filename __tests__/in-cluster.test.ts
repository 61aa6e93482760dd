import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { INGRESS_CONTROLLER_API } from "../constructs/render/platform/ingress-controller-api";
import { platformChartFiles } from "../constructs/render/platform/platform-charts";
import { buildLabModel } from "../constructs/lab/build";
import { loadLabSpec } from "../constructs/lab/load";
import { LabSpecInput } from "../constructs/input/lab-spec";
import { validateLabSpec } from "../constructs/lab/validate";
import { findSchemaDir, SCHEMA_DIR_MISSING } from "../providers/schema-dir";
import { loadK8sSchemas, manifests } from "./support/k8s-schemas";
import { PROJECT_ROOT, readTree } from "./support/tree";

/**
 * The in-cluster half against the real schemas in ../shared/schemas/k8s: every manifest of the local
 * charts against the Kubernetes 1.36 API (strict) or the Calico 3.31 CRDs, the tigera-operator values
 * against the chart's own values.yaml and the Installation CRD. Each check is shown failing on a
 * planted mistake.
 */

const schemaDir = findSchemaDir(PROJECT_ROOT);
const skip = !schemaDir ? SCHEMA_DIR_MISSING : undefined;
if (skip) console.warn(`in-cluster schemas: skipped — ${skip}`);

const GOLDEN = join(PROJECT_ROOT, "examples", "reference-lab", "stacks", "talos-lab");
const labs: [string, LabSpecInput][] = [["the reference lab", {}], ...["lab.yaml", "single-control-plane.yaml"].map((f): [string, LabSpecInput] => [f, loadLabSpec(join(PROJECT_ROOT, "examples", f))])];
const files = (spec: LabSpecInput) => platformChartFiles(buildLabModel(validateLabSpec(spec)));

describe.skipIf(!!skip)("the platform's manifests and values conform to the real schemas", () => {
  const schemas = schemaDir ? loadK8sSchemas(schemaDir) : undefined!;

  it.each(labs)("%s: every chart manifest", (_, spec) => {
    const docs = manifests(files(spec));
    expect(docs.length).toBeGreaterThan(10);
    expect(docs.map(({ file, doc }) => `${file} ${doc.kind}: ${schemas.check(doc)}`).filter((l) => !l.endsWith(": "))).toEqual([]);
  });

  it.each(labs)("%s: the tigera-operator values", (_, spec) => {
    const values = parse(files(spec).get("charts/values/tigera-operator.yaml")!);
    expect(schemas.checkOperatorValues(values)).toEqual([]);
  });

  it("catches a misspelled field, an unknown Calico field and a value the chart does not read", () => {
    expect(schemas.check({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" }, spec: { replica: 2 } })).toContain("must NOT have additional properties");
    expect(schemas.check({ apiVersion: "crd.projectcalico.org/v1", kind: "BGPConfiguration", metadata: { name: "default" }, spec: { asNumbr: 64512 } })).toContain("must NOT have additional properties");
    expect(schemas.check({ apiVersion: "crd.projectcalico.org/v1", kind: "BGPPeer", metadata: { name: "x" }, spec: { asNumber: "many" } })).not.toBe("");
    // where the 3.30 chart read it: the 3.31 chart ignores a top-level kubeletVolumePluginPath
    expect(schemas.checkOperatorValues({ kubeletVolumePluginPath: "None", installation: {} })).toEqual(["kubeletVolumePluginPath is not a value of the tigera-operator chart"]);
    expect(schemas.checkOperatorValues({ installation: { calicoNetwork: { linuxDataplane: "Nftable" } } })[0]).toContain("must be equal to one of the allowed values");
  });
});

describe("the ingress controller's access", () => {
  const role = manifests(readTree(GOLDEN)).find(({ doc }) => doc.kind === "ClusterRole")!.doc as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };

  it("grants exactly what the controller's source uses, no more", () => {
    const granted = role.rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`)))).sort();
    const used = INGRESS_CONTROLLER_API.flatMap((u) => u.resources.flatMap((res) => u.verbs.map((v) => `${u.group}/${res}:${v}`))).sort();
    expect(granted).toEqual(used);
    // among them the CRD watch the controller waits on before its first sync
    expect(granted).toContain("apiextensions.k8s.io/customresourcedefinitions:watch");
    expect(granted.some((g) => g.includes("*") || g.endsWith(":create") || g.endsWith(":delete"))).toBe(false);
  });
});

describe("versions and data plane", () => {
  it("pins Kubernetes and matches Calico's data plane to Talos's kube-proxy (nftables)", () => {
    const spec = validateLabSpec({});
    expect(spec.talos.kubernetesVersion).toBe("v1.36.3");
    const values = parse(files({}).get("charts/values/tigera-operator.yaml")!);
    expect(values.installation.calicoNetwork.linuxDataplane).toBe("Nftables");
    expect(values.installation.kubeletVolumePluginPath).toBe("None");
    expect(values.kubeletVolumePluginPath).toBeUndefined();
  });
});
