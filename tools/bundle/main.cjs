#!/usr/bin/env node
// The synth command (dist/main.js): runs the bundled command dist/synth.js with V8's code cache.
//
// Compiling the 3 MB bundle is a fifth of a small synth. `npm run build` runs the command once on the
// reference lab and stores what V8 compiled on the way (vm.Script#createCachedData) in
// dist/synth.js.cache; later runs hand it back to V8, which checks that it matches the source, this
// V8 and its flags, and otherwise compiles as usual (the cache is only ever an optimisation).
"use strict";
const { readFileSync, writeFileSync } = require("node:fs");
const { join } = require("node:path");
const { Script } = require("node:vm");
const Module = require("node:module");

const file = join(__dirname, "synth.js");
const cacheFile = `${file}.cache`;
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  cachedData = undefined; // no cache yet: compile as usual
}
const script = new Script(Module.wrap(readFileSync(file, "utf8")), { filename: file, cachedData });
if (process.env.TALOS_ENCLAVE_DEBUG) {
  process.stderr.write(`synth: code cache ${cachedData === undefined ? "absent" : script.cachedDataRejected ? "rejected" : "used"}\n`);
}
if (process.env.TALOS_ENCLAVE_WRITE_CODE_CACHE === "1") {
  process.once("exit", () => writeFileSync(cacheFile, script.createCachedData()));
}
const bundle = { exports: {} };
script.runInThisContext()(bundle.exports, require, bundle, file, __dirname);
