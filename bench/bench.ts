/**
 * Synth benchmark: what users feel, against the cdktf floor.
 *
 *   npm run bench                     table
 *   npm run bench -- --json           one JSON line
 *   npm run bench -- --runs 7         paired runs per case (default 5, at least 3)
 *   npm run bench -- --synth-only     skip the validation, package and twin figures
 *
 * For each case (the reference lab, 100, 500 and 2 000 workers) it runs the compiled command
 * (`node dist/main.js --spec … --out …`) and the floor — a bare cdktf app (bench/floor-app.cjs) with as
 * many null_resource elements as the lab has resources and data sources — one after the other, `runs`
 * times, and reports the medians of CPU time (user + system), wall time and peak RSS, and the median of
 * the per-pair CPU ratios. It then times the three entry points on the reference lab (`node
 * dist/main.js`, `npm run synth`, `npx cdktf synth`) next to the floor app run directly and through
 * cdktf-cli (what cdktf-cli itself costs any app), and checks the targets of the synth:
 *
 * - reference lab ≤ 2.0× the floor (CPU), 500 and 2 000 workers ≤ 2.0×;
 * - one more worker at 2 000 costs within 1.2× of one more worker at 100 (marginal CPU per worker:
 *   100 against the reference lab, 2 000 against 500);
 * - peak RSS at 2 000 workers ≤ 2× the floor's;
 * - `npx cdktf synth` ≤ 1.3× `npm run synth` (CPU).
 *
 * Needs a build (`npm run build`; npm ci runs it). Figures depend on the machine; nothing here is a
 * test and no test asserts on them. Exit code 0 whether targets are met or not (the table says), 2 for
 * bad arguments.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { CASES, labSpecFor } from "./cases";
import { packedSize } from "./entry-points";
import { measure, median, Run } from "./measure";
import { benchTwin } from "./twin";
import { benchValidation } from "./validation";

const REPO = resolve(__dirname, "..");
const MAIN = join(REPO, "dist", "main.js");
const FLOOR = join(__dirname, "floor-app.cjs");

/** Medians of one side of a case. */
interface Side {
  readonly cpuMs: number;
  readonly wallMs: number;
  readonly rssMiB: number;
}

interface CaseResult {
  readonly case: string;
  readonly workers: number;
  /** Resources + data sources of the lab: the floor app makes as many. */
  readonly resources: number;
  readonly synth: Side;
  readonly floor: Side;
  /** Median over the runs of synth CPU / floor CPU of the same pair. */
  readonly cpuRatio: number;
}

interface EntryResult {
  readonly entry: string;
  readonly cpuMs: number;
  readonly wallMs: number;
}

interface Target {
  readonly target: string;
  readonly value: number;
  readonly limit: number;
  readonly met: boolean;
}

const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;

function side(runs: readonly Run[]): Side {
  return {
    cpuMs: round(median(runs.map((r) => r.cpuMs))),
    wallMs: round(median(runs.map((r) => r.wallMs))),
    rssMiB: round(median(runs.map((r) => r.rssMiB)), 1),
  };
}

/** The resource count synth printed: `… — 5 modules, 56 resources, …`. */
function resourcesOf(stdout: string): number {
  const m = /(\d+) resources?,/.exec(stdout);
  if (!m) throw new Error(`bench: synth printed no summary line:\n${stdout}`);
  return Number(m[1]);
}

function runCase(c: (typeof CASES)[number], scratch: string, runs: number, progress: (s: string) => void): CaseResult {
  const spec = join(scratch, `${c.name}.yaml`);
  writeFileSync(spec, stringify(labSpecFor(c)));
  const synthArgs = (i: number) => [process.execPath, MAIN, "--spec", spec, "--out", join(scratch, `${c.name}-${i}`, "cdktf.out")];
  const clean = (i: number) => {
    rmSync(join(scratch, `${c.name}-${i}`), { recursive: true, force: true });
    rmSync(join(scratch, `floor-${i}`), { recursive: true, force: true });
  };
  // a first run, unmeasured, counts the resources and warms the file cache
  const first = measure(synthArgs(0), scratch, scratch);
  clean(0);
  const resources = resourcesOf(first.stdout);
  const synth: Run[] = [];
  const floor: Run[] = [];
  for (let i = 1; i <= runs; i++) {
    progress(`${c.name}: run ${i} of ${runs}`);
    synth.push(measure(synthArgs(i), scratch, scratch));
    floor.push(measure([process.execPath, FLOOR, join(scratch, `floor-${i}`), String(resources)], REPO, scratch));
    clean(i);
  }
  return {
    case: c.name,
    workers: c.workers ?? 2,
    resources,
    synth: side(synth),
    floor: side(floor),
    cpuRatio: round(median(synth.map((s, i) => s.cpuMs / floor[i].cpuMs)), 2),
  };
}

