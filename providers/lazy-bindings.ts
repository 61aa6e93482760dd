/**
 * Makes the nested-block references of the generated classes lazy.
 *
 * The cdktf generator gives every resource, data source and nested-block class one field per nested
 * block or computed list, made when the object is: `private _agent = new
 * VirtualEnvironmentVmAgentOutputReference(this, "agent")`. Each of those objects records a creation
 * stack trace (cdktf's ComplexResolvable); a Proxmox VM has 25 of them and its `initialization` block
 * three more: most of the cost of constructing a VM, paid for blocks nobody sets or reads. Here the
 * field becomes a getter that makes the object on first use, and the generated code that only hands
 * a value over (the constructor's config, a block's `internalValue` setter, a reset, the attribute
 * synthesis) no longer makes an object to hand over nothing: a reference never made has no value, as
 * a fresh one has none.
 *
 * The public API of the classes is unchanged: `vm.agent`, `vm.putAgent()`, `vm.resetAgent()` and
 * `vm.agentInput` make the object as before.
 */

/** `private _name = new Type(this, "attr"…);` */
const STORED = /^ {2}private (_[A-Za-z0-9]+) = new ([A-Za-z0-9_.]+)\((this, [^;]*)\);$/gm;

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** One class: its stored fields made lazy. */
function lazyClass(body: string, file: string): string {
  const stored = [...body.matchAll(STORED)].map((m) => ({ field: m[1], type: m[2], args: m[3] }));
  for (const { field, type, args } of stored) {
    const backing = `_${field}`;
    const f = escape(field);
    if (body.includes(`this.${backing}`)) throw new Error(`lazy bindings: ${file} already uses ${backing}`);
    if (new RegExp(`this\\.${f} = `).test(body)) throw new Error(`lazy bindings: ${file} reassigns ${field}`);
    body = body.replace(
      `  private ${field} = new ${type}(${args});`,
      `  private ${backing}?: ${type};\n  private get ${field}(): ${type} {\n    return (this.${backing} ??= new ${type}(${args}));\n  }`,
    );
    // reads that already allow for no object
    body = body.split(`this.${field}?.internalValue`).join(`this.${backing}?.internalValue`);
    // handing over a config or a block's value: make the object only for a value, or to clear one
    body = body.replace(
      new RegExp(`^( +)this\\.${f}\\.internalValue = ((?:config|value)\\.[A-Za-z0-9]+);$`, "gm"),
      (_, indent: string, value: string) => `${indent}if (${value} !== undefined || this.${backing} !== undefined) this.${field}.internalValue = ${value};`,
    );
    // clearing: nothing to clear in an object never made
    body = body.replace(
      new RegExp(`^( +)this\\.${f}\\.internalValue = undefined;$`, "gm"),
      (_, indent: string) => `${indent}if (this.${backing} !== undefined) this.${backing}.internalValue = undefined;`,
    );
    // attribute synthesis: read the block only if it was made
    for (const method of ["synthesizeAttributes", "synthesizeHclAttributes"]) {
      const at = body.indexOf(`protected ${method}()`);
      if (at < 0) continue;
      const end = body.indexOf("\n  }\n", at);
      const section = body.slice(at, end).split(`this.${field}.internalValue`).join(`this.${backing}?.internalValue`);
      body = body.slice(0, at) + section + body.slice(end);
    }
  }
  return body;
}

/**
 * The transformed text of one generated file, class by class.
 *
 * @throws Error when the generated code does not have the shape this transform relies on
 */
export function lazyBindings(source: string, file: string): string {
  const parts = source.split(/^(?=export class )/m);
  return parts.map((part) => (part.startsWith("export class ") ? lazyClass(part, file) : part)).join("");
}
