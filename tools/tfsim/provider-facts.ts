import { readFileSync } from "node:fs";
import { CtyValue, isObject, Unknown, valueHash } from "./cty";

/**
 * The provider fact table (tools/tfsim/facts/*.json): what the real providers do at plan time that
 * their schemas do not say. Each entry was read from the pinned provider source and cites it
 * (`source`: file:line at the tag named in the file). Format: facts/README.md.
 */

/** How a replacement condition is simulated; `when` keeps the provider's own words. */
export type ReplaceMode =
  /** any difference between the prior and planned value (elementwise in lists of blocks) */
  | "change"
  /** a difference, unless the planned `migrate` is true (bpg VM node_name) */
  | "unless-migrate"
  /** the number of blocks changes (a block added or removed) */
  | "count"
  /** a difference while the block exists before and after */
  | "both-present"
  /** a difference between the values as sets (order ignored) */
  | "set"
  /** the planned version is lower than the prior one (Talos secrets' talos_version) */
  | "decrease"
  /** depends on the real object (a refresh of a datastore file, say): not simulated */
  | "not-simulated";

export interface ReplaceFact {
  readonly path: string;
  readonly when: string;
  readonly sim?: ReplaceMode;
  readonly mechanism?: string;
  readonly source: string;
}

export interface DefaultFact {
  readonly path: string;
  /** The default; with `literal: false` a description of a computed default instead. */
  readonly value: unknown;
  readonly literal?: boolean;
  /** The default is the value of this sibling attribute (talos: `endpoint` defaults to `node`). */
  readonly copyFrom?: string;
  readonly source: string;
}

export interface ComputedFact {
  readonly path: string;
  readonly format: string;
  /** A regular expression every real value matches (strings and numbers as text). */
  readonly pattern?: string;
  /** Whether an in-place update plan keeps the prior value (else it is unknown until apply). */
  readonly keptOnUpdate: boolean | string;
  /** Attributes whose change makes the value unknown in an update plan (SDKv2 ComputedIf). */
  readonly unknownWhenChanged?: readonly string[];
  readonly source: string;
}

export interface DeprecatedFact {
  readonly path: string;
  readonly message: string;
  readonly source: string;
}

export interface TypeFacts {
  readonly framework?: string;
  readonly source?: string;
  readonly replace?: readonly ReplaceFact[];
  readonly defaults?: readonly DefaultFact[];
  readonly computed?: readonly ComputedFact[];
  readonly deprecated?: readonly DeprecatedFact[];
}

export interface ProviderFacts {
  readonly provider: string;
  readonly version: string;
  readonly repository: string;
  readonly ref: string;
  readonly commit?: string;
  readonly resources: Readonly<Record<string, TypeFacts>>;
  readonly dataSources?: Readonly<Record<string, TypeFacts>>;
}

/** Reads one provider's fact file. */
export function loadProviderFacts(file: string): ProviderFacts {
  return JSON.parse(readFileSync(file, "utf8")) as ProviderFacts;
}

type Obj = { [k: string]: CtyValue };

/** A deep copy that keeps unknowns as {@link Unknown} (structuredClone would turn them into plain objects). */
export function cloneValue<T extends CtyValue>(v: T): T {
  if (v === null || typeof v !== "object" || v instanceof Unknown || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map((e) => cloneValue(e)) as T;
  return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, cloneValue(e)])) as T;
}

/** Every object that holds the last segment of `path`, walking blocks and lists of blocks. */
function holders(value: CtyValue, segments: readonly string[]): Obj[] {
  if (value === null || value instanceof Unknown) return [];
  if (Array.isArray(value)) return value.flatMap((e) => holders(e, segments));
  if (!isObject(value)) return [];
  if (segments.length === 1) return [value];
  return holders(value[segments[0]], segments.slice(1));
}

/** The value at a dot path, lists of blocks kept as lists (for comparison). */
export function valueAt(value: CtyValue, path: string): CtyValue {
  const walk = (v: CtyValue, segs: readonly string[]): CtyValue => {
    if (segs.length === 0 || v === null || v instanceof Unknown) return v;
    if (Array.isArray(v)) return v.map((e) => walk(e, segs));
    if (!isObject(v)) return null;
    return walk(v[segs[0]] ?? null, segs.slice(1));
  };
  return walk(value, path.split("."));
}

const isScalarDefault = (v: unknown) => typeof v === "string" || typeof v === "number" || typeof v === "boolean";

