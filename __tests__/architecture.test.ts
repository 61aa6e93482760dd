import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "./support/tree";

/**
 * The library's layers, read from its import statements (type-only imports included): each folder
 * imports only from folders below it, no two files import each other in a circle, the model never
 * imports cdktf, and flow endpoints are parsed in one place.
 */

const SRC = join(PROJECT_ROOT, "constructs");

/**
 * Layers, lowest first. A file may import from its own folder and from any folder of a lower rank.
 * input: the spec's shape; model: the pure resolved lab; render: every output's text, by output;
 * policy: checks that read rendered files; services: one descriptor per service; lab: validation and
 * the model with the services; stack, proxmox, state, talos, zones: cdktf constructs; checks: the
 * policy pack as Aspects; then the enclave, synthesis (emit) and the package's index.
 */
const RANK: Readonly<Record<string, number>> = {
  input: 0,
  model: 1,
  render: 2,
  policy: 3,
  services: 4,
  lab: 5,
  stack: 6,
  proxmox: 6,
  state: 6,
  talos: 7,
  zones: 8,
  checks: 9,
  "talos-enclave.ts": 10,
  emit: 11,
  "index.ts": 12,
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : name.endsWith(".ts") ? [p] : [];
  });
}

/** One import of a file: the source file it names, and whether it imports types only. */
interface Import {
  readonly target: string;
  readonly typeOnly: boolean;
}

/** Every relative import and re-export of a file, resolved to a source file (or left out: .gen bindings). */
function importsOf(file: string): Import[] {
  const text = readFileSync(file, "utf8");
  const out: Import[] = [];
  for (const m of text.matchAll(/^(import|export)\s+(type\s+)?[^;]*?\sfrom\s+"(\.{1,2}\/[^"]+)"/gms)) {
    const base = normalize(join(dirname(file), m[3]));
    const target = [`${base}.ts`, join(base, "index.ts")].find((c) => existsSync(c));
    if (target && target.startsWith(SRC)) out.push({ target, typeOnly: m[2] !== undefined });
  }
  return out;
}

/** The layer of a file: its top folder under constructs/, or the file itself at the top. */
function layerOf(file: string): string {
  return relative(SRC, file).split("/")[0];
}

const files = sourceFiles(SRC);
const imports = new Map(files.map((f) => [f, importsOf(f)]));
/** Who imports whom, for the layer rule: every import counts, types included. */
const graph = new Map(files.map((f) => [f, imports.get(f)!.map((i) => i.target)]));
/**
 * The same, for the cycle rule: every import but the type-only ones between files of the model, whose
 * types refer to one another by nature (a LabModel holds its ServiceCatalog, whose hooks take the
 * LabModel; a FlowTable resolves against the LabModel). Types only: no code runs in that circle.
 */
const cycleGraph = new Map(
  files.map((f) => [f, imports.get(f)!.filter((i) => !(i.typeOnly && layerOf(f) === "model" && layerOf(i.target) === "model")).map((i) => i.target)]),
);

/** Import cycles among files, each as the files around it (Tarjan's strongly connected components). */
function cycles(g: ReadonlyMap<string, readonly string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(relative(SRC, w));
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return found;
}

/** Imports that run up or across the layers, as `<file> -> <imported file>`. */
function upwardImports(g: ReadonlyMap<string, readonly string[]>): string[] {
  const bad: string[] = [];
  for (const [file, targets] of g) {
    const from = layerOf(file);
    for (const t of targets) {
      const to = layerOf(t);
      if (to === from) continue;
      if (!(from in RANK) || !(to in RANK) || RANK[to] >= RANK[from]) bad.push(`${relative(SRC, file)} -> ${relative(SRC, t)}`);
    }
  }
  return bad;
}

describe("the library's layers", () => {
  it("knows every top folder of constructs/", () => {
    expect(files.map(layerOf).filter((l) => !(l in RANK))).toEqual([]);
  });

  it("imports only downward", () => {
    expect(upwardImports(graph)).toEqual([]);
  });

  it("has no import cycle", () => {
    expect(cycles(cycleGraph)).toEqual([]);
  });

  it("keeps cdktf and the bindings out of the input, the model and the renderers", () => {
    const pure = files.filter((f) => ["input", "model", "render", "policy"].includes(layerOf(f)));
    const impure = pure.filter((f) => /from\s+"(cdktf|constructs|[./]*\.gen\/[^"]*)"/.test(readFileSync(f, "utf8")));
    expect(impure.map((f) => relative(SRC, f))).toEqual([]);
  });

  it("parses flow endpoints in one place (the separation check reads flows.json on its own, by design)", () => {
    const parsing = files.filter((f) => {
      const rel = relative(SRC, f);
      return rel !== "model/endpoint.ts" && !rel.startsWith("policy/") && /startsWith\("(zone|group):"\)|=== "(zone|group):\w+"/.test(readFileSync(f, "utf8"));
    });
    expect(parsing.map((f) => relative(SRC, f))).toEqual([]);
  });

  describe("catches planted faults", () => {
    const model = join(SRC, "model", "lab-model.ts");
    const render = join(SRC, "render", "talos", "machine-documents.ts");
    const zones = join(SRC, "zones", "srv-zone.ts");

    it("an import from the model up into the zones", () => {
      const planted = new Map(graph);
      planted.set(model, [...graph.get(model)!, zones]);
      expect(upwardImports(planted)).toEqual(["model/lab-model.ts -> zones/srv-zone.ts"]);
    });

    it("two renderers that import each other", () => {
      const other = join(SRC, "render", "talos", "host-firewall.ts");
      const planted = new Map(cycleGraph);
      planted.set(other, [...cycleGraph.get(other)!, render]);
      expect(cycles(planted)).toContainEqual(expect.arrayContaining(["render/talos/host-firewall.ts", "render/talos/machine-documents.ts"]));
    });
  });
});
