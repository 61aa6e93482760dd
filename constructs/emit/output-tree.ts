import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { SpecError, SpecProblem } from "../input/spec-error";
import { exchangePaths, ExchangeError } from "./atomic-exchange";
import { stableJson } from "../render/text/stable-json";
import { takeLock } from "./synth-lock";

/**
 * Writing a synthesized tree without losing anything that is not ours.
 *
 * The output folder is replaced as a whole, and only when it carries the marker of an earlier synth
 * (`.talos-enclave-synth.json`, listing every file synth wrote with its SHA-256; it is synth's record,
 * and a hand-edited marker voids these guarantees for the files it names). Whatever else is in the
 * folder — `.terraform/`, `.terraform.lock.hcl`, state files, notes — is the operator's: it is carried
 * into the new tree as hard links (the same files, not copies), with the folders' modes, before the
 * swap, and files that appear in the old tree while synth runs are moved over after it. Synth
 * refuses, and changes nothing, when a file it wrote was edited since, when an operator file sits
 * where the new tree writes, when a stack that holds operator files is no longer in the lab, when tofu
 * holds a state lock in the tree, when the output folder is a mount point or the current directory's
 * ancestor, or while another synth writes it.
 *
 * The new tree is built in a staging folder next to the output and swapped in with one atomic
 * exchange (see {@link exchangePaths}), so a kill at any instant leaves the old tree or the new one.
 * Where no exchange is possible, two renames under a journal are used instead, and the next synth
 * completes a swap a kill interrupted. Leftovers of killed runs — only folders synth tagged as its
 * own — are removed by the next synth. A symlinked output folder is written through: the link stays
 * and its target is swapped.
 */

/** Name of the marker file at the root of every tree synth writes. */
export const SYNTH_MARKER = ".talos-enclave-synth.json";

/** Tag file inside a staging folder while synth builds it; removed before the swap. */
const STAGING_TAG = ".talos-enclave-staging";

/** What the marker records: every file of the tree synth wrote, with its SHA-256. */
export interface SynthMarker {
  readonly tool: "talos-enclave";
  /** Relative path (`/`-separated) → SHA-256 hex of the content synth wrote. */
  readonly files: Readonly<Record<string, string>>;
}

/** How a tree was put in place. */
export interface OutputWrite {
  /** The folder the tree is in (a symlinked `--out` resolved to its target). */
  readonly target: string;
  /** `created` (no tree before), `exchanged` (atomic swap) or `renamed` (journalled two-step swap). */
  readonly mode: "created" | "exchanged" | "renamed";
  /** Operator files carried from the old tree into the new one, relative paths, sorted. */
  readonly preserved: readonly string[];
}

/** Where terraform/tofu keep the lock of a local state while a run holds it. */
export const STATE_LOCK = /(^|\/)[^/]*\.tfstate\.lock\.info$/;

/** One entry of a tree, as {@link listTree} lists it. */
export interface Entry {
  readonly kind: "file" | "symlink" | "dir";
}

/** Every entry below `root` (not following symlinks), by `/`-separated relative path; directories only when empty. */
export function listTree(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (dir: string) => {
    const names = readdirSync(dir).sort();
    if (names.length === 0 && dir !== root) out.set(toRel(root, dir), { kind: "dir" });
    for (const name of names) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out.set(toRel(root, p), { kind: "symlink" });
      else if (st.isDirectory()) walk(p);
      else out.set(toRel(root, p), { kind: "file" });
    }
  };
  walk(root);
  return out;
}

/** Every directory below `root` (not following symlinks), relative, parents first. */
function listDirs(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (lstatSync(p).isDirectory()) {
        out.push(toRel(root, p));
        walk(p);
      }
    }
  };
  walk(root);
  return out;
}

function toRel(root: string, p: string): string {
  return relative(root, p).split(sep).join("/");
}

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** The marker of a freshly rendered tree (the staging tag left out). */
function markerFor(root: string): SynthMarker {
  const files: Record<string, string> = {};
  for (const [rel, e] of listTree(root)) if (e.kind === "file" && rel !== STAGING_TAG) files[rel] = sha256(join(root, rel));
  return { tool: "talos-enclave", files };
}

