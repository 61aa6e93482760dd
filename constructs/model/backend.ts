import { createHash } from "node:crypto";
import { LabSpec } from "../input/lab-spec";

/** The backend a lab's state lives in, with every default filled in. */
export type ResolvedBackend =
  | { readonly type: "local"; readonly path: string }
  | { readonly type: "pg"; readonly schemaName: string }
  | {
      readonly type: "s3";
      readonly bucket: string;
      readonly key: string;
      readonly region: string;
      readonly endpoint?: string;
      readonly usePathStyle: boolean;
    };

/**
 * Where a lab keeps its state when the spec does not say: in a folder beside the output folder and
 * named after it, never inside the generated tree (`<out>/stacks/<name>/` →
 * `<out>.state/<name>/terraform.tfstate`), so a re-synth cannot touch it and two output folders never
 * share a state. Relative, so the tree is the same on every machine.
 *
 * @param outputName - the output folder's name (`cdktf.out` by default)
 */
export function defaultLocalStatePath(labName: string, outputName: string): string {
  return `../../../${outputName}.state/${labName}/terraform.tfstate`;
}

/**
 * The spec's backend with its defaults: the local path follows the output folder's name and the lab's,
 * the pg schema and the s3 key the lab's.
 *
 * @param outputName - the output folder's name, for the default local path
 */
export function resolveBackend(spec: LabSpec, outputName: string): ResolvedBackend {
  const b = spec.state.backend;
  switch (b.type) {
    case "local":
      return { type: "local", path: b.path ?? defaultLocalStatePath(spec.name, outputName) };
    case "pg":
      return { type: "pg", schemaName: b.schemaName ?? defaultPgSchema(spec.name) };
    case "s3":
      return { type: "s3", bucket: b.bucket, key: b.key ?? `${spec.name}/terraform.tfstate`, region: b.region, endpoint: b.endpoint, usePathStyle: b.usePathStyle };
  }
}

/**
 * The pg schema of a lab: one per lab, since the pg backend keys states by workspace name only and two
 * labs sharing a schema would share the "default" state. `talos_enclave_<name>` with '-' as '_' (lab
 * names have no '_', so distinct names stay distinct); PostgreSQL cuts identifiers at 63 bytes, so a
 * longer one keeps 40 characters of the name and adds 8 hex digits of the name's SHA-256.
 */
export function defaultPgSchema(labName: string): string {
  const plain = `talos_enclave_${labName.replace(/-/g, "_")}`;
  if (plain.length <= 63) return plain;
  return `${plain.slice(0, 54)}_${createHash("sha256").update(labName).digest("hex").slice(0, 8)}`;
}

/**
 * The oldest OpenTofu that runs the stack: 1.8 (state encryption as the design pins it); the s3
 * backend's own lock file (`use_lockfile`) needs 1.10.
 */
export function requiredTofuVersion(backend: ResolvedBackend): string {
  return backend.type === "s3" ? ">= 1.10.0" : ">= 1.8.0";
}
