/**
 * talos-enclave synth: the reference lab, or a YAML spec, into cdktf.out/.
 *
 *   npm run synth [-- --spec lab.yaml] [--out dir]
 *   npm run synth -- --help | --version
 *   TALOS_ENCLAVE_SPEC=lab.yaml npx cdktf synth
 *
 * Exit codes: 0 written (or help/version shown), 1 an internal failure, 2 bad arguments or a bad spec.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { synthLab } from "./constructs/emit/synth-lab";
import { loadLabSpec } from "./constructs/spec/load";
import { SpecError } from "./constructs/spec/spec-error";

const USAGE = "usage: npm run synth -- [--spec lab.yaml] [--out dir] | --help | --version";

const HELP = `talos-enclave: synthesize a separated Talos lab on Proxmox into OpenTofu modules and reviewed sidecars.

${USAGE}

  --spec FILE   the lab spec (YAML; default: the embedded reference lab, or $TALOS_ENCLAVE_SPEC)
  --out DIR     the output folder (default: $CDKTF_OUTDIR or cdktf.out); synth never deletes what it did not write
  --help        this text
  --version     the talos-enclave version

Exit codes: 0 written, 1 an internal failure, 2 bad arguments or a bad spec (one line per problem).`;

function usage(message: string): never {
  console.error(`synth: ${message}\n${USAGE}`);
  process.exit(2);
}

/** The package's version, from the package.json above this file (sources or dist/). */
function packageVersion(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (existsSync(file)) return String((JSON.parse(readFileSync(file, "utf8")) as { version?: string }).version ?? "unknown");
    if (dirname(dir) === dir) return "unknown";
  }
}

function parseArgs(argv: string[]): { spec?: string; out?: string } {
  const out: { spec?: string; out?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help" || a === "-h") {
      console.log(HELP);
      process.exit(0);
    }
    if (a === "--version") {
      console.log(`talos-enclave ${packageVersion()}`);
      process.exit(0);
    }
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
