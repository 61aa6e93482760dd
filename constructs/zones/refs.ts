/** Terraform expressions written as plain interpolation strings, so the JSON reads like hand-written HCL. */

function key(k: string): string {
  return `[${JSON.stringify(k)}]`;
}

/** `${var.name["a"]["b"]}` */
export function varRef(name: string, ...keys: string[]): string {
  return `\${var.${name}${keys.map(key).join("")}}`;
}

/** `${module.name.output}` */
export function moduleOutput(module: string, output: string): string {
  return `\${module.${module}.${output}}`;
}

/** `${templatefile("${path.root}/<file>", { k = v, ... })}`: a sidecar template read at apply time. */
export function sidecarTemplate(file: string, vars: Readonly<Record<string, string>>): string {
  const args = Object.entries(vars)
    .map(([k, v]) => `${k} = ${v}`)
    .join(", ");
  return `\${templatefile("\${path.root}/${file}", { ${args} })}`;
}

/** `${file("${path.root}/<file>")}`: a sidecar read at plan time. */
export function sidecarFile(file: string): string {
  return `\${file("\${path.root}/${file}")}`;
}