/** The marker's files as a map (own keys only), or why it cannot be used. */
export function readMarker(target: string): Map<string, string> | "unreadable" | undefined {
  const file = join(target, SYNTH_MARKER);
  if (!existsSync(file)) return undefined;
  try {
    const m = JSON.parse(readFileSync(file, "utf8")) as { tool?: unknown; files?: unknown };
    if (m.tool !== "talos-enclave" || typeof m.files !== "object" || m.files === null || Array.isArray(m.files)) return "unreadable";
    const files = new Map<string, string>();
    for (const [rel, hash] of Object.entries(m.files)) {
      if (typeof hash !== "string" || rel.split("/").some((s) => s === ".." || s === "")) return "unreadable";
      files.set(rel, hash);
    }
    return files;
  } catch {
    return "unreadable";
  }
}

/** A named point where tests kill the process (`TALOS_ENCLAVE_FAULT=kill:<point>[:<n>]`, n-th time, from 1). */
function faultPoint(point: string): void {
  const spec = process.env.TALOS_ENCLAVE_FAULT;
  if (!spec) return;
  const [action, at, nth] = spec.split(":");
  if (action !== "kill" || at !== point) return;
  const seen = (faultCounts.get(point) ?? 0) + 1;
  faultCounts.set(point, seen);
  if (seen === Number(nth ?? 1)) process.kill(process.pid, "SIGKILL");
}
const faultCounts = new Map<string, number>();

/** The paths synth keeps next to the output folder: lock, staging folders, swap journal, old trees. */
function sidePaths(target: string) {
  const parent = dirname(target);
  const base = basename(target);
  const quoted = base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return {
    parent,
    lock: join(parent, `.${base}.synth-lock`),
    journal: join(parent, `.${base}.synth-journal.json`),
    /** Names of the folders synth creates next to the output: its staging and old trees. */
    ownFolder: new RegExp(`^\\.${quoted}\\.synth-(stage|old)-\\d+-[0-9a-f]{8}$`),
    staging: join(parent, `.${base}.synth-stage-${process.pid}-${randomBytes(4).toString("hex")}`),
    old: join(parent, `.${base}.synth-old-${process.pid}-${randomBytes(4).toString("hex")}`),
  };
}

function problem(path: string, value: unknown, rule: string, hint: string): SpecProblem {
  return { path, value, message: `${rule} (${hint})` };
}

function refuse(problems: SpecProblem[]): never {
  throw new SpecError(problems, "the output folder");
}

