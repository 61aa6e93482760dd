import fc from "fast-check";
import { expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { stableJson } from "../../constructs/render/text/stable-json";
import { withoutTokenStackTraces } from "../../constructs/emit/token-stacks";
import { pfSenseFileProblems } from "../../constructs/policy/pfsense-checks";
import { SpecError } from "../../constructs/input/spec-error";
import { validateLabSpec } from "../../constructs/lab/validate";
import { TalosEnclave } from "../../constructs/talos-enclave";
import { findSchemaDir } from "../../providers/schema-dir";
import { checkTerraformJson, formatProblems, loadProviderSchemas } from "./conformance";
import { labSpecArbitrary } from "./spec-arbitrary";
import { PROJECT_ROOT, scratchApp } from "./tree";

/** What a fuzz run found. */
export interface FuzzCounts {
  readonly specs: number;
  readonly rejected: number;
  readonly accepted: number;
  /** Accepted specs whose synthesis ran, with every output check. */
  readonly synthesized: number;
  /** Problems found (crashes, failed output checks), with the spec that caused each. */
  readonly failures: readonly { readonly what: string; readonly spec: unknown }[];
  readonly ms: number;
}

const schemaDir = findSchemaDir(PROJECT_ROOT);
const schemas = schemaDir ? loadProviderSchemas(schemaDir) : undefined;

/**
 * The output checks an accepted spec must pass: it synthesizes (root, modules, sidecars, the
 * separation invariants on the written files), every JSON and YAML sidecar parses, the pfSense areas
 * pass pfSense's element rules, and every Terraform document conforms to the provider schemas
 * (where ../shared/schemas is present).
 */
function outputProblems(spec: unknown): string[] {
  return withoutTokenStackTraces(() => {
    const lab = new TalosEnclave(scratchApp(), "fuzz", { spec: spec as never });
    const root = JSON.parse(stableJson(lab.toTerraform()));
    const files = lab.files();
    const problems: string[] = [];
    for (const [path, text] of files) {
      if (path.endsWith(".json")) JSON.parse(text);
      if (path.endsWith(".yaml")) for (const d of parseAllDocuments(text)) if (d.errors.length) problems.push(`${path}: ${d.errors[0].message}`);
    }
    problems.push(...pfSenseFileProblems({ aliases: files.get("pfsense/aliases.xml")!, filter: files.get("pfsense/filter.xml")!, nat: files.get("pfsense/nat.xml")!, unbound: files.get("pfsense/unbound.xml")! }));
    if (schemas) {
      const docs: [string, unknown][] = [["cdk.tf.json", root], ...[...files].filter(([p]) => p.endsWith(".tf.json")).map(([p, t]): [string, unknown] => [p, JSON.parse(t)])];
      const conformance = formatProblems(docs.flatMap(([file, doc]) => checkTerraformJson(doc, schemas, file)));
      if (conformance) problems.push(conformance);
    }
    return problems;
  });
}

/**
 * Runs `runs` generated specs (fast-check, fixed seed): validation may only ever throw a SpecError, and
 * every accepted spec must pass {@link outputProblems}. Stops early past `budgetMs`.
 */
export async function fuzz(seed: number, runs: number, budgetMs: number): Promise<FuzzCounts> {
  const started = Date.now();
  let rejected = 0;
  let accepted = 0;
  let synthesized = 0;
  const failures: { what: string; spec: unknown }[] = [];
  for (const spec of fc.sample(labSpecArbitrary, { numRuns: runs, seed })) {
    if (Date.now() - started > budgetMs) break;
    // Yield before every spec: the test worker must keep answering the runner while the fuzz runs,
    // also on a loaded machine where one batch of synths can take a minute.
    await new Promise((r) => setImmediate(r));
    let valid: unknown;
    try {
      valid = validateLabSpec(spec);
    } catch (e) {
      if (e instanceof SpecError) rejected++;
      else failures.push({ what: `validation threw ${e instanceof Error ? e.stack?.split("\n").slice(0, 3).join(" | ") : String(e)}`, spec });
      continue;
    }
    accepted++;
    try {
      const problems = outputProblems(valid);
      synthesized++;
      if (problems.length) failures.push({ what: `output checks: ${problems.join("; ").slice(0, 500)}`, spec });
    } catch (e) {
      failures.push({ what: `synthesis threw ${e instanceof Error ? `${e.name}: ${e.message.slice(0, 300)}` : String(e)}`, spec });
    }
  }
  return { specs: rejected + accepted, rejected, accepted, synthesized, failures, ms: Date.now() - started };
}

/**
 * One part of the fuzz as a test: 5 000 specs from its own seed (FUZZ_SEED moves every part), printing
 * the counts. The suite has two parts in two files so its two workers share the load.
 */
export function fuzzPart(part: number): void {
  const runs = 5_000;
  const seed = Number(process.env.FUZZ_SEED ?? 20261130) + part;
  it(`${runs} generated specs: only SpecErrors, and every accepted spec synthesizes and passes the output checks`, async () => {
    const r = await fuzz(seed, runs, 900_000);
    console.log(`fuzz ${part} (seed ${seed}): ${r.specs} specs, ${r.rejected} rejected with a SpecError, ${r.accepted} accepted, ${r.synthesized} synthesized and checked, ${r.failures.length} failures, ${(r.ms / 1000).toFixed(0)} s`);
    expect(r.failures.map((f) => `${f.what}\n  spec: ${JSON.stringify(f.spec)}`).slice(0, 5)).toEqual([]);
    expect(r.specs, "the time budget ran out before every spec was tried").toBe(runs);
    expect(r.accepted).toBeGreaterThan(runs / 10);
  }, 1_000_000);
}
