/** Writes lab-spec.schema.json at the project root: npm run schema. */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { stableJson } from "../constructs/render/text/stable-json";
import { labSpecJsonSchema } from "../constructs/input/json-schema";

export const SPEC_SCHEMA_FILE = resolve(__dirname, "..", "lab-spec.schema.json");

export function specSchemaText(): string {
  return `${stableJson(labSpecJsonSchema())}\n`;
}

if (require.main === module) {
  writeFileSync(SPEC_SCHEMA_FILE, specSchemaText());
  console.log("schema: wrote lab-spec.schema.json");
}
