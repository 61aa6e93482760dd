import { TerraformOutput, TerraformResource, TerraformVariable } from "cdktf";
import { Construct, RootConstruct } from "constructs";
import { ProxmoxProvider } from "../../.gen/providers/proxmox/provider";
import { WrittenStack } from "./written-stack";
import { hclExpression } from "./hcl-text";
import { ProxmoxIdentityNeeds } from "../render/proxmox/proxmox-privileges";

/** Where the bootstrap module is written, relative to the stack folder. */
export const PROXMOX_IDENTITY_MODULE = "bootstrap/proxmox-identity/main.tf.json";

/** Properties of a {@link ProxmoxIdentityBootstrap}. */
export interface ProxmoxIdentityBootstrapProps {
  /** The lab's name: the role is `<lab>-tofu`, the user `tofu-<lab>@pve`. */
  readonly labName: string;
  /** The privileges and ACL paths, from {@link proxmoxIdentityNeeds} over the rendered modules. */
  readonly needs: ProxmoxIdentityNeeds;
  /** Whether the provider skips TLS verification (the spec's `proxmox.insecureTls`). */
  readonly insecureTls: boolean;
  /**
   * Local state path, relative to the bootstrap folder; outside the generated tree, since the state
   * holds the token's secret.
   */
  readonly statePath: string;
  /** Whether OpenTofu encrypts the bootstrap's state and plans (passphrase variable `state_passphrase`). */
  readonly encryption: boolean;
}

/** A bpg resource written from its attributes (the bootstrap's four types have no generated bindings). */
class RawResource extends TerraformResource {
  constructor(scope: Construct, type: string, name: string, private readonly attributes: Record<string, unknown>) {
    super(scope, `${type}.${name}`, { terraformResourceType: type, terraformGeneratorMetadata: { providerName: "proxmox", providerVersion: "0.111.1" } });
    this.overrideLogicalId(name);
  }

  protected override synthesizeAttributes(): Record<string, unknown> {
    return this.attributes;
  }
}

/**
 * The once-only root module an administrator applies with their own token to give tofu a
 * least-privilege Proxmox identity: a role with exactly the privileges the stack's modules need, a
 * `pve`-realm user without a password, a privilege-separated API token of that user, and ACLs granting
 * the role on each path to both the user and the token (a separated token's rights are the
 * intersection of its own ACLs and its user's). Every grant propagates to the path's children except
 * one on `/`, which a cluster-wide type needs (the datacenter firewall: `Sys.Modify` on `/`) and which
 * holds for `/` alone. Its output `proxmox_api_token` is the value the lab's
 * `proxmox_api_token` variable takes; it is sensitive and lives only in the bootstrap's state.
 *
 * Written to {@link PROXMOX_IDENTITY_MODULE}; never synthesized as a stack of its own.
 */
export class ProxmoxIdentityBootstrap extends WrittenStack {
  /** The role's id. */
  readonly roleId: string;
  /** The user's id (`tofu-<lab>@pve`). */
  readonly userId: string;