function runEntries(scratch: string, runs: number, progress: (s: string) => void): EntryResult[] {
  // the floor app run by cdktf-cli, from a folder whose cdktf.json names it: what cdktf-cli costs any app
  const floorProject = join(scratch, "floor-project");
  mkdirSync(floorProject, { recursive: true });
  writeFileSync(
    join(floorProject, "cdktf.json"),
    JSON.stringify({ language: "typescript", app: `"${process.execPath}" "${FLOOR}" cdktf.out 56`, projectId: "bench-floor", sendCrashReports: "false", terraformProviders: [], terraformModules: [], context: {} }),
  );
  const cdktf = join(REPO, "node_modules", ".bin", "cdktf");
  const entries: [string, string[], string][] = [
    ["node dist/main.js", [process.execPath, MAIN, "--out", join(scratch, "e-node", "cdktf.out")], scratch],
    ["npm run synth", ["npm", "run", "--silent", "synth", "--", "--out", join(scratch, "e-npm", "cdktf.out")], REPO],
    ["npx cdktf synth", ["npx", "cdktf", "synth", "--output", join(scratch, "e-cdktf", "cdktf.out")], REPO],
    ["floor app, node", [process.execPath, FLOOR, join(scratch, "e-floor"), "56"], scratch],
    ["floor app, npx cdktf synth", [cdktf, "synth", "--output", "cdktf.out"], floorProject],
  ];
  return entries.map(([entry, argv, cwd]) => {
    const times: Run[] = [];
    for (let i = 1; i <= runs; i++) {
      progress(`${entry}: run ${i} of ${runs}`);
      times.push(measure(argv, cwd, scratch));
    }
    for (const d of ["e-node", "e-npm", "e-cdktf", "e-floor", join("floor-project", "cdktf.out")]) rmSync(join(scratch, d), { recursive: true, force: true });
    return { entry, cpuMs: round(median(times.map((t) => t.cpuMs))), wallMs: round(median(times.map((t) => t.wallMs))) };
  });
}