function code(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

/**
 * Resolves `--out`: a symlink is followed so its target is written. Refused: the filesystem root, a
 * path through a file, a mount point (it cannot be swapped), and the current directory or one of its
 * ancestors (the shell would be left in a deleted folder).
 */
function resolveTarget(outdir: string): string {
  const abs = resolve(outdir);
  let target = abs;
  try {
    if (lstatSync(abs).isSymbolicLink()) {
      try {
        target = realpathSync(abs);
      } catch (e) {
        refuse([problem("--out", outdir, `is a symlink that does not lead to a folder (${code(e)})`, "point it at an existing folder, or pass another --out")]);
      }
    }
  } catch (e) {
    if (code(e) === "ENOTDIR") refuse([problem("--out", outdir, "has a file where a folder should be on its path", "pass a path made of folders")]);
    if (code(e) !== "ENOENT") throw e;
  }
  if (dirname(target) === target) refuse([problem("--out", outdir, "must not be the filesystem root", "pass a folder of its own, e.g. cdktf.out")]);
  let parentReal: string;
  try {
    parentReal = realpathSync(dirname(target));
  } catch {
    parentReal = dirname(target);
  }
  target = join(parentReal, basename(target));
  if (existsSync(target) && statSync(target).isDirectory() && statSync(target).dev !== statSync(parentReal).dev) {
    refuse([problem("--out", outdir, "is a mount point", "synth swaps the output folder as a whole, and a mount point cannot be moved; pass a folder inside it")]);
  }
  let cwd = "";
  try {
    cwd = realpathSync(process.cwd());
  } catch {
    /* the working directory is gone: nothing to protect */
  }
  if (cwd === target || cwd.startsWith(`${target}${sep}`)) {
    refuse([problem("--out", outdir, "contains the current directory", "synth swaps the output folder as a whole and would leave your shell in a deleted folder; run it from outside the folder")]);
  }
  return target;
}

/**
 * What {@link writeOutputTree} would do, without writing anything in or next to `outdir`: the same
 * refusals (a folder synth did not write, a changed file, a state lock, an operator file where the new
 * tree writes, an orphaned stack, a mount point, the current directory's ancestor, `guard`'s problems),
 * with the tree rendered into a private temporary folder that `inspect` reads and that is removed
 * afterwards, also when the process is interrupted. A symlinked `outdir` is judged by its target, as
 * a synth writes through it.
 *
 * @param render - writes the tree into the folder it is given; `target` names the real output folder
 * @param inspect - reads the rendered tree (`staging`) against the current one (`target`)
 * @throws SpecError for every refusal, and when no temporary folder can be made
 */
export function previewOutputTree<T>(
  outdir: string,
  render: (staging: string, target: string) => void,
  inspect: (staging: string, target: string) => T,
  guard?: (target: string) => SpecProblem[],
): T {
  const target = resolveTarget(outdir);
  const { foreign } = checkCurrent(target, outdir);
  const guarded = guard?.(target) ?? [];
  if (guarded.length) refuse(guarded);
  let scratch: string;
  try {
    scratch = mkdtempSync(join(tmpdir(), "talos-enclave-preview-"));
  } catch (e) {
    refuse([problem("TMPDIR", tmpdir(), `cannot hold a temporary folder (${code(e)})`, "set TMPDIR to a folder you can write")]);
  }
  const cleanup = () => rmSync(scratch, { recursive: true, force: true });
  const signals = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
  const handlers = Object.entries(signals).map(([signal, status]) => {
    const handler = () => {
      cleanup();
      process.exit(status);
    };
    process.once(signal, handler);
    return [signal, handler] as const;
  });
  try {
    const staging = join(scratch, basename(target));
    mkdirSync(staging);
    render(staging, target);
    checkAgainstNew(staging, foreign, outdir);
    return inspect(staging, target);
  } finally {
    for (const [signal, handler] of handlers) process.removeListener(signal, handler);
    cleanup();
  }
}

/** Removes a folder synth owns, making read-only subfolders writable first (they hold only synth's links). */
function removeOwn(dir: string, stepwise = false): void {
  if (!existsSync(dir)) return;
  for (const d of [dir, ...listDirs(dir).map((r) => join(dir, r))]) {
    try {
      const st = lstatSync(d);
      if (!st.isSymbolicLink() && (st.mode & 0o300) !== 0o300) chmodSync(d, st.mode | 0o300);
    } catch {
      /* gone or not ours to change: rmSync reports what matters */
    }
  }
  if (stepwise) {
    // The marker and the tag go last: until then the folder is still recognisably synth's.
    const last = (n: string) => (n === SYNTH_MARKER || n === STAGING_TAG ? 1 : 0);
    for (const name of readdirSync(dir).sort((a, b) => last(a) - last(b))) {
      rmSync(join(dir, name), { recursive: true, force: true });
      faultPoint("cleanup");
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Whether a folder next to the output is one synth made: its name, and its staging tag or marker (or empty). */
function isOwnFolder(dir: string, side: ReturnType<typeof sidePaths>): boolean {
  if (!side.ownFolder.test(basename(dir))) return false;
  try {
    if (!lstatSync(dir).isDirectory()) return false;
    const names = readdirSync(dir);
    return names.length === 0 || names.includes(STAGING_TAG) || names.includes(SYNTH_MARKER);
  } catch {
    return false;
  }
}

/** Writes a file in one step: a finished temporary file renamed into place. */
function writeAtomically(path: string, content: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w");
  writeSync(fd, content);
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
}

/**
 * Completes or undoes a journalled swap a kill interrupted, then removes synth's stale staging and
 * old folders. Never deletes a tree it cannot tell apart: an ambiguous state is refused.
 */
function recover(target: string, side: ReturnType<typeof sidePaths>, outdir: string): void {
  if (existsSync(side.journal)) {
    let j: { staged?: unknown; old?: unknown } = {};
    try {
      j = JSON.parse(readFileSync(side.journal, "utf8"));
    } catch {
      /* unreadable: checked below */
    }
    const names = [j.staged, j.old];
    if (!names.every((n) => typeof n === "string" && side.ownFolder.test(n))) {
      refuse([problem("--out", side.journal, "is a swap journal synth cannot read", "a synth was interrupted; check the folders next to the output, then remove the journal")]);
    }
    const staged = join(side.parent, j.staged as string);
    const old = join(side.parent, j.old as string);
    const [hasTarget, hasStaged, hasOld] = [existsSync(target), existsSync(staged), existsSync(old)];
    if (!hasTarget && hasStaged) {
      // Killed between the two renames: the new tree is complete in staging.
      renameSync(staged, target);
    } else if (hasTarget && hasStaged && hasOld) {
      refuse([
        problem("--out", outdir, `was recreated while an interrupted swap left ${basename(old)} (old tree) and ${basename(staged)} (new tree) beside it`, "move your files out of the new folder, remove it, and synthesize again to finish the swap"),
      ]);
    }
    // Killed before the first rename (the target is the old tree; staging is dropped below), or after
    // the second (the target is the new tree; the old one is dropped below).
    unlinkSync(side.journal);
  }
  for (const name of readdirSync(side.parent)) {
    const p = join(side.parent, name);
    if (isOwnFolder(p, side)) removeOwn(p);
  }
}

/** Problems with the current tree that forbid replacing it: not ours, edited by hand, locked by tofu. */
function checkCurrent(target: string, outdir: string): { foreign: Map<string, Entry>; written: ReadonlySet<string> } {
  if (!existsSync(target)) return { foreign: new Map(), written: new Set() };
  if (!statSync(target).isDirectory()) refuse([problem("--out", outdir, "is a file, not a folder", "pass a folder for the tree")]);
  const entries = listTree(target);
  const marker = readMarker(target);
  if (marker === undefined) {
    if (entries.size === 0) return { foreign: new Map(), written: new Set() };
    const shown = [...entries.keys()].slice(0, 5).join(", ");
    refuse([
      problem(
        "--out",
        outdir,
        `holds files talos-enclave did not write (${shown}${entries.size > 5 ? ", …" : ""}) and no ${SYNTH_MARKER}`,
        "synth writes into an empty folder or one it wrote before; pass another --out",
      ),
    ]);
  }
  if (marker === "unreadable") {
    refuse([problem("--out", join(outdir, SYNTH_MARKER), "cannot be read", "it lists what synth wrote; restore it from version control or pass another --out")]);
  }
  const problems: SpecProblem[] = [];
  for (const [rel, hash] of marker) {
    const e = entries.get(rel);
    if (!e) continue; // deleted by the operator: synth writes it again
    if (e.kind !== "file" || sha256(join(target, rel)) !== hash) {
      problems.push(problem("--out", join(outdir, rel), "was changed after the last synth", "move the change into the spec (or delete the file to have it written again); synth never overwrites what it did not write"));
    }
  }
  const foreign = new Map([...entries].filter(([rel]) => rel !== SYNTH_MARKER && !marker.has(rel)));
  for (const rel of foreign.keys()) {
    if (STATE_LOCK.test(rel)) problems.push(problem("--out", join(outdir, rel), "shows that tofu holds the state lock", "wait for the running tofu command to finish, then synthesize"));
  }
  if (problems.length) refuse(problems);
  return { foreign, written: new Set(marker.keys()) };
}

/** Problems between the operator's files and the new tree: a file where the tree writes, an orphaned stack. */
function checkAgainstNew(staging: string, foreign: ReadonlyMap<string, Entry>, outdir: string): void {
  const fresh = listTree(staging);
  const freshDirs = new Set<string>();
  for (const rel of fresh.keys()) {
    const parts = rel.split("/");
    for (let i = 1; i < parts.length; i++) freshDirs.add(parts.slice(0, i).join("/"));
  }
  const problems: SpecProblem[] = [];
  const orphans = new Map<string, string[]>();
  for (const rel of foreign.keys()) {
    const parts = rel.split("/");
    const clash = fresh.has(rel) || freshDirs.has(rel) || parts.some((_, i) => i > 0 && fresh.has(parts.slice(0, i).join("/")));
    if (clash) problems.push(problem("--out", join(outdir, rel), "was not written by synth, and the new tree writes there", "move the file elsewhere; synth never overwrites what it did not write"));
    if (parts[0] === "stacks" && parts.length > 2 && !freshDirs.has(`stacks/${parts[1]}`)) {
      orphans.set(parts[1], [...(orphans.get(parts[1]) ?? []), rel]);
    }
  }
  for (const [stack, files] of orphans) {
    problems.push(
      problem(
        "--out",
        join(outdir, "stacks", stack),
        `holds files synth did not write (${files.slice(0, 3).join(", ")}${files.length > 3 ? ", …" : ""}) and the lab no longer has this stack`,
        "the lab's name changed? move the state and .terraform/ to the new stack folder first, or keep the old name",
      ),
    );
  }
  if (problems.length) refuse(problems);
}

/** Puts one operator entry into the new tree: a hard link (the very same file), a copy where links fail. */
function carryEntry(src: string, dst: string, kind: Entry["kind"]): void {
  if (kind === "dir") {
    mkdirSync(dst, { recursive: true });
    return;
  }
  mkdirSync(dirname(dst), { recursive: true });
  if (kind === "symlink") symlinkSync(readlinkSync(src), dst);
  else {
    try {
      linkSync(src, dst);
    } catch {
      copyFileSync(src, dst);
    }
  }
}

/** Every operator entry of the old tree into the new one. */
function carry(from: string, to: string, foreign: ReadonlyMap<string, Entry>): void {
  for (const [rel, e] of foreign) {
    carryEntry(join(from, rel), join(to, rel), e.kind);
    faultPoint("carry");
  }
}

/** Gives every folder of the new tree that the old tree had the old one's mode (the root included). */
function keepModes(from: string, to: string): void {
  for (const rel of ["", ...listDirs(to)]) {
    try {
      const old = lstatSync(join(from, rel));
      if (old.isDirectory()) chmodSync(join(to, rel), old.mode & 0o7777);
    } catch {
      /* a folder the old tree did not have keeps the default mode */
    }
  }
}

/**
 * After the swap: entries that appeared in the old tree while synth ran (a log tofu wrote, say) and
 * that the new tree lacks are moved over. Returns what could not be moved (a name the new tree took).
 */
function moveLateArrivals(oldTree: string, newTree: string, known: ReadonlySet<string>): string[] {
  const stuck = new Set<string>();
  // A write that was under way at the swap may land a moment later: look twice.
  for (let pass = 0; pass < 2; pass++) {
    for (const [rel, e] of listTree(oldTree)) {
      if (known.has(rel) || stuck.has(rel) || rel === SYNTH_MARKER || rel === STAGING_TAG) continue;
      const dst = join(newTree, rel);
      if (existsSync(dst)) {
        if (e.kind !== "dir") stuck.add(rel);
        continue;
      }
      mkdirSync(dirname(dst), { recursive: true });
      renameSync(join(oldTree, rel), dst);
    }
  }
  return [...stuck];
}

/**
 * Renders a tree into a staging folder and puts it in place of `outdir` (see the module docs for
 * what is kept, what is refused and why a kill never leaves a half-written tree).
 *
 * @param outdir - the output folder (`--out`)
 * @param render - writes the new tree into the staging folder it is given; `target` is the folder
 *   the tree will be in (a symlinked `--out` resolved)
 * @param guard - more reasons to refuse, given the resolved output folder; runs under the lock, after
 *   the folder's own checks and before anything is written
 * @throws SpecError (subject "the output folder") for every refusal, before anything is changed
 */
export function writeOutputTree(outdir: string, render: (staging: string, target: string) => void, guard?: (target: string) => SpecProblem[]): OutputWrite {
  const target = resolveTarget(outdir);
  const side = sidePaths(target);
  try {
    mkdirSync(side.parent, { recursive: true });
  } catch (e) {
    refuse([problem("--out", outdir, `cannot be created: ${code(e)}`, "pass a folder you can write")]);
  }
  let lock: ReturnType<typeof takeLock>;
  try {
    lock = takeLock(side.lock);
  } catch (e) {
    refuse([problem("--out", outdir, `cannot be written: ${code(e)}`, "synth keeps a lock and a staging folder next to the output folder; it needs write access there")]);
  }
  if (typeof lock !== "function") {
    refuse([problem("--out", outdir, `is being written by another synth (pid ${lock.pid})`, `wait for it to finish; if no synth runs, remove ${side.lock}`)]);
  }
  try {
    faultPoint("locked");
    recover(target, side, outdir);
    const { foreign, written } = checkCurrent(target, outdir);
    const guarded = guard?.(target) ?? [];
    if (guarded.length) refuse(guarded);
    const staging = side.staging;
    mkdirSync(staging);
    writeFileSync(join(staging, STAGING_TAG), "");
    let swapped = false;
    try {
      render(staging, target);
      faultPoint("rendered");
      writeFileSync(join(staging, SYNTH_MARKER), `${stableJson(markerFor(staging))}\n`);
      faultPoint("marked");
      checkAgainstNew(staging, foreign, outdir);
      // What the old tree held when synth looked: its generated files and the operator's.
      const known = new Set([...written, ...foreign.keys()]);
      carry(target, staging, foreign);
      if (existsSync(target)) keepModes(target, staging);
      faultPoint("carried");
      unlinkSync(join(staging, STAGING_TAG));
      const preserved = [...foreign.keys()].sort();
      if (!existsSync(target)) {
        renameSync(staging, target);
        swapped = true;
        return { target, mode: "created", preserved };
      }
      let exchanged: boolean;
      try {
        exchanged = exchangePaths(staging, target);
      } catch (e) {
        if (!(e instanceof ExchangeError)) throw e;
        refuse([problem("--out", outdir, `could not be swapped: ${e.reason}`, "nothing was changed; check the folder and its parent")]);
      }
      if (exchanged) {
        swapped = true;
        faultPoint("exchanged");
        // `staging` is now the old tree: keep what appeared in it during the synth, then drop it.
        const stuck = moveLateArrivals(staging, target, known);
        if (stuck.length === 0) removeOwn(staging, true);
        else keepAside(staging, stuck, outdir);
        return { target, mode: "exchanged", preserved };
      }
      writeAtomically(side.journal, JSON.stringify({ staged: basename(staging), old: basename(side.old) }));
      renameSync(target, side.old);
      faultPoint("renamed-old");
      renameSync(staging, target);
      swapped = true;
      unlinkSync(side.journal);
      const stuck = moveLateArrivals(side.old, target, known);
      if (stuck.length === 0) removeOwn(side.old, true);
      else keepAside(side.old, stuck, outdir);
      return { target, mode: "renamed", preserved };
    } finally {
      if (!swapped && !existsSync(side.journal)) removeOwn(staging);
    }
  } finally {
    lock();
  }
}

/** An old tree that still holds files that could not be moved: renamed out of synth's way, and said so. */
function keepAside(oldTree: string, stuck: readonly string[], outdir: string): void {
  const kept = join(dirname(oldTree), `${basename(oldTree).replace(/\.synth-(stage|old)-/, ".synth-kept-")}`);
  renameSync(oldTree, kept);
  process.stderr.write(`synth: ${stuck.length} file(s) written into ${outdir} during the synth clash with the new tree; the old tree is kept at ${kept}\n`);
}
