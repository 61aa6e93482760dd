import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { listTree, readMarker, SYNTH_MARKER } from "./output-tree";

/** How one file synth writes would change. */
export interface FileChange {
  /** `/`-separated path relative to the output folder. */
  readonly path: string;
  /** `added` (synth would write it anew), `removed` (synth wrote it last time, not now) or `changed`. */
  readonly status: "added" | "removed" | "changed";
  /** Lines the new file has that the old one lacks. */
  readonly added: number;
  /** Lines the old file has that the new one lacks. */
  readonly removed: number;
}

/** Lines of a text, a final line break not counting as one more line. */
function lineCount(text: string): number {
  if (text === "") return 0;
  return text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
}

/** Lines added and removed between two files, as GNU diff's unified output counts them. */
function lineDelta(before: string, after: string): { added: number; removed: number } {
  const r = spawnSync("diff", ["-U0", "--", before, after], { encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.error || (r.status !== 0 && r.status !== 1)) {
    throw new Error(`diff ${before} ${after} failed: ${r.error?.message ?? r.stderr.trim()} (GNU diffutils is needed for --diff)`);
  }
  let added = 0;
  let removed = 0;
  for (const line of r.stdout.split("\n")) {
    if (line.startsWith("+++") || line.startsWith("---")) continue;
    if (line.startsWith("+")) added++;
    else if (line.startsWith("-")) removed++;
  }
  return { added, removed };
}

/**
 * What replacing the tree synth wrote at `current` by the freshly rendered tree at `next` would
 * change, file by file, sorted by path. Only files synth writes count: the old tree's are the ones
 * its marker (`.talos-enclave-synth.json`) lists, so the operator's files (state, `.terraform/`,
 * notes) never show up; a folder without a marker counts as empty.
 *
 * @param current - the output folder as it is (may not exist)
 * @param next - a rendered tree of the same shape
 */
export function treeChanges(current: string, next: string): FileChange[] {
  const marker = existsSync(current) ? readMarker(current) : undefined;
  const before = new Set(marker instanceof Map ? [...marker.keys()].filter((p) => existsSync(join(current, p))) : []);
  const after = new Set([...listTree(next)].filter(([p, e]) => e.kind === "file" && p !== SYNTH_MARKER).map(([p]) => p));
  const changes: FileChange[] = [];
  for (const path of [...new Set([...before, ...after])].sort()) {
    if (!before.has(path)) changes.push({ path, status: "added", added: lineCount(readFileSync(join(next, path), "utf8")), removed: 0 });
    else if (!after.has(path)) changes.push({ path, status: "removed", added: 0, removed: lineCount(readFileSync(join(current, path), "utf8")) });
    else if (!readFileSync(join(current, path)).equals(readFileSync(join(next, path)))) {
      changes.push({ path, status: "changed", ...lineDelta(join(current, path), join(next, path)) });
    }
  }
  return changes;
}
