import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
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
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { SpecError, SpecProblem } from "../spec/spec-error";
import { stableJson } from "./stable-json";

/**
 * Writing a synthesized tree without losing anything that is not ours.
 *
 * The output folder is replaced as a whole, and only when it carries the marker of an earlier synth
 * (`.talos-enclave-synth.json`, listing every file synth wrote with its SHA-256). Whatever else is
 * in it — `.terraform/`, `.terraform.lock.hcl`, state files, notes — is the operator's: it is carried
 * into the new tree as hard links (the same files, not copies) before the swap. Synth refuses, and
 * changes nothing, when a file it wrote was edited since, when an operator file sits where the new
 * tree writes, when a stack that holds operator files is no longer in the lab, or when tofu holds a
 * state lock in the tree.
 *
 * The new tree is built in a staging folder next to the output and swapped in with one atomic
 * exchange (`renameat2(RENAME_EXCHANGE)` on Linux, `renamex_np(RENAME_SWAP)` on macOS), so a kill at
 * any instant leaves the old tree or the new one. Where no exchange is possible, two renames under a
 * journal are used instead, and the next synth completes a swap a kill interrupted. Stale staging
 * folders of killed runs are removed by the next synth. A symlinked output folder is written through:
 * the link stays and its target is swapped.
 */

/** Name of the marker file at the root of every tree synth writes. */
export const SYNTH_MARKER = ".talos-enclave-synth.json";

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
const STATE_LOCK = /(^|\/)\.terraform\.tfstate\.lock\.info$|(^|\/)[^/]*\.tfstate\.lock\.info$/;

interface Entry {
  readonly kind: "file" | "symlink" | "dir";
}

