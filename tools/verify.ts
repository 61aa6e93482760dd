/**
 * npm run verify [-- <stack-dir>…]
 *
 * Proves synthesized stacks with terraform itself against simulated providers that serve the pinned
 * schemas: init, validate, plan, apply into local state, and an empty second plan. Without arguments
 * it synthesizes the reference lab and every spec under examples/. Each terraform step is printed as
 * it passes (`verify: <stack>: <step> ok (<s>)`), each stack's summary when it is done.
 */
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { synthLab } from "../constructs/emit/synth-lab";
import { loadLabSpec } from "../constructs/lab/load";
import { SpecError } from "../constructs/input/spec-error";
import { findSchemaDir, SCHEMA_DIR_MISSING } from "../providers/schema-dir";
import { TerraformSandbox } from "./tfsim/sandbox";
import { StackVerification, verifyStack, VerifyStepName } from "./tfsim/verify-stack";

const PROJECT_ROOT = resolve(__dirname, "..");

/** The specs verified by default: the reference lab and every example spec. */
export function exampleSpecFiles(): string[] {
  const dir = join(PROJECT_ROOT, "examples");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => join(dir, f));
}

/** Synthesizes the reference lab and the examples into `outdir`; returns their stack folders. */
export function synthesizeExamples(outdir: string): string[] {
  const stacks = [synthLab({}, join(outdir, "reference"))];
  for (const file of exampleSpecFiles()) {
    const spec = loadLabSpec(file);
    stacks.push(synthLab(spec, join(outdir, spec.name)));
  }
  return stacks;
}

/** Verifies stacks, two at a time; rejects with the first failure. `onStep` hears of each terraform step as it passes. */
export async function verifyStacks(
  sandbox: TerraformSandbox,
  stackDirs: readonly string[],
  parallel = 2,
  onStep?: (stack: string, step: VerifyStepName, ms: number) => void,
): Promise<StackVerification[]> {
  const results: StackVerification[] = new Array(stackDirs.length);
  let next = 0;
  const worker = async () => {
    while (next < stackDirs.length) {
      const i = next++;
      results[i] = await verifyStack(sandbox, stackDirs[i], undefined, onStep);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, stackDirs.length) }, worker));
  return results;
}

async function main(): Promise<void> {
  const schemaDir = findSchemaDir(PROJECT_ROOT);
  if (!schemaDir) throw new Error(SCHEMA_DIR_MISSING);
  const sandbox = TerraformSandbox.create(schemaDir);
  try {
    const args = process.argv.slice(2);
    const started = Date.now();
    const stacks = args.length > 0 ? args.map((a) => resolve(a)) : synthesizeExamples(join(sandbox.root, "synth"));
    if (args.length === 0) console.log(`verify: synthesized ${stacks.length} stacks in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // each step as it passes, so a long run shows where it is
    const onStep = (stack: string, step: VerifyStepName, ms: number) => console.log(`verify: ${stack}: ${step} ok (${(ms / 1000).toFixed(1)} s)`);
    for (const r of await verifyStacks(sandbox, stacks, 2, onStep)) console.log(r.line);
    console.log(`verify: ${stacks.length} stack${stacks.length === 1 ? "" : "s"} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    sandbox.dispose();
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e instanceof SpecError ? e.message : `verify: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(e instanceof SpecError ? 2 : 1);
  });
}
