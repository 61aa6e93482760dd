import * as ipaddr from "ipaddr.js";

const MAX = 2 ** 32 - 1;

/** Texts already parsed by {@link AddressSet.parse}, and how many to keep before starting over. */
const PARSED = new Map<string, AddressSet | undefined>();
const PARSED_MAX = 10_000;

/**
 * A set of IPv4 addresses as sorted, disjoint, inclusive intervals of 32-bit numbers. Small and exact:
 * what the separation policy needs to compare rule sources and destinations with the lab's networks.
 */
export class AddressSet {
  /** Every IPv4 address. */
  static readonly ANY = new AddressSet([[0, MAX]]);
  /** No address. */
  static readonly NONE = new AddressSet([]);

  private constructor(private readonly spans: readonly (readonly [number, number])[]) {}

  /**
   * An address (`10.0.0.1`), a subnet (`10.0.0.0/24`; host bits are ignored) or a range
   * (`10.0.0.1-10.0.0.9`, as pfSense aliases may hold), or undefined when the text is none of these.
   */
  static parse(text: string): AddressSet | undefined {
    // sets are immutable and a lab's rules repeat the same few subnets thousands of times
    if (PARSED.has(text)) return PARSED.get(text);
    const parsed = AddressSet.parseOnce(text);
    if (parsed) {
      // shared from now on: frozen, so no caller can change what the next one gets
      for (const span of parsed.spans) Object.freeze(span);
      Object.freeze(parsed.spans);
    }
    if (PARSED.size >= PARSED_MAX) PARSED.clear();
    if (text.length <= 64) PARSED.set(text, parsed); // addresses, subnets and ranges; not arbitrary text
    return parsed;
  }

  private static parseOnce(text: string): AddressSet | undefined {
    const t = text.trim();
    const range = /^([\d.]+)\s*-\s*([\d.]+)$/.exec(t);
    if (range) {
      const [a, b] = [AddressSet.parse(range[1]), AddressSet.parse(range[2])];
      if (!a || !b || a.spans[0][0] !== a.spans[0][1] || b.spans[0][0] !== b.spans[0][1]) return undefined;
      const [lo, hi] = [a.spans[0][0], b.spans[0][0]].sort((x, y) => x - y);
      return new AddressSet([[lo, hi]]);
    }
    try {
      if (t.includes("/")) {
        const [addr, len] = ipaddr.IPv4.parseCIDR(t);
        const base = toNumber(addr.octets);
        const size = 2 ** (32 - len);
        const start = base - (base % size);
        return new AddressSet([[start, start + size - 1]]);
      }
      if (!ipaddr.IPv4.isValidFourPartDecimal(t)) return undefined;
      const n = toNumber(ipaddr.IPv4.parse(t).octets);
      return new AddressSet([[n, n]]);
    } catch {
      return undefined;
    }
  }

  /** The union of several sets. */
  static union(sets: readonly AddressSet[]): AddressSet {
    return normalize(sets.flatMap((s) => s.spans));
  }

  /** Addresses in this set or the other. */
  or(other: AddressSet): AddressSet {
    return AddressSet.union([this, other]);
  }

  /** Addresses not in this set. */
  complement(): AddressSet {
    const out: [number, number][] = [];
    let next = 0;
    for (const [a, b] of this.spans) {
      if (a > next) out.push([next, a - 1]);
      next = b + 1;
    }
    if (next <= MAX) out.push([next, MAX]);
    return new AddressSet(out);
  }

  /** Addresses in this set and not in the other. */
  minus(other: AddressSet): AddressSet {
    return this.and(other.complement());
  }

  /** Addresses in both sets. */
  and(other: AddressSet): AddressSet {
    const out: [number, number][] = [];
    let i = 0;
    let j = 0;
    while (i < this.spans.length && j < other.spans.length) {
      const [a1, b1] = this.spans[i];
      const [a2, b2] = other.spans[j];
      const lo = Math.max(a1, a2);
      const hi = Math.min(b1, b2);
      if (lo <= hi) out.push([lo, hi]);
      if (b1 < b2) i++;
      else j++;
    }
    return new AddressSet(out);
  }

  /** Whether the set has no address. */
  get empty(): boolean {
    return this.spans.length === 0;
  }

  /** Whether every address of this set is in the other. */
  within(other: AddressSet): boolean {
    return this.minus(other).empty;
  }

  /** Whether the sets share an address. */
  meets(other: AddressSet): boolean {
    return !this.and(other).empty;
  }

  /** A short text of the set, e.g. `10.10.100.11`, `10.10.100.0-10.10.100.255`, `any`. */
  toString(): string {
    if (this.spans.length === 1 && this.spans[0][0] === 0 && this.spans[0][1] === MAX) return "any";
    const ip = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
    const shown = this.spans.slice(0, 3).map(([a, b]) => (a === b ? ip(a) : `${ip(a)}-${ip(b)}`));
    return this.spans.length > 3 ? `${shown.join(", ")}, …` : shown.join(", ") || "nothing";
  }
}

function toNumber(octets: readonly number[]): number {
  return octets.reduce((acc, o) => acc * 256 + o, 0);
}

function normalize(spans: readonly (readonly [number, number])[]): AddressSet {
  const sorted = [...spans].sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return new (AddressSet as unknown as new (s: readonly (readonly [number, number])[]) => AddressSet)(out);
}
