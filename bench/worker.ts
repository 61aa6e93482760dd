/**
 * One benchmark run in a fresh process:
 *
 *   node --import tsx bench/worker.ts <case> <outdir>
 *
 * Loads only what the case needs, times the synth alone and prints one JSON line (WorkerResult) on stdout.
 */
import { performance } from "node:perf_hooks";
import { BenchCase, caseByName, labSpecFor, WorkerResult } from "./cases";

interface Prepared {
  readonly work: () => void;
  /** Number of VMs/resources; called after the timed work so that it does not warm anything up. */
  readonly units: () => number;
}

/** Loads the modules of a case (outside the timed part) and returns the work to time. */
async function prepare(c: BenchCase, outdir: string): Promise<Prepared> {
  if (c.kind === "lab") {
    const { synthLab } = await import("../constructs/emit/synth-lab");
    const { LabSpecSchema } = await import("../constructs/spec/lab-spec");
    const spec = labSpecFor(c);
    const units = (): number => {
      const full = LabSpecSchema.parse(spec);
      return 1 + full.hosts.length + full.talos.controlPlanes.length + full.talos.workers.length; // + pfSense
    };
    return { work: () => void synthLab(spec, outdir), units };
  }
  const { App, TerraformResource, TerraformStack } = await import("cdktf");
  const work = (): void => {
    const app = new App({ outdir });
    const stack = new TerraformStack(app, "bare");
    for (let i = 0; i < c.resources; i++) new TerraformResource(stack, `r${i}`, { terraformResourceType: "null_resource" });
    app.synth();
  };
  return { work, units: () => c.resources };
}

async function main(): Promise<void> {
  const [name, outdir, ...rest] = process.argv.slice(2);
  const c = name === undefined ? undefined : caseByName(name);
  if (!c || !outdir || rest.length > 0) {
    console.error("usage: node --import tsx bench/worker.ts <case> <outdir>");
    process.exit(2);
  }
  const { work, units } = await prepare(c, outdir);
  const start = performance.now();
  work();
  const synthMs = performance.now() - start;
  const maxRssKiB = process.resourceUsage().maxRSS;
  const result: WorkerResult = { case: c.name, units: units(), synthMs, maxRssKiB };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
