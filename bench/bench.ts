/**
 * Synth benchmark: wall time and peak RSS of synthLab() for growing labs, next to a bare cdktf App.
 *
 *   npm run bench            table
 *   npm run bench -- --json  one JSON line
 *
 * Also times the main job's entry points (compiled, tsx, cdktf-cli), validation, the twin on fifty
 * workers, and reports the packed size.
 * The compiled entry point needs a build (npm ci runs it through prepare).
 *
 * Every run is a fresh child process (bench/worker.ts under tsx's loader) writing into a temp folder
 * that is deleted afterwards. Numbers are machine-dependent and only for comparison; nothing asserts on them.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { CASES, WorkerResult } from "./cases";
import { benchEntryPoints, packedSize } from "./entry-points";
import { benchTwin } from "./twin";
import { benchValidation } from "./validation";

const RUNS = 3;
const REPO = resolve(__dirname, "..");
const WORKER = join(__dirname, "worker.ts");

interface CaseResult {
  readonly case: string;
  readonly units: number;
  readonly runs: number;
  /** Median over the runs of the synth alone, ms. */
  readonly synthMs: number;
  /** Median over the runs of the whole child process (spawn to exit), ms. */
  readonly processMs: number;
  /** Largest peak RSS over the runs, MiB. */
  readonly peakRssMiB: number;
}

interface Machine {
  readonly cores: number;
  readonly cpu: string;
  readonly node: string;
  readonly platform: string;
}

function machine(): Machine {
  const list = cpus();
  return {
    cores: list.length,
    cpu: list[0]?.model.trim() ?? "unknown",
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/** Runs the worker once; resolves with its result and the process wall time. */
function runOnce(name: string, outdir: string): Promise<{ result: WorkerResult; processMs: number }> {
  return new Promise((done, fail) => {
    const start = performance.now();
    const child = spawn(process.execPath, ["--import", "tsx", WORKER, name, outdir], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", fail);
    child.on("close", (code, signal) => {
      const processMs = performance.now() - start;
      if (code !== 0) {
        fail(new Error(`bench: case ${name} failed (${signal ?? `exit ${code}`})\n${stderr.trim()}`));
        return;
      }
      const last = stdout.trim().split("\n").pop() ?? "";
      try {
        done({ result: JSON.parse(last) as WorkerResult, processMs });
      } catch {
        fail(new Error(`bench: case ${name} printed no result line\n${stdout}${stderr}`));
      }
    });
  });
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function runCase(name: string, root: string): Promise<CaseResult> {
  const synth: number[] = [];
  const proc: number[] = [];
  let rssKiB = 0;
  let units = 0;
  for (let run = 1; run <= RUNS; run++) {
    const outdir = join(root, `${name}-${run}`);
    try {
      const { result, processMs } = await runOnce(name, outdir);
      synth.push(result.synthMs);
      proc.push(processMs);
      rssKiB = Math.max(rssKiB, result.maxRssKiB);
      units = result.units;
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }
  return {
    case: name,
    units,
    runs: RUNS,
    synthMs: round(median(synth), 1),
    processMs: round(median(proc), 1),
    peakRssMiB: round(rssKiB / 1024, 1),
  };
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function table(results: readonly CaseResult[], m: Machine): string {
  const header = ["case", "VMs/resources", "synth ms (median)", "process ms (median)", "peak RSS MiB"];
  const rows = results.map((r) => [
    r.case,
    String(r.units),
    r.synthMs.toFixed(1),
    r.processMs.toFixed(1),
    r.peakRssMiB.toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [
    `machine: ${m.cores} cores (${m.cpu}), node ${m.node}, ${m.platform}; ${RUNS} runs per case, median time, max peak RSS`,
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
  ].join("\n");
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes("--json");
  const unknown = args.filter((a) => a !== "--json");
  if (unknown.length > 0) {
    console.error(`bench: unknown argument ${unknown[0]}\nusage: npm run bench [-- --json]`);
    process.exit(2);
  }
  const m = machine();
  const root = mkdtempSync(join(tmpdir(), "talos-enclave-bench-"));
  const results: CaseResult[] = [];
  let entries;
  try {
    for (const c of CASES) {
      if (!json) process.stderr.write(`bench: ${c.name}…\n`);
      results.push(await runCase(c.name, root));
    }
    if (!json) process.stderr.write("bench: entry points…\n");
    entries = benchEntryPoints(REPO, root, RUNS);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const pack = packedSize(REPO);
  if (!json) process.stderr.write("bench: validation…\n");
  const validation = benchValidation(RUNS);
  if (!json) process.stderr.write("bench: twin of fifty workers…\n");
  const twin = await benchTwin(REPO);
  if (json) {
    console.log(JSON.stringify({ machine: m, runs: RUNS, cases: results, entryPoints: entries, package: pack, validation, twin }));
    return;
  }
  console.log(table(results, m));
  console.log("\nreference lab, whole command (median of 3):");
  for (const e of entries) console.log(`  ${e.entry.padEnd(36)} ${String(e.ms).padStart(6)} ms`);
  console.log("\nvalidation of broken workers (median of 3):");
  for (const v of validation) console.log(`  ${String(v.workers).padStart(6)} workers: ${String(v.problems).padStart(6)} problems in ${String(v.ms).padStart(5)} ms (${v.usPerWorker} µs per worker)`);
  console.log(
    twin.skipped
      ? `\ntwin of ${twin.lab}: skipped (${twin.skipped})`
      : `\ntwin of ${twin.lab} (one run): ${twin.ok ? "pass" : "FAIL"}, ${twin.probes} probes; lab up step by step ${Math.round(twin.applyMs! / 1000)} s, checks ${Math.round(twin.checksMs! / 1000)} s, total ${Math.round(twin.totalMs! / 1000)} s`,
  );
  console.log(`\npackage: ${(pack.bytes / 1024).toFixed(0)} KiB packed, ${(pack.unpackedBytes / 1024).toFixed(0)} KiB unpacked, ${pack.files} files`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
