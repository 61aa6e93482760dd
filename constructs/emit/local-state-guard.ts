import { existsSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { SpecProblem } from "../input/spec-error";
import { ResolvedBackend } from "../model/backend";

/**
 * A stack's local state, checked before a synth where the output folder's own checks cannot see it
 * (the default state lives outside the tree): tofu holds its lock while a command runs —
 * `.<state file>.lock.info` beside the state file, as Terraform's and OpenTofu's local backend writes it.
 *
 * @param stackDir - where the stack will be (`<out>/stacks/<name>`)
 * @returns a problem when a lock is held
 */
export function localStateProblems(stackDir: string, backend: ResolvedBackend): SpecProblem[] {
  if (backend.type !== "local") return [];
  const stateFile = resolve(stackDir, backend.path);
  const lock = join(dirname(stateFile), `.${basename(stateFile)}.lock.info`);
  if (!existsSync(lock)) return [];
  return [{ path: "state.backend.path", value: stateFile, message: "is locked by a running tofu command (wait for it to finish, then synthesize)" }];
}
