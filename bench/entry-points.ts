import { spawnSync } from "node:child_process";

/** Size of the npm package as `npm pack` would publish it. */
export function packedSize(repo: string): { readonly bytes: number; readonly unpackedBytes: number; readonly files: number } {
  const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: repo, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`npm pack failed:\n${r.stderr}`);
  const p = JSON.parse(r.stdout)[0];
  return { bytes: p.size, unpackedBytes: p.unpackedSize, files: p.entryCount };
}
