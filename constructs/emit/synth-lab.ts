import { basename, join } from "node:path";
import { App } from "cdktf";
import { LabSpec, LabSpecInput } from "../input/lab-spec";
import { SpecProblem } from "../input/spec-error";
import { validateLabSpec } from "../lab/validate";
import type { ServiceDescriptor } from "../model/service";
import { serviceCatalog } from "../services";
import { TalosEnclave, TalosEnclaveSummary } from "../talos-enclave";
import { resolveBackend } from "../model/backend";
import { localStateProblems } from "./local-state-guard";
import { OutputWrite, previewOutputTree, writeOutputTree } from "./output-tree";
import { withoutTokenStackTraces } from "./token-stacks";

/** The steps of a synth, in order, as {@link SynthOptions.onPhase} reports them. */
export type SynthPhase = "validate" | "build" | "render" | "write";

/** Options of {@link synthLabTree} and {@link previewLabTree}. */
export interface SynthOptions {
  /**
   * Called after each step with its name, its wall time in ms and the validated spec: `validate` (the
   * spec), `build` (the constructs), `render` (every file, the lab's policy checks included: pfSense
   * files, separation, Talos config), `write` (the swap into the output folder; not reported by a
   * preview).
   */
  readonly onPhase?: (phase: SynthPhase, ms: number, spec: LabSpec) => void;
  /** Services beyond the built-in ones that hosts may name in `hosts[].role`. Default: none. */
  readonly services?: readonly ServiceDescriptor[];
}

/** Where a synth put the lab, and what it kept of the operator's files. */
export interface SynthResult extends OutputWrite {
  /** The stack's folder, `<out>/stacks/<name>`. */
  readonly stackDir: string;
  /** Modules, resources and sidecar files rendered. */
  readonly summary: TalosEnclaveSummary;
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

/** Validates the spec, reporting the step. */
function validate(spec: LabSpecInput, options: SynthOptions): LabSpec {
  const start = performance.now();
  const valid = validateLabSpec(spec, serviceCatalog(options.services));
  options.onPhase?.("validate", performance.now() - start, valid);
  return valid;
}

/** Runs `fn`, reporting its wall time as `phase`. */
function timed<T>(options: SynthOptions, phase: SynthPhase, spec: LabSpec, fn: () => T): T {
  const start = performance.now();
  const result = fn();
  options.onPhase?.(phase, performance.now() - start, spec);
  return result;
}

/** Builds and renders the lab into `dir` with cdktf's App; `outputName` names the default state folder. */
function render(valid: LabSpec, dir: string, outputName: string, options: SynthOptions): TalosEnclaveSummary {
  return withoutTokenStackTraces(() => {
    // stackTraces: false is cdktf's switch for the creation traces it keeps in construct metadata
    const app = new App({ outdir: dir, skipValidation: false, stackTraces: false });
    const lab = timed(options, "build", valid, () => new TalosEnclave(app, valid.name, { spec: valid, outputName, services: options.services }));
    timed(options, "render", valid, () => app.synth());
    return lab.summary!;
  });
}

/** What synth refuses about the operator's local state before it writes or previews a tree. */
function stateGuard(valid: LabSpec): (target: string) => SpecProblem[] {
  return (target) => localStateProblems(join(target, "stacks", valid.name), resolveBackend(valid, basename(target)));
}

/** {@link synthLab}, with what happened to the output folder and what was rendered. */
export function synthLabTree(spec: LabSpecInput, outdir: string, options: SynthOptions = {}): SynthResult {
  const valid = validate(spec, options);
  let summary: TalosEnclaveSummary | undefined;
  let renderEnd = 0;
  const start = performance.now();
  const write = writeOutputTree(
    outdir,
    (staging, target) => {
      summary = render(valid, staging, basename(target), options);
      renderEnd = performance.now();
    },
    stateGuard(valid),
  );
  options.onPhase?.("write", performance.now() - (renderEnd || start), valid);
  return { ...write, stackDir: join(write.target, "stacks", valid.name), summary: summary! };
}

/**
 * Renders the lab as {@link synthLabTree} would and hands the rendered tree to `inspect`, writing
 * nothing in or next to `outdir` (see {@link previewOutputTree}): the spec, the lab's policy checks
 * (separation invariants, pfSense files, Talos config) and everything synth would refuse about the
 * output folder are checked. Used by `synth --check` and `synth --diff`.
 *
 * @param inspect - receives the rendered tree's root, the output folder synth would write (a symlink
 *   resolved) and what was rendered
 * @throws SpecError for a bad spec, a finding of the lab's policy pack (a separation violation, say) or
 *   an output folder synth would refuse
 */
export function previewLabTree<T>(
  spec: LabSpecInput,
  outdir: string,
  inspect: (root: string, target: string, summary: TalosEnclaveSummary) => T,
  options: SynthOptions = {},
): T {
  const valid = validate(spec, options);
  let summary: TalosEnclaveSummary | undefined;
  return previewOutputTree(
    outdir,
    (staging, target) => {
      summary = render(valid, staging, basename(target), options);
    },
    (staging, target) => inspect(staging, target, summary!),
    stateGuard(valid),
  );
}
