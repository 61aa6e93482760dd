import { App, DefaultTokenResolver, Fn, Lazy, StringConcat, TerraformLocal, TerraformStack, TerraformVariable, Token, Tokenization } from "cdktf";
import { isDeepStrictEqual } from "node:util";
import { describe, expect, it } from "vitest";
import { escapeAndResolve, escapeLiterals, HclJsonStack } from "../constructs/stack/hcl-json-stack";
import { tempDir } from "./support/tree";

/**
 * The emission boundary's one-walk fast path must give what cdktf's resolver gives on the escaped
 * configuration, for every kind of value cdktf can put in one: tokens in strings, numbers, lists, maps
 * and keys, functions, lazies, `resolve` objects, undefined members, and nesting cdktf refuses.
 */
describe("escapeAndResolve", () => {
  const app = new App({ outdir: tempDir("ear") });
  const stack = new TerraformStack(app, "s");
  const v = new TerraformVariable(stack, "v", { type: "string" });
  const nv = new TerraformVariable(stack, "nv", { type: "number" });
  const lv = new TerraformVariable(stack, "lv", { type: "list(string)" });
  const resolver = new DefaultTokenResolver(new StringConcat());
  const slow = (o: unknown) => Tokenization.resolve(o, { scope: stack, preparing: false, resolver });
  const numList = Token.asNumberList(lv.value);
  let deep: unknown = "leaf";
  for (let i = 0; i < 250; i++) deep = { d: deep };
  const cases: Record<string, unknown> = {
    "literal ${ and %{": "a ${b} %{c}",
    "a token inside literal text": `x-${v.stringValue}-\${y}`,
    "a function": Fn.join(",", ["a${b}", v.stringValue]),
    "number-like strings": ["1e5", "size-1e5x", "-2.5e+10"],
    "a number token": nv.numberValue,
    "a number token in a string": `n=${nv.numberValue}`,
    "a number token as a key": { [`${nv.numberValue}`]: "x" },
    "a number token in a nested key": { tags: { [`k${nv.numberValue}`]: "x" } },
    "a string token as a key": { [v.stringValue]: "x" },
    "a string list token": lv.listValue,
    "a string list token among literals": ["a", ...lv.listValue],
    "a number list token": numList,
    "a number list token in an object": { ports: numList },
    "a number list token among numbers": [1, ...numList],
    "undefined members": [[1, undefined, [undefined, "a"]], undefined, { a: undefined, b: [undefined] }],
    "a sparse array": [1, , 3], // eslint-disable-line no-sparse-arrays
    "a resolve object": { resolve: () => "R${x}" },
    "a nested resolve object": { k: { resolve: () => ({ z: "${q}", u: undefined }) } },
    "a lazy string": Lazy.stringValue({ produce: () => "lazy${x}" }),
    "a lazy value": Lazy.anyValue({ produce: () => ({ a: "${x}", b: [undefined, 1] }) }),
    "a date": new Date(0),
    "booleans and null": [true, false, null],
    "Token.asAny": Token.asAny({ a: "${x}" }),
    "a string map token": Token.asStringMap(v.value),
    "a number map token": { m: Token.asNumberMap(v.value) },
    "huge and non-finite numbers": [1e300, -1e300, Infinity, Number.NaN],
    "nesting deeper than cdktf allows": deep,
  };
  for (const [name, value] of Object.entries(cases)) {
    it(`equals cdktf's resolution of the escaped value: ${name}`, () => {
      let fast: unknown;
      let reference: unknown;
      let fastError: unknown;
      let referenceError: unknown;
      try {
        fast = escapeAndResolve(value, slow);
      } catch (e) {
        fastError = e;
      }
      try {
        reference = slow(escapeLiterals(value));
      } catch (e) {
        referenceError = e;
      }
      expect(fastError === undefined, `fast path ${fastError ? "threw" : "did not throw"}; cdktf ${referenceError ? "threw" : "did not"}`).toBe(referenceError === undefined);
      if (fastError === undefined) expect(isDeepStrictEqual(fast, reference) || fast).toBe(true);
    });
  }
});

describe("a stack's own overrides", () => {
  it("keep cdktf's semantics: undefined deletes, a token replaces whole", () => {
    class Stack extends HclJsonStack {}
    const s = new Stack(new App({ outdir: tempDir("overrides") }), "st");
    new TerraformLocal(s, "l", { a: [1, 2], obj: { x: 1, y: 2 }, gone: "bye", kept: "yes" });
    s.addOverride("locals.l.gone", undefined);
    s.addOverride("locals.l.obj", Token.asAny(Lazy.anyValue({ produce: () => ({ z: 3 }) })));
    s.addOverride("locals.l.a", Token.asAny(Lazy.anyValue({ produce: () => [9] })));
    expect((s.toTerraform() as { locals: unknown }).locals).toEqual({ l: { a: [9], obj: { z: 3 }, kept: "yes" } });
  });
});
