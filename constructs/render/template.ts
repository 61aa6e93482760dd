import { readFileSync } from "node:fs";
import { resolve } from "node:path";

/** Folder of the text templates shipped with the package. */
export const TEMPLATE_DIR = resolve(__dirname, "..", "..", "templates");

const TOKEN = /\{\{([a-z_]+)\}\}/g;

/**
 * Fills `{{name}}` tokens of a template under templates/. Every token must have a value and every
 * value must be used, so a renamed token cannot silently leave a hole in a sidecar.
 */
export function renderTemplate(relPath: string, values: Readonly<Record<string, string>>): string {
  const text = readFileSync(resolve(TEMPLATE_DIR, relPath), "utf8");
  const used = new Set<string>();
  const out = text.replace(TOKEN, (_, name: string) => {
    if (!(name in values)) throw new Error(`template ${relPath} needs a value for {{${name}}}`);
    used.add(name);
    return values[name];
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length) throw new Error(`template ${relPath} has no token for ${unused.join(", ")}`);
  return out;
}
