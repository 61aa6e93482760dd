import { expect } from "vitest";

/**
 * A `local-exec` environment as tofu hands it to the command: a value that is a whole `${var.x}` gets
 * the variable's value (an unset one, the empty string), `${jsonencode(var.x)}` its JSON, and any other
 * value must hold no live expression (spec text reaches the environment escaped) and comes with `$${`
 * unescaped to `${`. `label` names the resource in a failure.
 */
export function localExecEnvironment(label: string, environment: Readonly<Record<string, string>>, values: Readonly<Record<string, unknown>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(environment).map(([k, v]) => {
      const plain = /^\$\{var\.([a-z0-9_]+)\}$/.exec(v);
      if (plain) return [k, values[plain[1]] === undefined ? "" : String(values[plain[1]])];
      const json = /^\$\{jsonencode\(var\.([a-z0-9_]+)\)\}$/.exec(v);
      if (json) return [k, JSON.stringify(values[json[1]])];
      expect(v, `${label} ${k}: only whole variable references are expressions`).not.toMatch(/(?<!\$)\$\{/);
      return [k, v.replace(/\$\$\{/g, "${")];
    }),
  );
}
