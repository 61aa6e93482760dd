import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeValue, encodeValue, fillUnknowns, fromJson, Unknown } from "../tools/tfsim/cty";
import { blockType, markComputed, SchemaBlock } from "../tools/tfsim/schema";
import { generateServerIdentity } from "../tools/tfsim/tls";
import { findSchemaDir } from "../providers/schema-dir";
import { PROJECT_ROOT } from "./support/tree";

const schemaDir = findSchemaDir(PROJECT_ROOT);

const block: SchemaBlock = {
  attributes: {
    id: { type: "string", optional: true, computed: true },
    name: { type: "string", required: true },
    size: { type: "number", computed: true },
    tags: { type: ["list", "string"], optional: true },
  },
  block_types: {
    disk: { nesting_mode: "list", block: { attributes: { interface: { type: "string", required: true }, format: { type: "string", optional: true, computed: true } } } },
  },
};

describe("simulated provider values", () => {
  it("encodes an unknown as msgpack extension 0 with a one-byte payload", () => {
    expect(Buffer.from(encodeValue(new Unknown())).toString("hex")).toBe("d40000");
    expect(decodeValue(Buffer.from("d40000", "hex"))).toBeInstanceOf(Unknown);
    const refined = decodeValue(Buffer.from("d40c00", "hex")) as Unknown;
    expect([refined.extType, [...refined.data]]).toEqual([12, [0]]);
    expect(Buffer.from(encodeValue(refined)).toString("hex")).toBe("d40c00");
  });

  it("reads a stored state with every attribute of the schema present", () => {
    const t = blockType(block);
    expect(fromJson(t, { name: "a", extra: 1, disk: [{ interface: "scsi0" }] })).toEqual({
      id: null,
      name: "a",
      size: null,
      tags: null,
      disk: [{ interface: "scsi0", format: null }],
    });
  });

  it("plans computed attributes that config leaves null as unknown, at every level", () => {
    const planned = markComputed(block, { id: null, name: "a", size: null, tags: null, disk: [{ interface: "scsi0", format: null }] }) as Record<string, unknown>;
    expect(planned.id).toBeInstanceOf(Unknown);
    expect(planned.size).toBeInstanceOf(Unknown);
    expect(planned.tags).toBeNull();
    expect((planned.disk as Record<string, unknown>[])[0].format).toBeInstanceOf(Unknown);
  });

  it("fills unknowns with deterministic placeholders of the right type", () => {
    const t = blockType(block);
    const planned = markComputed(block, { id: null, name: "a", size: null, tags: null, disk: [] });
    const a = fillUnknowns(t, planned, "r", "seed");
    expect(a).toEqual({ id: "sim-id-seed", name: "a", size: 0, tags: null, disk: [] });
    expect(fillUnknowns(t, planned, "r", "seed")).toEqual(a);
  });
});

describe("go-plugin handshake", () => {
  it("issues a certificate Go accepts: EC P-256, SAN localhost, unpadded base64 DER", async () => {
    const id = await generateServerIdentity();
    expect(id.certForHandshake).not.toMatch(/=$/);
    const cert = new X509Certificate(Buffer.from(id.certForHandshake, "base64"));
    expect(cert.subjectAltName).toBe("DNS:localhost");
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(cert.ca).toBe(true);
    expect(cert.toString().trim()).toBe(id.certPem.trim());
  });

  it.skipIf(!schemaDir)("refuses to run outside terraform and announces protocol 6 over gRPC with its certificate", async () => {
    const server = join(PROJECT_ROOT, "tools", "tfsim", "provider-server.ts");
    const schemas = join(schemaDir!, "providers", "hashicorp-helm-3.1.1.schema.json");
    const run = (env: Record<string, string>) =>
      new Promise<{ code: number | null; out: string; err: string }>((done) => {
        const p = spawn(join(PROJECT_ROOT, "node_modules", ".bin", "tsx"), [server, "--schema", schemas, "--provider", "registry.terraform.io/hashicorp/helm", "--proto", join(PROJECT_ROOT, "tools", "tfsim")], {
          env: { ...process.env, ...env },
        });
        let out = "";
        let err = "";
        p.stdout.on("data", (d) => {
          out += d;
          if (out.includes("\n")) p.kill("SIGTERM");
        });
        p.stderr.on("data", (d) => (err += d));
        p.on("close", (code) => done({ code, out, err }));
      });
    const outside = await run({});
    expect(outside.code).toBe(1);
    expect(outside.err).toContain("This binary is a plugin");
    const cookie = { TF_PLUGIN_MAGIC_COOKIE: "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2", PLUGIN_PROTOCOL_VERSIONS: "5,6" };
    const client = await generateServerIdentity();
    const inside = await run({ ...cookie, PLUGIN_CLIENT_CERT: client.certPem });
    const m = /^1\|6\|tcp\|127\.0\.0\.1:\d+\|grpc\|([A-Za-z0-9+/]+)\n$/.exec(inside.out);
    expect(m, inside.out + inside.err).not.toBeNull();
    expect(new X509Certificate(Buffer.from(m![1], "base64")).subjectAltName).toBe("DNS:localhost");
  });
});
