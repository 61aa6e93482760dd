/**
 * A simulated Terraform provider: speaks plugin protocol 6 over gRPC with go-plugin's AutoMTLS
 * handshake and serves one provider's exact schema, so terraform core itself type-checks, plans and
 * applies configurations offline. Resources are "created" by filling computed values with
 * deterministic placeholders; nothing outside the process is touched.
 *
 *   terraform-provider-<name>_v<version>  →  node provider-server.js --schema <file> --provider <fqpn> --proto <dir>
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { computedValues } from "./computed-values";
import { CtyValue, decodeValue, encodeValue, fillUnknowns, fromJson, isObject, Unknown, valueHash } from "./cty";
import { applyDefaults, deprecationsIn, loadProviderFacts, ProviderFacts, replacementsFor, TypeFacts, unknownOnUpdate } from "./provider-facts";
import { blockType, markComputed, ProviderSchemaJson, protoSchema, TypeSchema } from "./schema";
import { MAGIC_COOKIE, MAGIC_COOKIE_KEY } from "./plugin-handshake";
import { generateServerIdentity } from "./tls";


interface Args {
  readonly schema: string;
  readonly provider: string;
  readonly proto: string;
  /** The provider's fact table (facts/*.json); without it the schema alone drives plans. */
  readonly facts?: string;
  /**
   * Daemon mode (`--daemon`): serve many terraform runs through TF_REATTACH_PROVIDERS, ignore
   * terraform's Shutdown, and exit when stdin closes (the sandbox that started it is gone).
   */
  readonly daemon?: boolean;
}

function parseArgs(argv: string[]): Args {
  const get = (flag: string) => {
    const i = argv.indexOf(flag);
    if (i < 0 || !argv[i + 1]) throw new Error(`missing ${flag}`);
    return argv[i + 1];
  };
  const i = argv.indexOf("--facts");
  return { schema: get("--schema"), provider: get("--provider"), proto: get("--proto"), facts: i >= 0 ? argv[i + 1] : undefined, daemon: argv.includes("--daemon") };
}

type Diagnostic = { severity: "ERROR" | "WARNING"; summary: string; detail: string };
const error = (summary: string, detail = ""): Diagnostic => ({ severity: "ERROR", summary, detail });
const warning = (summary: string, detail = ""): Diagnostic => ({ severity: "WARNING", summary, detail });

/** Puts generated computed values where the planned value is unknown; everything known stays. */
function fillKnown(planned: CtyValue, known: CtyValue): CtyValue {
  if (planned instanceof Unknown) return known === undefined ? planned : known;
  if (Array.isArray(planned) && Array.isArray(known)) return planned.map((e, i) => (i < known.length ? fillKnown(e, known[i]) : e));
  if (isObject(planned) && isObject(known)) {
    return Object.fromEntries(Object.entries(planned).map(([k, v]) => [k, k in known ? fillKnown(v, known[k]) : v]));
  }
  return planned;
}
const dyn = (v: CtyValue) => ({ msgpack: Buffer.from(encodeValue(v)) });

/** The provider's behaviour, independent of gRPC plumbing (kept separate so it can be unit-tested). */
export class SimulatedProvider {
  private readonly types = new Map<string, TypeSchema>();
  private readonly dataTypes = new Map<string, TypeSchema>();
  private schemaResponse?: Record<string, unknown>;

  constructor(
    readonly schema: ProviderSchemaJson,
    private readonly facts?: ProviderFacts,
  ) {
    for (const [k, v] of Object.entries(schema.resource_schemas ?? {})) this.types.set(k, v);
    for (const [k, v] of Object.entries(schema.data_source_schemas ?? {})) this.dataTypes.set(k, v);
  }

  getMetadata() {
    const names = (m?: Readonly<Record<string, unknown>>) => Object.keys(m ?? {}).sort().map((type_name) => ({ type_name }));
    return {
      server_capabilities: { plan_destroy: false, get_provider_schema_optional: false },
      diagnostics: [],
      resources: names(this.schema.resource_schemas),
      data_sources: names(this.schema.data_source_schemas),
      ephemeral_resources: names(this.schema.ephemeral_resource_schemas),
    };
  }

