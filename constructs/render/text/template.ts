import { existsSync, readFileSync } from "node:fs";
import { dirname, extname, join, resolve } from "node:path";

/**
 * Folder of the text templates shipped with the package: the nearest `templates/` above this module,
 * which is `<repo>/templates` for the sources, `dist/templates` for the compiled library and for the
 * bundled command (`dist/main.js`).
 */
export const TEMPLATE_DIR = findTemplateDir(__dirname);

function findTemplateDir(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, "templates");
    if (existsSync(join(candidate, "cloud-init"))) return candidate;
    if (dirname(dir) === dir) throw new Error(`talos-enclave: no templates/ folder above ${from}`);
  }
}

const TOKEN = /\{\{([a-z_]+)\}\}/g;

/**
 * What a `{{value}}` may hold, by the language of the template: the boundary where model text enters
 * a line-oriented sidecar. Spec fields are validated to names, addresses, versions and paths before
 * they get here; this is the last guard that keeps any text from changing a file's structure: no line
 * breaks, no quotes, no `$`, backquote, `;`, `&`, `|`, `<`, `>`, `{`, `}`, `#`, `*`, `?`, `!`, `\`.
 * Shell scripts also refuse spaces and parentheses (word splitting, subshells).
 */
const SAFE_VALUE: Readonly<Record<string, RegExp>> = {
  ".sh": /^[A-Za-z0-9._:/@%+=,-]*$/,
  "": /^[A-Za-z0-9._:/@%+=,()-]+( [A-Za-z0-9._:/@%+=,()-]+)*$|^$/,
};

/** Why a value cannot be put into a template of this file's language, or undefined when it can. */
export function templateValueProblem(file: string, value: string): string | undefined {
  const rule = SAFE_VALUE[extname(file.replace(/\.tftpl$/, ""))] ?? SAFE_VALUE[""];
  return rule.test(value) ? undefined : `has characters a ${extname(file) || "text"} template cannot carry safely: ${JSON.stringify(value)}`;
}

/**
 * Fills `{{name}}` tokens. Every token needs exactly one value or block and every value or block must
 * be used, so a renamed token cannot silently leave a hole in a sidecar. `values` are single-line
 * model text and pass {@link templateValueProblem}; `blocks` are multi-line text this project rendered
 * itself (embedded files), inserted as they are.
 */
export function fillTokens(
  text: string,
  values: Readonly<Record<string, string>>,
  label: string,
  blocks: Readonly<Record<string, string>> = {},
): string {
  const used = new Set<string>();
  const out = text.replace(TOKEN, (_, name: string) => {
    if (name in blocks) {
      used.add(name);
      return blocks[name];
    }
    if (!(name in values)) throw new Error(`${label} needs a value for {{${name}}}`);
    const problem = templateValueProblem(label, values[name]);
    if (problem) throw new Error(`${label}: {{${name}}} ${problem}`);
    used.add(name);
    return values[name];
  });
  const unused = [...Object.keys(values), ...Object.keys(blocks)].filter((k) => !used.has(k));
  if (unused.length) throw new Error(`${label} has no token for ${unused.join(", ")}`);
  return out;
}

/** Fills the `{{name}}` tokens of a template under templates/ (see {@link fillTokens}). */
export function renderTemplate(
  relPath: string,
  values: Readonly<Record<string, string>>,
  blocks: Readonly<Record<string, string>> = {},
): string {
  return fillTokens(readFileSync(resolve(TEMPLATE_DIR, relPath), "utf8"), values, `template ${relPath}`, blocks);
}
