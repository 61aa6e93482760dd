// Loaded into every node process of a measured command through NODE_OPTIONS=--require: appends the
// process's peak resident set (KiB) to the file TALOS_ENCLAVE_BENCH_RSS names when the process exits.
"use strict";
const { appendFileSync } = require("node:fs");

const file = process.env.TALOS_ENCLAVE_BENCH_RSS;
if (file) process.on("exit", () => appendFileSync(file, `${process.resourceUsage().maxRSS}\n`));
