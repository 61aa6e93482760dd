import { ChildProcess, spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildSync } from "esbuild";
import { BOUND_PROVIDERS } from "../../providers/provider-set";
import { MAGIC_COOKIE, MAGIC_COOKIE_KEY } from "./plugin-handshake";

/**
 * A throw-away terraform environment whose providers are the simulated ones: a bundled provider
 * server, one launcher per provider in a filesystem mirror, and a CLI config that installs from the
 * mirror only. `init` installs from the mirror and `validate` loads providers through the lock file;
 * the other commands reach the providers, started once per sandbox, through TF_REATTACH_PROVIDERS.
 * Nothing here reaches a registry.
 */
export interface TerraformResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

const PROTO_DIR = __dirname;
/**
 * Stand-ins for what tofu's host provisioning, gates and image mirror call where tofu runs (`ssh`,
 * `scp`, `skopeo`, `apt-get`, `curl`, `kubectl`, `cosign`, `crane`): the lab's hosts and registries do
 * not exist next to the simulated providers. They record each call in
 * the sandbox's `provision.log` and touch nothing (tools/tfsim/host-standin).
 */
export const HOST_STANDIN_DIR = join(__dirname, "host-standin");

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

/**
 * Commands that always start the providers from the mirror: unmanaged (reattached) providers skip
 * terraform's version constraints and lock-file checks, which these commands are there to make.
 */
const MANAGED_COMMANDS: ReadonlySet<string> = new Set(["init", "validate", "providers", "version"]);

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
      const args = [server, "--schema", schemaFile, "--provider", `registry.terraform.io/${p.source}`, "--proto", bin, ...(facts ? ["--facts", facts] : [])];
      writeFileSync(launcher, `#!/bin/sh\nexec "${process.execPath}" ${args.map((a) => `"${a}"`).join(" ")}\n`);
      chmodSync(launcher, 0o755);
      this.launches.push({ address: `registry.terraform.io/${p.source}`, args });
    }
    this.cliConfig = join(this.root, "terraform.rc");
    writeFileSync(
      this.cliConfig,
      `disable_checkpoint = true\nprovider_installation {\n  filesystem_mirror {\n    path    = "${mirror}"\n    include = ["registry.terraform.io/*/*"]\n  }\n}\n`,
    );
  }

  private readonly terraform: string;
  /** How each provider is started: its address and the server's arguments. */
  private readonly launches: { address: string; args: string[] }[] = [];
  /** The providers in daemon mode, once started: TF_REATTACH_PROVIDERS's value. */
  private reattach?: Promise<string>;
  private readonly daemons: ChildProcess[] = [];

  /**
   * Starts every simulated provider once, in daemon mode, and resolves with the TF_REATTACH_PROVIDERS
   * value that points terraform at them. Each terraform command would otherwise start every provider
   * anew (a node process loading gRPC and a schema of megabytes), several times per stack.
   */
  private startDaemons(): Promise<string> {
    this.reattach ??= Promise.all(
      this.launches.map(
        (l) =>
          new Promise<[string, object]>((done, fail) => {
            const env: NodeJS.ProcessEnv = { ...process.env, [MAGIC_COOKIE_KEY]: MAGIC_COOKIE, PLUGIN_PROTOCOL_VERSIONS: "6" };
            delete env.PLUGIN_CLIENT_CERT; // a reattached provider speaks plain gRPC on loopback
            const child = spawn(process.execPath, [...l.args, "--daemon"], { env, stdio: ["pipe", "pipe", "pipe"] });
            this.daemons.push(child);
            let out = "";
            let err = "";
            child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
            child.stdout!.setEncoding("utf8").on("data", (d: string) => {
              out += d;
              const line = out.split("\n")[0];
              if (!out.includes("\n")) return;
              // go-plugin's handshake line: core-version|protocol-version|network|address|protocol
              const [, version, network, address] = line.split("|");
              // serving: from now on the daemon must not keep this process alive (dispose() ends it,
              // and it exits by itself when this process goes and its stdin closes)
              child.unref();
              for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void })?.unref?.();
              done([l.address, { Protocol: "grpc", ProtocolVersion: Number(version), Pid: child.pid, Test: true, Addr: { Network: network, String: address } }]);
            });
            child.on("exit", (code) => fail(new Error(`simulated provider ${l.address} exited (${code}) before serving: ${err.trim()}`)));
          }),
      ),
    ).then((entries) => JSON.stringify(Object.fromEntries(entries)));
    return this.reattach;
  }

  /**
   * @param schemaDir - the folder holding `providers/<schema files>`
   * @param factsDir - the providers' fact tables (a test may pass an edited copy)
   */
  static create(schemaDir: string, terraform = "terraform", factsDir = FACTS_DIR): TerraformSandbox {
    if (!existsSync(join(schemaDir, "providers"))) throw new Error(`no provider schemas under ${schemaDir}`);
    return new TerraformSandbox(schemaDir, terraform, factsDir);
  }

  /** Where the host stand-ins record the provisioning's calls. */
  get provisionLog(): string {
    return join(this.root, "provision.log");
  }

  env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: `${HOST_STANDIN_DIR}:${process.env.PATH ?? ""}`,
      TE_STANDIN_LOG: this.provisionLog,
      // the image mirror installs its tools here, not under the home of whoever runs the tests; the
      // cosign and crane stand-ins answer first
      TOOLS: join(this.root, "mirror-tools"),
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
  async run(cwd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<TerraformResult> {
    // init installs from the mirror (checking versions and writing the lock file) and validate loads
    // the providers through the lock file (checking it against what is installed), as for a user;
    // the later commands talk to the providers started once. A run that tunes the simulator through
    // TFSIM_* variables starts its own providers, which read them.
    const daemon = !MANAGED_COMMANDS.has(args[0] ?? "") && !Object.keys(env).some((k) => k.startsWith("TFSIM_"));
    const reattach = daemon ? { TF_REATTACH_PROVIDERS: await this.startDaemons() } : {};
    return new Promise((done, fail) => {
      const child = spawn(this.terraform, [...args], { cwd, env: { ...this.env(), ...env, ...reattach }, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("error", fail);
      child.on("close", (code) => done({ status: code ?? 1, stdout, stderr }));
    });
  }

  dispose(): void {
    for (const d of this.daemons) d.kill();
    rmSync(this.root, { recursive: true, force: true });
  }
}
