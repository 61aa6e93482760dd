import { spawnSync } from "node:child_process";
import { createHash, createPublicKey, generateKeyPairSync, sign, verify, KeyObject } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildLabModel } from "../constructs/lab/build";
import { validateLabSpec } from "../constructs/lab/validate";
import { SpecError } from "../constructs/input/spec-error";
import { LabSpecInput } from "../constructs/input/lab-spec";
import { talosConfigProblems } from "../constructs/policy/talos-config-checks";
import { allNodesDocuments } from "../constructs/render/talos/machine-documents";
import { renderMirrorScript } from "../constructs/render/talos/mirror-script";
import { clusterImages, digestPin } from "../constructs/render/talos/cluster-images";
import { installerRepository } from "../constructs/render/talos/image-verification";
import { loadTalosSchema } from "./support/talos-schema";
import { findSchemaDir } from "../providers/schema-dir";
import { PROJECT_ROOT } from "./support/tree";

/**
 * Only signed images run: the lab's ImageVerificationConfig, checked the way Talos reads it, with a
 * signature made here, offline, in cosign's legacy format, and the generated mirror/re-sign script run
 * against stand-in tools. Talos's side is re-implemented from its sources (siderolabs/talos v1.13.9):
 * rules are tried in order and the first glob match decides (pkg/machinery/resources/security/
 * image_verification_rule.go), no match allows, a public-key rule verifies the signature of the
 * `sha256-<hex>.sig` tag's layers in the image's repository reached through the registry mirror
 * (internal/pkg/containers/image/verify/internal/cosign/cosign.go).
 */

type Doc = Record<string, unknown>;
type Rule = { image: string; skip?: boolean; deny?: boolean; publicKey?: { certificate: string } };

/** Runs openssl with `input` on its standard input; its standard output. */
function execOpenssl(args: string[], input: string): string {
  const r = spawnSync("openssl", args, { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const modelOf = (spec: LabSpecInput) => buildLabModel(validateLabSpec(spec));
const docsOf = (spec: LabSpecInput) => allNodesDocuments(modelOf(spec));
const rulesOf = (docs: Doc[]) => (docs.find((d) => d.kind === "ImageVerificationConfig")?.rules as Rule[]) ?? [];

function problemLines(spec: LabSpecInput): string[] {
  try {
    validateLabSpec(spec);
    return [];
  } catch (e) {
    if (!(e instanceof SpecError)) throw e;
    return e.message.split("\n").slice(1).map((l) => l.trim());
  }
}

/** github.com/ryanuber/go-glob: '*' matches any run of characters ('/' included), nothing else is special. */
function goGlob(pattern: string, subject: string): boolean {
  if (pattern === "*") return true;
  const parts = pattern.split("*");
  if (parts.length === 1) return pattern === subject;
  if (!subject.startsWith(parts[0])) return false;
  let at = parts[0].length;
  for (const part of parts.slice(1, -1)) {
    const i = subject.indexOf(part, at);
    if (i < 0) return false;
    at = i + part.length;
  }
  const last = parts[parts.length - 1];
  return subject.length - at >= last.length && subject.endsWith(last);
}

/**
 * go-containerregistry's Repository.Name(): docker.io is spelled index.docker.io; a registry's port
 * stays (only the digest, and a tag after the last `/`, go).
 */
const repositoryName = (ref: string) => ref.replace(/^docker\.io\//, "index.docker.io/").replace(/@.*$/, "").replace(/:[^/]*$/, "");

const sha256 = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** A registry in memory: blobs and manifests by `<host>/<project>/<repo>` and tag or digest. */
class Registry {
  readonly manifests = new Map<string, Buffer>();
  readonly blobs = new Map<string, Buffer>();
  put(repo: string, tag: string | undefined, manifest: Buffer): string {
    const d = sha256(manifest);
    this.manifests.set(`${repo}@${d}`, manifest);
    if (tag) this.manifests.set(`${repo}:${tag}`, manifest);
    return d;
  }
  blob(content: Buffer): { mediaType: string; digest: string; size: number } {
    const digest = sha256(content);
    this.blobs.set(digest, content);
    return { mediaType: "", digest, size: content.length };
  }
}

/** A fixture OCI image (config + one layer) pushed to `repo:tag`; returns its manifest digest. */
function pushFixtureImage(reg: Registry, repo: string, tag: string, layerText = "hello from the fixture\n"): string {
  const config = { ...reg.blob(Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }))), mediaType: "application/vnd.oci.image.config.v1+json" };
  const layer = { ...reg.blob(Buffer.from(layerText)), mediaType: "application/vnd.oci.image.layer.v1.tar" };
  return reg.put(repo, tag, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config, layers: [layer] })));
}

