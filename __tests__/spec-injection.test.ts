import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { XMLParser } from "fast-xml-parser";
import fc from "fast-check";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { synthLab } from "../constructs/emit/synth-lab";
import { withoutTokenStackTraces } from "../constructs/emit/token-stacks";
import { LabSpecInput, LabSpecSchema } from "../constructs/input/lab-spec";
import { SpecError } from "../constructs/input/spec-error";
import { validateLabSpec } from "../constructs/lab/validate";
import { TalosEnclave } from "../constructs/talos-enclave";
import { findSchemaDir, SCHEMA_DIR_MISSING } from "../providers/schema-dir";
import { TerraformSandbox } from "../tools/tfsim/sandbox";
import { prepareStack, terraformStep, workDir } from "../tools/tfsim/verify-stack";
import { PROJECT_ROOT, scratchApp, tempDir } from "./support/tree";

/**
 * No spec text is ever evaluated or changes structure downstream. The string fields come from the zod
 * schema itself (a new field is covered without editing this file); each hostile payload goes into
 * each of them. A case must be rejected with a SpecError naming that field, or synthesize to the same
 * structure as the same spec with a harmless value: the same files, the same JSON/YAML/XML shapes, the
 * same Markdown rows and cells, the same template interpolations. Then terraform itself plans and
 * applies specs carrying the payloads, and nothing was evaluated.
 */

const PAYLOADS = ['${file("/etc/passwd")}', "%{ if true }x%{ endif }", "x\nkey: v", "</descr><rule>", `quote ' and " here`, "$(touch /tmp/x)", "../.."];

type Path = (string | number)[];
type Def = { type: string; innerType?: Schema; in?: Schema; shape?: Record<string, Schema>; element?: Schema; options?: Schema[]; discriminator?: string; values?: unknown[] };
type Schema = { _zod: { def: Def } };

/** Paths of every string field the schema has, following the values of `base` into lists and unions. */
function stringPaths(schema: Schema, value: unknown, path: Path, out: Path[]): void {
  const def = schema._zod.def;
  switch (def.type) {
    case "default":
    case "optional":
    case "nullable":
    case "readonly":
    case "catch":
      return stringPaths(def.innerType!, value, path, out);
    case "pipe":
      return stringPaths(def.in!, value, path, out);
    case "object":
      for (const [k, s] of Object.entries(def.shape!)) stringPaths(s, (value as Record<string, unknown> | undefined)?.[k], [...path, k], out);
      return;
    case "array":
      return stringPaths(def.element!, (value as unknown[] | undefined)?.[0], [...path, 0], out);
    case "union": {
      if (def.discriminator) {
        const tag = (value as Record<string, unknown> | undefined)?.[def.discriminator];
        const chosen = def.options!.find((o) => (o._zod.def.shape?.[def.discriminator!]?._zod.def.values ?? []).includes(tag));
        if (chosen) stringPaths(chosen, value, path, out);
        return;
      }
      for (const o of def.options!) stringPaths(o, value, path, out);
      return;
    }
    case "string":
      out.push(path);
      return;
  }
}

const text = (p: Path) => p.map((k, i) => (typeof k === "number" ? `[${k}]` : i ? `.${k}` : k)).join("");

function setAt<T>(root: T, path: Path, value: unknown): T {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let cur = copy;
  path.slice(0, -1).forEach((k, i) => {
    if (cur[k] === undefined || cur[k] === null) cur[k] = typeof path[i + 1] === "number" ? [] : {};
    cur = cur[k] as Record<string | number, unknown>;
  });
  cur[path[path.length - 1]] = value;
  return copy as T;
}

function getAt(root: unknown, path: Path): unknown {
  return path.reduce<unknown>((cur, k) => (cur === null || cur === undefined ? undefined : (cur as Record<string | number, unknown>)[k]), root);
}

/** A lab that sets every optional string field too, so every field has a harmless value to compare with. */
const BASE = {
  proxmox: { nodes: [{ name: "pve", sshAddress: "pve.example.lan", address: "192.0.2.10" }] },
  hosts: [
    { name: "registry", zone: "mgmt", role: "registry", ip: "192.168.100.11", node: "pve" },
    { name: "mgmt-client", zone: "mgmt", role: "client", ip: "192.168.100.20" },
    { name: "haproxy-ingress-1", zone: "dmz", role: "ingress", ip: "172.16.100.10" },
  ],
  firewall: { node: "pve" },
  talos: {
    apiFqdn: "api.srv.lab.internal",
    kubernetesVersion: "v1.36.2",
    extraKernelArgs: ["console=ttyS0"],
    controlPlanes: [{ name: "talos-cp-1", ip: "10.10.100.11", node: "pve" }],
    workers: [{ name: "talos-worker-1", ip: "10.10.100.21", node: "pve" }],
  },
  platform: { chartRepository: "oci://registry.mgmt.lab.internal/charts", demoHost: "demo.dmz.lab.internal" },
  network: { ingressBackendPorts: ["8080-8081"] },
  flows: [{ id: "client-to-registry-alt", from: "mgmt-client", to: "registry", protocol: "tcp", ports: ["8443-8444"], purpose: "operator pulls images" }],
};
const BASES = [
  { ...BASE, state: { backend: { type: "local", path: "../../../state/lab/terraform.tfstate" } } },
  { ...BASE, state: { backend: { type: "pg", schemaName: "lab_state" } } },
  { ...BASE, state: { backend: { type: "s3", bucket: "lab-state", key: "lab/terraform.tfstate", region: "us-east-1", endpoint: "https://minio.example:9000" } } },
];