function targets(cases: readonly CaseResult[], entries: readonly EntryResult[]): Target[] {
  const byName = (n: string) => cases.find((c) => c.case === n)!;
  const out: Target[] = [];
  const limit = (target: string, value: number, max: number) => out.push({ target, value: round(value, 2), limit: max, met: value <= max });
  limit("reference lab CPU / floor", byName("reference").cpuRatio, 2.0);
  limit("500 workers CPU / floor", byName("workers-500").cpuRatio, 2.0);
  limit("2 000 workers CPU / floor", byName("workers-2000").cpuRatio, 2.0);
  const marginal = (a: CaseResult, b: CaseResult) => (b.synth.cpuMs - a.synth.cpuMs) / (b.workers - a.workers);
  const at100 = marginal(byName("reference"), byName("workers-100"));
  const at2000 = marginal(byName("workers-500"), byName("workers-2000"));
  limit(`CPU per worker at 2 000 / at 100 (${round(at2000, 2)} / ${round(at100, 2)} ms)`, at2000 / at100, 1.2);
  const big = byName("workers-2000");
  limit("2 000 workers peak RSS / floor", big.synth.rssMiB / big.floor.rssMiB, 2.0);
  const cpu = (e: string) => entries.find((x) => x.entry === e)!.cpuMs;
  limit("npx cdktf synth / npm run synth (CPU)", cpu("npx cdktf synth") / cpu("npm run synth"), 1.3);
  return out;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

function parseArgs(argv: readonly string[]): { json: boolean; runs: number; synthOnly: boolean } {
  const out = { json: false, runs: 5, synthOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") out.json = true;
    else if (a === "--synth-only") out.synthOnly = true;
    else if (a === "--runs" && /^\d+$/.test(argv[i + 1] ?? "") && Number(argv[i + 1]) >= 3) out.runs = Number(argv[++i]);
    else {
      console.error(`bench: bad argument ${a}\nusage: npm run bench [-- --json] [--runs N (≥ 3)] [--synth-only]`);
      process.exit(2);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const progress = (s: string) => {
    if (!args.json) process.stderr.write(`bench: ${s}\n`);
  };
  const list = cpus();
  const machine = { cores: list.length, cpu: list[0]?.model.trim() ?? "unknown", node: process.version, platform: `${process.platform}-${process.arch}` };
  // Synth writes where users keep their output, in the project folder (bench/out/ is ignored by git),
  // not in the system temp folder: file creation costs differ between the two by up to ten times on
  // some machines, and the lab writes a file per node where the floor writes two.
  mkdirSync(join(REPO, "bench", "out"), { recursive: true });
  const scratch = mkdtempSync(join(REPO, "bench", "out", "run-"));
  let cases: CaseResult[];
  let entries: EntryResult[];
  try {
    cases = CASES.map((c) => runCase(c, scratch, args.runs, progress));
    entries = runEntries(scratch, args.runs, progress);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const goals = targets(cases, entries);
  const extras = args.synthOnly
    ? {}
    : {
        package: packedSize(REPO),
        validation: (progress("validation"), benchValidation(3)),
        twin: (progress("twin of fifty workers"), await benchTwin(REPO)),
      };
  if (args.json) {
    console.log(JSON.stringify({ machine, runs: args.runs, cases, entryPoints: entries, targets: goals, ...extras }));
    return;
  }
  console.log(`machine: ${machine.cores} cores (${machine.cpu}), node ${machine.node}, ${machine.platform}; medians of ${args.runs} paired runs`);
  console.log(
    table(
      ["case", "resources", "synth CPU ms", "floor CPU ms", "CPU ratio", "synth wall ms", "floor wall ms", "synth RSS MiB", "floor RSS MiB"],
      cases.map((c) => [
        c.case,
        String(c.resources),
        String(c.synth.cpuMs),
        String(c.floor.cpuMs),
        c.cpuRatio.toFixed(2),
        String(c.synth.wallMs),
        String(c.floor.wallMs),
        c.synth.rssMiB.toFixed(1),
        c.floor.rssMiB.toFixed(1),
      ]),
    ),
  );
  console.log(`\nentry points, reference lab:\n${table(["entry", "CPU ms", "wall ms"], entries.map((e) => [e.entry, String(e.cpuMs), String(e.wallMs)]))}`);
  console.log(`\ntargets:\n${table(["target", "value", "limit", "met"], goals.map((g) => [g.target, g.value.toFixed(2), g.limit.toFixed(1), g.met ? "yes" : "NO"]))}`);
  if ("validation" in extras && extras.validation) {
    console.log("\nvalidation of broken workers (median of 3):");
    for (const v of extras.validation) console.log(`  ${String(v.workers).padStart(6)} workers: ${String(v.problems).padStart(6)} problems in ${String(v.ms).padStart(5)} ms (${v.usPerWorker} µs per worker)`);
    const pack = extras.package!;
    console.log(`\npackage: ${(pack.bytes / 1024).toFixed(0)} KiB packed, ${(pack.unpackedBytes / 1024).toFixed(0)} KiB unpacked, ${pack.files} files`);
    const twin = extras.twin!;
    console.log(
      twin.skipped
        ? `\ntwin of ${twin.lab}: skipped (${twin.skipped})`
        : `\ntwin of ${twin.lab} (one run): ${twin.ok ? "pass" : "FAIL"}, ${twin.probes} probes; lab up step by step ${Math.round(twin.applyMs! / 1000)} s, checks ${Math.round(twin.checksMs! / 1000)} s, total ${Math.round(twin.totalMs! / 1000)} s`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
