/**
 * Makes the nested-block references of the generated resource and data-source classes lazy.
 *
 * The cdktf generator gives every resource class one field per nested block or computed list,
 * initialised in the constructor: `private _agent = new VirtualEnvironmentVmAgentOutputReference(this,
 * "agent")`. Each of those objects records a creation stack trace when it is made (cdktf's
 * ComplexResolvable), and a Proxmox VM has 25 of them: most of the cost of constructing a VM, paid for
 * blocks nobody sets or reads. Here the field becomes a getter that makes the object on first use;
 * the constructor assigns a block only when the config sets it; the attribute synthesis reads the
 * block only if it was made (a reference never made has no value, as a fresh one has none).
 *
 * The public API of the classes is unchanged: `vm.agent`, `vm.putAgent()`, `vm.resetAgent()` and
 * `vm.agentInput` make the object as before.
 */

/** `private _name = new Type(this, "attr"…);` inside a resource or data-source class. */
const STORED = /^ {2}private (_[A-Za-z0-9]+) = new ([A-Za-z0-9_.]+)\((this, [^;]*)\);$/gm;

/** The class a generated file ends with: the resource or the data source. */
const RESOURCE_CLASS = /^export class \w+ extends cdktf\.Terraform(Resource|DataSource) \{$/m;

/**
 * The transformed text of one generated file; a file without a resource or data-source class is
 * returned as it is.
 *
 * @throws Error when the generated code does not have the shape this transform relies on
 */
export function lazyBindings(source: string, file: string): string {
  const start = source.search(RESOURCE_CLASS);
  if (start < 0) return source;
  const head = source.slice(0, start);
  let body = source.slice(start);
  const stored = [...body.matchAll(STORED)].map((m) => ({ field: m[1], type: m[2], args: m[3] }));
  for (const { field, type, args } of stored) {
    const backing = `_${field}`;
    if (body.includes(`this.${backing}`)) throw new Error(`lazy bindings: ${file} already uses ${backing}`);
    if (new RegExp(`this\\.${field} = `).test(body)) throw new Error(`lazy bindings: ${file} reassigns ${field}`);
    body = body.replace(
      `  private ${field} = new ${type}(${args});`,
      `  private ${backing}?: ${type};\n  private get ${field}(): ${type} {\n    return (this.${backing} ??= new ${type}(${args}));\n  }`,
    );
    // constructor: `this._x.internalValue = config.y;` only when the config sets the block
    body = body.replace(
      new RegExp(`^( {4})this\\.${field}\\.internalValue = (config\\.[A-Za-z0-9]+);$`, "m"),
      (_, indent: string, value: string) => `${indent}if (${value} !== undefined) this.${field}.internalValue = ${value};`,
    );
    // synthesis: read the block only if it was made
    for (const method of ["synthesizeAttributes", "synthesizeHclAttributes"]) {
      const at = body.indexOf(`protected ${method}()`);
      if (at < 0) throw new Error(`lazy bindings: ${file} has no ${method}`);
      const end = body.indexOf("\n  }\n", at);
      const section = body.slice(at, end).split(`this.${field}.internalValue`).join(`this.${backing}?.internalValue`);
      body = body.slice(0, at) + section + body.slice(end);
    }
  }
  return head + body;
}
