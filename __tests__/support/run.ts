import { spawn, SpawnOptions } from "node:child_process";

/** What a command printed, and how it ended. */
export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a command without holding the test worker's event loop: vitest's worker answers its runner
 * over RPC, and a long spawnSync (npm install, typedoc, a synth CLI run) fails the whole run on a
 * loaded machine (see loop-watch.ts). Never rejects for a non-zero exit.
 */
export function runAsync(cmd: string, args: readonly string[], options: SpawnOptions = {}): Promise<RunResult> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, [...args], { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", fail);
    child.on("close", (status) => done({ status, stdout, stderr }));
  });
}
