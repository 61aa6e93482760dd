const MAX = 65535;

/**
 * A set of TCP/UDP ports as sorted, disjoint, inclusive intervals. What the separation policy needs to
 * compare the ports a rule opens with the ports its flow declares.
 */
export class PortSet {
  /** Every port (what a rule without a port opens). */
  static readonly ALL = new PortSet([[0, MAX]]);
  /** No port. */
  static readonly NONE = new PortSet([]);

  private constructor(private readonly spans: readonly (readonly [number, number])[]) {}

  /**
   * A port (`22`) or a range (`2379-2380`, or `2379:2380` as pfSense aliases and Proxmox write it), or
   * undefined when the text is neither (a service name, an alias the caller did not resolve).
   */
  static parse(text: string): PortSet | undefined {
    const m = /^\s*(\d{1,5})(?:\s*[-:]\s*(\d{1,5}))?\s*$/.exec(text);
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (a > MAX || b > MAX) return undefined;
    return new PortSet([[Math.min(a, b), Math.max(a, b)]]);
  }

  /** The union of several sets. */
  static union(sets: readonly PortSet[]): PortSet {
    const sorted = sets.flatMap((s) => s.spans).sort((x, y) => x[0] - y[0]);
    const out: [number, number][] = [];
    for (const [a, b] of sorted) {
      const last = out[out.length - 1];
      if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
      else out.push([a, b]);
    }
    return new PortSet(out);
  }

  /** Ports in this set and not in the other. */
  minus(other: PortSet): PortSet {
    let rest: [number, number][] = this.spans.map(([a, b]) => [a, b]);
    for (const [c, d] of other.spans) {
      rest = rest.flatMap(([a, b]): [number, number][] => {
        if (d < a || c > b) return [[a, b]];
        const keep: [number, number][] = [];
        if (a < c) keep.push([a, c - 1]);
        if (d < b) keep.push([d + 1, b]);
        return keep;
      });
    }
    return new PortSet(rest);
  }

  /** Whether the set has no port. */
  get empty(): boolean {
    return this.spans.length === 0;
  }

  /** Whether every port of this set is in the other. */
  within(other: PortSet): boolean {
    return this.minus(other).empty;
  }

  /** A short text of the set, e.g. `22`, `80, 443`, `2379-2380`, `any`. */
  toString(): string {
    if (this.spans.length === 1 && this.spans[0][0] === 0 && this.spans[0][1] === MAX) return "any";
    const shown = this.spans.slice(0, 4).map(([a, b]) => (a === b ? String(a) : `${a}-${b}`));
    return this.spans.length > 4 ? `${shown.join(", ")}, …` : shown.join(", ") || "none";
  }
}