const cases: { path: Path; base: (typeof BASES)[number] }[] = [];
{
  const seen = new Set<string>();
  for (const base of BASES) {
    const found: Path[] = [];
    stringPaths(LabSpecSchema as unknown as Schema, LabSpecSchema.parse(base), [], found);
    for (const p of found) if (!seen.has(text(p))) (seen.add(text(p)), cases.push({ path: p, base }));
  }
}

// ── structure of a synthesized lab ────────────────────────────────────────────────────────────────
const xml = new XMLParser({ ignoreAttributes: false, preserveOrder: true });
const shape = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(shape) : v !== null && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)])) : typeof v;
/**
 * A field that names a VM, node or lab (`…name`) given a value that is a name (letters, digits, '-'):
 * it renames what it names downstream (resources, outputs, files; construct ids are the public
 * contract that says so), so its structure is not compared. Any other text in it must be refused.
 */
const renames = (path: Path, value: string) => path[path.length - 1] === "name" && /^[a-z0-9][a-z0-9-]*$/.test(value);
const unescaped = (t: string, open: "$" | "%") => [...t.matchAll(open === "$" ? /(?<!\$)\$\{/g : /(?<!%)%\{/g)].length;

function structure(files: Map<string, string>): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [path, t] of files) {
    // Terraform evaluates templates in HCL-JSON and in templatefile() templates only.
    const evaluated = path.endsWith(".tf.json") || path.endsWith(".tftpl");
    const interpolations = evaluated ? { dollar: unescaped(t, "$"), percent: unescaped(t, "%") } : undefined;
    if (path.endsWith(".json")) out.set(path, { shape: shape(JSON.parse(t)), interpolations });
    else if (path.endsWith(".yaml")) out.set(path, { docs: parseAllDocuments(t).map((d) => shape(d.toJSON())) });
    else if (path.endsWith(".xml")) out.set(path, shape(xml.parse(t)));
    else if (path.endsWith(".md")) {
      out.set(path, { lines: t.split("\n").length, cells: t.split("\n").map((l) => l.replace(/\\\|/g, "").split("|").length), html: (t.match(/<[a-z/]/gi) ?? []).length });
    } else out.set(path, { lines: t.split("\n").length, interpolations });
  }
  return out;
}

function synthFiles(spec: unknown): Map<string, string> {
  return withoutTokenStackTraces(() => {
    const lab = new TalosEnclave(scratchApp(), "lab", { spec: spec as never });
    const files = lab.files();
    files.set("cdk.tf.json", JSON.stringify(lab.toTerraform()));
    return files;
  });
}

/**
 * @param mustName - a rejection must name the field (hostile payloads); random text may be a valid
 *   value that other fields then refer to wrongly (a renamed node), and is rejected where they are
 */
/** Where two shapes first differ, as a path, for the report. */
function firstDifference(x: unknown, y: unknown, at: string): string {
  if (x === null || y === null || typeof x !== "object" || typeof y !== "object") return JSON.stringify(x) === JSON.stringify(y) ? "" : `${at}: ${JSON.stringify(x)} / ${JSON.stringify(y)}`;
  const kx = Object.keys(x as object);
  const ky = Object.keys(y as object);
  if (kx.join("\u0000") !== ky.join("\u0000")) return `${at}: keys ${kx.join(",")} / ${ky.join(",")}`;
  for (const k of kx) {
    const d = firstDifference((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], `${at}.${k}`);
    if (d) return d;
  }
  return "";
}

function check(base: unknown, path: Path, payload: string, mustName = true): { accepted: boolean; problem?: string } {
  const spec = setAt(base, path, payload);
  try {
    validateLabSpec(spec);
  } catch (e) {
    if (!(e instanceof SpecError)) return { accepted: false, problem: `${text(path)}: ${JSON.stringify(payload)} threw ${String(e)}` };
    const named = e.problems.some((p) => p.path === text(path) || p.path.startsWith(`${text(path)}.`) || p.path.startsWith(`${text(path)}[`));
    return { accepted: false, problem: named || !mustName ? undefined : `${text(path)}: ${JSON.stringify(payload)} rejected without naming the field: ${e.lines().join(" / ")}` };
  }
  if (renames(path, payload)) return { accepted: true };
  const original = getAt(base, path);
  const a = structure(synthFiles(spec));
  const b = structure(synthFiles(original === undefined ? base : setAt(base, path, original)));
  const differs = [...new Set([...a.keys(), ...b.keys()])].filter((k) => JSON.stringify(a.get(k)) !== JSON.stringify(b.get(k)));
  const where = differs.length ? firstDifference(a.get(differs[0]), b.get(differs[0]), differs[0]) : "";
  return { accepted: true, problem: differs.length ? `${text(path)}: ${JSON.stringify(payload)} changed the structure of ${differs.join(", ")} (first at ${where})` : undefined };
}

