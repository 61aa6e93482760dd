import { DefaultTokenResolver, StringConcat, TerraformElement, TerraformOutput, TerraformStack, Token, Tokenization } from "cdktf";
import { deepMerge } from "cdktf/lib/util";
import { IConstruct } from "constructs";
import { escapeHclTemplate } from "./hcl-text";

/** cdktf's encoding of a string token inside a string: `${TfToken[TOKEN.<n>]}` (cdktf tokens/private/encoding). */
const STRING_TOKEN = /\$\{TfToken\[[a-zA-Z0-9:._-]+\]\}/g;

/** Escapes the literal parts of a string that may hold encoded cdktf tokens; the tokens stay as they are. */
export function escapeLiteralParts(text: string): string {
  let out = "";
  let last = 0;
  for (const m of text.matchAll(STRING_TOKEN)) {
    out += escapeHclTemplate(text.slice(last, m.index)) + m[0];
    last = m.index! + m[0].length;
  }
  return out + escapeHclTemplate(text.slice(last));
}

function isPlain(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * A copy of an element's unresolved configuration with every literal string escaped for HCL
 * templates. Object keys are names (validated identifiers), not templates in block positions, and are
 * kept; class instances are cdktf tokens and expressions (resolved later, by cdktf) and are kept.
 */
export function escapeLiterals(value: unknown): unknown {
  if (typeof value === "string") return escapeLiteralParts(value);
  if (Array.isArray(value)) return value.map(escapeLiterals);
  if (value !== null && typeof value === "object" && isPlain(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeLiterals(v)]));
  }
  return value;
}

/** Marks every encoded cdktf token in a string: `${TfToken[…]}`, `#{TfToken[…]}` (lists), `&{TfToken[…]}` (maps). */
const TOKEN_MARKER = "TfToken[";

/**
 * cdktf's pattern for numbers encoded inside strings (tokens/private/encoding NUMBER_TOKEN_REGEX): a
 * string it matches goes through cdktf's resolver, as it would without the fast path.
 */
const NUMBER_IN_STRING = /[-|\d|.+]+(e[-|\d|.|e|E|+]+)/;

function tokenString(v: string): boolean {
  return v.includes(TOKEN_MARKER) || NUMBER_IN_STRING.test(v);
}

/**
 * cdktf encodes number tokens (scalars and list elements alike) as doubles around ±1.9e289; no number
 * a lab config holds comes near. Anything from 1e280 up, or not finite, goes to cdktf's resolver.
 */
function tokenNumber(v: number): boolean {
  return !Number.isFinite(v) || Math.abs(v) >= 1e280 || Token.isUnresolved(v);
}

function tokenElement(v: unknown): boolean {
  return (typeof v === "string" && v.includes(TOKEN_MARKER)) || (typeof v === "number" && tokenNumber(v));
}

/** cdktf's resolver refuses nesting deeper than this (a cycle, to it). */
const MAX_DEPTH = 200;

/**
 * {@link escapeLiterals} and cdktf's resolution in one walk: plain objects, arrays and literals that
 * hold no token are copied as cdktf's resolver would copy them (undefined members dropped); every
 * value that holds a token, is not plain, or might be read as one by cdktf is escaped and handed to
 * `slow` (cdktf's resolver) whole. The result equals `slow(escapeLiterals(value))`; it only skips
 * cdktf's per-leaf work on the bulk of a configuration, which is literal.
 *
 * @param value - an element's unresolved configuration
 * @param slow - cdktf's resolution of a value
 * @param depth - nesting so far (cdktf refuses more than 200 levels, and so does this)
 * @throws Error for nesting deeper than 200 levels, as cdktf's resolver does
 */
