// The floor the bench compares synth with: a bare cdktf app, as small as a cdktf app can be, that
// synthesizes one stack of `count` null_resource elements into `outdir`.
//
//   node bench/floor-app.cjs <outdir> <count>
"use strict";
const { App, TerraformResource, TerraformStack } = require("cdktf");

const [outdir, count] = process.argv.slice(2);
const app = new App({ outdir });
const stack = new TerraformStack(app, "floor");
for (let i = 0; i < Number(count); i++) new TerraformResource(stack, `r${i}`, { terraformResourceType: "null_resource" });
app.synth();
