/**
 * The twin on examples/fifty-workers.yaml: one run (it builds some 120 namespaces and runs 53 BIRD
 * daemons), with the time to bring the lab up step by step, the time of the checks and the number of
 * probes. Skipped, with the reason, where the twin cannot run (not root, tools missing).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadLabSpec } from "../constructs/lab/load";
import { synthLab } from "../constructs/emit/synth-lab";
import { twinUnavailable } from "../tools/twin/netns";
import { runTwin } from "../tools/twin/replay";
import { stackDirOf } from "../tools/twin/stack";

/** One twin run's figures, or why there are none. */
export interface TwinBench {
  readonly lab: string;
  readonly skipped?: string;
  readonly ok?: boolean;
  readonly probes?: number;
  readonly applyMs?: number;
  readonly checksMs?: number;
  readonly totalMs?: number;
}

export async function benchTwin(repo: string): Promise<TwinBench> {
  const lab = "fifty-workers.yaml";
  const why = twinUnavailable();
  if (why) return { lab, skipped: why };
  const root = mkdtempSync(join(tmpdir(), "talos-enclave-bench-twin-"));
  try {
    const out = join(root, "out");
    synthLab(loadLabSpec(resolve(repo, "examples", lab)), out);
    const r = await runTwin(stackDirOf(out));
    return { lab, ok: r.ok, probes: r.probes.length, applyMs: r.timings.applyMs, checksMs: r.timings.checksMs, totalMs: r.timings.totalMs };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
