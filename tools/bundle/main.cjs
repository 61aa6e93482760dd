#!/usr/bin/env node
// The synth command (dist/main.js): runs the bundled command dist/synth.js with V8's code cache.
//
// Compiling the 3 MB bundle is a fifth of a small synth. `npm run build` runs the command once on the
// reference lab and stores what V8 compiled on the way (vm.Script#createCachedData) next to the
// bundle, one file per set of V8 options (cdktf-cli runs apps with --max-old-space-size=4096, and V8
// refuses a cache made under other flags). Each file starts with the SHA-256 of the bundle it was made
// from: V8 itself only compares the source's length, so a rebuilt bundle of the same size would
// otherwise run stale code. A cache that does not match is ignored (it is only ever an optimisation).
"use strict";
const { createHash } = require("node:crypto");
const { readFileSync, realpathSync, statSync, writeFileSync } = require("node:fs");
const { dirname, join } = require("node:path");
const { Script } = require("node:vm");
const Module = require("node:module");

const dir = dirname(realpathSync(__filename));
const file = join(dir, "synth.js");
const source = readFileSync(file, "utf8");
const digest = createHash("sha256").update(source).digest("hex");
/**
 * The options that shape V8's code, as a key: node's module-loading options (--require, --import,
 * --loader and their values) are left out, since V8 never sees them.
 */
function v8Options() {
  const words = `${process.execArgv.join(" ")} ${process.env.NODE_OPTIONS ?? ""}`.split(/\s+/).filter(Boolean);
  const kept = [];
  for (let i = 0; i < words.length; i++) {
    const loading = /^(--require|-r|--import|--loader|--experimental-loader)(=|$)/.exec(words[i]);
    if (!loading) kept.push(words[i]);
    else if (loading[2] === "") i++; // the value is the next word
  }
  return kept.join(" ");
}
const options = v8Options();
const cacheFile = join(dir, `synth.js.${createHash("sha256").update(options).digest("hex").slice(0, 12)}.cache`);

let cachedData;
try {
  if (statSync(cacheFile).isFile()) {
    const stored = readFileSync(cacheFile);
    if (stored.subarray(0, 64).toString("latin1") === digest) cachedData = stored.subarray(64);
  }
} catch {
  cachedData = undefined; // no usable cache: compile as usual
}
const script = new Script(Module.wrap(source), { filename: file, cachedData });
if (process.env.TALOS_ENCLAVE_DEBUG) {
  process.stderr.write(`synth: code cache ${cachedData === undefined ? "absent" : script.cachedDataRejected ? "rejected" : "used"}\n`);
}
if (process.env.TALOS_ENCLAVE_WRITE_CODE_CACHE === "1") {
  process.once("exit", (code) => {
    if (code === 0) writeFileSync(cacheFile, Buffer.concat([Buffer.from(digest, "latin1"), script.createCachedData()]));
  });
}
const bundle = { exports: {} };
script.runInThisContext()(bundle.exports, require, bundle, file, dir);