  getProviderSchema() {
    const map = (m?: Readonly<Record<string, TypeSchema>>) =>
      Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, protoSchema(v)]));
    this.schemaResponse ??= {
      provider: protoSchema(this.schema.provider),
      resource_schemas: map(this.schema.resource_schemas),
      data_source_schemas: map(this.schema.data_source_schemas),
      ephemeral_resource_schemas: map(this.schema.ephemeral_resource_schemas),
      diagnostics: [],
      server_capabilities: { plan_destroy: false, get_provider_schema_optional: false },
    };
    return this.schemaResponse;
  }

  private resource(type: string): TypeSchema {
    const s = this.types.get(type);
    if (!s) throw new Error(`unknown resource type ${type}`);
    return s;
  }

  private dataSource(type: string): TypeSchema {
    const s = this.dataTypes.get(type);
    if (!s) throw new Error(`unknown data source type ${type}`);
    return s;
  }

  private factsOf(type: string, data = false): TypeFacts | undefined {
    return data ? this.facts?.dataSources?.[type] : this.facts?.resources[type];
  }

  /** SDKv2 resources run on the legacy type system: terraform accepts their defaults in non-computed attributes. */
  private legacy(type: string): boolean {
    return this.factsOf(type)?.framework === "sdkv2";
  }

  validateType(type: string, data: boolean, config: CtyValue = null): Diagnostic[] {
    const known = data ? this.dataTypes.has(type) : this.types.has(type);
    if (!known) return [error(`Unsupported ${data ? "data source" : "resource"} type`, `${type} is not served by this provider`)];
    // The real providers warn when a deprecated attribute is set (SDKv2 validate; framework DeprecationMessage).
    return deprecationsIn(this.factsOf(type, data), config).map((d) => warning(`Argument is deprecated`, `${type}.${d.path}: ${d.message}`));
  }

  upgradeResourceState(type: string, rawJson: Buffer | undefined) {
    const t = blockType(this.resource(type).block);
    const json = rawJson && rawJson.length ? JSON.parse(rawJson.toString("utf8")) : null;
    return { upgraded_state: dyn(fromJson(t, json)), diagnostics: [] };
  }

  planResourceChange(type: string, prior: CtyValue, proposed: CtyValue, config: CtyValue) {
    const block = this.resource(type).block;
    const facts = this.factsOf(type);
    // A destroy plan has a null proposed state.
    const legacy_type_system = this.legacy(type);
    if (proposed === null) return { planned_state: dyn(null), requires_replace: [], diagnostics: [], legacy_type_system };
    const planned = applyDefaults(facts, proposed);
    if (!isObject(prior)) return { planned_state: dyn(markComputed(block, planned)), requires_replace: [], diagnostics: [], legacy_type_system };
    const replace = replacementsFor(facts, prior, planned);
    if (replace.length > 0) {
      // A replacement plans a new object: from the configuration, with every computed value unknown.
      return {
        planned_state: dyn(markComputed(block, applyDefaults(facts, config))),
        requires_replace: [...new Set(replace.map((r) => r.path.split(".")[0]))].map((a) => ({ steps: [{ attribute_name: a }] })),
        diagnostics: [],
        legacy_type_system,
      };
    }
    const changed = valueHash(planned) !== valueHash(prior);
    const planned_state = dyn(changed ? unknownOnUpdate(facts, prior, markComputed(block, planned), config) : planned);
    return { planned_state, requires_replace: [], diagnostics: [], legacy_type_system };
  }

  applyResourceChange(type: string, planned: CtyValue) {
    const legacy_type_system = this.legacy(type);
    if (planned === null) return { new_state: dyn(null), diagnostics: [], legacy_type_system };
    const seed = valueHash(type, planned);
    const filled = fillKnown(planned, computedValues(type, planned, seed));
    return { new_state: dyn(fillUnknowns(blockType(this.resource(type).block), filled, type, seed)), diagnostics: [], legacy_type_system };
  }

  readDataSource(type: string, config: CtyValue) {
    const s = this.dataSource(type);
    const planned = markComputed(s.block, applyDefaults(this.factsOf(type, true), config));
    const seed = valueHash(type, config);
    const filled = fillKnown(planned, computedValues(type, planned, seed));
    return { state: dyn(fillUnknowns(blockType(s.block), filled, type, seed)), diagnostics: [] };
  }
}

