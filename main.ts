/**
 * talos-enclave synth: the reference lab, or a YAML spec, into cdktf.out/.
 *
 *   npm run synth [-- --spec lab.yaml] [--out dir]
 *   TALOS_ENCLAVE_SPEC=lab.yaml npx cdktf synth
 */
import { synthLab } from "./constructs/emit/synth-lab";
import { loadLabSpec } from "./constructs/spec/load";
import { SpecError } from "./constructs/spec/spec-error";

function usage(message: string): never {
  console.error(`synth: ${message}\nusage: npm run synth -- [--spec lab.yaml] [--out dir]`);
  process.exit(2);
}

function parseArgs(argv: string[]): { spec?: string; out?: string } {
  const out: { spec?: string; out?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--spec" || a === "--out") {
      const v = argv[++i];
      if (!v) usage(`${a} needs a value`);
      out[a === "--spec" ? "spec" : "out"] = v;
    } else usage(`unknown argument ${a}`);
  }
  return out;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const specFile = args.spec ?? process.env.TALOS_ENCLAVE_SPEC;
  const outdir = args.out ?? process.env.CDKTF_OUTDIR ?? "cdktf.out";
  try {
    const spec = specFile ? loadLabSpec(specFile) : {};
    const stackDir = synthLab(spec, outdir);
    console.log(`synth: wrote ${stackDir.replace(process.cwd() + "/", "")}`);
  } catch (e) {
    if (e instanceof SpecError) {
      console.error(e.message);
      process.exit(2);
    }
    console.error(`synth failed: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.TALOS_ENCLAVE_DEBUG) console.error(e);
    process.exit(1);
  }
}

main();