describe("spec text never changes structure downstream", () => {
  it("finds the schema's string fields", () => {
    const names = cases.map((c) => text(c.path));
    // a sample of what the walk must reach: nested objects, lists, unions of number and string, the backend's variants
    for (const p of ["name", "proxmox.nodes[0].sshAddress", "zones.mgmt.bridge", "hosts[0].name", "talos.extraKernelArgs[0]", "flows[0].purpose", "flows[0].ports[0]", "state.backend.path", "state.backend.schemaName", "state.backend.endpoint"]) {
      expect(names).toContain(p);
    }
    console.log(`injection: ${cases.length} string fields × ${PAYLOADS.length} payloads`);
  });

  it("sees a planted fault: an unescaped interpolation, an extra table row, a broken XML element", () => {
    const files = synthFiles(BASES[0]);
    const before = structure(files);
    const planted = new Map(files);
    planted.set("modules/mgmt/main.tf.json", files.get("modules/mgmt/main.tf.json")!.replace("operator pulls images", '${file(\\"/etc/passwd\\")}'));
    planted.set("pfsense/RULES.md", files.get("pfsense/RULES.md")!.replace("everything no flow declares", "x\n| a | b |"));
    planted.set("pfsense/filter.xml", files.get("pfsense/filter.xml")!.replace("<descr>", "<descr></descr><rule>").replace("</descr>\n", "</descr></rule>\n"));
    const after = structure(planted);
    const differs = [...before.keys()].filter((k) => JSON.stringify(before.get(k)) !== JSON.stringify(after.get(k)));
    expect(differs.sort()).toEqual(["modules/mgmt/main.tf.json", "pfsense/RULES.md", "pfsense/filter.xml"]);
  });

  it("every payload in every string field is rejected with the field named, or keeps the output's structure", () => {
    const problems: string[] = [];
    let accepted = 0;
    for (const { path, base } of cases) {
      for (const payload of PAYLOADS) {
        const r = check(base, path, payload);
        if (r.accepted) accepted++;
        if (r.problem) problems.push(r.problem);
      }
    }
    console.log(`injection: ${cases.length * PAYLOADS.length} cases, ${accepted} accepted with the same structure, the rest rejected naming their field`);
    expect(problems).toEqual([]);
    expect(accepted).toBeGreaterThan(0);
  }, 300_000);

  it("random text in random string fields does the same (fast-check)", () => {
    fc.assert(
      fc.property(fc.nat(cases.length - 1), fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 20 }), fc.constantFrom(...PAYLOADS).chain((p) => fc.string({ maxLength: 5 }).map((s) => s + p + s))), (i, payload) => {
        const r = check(cases[i].base, cases[i].path, payload, false);
        expect(r.problem).toBeUndefined();
      }),
      { numRuns: 300, seed: 20261130 },
    );
  }, 300_000);
});

const schemaDir = findSchemaDir(PROJECT_ROOT);
const hasTerraform = spawnSync("terraform", ["version"], { encoding: "utf8" }).status === 0;
const skipReason = !schemaDir ? SCHEMA_DIR_MISSING : !hasTerraform ? "terraform is not on the PATH" : undefined;
if (skipReason) console.warn(`injection through terraform: skipped — ${skipReason}`);

describe.skipIf(!!skipReason)("terraform evaluates no spec text", () => {
  let sandbox: TerraformSandbox;
  const work = tempDir("inject");
  beforeAll(() => (sandbox = TerraformSandbox.create(schemaDir!)));
  afterAll(() => sandbox?.dispose());

  it.each(PAYLOADS.filter((p) => !p.includes("\n")))("plans and applies %j as text", async (payload) => {
    const spec = setAt(BASES[0], ["flows", 0, "purpose"], payload);
    const stack = synthLab(spec as LabSpecInput, join(work, `s${PAYLOADS.indexOf(payload)}`, "cdktf.out"));
    const dir = workDir(sandbox, "inject");
    prepareStack(stack, dir);
    const step = (name: string, args: string[]) => terraformStep(sandbox, dir, "inject", name, args);
    await step("init", ["init", "-backend=false", "-input=false"]);
    await step("apply", ["apply", "-input=false", "-auto-approve"]);
    const state = readFileSync(join(dir, "terraform.tfstate"), "utf8");
    const comments = [...state.matchAll(/"comment": ("(?:[^"\\]|\\.)*")/g)].map((m) => JSON.parse(m[1]) as string);
    // the Proxmox firewall rule of the flow carries the payload literally: the template was not evaluated
    expect(comments).toContain(`client-to-registry-alt: ${payload}`);
    expect(state).not.toContain("root:x:0:0");
  }, 120_000);
});
