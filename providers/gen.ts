/**
 * Generates the typed L1 bindings in `.gen/` from the exact provider schemas, offline.
 * `cdktf get` needs registry access; this uses the same generator on the schema files instead and keeps
 * only the resources and data sources listed in provider-set.ts.
 *
 *   npm run gen [-- --out <dir>]
 */
import "./quiet-terraform";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CodeMaker, TerraformProviderGenerator } from "@cdktf/provider-generator";
import { lazyBindings } from "./lazy-bindings";
import { BOUND_PROVIDERS, BoundProvider } from "./provider-set";
import { findSchemaDir, SCHEMA_DIR_MISSING } from "./schema-dir";

function pick<T>(all: Record<string, T> | undefined, names: readonly string[], what: string): Record<string, T> {
  const out: Record<string, T> = {};
  for (const n of names) {
    if (!all?.[n]) throw new Error(`${what} ${n} is not in the provider schema`);
    out[n] = all[n];
  }
  return out;
}

function filteredSchema(schemaDir: string, p: BoundProvider) {
  const raw = JSON.parse(readFileSync(resolve(schemaDir, "providers", p.schemaFile), "utf8"));
  const fqpn = `registry.terraform.io/${p.source}`;
  const full = raw.provider_schemas[fqpn];
  if (!full) throw new Error(`${p.schemaFile} has no provider ${fqpn}`);
  return {
    fqpn,
    schema: {
      format_version: raw.format_version,
      provider_schemas: {
        [fqpn]: {
          provider: full.provider,
          resource_schemas: pick(full.resource_schemas, p.resources, "resource"),
          data_source_schemas: pick(full.data_source_schemas, p.dataSources, "data source"),
        },
      },
      provider_versions: { [fqpn]: p.version },
    },
  };
}

export async function generateBindings(outDir: string, schemaDir: string): Promise<void> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const commons = require("@cdktf/commons");
  for (const p of BOUND_PROVIDERS) {
    const { schema } = filteredSchema(schemaDir, p);
    const code = new CodeMaker();
    const gen = new TerraformProviderGenerator(code, schema as never);
    const constraint = new commons.ConstructsMakerProviderTarget(
      new commons.TerraformProviderConstraint(`${p.source}@${p.version}`),
      commons.LANGUAGES[0],
    );
    gen.generate(constraint);
    await gen.save(outDir);
  }
  for (const file of readdirSync(outDir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith("index.ts"))) {
    const path = join(outDir, file);
    writeFileSync(path, lazyBindings(readFileSync(path, "utf8"), file));
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const outIdx = args.indexOf("--out");
  const outDir = resolve(outIdx >= 0 ? args[outIdx + 1] : resolve(__dirname, "..", ".gen"));
  const schemaDir = findSchemaDir();
  if (!schemaDir) {
    console.error(`gen: ${SCHEMA_DIR_MISSING}`);
    process.exit(2);
  }
  await generateBindings(outDir, schemaDir);
  console.log(`gen: bindings for ${BOUND_PROVIDERS.map((p) => `${p.source}@${p.version}`).join(", ")} written`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`gen: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
