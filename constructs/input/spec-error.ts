/** One broken rule of a spec: where, what was there, which rule, and how to fix it. */
export interface SpecProblem {
  /** Dotted path into the spec, e.g. `talos.workers[1].ip`. */
  readonly path: string;
  /** The value found at `path`; `undefined` when the field is missing. */
  readonly value: unknown;
  /** The rule and a hint, as `rule (hint)`. */
  readonly message: string;
}

function showValue(v: unknown): string {
  if (v === undefined) return "(missing)";
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  let text: string;
  try {
    text = JSON.stringify(v, (_, x: unknown) => (typeof x === "number" && !Number.isFinite(x) ? String(x) : x)) ?? String(v);
  } catch {
    text = Array.isArray(v) ? "[…]" : "{…}";
  }
  const max = typeof v === "string" ? 200 : 60;
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

export function formatProblem(p: SpecProblem): string {
  return `${p.path || "(spec)"}: ${showValue(p.value)} — ${p.message}`;
}

/**
 * Thrown for user errors — in a spec, or in what the command line asks of the output folder; carries
 * every problem found in one pass. The CLI prints it and exits 2.
 */
export class SpecError extends Error {
  /**
   * @param problems - every problem found, in the order found
   * @param subject - what has the problems, for the first line (default: the lab spec)
   */
  constructor(
    readonly problems: readonly SpecProblem[],
    subject = "the lab spec",
  ) {
    super(`${subject} has ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n` + problems.map((p) => `  ${formatProblem(p)}`).join("\n"));
    this.name = "SpecError";
  }

  /** One line per problem, in the order found. */
  lines(): string[] {
    return this.problems.map(formatProblem);
  }
}

export function pathText(path: readonly PropertyKey[]): string {
  return path
    .map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`))
    .join("");
}
