import { hclExpression } from "./hcl-text";

/**
 * Terraform expressions the modules use, as tokens (see {@link hclExpression}): they reach the JSON as
 * `${…}` interpolations that read like hand-written HCL, while every literal next to them is escaped.
 */

function key(k: string): string {
  return `[${JSON.stringify(k)}]`;
}

/** `${var.name["a"]["b"]}` */
export function varRef(name: string, ...keys: string[]): string {
  return hclExpression(`var.${name}${keys.map(key).join("")}`);
}

/** `${module.name.output}` */
export function moduleOutput(module: string, output: string): string {
  return hclExpression(`module.${module}.${output}`);
}

/**
 * `${templatefile("${path.root}/<file>", { k = v, ... })}`: a sidecar template read at apply time.
 * `vars` maps template variable names to HCL expressions.
 */
export function sidecarTemplate(file: string, vars: Readonly<Record<string, string>>): string {
  const args = Object.entries(vars)
    .map(([k, v]) => `${k} = ${v}`)
    .join(", ");
  return hclExpression(`templatefile("\${path.root}/${file}", { ${args} })`);
}

/** `${file("${path.root}/<file>")}`: a sidecar read at plan time. */
export function sidecarFile(file: string): string {
  return hclExpression(`file("\${path.root}/${file}")`);
}