type Handler = (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

function unary<Req>(fn: (req: Req) => unknown, onError: (e: unknown) => unknown): Handler {
  return (call, cb) => {
    try {
      cb(null, fn(call.request as Req));
    } catch (e) {
      cb(null, onError(e));
    }
  };
}

/**
 * A handler answered after TFSIM_APPLY_DELAY_MS: a slow apply, so a test can run a second command
 * while the first holds the state lock.
 */
function slowed(h: Handler): Handler {
  const delay = Number(process.env.TFSIM_APPLY_DELAY_MS ?? 0);
  return delay > 0 ? (call, cb) => setTimeout(() => h(call, cb), delay) : h;
}

type DynIn = { msgpack?: Buffer } | undefined;
const val = (d: DynIn) => decodeValue(d?.msgpack);

export async function serve(args: Args): Promise<void> {
  if (process.env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE) {
    process.stderr.write("This binary is a plugin. These are not meant to be executed directly.\n");
    process.exit(1);
  }
  const versions = (process.env.PLUGIN_PROTOCOL_VERSIONS ?? "6").split(",");
  if (!versions.includes("6")) {
    process.stderr.write(`plugin protocol 6 not offered (${versions.join(",")})\n`);
    process.exit(1);
  }
  const all = JSON.parse(readFileSync(args.schema, "utf8"));
  const schema: ProviderSchemaJson | undefined = all.provider_schemas?.[args.provider];
  if (!schema) throw new Error(`${args.schema} has no provider ${args.provider}`);
  const sim = new SimulatedProvider(schema, args.facts ? loadProviderFacts(args.facts) : undefined);

  const pkg = grpc.loadPackageDefinition(
    protoLoader.loadSync([join(args.proto, "tfplugin6.proto"), join(args.proto, "grpc_controller.proto")], {
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: false,
      oneofs: true,
    }),
  ) as any; // eslint-disable-line @typescript-eslint/no-explicit-any

  const diagOnly = (e: unknown) => ({ diagnostics: [error("Simulated provider failed", e instanceof Error ? e.message : String(e))] });
  const server = new grpc.Server();
  server.addService(pkg.tfplugin6.Provider.service, {
    GetMetadata: unary(() => sim.getMetadata(), diagOnly),
    GetProviderSchema: unary(() => sim.getProviderSchema(), diagOnly),
    ValidateProviderConfig: unary(() => ({ diagnostics: [] }), diagOnly),
    ValidateResourceConfig: unary(
      (r: { type_name: string; config?: DynIn }) => ({ diagnostics: sim.validateType(r.type_name, false, val(r.config)) }),
      diagOnly,
    ),
    ValidateDataResourceConfig: unary(
      (r: { type_name: string; config?: DynIn }) => ({ diagnostics: sim.validateType(r.type_name, true, val(r.config)) }),
      diagOnly,
    ),
    ValidateEphemeralResourceConfig: unary(
      (r: { type_name: string }) => ({ diagnostics: [error("Ephemeral resources are not simulated", r.type_name)] }),
      diagOnly,
    ),
    ConfigureProvider: unary(() => ({ diagnostics: [] }), diagOnly),
    UpgradeResourceState: unary(
      (r: { type_name: string; raw_state?: { json?: Buffer } }) => sim.upgradeResourceState(r.type_name, r.raw_state?.json),
      (e) => ({ upgraded_state: dyn(null), ...diagOnly(e) }),
    ),
    ReadResource: unary((r: { current_state?: DynIn; private?: Buffer }) => ({
      new_state: dyn(val(r.current_state)),
      private: r.private,
      diagnostics: [],
    }), (e) => ({ new_state: dyn(null), ...diagOnly(e) })),
    PlanResourceChange: unary(
      (r: { type_name: string; prior_state?: DynIn; proposed_new_state?: DynIn; config?: DynIn }) =>
        sim.planResourceChange(r.type_name, val(r.prior_state), val(r.proposed_new_state), val(r.config)),
      (e) => ({ planned_state: dyn(null), ...diagOnly(e) }),
    ),
    ApplyResourceChange: slowed(
      unary(
        (r: { type_name: string; planned_state?: DynIn }) => sim.applyResourceChange(r.type_name, val(r.planned_state)),
        (e) => ({ new_state: dyn(null), ...diagOnly(e) }),
      ),
    ),
    ImportResourceState: unary(
      (r: { type_name: string; id: string }) => ({
        diagnostics: [error("Import is not supported by the simulated provider", `${r.type_name} ${r.id}: the simulator has no real objects to import`)],
      }),
      diagOnly,
    ),
    ReadDataSource: unary(
      (r: { type_name: string; config?: DynIn }) => sim.readDataSource(r.type_name, val(r.config)),
      (e) => ({ state: dyn(null), ...diagOnly(e) }),
    ),
    StopProvider: unary(() => ({ Error: "" }), () => ({ Error: "" })),
  });
  server.addService(pkg.plugin.GRPCController.service, {
    Shutdown: (_call: unknown, cb: grpc.sendUnaryData<object>) => {
      cb(null, {});
      if (!args.daemon) setImmediate(() => process.exit(0));
    },
  });

  const identity = await generateServerIdentity();
  const clientCert = process.env.PLUGIN_CLIENT_CERT;
  const creds = clientCert
    ? grpc.ServerCredentials.createSsl(
        Buffer.from(clientCert),
        [{ private_key: Buffer.from(identity.keyPem), cert_chain: Buffer.from(identity.certPem) }],
        true,
      )
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  process.stdout.write(`1|6|tcp|127.0.0.1:${port}|grpc${clientCert ? `|${identity.certForHandshake}` : ""}\n`);
  // terraform ends a plugin through GRPCController.Shutdown, or by closing its stdin/killing it.
  process.on("SIGTERM", () => process.exit(0));
  if (args.daemon) {
    process.stdin.on("close", () => process.exit(0));
    process.stdin.resume();
  }
}

if (require.main === module) {
  serve(parseArgs(process.argv.slice(2))).catch((e) => {
    process.stderr.write(`simulated provider: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
