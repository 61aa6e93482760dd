/**
 * One measured run of a command: wall time, CPU time (user + system of the command and every process
 * it waited for, as bash's `times` reports for its children) and the largest peak RSS of its node
 * processes (bench/rss-probe.cjs, loaded through NODE_OPTIONS).
 */
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

/** Figures of one run. */
export interface Run {
  /** Wall time, ms. */
  readonly wallMs: number;
  /** User + system CPU time of the command and its children, ms. */
  readonly cpuMs: number;
  /** Largest peak RSS of the node processes it ran, MiB. */
  readonly rssMiB: number;
  /** What the command printed on stdout. */
  readonly stdout: string;
}

const PROBE = join(__dirname, "rss-probe.cjs");

/** `0m1.234s` → ms. */
function duration(text: string): number {
  const m = /^(\d+)m([\d.]+)s$/.exec(text.trim());
  if (!m) throw new Error(`bench: cannot read the time ${JSON.stringify(text)}`);
  return (Number(m[1]) * 60 + Number(m[2])) * 1000;
}

/**
 * Runs `argv` in `cwd` under bash and measures it.
 *
 * @throws Error when the command fails, with what it printed
 */
export function measure(argv: readonly string[], cwd: string, scratch: string): Run {
  const rssFile = join(scratch, `rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
  // `times` prints the shell's own times, then its children's: the second line is the command's
  const script = `${quoted} > "$BENCH_OUT" 2> "$BENCH_ERR"; status=$?; times; exit $status`;
  const out = `${rssFile}.out`;
  const err = `${rssFile}.err`;
  const env = {
    ...process.env,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require=${PROBE}`.trim(),
    TALOS_ENCLAVE_BENCH_RSS: rssFile,
    BENCH_OUT: out,
    BENCH_ERR: err,
    CHECKPOINT_DISABLE: "1",
    CI: "1",
  };
  const start = performance.now();
  const r = spawnSync("bash", ["-c", script], { cwd, env, encoding: "utf8" });
  const wallMs = performance.now() - start;
  try {
    if (r.status !== 0) throw new Error(`bench: ${argv.join(" ")} failed (exit ${r.status}):\n${readFileSync(err, "utf8").slice(-2000)}`);
    const [user, system] = r.stdout.trim().split("\n")[1].trim().split(/\s+/);
    const rss = readFileSync(rssFile, "utf8").trim().split("\n").map(Number);
    return { wallMs, cpuMs: duration(user) + duration(system), rssMiB: Math.max(...rss) / 1024, stdout: readFileSync(out, "utf8") };
  } finally {
    for (const f of [rssFile, out, err]) rmSync(f, { force: true });
  }
}

/** Median of a list of numbers. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
