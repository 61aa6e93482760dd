import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
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

/**
 * Lines added and removed per file between two trees, from one run of GNU diff over both
 * (`diff -r -U0`): per file, the `---`/`+++` header pair that follows each `diff` line is skipped and
 * every hunk line starting with `+` or `-` counts.
 */
function lineDeltas(before: string, after: string, paths: readonly string[]): Map<string, { added: number; removed: number }> {
  const deltas = new Map<string, { added: number; removed: number }>(paths.map((p) => [p, { added: 0, removed: 0 }]));
  if (paths.length === 0) return deltas;
  const r = spawnSync("diff", ["-r", "-U0", "--", before, after], { encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.error || (r.status !== 0 && r.status !== 1)) {
    throw new Error(`diff -r ${before} ${after} failed: ${r.error?.message ?? r.stderr.trim()} (GNU diffutils is needed for --diff)`);
  }
  let current: { added: number; removed: number } | undefined;
  let header = 0;
  for (const line of r.stdout.split("\n")) {
    if (line.startsWith("diff ")) {
      const path = line.slice(line.lastIndexOf(` ${after}/`) + after.length + 2);
      current = deltas.get(path);
      header = 2;
    } else if (header > 0 && (line.startsWith("--- ") || line.startsWith("+++ "))) header--;
    else if (line.startsWith("Only in ")) current = undefined;
    else if (current && line.startsWith("+")) current.added++;
    else if (current && line.startsWith("-")) current.removed++;
  }
  return deltas;
}

/**
 * What replacing the tree synth wrote at `current` by the freshly rendered tree at `next` would
 * change, file by file, sorted by path. Only files synth writes count: the old tree's are the ones
 * its marker (`.talos-enclave-synth.json`) lists and that are files on disk, so the operator's files
 * (state, `.terraform/`, notes) never show up; a folder without a marker counts as empty.
 *
 * @param current - the output folder as it is (may not exist)
 * @param next - a rendered tree of the same shape
 */
export function treeChanges(current: string, next: string): FileChange[] {
  const marker = readMarker(current);
  const onDisk = marker instanceof Map ? listTree(current) : new Map();
  const before = new Set(marker instanceof Map ? [...marker.keys()].filter((p) => onDisk.get(p)?.kind === "file") : []);
  const after = new Set([...listTree(next)].filter(([p, e]) => e.kind === "file" && p !== SYNTH_MARKER).map(([p]) => p));
  const both = [...after].filter((p) => before.has(p) && !readFileSync(join(current, p)).equals(readFileSync(join(next, p))));
  const deltas = lineDeltas(current, next, both);
  const changes: FileChange[] = [];
  for (const path of [...new Set([...before, ...after])].sort()) {
    if (!before.has(path)) changes.push({ path, status: "added", added: lineCount(readFileSync(join(next, path), "utf8")), removed: 0 });
    else if (!after.has(path)) changes.push({ path, status: "removed", added: 0, removed: lineCount(readFileSync(join(current, path), "utf8")) });
    else if (deltas.has(path)) changes.push({ path, status: "changed", ...deltas.get(path)! });
  }
  return changes;
}
