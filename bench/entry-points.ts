import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

/** How the main job starts: the compiled entry point, tsx on the sources, and cdktf-cli (tsx). */
export interface EntryPointResult {
  readonly entry: string;
  /** Median wall time of the whole command, ms. */
  readonly ms: number;
}

function timeCommand(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): number {
  const start = performance.now();
  const r = spawnSync(cmd, [...args], { cwd, env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed:\n${r.stderr}`);
  return performance.now() - start;
}

export function benchEntryPoints(repo: string, root: string, runs: number): EntryPointResult[] {
  const env = { ...process.env, CHECKPOINT_DISABLE: "1", CI: "1" };
  const cases: [string, string, string[]][] = [
    ["npm run synth (node dist/main.js)", process.execPath, [join(repo, "dist", "main.js"), "--out", join(root, "compiled")]],
    ["tsx main.ts", join(repo, "node_modules", ".bin", "tsx"), [join(repo, "main.ts"), "--out", join(root, "tsx")]],
    ["npx cdktf synth", "npx", ["cdktf", "synth", "--output", join(root, "cdktf")]],
  ];
  return cases.map(([entry, cmd, args]) => {
    const times = Array.from({ length: runs }, () => timeCommand(cmd, args, repo, env)).sort((a, b) => a - b);
    return { entry, ms: Math.round(times[Math.floor(times.length / 2)]) };
  });
}

/** Size of the npm package as `npm pack` would publish it. */
export function packedSize(repo: string): { readonly bytes: number; readonly unpackedBytes: number; readonly files: number } {
  const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: repo, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`npm pack failed:\n${r.stderr}`);
  const p = JSON.parse(r.stdout)[0];
  return { bytes: p.size, unpackedBytes: p.unpackedSize, files: p.entryCount };
}
