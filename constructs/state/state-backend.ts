import { LocalBackend, TerraformBackend, TerraformRemoteState, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { requiredTofuVersion, ResolvedBackend } from "../model/backend";

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
