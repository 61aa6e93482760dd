import { basename, join } from "node:path";
import { App } from "cdktf";
import { LabSpecInput } from "../spec/lab-spec";
import { validateLabSpec } from "../spec/validate";
import { TalosEnclave } from "../talos-enclave";
import { resolveBackend } from "../state/state-backend";
import { localStateProblems } from "./local-state-guard";
import { OutputWrite, writeOutputTree } from "./output-tree";
import { withoutTokenStackTraces } from "./token-stacks";

/** Where a synth put the lab, and what it kept of the operator's files. */
export interface SynthResult extends OutputWrite {
  /** The stack's folder, `<out>/stacks/<name>`. */
  readonly stackDir: string;
}

/**
 * Synthesizes one lab into `outdir` (the cdktf.out layout: manifest.json + stacks/<name>/…), without
 * ever deleting or overwriting a file synth did not write: see {@link writeOutputTree}. A bad spec or
 * a refused output folder throws a SpecError and leaves the previous tree as it was.
 *
 * @returns the stack's folder
 */
export function synthLab(spec: LabSpecInput, outdir: string): string {
  return synthLabTree(spec, outdir).stackDir;
}

/** {@link synthLab}, with what happened to the output folder. */
export function synthLabTree(spec: LabSpecInput, outdir: string): SynthResult {
  const valid = validateLabSpec(spec);
  const write = writeOutputTree(
    outdir,
    (staging, target) =>
      withoutTokenStackTraces(() => {
        const app = new App({ outdir: staging, skipValidation: false });
        new TalosEnclave(app, valid.name, { spec: valid, outputName: basename(target) });
        app.synth();
      }),
    (target) => localStateProblems(join(target, "stacks", valid.name), resolveBackend(valid, basename(target))),
  );
  return { ...write, stackDir: join(write.target, "stacks", valid.name) };
}
