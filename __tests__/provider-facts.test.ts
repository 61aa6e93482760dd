import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { synthLab } from "../constructs/emit/synth-lab";
import { BOUND_PROVIDERS } from "../providers/provider-set";
import { findSchemaDir, SCHEMA_DIR_MISSING } from "../providers/schema-dir";
import { FACTS_DIR, TerraformSandbox } from "../tools/tfsim/sandbox";
import { planChanges, prepareStack, terraformStep, workDir } from "../tools/tfsim/verify-stack";
import { PROJECT_ROOT } from "./support/tree";

/**
 * The provider fact table (tools/tfsim/facts): its entries name real schema attributes and cite the
 * pinned sources; it drives the simulated plans (a table edited on purpose changes the plan); and
 * a simulated apply leaves values in the real providers' formats, which plan again to no change.
 */
const schemaDir = findSchemaDir(PROJECT_ROOT);
const hasTerraform = spawnSync("terraform", ["version"], { encoding: "utf8" }).status === 0;
if (!schemaDir) console.warn(`provider facts: schema checks skipped — ${SCHEMA_DIR_MISSING}`);

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const factsOf = (schemaFile: string): Json => JSON.parse(readFileSync(join(FACTS_DIR, schemaFile.replace(/\.schema\.json$/, ".json")), "utf8"));
const ENTRY_KINDS = ["replace", "defaults", "computed", "deprecated"] as const;

/** Whether a dot path names an attribute or block of a schema block (nested attributes and object types included). */
function resolves(block: Json, segments: string[]): boolean {
  if (segments.length === 0) return true;
  const [head, ...rest] = segments;
  const attr = block.attributes?.[head];
  if (attr) {
    if (rest.length === 0) return true;
    if (attr.nested_type) return resolves(attr.nested_type, rest);
    // a list(object) attribute (SDKv2 ConfigModeAttr): walk the object type
    let t = attr.type;
    while (Array.isArray(t) && ["list", "set", "map"].includes(t[0])) t = t[1];
    return Array.isArray(t) && t[0] === "object" && resolves({ attributes: Object.fromEntries(Object.keys(t[1]).map((k) => [k, { type: t[1][k] }])) }, rest);
  }
  const b = block.block_types?.[head];
  return !!b && resolves(b.block, rest);
}

describe("the fact table", () => {
  it("has one file per bound provider, at the pinned tag, each entry citing a source file and line", () => {
    expect(readdirSync(FACTS_DIR).filter((f) => f.endsWith(".json")).sort()).toEqual(
      BOUND_PROVIDERS.map((p) => p.schemaFile.replace(/\.schema\.json$/, ".json")).sort(),
    );
    for (const p of BOUND_PROVIDERS) {
      const f = factsOf(p.schemaFile);
      expect(f.provider).toBe(p.source);
      expect(f.ref).toBe(`v${p.version}`);
      expect(f.commit).toMatch(/^[0-9a-f]{40}$/);
      // every resource type the project binds is covered
      expect(Object.keys(f.resources).sort()).toEqual([...p.resources].sort());
      for (const kind of ["resources", "dataSources"]) {
        for (const [type, t] of Object.entries<Json>(f[kind] ?? {})) {
          for (const k of ENTRY_KINDS) {
            for (const e of t[k] ?? []) expect(`${type} ${k} ${e.path}: ${e.source}`).toMatch(/: [\w./-]+\.(go|md|mod)(:\d+)?/);
          }
        }
      }
    }
  });

  it.skipIf(!schemaDir)("names only attributes the provider schemas have", () => {
    const unknown: string[] = [];
    for (const p of BOUND_PROVIDERS) {
      const f = factsOf(p.schemaFile);
      const schema: Json = Object.values(JSON.parse(readFileSync(join(schemaDir!, "providers", p.schemaFile), "utf8")).provider_schemas)[0];
      for (const [kind, schemaKey] of [["resources", "resource_schemas"], ["dataSources", "data_source_schemas"]] as const) {
        for (const [type, t] of Object.entries<Json>(f[kind] ?? {})) {
          const block = schema[schemaKey][type]?.block;
          if (!block) {
            unknown.push(`${type}: not in the schema`);
            continue;
          }
          for (const k of ENTRY_KINDS) {
            for (const e of t[k] ?? []) {
              if (e.path.startsWith("(") || (e.literal === false && e.path.includes("("))) continue; // a type name or a generated document
              if (!resolves(block, e.path.split("."))) unknown.push(`${type} ${k} ${e.path}`);
            }
          }
        }
      }
    }
    expect(unknown).toEqual([]);
  });
});

