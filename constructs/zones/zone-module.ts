import { TerraformOutput, TerraformVariable } from "cdktf";
import { Construct, RootConstruct } from "constructs";
import { WrittenStack } from "../stack/written-stack";

/**
 * Why a sidecar path is refused, or undefined when it is fine: a sidecar stays inside the stack's
 * folder (relative, plain segments of letters, digits, '.', '_' and '-', none of them `.` or `..` or
 * hidden) and takes no file the stack writes otherwise (`cdk.tf.json`, anything under `modules/`).
 */
export function sidecarPathProblem(path: string): string | undefined {
  const segments = path.split("/");
  if (!segments.every((s) => /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(s))) {
    return "must be a relative path of plain segments inside the stack folder (letters, digits, '.', '_', '-'; no '..', no hidden or empty segment)";
  }
  if (path === "cdk.tf.json" || segments[0] === "modules") return "must not take the root module or a child module's folder (cdk.tf.json, modules/)";
  return undefined;
}

/** How a module input is declared. */
export interface ModuleInputOptions {
  /** Terraform type constraint, e.g. `string` or `map(map(string))`. */
  readonly type: string;
  /** Description of the variable, shown in the module's JSON and to the root. */
  readonly description: string;
  /**
   * Whether Terraform redacts the value in plans and output.
   *
   * @default false
   */
  readonly sensitive?: boolean;
  /** Whether the variable accepts `null`. Default: Terraform's default (nullable). */
  readonly nullable?: boolean;
  /** Value used when the caller passes none. Default: none, so the input is required. */
  readonly default?: unknown;
}

/** A declared input or output of a child module, for the root to wire. */
export interface ModulePort {
  /** Variable or output name (its logical id in the module). */
  readonly name: string;
  /** Whether the value is sensitive. */
  readonly sensitive: boolean;
  /** Description as declared in the module. */
  readonly description: string;
}

/**
 * An ordinary Terraform child module written by cdktf: variables in, outputs out, `required_providers`
 * but no `provider` or `backend` blocks (the root owns those). It is a TerraformStack so resources
 * resolve against it, but it is never synthesized as a stack of its own: the lab writes it to
 * `modules/<name>/main.tf.json` inside the root stack.
 *
 * Its scope is the stack that writes it (the {@link TalosEnclave} builds its zones as its children,
 * so aspects added to the enclave reach every module's resources), or a private root from
 * {@link ZoneModule.host} for a module built on its own. Either way `app.synth()` never emits it as
 * a stack: it gets no backend, no manifest entry and no folder of its own, and its JSON is the same.
 */
export abstract class ZoneModule extends WrittenStack {
  /**
   * A fresh construct root to host one module. Not an App: an App creates its output folder when it
   * is constructed, and a module is never synthesized on its own.
   */
  static host(): Construct {
    return new RootConstruct("");
  }

  private vmScope?: Construct;

  /**
   * The scope the module's VMs and their per-VM constructs live in (`<module>/vms/…`). VM names are the
   * spec's; inside this scope a VM is `<name>`, its firewall `<name>.firewall`, its user-data
   * `<name>.user-data` — '.' is in no name, so no VM name can collide with another construct of the
   * module, whatever the spec calls its VMs.
   */
  protected get vms(): Construct {
    this.vmScope ??= new Construct(this, "vms");
    return this.vmScope;
  }

  private readonly inputPorts: ModulePort[] = [];
  private readonly sidecarFiles = new Map<string, string>();
  private readonly outputPorts: ModulePort[] = [];

  /**
   * @param scope - the stack that writes the module (its construct path is left out of the module's
   *   JSON), or a private root from {@link ZoneModule.host}
   * @param moduleName - the module's folder name under `modules/` and its construct id
   */
  protected constructor(scope: Construct, readonly moduleName: string) {
    super(scope, moduleName);
  }

  /** Declares `variable "<name>"`; ids are the variable names and part of the module's contract. */
  protected input(name: string, opts: ModuleInputOptions): TerraformVariable {
    const v = new TerraformVariable(this, name, {
      type: opts.type,
      description: opts.description,
      sensitive: opts.sensitive,
      nullable: opts.nullable,
      default: opts.default,
    });
    v.overrideLogicalId(name);
    this.inputPorts.push({ name, sensitive: !!opts.sensitive, description: opts.description });
    return v;
  }

