import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";

/** Who holds a lock: a live process other than this one. */
export interface LockHolder {
  readonly pid: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Takes the lock file at `path` for this process, or returns who holds it. The lock appears with its
 * content in one step (a finished file hard-linked into place, so nobody ever reads it empty); a lock
 * whose process is gone is first renamed aside — which only one contender can do — then taken.
 *
 * @returns a release function, or the live holder
 */
export function takeLock(path: string): (() => void) | LockHolder {
  const mine = `${path}.${process.pid}`;
  writeFileSync(mine, String(process.pid));
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(mine, path);
        return () => rmSync(path, { force: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      let pid = NaN;
      try {
        pid = Number(readFileSync(path, "utf8").trim());
      } catch {
        continue; // released meanwhile: try again
      }
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) return { pid };
      try {
        renameSync(path, `${path}.stale-${process.pid}`);
        rmSync(`${path}.stale-${process.pid}`, { force: true });
      } catch {
        /* another contender moved it first */
      }
    }
    return { pid: NaN };
  } finally {
    rmSync(mine, { force: true });
  }
}
