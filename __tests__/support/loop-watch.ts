/**
 * Keeps the test workers answering their runner. vitest's worker talks to its runner over RPC with a
 * 60 s timeout, and its replies are I/O: a worker whose event loop is held that long fails the run
 * with "Timeout calling onTaskUpdate" although every test passed. vitest goes from one test to the
 * next without passing through the event loop, so a file of synchronous tests (spawnSync of a synth
 * CLI, a few seconds each) held it for up to a minute on a loaded machine.
 *
 * - After every test the worker yields once to the event loop, so replies are read between tests.
 * - Any stretch of 20 s or more without the loop is reported with the tests that ran in it: long
 *   work inside one test must yield itself (async spawn, an await between steps).
 */
import { afterEach, beforeEach, expect } from "vitest";

/** The real setImmediate, whatever fake timers a test installs. */
const immediate = setImmediate;
afterEach(() => new Promise<void>((resolve) => void immediate(resolve)));

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
