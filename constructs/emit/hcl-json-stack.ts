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

function tokenElement(v: unknown): boolean {
  return (typeof v === "string" && v.includes(TOKEN_MARKER)) || (typeof v === "number" && Token.isUnresolved(v));
}

/**
 * {@link escapeLiterals} and cdktf's resolution in one walk: plain objects, arrays and literals that
 * hold no token are copied as cdktf's resolver would copy them (undefined members dropped); every
 * value that holds a token, is not plain, or might be read as one by cdktf is escaped and handed to
 * `slow` (cdktf's resolver) whole. The result equals `slow(escapeLiterals(value))`; it only skips
 * cdktf's per-leaf work on the bulk of a configuration, which is literal.
 *
 * @param value - an element's unresolved configuration
 * @param slow - cdktf's resolution of a value
 */
export function escapeAndResolve(value: unknown, slow: (v: unknown) => unknown): unknown {
  if (typeof value === "string") {
    const escaped = escapeLiteralParts(value);
    return tokenString(escaped) ? slow(escaped) : escaped;
  }
  if (typeof value === "number") return Token.isUnresolved(value) ? slow(value) : value;
  if (value === null || typeof value !== "object") return typeof value === "function" ? slow(value) : value;
  if (Array.isArray(value)) {
    if (value.some(tokenElement)) return slow(escapeLiterals(value));
    const out: unknown[] = [];
    for (const x of value) {
      const r = escapeAndResolve(x, slow);
      if (r !== undefined) out.push(r);
    }
    return out;
  }
  if (!isPlain(value)) return slow(value);
  const entries = Object.entries(value);
  if (entries.some(([k, v]) => k.includes(TOKEN_MARKER) || typeof v === "function")) return slow(escapeLiterals(value));
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) {
    const r = escapeAndResolve(v, slow);
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
    for (const fragment of elements.map((e) => escapeAndResolve(e.toTerraform(), resolve))) deepMerge(tf, fragment);
    // Every fragment is resolved already: only the overrides hold tokens still. (cdktf resolves the
    // whole merged tree a second time; on a lab of thousands of VMs that walk was a quarter of synth.)
    deepMerge(tf, resolve(escapeLiterals(self.rawOverrides)));
    return tf;
  }
}
