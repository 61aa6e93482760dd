import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { App } from "cdktf";
import { LabSpecInput } from "../spec/lab-spec";
import { validateLabSpec } from "../spec/validate";
import { TalosEnclave } from "../talos-enclave";

/**
 * Synthesizes one lab into `outdir` (the cdktf.out layout: manifest.json + stacks/<name>/…).
 * The tree is written to a sibling folder first and swapped in only when complete, so a failed
 * synth (bad spec, exception) leaves the previous tree untouched.
 */
export function synthLab(spec: LabSpecInput, outdir: string): string {
  const valid = validateLabSpec(spec);
  const target = resolve(outdir);
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  const staging = join(parent, `.${basename(target)}.partial-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  try {
    const app = new App({ outdir: staging, skipValidation: false });
    new TalosEnclave(app, valid.name, { spec: valid });
    app.synth();
    swapIn(staging, target);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return join(target, "stacks", valid.name);
}

function swapIn(staging: string, target: string): void {
  const old = `${staging}.old`;
  if (existsSync(target)) renameSync(target, old);
  renameSync(staging, target);
  rmSync(old, { recursive: true, force: true });
}
