import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { SPEC_SCHEMA_FILE, specSchemaText } from "../providers/write-spec-schema";
import { PROJECT_ROOT } from "./support/tree";

describe("exported JSON Schema of the spec", () => {
  const text = readFileSync(SPEC_SCHEMA_FILE, "utf8");

  it("is current (regenerate with npm run schema)", () => {
    expect(text).toBe(specSchemaText());
  });

  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validate = ajv.compile(JSON.parse(text));

  it("accepts the example specs", () => {
    const files = readdirSync(join(PROJECT_ROOT, "examples")).filter((f) => f.endsWith(".yaml"));
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) {
      const doc = parse(readFileSync(join(PROJECT_ROOT, "examples", f), "utf8"));
      expect(validate(doc), `${f}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
  });

  it("flags a misspelled field for the editor", () => {
    expect(validate({ talos: { wokers: [] } })).toBe(false);
    expect(validate.errors?.[0]?.params).toEqual({ additionalProperty: "wokers" });
  });
});
