import { Token } from "cdktf";

/**
 * Text in HCL-JSON. Every JSON string Terraform reads in an expression position is a *template*:
 * `${…}` interpolates and `%{…}` is a directive. Text that is meant literally — anything that came from
 * a spec — is escaped as `$${` and `%%{`, which the template language turns back into `${` and `%{`.
 * (Terraform language: "Strings and Templates", template literals; the same rule holds for JSON syntax.)
 */
export function escapeHclTemplate(text: string): string {
  // Function replacements: in a replacement string `$$` would collapse to `$`.
  return text.replace(/\$\{/g, () => "$${").replace(/%\{/g, () => "%%{");
}

/**
 * A Terraform expression the project writes on purpose, such as `var.bridges["pve"]["mgmt"]`, as a
 * cdktf token. Tokens survive the HCL-JSON emission boundary ({@link HclJsonStack}) untouched, while
 * every literal around them is escaped; so only expressions made here, or references cdktf makes, are
 * ever evaluated.
 *
 * @param expression - HCL expression without the surrounding `${ }`
 * @returns a string token that resolves to `${expression}`
 */
export function hclExpression(expression: string): string {
  return Token.asString(Token.asAny(`\${${expression}}`));
}
