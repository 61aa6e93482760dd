import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv, { ValidateFunction } from "ajv";
import { parse, parseAllDocuments } from "yaml";

/**
 * Validators for what the platform layer installs, from the schemas in ../shared/schemas/k8s: the
 * Kubernetes 1.36 API as strict JSON Schema (unknown fields are errors), the Calico v3.31 CRDs and the
 * operator's Installation CRD (made strict the way `kubectl --validate=strict` reads a structural
 * schema: an object that lists its properties accepts no others unless it preserves unknown fields),
 * and the tigera-operator chart's values.yaml (the keys the chart has).
 */
export interface K8sSchemas {
  /** Problems of one manifest ("" when valid), found by its apiVersion and kind. */
  check(doc: Record<string, unknown>): string;
  /** Problems of tigera-operator values: keys the chart lacks, and `installation` against the Installation spec. */
  checkOperatorValues(values: Record<string, unknown>): string[];
}

type Json = Record<string, unknown>;

/** `crd.projectcalico.org/v1` → the Kubernetes definition prefix; core `v1` → `io.k8s.api.core.v1`. */
function k8sDefinition(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const short = group === "" ? "core" : group.split(".")[0];
  return `io.k8s.api.${short}.${version}.${kind}`;
}

function strict(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strict);
  if (schema === null || typeof schema !== "object") return schema;
  const s = Object.fromEntries(Object.entries(schema as Json).map(([k, v]) => [k, k === "enum" || k === "example" || k === "default" ? v : strict(v)]));
  if (s.type === "object" && s.properties && s.additionalProperties === undefined && !s["x-kubernetes-preserve-unknown-fields"]) s.additionalProperties = false;
  return s;
}

/** Every key path of a values tree (`a.b.c`), leaves and objects alike. */
function keyPaths(v: unknown, at = ""): string[] {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return [];
  return Object.entries(v as Json).flatMap(([k, x]) => [`${at}${k}`, ...keyPaths(x, `${at}${k}.`)]);
}

/**
 * CRD patterns are Go (RE2) regular expressions: an inline `(?i)` makes one case-insensitive, which
 * JavaScript writes as a flag.
 */
function goRegExp(pattern: string, flags: string): RegExp {
  return pattern.includes("(?i)") ? new RegExp(pattern.replace(/\(\?i\)/g, ""), `${flags}i`) : new RegExp(pattern, flags);
}
goRegExp.code = "goRegExp";

export function loadK8sSchemas(schemaDir: string): K8sSchemas {
  const dir = join(schemaDir, "k8s");
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, code: { regExp: goRegExp } });
  const api = JSON.parse(readFileSync(join(dir, "kubernetes-1.36.0.schema.json"), "utf8")) as { definitions: Json };
  ajv.addSchema({ ...api, $id: "k8s" });
  const crds = new Map<string, ValidateFunction>();
  let installationSpec: ValidateFunction | undefined;
  for (const file of readdirSync(join(dir, "calico-v3.31.0")).filter((f) => f.endsWith(".yaml"))) {
    const crd = parse(readFileSync(join(dir, "calico-v3.31.0", file), "utf8")) as {
      spec: { group: string; names: { kind: string }; versions: { name: string; schema: { openAPIV3Schema: Json } }[] };
    };
    for (const v of crd.spec.versions) {
      const schema = strict(v.schema.openAPIV3Schema) as Json;
      crds.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, ajv.compile(schema));
      if (crd.spec.names.kind === "Installation") installationSpec = ajv.compile((schema.properties as Json).spec as Json);
    }
  }
  const values = parse(readFileSync(join(dir, "tigera-operator-v3.31.0", "values.yaml"), "utf8")) as Json;
  const chartKeys = new Set(keyPaths(values));
  return {
    check(doc) {
      const apiVersion = String(doc.apiVersion ?? "");
      const kind = String(doc.kind ?? "");
      const crd = crds.get(`${apiVersion}/${kind}`);
      if (crd) return crd(doc) ? "" : ajv.errorsText(crd.errors, { dataVar: kind });
      const ref = `k8s#/definitions/${k8sDefinition(apiVersion, kind)}`;
      const validate = ajv.getSchema(ref);
      if (!validate) return `no schema for ${apiVersion} ${kind}`;
      return validate(doc) ? "" : ajv.errorsText(validate.errors, { dataVar: kind });
    },
    checkOperatorValues(v) {
      const problems: string[] = [];
      for (const path of keyPaths(v)) {
        if (path.startsWith("installation.")) continue;
        if (!chartKeys.has(path)) problems.push(`${path} is not a value of the tigera-operator chart`);
      }
      const installation = { ...((v.installation as Json | undefined) ?? {}) };
      delete installation.enabled;
      if (installationSpec && !installationSpec(installation)) problems.push(ajv.errorsText(installationSpec.errors, { dataVar: "installation" }));
      return problems;
    },
  };
}

/** The manifests of a chart's template files, one per YAML document. */
export function manifests(files: ReadonlyMap<string, string>): { file: string; doc: Json }[] {
  return [...files]
    .filter(([p]) => /^charts\/[^/]+\/templates\/.*\.yaml$/.test(p))
    .flatMap(([file, text]) => parseAllDocuments(text).map((d) => ({ file, doc: d.toJSON() as Json })));
}
