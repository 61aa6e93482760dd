// Build step: runs the bundled command once on the reference lab, in a temporary folder, so that
// dist/main.js stores V8's code cache of dist/synth.js (see tools/bundle/main.cjs).
"use strict";
const { spawnSync } = require("node:child_process");
const { mkdtempSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");

const dir = mkdtempSync(join(tmpdir(), "talos-enclave-code-cache-"));
try {
  const r = spawnSync(process.execPath, [join(__dirname, "..", "..", "dist", "main.js"), "--out", join(dir, "cdktf.out")], {
    env: { ...process.env, TALOS_ENCLAVE_WRITE_CODE_CACHE: "1" },
    encoding: "utf8",
  });
  if (r.status !== 0) {
    process.stderr.write(`code cache: the bundled synth failed:\n${r.stderr}`);
    process.exit(1);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
