import { z } from "zod";
import { LabSpecSchema } from "./lab-spec";

/**
 * JSON Schema (draft 2020-12) of what a user may write in a spec file, for editor completion
 * (`# yaml-language-server: $schema=…/lab-spec.schema.json`). Cross-field rules are not in it; the
 * validator reports those.
 */
export function labSpecJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(LabSpecSchema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return { ...schema, $id: "https://talos-enclave.dev/schemas/lab-spec.schema.json", title: "talos-enclave lab spec" };
}
