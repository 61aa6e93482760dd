import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateBindings } from "../providers/gen";
import { findSchemaDir, SCHEMA_DIR_MISSING } from "../providers/schema-dir";
import { changedPaths, PROJECT_ROOT, readTree, tempDir } from "./support/tree";

const schemaDir = findSchemaDir(PROJECT_ROOT);
if (!schemaDir) console.warn(`bindings: skipped — ${SCHEMA_DIR_MISSING}`);

describe.skipIf(!schemaDir)(".gen bindings", () => {
  const out = join(tempDir("gen"), ".gen");
  afterAll(() => rmSync(join(out, ".."), { recursive: true, force: true }));

  it("are what npm run gen produces from the pinned schemas (run npm run gen and commit)", async () => {
    await generateBindings(out, schemaDir!);
    const fresh = readTree(out);
    const committed = readTree(join(PROJECT_ROOT, ".gen"));
    expect(fresh.size).toBeGreaterThan(10);
    expect(changedPaths(committed, fresh)).toEqual([]);
  });
});
