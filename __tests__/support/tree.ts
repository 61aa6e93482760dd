import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { App } from "cdktf";
import { tmpdir } from "node:os";
import { join, relative, resolve, sep } from "node:path";
import { synthLabTree } from "../../constructs/emit/synth-lab";
import { stackVariables } from "../../tools/tfsim/verify-stack";
import type { ServiceDescriptor } from "../../constructs/model/service";
import { LabSpecInput } from "../../constructs/input/lab-spec";

export const PROJECT_ROOT = join(__dirname, "..", "..");

/** Every file under dir, by path relative to it, sorted. */
export function readTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p, "utf8"));
    }
  };
  walk(dir);
  return out;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `talos-enclave-${prefix}-`));
}

/**
 * Removes a folder `tempDir` made, and nothing else: the path must resolve to a `talos-enclave-*`
 * folder directly in the system temp folder. A cleanup whose path was never set (an empty string, so
 * `join("", "..")` is the working directory's parent) throws instead of deleting the checkout's parent.
 *
 * @throws Error for any other path
 */
export function removeTempDir(path: string): void {
  const dir = resolve(path);
  const base = resolve(tmpdir());
  const name = dir.slice(base.length + 1);
  if (!path || !dir.startsWith(base + sep) || name.includes(sep) || !name.startsWith("talos-enclave-")) {
    throw new Error(`refusing to remove ${JSON.stringify(path)}: not a talos-enclave temp folder of ${base}`);
  }
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Synthesizes a spec into a fresh temp folder; returns the folder and its files. The folder's name
 * names the default state folder in the tree: `reference-lab` gives the golden tree's.
 */
export function synthToTemp(
  spec: LabSpecInput,
  prefix = "synth",
  outName = "cdktf.out",
  services: readonly ServiceDescriptor[] = [],
): { dir: string; files: Map<string, string>; cleanup: () => void } {
  const dir = join(tempDir(prefix), outName);
  synthLabTree(spec, dir, { services });
  return { dir, files: readTree(dir), cleanup: () => removeTempDir(join(dir, "..")) };
}

/**
 * Paths whose content differs between two trees, plus paths only in one, leaving out synth's marker
 * (`.talos-enclave-synth.json` lists every file's hash, so it changes whenever anything does).
 */
export function changedFiles(a: Map<string, string>, b: Map<string, string>): string[] {
  return changedPaths(a, b).filter((p) => !p.endsWith(".talos-enclave-synth.json"));
}

/** Paths whose content differs between two trees, plus paths only in one. */
export function changedPaths(a: Map<string, string>, b: Map<string, string>): string[] {
  const paths = new Set([...a.keys(), ...b.keys()]);
  return [...paths].filter((p) => a.get(p) !== b.get(p)).sort();
}

let scratch: string | undefined;

/**
 * A cdktf App for in-memory synthesis (toTerraform, files): its output folder, which cdktf may create,
 * is a temporary folder of this test process, removed when the process exits — never the project.
 */
export function scratchApp(): App {
  if (!scratch) {
    scratch = tempDir("app");
    const dir = scratch;
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return new App({ outdir: join(scratch, "cdktf.out"), skipValidation: true });
}

/** Resources declared across a stack's modules and root: what a first apply must create. */
export function declaredResources(stackDir: string): number {
  const docs = [join(stackDir, "cdk.tf.json"), ...readdirSync(join(stackDir, "modules")).map((m) => join(stackDir, "modules", m, "main.tf.json"))];
  return docs
    .map((f) => JSON.parse(readFileSync(f, "utf8")).resource ?? {})
    .reduce((n, byType) => n + Object.values(byType as Record<string, object>).reduce((m, r) => m + Object.keys(r).length, 0), 0);
}

/**
 * Root resources the sandbox's variables count out: a `count = var.<x> ? 1 : 0` whose variable the
 * sandbox sets false (the runner hand-off, which the simulator, playing the runner, never plans).
 */
export function countedOut(stackDir: string): number {
  const root = JSON.parse(readFileSync(join(stackDir, "cdk.tf.json"), "utf8")) as Record<string, unknown>;
  const values = stackVariables(root);
  const byType = (root.resource ?? {}) as Record<string, Record<string, { count?: unknown }>>;
  return Object.values(byType)
    .flatMap((r) => Object.values(r))
    .filter((r) => {
      const guard = /^\$\{var\.([A-Za-z0-9_]+) \? 1 : 0\}$/.exec(String(r.count ?? ""))?.[1];
      return guard !== undefined && values[guard] === false;
    }).length;
}
