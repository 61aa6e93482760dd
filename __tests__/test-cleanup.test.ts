import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT, removeTempDir, tempDir } from "./support/tree";

/**
 * The suites' cleanups remove only the temp folders they made. A cleanup whose path was never set
 * (`join("", "..")`, the working directory's parent) once deleted the checkout's parent folder.
 */
describe("removeTempDir", () => {
  it("removes a folder tempDir made, with what is in it", () => {
    const dir = tempDir("cleanup");
    mkdirSync(join(dir, "a", "b"), { recursive: true });
    writeFileSync(join(dir, "a", "b", "f"), "x");
    removeTempDir(join(dir, "a", ".."));
    expect(existsSync(dir)).toBe(false);
  });

  it.each([
    ["an unset path", ""],
    ["the parent of an unset path", join("", "..")],
    ["the working directory", "."],
    ["the checkout", PROJECT_ROOT],
    ["the checkout's parent", join(PROJECT_ROOT, "..")],
    ["the temp folder itself", tmpdir()],
    ["a folder below a temp folder", join(tmpdir(), "talos-enclave-x", "y")],
    ["another program's temp folder", join(tmpdir(), "other-thing")],
  ])("refuses %s and deletes nothing", (_, path) => {
    const marker = join(PROJECT_ROOT, "package.json");
    expect(() => removeTempDir(path)).toThrow(/refusing to remove/);
    expect(existsSync(marker)).toBe(true);
  });
});
