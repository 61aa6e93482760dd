import { readFileSync } from "node:fs";
import { parse, YAMLParseError } from "yaml";
import { LabSpec } from "./lab-spec";
import { SpecError } from "./spec-error";
import { validateLabSpec } from "./validate";

/** Reads a YAML (or JSON) spec file and validates it; YAML syntax errors become SpecErrors too. */
export function loadLabSpec(file: string): LabSpec {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "unreadable";
    throw new SpecError([{ path: "(file)", value: file, message: `cannot be read: ${code} (check the --spec path)` }]);
  }
  let data: unknown;
  try {
    data = parse(text, { prettyErrors: true });
  } catch (e) {
    const msg = e instanceof YAMLParseError ? e.message.split("\n")[0] : String(e);
    throw new SpecError([{ path: "(file)", value: file, message: `is not valid YAML: ${msg} (fix the syntax at the line shown)` }]);
  }
  return validateLabSpec(data);
}