export function escapeAndResolve(value: unknown, slow: (v: unknown) => unknown, depth = 0): unknown {
  if (typeof value === "string") {
    const escaped = escapeLiteralParts(value);
    return tokenString(escaped) ? slow(escaped) : escaped;
  }
  if (typeof value === "number") return tokenNumber(value) ? slow(value) : value;
  if (value === null || typeof value !== "object") return typeof value === "function" ? slow(value) : value;
  if (depth >= MAX_DEPTH) throw new Error(`Unable to resolve: nesting deeper than ${MAX_DEPTH} levels (a cycle?)`);
  if (Array.isArray(value)) {
    if (value.some(tokenElement)) return slow(escapeLiterals(value));
    const out: unknown[] = [];
    for (const x of value) {
      const r = escapeAndResolve(x, slow, depth + 1);
      if (r !== undefined) out.push(r);
    }
    return out;
  }
  if (!isPlain(value)) return slow(value);
  const entries = Object.entries(value);
  // a key may be a token too (strings or numbers encoded in it), and a `resolve` function makes a token
  if (entries.some(([k, v]) => tokenString(k) || typeof v === "function")) return slow(escapeLiterals(value));
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) {
    const r = escapeAndResolve(v, slow, depth + 1);
    if (r !== undefined) out[k] = r;
  }
  return out;
}

function terraformElements(node: IConstruct, into: TerraformElement[] = []): TerraformElement[] {
  if (TerraformElement.isTerraformElement(node)) into.push(node);
  for (const child of node.node.children) {
    if (TerraformStack.isStack(child)) continue;
    terraformElements(child, into);
  }
  return into;
}

/**
 * A TerraformStack whose HCL-JSON is the project's one emission boundary for Terraform: literal text
 * in every element (resources, data sources, variables, outputs, module calls, providers, overrides)
 * is escaped before cdktf resolves the tokens, so a `${…}` or `%{…}` that came from a spec reaches
 * Terraform as text and is never evaluated. Expressions the project means are tokens
 * ({@link hclExpression}, attribute references) and pass through.
 *
 * The assembly follows cdktf 0.21's `TerraformStack.toTerraform` (metadata, outputs, fragments merged
 * in construct order, stack overrides last), with the escaping step added before resolution and each
 * part resolved once (cdktf resolves the merged tree again).
 */
export abstract class HclJsonStack extends TerraformStack {
  /**
   * The stack's HCL-JSON, with every literal escaped for Terraform's template language.
   *
   * @returns the resolved configuration cdktf writes as `*.tf.json`
   */
  override toTerraform(): any { // eslint-disable-line @typescript-eslint/no-explicit-any
    const resolver = new DefaultTokenResolver(new StringConcat());
    const resolve = (obj: unknown) => Tokenization.resolve(obj, { scope: this, preparing: false, resolver });
    const self = this as unknown as { rawOverrides: Record<string, unknown>; cdktfVersion: string };
    const tf: Record<string, unknown> = {};
    const metadata: Record<string, unknown> = {
      version: self.cdktfVersion,
      stackName: this.node.id,
      backend: "local",
      cloud: undefined,
      ...(Object.keys(self.rawOverrides).length > 0 ? { overrides: { stack: Object.keys(self.rawOverrides) } } : {}),
    };
    const elements = terraformElements(this);
    for (const meta of elements.map((e) => resolve(e.toMetadata()))) deepMerge(metadata, meta);
    const outputs: Record<string, unknown> = {};
    for (const item of elements) {
      if (!TerraformOutput.isTerraformOutput(item)) continue;
      deepMerge(
        outputs,
        item.node.path.split("/").reduceRight<Record<string, unknown>>((inner, part) => (Object.keys(inner).length === 0 ? { [part]: item.friendlyUniqueId } : { [part]: inner }), {}),
      );
    }
    tf["//"] = { metadata, outputs };
    // A string that holds tokens (a reference, say) resolves to the same text wherever it stands in
    // the stack (cdktf itself resolves every token twice); VMs repeat the same few references.
    const resolvedStrings = new Map<string, string>();
    const resolveOnce = (v: unknown): unknown => {
      if (typeof v !== "string") return resolve(v);
      const known = resolvedStrings.get(v);
      if (known !== undefined) return known;
      const r = resolve(v);
      if (typeof r === "string") resolvedStrings.set(v, r);
      return r;
    };
    for (const fragment of elements.map((e) => escapeAndResolve(e.toTerraform(), resolveOnce))) deepMerge(tf, fragment);
    // Every fragment is resolved already. cdktf merges the stack's own overrides unresolved (an
    // undefined deletes, a token replaces whole) and resolves the merged tree again; without stack
    // overrides that second walk changes nothing and was, on a lab of thousands of VMs, a quarter of
    // synth, so it runs only when there are some.
    if (Object.keys(self.rawOverrides).length === 0) return tf;
    deepMerge(tf, escapeLiterals(self.rawOverrides));
    return resolve(tf);
  }
}