  /** Declares `output "<name>"`. */
  protected output(name: string, value: unknown, description: string, sensitive = false): TerraformOutput {
    const o = new TerraformOutput(this, `output-${name}`, { value, description, sensitive });
    o.overrideLogicalId(name);
    this.outputPorts.push({ name, sensitive, description });
    return o;
  }

  /**
   * Registers a reviewed sidecar file, written at `<stack>/<path>` next to the module.
   *
   * @throws Error for a path that could leave the stack's folder or take a file the stack owns (see
   *   {@link sidecarPathProblem}), or one registered twice
   */
  protected addSidecar(path: string, content: string): void {
    const problem = sidecarPathProblem(path);
    if (problem) throw new Error(`sidecar ${JSON.stringify(path)} of module ${this.moduleName} ${problem}`);
    if (this.sidecarFiles.has(path)) throw new Error(`sidecar ${path} is written twice`);
    this.sidecarFiles.set(path, content);
  }

  /** Reviewed sidecar files the module registered, by path relative to the stack directory. */
  get sidecars(): ReadonlyMap<string, string> {
    return this.sidecarFiles;
  }

  /** The module's declared variables, in declaration order. */
  get inputs(): readonly ModulePort[] {
    return this.inputPorts;
  }

  /** The module's declared outputs, in declaration order. */
  get outputs(): readonly ModulePort[] {
    return this.outputPorts;
  }

  /**
   * The module's HCL-JSON: the stack's configuration without provider configuration or backend.
   * Construct paths in it (`"//"` metadata of each element and of the outputs) start at the module,
   * e.g. `edge/ubuntu-image/pve`, whatever scope the module was built in.
   */
  toModuleJson(): Record<string, unknown> {
    const tf = this.stableTerraform();
    const outer = this.node.scopes.slice(0, -1).map((c) => c.node.id).filter((id) => id !== "");
    if (outer.length) relativePaths(tf, outer);
    delete tf.provider;
    const terraform = { ...(tf.terraform as Record<string, unknown>) };
    delete terraform.backend;
    tf.terraform = terraform;
    // cdktf's stack metadata names the backend; a module has none.
    const meta = tf["//"] as { metadata?: Record<string, unknown> } | undefined;
    if (meta?.metadata) {
      meta.metadata = { ...meta.metadata };
      delete meta.metadata.backend;
      delete meta.metadata.cloud;
    }
    return tf;
  }
}

/**
 * Rewrites the construct paths cdktf writes into a nested module's JSON so they start at the module:
 * each element's `"//".metadata.path` (`talos-lab/edge/…` becomes `edge/…`) and the outputs tree of
 * the stack metadata (keyed by path parts). `outer` are the ids above the module.
 */
function relativePaths(tf: Record<string, unknown>, outer: readonly string[]): void {
  const prefix = outer.join("/") + "/";
  const meta = tf["//"] as { outputs?: Record<string, unknown> } | undefined;
  if (meta?.outputs) {
    let outputs: unknown = meta.outputs;
    for (const id of outer) outputs = (outputs as Record<string, unknown> | undefined)?.[id];
    meta.outputs = (outputs ?? {}) as Record<string, unknown>;
  }
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
  const strip = (element: unknown) => {
    if (!isObject(element)) return;
    const m = (element["//"] as { metadata?: { path?: unknown } } | undefined)?.metadata;
    if (typeof m?.path === "string" && m.path.startsWith(prefix)) m.path = m.path.slice(prefix.length);
  };
  // resource and data blocks are <kind>.<type>.<name>; module and others <kind>.<name>
  for (const [kind, block] of Object.entries(tf)) {
    if (kind === "//" || kind === "terraform" || !isObject(block)) continue;
    for (const byName of Object.values(block)) {
      strip(byName);
      if (isObject(byName)) for (const element of Object.values(byName)) strip(element);
    }
  }
}
