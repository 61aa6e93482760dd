import { existsSync } from "node:fs";
import { resolve } from "node:path";

/**
 * Where the shared provider and Talos schemas live: `$TALOS_ENCLAVE_SCHEMAS`, else `../shared/schemas`
 * next to the project. Returns undefined when absent so callers can skip with one explicit line.
 */
export function findSchemaDir(projectRoot: string = resolve(__dirname, "..")): string | undefined {
  const fromEnv = process.env.TALOS_ENCLAVE_SCHEMAS;
  const candidates = fromEnv ? [fromEnv] : [resolve(projectRoot, "..", "shared", "schemas")];
  return candidates.find((d) => existsSync(resolve(d, "providers")));
}

export const SCHEMA_DIR_MISSING =
  "provider schemas not found (set TALOS_ENCLAVE_SCHEMAS or place them at ../shared/schemas)";