/**
 * What `cosign sign --key … --tlog-upload=false` pushes (sigstore/cosign v2.6.4: payload
 * pkg/cosign/obsolete_test.go shape, media type pkg/types/media.go, annotation
 * pkg/oci/static/signature.go): a manifest at tag `sha256-<hex>.sig` whose layer is the simple-signing
 * payload and whose annotation `dev.cosignproject.cosign/signature` is the base64 ECDSA-SHA256 (DER)
 * signature of it.
 */
function cosignSign(reg: Registry, repo: string, digest: string, privateKey: KeyObject): void {
  const payload = Buffer.from(
    JSON.stringify({ critical: { identity: { "docker-reference": repo }, image: { "docker-manifest-digest": digest }, type: "cosign container image signature" }, optional: null }),
  );
  const signature = sign("sha256", payload, privateKey).toString("base64");
  const layer = { ...reg.blob(payload), mediaType: "application/vnd.dev.cosign.simplesigning.v1+json", annotations: { "dev.cosignproject.cosign/signature": signature } };
  const config = { ...reg.blob(Buffer.from("{}")), mediaType: "application/vnd.oci.image.config.v1+json" };
  reg.put(repo, `${digest.replace(":", "-")}.sig`, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config, layers: [layer] })));
}

/**
 * Talos's decision for an image reference (`<upstream repo>@<digest>`): the rules of the lab's
 * ImageVerificationConfig, the registry mirrors of its RegistryMirrorConfig documents, and the
 * registry. The signature check also holds the payload's digest claim, as `cosign verify` does.
 */
