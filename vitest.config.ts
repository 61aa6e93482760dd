import { resolve } from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  // Examples written against the published package (examples/services) run against the sources.
  resolve: { alias: { "talos-enclave": resolve(__dirname, "constructs/index.ts") } },
  test: {
    include: ["__tests__/**/*.test.ts"],
    setupFiles: ["__tests__/support/loop-watch.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: "forks",
    // Both cores: vitest's default leaves one idle on a 2-core machine, and most suites wait on
    // child processes (terraform, synth runs) anyway.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
