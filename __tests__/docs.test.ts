import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runAsync } from "./support/run";
import { changedPaths, PROJECT_ROOT, readTree, removeTempDir, tempDir } from "./support/tree";

/** docs/api is generated from the TSDoc of the public API (npm run docs) and must match it. */
describe("API reference", () => {
  const out = join(tempDir("docs"), "api");
  afterAll(() => removeTempDir(join(out, "..")));

  it("is generated without warnings (every exported symbol documented) and is current", async () => {
    const r = await runAsync(process.execPath, [join(PROJECT_ROOT, "node_modules", "typedoc", "bin", "typedoc"), "--out", out], { cwd: PROJECT_ROOT });
    expect(r.stdout + r.stderr).not.toMatch(/warning|error/i);
    expect(r.status).toBe(0);
    const fresh = readTree(out);
    expect(fresh.size).toBeGreaterThan(20);
    expect(changedPaths(readTree(join(PROJECT_ROOT, "docs", "api")), fresh)).toEqual([]);
  });
});
