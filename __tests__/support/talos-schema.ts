import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020, { ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";

/** Validators for Talos machine-config documents, one per document kind, from the official schema. */
export interface TalosSchema {
  /** Errors of one document ("" when valid). */
  check(doc: Record<string, unknown>): string;
}

/**
 * Schemas the project writes itself for document kinds the official schema lacks, each citing the
 * Go types it was written from (ImageVerificationConfig: missing from the v1.13 and v1.14 schemas).
 */
export const OWN_SCHEMAS: Readonly<Record<string, string>> = {
  ImageVerificationConfig: join(__dirname, "..", "..", "constructs", "render", "talos", "schemas", "image-verification-config.schema.json"),
};

export function loadTalosSchema(schemaDir: string, version = "v1.13"): TalosSchema {
  const schema = JSON.parse(readFileSync(join(schemaDir, "talos-config", `talos-${version}.config.schema.json`), "utf8"));
  const ajv = new Ajv2020({ allErrors: true, strictTypes: false });
  // Editor annotations the schema carries on every property.
  ajv.addVocabulary(["markdownDescription", "x-intellij-html-description"]);
  addFormats(ajv);
  ajv.addSchema(schema);
  const byKind = new Map<string, ValidateFunction>();
  for (const branch of schema.oneOf as { $ref: string }[]) {
    const def = branch.$ref.split("/").pop()!;
    const kind = schema.$defs[def].properties?.kind?.enum?.[0] ?? "v1alpha1";
    byKind.set(kind, ajv.getSchema(`${schema.$id}#/$defs/${def}`)!);
  }
  for (const [kind, file] of Object.entries(OWN_SCHEMAS)) {
    if (byKind.has(kind)) continue; // the official schema wins once it has the kind
    byKind.set(kind, ajv.compile(JSON.parse(readFileSync(file, "utf8"))));
  }
  return {
    check(doc) {
      const kind = typeof doc.kind === "string" ? doc.kind : "v1alpha1";
      const validate = byKind.get(kind);
      if (!validate) return `unknown document kind ${kind}`;
      return validate(doc) ? "" : ajv.errorsText(validate.errors, { dataVar: kind });
    },
  };
}