/** Every entry below `root` (not following symlinks), by `/`-separated relative path; directories only when empty. */
function listTree(root: string): Map<string, Entry> {
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

function toRel(root: string, p: string): string {
  return relative(root, p).split(sep).join("/");
}

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** The marker of a freshly rendered tree. */
function markerFor(root: string): SynthMarker {
  const files: Record<string, string> = {};
  for (const [rel, e] of listTree(root)) if (e.kind === "file") files[rel] = sha256(join(root, rel));
  return { tool: "talos-enclave", files };
}

function readMarker(target: string): SynthMarker | "unreadable" | undefined {
  const file = join(target, SYNTH_MARKER);
  if (!existsSync(file)) return undefined;
  try {
    const m = JSON.parse(readFileSync(file, "utf8")) as SynthMarker;
    if (m.tool !== "talos-enclave" || typeof m.files !== "object" || m.files === null) return "unreadable";
    return m;
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

/** The paths synth keeps next to the output folder: lock, staging folders, swap journal. */
function sidePaths(target: string) {
  const parent = dirname(target);
  const base = basename(target);
  return {
    parent,
    lock: join(parent, `.${base}.synth-lock`),
    journal: join(parent, `.${base}.synth-journal.json`),
    stagingPrefix: `.${base}.synth-stage-`,
    staging: join(parent, `.${base}.synth-stage-${process.pid}-${randomBytes(4).toString("hex")}`),
  };
}

function problem(path: string, value: unknown, rule: string, hint: string): SpecProblem {
  return { path, value, message: `${rule} (${hint})` };
}

function refuse(problems: SpecProblem[]): never {
  throw new SpecError(problems, "the output folder");
}

/** Resolves `--out`: a symlink is followed so its target is written; the filesystem root is refused. */
function resolveTarget(outdir: string): string {
  const abs = resolve(outdir);
  let target = abs;
  try {
    if (lstatSync(abs).isSymbolicLink()) {
      try {
        target = realpathSync(abs);
      } catch {
        refuse([problem("--out", outdir, "is a symlink to a folder that does not exist", "create the folder it points to, or pass another --out")]);
      }
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  if (dirname(target) === target) refuse([problem("--out", outdir, "must not be the filesystem root", "pass a folder of its own, e.g. cdktf.out")]);
  return target;
}

/** Takes the synth lock next to the target; a lock left by a dead process is taken over. */
function lock(path: string, outdir: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number(readFileSync(path, "utf8").trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        refuse([problem("--out", outdir, `is being written by another synth (pid ${pid})`, `wait for it to finish; if no synth runs, remove ${path}`)]);
      }
      rmSync(path, { force: true });
    }
  }
  refuse([problem("--out", outdir, "could not be locked for writing", "remove a stale lock next to it")]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Completes or undoes a journalled swap a kill interrupted; removes stale staging folders. */
function recover(target: string, side: ReturnType<typeof sidePaths>): void {
  if (existsSync(side.journal)) {
    const j = JSON.parse(readFileSync(side.journal, "utf8")) as { staged: string; old: string };
    const staged = join(side.parent, j.staged);
    const old = join(side.parent, j.old);
    // Killed between the two renames: the new tree is complete in staging; put it in place.
    if (!existsSync(target) && existsSync(staged)) renameSync(staged, target);
    // Killed before the first rename, target is the old tree: drop the staging folder (below).
    if (existsSync(target) && existsSync(old)) rmSync(old, { recursive: true, force: true });
    unlinkSync(side.journal);
  }
  for (const name of readdirSync(side.parent)) {
    if (name.startsWith(side.stagingPrefix) || name.startsWith(`.${basename(target)}.synth-old-`)) {
      rmSync(join(side.parent, name), { recursive: true, force: true });
    }
  }
}

/** Problems with the current tree that forbid replacing it: not ours, edited by hand, locked by tofu. */
function checkCurrent(target: string, outdir: string): { marker?: SynthMarker; foreign: Map<string, Entry> } {
  if (!existsSync(target)) return { foreign: new Map() };
  if (!statSync(target).isDirectory()) refuse([problem("--out", outdir, "is a file, not a folder", "pass a folder for the tree")]);
  const entries = listTree(target);
  const marker = readMarker(target);
  if (marker === undefined) {
    if (entries.size === 0) return { foreign: new Map() };
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
  for (const [rel, hash] of Object.entries(marker.files)) {
    const e = entries.get(rel);
    if (!e) continue; // deleted by the operator: synth writes it again
    if (e.kind !== "file" || sha256(join(target, rel)) !== hash) {
      problems.push(problem("--out", join(outdir, rel), "was changed after the last synth", "move the change into the spec (or delete the file to have it written again); synth never overwrites what it did not write"));
    }
  }
  const foreign = new Map([...entries].filter(([rel]) => rel !== SYNTH_MARKER && !(rel in marker.files)));
  for (const rel of foreign.keys()) {
    if (STATE_LOCK.test(rel)) problems.push(problem("--out", join(outdir, rel), "shows that tofu holds the state lock", "wait for the running tofu command to finish, then synthesize"));
  }
  if (problems.length) refuse(problems);
  return { marker, foreign };
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

/** Puts the operator's files into the new tree: hard links (the very same files), copies where links fail. */
function carry(from: string, to: string, foreign: ReadonlyMap<string, Entry>): void {
  for (const [rel, e] of foreign) {
    const src = join(from, rel);
    const dst = join(to, rel);
    if (e.kind === "dir") {
      mkdirSync(dst, { recursive: true });
      continue;
    }
    mkdirSync(dirname(dst), { recursive: true });
    if (e.kind === "symlink") symlinkSync(readlinkSync(src), dst);
    else {
      try {
        linkSync(src, dst);
      } catch {
        copyFileSync(src, dst);
      }
    }
    faultPoint("carry");
  }
}

/**
 * renameat2(2)'s number per Linux architecture (the kernel's syscall tables; stable ABI), for perl's
 * syscall(): perl is part of every Debian and Ubuntu base system and starts in milliseconds.
 */
const RENAMEAT2: Readonly<Record<string, number>> = { x64: 316, ia32: 353, arm64: 276, arm: 382, riscv64: 276, loong64: 276, ppc64: 357, s390x: 347 };

const EXCHANGE_PERL = `
my $r = syscall($ENV{TE_NR} + 0, -100, $ARGV[0], -100, $ARGV[1], 2);  # AT_FDCWD, RENAME_EXCHANGE
exit 0 if $r == 0;
print STDERR "$!";
exit(($!{EINVAL} || $!{ENOSYS} || $!{EXDEV} || $!{ENOTSUP} || $!{EOPNOTSUPP}) ? 3 : 1);
`;

const EXCHANGE_PY = `
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = (os.fsencode(p) for p in sys.argv[1:3])
if sys.platform == "darwin":
    fn = getattr(libc, "renamex_np", None)
    call = (lambda: fn(a, b, 2)) if fn else None              # RENAME_SWAP
else:
    fn = getattr(libc, "renameat2", None)
    call = (lambda: fn(-100, a, -100, b, 2)) if fn else None  # AT_FDCWD, RENAME_EXCHANGE
if call is None:
    sys.exit(3)
if call() != 0:
    e = ctypes.get_errno()
    sys.stderr.write(os.strerror(e))
    sys.exit(3 if e in (errno.EINVAL, errno.ENOSYS, errno.EXDEV, errno.ENOTSUP) else 1)
`;

/**
 * Exchanges two folders atomically (Linux renameat2 RENAME_EXCHANGE through perl or python3, macOS
 * renamex_np RENAME_SWAP through python3); false where neither tool, the platform or the filesystem
 * can. Node has no binding for either call.
 */
function exchange(a: string, b: string): boolean {
  if (process.env.TALOS_ENCLAVE_NO_EXCHANGE) return false;
  const nr = RENAMEAT2[process.arch];
  const tries: [string, string[], NodeJS.ProcessEnv][] = [];
  if (process.platform === "linux" && nr !== undefined) tries.push(["perl", ["-e", EXCHANGE_PERL, a, b], { ...process.env, TE_NR: String(nr) }]);
  tries.push(["python3", ["-S", "-I", "-c", EXCHANGE_PY, a, b], process.env]);
  for (const [cmd, args, env] of tries) {
    const r = spawnSync(cmd, args, { encoding: "utf8", env });
    if (r.error || r.status === null) continue; // tool missing
    if (r.status === 0) return true;
    if (r.status === 3) return false;
    throw new Error(`exchanging ${a} and ${b} failed: ${r.stderr.trim()}`);
  }
  return false;
}

/** Removes a finished-with tree entry by entry (so a kill midway leaves only a stale staging folder). */
function removeTree(dir: string): void {
  for (const name of readdirSync(dir)) {
    rmSync(join(dir, name), { recursive: true, force: true });
    faultPoint("cleanup");
  }
  rmSync(dir, { recursive: true, force: true });
}

function writeJournal(path: string, content: object): void {
  const fd = openSync(path, "w");
  writeSync(fd, JSON.stringify(content));
  fsyncSync(fd);
  closeSync(fd);
}

/**
 * Renders a tree into a staging folder and puts it in place of `outdir` (see the module docs for
 * what is kept, what is refused and why a kill never leaves a half-written tree).
 *
 * @param outdir - the output folder (`--out`)
 * @param render - writes the new tree into the folder it is given
 * @throws SpecError (subject "the output folder") for every refusal, before anything is changed
 */
export function writeOutputTree(outdir: string, render: (staging: string) => void): OutputWrite {
  const target = resolveTarget(outdir);
  const side = sidePaths(target);
  try {
    mkdirSync(side.parent, { recursive: true });
  } catch (e) {
    refuse([problem("--out", outdir, `cannot be created: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, "pass a folder you can write")]);
  }
  let release: () => void;
  try {
    release = lock(side.lock, outdir);
  } catch (e) {
    if (e instanceof SpecError) throw e;
    refuse([problem("--out", outdir, `cannot be written: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, "synth keeps a lock and a staging folder next to the output folder; it needs write access there")]);
  }
  try {
    faultPoint("locked");
    recover(target, side);
    const { foreign } = checkCurrent(target, outdir);
    const staging = side.staging;
    mkdirSync(staging);
    try {
      render(staging);
      faultPoint("rendered");
      writeFileSync(join(staging, SYNTH_MARKER), `${stableJson(markerFor(staging))}\n`);
      faultPoint("marked");
      checkAgainstNew(staging, foreign, outdir);
      carry(target, staging, foreign);
      faultPoint("carried");
      const preserved = [...foreign.keys()].sort();
      if (!existsSync(target)) {
        renameSync(staging, target);
        return { target, mode: "created", preserved };
      }
      if (exchange(staging, target)) {
        faultPoint("exchanged");
        removeTree(staging); // now the old tree
        return { target, mode: "exchanged", preserved };
      }
      const old = join(side.parent, `.${basename(target)}.synth-old-${process.pid}`);
      writeJournal(side.journal, { staged: basename(staging), old: basename(old) });
      renameSync(target, old);
      faultPoint("renamed-old");
      renameSync(staging, target);
      unlinkSync(side.journal);
      removeTree(old);
      return { target, mode: "renamed", preserved };
    } finally {
      if (existsSync(staging) && !existsSync(side.journal)) rmSync(staging, { recursive: true, force: true });
    }
  } finally {
    release();
  }
}
