import { SpecError } from "../../constructs/input/spec-error";
import { validateLabSpec } from "../../constructs/lab/validate";

/** The lines of the SpecError `validateLabSpec` throws, or [] when the spec is valid. */
export function problemLines(input: unknown): string[] {
  try {
    validateLabSpec(input);
  } catch (e) {
    if (e instanceof SpecError) return e.lines();
    throw e;
  }
  return [];
}
