/**
 * Names any test that holds a test worker's event loop for 20 s or more. vitest's worker answers its
 * runner over RPC with a 60 s timeout; a test that blocks the loop that long fails the run with
 * "Timeout calling onTaskUpdate" although every test passed. Long work must yield (async spawn, an
 * await between steps).
 */
import { beforeEach, expect } from "vitest";

const LIMIT_MS = 20_000;
/** The test running at the last tick, and every test started since. */
let seen: string[] = [];
beforeEach(() => void seen.push(expect.getState().currentTestName ?? "?"));
let last = Date.now();
const timer = setInterval(() => {
  const now = Date.now();
  if (now - last >= LIMIT_MS) {
    const where = seen.length ? seen.join(" | ") : "(outside tests: collection or hooks)";
    process.stderr.write(`loop-watch: the event loop was blocked ${Math.round((now - last) / 1000)} s, in ${where}\n`);
  }
  last = now;
  const current = expect.getState().currentTestName;
  seen = current ? [current] : [];
}, 1_000);
timer.unref();
