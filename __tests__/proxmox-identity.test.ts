import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TerraformResource } from "cdktf";
import { afterAll, describe, expect, it } from "vitest";
import { findSchemaDir, SCHEMA_DIR_MISSING } from "../providers/schema-dir";
import { TerraformSandbox } from "../tools/tfsim/sandbox";
import { stackVariables, stripForTerraform } from "../tools/tfsim/verify-stack";
import { TalosEnclave } from "../constructs/talos-enclave";
import { PROXMOX_PRIVILEGE_FACTS, proxmoxIdentityNeeds } from "../constructs/render/proxmox/proxmox-privileges";
import { PROJECT_ROOT, scratchApp, synthToTemp } from "./support/tree";

/**
 * tofu's least-privilege Proxmox identity: the bootstrap module an administrator applies once. Its
 * role is judged against the module JSON the stack wrote, through the fact table alone.
 */

const GOLDEN_STACK = join(PROJECT_ROOT, "examples", "reference-lab", "stacks", "talos-lab");
const BOOTSTRAP = "bootstrap/proxmox-identity/main.tf.json";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const readJson = (path: string): Json => JSON.parse(readFileSync(path, "utf8"));

/** `resource.<type>` and `data.<type>` of every written child module. */
function writtenTypes(stackDir: string): Set<string> {
  const types = new Set<string>();
  for (const name of readdirSync(join(stackDir, "modules"))) {
    const json = readJson(join(stackDir, "modules", name, "main.tf.json"));
    for (const kind of ["resource", "data"]) for (const type of Object.keys(json[kind] ?? {})) types.add(`${kind}.${type}`);
  }
  return types;
}

