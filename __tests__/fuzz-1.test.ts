import { expect, it } from "vitest";
import { fuzz } from "./support/fuzz";

/**
 * Fuzz, part 1 of 2 (two files so the suite's two workers share it): 5 000 generated specs
 * (support/spec-arbitrary.ts, fixed seed; FUZZ_SEED picks another). Validation throws nothing but
 * SpecError, and every accepted spec synthesizes and passes the output checks (support/fuzz.ts).
 */
const RUNS = 5_000;
const seed = Number(process.env.FUZZ_SEED ?? 20261130) + 1;

it("5 000 generated specs: only SpecErrors, and every accepted spec synthesizes and passes the output checks", () => {
  const r = fuzz(seed, RUNS, 900_000);
  console.log(`fuzz 1 (seed ${seed}): ${r.specs} specs, ${r.rejected} rejected with a SpecError, ${r.accepted} accepted, ${r.synthesized} synthesized and checked, ${r.failures.length} failures, ${(r.ms / 1000).toFixed(0)} s`);
  expect(r.failures.map((f) => `${f.what}\n  spec: ${JSON.stringify(f.spec)}`).slice(0, 5)).toEqual([]);
  expect(r.specs, "the time budget ran out before every spec was tried").toBe(RUNS);
  expect(r.accepted).toBeGreaterThan(RUNS / 10);
}, 1_000_000);
