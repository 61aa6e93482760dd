import { spawnSync } from "node:child_process";

/**
 * renameat2(2)'s number per Linux architecture (the kernel's syscall tables; stable ABI), for perl's
 * syscall(): perl is part of every Debian and Ubuntu base system and starts in milliseconds.
 */
const RENAMEAT2: Readonly<Record<string, number>> = { x64: 316, ia32: 353, arm64: 276, arm: 382, riscv64: 276, loong64: 276, ppc64: 357, s390x: 347 };

/** Exit 3: this platform or filesystem cannot exchange; anything else non-zero: the call failed. */
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

/** Why an exchange that was possible still failed (the OS's message). */
export class ExchangeError extends Error {
  constructor(readonly a: string, readonly b: string, readonly reason: string) {
    super(`exchanging ${a} and ${b} failed: ${reason}`);
    this.name = "ExchangeError";
  }
}

/**
 * Exchanges two paths in one atomic step: Linux renameat2(RENAME_EXCHANGE) through perl or python3,
 * macOS renamex_np(RENAME_SWAP) through python3 (Node has no binding for either). Returns false where
 * neither tool, the platform or the filesystem can; throws {@link ExchangeError} when the call was
 * made and failed. `TALOS_ENCLAVE_NO_EXCHANGE` forces false (tests of the fallback).
 */
export function exchangePaths(a: string, b: string): boolean {
  if (process.env.TALOS_ENCLAVE_NO_EXCHANGE) return false;
  const nr = RENAMEAT2[process.arch];
  const tries: [string, string[], NodeJS.ProcessEnv][] = [];
  if (process.platform === "linux" && nr !== undefined) tries.push(["perl", ["-e", EXCHANGE_PERL, a, b], { ...process.env, TE_NR: String(nr) }]);
  tries.push(["python3", ["-S", "-I", "-c", EXCHANGE_PY, a, b], process.env]);
  for (const [cmd, args, env] of tries) {
    const r = spawnSync(cmd, args, { encoding: "utf8", env });
    if (r.error || r.status === null) continue; // the tool is missing
    if (r.status === 0) return true;
    if (r.status === 3) return false;
    throw new ExchangeError(a, b, r.stderr.trim() || `${cmd} exited ${r.status}`);
  }
  return false;
}
