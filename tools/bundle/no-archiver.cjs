// Stands in for `archiver` in the bundled command (dist/main.js). cdktf requires it at load time for
// TerraformAsset's ARCHIVE type, which talos-enclave never creates; loading it cost every synth ~30 ms.
// Should anything ever call it, the synth fails loudly instead of writing a wrong tree.
module.exports = function archiver() {
  throw new Error("talos-enclave: archiver is not bundled (TerraformAsset archives are not used)");
};