  constructor(scope: Construct, id: string, props: ProxmoxIdentityBootstrapProps) {
    super(scope, id);
    const variable = (name: string, config: ConstructorParameters<typeof TerraformVariable>[2]) => {
      const v = new TerraformVariable(this, name, config);
      v.overrideLogicalId(name);
      return v;
    };
    const endpoint = variable("proxmox_endpoint", { type: "string", description: "Proxmox VE API URL, e.g. https://pve.example:8006/" });
    const adminToken = variable("proxmox_admin_api_token", {
      type: "string",
      sensitive: true,
      description: "an administrator's API token 'user@realm!id=secret' (User.Modify, Permissions.Modify, Sys.Audit on /): used once, for this module only",
    });
    new ProxmoxProvider(this, "proxmox", { endpoint: endpoint.stringValue, apiToken: adminToken.stringValue, insecure: props.insecureTls });
    this.addOverride("terraform.backend", { local: { path: props.statePath } });
    if (props.encryption) {
      const passphrase = variable("state_passphrase", {
        type: "string",
        sensitive: true,
        description: "passphrase of this module's state and plan encryption (16 characters or more); the state holds the token's secret",
        validation: [{ condition: hclExpression("length(var.state_passphrase) >= 16"), errorMessage: "state_passphrase needs at least 16 characters." }],
      });
      this.addOverride("terraform.encryption", {
        key_provider: { pbkdf2: { state: { passphrase: passphrase.stringValue } } },
        method: { aes_gcm: { state: { keys: hclExpression("key_provider.pbkdf2.state") } } },
        state: { method: hclExpression("method.aes_gcm.state"), enforced: true },
        plan: { method: hclExpression("method.aes_gcm.state"), enforced: true },
      });
    }
    this.addOverride("terraform.required_version", ">= 1.8.0");

    this.roleId = `${props.labName}-tofu`;
    this.userId = `tofu-${props.labName}@pve`;
    const role = new RawResource(this, "proxmox_virtual_environment_role", "tofu", { role_id: this.roleId, privileges: props.needs.privileges });
    const user = new RawResource(this, "proxmox_virtual_environment_user", "tofu", {
      user_id: this.userId,
      enabled: true,
      comment: `tofu's identity for lab ${props.labName} (talos-enclave); API token only, no password`,
    });
    // bpg 0.111 deprecates proxmox_virtual_environment_user_token and _acl for these names
    const token = new RawResource(this, "proxmox_user_token", "tofu", {
      user_id: user.getStringAttribute("user_id"),
      token_name: "tofu",
      privileges_separation: true,
      comment: `tofu on lab ${props.labName}`,
    });
    const roleRef = role.getStringAttribute("role_id");
    // `/` gets a role of its own holding only what is checked there (the datacenter firewall's
    // Sys.Audit and Sys.Modify), so none of the lab's VM, pool or datastore privileges reach the root
    const clusterRole = props.needs.clusterPrivileges.length
      ? new RawResource(this, "proxmox_virtual_environment_role", "tofu_cluster", { role_id: `${props.labName}-tofu-cluster`, privileges: props.needs.clusterPrivileges })
      : undefined;
    const seen = new Map<string, number>();
    for (const acl of props.needs.acls) {
      // The path's first segment (Proxmox's fixed vocabulary) and its place among the paths of that
      // kind (the ACLs are sorted): no spec text in an address, so a datastore's or pool's name never
      // shapes the JSON, and no two paths share one.
      const kind = acl.path === "/" ? "root" : /^[a-z]+$/.test(acl.path.split("/")[1]) ? acl.path.split("/")[1] : "path";
      const nth = (seen.get(kind) ?? 0);
      seen.set(kind, nth + 1);
      const name = `${kind}_${nth}`;
      const grant = (who: "user" | "token") =>
        new RawResource(this, "proxmox_acl", `${who}_${name}`, {
          path: acl.path,
          role_id: acl.path === "/" && clusterRole ? clusterRole.getStringAttribute("role_id") : roleRef,
          // `/` only for itself (the cluster-wide options), every other path for what lies below it
          propagate: acl.propagate,
          ...(who === "user" ? { user_id: user.getStringAttribute("user_id") } : { token_id: token.getStringAttribute("id") }),
        });
      grant("user");
      grant("token");
    }

    const output = (name: string, value: string, description: string, sensitive = false) => {
      const o = new TerraformOutput(this, `output-${name}`, { value, description, sensitive });
      o.overrideLogicalId(name);
    };
    // PVE answers a token's creation with its id and secret apart (`full-tokenid`, `value`); the
    // provider's `proxmox_api_token` wants 'user@realm!name=secret'. bpg's `value` is taken whole when
    // it holds the id already and joined to the id otherwise, so the output is right either way.
    const tokenId = "proxmox_user_token.tofu.id";
    const tokenValue = "proxmox_user_token.tofu.value";
    output(
      "proxmox_api_token",
      hclExpression(`startswith(${tokenValue}, "\${${tokenId}}=") ? ${tokenValue} : "\${${tokenId}}=\${${tokenValue}}"`),
      "tofu's API token 'user@realm!name=secret' for the lab's proxmox_api_token: tofu output -raw proxmox_api_token",
      true,
    );
    output("token_id", token.getStringAttribute("id"), "the token's id (user@realm!name)");
    output("role_id", roleRef, "the role granted on the ACL paths");
  }

  /** The module's HCL-JSON (its backend is set explicitly; a prepared stack would get an absolute local path). */
  toModuleJson(): Record<string, unknown> {
    return this.stableTerraform();
  }
}

/**
 * The bootstrap module's HCL-JSON for a lab, built on a private construct root (never part of the
 * lab's construct tree, since it is derived from the lab's rendered modules).
 */
export function proxmoxIdentityModule(props: ProxmoxIdentityBootstrapProps): Record<string, unknown> {
  return new ProxmoxIdentityBootstrap(new RootConstruct(""), "proxmox-identity", props).toModuleJson();
}
