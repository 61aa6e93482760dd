/**
 * How validation scales with the number of problems: specs whose workers are all broken (a bad
 * address each), at two sizes, timed in this process. Linear validation keeps the time per worker
 * about the same at 50 000 as at 5 000.
 */
import { performance } from "node:perf_hooks";
import { SpecError } from "../constructs/input/spec-error";
import { validateLabSpec } from "../constructs/lab/validate";

/** One size: workers, problems reported, median ms, µs per worker. */
export interface ValidationResult {
  readonly workers: number;
  readonly problems: number;
  readonly ms: number;
  readonly usPerWorker: number;
}

function brokenWorkers(n: number) {
  return { talos: { workers: Array.from({ length: n }, (_, i) => ({ name: `w-${i}`, ip: i % 2 ? "10.10.100.300" : "10.10.100.50" })) } };
}

/** Times validation of 5 000 and 50 000 broken workers (median of `runs`). */
export function benchValidation(runs: number): ValidationResult[] {
  return [5_000, 50_000].map((workers) => {
    const spec = brokenWorkers(workers);
    const times: number[] = [];
    let problems = 0;
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      try {
        validateLabSpec(spec);
      } catch (e) {
        if (!(e instanceof SpecError)) throw e;
        problems = e.problems.length;
      }
      times.push(performance.now() - t);
    }
    const ms = times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
    return { workers, problems, ms: Math.round(ms), usPerWorker: Math.round((ms * 1000) / workers) };
  });
}