describe.skipIf(!schemaDir || !hasTerraform)("the simulated providers plan from the fact table", () => {
  let sandbox: TerraformSandbox;
  let stack: string;
  beforeAll(() => {
    sandbox = TerraformSandbox.create(schemaDir!);
    stack = synthLab({}, join(sandbox.root, "reference"));
  });
  afterAll(() => sandbox?.dispose());

  it("applies into a state whose computed values have the real formats, and re-plans with no change", async () => {
    const work = workDir(sandbox, "formats");
    prepareStack(stack, work);
    const step = (name: string, args: string[]) => terraformStep(sandbox, work, "formats", name, args);
    await step("init", ["init", "-backend=false", "-input=false"]);
    const plan = await step("plan", ["plan", "-input=false", "-out=p1"]);
    // no deprecated attribute is set (the real provider would warn; the plan's own text may say
    // "deprecated", as the registry's chart mirror reading Chart.yaml keys does)
    expect(plan.stdout + plan.stderr).not.toMatch(/Warning: .*deprecated/i);
    await step("apply", ["apply", "-input=false", "-auto-approve", "p1"]);
    await step("re-plan", ["plan", "-input=false", "-detailed-exitcode"]);

    const state = JSON.parse(readFileSync(join(work, "terraform.tfstate"), "utf8"));
    const facts = Object.fromEntries(BOUND_PROVIDERS.flatMap((p) => Object.entries<Json>(factsOf(p.schemaFile).resources)));
    const bad: string[] = [];
    let checked = 0;
    const valuesAt = (v: Json, segs: string[]): Json[] => {
      if (v === null || v === undefined) return [];
      if (Array.isArray(v)) return v.flatMap((e) => valuesAt(e, segs));
      if (segs.length === 0) return [v];
      return typeof v === "object" ? valuesAt(v[segs[0]], segs.slice(1)) : [];
    };
    for (const r of state.resources.filter((x: Json) => x.mode === "managed")) {
      for (const c of facts[r.type]?.computed ?? []) {
        if (!c.pattern) continue;
        for (const inst of r.instances) {
          for (const v of valuesAt(inst.attributes, c.path.split("."))) {
            checked++;
            if (!new RegExp(c.pattern).test(String(v))) bad.push(`${r.module ?? ""} ${r.type}.${r.name} ${c.path} = ${JSON.stringify(v)} !~ ${c.pattern}`);
          }
        }
      }
    }
    console.log(`computed values checked against the table's patterns: ${checked}`);
    expect(checked).toBeGreaterThan(40);
    expect(bad).toEqual([]);
    // every file id a VM reads passes bpg's own validator (validators.FileID)
    const fileIdRe = new RegExp(factsOf("bpg-proxmox-0.111.1.schema.json").validators[0].regexp.replace("(?i)", ""), "i");
    const ids = state.resources
      .filter((x: Json) => ["proxmox_virtual_environment_file", "proxmox_download_file"].includes(x.type))
      .flatMap((x: Json) => x.instances.map((i: Json) => i.attributes.id));
    expect(ids.length).toBeGreaterThan(3);
    for (const id of ids) expect(id).toMatch(fileIdRe);
    expect(JSON.stringify(state)).not.toContain("sim-id-");
    // defaults the real providers fill at plan time are in the state
    const bridge = state.resources.find((x: Json) => x.type === "proxmox_network_linux_bridge").instances[0].attributes;
    expect(bridge.timeout_reload).toBe(100);
    const iso = state.resources.find((x: Json) => x.type === "proxmox_download_file").instances[0].attributes;
    expect([iso.upload_timeout, iso.verify]).toEqual([600, true]);
  }, 600_000);

  it("replaces or updates as the table says: an edited table changes the plan", async () => {
    // version 2 edits a snippet (source_raw.data is ForceNew in bpg: proxmoxtf/resource/file/file.go)
    const v2 = synthLab({}, join(sandbox.root, "edited"));
    writeFileSync(join(v2, "cloud-init", "registry.user-data.yaml.tftpl"), readFileSync(join(v2, "cloud-init", "registry.user-data.yaml.tftpl"), "utf8") + "# edited\n");
    const actionsWith = async (factsDir: string) => {
      const sb = TerraformSandbox.create(schemaDir!, "terraform", factsDir);
      try {
        const work = workDir(sb, "table");
        prepareStack(stack, work);
        await terraformStep(sb, work, "table", "init", ["init", "-backend=false", "-input=false"]);
        await terraformStep(sb, work, "table", "apply", ["apply", "-input=false", "-auto-approve"]);
        prepareStack(v2, work);
        await terraformStep(sb, work, "table", "plan", ["plan", "-input=false", "-out=p2"]);
        const changes = await planChanges(sb, work, "table", "p2");
        return changes.find((c) => c.address === "module.mgmt.proxmox_virtual_environment_file.registry-user-data")!.change.actions.join(",");
      } finally {
        sb.dispose();
      }
    };
    expect(await actionsWith(FACTS_DIR)).toBe("delete,create");
    // the same plan with the ForceNew facts of the file resource taken out of the table
    const edited = join(sandbox.root, "facts-edited");
    mkdirSync(edited);
    cpSync(FACTS_DIR, edited, { recursive: true });
    const file = join(edited, "bpg-proxmox-0.111.1.json");
    const doc = JSON.parse(readFileSync(file, "utf8"));
    doc.resources.proxmox_virtual_environment_file.replace = [];
    writeFileSync(file, JSON.stringify(doc));
    expect(await actionsWith(edited)).toBe("update");
  }, 600_000);
});