/**
 * Fills the provider's defaults into a planned value: every null attribute that has a scalar default
 * gets it, in every block that holds it. (Block-level DefaultFuncs are not materialised in a plan, so
 * they are left out.)
 */
export function applyDefaults(facts: TypeFacts | undefined, planned: CtyValue): CtyValue {
  if (!facts?.defaults || !isObject(planned)) return planned;
  const out = cloneValue(planned) as Obj;
  for (const d of facts.defaults) {
    if (!d.copyFrom && (d.literal === false || !isScalarDefault(d.value))) continue;
    const segments = d.path.split(".");
    const leaf = segments[segments.length - 1];
    for (const holder of holders(out, segments)) {
      if (!(leaf in holder) || holder[leaf] !== null) continue;
      holder[leaf] = d.copyFrom ? (holder[d.copyFrom] ?? null) : (d.value as CtyValue);
    }
  }
  return out;
}

/** Compares `v1.13` / `1.13.9` style versions numerically, part by part. */
function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.replace(/^v/, "").split(".").map((x) => Number.parseInt(x, 10) || 0);
  const [pa, pb] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

const sameValue = (a: CtyValue, b: CtyValue) => valueHash(a) === valueHash(b);
const asSet = (v: CtyValue) => (Array.isArray(v) ? [...v].map((e) => valueHash(e)).sort() : v);
const blockCount = (v: CtyValue) => (Array.isArray(v) ? v.length : v === null ? 0 : 1);

/** The replace facts a change from `prior` to `planned` triggers. */
export function replacementsFor(facts: TypeFacts | undefined, prior: CtyValue, planned: CtyValue): ReplaceFact[] {
  if (!facts?.replace || !isObject(prior) || !isObject(planned)) return [];
  return facts.replace.filter((r) => {
    const before = valueAt(prior, r.path);
    const after = valueAt(planned, r.path);
    switch (r.sim ?? "change") {
      case "change":
        return !sameValue(before, after);
      case "unless-migrate":
        return !sameValue(before, after) && planned.migrate !== true;
      case "count":
        return blockCount(before) !== blockCount(after);
      case "both-present": {
        const block = r.path.split(".")[0];
        return blockCount(prior[block]) > 0 && blockCount(planned[block]) > 0 && !sameValue(before, after);
      }
      case "set":
        return !sameValue(asSet(before), asSet(after));
      case "decrease":
        return typeof before === "string" && typeof after === "string" && compareVersions(after, before) < 0;
      case "not-simulated":
        return false;
    }
  });
}

/**
 * An update plan's computed values: those the provider does not keep on update turn unknown (always,
 * or when one of the attributes named in `unknownWhenChanged` changes), unless the configuration sets
 * them (the plugin framework marks only null computed values unknown).
 */
export function unknownOnUpdate(facts: TypeFacts | undefined, prior: CtyValue, planned: CtyValue, config: CtyValue = null): CtyValue {
  if (!facts?.computed || !isObject(planned)) return planned;
  const out = cloneValue(planned) as Obj;
  for (const c of facts.computed) {
    const whenChanged = c.unknownWhenChanged ?? [];
    const unknown =
      c.keptOnUpdate === false ||
      (whenChanged.length > 0 && isObject(prior) && whenChanged.some((a) => !sameValue(valueAt(prior, a), valueAt(planned, a))));
    // A value the configuration sets is the planned value (only unset computed values go unknown).
    const configured = valueAt(config, c.path);
    const set = Array.isArray(configured) ? configured.some((v) => v !== null) : configured !== null;
    if (!unknown || set) continue;
    const segments = c.path.split(".");
    const leaf = segments[segments.length - 1];
    for (const holder of holders(out, segments)) if (leaf in holder) holder[leaf] = new Unknown();
  }
  return out;
}

/** Deprecated attributes set in a configuration, with the provider's message. */
export function deprecationsIn(facts: TypeFacts | undefined, config: CtyValue): DeprecatedFact[] {
  if (!facts?.deprecated || !isObject(config)) return [];
  return facts.deprecated.filter((d) => {
    if (d.path.startsWith("(")) return false; // a deprecated type name, not an attribute
    const segments = d.path.split(".");
    const leaf = segments[segments.length - 1];
    return holders(config, segments).some((h) => h[leaf] !== null && h[leaf] !== undefined);
  });
}