describe("the Proxmox identity bootstrap module", () => {
  const bootstrap = readJson(join(GOLDEN_STACK, BOOTSTRAP));
  const roles = Object.values(bootstrap.resource.proxmox_virtual_environment_role) as Json[];

  it("grants exactly the union of the fact rows of the types the written modules use", () => {
    const types = writtenTypes(GOLDEN_STACK);
    const proxmoxTypes = [...types].filter((t) => t.split(".")[1].startsWith("proxmox_"));
    expect(proxmoxTypes.length).toBeGreaterThan(0);
    for (const t of proxmoxTypes) expect(PROXMOX_PRIVILEGE_FACTS[t], `fact row for ${t}`).toBeDefined();
    const expected = new Set<string>();
    for (const t of proxmoxTypes) for (const list of Object.values(PROXMOX_PRIVILEGE_FACTS[t].privileges)) for (const p of list ?? []) expected.add(p);
    // the lab's role, and the one `/` gets (only what is checked there)
    expect(roles).toHaveLength(2);
    const union = new Set(roles.flatMap((r) => r.privileges as string[]));
    expect([...union].sort()).toEqual([...expected].sort());
    // every row cites a source
    for (const fact of Object.values(PROXMOX_PRIVILEGE_FACTS)) expect(fact.source.length).toBeGreaterThan(20);
  });

  it("grants the role on narrow paths, to both the user and its privilege-separated token", () => {
    const acls = Object.values(bootstrap.resource.proxmox_acl) as Json[];
    const pools = new Set<string>();
    for (const name of readdirSync(join(GOLDEN_STACK, "modules"))) {
      const json = readJson(join(GOLDEN_STACK, "modules", name, "main.tf.json"));
      for (const p of Object.values(json.resource?.proxmox_virtual_environment_pool ?? {}) as Json[]) pools.add(`/pool/${p.pool_id}`);
    }
    const paths = [...new Set(acls.map((a) => a.path))].sort();
    // `/` for the datacenter firewall's options (Sys.Modify on /), for `/` alone
    expect(paths).toEqual(["/", "/nodes/pve", ...[...pools].sort(), "/sdn/zones/localnetwork", "/storage", "/vms"].sort());
    for (const path of paths) {
      const here = acls.filter((a) => a.path === path);
      expect(here.map((a) => (a.user_id ? "user" : "token")).sort()).toEqual(["token", "user"]);
      for (const a of here) expect(a.role_id).toBe(path === "/" ? "${proxmox_virtual_environment_role.tofu_cluster.role_id}" : "${proxmox_virtual_environment_role.tofu.role_id}");
      // a propagating grant on / would reach every path and void the narrower ones
      for (const a of here) expect(a.propagate, path).toBe(path !== "/");
    }
    const token = Object.values(bootstrap.resource.proxmox_user_token)[0] as Json;
    expect(token.privileges_separation).toBe(true);
    // the provider wants 'user@realm!name=secret': the token's value, joined to its id unless it holds it
    expect(bootstrap.output.proxmox_api_token.sensitive).toBe(true);
    expect(bootstrap.output.proxmox_api_token.value).toContain('"${proxmox_user_token.tofu.id}=${proxmox_user_token.tofu.value}"');
    // no secret in the file: the admin token is a sensitive variable without a default, the user has no password
    expect(bootstrap.variable.proxmox_admin_api_token).toMatchObject({ sensitive: true });
    expect(bootstrap.variable.proxmox_admin_api_token).not.toHaveProperty("default");
    expect(Object.values(bootstrap.resource.proxmox_virtual_environment_user)[0]).not.toHaveProperty("password");
    // its own root module: a provider block and a state outside the tree
    expect(bootstrap.provider.proxmox[0].api_token).toBe("${var.proxmox_admin_api_token}");
    expect(bootstrap.terraform.backend.local.path).toBe("../../../../../reference-lab.state/talos-lab/proxmox-identity.tfstate");
  });

  it("is deterministic and follows the types the modules use", () => {
    const a = synthToTemp({}, "identity-a", "reference-lab");
    const b = synthToTemp({}, "identity-b", "reference-lab");
    try {
      expect(a.files.get(`stacks/talos-lab/${BOOTSTRAP}`)).toBe(b.files.get(`stacks/talos-lab/${BOOTSTRAP}`));
      expect(a.files.get(`stacks/talos-lab/${BOOTSTRAP}`)).toBe(readFileSync(join(GOLDEN_STACK, BOOTSTRAP), "utf8"));
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });

  it("widens a path only where the modules name it by reference, and fails an unknown provider too", () => {
    const needs = proxmoxIdentityNeeds({
      x: { resource: { proxmox_download_file: { a: { node_name: "${var.node}", datastore_id: "${var.store}" } }, talos_machine_secrets: { s: {} } } },
    });
    expect(needs.acls.map((a) => a.path)).toEqual(["/nodes", "/storage"]);
    expect(needs.types).toEqual(["resource.proxmox_download_file"]);
    expect(() => proxmoxIdentityNeeds({ y: { data: { random_password: { p: {} } } } })).toThrow(/data\.random_password \(module y\).*NON_PROXMOX_PROVIDERS/);
  });

  it("grants the datacenter firewall Sys.Modify and Sys.Audit on / alone, and nothing on / without it", () => {
    const fact = PROXMOX_PRIVILEGE_FACTS["resource.proxmox_virtual_environment_cluster_firewall"];
    expect(fact.privileges).toEqual({ cluster: ["Sys.Audit", "Sys.Modify"] });
    expect(fact.source).toMatch(/Cluster\.pm.*set_options.*'\/'.*Sys\.Modify/);
    const needs = proxmoxIdentityNeeds({ edge: { resource: { proxmox_virtual_environment_cluster_firewall: { datacenter: { enabled: true } } } } });
    expect(needs.privileges).toEqual(["Sys.Audit", "Sys.Modify"]);
    expect(needs.acls.map((a) => [a.path, a.propagate])).toEqual([["/", false]]);
    const without = proxmoxIdentityNeeds({ edge: { resource: { proxmox_download_file: { a: { node_name: "pve", datastore_id: "local" } } } } });
    expect(without.acls.map((a) => [a.path, a.propagate])).toEqual([["/nodes/pve", true], ["/storage", true]]);
    expect(without.clusterPrivileges).toEqual([]);
  });

  it("grants / through a role of its own that holds only what is checked there, never the lab's role", () => {
    const doc = JSON.parse(readFileSync(join(GOLDEN_STACK, BOOTSTRAP), "utf8")) as { resource: Record<string, Record<string, Record<string, unknown>>> };
    const roles = doc.resource.proxmox_virtual_environment_role;
    expect(roles.tofu_cluster.privileges).toEqual(["Sys.Audit", "Sys.Modify"]);
    const roots = Object.values(doc.resource.proxmox_acl).filter((a) => a.path === "/");
    expect(roots.length).toBe(2); // the user and the token
    for (const a of roots) {
      expect(a.role_id).toBe("${proxmox_virtual_environment_role.tofu_cluster.role_id}");
      expect(a.propagate).toBe(false);
    }
    for (const a of Object.values(doc.resource.proxmox_acl).filter((x) => x.path !== "/")) expect(a.role_id).toBe("${proxmox_virtual_environment_role.tofu.role_id}");
  });

  it("fails the synth, naming the type, when a module uses a type without a fact row", () => {
    const lab = new TalosEnclave(scratchApp(), "talos-lab");
    // planted through the escape hatch: a container the fact table knows nothing about
    new TerraformResource(lab.zones.mgmt, "planted", {
      terraformResourceType: "proxmox_virtual_environment_container",
      terraformGeneratorMetadata: { providerName: "proxmox" },
    });
    expect(() => lab.files()).toThrow(/no Proxmox privilege fact for resource\.proxmox_virtual_environment_container \(module mgmt\)/);
  });
});

const schemaDir = findSchemaDir(PROJECT_ROOT);
const hasTerraform = spawnSync("terraform", ["version"], { encoding: "utf8" }).status === 0;
const skipReason = !schemaDir ? SCHEMA_DIR_MISSING : !hasTerraform ? "terraform is not on the PATH" : undefined;
if (skipReason) console.warn(`proxmox-identity terraform validate: skipped — ${skipReason}`);

describe.skipIf(!!skipReason)("terraform validates the bootstrap module against the pinned provider schema", () => {
  let sandbox: TerraformSandbox | undefined;
  afterAll(() => sandbox?.dispose());

  it("inits and validates", async () => {
    sandbox = TerraformSandbox.create(schemaDir!);
    const work = join(sandbox.root, "proxmox-identity");
    mkdirSync(work, { recursive: true });
    const root = readJson(join(GOLDEN_STACK, BOOTSTRAP));
    writeFileSync(join(work, "main.tf.json"), JSON.stringify(stripForTerraform(root), null, 2));
    writeFileSync(join(work, "verify.auto.tfvars.json"), JSON.stringify(stackVariables(root), null, 2));
    const init = await sandbox.run(work, ["init", "-backend=false", "-input=false", "-no-color"]);
    expect(init.status, init.stderr).toBe(0);
    const validate = await sandbox.run(work, ["validate", "-no-color"]);
    expect(validate.status, validate.stderr + validate.stdout).toBe(0);
    // deprecated names would warn; the bootstrap uses bpg 0.111's current ones
    expect(validate.stdout + validate.stderr).not.toMatch(/Deprecated/i);
  }, 120_000);
});