function talosVerify(docs: Doc[], reg: Registry, ref: string): "allowed (no rule)" | "skipped" | "verified" | `denied: ${string}` {
  const [upstreamRepo, digest] = ref.split("@");
  const rule = rulesOf(docs).find((r) => r.image && goGlob(r.image, repositoryName(upstreamRepo)));
  if (!rule) return "allowed (no rule)";
  if (rule.deny) return "denied: by rule";
  if (rule.skip) return "skipped";
  // the resolver goes through the mirror of the image's registry
  const registry = upstreamRepo.slice(0, upstreamRepo.indexOf("/"));
  const mirror = docs.find((d) => d.kind === "RegistryMirrorConfig" && d.name === registry) as { endpoints: { url: string }[] } | undefined;
  const base = mirror ? mirror.endpoints[0].url.replace(/^https:\/\//, "").replace("/v2/", "/") : registry;
  const repo = `${base}/${upstreamRepo.slice(registry.length + 1)}`;
  if (!reg.manifests.has(`${repo}@${digest}`)) return "denied: image not found";
  const sigManifest = reg.manifests.get(`${repo}:${digest.replace(":", "-")}.sig`);
  if (!sigManifest) return "denied: no signature";
  const key = createPublicKey(rule.publicKey!.certificate);
  for (const layer of JSON.parse(sigManifest.toString()).layers as { digest: string; annotations: Record<string, string> }[]) {
    const payload = reg.blobs.get(layer.digest)!;
    const signature = Buffer.from(layer.annotations["dev.cosignproject.cosign/signature"], "base64");
    const claim = JSON.parse(payload.toString()).critical.image["docker-manifest-digest"];
    if (verify("sha256", payload, key, signature) && claim === digest) return "verified";
  }
  return "denied: signature does not verify";
}

describe("spec: talos.imageVerification", () => {
  it("is on in the reference lab, with its key, and emits the document", () => {
    const m = modelOf({});
    expect(m.imageVerification.enabled).toBe(true);
    expect(createPublicKey(m.imageVerification.publicKey).asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(rulesOf(docsOf({})).length).toBeGreaterThan(10);
  });

  it("is off by default below the v1.13 contract, where Talos has no such document", () => {
    const docs = docsOf({ talos: { version: "v1.12.11", kubernetesVersion: "v1.35.0" } });
    expect(docs.some((d) => d.kind === "ImageVerificationConfig")).toBe(false);
    // and the mirrors stay the proxy caches
    expect(docs.find((d) => d.kind === "RegistryMirrorConfig")).toMatchObject({ endpoints: [{ url: "https://registry.mgmt.lab.internal/v2/proxy-docker.io" }] });
  });

  it("refuses to turn it on for an older contract, naming field, value, rule and hint", () => {
    expect(problemLines({ talos: { version: "v1.12.11", kubernetesVersion: "v1.35.0", imageVerification: { enabled: true } } })).toEqual([
      "talos.imageVerification.enabled: true — needs the machine-config contract v1.13 or newer (this lab's is v1.12) (Talos added ImageVerificationConfig in v1.13.0; a v1.12 node refuses the document. Move talos.version and talos.configContract to v1.13 or newer, or leave enabled unset (off below v1.13))",
    ]);
    // a v1.13 node on a pinned v1.12 contract is refused too
    expect(problemLines({ talos: { configContract: "v1.12", imageVerification: { enabled: true } } })).toHaveLength(1);
  });

  it.each([
    ["no PEM at all", "not a key", /must be one PEM public key block/],
    ["a certificate instead of a key", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", /must be one PEM public key block/],
    ["a broken body", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", /must be a readable public key/],
    ["an RSA key", generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "pem" }).toString(), /must be an ECDSA P-256 key, not rsa/],
    ["a P-384 key", generateKeyPairSync("ec", { namedCurve: "secp384r1" }).publicKey.export({ type: "spki", format: "pem" }).toString(), /not ec on secp384r1/],
    ["a compressed point", execOpenssl(["ec", "-pubin", "-pubout", "-conv_form", "compressed"], generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }).toString()), /must hold its point uncompressed/],
  ])("refuses %s as the public key, in one line", (_, publicKey, rule) => {
    const lines = problemLines({ talos: { imageVerification: { publicKey } } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^talos\.imageVerification\.publicKey: ".+ — /s);
    expect(lines[0]).toMatch(rule);
    expect(lines[0]).toMatch(/\(the content of cosign\.pub from `cosign generate-key-pair`/);
  });

  it.each([
    ["no PEM at all", "not a key", /must be one PEM public key block/],
    ["a private key", generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "sec1", format: "pem" }).toString(), /must be one PEM public key block/],
    ["an RSA key", generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "pem" }).toString(), /must be an ECDSA P-256 key, not rsa/],
  ])("refuses %s as the factory's public key, in one line, with the factory's hint", (_, factoryPublicKey, rule) => {
    const lines = problemLines({ talos: { imageVerification: { factoryPublicKey } } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^talos\.imageVerification\.factoryPublicKey: ".+ — /s);
    expect(lines[0]).toMatch(rule);
    expect(lines[0]).toMatch(/\(the public half of image_factory_signing_key: `openssl ec -in factory-key\.pem -pubout`/);
  });

  it("takes the factory's public key from the spec; its default is a P-256 key that is not the lab's", () => {
    const pem = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }).toString();
    expect(modelOf({ talos: { imageVerification: { factoryPublicKey: pem } } }).imageVerification.factoryPublicKey).toBe(pem);
    const m = modelOf({});
    expect(createPublicKey(m.imageVerification.factoryPublicKey).asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(m.imageVerification.factoryPublicKey).not.toBe(m.imageVerification.publicKey);
  });
});

describe("the ImageVerificationConfig the lab emits", () => {
  const docs = docsOf({});
  const rules = rulesOf(docs);

  it("covers Talos, Kubernetes, Calico and the demo with the spec's key, and ends with a deny of everything else", () => {
    const key = modelOf({}).imageVerification.publicKey;
    const patterns = rules.map((r) => r.image);
    for (const p of ["ghcr.io/siderolabs/kubelet", "registry.k8s.io/kube-apiserver", "registry.k8s.io/etcd", "registry.k8s.io/pause", "quay.io/tigera/operator", "quay.io/calico/node", "registry.mgmt.lab.internal/signed-registry.k8s.io/e2e-test-images/agnhost"]) {
      expect(patterns).toContain(p);
      expect(rules.find((r) => r.image === p)?.publicKey?.certificate).toBe(key);
    }
    // the installer first, verified with the factory's key, not the lab's, and not skipped
    const factoryKey = modelOf({}).imageVerification.factoryPublicKey;
    expect(factoryKey).not.toBe(key);
    expect(rules[0]).toEqual({ image: expect.stringMatching(/^registry\.mgmt\.lab\.internal:9443\/nocloud-installer\/[0-9a-f]{64}$/), publicKey: { certificate: factoryKey } });
    expect(rules.some((r) => r.skip)).toBe(false);
    expect(rules[rules.length - 1]).toEqual({ image: "*", deny: true });
    expect(talosConfigProblems(new Map([["talos/all-nodes.yaml", docs]]))).toEqual([]);
  });

  it("fails the policy check without the closing deny, or with a key that is no key (planted faults)", () => {
    const without = docs.map((d) => (d.kind === "ImageVerificationConfig" ? { ...d, rules: rules.slice(0, -1) } : d));
    expect(talosConfigProblems(new Map([["f", without]])).map((p) => p.message)).toEqual([
      'ImageVerificationConfig does not end with the rule {image: "*", deny: true}: Talos allows every image no rule matches',
    ]);
    const badKey = docs.map((d) => (d.kind === "ImageVerificationConfig" ? { ...d, rules: [{ image: "quay.io/x", publicKey: { certificate: "x" } }, ...rules] } : d));
    expect(talosConfigProblems(new Map([["f", badKey]])).map((p) => p.message)).toEqual(["ImageVerificationConfig rule 0 (quay.io/x): publicKey.certificate is no PEM public key"]);
  });

  const schemaDir = findSchemaDir(PROJECT_ROOT);
  it.skipIf(!schemaDir)("validates against the schema written from the Go types, which refuses what Talos's Validate refuses", () => {
    const talos = loadTalosSchema(schemaDir!);
    const doc = docs.find((d) => d.kind === "ImageVerificationConfig")!;
    expect(talos.check(doc)).toBe("");
    const withRule = (rule: Doc) => talos.check({ ...doc, rules: [rule] });
    expect(withRule({ image: "a/b", skip: true, deny: true })).not.toBe("");
    expect(withRule({ image: "a/b", deny: true, publicKey: { certificate: "x" } })).not.toBe("");
    expect(withRule({ image: "a/b" })).not.toBe("");
    expect(withRule({ skip: true })).not.toBe("");
    expect(withRule({ image: "a/b", keyless: { issuer: "https://x" } })).not.toBe("");
    expect(withRule({ image: "a/b", keyless: { issuer: "https://x", subjectRegex: ".*" } })).toBe("");
    expect(withRule({ image: "a/b", publicKey: { certificate: "x", extra: 1 } })).toMatch(/additional properties/);
    expect(talos.check({ ...doc, name: "x" })).toMatch(/additional properties/);
  });
});

describe("offline: the lab signs a fixture image, Talos's rules verify it", () => {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
  const docs = docsOf({ talos: { imageVerification: { publicKey: pem } } });
  const fixture = "registry.k8s.io/pause"; // a repository the rules cover, pulled through its mirror
  const signedRepo = "registry.mgmt.lab.internal/signed-registry.k8s.io/pause";

  /** The mirror step: the upstream image, copied by digest into the signed project, signed there. */
  function mirrored(key = privateKey, layer?: string) {
    const reg = new Registry();
    const digest = pushFixtureImage(reg, `upstream/${fixture}`, "3.10.1", layer);
    // crane copy keeps the digest: the same manifest bytes under the signed project
    expect(reg.put(signedRepo, "3.10.1", reg.manifests.get(`upstream/${fixture}@${digest}`)!)).toBe(digest);
    cosignSign(reg, signedRepo, digest, key);
    return { reg, digest };
  }

  it("verifies with the rule's key, through the mirror to the signed project", () => {
    const { reg, digest } = mirrored();
    expect(talosVerify(docs, reg, `${fixture}@${digest}`)).toBe("verified");
  });

  it("refuses a tampered image: another digest has no signature, and a moved signature fails its claim", () => {
    const { reg, digest } = mirrored();
    const tampered = pushFixtureImage(reg, signedRepo, "3.10.1", "tampered layer\n");
    expect(tampered).not.toBe(digest);
    expect(talosVerify(docs, reg, `${fixture}@${tampered}`)).toBe("denied: no signature");
    // the lab's signature copied onto the tampered digest's tag
    reg.manifests.set(`${signedRepo}:${tampered.replace(":", "-")}.sig`, reg.manifests.get(`${signedRepo}:${digest.replace(":", "-")}.sig`)!);
    expect(talosVerify(docs, reg, `${fixture}@${tampered}`)).toBe("denied: signature does not verify");
  });

  it("refuses a signature made with another key, and a rule that names another key", () => {
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const { reg, digest } = mirrored(other.privateKey);
    expect(talosVerify(docs, reg, `${fixture}@${digest}`)).toBe("denied: signature does not verify");
    const good = mirrored();
    const wrongRuleDocs = docsOf({ talos: { imageVerification: { publicKey: other.publicKey.export({ type: "spki", format: "pem" }).toString() } } });
    expect(talosVerify(wrongRuleDocs, good.reg, `${fixture}@${good.digest}`)).toBe("denied: signature does not verify");
  });

  describe("the installer, which the internal Image Factory signs with its own key", () => {
    const factory = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const factoryPem = factory.publicKey.export({ type: "spki", format: "pem" }).toString();
    const withFactory = docsOf({ talos: { imageVerification: { publicKey: pem, factoryPublicKey: factoryPem } } });
    const installerRepo = installerRepository(modelOf({ talos: { imageVerification: { publicKey: pem, factoryPublicKey: factoryPem } } }));

    /**
     * What the factory serves at :9443 (siderolabs/image-factory v1.5.0): the installer it built, and
     * the `sha256-<hex>.sig` it pushed for it (internal/image/signer/key.go `SignImage`), which its
     * registry endpoint passes through from its internal repository (registry.go `handleManifest`).
     */
    function built(key: KeyObject) {
      const reg = new Registry();
      const digest = pushFixtureImage(reg, installerRepo, "v1.13.9", "installer layer\n");
      cosignSign(reg, installerRepo, digest, key);
      return { reg, digest };
    }

    it("is the first rule, so the lab's key and the closing deny never decide it", () => {
      expect(rulesOf(withFactory)[0]).toEqual({ image: installerRepo, publicKey: { certificate: factoryPem } });
    });

    it("verifies when the factory signed it with its key", () => {
      const { reg, digest } = built(factory.privateKey);
      expect(talosVerify(withFactory, reg, `${installerRepo}@${digest}`)).toBe("verified");
    });

    it("refuses one signed with the lab's key or any other, and one not signed at all", () => {
      const lab = built(privateKey);
      expect(talosVerify(withFactory, lab.reg, `${installerRepo}@${lab.digest}`)).toBe("denied: signature does not verify");
      const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const { reg, digest } = built(other.privateKey);
      expect(talosVerify(withFactory, reg, `${installerRepo}@${digest}`)).toBe("denied: signature does not verify");
      const unsigned = new Registry();
      const d = pushFixtureImage(unsigned, installerRepo, "v1.13.9", "installer layer\n");
      expect(talosVerify(withFactory, unsigned, `${installerRepo}@${d}`)).toBe("denied: no signature");
    });

    it("is refused under the reference lab's factory key, whose private half nobody has", () => {
      const { reg, digest } = built(factory.privateKey);
      expect(talosVerify(docs, reg, `${installerRepo}@${digest}`)).toBe("denied: signature does not verify");
    });
  });

  it("denies an image no rule names, and would allow it without the closing deny (planted fault)", () => {
    const reg = new Registry();
    const digest = pushFixtureImage(reg, "registry.mgmt.lab.internal/signed-docker.io/library/nginx", "latest");
    expect(talosVerify(docs, reg, `docker.io/library/nginx@${digest}`)).toBe("denied: by rule");
    const noDeny = docs.map((d) => (d.kind === "ImageVerificationConfig" ? { ...d, rules: rulesOf(docs).slice(0, -1) } : d));
    expect(talosVerify(noDeny, reg, `docker.io/library/nginx@${digest}`)).toBe("allowed (no rule)");
  });
});

describe("the generated mirror/re-sign script", () => {
  const root = mkdtempSync(join(tmpdir(), "mirror-sh-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const m = modelOf({});
  const script = renderMirrorScript(m);
  const hasShellcheck = spawnSync("shellcheck", ["--version"]).status === 0;

  it.skipIf(!hasShellcheck)("is shellcheck-clean", () => {
    const file = join(root, "mirror-and-sign.sh");
    writeFileSync(file, script);
    const r = spawnSync("shellcheck", ["-s", "bash", file], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
  });

  /** What the stand-in crane resolves a tag to that the table does not pin. */
  const resolved = `sha256:${"ab".repeat(32)}`;
  /** The digest the stand-in crane resolves `<repository>:<tag>` to: its pin, as upstream would. */
  const upstreamDigest = (ref: string) => {
    const pin = digestPin(ref);
    return "digest" in pin ? pin.digest : resolved;
  };

  /**
   * Runs the script with stand-in cosign, crane and curl that log their arguments. The stand-in
   * crane resolves a pinned tag to its pin, unless `movedTags` (every tag resolves elsewhere).
   */
  function run(publicKeyOut: string, movedTags = false) {
    const bin = join(root, `bin-${Math.random().toString(36).slice(2)}`);
    mkdirSync(bin);
    const log = join(bin, "calls.log");
    const tool = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >> '${log}'\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    tool("cosign", `case "$1" in version) echo 'GitVersion: v2.6.4';; public-key) cat '${join(bin, "pub")}';; esac`);
    const pins = movedTags
      ? ""
      : clusterImages(m)
          .map((i) => `${i.repository}:${i.tag}`)
          .filter((ref) => upstreamDigest(ref) !== resolved)
          .map((ref) => `'${ref}') echo '${upstreamDigest(ref)}';; `)
          .join("");
    tool("crane", `case "$1" in version) echo 'v0.21.9';; digest) case "$2" in ${pins}*) echo '${resolved}';; esac;; auth) cat > /dev/null;; esac`);
    tool("curl", "exit 1");
    writeFileSync(join(bin, "pub"), publicKeyOut);
    const r = spawnSync("bash", ["-c", script], {
      encoding: "utf8",
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: root, TOOLS: join(bin, "tools"), LAB_COSIGN_KEY: "/k/cosign.key", HARBOR_USERNAME: "admin", HARBOR_PASSWORD: "pw" },
    });
    const calls = r.status === null ? [] : (() => { try { return readFileSync(log, "utf8").trim().split("\n"); } catch { return []; } })();
    return { status: r.status, stderr: r.stderr, calls };
  }

  it("verifies each upstream signature before it copies, copies before it signs, and checks its own signature", () => {
    const { status, stderr, calls } = run(m.imageVerification.publicKey.trim() + "\n");
    expect(stderr).toBe("");
    expect(status).toBe(0);
    const at = (prefix: string) => calls.findIndex((c) => c.startsWith(prefix));
    // a signed upstream: keyless verify with its identity, then copy, sign, verify with the lab key
    const k8s = "registry.k8s.io/kube-apiserver";
    const d = upstreamDigest(`${k8s}:v1.36.3`);
    const verifyUp = at(`cosign verify --certificate-oidc-issuer https://accounts.google.com --certificate-identity krel-trust@k8s-releng-prod.iam.gserviceaccount.com ${k8s}@${d}`);
    const copy = at(`crane copy ${k8s}@${d} registry.mgmt.lab.internal/signed-registry.k8s.io/kube-apiserver:v1.36.3`);
    const signAt = at(`cosign sign --yes --key /k/cosign.key --tlog-upload=false registry.mgmt.lab.internal/signed-registry.k8s.io/kube-apiserver@${d}`);
    const verifyLab = at(`cosign verify --key `);
    expect([verifyUp, copy, signAt].every((i) => i >= 0)).toBe(true);
    expect(verifyUp).toBeLessThan(copy);
    expect(copy).toBeLessThan(signAt);
    expect(calls.findIndex((c, i) => i > signAt && c.startsWith("cosign verify --key "))).toBeGreaterThan(signAt);
    expect(verifyLab).toBeGreaterThan(0);
    expect(calls.some((c) => c.includes("--certificate-identity-regexp") && c.includes("ghcr.io/siderolabs/kubelet@"))).toBe(true);
    // an unsigned upstream (Calico) is copied and signed without an upstream verify
    expect(calls.some((c) => c.startsWith("cosign verify --certificate") && c.includes("quay.io/calico/node@"))).toBe(false);
    expect(calls.some((c) => c.startsWith("cosign sign") && c.includes("signed-quay.io/calico/node@"))).toBe(true);
    // every image the rules name is signed, nothing else
    const signed = calls.filter((c) => c.startsWith("cosign sign")).length;
    expect(signed).toBe(clusterImages(m).length);
    expect(signed).toBe(17);
    // a pinned image is copied at its pin
    const pause = digestPin("registry.k8s.io/pause:3.10.1");
    expect("digest" in pause).toBe(true);
    if ("digest" in pause) expect(calls).toContain(`crane copy registry.k8s.io/pause@${pause.digest} registry.mgmt.lab.internal/signed-registry.k8s.io/pause:3.10.1`);
  });

  it("refuses a pinned image whose tag now resolves to another digest, and copies none of it", () => {
    const { status, stderr, calls } = run(m.imageVerification.publicKey.trim() + "\n", true);
    expect(status).toBe(1);
    expect(stderr).toMatch(/is sha256:(ab){32} upstream, the table pins sha256:[0-9a-f]{64}/);
    const refused = /mirror-and-sign: (\S+):\S+ is /.exec(stderr)![1];
    expect(calls.some((c) => c.startsWith(`crane copy ${refused}@`) || c.includes(`/signed-${refused}@`))).toBe(false);
  });

  it("refuses a private key whose public half is not the spec's, before touching Harbor", () => {
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }).toString();
    const { status, stderr, calls } = run(other);
    expect(status).toBe(1);
    expect(stderr).toMatch(/LAB_COSIGN_KEY is not the key of talos\.imageVerification\.publicKey/);
    expect(calls.some((c) => c.startsWith("crane copy") || c.startsWith("cosign sign"))).toBe(false);
  });
});
