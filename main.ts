/**
 * talos-enclave synth: the reference lab, or a YAML spec, into cdktf.out/.
 *
 *   npm run synth [-- --spec lab.yaml] [--out dir] [--check | --diff]
 *   npm run synth -- --help | --version
 *   TALOS_ENCLAVE_SPEC=lab.yaml npx cdktf synth
 *
 * Exit codes: 0 written, checked or compared (or help/version shown), 1 an internal failure, 2 bad
 * arguments or a bad spec.
 */
import { performance } from "node:perf_hooks";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { previewLabTree, SynthPhase, synthLabTree } from "./constructs/emit/synth-lab";
import { treeChanges } from "./constructs/emit/tree-diff";
import { loadLabSpec } from "./constructs/lab/load";
import type { LabSpec } from "./constructs/input/lab-spec";
import { SpecError } from "./constructs/input/spec-error";
import type { TalosEnclaveSummary } from "./constructs/talos-enclave";

const USAGE = "usage: npm run synth -- [--spec lab.yaml] [--out dir] [--check | --diff] | --help | --version";

/** Talos nodes from which synth reports its phases as they end. */
const BIG_LAB = 100;

const HELP = `talos-enclave: synthesize a separated Talos lab on Proxmox into OpenTofu modules and reviewed sidecars.

${USAGE}

  --spec FILE   the lab spec (YAML; default: the embedded reference lab, or $TALOS_ENCLAVE_SPEC)
  --out DIR     the output folder (default: $CDKTF_OUTDIR or cdktf.out); synth never deletes what it did not write
  --check       validate and render everything (separation check included), write nothing
  --diff        list the files of the output folder a synth would add, remove or change, with line
                counts, and write nothing
  --help        this text
  --version     the talos-enclave version

Synth ends with one line: modules, resources, sidecar files and time. Labs of ${BIG_LAB} or more Talos
nodes also report each phase (validate, build, render, write) on stderr as it ends.

Exit codes: 0 written (or checked, or compared), 1 an internal failure, 2 bad arguments or a bad spec
(one line per problem).`;

function usage(message: string): never {
  console.error(`synth: ${message}\n${USAGE}`);
  process.exit(2);
}

/** The package's version, from the package.json above this file (sources or dist/). */
function packageVersion(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (existsSync(file)) return String((JSON.parse(readFileSync(file, "utf8")) as { version?: string }).version ?? "unknown");
    if (dirname(dir) === dir) return "unknown";
  }
}

interface Args {
  spec?: string;
  out?: string;
  mode: "write" | "check" | "diff";
}

function parseArgs(argv: string[]): Args {
  const out: Args = { mode: "write" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help" || a === "-h") {
      console.log(HELP);
      process.exit(0);
    }
    if (a === "--version") {
      console.log(`talos-enclave ${packageVersion()}`);
      process.exit(0);
    }
    if (a === "--spec" || a === "--out") {
      const v = argv[++i];
      // a flag is not a value: `--out --check` is a forgotten folder, not a folder named --check
      if (!v || v.startsWith("--")) usage(`${a} needs a value${v ? ` (got ${v}; write ./${v} for a path that starts with --)` : ""}`);
      out[a === "--spec" ? "spec" : "out"] = v;
    } else if (a === "--check" || a === "--diff") {
      const mode = a === "--check" ? "check" : "diff";
      if (out.mode !== "write" && out.mode !== mode) usage("--check and --diff exclude each other");
      out.mode = mode;
    } else usage(`unknown argument ${a}`);
  }
  return out;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") ? rel : path;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function main(): void {
  const started = performance.now();
  const args = parseArgs(process.argv.slice(2));
  const specFile = args.spec ?? process.env.TALOS_ENCLAVE_SPEC;
  const outdir = args.out ?? process.env.CDKTF_OUTDIR ?? "cdktf.out";
  try {
    const spec = specFile ? loadLabSpec(specFile) : {};
    const onPhase = (phase: SynthPhase, ms: number, lab: LabSpec) => {
      if (lab.talos.controlPlanes.length + lab.talos.workers.length >= BIG_LAB) console.error(`synth: ${phase.padEnd(8)} ${seconds(ms)}`);
    };
    const counts = (s: TalosEnclaveSummary) => `${plural(s.modules, "module")}, ${plural(s.resources, "resource")}, ${plural(s.sidecarFiles, "sidecar file")}`;
    if (args.mode === "check") {
      const line = previewLabTree(spec, outdir, (_root, _target, summary) => counts(summary), { onPhase });
      console.log(`synth: check passed, nothing written — ${line} in ${seconds(performance.now() - started)}`);
      return;
    }
    if (args.mode === "diff") {
      const changes = previewLabTree(spec, outdir, (root, target) => treeChanges(target, root), { onPhase });
      const by = (s: string) => changes.filter((c) => c.status === s).length;
      console.log(
        changes.length === 0
          ? `synth: ${shown(outdir)} is up to date, nothing written`
          : `synth: ${plural(changes.length, "file")} of ${shown(outdir)} would change (${by("changed")} changed, ${by("added")} added, ${by("removed")} removed), nothing written`,
      );
      for (const c of changes) {
        const lines = [c.added ? `+${c.added}` : "", c.removed ? `-${c.removed}` : ""].filter(Boolean).join(" ");
        console.log(`  ${c.status.padEnd(8)} ${c.path}  ${lines}`);
      }
      return;
    }
    const result = synthLabTree(spec, outdir, { onPhase });
    console.log(`synth: wrote ${shown(result.stackDir)} — ${counts(result.summary)} in ${seconds(performance.now() - started)}`);
  } catch (e) {
    if (e instanceof SpecError) {
      console.error(e.message);
      process.exit(2);
    }
    console.error(`synth failed: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.TALOS_ENCLAVE_DEBUG) console.error(e);
    process.exit(1);
  }
}

// from a fresh stack: cdktf records a stack trace for every token it makes, and each costs by depth
setImmediate(main);
