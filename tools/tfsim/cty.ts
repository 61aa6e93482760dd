import { createHash } from "node:crypto";
import { decode, encode, ExtensionCodec } from "@msgpack/msgpack";

/**
 * cty values as terraform sends them over the plugin protocol: msgpack with unknowns as extension
 * values, objects as maps holding every attribute, dynamic values as `[type JSON, value]`.
 */

export type CtyType =
  | "string"
  | "number"
  | "bool"
  | "dynamic"
  | readonly ["list" | "set" | "map", CtyType]
  | readonly ["object", Readonly<Record<string, CtyType>>]
  | readonly ["object", Readonly<Record<string, CtyType>>, readonly string[]]
  | readonly ["tuple", readonly CtyType[]];

/** An unknown value ("known after apply"). Keeps terraform's extension payload to send it back as is. */
export class Unknown {
  constructor(
    readonly extType = 0,
    readonly data: Uint8Array = new Uint8Array([0]),
  ) {}
}

export type CtyValue = null | string | number | boolean | Unknown | Uint8Array | CtyValue[] | { [k: string]: CtyValue };

const codec = new ExtensionCodec();
// Extension 0 is a plain unknown; 12 is an unknown with refinements (terraform ≥ 1.6). Any other
// extension type is also read as an unknown, which is what cty does.
for (const type of [0, 12]) {
  codec.register({
    type,
    encode: (v: unknown) => (v instanceof Unknown && v.extType === type ? v.data : null),
    decode: (data: Uint8Array) => new Unknown(type, data),
  });
}

export function decodeValue(bytes: Uint8Array | undefined): CtyValue {
  if (!bytes || bytes.length === 0) return null;
  return decode(bytes, { extensionCodec: codec, useBigInt64: false }) as CtyValue;
}

export function encodeValue(value: CtyValue): Uint8Array {
  return encode(value, { extensionCodec: codec, ignoreUndefined: false, forceFloat32: false });
}

export function isObject(v: CtyValue): v is { [k: string]: CtyValue } {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Unknown) && !(v instanceof Uint8Array);
}

/** A value of the given type from its JSON form in a state file (every object attribute present). */
export function fromJson(type: CtyType, json: unknown): CtyValue {
  if (json === null || json === undefined) return null;
  if (type === "string") return String(json);
  if (type === "number") return typeof json === "number" ? json : Number(json);
  if (type === "bool") return Boolean(json);
  if (type === "dynamic") {
    // State stores dynamic values as {"value": …, "type": …}.
    const d = json as { value?: unknown; type?: CtyType };
    if (d.type === undefined) return null;
    return [new TextEncoder().encode(JSON.stringify(d.type)), fromJson(d.type, d.value)];
  }
  const [kind, inner] = type;
  switch (kind) {
    case "list":
    case "set":
      return (json as unknown[]).map((e) => fromJson(inner as CtyType, e));
    case "map":
      return Object.fromEntries(Object.entries(json as object).map(([k, e]) => [k, fromJson(inner as CtyType, e)]));
    case "object": {
      const attrs = inner as Record<string, CtyType>;
      const src = json as Record<string, unknown>;
      return Object.fromEntries(Object.keys(attrs).map((k) => [k, fromJson(attrs[k], src[k])]));
    }
    case "tuple":
      return (inner as CtyType[]).map((t, i) => fromJson(t, (json as unknown[])[i]));
  }
  throw new Error(`unsupported type ${JSON.stringify(type)}`);
}

/** Deterministic short hash of a value, ignoring unknowns: placeholder ids must not change between runs. */
export function valueHash(...parts: unknown[]): string {
  const h = createHash("sha256");
  const feed = (v: unknown): void => {
    if (v instanceof Unknown) h.update("?");
    else if (v instanceof Uint8Array) h.update(Buffer.from(v));
    else if (Array.isArray(v)) {
      h.update("[");
      v.forEach(feed);
      h.update("]");
    } else if (v !== null && typeof v === "object") {
      for (const k of Object.keys(v).sort()) {
        h.update(`${k}=`);
        feed((v as Record<string, unknown>)[k]);
      }
    } else h.update(JSON.stringify(v) ?? "undefined");
  };
  parts.forEach(feed);
  return h.digest("hex").slice(0, 12);
}

/**
 * Replaces every unknown inside a value of the given type with a deterministic placeholder of that
 * type: strings `sim-<attribute>-<hash>`, numbers 0, bools false, empty collections, objects of
 * placeholders.
 */
export function fillUnknowns(type: CtyType, value: CtyValue, name: string, seed: string): CtyValue {
  if (value instanceof Unknown) return placeholder(type, name, seed);
  if (value === null || type === "string" || type === "number" || type === "bool" || type === "dynamic") return value;
  const [kind, inner] = type;
  if ((kind === "list" || kind === "set") && Array.isArray(value)) {
    return value.map((e, i) => fillUnknowns(inner as CtyType, e, `${name}-${i}`, seed));
  }
  if (kind === "map" && isObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, e]) => [k, fillUnknowns(inner as CtyType, e, `${name}-${k}`, seed)]));
  }
  if (kind === "object" && isObject(value)) {
    const attrs = inner as Record<string, CtyType>;
    return Object.fromEntries(Object.keys(attrs).map((k) => [k, fillUnknowns(attrs[k], value[k] ?? null, k, seed)]));
  }
  if (kind === "tuple" && Array.isArray(value)) {
    return (inner as CtyType[]).map((t, i) => fillUnknowns(t, value[i] ?? null, `${name}-${i}`, seed));
  }
  return value;
}

function placeholder(type: CtyType, name: string, seed: string): CtyValue {
  if (type === "string") return `sim-${name}-${seed}`;
  if (type === "number") return 0;
  if (type === "bool") return false;
  if (type === "dynamic") return null;
  const [kind, inner] = type;
  if (kind === "list" || kind === "set") return [];
  if (kind === "map") return {};
  if (kind === "object") {
    const attrs = inner as Record<string, CtyType>;
    return Object.fromEntries(Object.keys(attrs).map((k) => [k, placeholder(attrs[k], k, seed)]));
  }
  return (inner as CtyType[]).map((t, i) => placeholder(t, `${name}-${i}`, seed));
}
