import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildSync } from "esbuild";
import { BOUND_PROVIDERS } from "../../providers/provider-set";

/**
 * A throw-away terraform environment whose providers are the simulated ones: a bundled provider
 * server, one launcher per provider in a filesystem mirror, and a CLI config that installs from the
 * mirror only. Nothing here reaches a registry.
 */
export interface TerraformResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

const PROTO_DIR = __dirname;
/** The fact tables of the bound providers (tools/tfsim/facts). */
export const FACTS_DIR = join(__dirname, "facts");

/**
 * The fact table of a bound provider (facts/<schema file name without .schema>.json), if there is
 * one; with it the simulated provider plans the way the real one does (defaults, replacements,
 * computed formats).
 */
export function providerFactsFile(schemaFile: string, factsDir = FACTS_DIR): string | undefined {
  const file = join(factsDir, schemaFile.replace(/\.schema\.json$/, ".json"));
  return existsSync(file) ? file : undefined;
}

function platformDir(): string {
  const arch = { x64: "amd64", arm64: "arm64", ia32: "386" }[process.arch as string] ?? process.arch;
  return `${process.platform}_${arch}`;
}

export class TerraformSandbox {
  readonly root: string;
  readonly cliConfig: string;

  private constructor(schemaDir: string, terraform: string, factsDir: string) {
    this.terraform = terraform;
    this.root = mkdtempSync(join(tmpdir(), "talos-enclave-tfsim-"));
    const bin = join(this.root, "bin");
    mkdirSync(bin);
    // One bundled file starts several times faster than TypeScript compiled on each launch.
    const server = join(bin, "provider-server.js");
    buildSync({
      entryPoints: [join(__dirname, "provider-server.ts")],
      bundle: true,
      platform: "node",
      target: "node20",
      format: "cjs",
      outfile: server,
      logLevel: "error",
    });
    for (const f of ["tfplugin6.proto", "grpc_controller.proto"]) copyFileSync(join(PROTO_DIR, f), join(bin, f));

    const mirror = join(this.root, "mirror");
    for (const p of BOUND_PROVIDERS) {
      const [namespace, type] = p.source.split("/");
      const dir = join(mirror, "registry.terraform.io", namespace, type, p.version, platformDir());
      mkdirSync(dir, { recursive: true });
      const launcher = join(dir, `terraform-provider-${type}_v${p.version}`);
      const schemaFile = resolve(schemaDir, "providers", p.schemaFile);
      const facts = providerFactsFile(p.schemaFile, factsDir);
      writeFileSync(
        launcher,
        `#!/bin/sh\nexec "${process.execPath}" "${server}" --schema "${schemaFile}" --provider "registry.terraform.io/${p.source}" --proto "${bin}"${
          facts ? ` --facts "${facts}"` : ""
        }\n`,
      );
      chmodSync(launcher, 0o755);
    }
    this.cliConfig = join(this.root, "terraform.rc");
    writeFileSync(
      this.cliConfig,
      `disable_checkpoint = true\nprovider_installation {\n  filesystem_mirror {\n    path    = "${mirror}"\n    include = ["registry.terraform.io/*/*"]\n  }\n}\n`,
    );
  }

  private readonly terraform: string;

  /**
   * @param schemaDir - the folder holding `providers/<schema files>`
   * @param factsDir - the providers' fact tables (a test may pass an edited copy)
   */
  static create(schemaDir: string, terraform = "terraform", factsDir = FACTS_DIR): TerraformSandbox {
    if (!existsSync(join(schemaDir, "providers"))) throw new Error(`no provider schemas under ${schemaDir}`);
    return new TerraformSandbox(schemaDir, terraform, factsDir);
  }

  env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      TF_CLI_CONFIG_FILE: this.cliConfig,
      TF_IN_AUTOMATION: "1",
      TF_INPUT: "0",
      CHECKPOINT_DISABLE: "1",
      TF_PLUGIN_CACHE_DIR: "",
    };
  }

  /**
   * Runs terraform with the sandbox's providers; never throws for a non-zero exit.
   *
   * @param env - variables added to the sandbox's environment (a backend's credentials, say)
   */
  run(cwd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<TerraformResult> {
    return new Promise((done, fail) => {
      const child = spawn(this.terraform, [...args], { cwd, env: { ...this.env(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("error", fail);
      child.on("close", (code) => done({ status: code ?? 1, stdout, stderr }));
    });
  }

  dispose(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
