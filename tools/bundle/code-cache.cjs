// Build step: runs the bundled command on the reference lab, in a temporary folder, so that
// dist/main.js stores V8's code cache of dist/synth.js (see tools/bundle/main.cjs): once as `node
// dist/main.js` runs, once with the V8 options cdktf-cli gives the apps it runs.
"use strict";
const { spawnSync } = require("node:child_process");
const { mkdtempSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");

/** NODE_OPTIONS as cdktf-cli sets them for `npx cdktf synth` (@cdktf/cli-core synth-stack). */
const CDKTF_CLI_NODE_OPTIONS = "--max-old-space-size=4096";

const dir = mkdtempSync(join(tmpdir(), "talos-enclave-code-cache-"));
try {
  for (const nodeOptions of [undefined, CDKTF_CLI_NODE_OPTIONS]) {
    const env = { ...process.env, TALOS_ENCLAVE_WRITE_CODE_CACHE: "1" };
    // the reference lab, whatever the caller's environment names
    for (const name of ["TALOS_ENCLAVE_SPEC", "CDKTF_OUTDIR", "NODE_OPTIONS", "TALOS_ENCLAVE_DEBUG"]) delete env[name];
    if (nodeOptions) env.NODE_OPTIONS = nodeOptions;
    const out = join(dir, nodeOptions ? "cdktf-cli" : "plain", "cdktf.out");
    const r = spawnSync(process.execPath, [join(__dirname, "..", "..", "dist", "main.js"), "--out", out], { env, encoding: "utf8" });
    if (r.status !== 0) {
      process.stderr.write(`code cache: the bundled synth failed:\n${r.stderr}`);
      process.exit(1);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
