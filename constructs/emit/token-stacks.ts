/**
 * cdktf records a full creation stack trace for every token it makes (`Intrinsic`, `Lazy`,
 * references): tens of tokens per VM, each an `Error.captureStackTrace` with no depth limit, which
 * dominates a synth's CPU time (and, under source maps, far more). The traces are only ever shown
 * when a token fails to resolve. V8 builds a trace's text through `Error.prepareStackTrace`; while
 * `fn` runs, this hook returns an empty trace for cdktf's capture objects (plain objects, not Errors),
 * so no frame is ever formatted, and formats real errors as V8 does. cdktf itself is untouched.
 *
 * @param fn - the synthesis to run
 * @returns what `fn` returns
 */
export function withoutTokenStackTraces<T>(fn: () => T): T {
  const previous = Error.prepareStackTrace;
  Error.prepareStackTrace = (error: unknown, frames: NodeJS.CallSite[]) => {
    if (!(error instanceof Error)) return "";
    if (previous) return previous(error, frames);
    return [`${error.name}: ${error.message}`, ...frames.map((f) => `    at ${String(f)}`)].join("\n");
  };
  try {
    return fn();
  } finally {
    Error.prepareStackTrace = previous;
  }
}
