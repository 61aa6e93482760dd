/**
 * Names any test that holds a test worker's event loop for 20 s or more. vitest's worker answers its
 * runner over RPC with a 60 s timeout; a test that blocks the loop that long fails the run with
 * "Timeout calling onTaskUpdate" although every test passed. Long work must yield (async spawn, an
 * await between steps).
 */
import { expect } from "vitest";

const LIMIT_MS = 20_000;
const running = () => expect.getState().currentTestName ?? "(between tests)";
let last = Date.now();
let before = running();
const timer = setInterval(() => {
  const now = Date.now();
  const test = running();
  if (now - last >= LIMIT_MS) {
    const where = before === test ? test : `${before} (or ${test}, which followed)`;
    process.stderr.write(`loop-watch: the event loop was blocked ${Math.round((now - last) / 1000)} s, in ${where}\n`);
  }
  last = now;
  before = test;
}, 1_000);
timer.unref();
