import { createHash } from "node:crypto";
import { LocalBackend, TerraformBackend, TerraformRemoteState, TerraformStack } from "cdktf";
import { Construct } from "constructs";
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

/** Properties for a {@link StateBackend}. */
export interface StateBackendProps {
  /** The backend, from {@link resolveBackend}. */
  readonly backend: ResolvedBackend;
}

/**
 * The root stack's `terraform.backend` and `required_version`. Credentials are never written: pg
 * reads its connection string from `PG_CONN_STR`, s3 its keys from `AWS_ACCESS_KEY_ID` /
 * `AWS_SECRET_ACCESS_KEY` (or a profile). Both lock the state while a run holds it: pg with an
 * advisory lock, s3 with a lock object next to the state (`use_lockfile`).
 *
 * Facts: OpenTofu/Terraform backend documentation for `local`, `pg` (`conn_str`/`PG_CONN_STR`,
 * `schema_name`) and `s3` (`endpoints.s3`, `use_path_style`, `use_lockfile`, the `skip_*` switches
 * S3-compatible stores need).
 */
export class StateBackend extends Construct {
  constructor(scope: TerraformStack, id: string, props: StateBackendProps) {
    super(scope, id);
    const b = props.backend;
    scope.addOverride("terraform.required_version", requiredTofuVersion(b));
    switch (b.type) {
      case "local":
        new LocalBackend(scope, { path: b.path });
        break;
      case "pg":
        new KeyedBackend(scope, "pg", { schema_name: b.schemaName });
        break;
      case "s3": {
        const compatible = b.endpoint !== undefined;
        new KeyedBackend(scope, "s3", {
          bucket: b.bucket,
          key: b.key,
          region: b.region,
          use_path_style: b.usePathStyle,
          use_lockfile: true,
          ...(compatible
            ? {
                endpoints: { s3: b.endpoint },
                // MinIO and Ceph RGW have no STS, IAM or EC2 metadata, and older ones reject the new checksums.
                skip_credentials_validation: true,
                skip_region_validation: true,
                skip_requesting_account_id: true,
                skip_metadata_api_check: true,
                skip_s3_checksum: true,
              }
            : {}),
        });
        break;
      }
    }
  }
}

/**
 * A `terraform.backend.<type>` block written exactly as given (snake_case keys): cdktf's own backend
 * classes require credentials in the configuration (`PgBackend.connStr`) or lack newer settings
 * (`use_lockfile`), and the lab keeps credentials in the environment only.
 */
class KeyedBackend extends TerraformBackend {
  constructor(
    scope: Construct,
    type: string,
    private readonly attributes: Readonly<Record<string, unknown>>,
  ) {
    super(scope, "backend", type);
  }

  protected override synthesizeAttributes(): { [name: string]: unknown } {
    return { ...this.attributes };
  }

  protected override synthesizeHclAttributes(): { [name: string]: unknown } {
    return { ...this.attributes };
  }

  /** Not offered: the lab is one stack and reads no other stack's state. */
  getRemoteStateDataSource(): TerraformRemoteState {
    throw new Error(`cross-stack references through the ${this.name} backend are not supported by talos-enclave`);
  }
}
