import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SYNTH_MARKER } from "../constructs/emit/output-tree";
import { treeChanges } from "../constructs/emit/tree-diff";
import { tempDir } from "./support/tree";

const work = tempDir("tree-diff");
afterAll(() => rmSync(work, { recursive: true, force: true }));

function tree(name: string, files: Record<string, string>, marked: readonly string[] = Object.keys(files)): string {
  const root = join(work, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  writeFileSync(join(root, SYNTH_MARKER), JSON.stringify({ tool: "talos-enclave", files: Object.fromEntries(marked.map((p) => [p, "0"])) }));
  return root;
}

describe("treeChanges", () => {
  it("counts every added and removed line, YAML separators and lines that look like diff headers included", () => {
    const before = tree("a", {
      "talos/worker.yaml": "a: 1\n---\nname: gone\nportSelector: x\n--- x\n+++ y\n",
      "same.txt": "x\n",
      "removed.txt": "1\n2\n3\n",
      "notes/operator.md": "mine\n",
    }, ["talos/worker.yaml", "same.txt", "removed.txt", "stacks/charts"]);
    mkdirSync(join(before, "stacks", "charts"), { recursive: true }); // a marker entry that is a folder
    const after = tree("b", { "talos/worker.yaml": "a: 1\n+++ z\n", "same.txt": "x\n", "added.txt": "new\n" });
    expect(treeChanges(before, after)).toEqual([
      { path: "added.txt", status: "added", added: 1, removed: 0 },
      { path: "removed.txt", status: "removed", added: 0, removed: 3 },
      { path: "talos/worker.yaml", status: "changed", added: 1, removed: 5 },
    ]);
  });

  it("treats a folder without a marker, or none at all, as empty", () => {
    const after = tree("c", { "x.txt": "1\n2\n" });
    expect(treeChanges(join(work, "missing"), after)).toEqual([{ path: "x.txt", status: "added", added: 2, removed: 0 }]);
  });
});
