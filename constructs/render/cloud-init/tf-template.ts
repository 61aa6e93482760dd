import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fillTokens, renderTemplate, TEMPLATE_DIR } from "../text/template";

/**
 * Helpers for sidecars that Terraform reads with templatefile(): every `${` and `%{` that is not one
 * of the template's variables is escaped (`$${`, `%%{`), so shell, systemd and Python text inside a
 * user-data file reaches the VM unchanged.
 */

/** Escapes text for a templatefile() template: `${` → `$${`, `%{` → `%%{`. */
export function escapeTemplatefile(text: string): string {
  // Function replacements: in a replacement string `$$` would collapse to `$`.
  return text.replace(/\$\{/g, () => "$${").replace(/%\{/g, () => "%%{");
}

/** Variables a template interpolates (`${name}`, not the escaped `$${`). */
export function templateVariables(text: string): string[] {
  return [...new Set([...text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]))].sort();
}

/**
 * Fills a template the way templatefile() does for plain variable references: `${name}` gets the
 * value, `$${`/`%%{` become `${`/`%{`. Any other interpolation or directive is an error here, since
 * these templates use none.
 */
export function fillTerraformTemplate(text: string, values: Readonly<Record<string, string>>): string {
  let out = "";
  for (let i = 0; i < text.length; ) {
    const two = text.slice(i, i + 2);
    const three = text.slice(i, i + 3);
    if (three === "$${" || three === "%%{") {
      out += three.slice(1);
      i += 3;
    } else if (two === "${") {
      const end = text.indexOf("}", i);
      const name = text.slice(i + 2, end);
      if (end < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`unsupported interpolation at ${i}: ${text.slice(i, i + 40)}`);
      if (!(name in values)) throw new Error(`no value for template variable ${name}`);
      out += values[name];
      i = end + 1;
    } else if (two === "%{") {
      throw new Error(`unexpected template directive at ${i}: ${text.slice(i, i + 40)}`);
    } else {
      out += text[i];
      i += 1;
    }
  }
  return out;
}

/** A template file under templates/ read as is (no tokens). */
export function readTemplateFile(relPath: string): string {
  return readFileSync(resolve(TEMPLATE_DIR, relPath), "utf8");
}

/** Indents every non-empty line, for a YAML block scalar; drops one trailing newline. */
export function indentBlock(text: string, spaces: number): string {
  const pad = " ".repeat(spaces);
  return text
    .replace(/\n$/, "")
    .split("\n")
    .map((l) => (l.length ? pad + l : l))
    .join("\n");
}

/** A file embedded in user-data: rendered from templates/, escaped for templatefile(), indented. */
export function embedFile(relPath: string, values: Readonly<Record<string, string>>, spaces = 6): string {
  return indentBlock(escapeTemplatefile(renderTemplate(relPath, values)), spaces);
}

/** Embeds text that was rendered elsewhere (escaped and indented like embedFile). */
export function embedText(text: string, spaces = 6): string {
  return indentBlock(escapeTemplatefile(text), spaces);
}

/**
 * Renders a user-data skeleton made of template files read in order (a shared head, then the role):
 * `{{tokens}}` get model values (escaped here) or embedded files (already escaped by embedFile); the
 * skeleton's own `${name}` are the templatefile() variables and must be exactly `variables`.
 */
export function renderUserDataSkeleton(
  relPaths: readonly string[],
  values: Readonly<Record<string, string>>,
  embedded: Readonly<Record<string, string>>,
  variables: readonly string[],
): string {
  return renderUserDataText(`template ${relPaths.join(" + ")}`, relPaths.map(readTemplateFile).join(""), values, embedded, variables);
}

/**
 * {@link renderUserDataSkeleton} on skeleton text already read: `label` names it in errors.
 *
 * @throws Error when the skeleton's `${name}` are not exactly `variables`, it holds another
 *   interpolation or a directive, or a `{{token}}` lacks a value (see fillTokens)
 */
export function renderUserDataText(
  label: string,
  skeleton: string,
  values: Readonly<Record<string, string>>,
  embedded: Readonly<Record<string, string>>,
  variables: readonly string[],
): string {
  const own = templateVariables(skeleton);
  const expected = [...variables].sort();
  if (own.join(",") !== expected.join(",")) {
    throw new Error(`${label} interpolates [${own.join(", ")}] but the renderer declares [${expected.join(", ")}]`);
  }
  const opens = [...skeleton.matchAll(/(?<!\$)\$\{/g)].length;
  const refs = [...skeleton.matchAll(/(?<!\$)\$\{[A-Za-z_][A-Za-z0-9_]*\}/g)].length;
  if (opens !== refs) throw new Error(`${label} has an interpolation that is not a plain variable`);
  if (/(?<!%)%\{/.test(skeleton)) throw new Error(`${label} has a template directive`);
  const escaped = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, escapeTemplatefile(v)]));
  return fillTokens(skeleton, escaped, label, embedded);
}
