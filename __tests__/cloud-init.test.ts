import { spawn, spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labFlows, componentFlows } from "../constructs/model/lab-flows";
import { LabModel, VmPlan } from "../constructs/model/lab-model";
import { PROMETHEUS, PROMETHEUS_SPEC } from "./support/prometheus";
import { serviceCatalog } from "../constructs/services";
import { buildLabModel } from "../constructs/lab/build";
import { loadLabSpec } from "../constructs/lab/load";
import { validateLabSpec } from "../constructs/lab/validate";
import { harborProxyProject, mirroredRegistries } from "../constructs/render/talos/machine-documents";
import { chartRepository } from "../constructs/render/platform/platform-charts";
import {
  ChartMirrorConfig,
  chartMirrorConfig,
  clientConfigPaths,
  clientToolVersions,
  escapeTemplatefile,
  FACTORY_PROJECT,
  fillTerraformTemplate,
  harborBootstrapConfig,
  HAPROXY_AUX_CFG_PATH,
  HarborBootstrapConfig,
  INGRESS_CONTROLLER,
  MODULE_VARIABLES,
  podRouteDropInPath,
  renderHaproxyCfg,
  renderUserData,
  SERVICE_VERSIONS,
  templateVariables,
  UserDataTemplate,
} from "../constructs/render/cloud-init";
import { generateServerIdentity } from "../tools/tfsim/tls";
import { PROJECT_ROOT } from "./support/tree";
import { controllerMainCfg } from "./support/haproxy-controller";
import { EDGE_CLIENT_TABLE, edgeControllerSettings } from "../constructs/render/haproxy/edge-protection";

/** Runs a tool; undefined when it is not installed. */
function run(cmd: string, args: string[]): { status: number; out: string } | undefined {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
  return { status: r.status ?? -1, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}
const has = (cmd: string, args: string[]) => run(cmd, args) !== undefined;

const cloudInit = has("cloud-init", ["--version"]);
const haproxy = has("haproxy", ["-v"]);
const nft = has("nft", ["--version"]);
const python = has("python3", ["--version"]);
if (!cloudInit) console.warn("cloud-init: skipped — cloud-init is not installed (apt-get install cloud-init)");
if (!haproxy) console.warn("haproxy: skipped — haproxy is not installed (apt-get install haproxy)");
if (!nft) console.warn("nftables: skipped — nft is not installed (apt-get install nftables)");
if (!python) console.warn("harbor bootstrap: skipped — python3 is not installed");
/** The registry host's scripts that read YAML run on Ubuntu's python3-yaml; python3 here may lack it. */
const pythonYaml = python && spawnSync("python3", ["-c", "import yaml"]).status === 0;
if (python && !pythonYaml) console.warn("harbor installer and chart mirror: skipped — python3 has no yaml module (apt-get install python3-yaml, or pip install pyyaml)");

const exampleFiles = readdirSync(join(PROJECT_ROOT, "examples"))
  .filter((f) => f.endsWith(".yaml"))
  .sort();
const labs: [string, LabModel][] = [
  ["reference lab", buildLabModel(validateLabSpec({}))],
  ...exampleFiles.map((f): [string, LabModel] => [f, buildLabModel(loadLabSpec(join(PROJECT_ROOT, "examples", f)))]),
  // A service added from outside the package builds its user-data on the same head.
  ["prometheus lab", buildLabModel(validateLabSpec(PROMETHEUS_SPEC, serviceCatalog([PROMETHEUS])), serviceCatalog([PROMETHEUS]))],
];
const hostCases = labs.flatMap(([lab, m]) => m.hosts.map((h) => [`${lab}: ${h.name} (${h.role})`, m, h] as const));
const ingressCases = hostCases.filter(([, , h]) => h.role === "ingress");

const work = mkdtempSync(join(tmpdir(), "cloud-init-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let fileNo = 0;
function tempFile(name: string, text: string): string {
  const p = join(work, `${++fileNo}-${name}`);
  writeFileSync(p, text);
  return p;
}

/** Module variable values of the right shape; the secrets are throwaway and checked for below. */
const SAMPLE_PASSWORD = "Sample-Harbor-pa$${x}%{y}: \"#1\"";
/** The desktop password: it must reach no user-data, filled or not. */
const SAMPLE_DESKTOP_PASSWORD = "Sample-Desktop-pa$${d}%{e}: 'rdp' #2";
const sample: Record<keyof typeof MODULE_VARIABLES, unknown> = {
  admin_ssh_public_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvx5yVQ1rUHd2B4SAMPLEKEYfor+tests test"],
  lab_ca_certificate: "",
  lab_tls_certificate: "",
  lab_tls_private_key: "",
  harbor_admin_password: SAMPLE_PASSWORD,
  image_factory_signing_key: "",
  client_desktop_password: SAMPLE_DESKTOP_PASSWORD,
};

beforeAll(async () => {
  const ca = await generateServerIdentity();
  const server = await generateServerIdentity();
  sample.lab_ca_certificate = ca.certPem;
  sample.lab_tls_certificate = server.certPem + ca.certPem;
  sample.lab_tls_private_key = server.keyPem;
  sample.image_factory_signing_key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "sec1", format: "pem" }).toString();
});

/** Evaluates the HCL expressions the renderers use, over the sample module variables. */
function evaluate(expr: string): string {
  const m = /^(jsonencode|base64encode)\(var\.([a-z_]+)\)$/.exec(expr);
  if (!m || !(m[2] in MODULE_VARIABLES)) throw new Error(`unexpected template expression ${expr}`);
  const value = sample[m[2] as keyof typeof MODULE_VARIABLES];
  if (m[1] === "jsonencode") return JSON.stringify(value);
  if (typeof value !== "string") throw new Error(`base64encode needs a string: ${m[2]}`);
  return Buffer.from(value, "utf8").toString("base64");
}

/** The user-data as the VM receives it: templatefile() with the sample variables. */
function filled(u: UserDataTemplate): string {
  return fillTerraformTemplate(u.text, Object.fromEntries(Object.entries(u.vars).map(([k, e]) => [k, evaluate(e)])));
}

interface WriteFile {
  path: string;
  content: string;
  permissions?: string;
  encoding?: string;
}
function writeFiles(cloudConfig: string): Map<string, WriteFile> {
  const doc = parse(cloudConfig) as { write_files?: WriteFile[] };
  return new Map((doc.write_files ?? []).map((f) => [f.path, f]));
}
function fileContent(files: Map<string, WriteFile>, path: string): string {
  const f = files.get(path);
  if (!f) throw new Error(`no write_files entry for ${path}`);
  return f.encoding === "b64" ? Buffer.from(f.content, "base64").toString("utf8") : f.content;
}

describe("user-data templates", () => {
  it.each(hostCases)("%s: only the declared variables are interpolated, over module variables only", (_, m, h) => {
    const u = renderUserData(m, h);
    expect(templateVariables(u.text)).toEqual(Object.keys(u.vars).sort());
    for (const expr of Object.values(u.vars)) expect(() => evaluate(expr)).not.toThrow();
    // Nothing else reaches templatefile() unescaped: no directive, no other interpolation.
    expect(u.text).not.toMatch(/(?<!%)%\{/);
    expect(u.text.match(/(?<!\$)\$\{/g)?.length ?? 0).toBe(Object.keys(u.vars).reduce((n, k) => n + u.text.split(`\${${k}}`).length - 1, 0));
  });

  it.each(hostCases)("%s: no secret is written literally", (_, m, h) => {
    const text = renderUserData(m, h).text;
    expect(text).not.toMatch(/PRIVATE KEY/);
    expect(text).not.toMatch(/BEGIN CERTIFICATE/);
    expect(text).not.toContain(SAMPLE_PASSWORD);
    expect(text).not.toContain("Harbor12345");
    // No literal password or token as a YAML/INI key or a shell assignment.
    expect(text).not.toMatch(/^\s*[\w.-]*(password|token)\s*:\s*["']?[^\s"'$]/im);
    expect(text).not.toMatch(/^\s*\w*(password|token)=["']?[^\s"'$]/im);
  });

  it.each(hostCases)("%s: rendering is deterministic", (_, m, h) => {
    expect(renderUserData(m, h).text).toBe(renderUserData(m, h).text);
  });

  it.each(hostCases)("%s: after templatefile(), no secret is in the user-data (it is stored on the Proxmox datastore); the public parts are", (_, m, h) => {
    const text = filled(renderUserData(m, h));
    const files = writeFiles(text);
    // the filled snippet, and every file in it decoded, hold no byte of a secret's value
    const everything = [text, ...[...files.keys()].map((p) => fileContent(files, p))].join("\n");
    expect(everything).not.toContain(SAMPLE_PASSWORD);
    expect(everything).not.toContain(SAMPLE_DESKTOP_PASSWORD);
    expect(everything).not.toContain(String(sample.lab_tls_private_key).split("\n")[1]);
    expect(everything).not.toContain(String(sample.image_factory_signing_key).split("\n")[1]);
    expect(files.has("/etc/talos-enclave/image-factory/cache-signing-key.pem")).toBe(false);
    expect(everything).not.toMatch(/PRIVATE KEY/);
    expect(files.has("/etc/talos-enclave/tls/registry.key")).toBe(false);
    expect(files.has("/etc/talos-enclave/secrets/harbor-admin-password")).toBe(false);
    expect(files.has(INGRESS_CONTROLLER.kubeconfigPath)).toBe(false);
    // the certificate comes with its key (provisioned together), so neither is in the snippet
    expect(files.has("/etc/talos-enclave/tls/registry.crt")).toBe(false);
    const doc = parse(text) as { ca_certs: { trusted: string[] }; users: { ssh_authorized_keys: string[] }[] };
    expect(doc.ca_certs.trusted).toEqual([sample.lab_ca_certificate]);
    expect(doc.users[0].ssh_authorized_keys).toEqual(sample.admin_ssh_public_keys);
  });

  describe.skipIf(!cloudInit)("cloud-init schema", () => {
    it.each(hostCases)("%s: the filled user-data passes `cloud-init schema`", (_, m, h) => {
      const file = tempFile(`${h.name}.user-data.yaml`, filled(renderUserData(m, h)));
      const r = run("cloud-init", ["schema", "--config-file", file])!;
      expect(r.out).toMatch(/Valid (cloud-config|schema)/);
      expect(r.status, r.out).toBe(0);
    });

    it("a broken user-data fails it", () => {
      const [, m, h] = hostCases[0];
      const broken = filled(renderUserData(m, h)).replace("ssh_pwauth: false", "ssh_pwauth: [not, a, boolean]");
      const r = run("cloud-init", ["schema", "--config-file", tempFile("broken.user-data.yaml", broken)])!;
      expect(r.status).not.toBe(0);
    });
  });

  it.each(hostCases)("%s: embedded shell and Python scripts parse", (_, m, h) => {
    const files = writeFiles(filled(renderUserData(m, h)));
    for (const [path, f] of files) {
      if (f.encoding) continue;
      if (f.content.startsWith("#!/bin/bash")) {
        const r = run("bash", ["-n", tempFile("script.sh", f.content)])!;
        expect(r.status, `${path}: ${r.out}`).toBe(0);
      }
      if (f.content.startsWith("#!/usr/bin/python3")) {
        const r = run("python3", ["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())", tempFile("script.py", f.content)]);
        if (r) expect(r.status, `${path}: ${r.out}`).toBe(0);
      }
    }
  });
});

describe("registry: Harbor, Image Factory, apt proxy", () => {
  const registries = hostCases.filter(([, , h]) => h.role === "registry");

  it.each(registries)("%s: the bootstrap creates exactly the proxy-cache projects Talos pulls through", (_, m, h) => {
    const files = writeFiles(filled(renderUserData(m, h)));
    const cfg = JSON.parse(fileContent(files, "/etc/talos-enclave/harbor-bootstrap.json")) as HarborBootstrapConfig;
    const talosProjects = mirroredRegistries(m).map(harborProxyProject);
    expect(cfg.proxyProjects.map((p) => p.project)).toEqual(talosProjects);
    expect(new Set(cfg.proxyProjects.map((p) => p.registry.name)).size).toBe(talosProjects.length);
    expect(cfg.api).toBe(`https://${m.spec.registry.fqdn}/api/v2.0`);
    // Harbor project names: lower-case alphanumerics separated by single . _ -
    for (const p of talosProjects) expect(p).toMatch(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/);
    expect(cfg.proxyProjects.find((p) => p.project === "proxy-docker.io")?.registry.type).toBe("docker-hub");
    // The factory reads the siderolabs images through the ghcr.io project Talos uses too.
    expect(talosProjects).toContain(cfg.factory.coreProject);
    expect(cfg.factory.registryHost).toBe(m.spec.registry.fqdn);
  });

  it.each(registries)("%s: the registry host mirrors the tigera-operator chart into the project the helm provider reads, pinned and checksummed", (_, m, h) => {
    const files = writeFiles(filled(renderUserData(m, h)));
    const mirror = JSON.parse(fileContent(files, "/etc/talos-enclave/chart-mirror.json")) as ChartMirrorConfig;
    expect(mirror).toEqual(chartMirrorConfig(m));
    const v = m.spec.platform.calicoVersion;
    const release = `https://github.com/projectcalico/calico/releases/download/${v}`;
    expect(mirror.charts).toEqual([
      {
        name: "tigera-operator",
        version: v,
        url: `${release}/tigera-operator-${v}.tgz`,
        checksums: [
          { sha256sums: `${release}/SHA256SUMS`, file: `tigera-operator-${v}.tgz` },
          { helmIndex: "https://docs.tigera.io/calico/charts/index.yaml", chart: "tigera-operator", version: v },
        ],
        repository: "charts/tigera-operator",
        tag: v,
      },
    ]);
    // where the platform module's helm_release pulls it from, anonymously: a public project with immutable tags
    expect(chartRepository(m)).toBe(`oci://${m.spec.registry.fqdn}/charts`);
    const bootstrap = JSON.parse(fileContent(files, "/etc/talos-enclave/harbor-bootstrap.json")) as HarborBootstrapConfig;
    expect(bootstrap.chartProjects).toEqual([{ project: "charts", metadata: { public: "true" } }]);
    const unit = fileContent(files, "/etc/systemd/system/talos-enclave-chart-mirror.service");
    expect(unit).toMatch(/^After=harbor-bootstrap\.service/m);
    expect(unit).toContain("Restart=on-failure");
    expect(unit).toContain("ExecStart=/usr/local/sbin/talos-enclave-chart-mirror /etc/talos-enclave/chart-mirror.json");
    expect(files.get("/usr/local/sbin/talos-enclave-chart-mirror")?.permissions).toBe("0755");
  });

  it("a chart repository outside the lab's Harbor is not mirrored, and no charts project is made", () => {
    const lab = buildLabModel(validateLabSpec({ platform: { chartRepository: "oci://charts.example.org/mirror" } }));
    expect(chartMirrorConfig(lab).charts).toEqual([]);
    expect(harborBootstrapConfig(lab).chartProjects).toEqual([]);
    const nested = buildLabModel(validateLabSpec({ platform: { chartRepository: "oci://registry.mgmt.lab.internal/platform/upstream" } }));
    expect(chartMirrorConfig(nested).charts.map((c) => c.repository)).toEqual(["platform/upstream/tigera-operator"]);
    expect(harborBootstrapConfig(nested).chartProjects).toEqual([{ project: "platform", metadata: { public: "true" } }]);
  });

  it.each(registries)("%s: the Image Factory listens on the spec's port with the lab certificate", (_, m, h) => {
    const files = writeFiles(filled(renderUserData(m, h)));
    const port = m.spec.registry.factoryPort;
    const cfg = parse(fileContent(files, "/etc/talos-enclave/image-factory/config.yaml")) as {
      http: Record<string, string>;
      artifacts: { core: Record<string, string> };
      cache: { oci: Record<string, string> };
    };
    expect(cfg.http.httpListenAddr).toBe(`:${port}`);
    expect(cfg.http.externalURL).toBe(`${m.imageFactory.url}/`);
    expect(cfg.http.certFile).toBe("/etc/image-factory/tls/registry.crt");
    expect(cfg.http.keyFile).toBe("/etc/image-factory/tls/registry.key");
    expect(cfg.artifacts.core).toEqual({ registry: m.spec.registry.fqdn, namespace: harborProxyProject("ghcr.io") });
    expect(cfg.cache.oci.registry).toBe(m.spec.registry.fqdn);
    const unit = fileContent(files, "/etc/systemd/system/image-factory.service");
    const image = `${m.spec.registry.fqdn}/proxy-ghcr.io/siderolabs/image-factory:${SERVICE_VERSIONS.imageFactory.version}`;
    expect(unit).toContain(`Environment=IMAGE=${image}`);
    expect(unit).toContain("Restart=always");
    expect(unit).toContain("--volume /etc/talos-enclave/tls:/etc/image-factory/tls:ro");
  });

  it.each(registries)("%s: Harbor serves HTTPS with the lab certificate and key", (_, m, h) => {
    const files = writeFiles(filled(renderUserData(m, h)));
    const install = fileContent(files, "/usr/local/sbin/talos-enclave-harbor-install");
    expect(install).toContain(`FQDN="${m.spec.registry.fqdn}"`);
    expect(install).toContain(`VERSION="${SERVICE_VERSIONS.harbor.version}"`);
    expect(install).toContain('cfg["https"] = {"port": 443, "certificate": "$CERT", "private_key": "$KEY"}');
    expect(install).toMatch(/CHECKSUM="(sha256:[0-9a-f]{64}|md5url:https:\/\/github\.com\/goharbor\/harbor\/releases\/download\/v[\d.]+\/md5sum)"/);
  });
});

/**
 * The Image Factory's prepare script run unprivileged over a directory standing in for /: it starts
 * the factory only with the delivered signing key, unencrypted, whose public half is the spec's.
 */
describe.skipIf(run("openssl", ["version"])?.status !== 0)("Image Factory prepare script", () => {
  const [, m, h] = hostCases.find(([, , x]) => x.role === "registry" && x.name === "registry")!;
  const openssl = (args: string[], input?: string) => {
    const r = spawnSync("openssl", args, { input, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const factoryKey = openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout"]);
  const factoryPub = openssl(["ec", "-pubout"], factoryKey);
  const prepare = (spec: Parameters<typeof validateLabSpec>[0], key: string | undefined) => {
    const model = buildLabModel(validateLabSpec(spec));
    const root = mkdtempSync(join(work, "factory-prepare-"));
    mkdirSync(join(root, "etc/talos-enclave/image-factory/docker"), { recursive: true });
    writeFileSync(join(root, "etc/talos-enclave/image-factory/docker/config.json"), "{}\n");
    if (key !== undefined) writeFileSync(join(root, "etc/talos-enclave/image-factory/cache-signing-key.pem"), key, { mode: 0o600 });
    const plan = model.hosts.find((x) => x.name === h.name)!;
    const script = tempFile("factory-prepare.sh", fileContent(writeFiles(filled(renderUserData(model, plan))), "/usr/local/sbin/talos-enclave-image-factory-prepare"));
    return spawnSync("bash", [script], { encoding: "utf8", env: { ...process.env, IMAGE_FACTORY_PREPARE_ROOT: root } });
  };
  const spec = { talos: { imageVerification: { factoryPublicKey: factoryPub } } };

  it("starts with the delivered key whose public half is talos.imageVerification.factoryPublicKey (SEC1 or PKCS#8)", () => {
    expect(m.imageVerification.enabled).toBe(true);
    const r = prepare(spec, factoryKey);
    expect(r.status, r.stderr).toBe(0);
    const pkcs8 = openssl(["pkcs8", "-topk8", "-nocrypt"], factoryKey);
    expect(prepare(spec, pkcs8).status).toBe(0);
  });

  it("waits for the key the provisioning delivers, and never makes one", () => {
    const r = prepare(spec, undefined);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cache-signing-key\.pem is missing \(delivered over SSH by tofu's provisioning after boot/);
  });

  it("refuses an encrypted key, and a key whose public half is not the spec's", () => {
    const encrypted = openssl(["ec", "-aes256", "-passout", "pass:secret"], factoryKey);
    expect(prepare(spec, encrypted).stderr).toMatch(/is no unencrypted PEM EC key/);
    const other = openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout"]);
    const r = prepare(spec, other);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/is not talos\.imageVerification\.factoryPublicKey/);
    // with verification off the factory's key is not compared: no rule names it
    expect(prepare({ ...spec, talos: { imageVerification: { enabled: false, factoryPublicKey: factoryPub } } }, other).status).toBe(0);
  });
});

/**
 * The installer run unprivileged over a directory standing in for /, with the Harbor release already
 * unpacked: a stand-in `harbor.yml.tmpl` shaped like Harbor's (its trivy section set to skip updates, to
 * show the script turns them on), a `prepare` that records its arguments, a `docker` that answers.
 */
describe.skipIf(!pythonYaml)("Harbor installer with its scanner", () => {
  const [, m, h] = hostCases.find(([, , x]) => x.role === "registry")!;

  it("prepares Harbor --with-trivy, with Trivy downloading its database, and only again when that changes", () => {
    const root = join(work, "harbor-install-root");
    const stubs = join(root, "stubs");
    const harbor = join(root, "opt", "harbor");
    for (const d of [stubs, harbor, join(root, "etc/talos-enclave/tls"), join(root, "etc/talos-enclave/secrets")]) mkdirSync(d, { recursive: true });
    writeFileSync(join(root, "etc/talos-enclave/tls/registry.crt"), "cert\n");
    writeFileSync(join(root, "etc/talos-enclave/tls/registry.key"), "key\n");
    writeFileSync(join(root, "etc/talos-enclave/secrets/harbor-admin-password"), `${SAMPLE_PASSWORD}\n`);
    writeFileSync(join(harbor, ".talos-enclave-version"), `${SERVICE_VERSIONS.harbor.version}\n`);
    writeFileSync(
      join(harbor, "harbor.yml.tmpl"),
      ["hostname: reg.example", "http:", "  port: 80", "harbor_admin_password: Harbor12345", "database:", "  password: root123",
        "data_volume: /data", "trivy:", "  ignore_unfixed: false", "  skip_update: true", "  skip_java_db_update: true", "  offline_scan: false", ""].join("\n"),
    );
    writeFileSync(join(harbor, "prepare"), '#!/bin/sh\necho "$*" >> "$(dirname "$0")/prepare.calls"\ntouch "$(dirname "$0")/docker-compose.yml"\n', { mode: 0o755 });
    writeFileSync(join(stubs, "docker"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const script = tempFile("harbor-install.sh", fileContent(writeFiles(filled(renderUserData(m, h))), "/usr/local/sbin/talos-enclave-harbor-install"));
    const install = () => {
      const r = spawnSync("bash", [script], { encoding: "utf8", env: { ...process.env, HARBOR_INSTALL_ROOT: root, PATH: `${stubs}:${process.env.PATH}` } });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
      return readFileSync(join(harbor, "prepare.calls"), "utf8").trim().split("\n");
    };

    expect(install()).toEqual(["--with-trivy"]);
    const yml = parse(readFileSync(join(harbor, "harbor.yml"), "utf8")) as { hostname: string; trivy: Record<string, unknown> };
    expect(yml.hostname).toBe(m.spec.registry.fqdn);
    expect(yml.trivy).toEqual({ ignore_unfixed: false, skip_update: false, skip_java_db_update: false, offline_scan: false });
    // Nothing changed: prepare does not run again.
    expect(install()).toEqual(["--with-trivy"]);
    // A Harbor prepared before the scanner (its stamp without the flags) is prepared again, with it.
    const stamp = join(harbor, ".talos-enclave-prepared");
    const beforeTrivy = spawnSync("sh", ["-c", 'cat "$1/opt/harbor/harbor.yml" "$1/etc/talos-enclave/tls/registry.crt" "$1/etc/talos-enclave/tls/registry.key" | sha256sum | cut -d" " -f1', "sh", root], { encoding: "utf8" }).stdout;
    writeFileSync(stamp, beforeTrivy);
    expect(install()).toEqual(["--with-trivy", "--with-trivy"]);
  });
});

/**
 * A stand-in for the Harbor REST API (v2.0) endpoints the bootstrap uses, over TLS, with basic auth.
 * argv: cert key admin-password state-file. Prints its port; writes its state after every change.
 * Like Harbor (api/v2.0/swagger.yaml): project metadata are ProjectMetadata's keys with string values
 * (severity one of none/low/medium/high/critical), PUT merges the metadata it is given; the scan-all
 * schedule wants a type and a 6-field cron whose seconds are 0 (src/common/utils/utils.go
 * ValidateCronString), GET answers an empty body while there is none; Harbor core has registered its
 * Trivy adapter as the default scanner, as it does when prepared --with-trivy (src/core/main.go).
 *
 * It also answers the registry API (/v2/) the chart mirror pushes through, like Harbor's: a 401 with a
 * Bearer challenge whose realm is /service/token (service harbor-registry), a token there for the
 * admin's basic credentials and the scope asked for, pushes only into an existing regular project
 * with a token that allows them, blob uploads (POST, then PUT ?digest= that must match the body),
 * and manifests whose blobs exist; a tag of a project with an immutable rule is never re-pointed.
 * Optional argv[5]: a folder served at /upstream/ (the charts' upstream, over the same TLS).
 */
const MOCK_HARBOR = String.raw`
import base64, hashlib, json, os, ssl, sys, http.server, urllib.parse, uuid
cert, key, password, state_file = sys.argv[1:5]
upstream = sys.argv[5] if len(sys.argv) > 5 else None
AUTH = "Basic " + base64.b64encode(("admin:" + password).encode()).decode()
state = {"registries": [], "projects": [], "robots": [], "writes": 0, "scanAllSchedule": None, "immutable": {},
         "scanners": [{"uuid": "trivy-uuid", "name": "Trivy", "is_default": True, "disabled": False}],
         "blobs": {}, "manifests": {}, "configs": {}, "tokens": [], "downloads": []}
uploads = {}
META_KEYS = {"public", "enable_content_trust", "enable_content_trust_cosign", "prevent_vul", "severity", "auto_scan",
             "auto_sbom_generation", "reuse_sys_cve_allowlist", "retention_id", "proxy_speed_kb", "max_upstream_conn",
             "proxy_cache_local_on_not_found"}
def bad_metadata(md):
    if not isinstance(md, dict):
        return "metadata is not an object"
    for k, v in md.items():
        if k not in META_KEYS or not isinstance(v, str):
            return "bad metadata %s=%r" % (k, v)
        if k in ("public", "prevent_vul", "auto_scan") and v not in ("true", "false"):
            return "bad metadata %s=%r" % (k, v)
        if k == "severity" and v not in ("none", "low", "medium", "high", "critical"):
            return "bad severity %r" % v
    return None
def bad_schedule(b):
    sch = (b or {}).get("schedule") or {}
    if sch.get("type") not in ("Hourly", "Daily", "Weekly", "Custom", "None", "Schedule"):
        return "bad schedule type %r" % sch.get("type")
    parts = str(sch.get("cron", "")).split(" ")
    if sch.get("type") != "None" and (len(parts) != 6 or parts[0] != "0"):
        return "bad cron %r" % sch.get("cron")
    return None
def save():
    with open(state_file, "w") as f:
        json.dump(state, f)
def registry_path(path):
    """(repository, kind, reference) of a /v2/<repo>/{blobs,manifests}/<ref> path, or None."""
    for kind in ("/blobs/uploads/", "/manifests/", "/blobs/"):
        if kind in path:
            repo, _, ref = path[len("/v2/"):].partition(kind)
            return repo, kind.strip("/"), ref
    return None
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def raw(self, code, data=b"", headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
    def challenge(self, scope=None):
        realm = 'Bearer realm="https://%s/service/token",service="harbor-registry"' % self.headers["Host"]
        if scope:
            realm += ',scope="%s"' % scope
        return self.raw(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {"WWW-Authenticate": realm, "Content-Type": "application/json"})
    def registry(self):
        """Handles /v2/, /service/token and /upstream/; False when the path is none of them."""
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path.startswith("/upstream/") and upstream and self.command == "GET":
            f = os.path.join(upstream, os.path.basename(u.path))
            state["downloads"].append(os.path.basename(u.path))
            save()
            if not os.path.isfile(f):
                return self.raw(404) or True
            with open(f, "rb") as fh:
                return self.raw(200, fh.read()) or True
        if u.path == "/service/token":
            if self.headers.get("Authorization") != AUTH or q.get("service") != ["harbor-registry"]:
                return self.raw(401) or True
            scope = q.get("scope", [""])[0]
            state["tokens"].append(scope)
            save()
            return self.raw(200, json.dumps({"token": "tok " + scope}).encode()) or True
        if not u.path.startswith("/v2/"):
            return False
        token = (self.headers.get("Authorization") or "")[len("Bearer tok "):] if (self.headers.get("Authorization") or "").startswith("Bearer tok ") else None
        if u.path == "/v2/":
            return (self.raw(200, b"{}") if token is not None else self.challenge()) or True
        repo, kind, ref = registry_path(u.path)
        action = "pull" if self.command in ("GET", "HEAD") else "push"
        scope = "repository:%s:%s" % (repo, "pull" if action == "pull" else "pull,push")
        granted = token is not None and token.startswith("repository:%s:" % repo) and action in token.split(":")[-1].split(",")
        if not granted:
            return self.challenge(scope) or True
        project = repo.split("/")[0]
        if not any(x["name"] == project and not x["registry_id"] for x in state["projects"]):
            return self.raw(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}') or True
        blobs = state["blobs"].get(repo, {})
        if kind == "blobs" and action == "pull":
            return self.raw(200 if ref in blobs else 404) or True
        if kind == "blobs/uploads" and self.command == "POST" and ref == "":
            uid = str(uuid.uuid4())
            uploads[uid] = repo
            return self.raw(202, b"", {"Location": "/v2/%s/blobs/uploads/%s?_state=s%s" % (repo, uid, uid)}) or True
        if kind == "blobs/uploads" and self.command == "PUT" and uploads.get(ref) == repo and q.get("_state") == ["s" + ref]:
            data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            digest = q.get("digest", [""])[0]
            if digest != "sha256:" + hashlib.sha256(data).hexdigest():
                return self.raw(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}') or True
            state["blobs"].setdefault(repo, {})[digest] = len(data)
            if len(data) < 65536:
                state["configs"][digest] = data.decode("utf-8", errors="replace")
            state["writes"] += 1
            save()
            return self.raw(201, b"", {"Location": "/v2/%s/blobs/%s" % (repo, digest)}) or True
        if kind == "manifests":
            key = repo + ":" + ref
            if action == "pull":
                m = state["manifests"].get(key)
                if m is None:
                    return self.raw(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}') or True
                return self.raw(200, json.dumps(m["manifest"]).encode(), {"Content-Type": m["contentType"]}) or True
            data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            manifest = json.loads(data)
            refs = [manifest["config"]] + manifest["layers"]
            if any(blobs.get(d["digest"]) != d["size"] for d in refs):
                return self.raw(400, b'{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN"}]}') or True
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            if key in state["manifests"] and state["immutable"].get(project) and state["manifests"][key]["digest"] != digest:
                return self.raw(412, b'{"errors":[{"code":"DENIED","message":"immutable tag"}]}') or True
            state["manifests"][key] = {"manifest": manifest, "contentType": self.headers.get("Content-Type"), "digest": digest}
            state["writes"] += 1
            save()
            return self.raw(201, b"", {"Docker-Content-Digest": digest}) or True
        return self.raw(405) or True
    def do_HEAD(self):
        if not self.registry():
            self.raw(404)
    def send(self, code, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def route(self):
        u = urllib.parse.urlparse(self.path)
        assert u.path.startswith("/api/v2.0/"), u.path
        return u.path[len("/api/v2.0"):], urllib.parse.parse_qs(u.query)
    def body(self):
        n = int(self.headers.get("Content-Length", 0))
        return json.loads(self.rfile.read(n)) if n else None
    def paged(self, items, q):
        page, size = int(q.get("page", ["1"])[0]), int(q.get("page_size", ["10"])[0])
        return items[(page - 1) * size: page * size]
    def write(self):
        if self.headers.get("Authorization") != AUTH:
            self.send(401, {"errors": []})
            return None
        state["writes"] += 1
        return self.body()
    def do_GET(self):
        if self.registry():
            return
        p, q = self.route()
        if p == "/health":
            return self.send(200, {"status": "healthy"})
        if self.headers.get("Authorization") != AUTH:
            return self.send(401, {"errors": []})
        if p == "/users/current":
            return self.send(200, {"username": "admin"})
        if p == "/registries":
            return self.send(200, self.paged(state["registries"], q))
        if p == "/robots":
            return self.send(200, self.paged(state["robots"], q))
        if p == "/scanners":
            return self.send(200, self.paged(state["scanners"], q))
        if p == "/system/scanAll/schedule":
            return self.send(200, state["scanAllSchedule"])
        if p.startswith("/projects/") and p.endswith("/immutabletagrules") and self.headers.get("X-Is-Resource-Name") == "true":
            name = urllib.parse.unquote(p[len("/projects/"):-len("/immutabletagrules")])
            return self.send(200, self.paged(state["immutable"].get(name, []), q))
        if p.startswith("/projects/") and self.headers.get("X-Is-Resource-Name") == "true":
            name = urllib.parse.unquote(p[len("/projects/"):])
            found = [x for x in state["projects"] if x["name"] == name]
            return self.send(200, found[0]) if found else self.send(404, {"errors": []})
        self.send(404, {"errors": []})
    def do_POST(self):
        if self.registry():
            return
        p, _ = self.route()
        b = self.write()
        if b is None:
            return
        if p == "/registries" and {"name", "type", "url"} <= set(b) and not any(r["name"] == b["name"] for r in state["registries"]):
            state["registries"].append(dict(b, id=len(state["registries"]) + 1))
            save()
            return self.send(201)
        if p == "/projects" and bad_metadata(b.get("metadata")):
            return self.send(400, {"errors": [{"message": bad_metadata(b.get("metadata"))}]})
        if p == "/projects" and not any(x["name"] == b["project_name"] for x in state["projects"]):
            state["projects"].append({"project_id": len(state["projects"]) + 1, "name": b["project_name"], "registry_id": b.get("registry_id"), "metadata": b["metadata"]})
            save()
            return self.send(201)
        if p.startswith("/projects/") and p.endswith("/immutabletagrules") and self.headers.get("X-Is-Resource-Name") == "true":
            name = urllib.parse.unquote(p[len("/projects/"):-len("/immutabletagrules")])
            if not any(x["name"] == name and not x["registry_id"] for x in state["projects"]):
                return self.send(404, {"errors": []})
            ok = b.get("action") == "immutable" and b.get("template") == "immutable_template" and all(
                t.get("kind") == "doublestar" and t.get("decoration") in ("matches", "excludes") for t in b.get("tag_selectors") or [None]
            ) and all(t.get("kind") == "doublestar" and t.get("decoration") in ("repoMatches", "repoExcludes") for t in (b.get("scope_selectors") or {}).get("repository") or [None])
            if not ok:
                return self.send(400, {"errors": [{"message": "bad immutable rule %r" % b}]})
            state["immutable"].setdefault(name, []).append(dict(b, id=len(state["immutable"].get(name, [])) + 1))
            save()
            return self.send(201)
        if p == "/robots":
            rid = 100 + state["writes"]
            state["robots"].append({"id": rid, "name": "robot$" + b["name"], "level": b["level"], "permissions": b["permissions"]})
            save()
            return self.send(201, {"id": rid, "name": "robot$" + b["name"], "secret": "robot-secret"})
        self.send(409, {"errors": []})
    def do_PUT(self):
        if self.registry():
            return
        p, _ = self.route()
        b = self.write()
        if b is None:
            return
        if p == "/system/scanAll/schedule":
            if bad_schedule(b):
                return self.send(400, {"errors": [{"message": bad_schedule(b)}]})
            state["scanAllSchedule"] = None if b["schedule"]["type"] == "None" else {"id": 1, "schedule": b["schedule"]}
            save()
            return self.send(200)
        if p.startswith("/projects/") and bad_metadata(b.get("metadata")):
            return self.send(400, {"errors": [{"message": bad_metadata(b.get("metadata"))}]})
        for x in state["projects"]:
            if b is not None and p == "/projects/" + urllib.parse.quote(x["name"], safe=""):
                x["metadata"].update(b["metadata"])
                save()
                return self.send(200)
        self.send(404, {"errors": []})
    def do_DELETE(self):
        p, _ = self.route()
        if self.headers.get("Authorization") != AUTH:
            return self.send(401, {"errors": []})
        state["writes"] += 1
        rid = int(p.rsplit("/", 1)[1])
        state["robots"] = [r for r in state["robots"] if r["id"] != rid]
        save()
        self.send(200)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
save()
print(srv.server_address[1], flush=True)
srv.serve_forever()
`;

describe.skipIf(!python)("Harbor bootstrap against a stand-in Harbor API", () => {
  const [, m, h] = hostCases.find(([, , x]) => x.role === "registry")!;

  it("creates endpoints, public scanned proxy-cache projects that block by the spec's severity, the scan-all schedule, the factory project and robot once, then nothing", async () => {
    const id = await generateServerIdentity();
    const cert = tempFile("harbor.crt", id.certPem);
    const key = tempFile("harbor.key", id.keyPem);
    const stateFile = join(work, "harbor-state.json");
    const server = spawn("python3", ["-c", MOCK_HARBOR, cert, key, SAMPLE_PASSWORD, stateFile], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const port = await new Promise<string>((resolve, reject) => {
        server.stdout!.once("data", (d: Buffer) => resolve(d.toString().trim()));
        server.once("exit", (code) => reject(new Error(`mock Harbor exited with ${code}`)));
      });
      const files = writeFiles(filled(renderUserData(m, h)));
      const script = tempFile("harbor-bootstrap.py", fileContent(files, "/usr/local/sbin/talos-enclave-harbor-bootstrap"));
      const dockerConfig = join(work, "factory-docker", "config.json");
      const shipped = JSON.parse(fileContent(files, "/etc/talos-enclave/harbor-bootstrap.json")) as HarborBootstrapConfig;
      expect(shipped).toEqual(harborBootstrapConfig(m));
      const cfg: HarborBootstrapConfig = {
        ...shipped,
        api: `https://localhost:${port}/api/v2.0`,
        caFile: cert,
        adminPasswordFile: tempFile("harbor-admin-password", SAMPLE_PASSWORD),
        factory: { ...shipped.factory, dockerConfig },
      };
      const cfgFile = tempFile("harbor-bootstrap.json", JSON.stringify(cfg));
      const bootstrap = (file = cfgFile) => {
        const r = run("python3", [script, file])!;
        expect(r.status, r.out).toBe(0);
        return JSON.parse(readFileSync(stateFile, "utf8")) as {
          registries: { id: number; name: string; type: string; url: string }[];
          projects: { name: string; registry_id: number | null; metadata: Record<string, string> }[];
          robots: { name: string; level: string; permissions: { namespace: string; access: { action: string }[] }[] }[];
          scanAllSchedule: { schedule: { type: string; cron: string } } | null;
          immutable: Record<string, unknown[]>;
          writes: number;
        };
      };

      const first = bootstrap();
      const talos = mirroredRegistries(m).map(harborProxyProject);
      // the lab's signed copies (image verification is on): regular public projects, no proxy cache
      const signed = mirroredRegistries(m).map((u) => `signed-${u}`);
      expect(first.projects.map((p) => p.name)).toEqual([...talos, ...signed, "charts", FACTORY_PROJECT]);
      // the chart mirror's project: regular, public (the helm provider pulls anonymously), every tag immutable
      expect(first.projects.find((p) => p.name === "charts")).toMatchObject({ registry_id: null, metadata: { public: "true" } });
      expect(first.immutable["charts"]).toHaveLength(1);
      for (const name of signed) expect(first.projects.find((p) => p.name === name)).toMatchObject({ registry_id: null, metadata: { public: "true" } });
      // every tag of a signed project is immutable: a signature or a version tag can never be re-pointed
      for (const name of signed) {
        expect(first.immutable[name], name).toEqual([
          expect.objectContaining({ action: "immutable", tag_selectors: [expect.objectContaining({ decoration: "matches", pattern: "**" })], scope_selectors: { repository: [expect.objectContaining({ decoration: "repoMatches", pattern: "**" })] } }),
        ]);
      }
      for (const upstream of mirroredRegistries(m)) {
        const project = first.projects.find((p) => p.name === harborProxyProject(upstream))!;
        const endpoint = first.registries.find((r) => r.id === project.registry_id)!;
        expect(endpoint.name).toBe(upstream);
        // Public, scanned when an artifact is cached, pulls blocked from the spec's severity (default critical).
        expect(m.spec.registry.scanning.blockSeverity).toBe("critical");
        expect(project.metadata).toEqual({ public: "true", auto_scan: "true", prevent_vul: "true", severity: "critical" });
      }
      // public reads: the factory serves installers and their signatures from it without credentials
      expect(first.projects.at(-1)).toMatchObject({ registry_id: null, metadata: { public: "true" } });
      // Cached images are scanned again every day with the fresh database (Harbor's Daily preset).
      expect(first.scanAllSchedule).toEqual({ id: 1, schedule: { type: "Daily", cron: "0 0 0 * * *" } });
      expect(first.robots).toHaveLength(1);
      expect(first.robots[0].level).toBe("system");
      expect(first.robots[0].permissions.map((p) => [p.namespace, p.access.map((a) => a.action)])).toEqual([
        [FACTORY_PROJECT, ["pull", "push"]],
        [harborProxyProject("ghcr.io"), ["pull"]],
      ]);
      const auth = JSON.parse(readFileSync(dockerConfig, "utf8")).auths[m.spec.registry.fqdn].auth as string;
      expect(Buffer.from(auth, "base64").toString()).toBe(`${first.robots[0].name}:robot-secret`);
      expect(statSync(dockerConfig).mode & 0o777).toBe(0o600);

      // Idempotent: a second run changes nothing.
      expect(bootstrap().writes).toBe(first.writes);

      // A lost robot secret is replaced by a new robot, nothing else changes.
      unlinkSync(dockerConfig);
      const third = bootstrap();
      expect(third.writes).toBe(first.writes + 2);
      expect(third.robots).toHaveLength(1);
      expect(existsSync(dockerConfig)).toBe(true);

      // The spec's severity switch reaches the projects Harbor already has: each one's metadata is set
      // again, only the keys that differ; none keeps scanning and stops blocking.
      const relax = (blockSeverity: string) => {
        const lab = buildLabModel(validateLabSpec({ registry: { scanning: { blockSeverity } } }));
        const host = lab.hosts.find((x) => x.role === "registry")!;
        const config = JSON.parse(fileContent(writeFiles(filled(renderUserData(lab, host))), "/etc/talos-enclave/harbor-bootstrap.json")) as HarborBootstrapConfig;
        return tempFile(`harbor-bootstrap-${blockSeverity}.json`, JSON.stringify({ ...cfg, proxyProjects: config.proxyProjects, scanning: config.scanning }));
      };
      const high = bootstrap(relax("high"));
      expect(high.writes).toBe(third.writes + talos.length);
      for (const name of talos) {
        expect(high.projects.find((p) => p.name === name)!.metadata).toEqual({ public: "true", auto_scan: "true", prevent_vul: "true", severity: "high" });
      }
      const none = bootstrap(relax("none"));
      expect(none.writes).toBe(high.writes + talos.length);
      for (const name of talos) expect(none.projects.find((p) => p.name === name)!.metadata).toMatchObject({ auto_scan: "true", prevent_vul: "false" });
      expect(none.scanAllSchedule).toEqual(first.scanAllSchedule);
      expect(bootstrap(relax("none")).writes).toBe(none.writes);
    } finally {
      server.kill();
    }
  });
});

describe.skipIf(!pythonYaml || !has("tar", ["--version"]))("chart mirror against a stand-in Harbor and upstream", () => {
  const [, m, h] = hostCases.find(([, , x]) => x.role === "registry")!;
  const HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json";
  const HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
  const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

  it("pushes the pinned chart as an OCI Helm chart only when every published checksum names it, once", async () => {
    const v = m.spec.platform.calicoVersion;
    const file = `tigera-operator-${v}.tgz`;
    // the upstream: the packaged chart, the release's SHA256SUMS and the Helm repository's index
    const upstream = mkdtempSync(join(work, "upstream-"));
    const src = mkdtempSync(join(work, "chart-src-"));
    mkdirSync(join(src, "tigera-operator", "templates"), { recursive: true });
    writeFileSync(join(src, "tigera-operator", "Chart.yaml"), `apiVersion: v2\nname: tigera-operator\nversion: ${v}\nappVersion: ${v}\ndescription: Installs the Tigera operator for Calico\nhome: https://projectcalico.docs.tigera.io/about/about-calico\n`);
    writeFileSync(join(src, "tigera-operator", "values.yaml"), "installation:\n  enabled: true\n");
    expect(spawnSync("tar", ["-czf", join(upstream, file), "-C", src, "tigera-operator"]).status).toBe(0);
    const tgz = readFileSync(join(upstream, file));
    const sha = createHash("sha256").update(tgz).digest("hex");
    const other = "0".repeat(64);
    const sums = (digest: string) => writeFileSync(join(upstream, "SHA256SUMS"), `${other}  release-${v}.tgz\n${digest}  ${file}\n${other}  ocp.tgz\n`);
    const index = (digest: string) =>
      writeFileSync(
        join(upstream, "index.yaml"),
        `apiVersion: v1\nentries:\n  tigera-operator:\n  - apiVersion: v2\n    digest: ${digest}\n    name: tigera-operator\n    urls:\n    - https://github.com/projectcalico/calico/releases/download/${v}/${file}\n    version: ${v}\n  - digest: ${other}\n    name: tigera-operator\n    version: v3.30.0\n`,
      );

    const id = await generateServerIdentity();
    const cert = tempFile("harbor.crt", id.certPem);
    const key = tempFile("harbor.key", id.keyPem);
    const stateFile = join(work, "harbor-chart-state.json");
    const server = spawn("python3", ["-c", MOCK_HARBOR, cert, key, SAMPLE_PASSWORD, stateFile, upstream], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const port = await new Promise<string>((resolve, reject) => {
        server.stdout!.once("data", (d: Buffer) => resolve(d.toString().trim()));
        server.once("exit", (code) => reject(new Error(`mock Harbor exited with ${code}`)));
      });
      const files = writeFiles(filled(renderUserData(m, h)));
      const password = tempFile("harbor-admin-password", SAMPLE_PASSWORD);
      const at = (url: string) => `https://localhost:${port}/upstream/${url.slice(url.lastIndexOf("/") + 1)}`;
      const shipped = JSON.parse(fileContent(files, "/etc/talos-enclave/chart-mirror.json")) as ChartMirrorConfig;
      const cfg: ChartMirrorConfig = {
        ...shipped,
        registry: `https://localhost:${port}`,
        caFile: cert,
        adminPasswordFile: password,
        charts: shipped.charts.map((c) => ({
          ...c,
          url: at(c.url),
          checksums: c.checksums.map((x) => ("sha256sums" in x ? { ...x, sha256sums: at(x.sha256sums) } : "helmIndex" in x ? { ...x, helmIndex: at(x.helmIndex) } : x)),
        })),
      };
      const mirrorScript = tempFile("chart-mirror.py", fileContent(files, "/usr/local/sbin/talos-enclave-chart-mirror"));
      const mirror = () => run("python3", [mirrorScript, tempFile("chart-mirror.json", JSON.stringify(cfg))])!;
      const state = () =>
        JSON.parse(readFileSync(stateFile, "utf8")) as {
          manifests: Record<string, { manifest: { mediaType: string; config: { mediaType: string; digest: string; size: number }; layers: { mediaType: string; digest: string; size: number }[] }; contentType: string }>;
          blobs: Record<string, Record<string, number>>;
          configs: Record<string, string>;
          tokens: string[];
          downloads: string[];
          writes: number;
        };
      const bootstrapCfg = JSON.parse(fileContent(files, "/etc/talos-enclave/harbor-bootstrap.json")) as HarborBootstrapConfig;
      const bootstrap = run("python3", [
        tempFile("harbor-bootstrap.py", fileContent(files, "/usr/local/sbin/talos-enclave-harbor-bootstrap")),
        tempFile("harbor-bootstrap.json", JSON.stringify({ ...bootstrapCfg, api: `https://localhost:${port}/api/v2.0`, caFile: cert, adminPasswordFile: password, factory: undefined })),
      ])!;
      expect(bootstrap.status, bootstrap.out).toBe(0);

      // planted faults: a SHA256SUMS, or a Helm index, that names another digest refuses the push
      sums(other);
      index(sha);
      let r = mirror();
      expect(r.status).not.toBe(0);
      expect(r.out).toMatch(new RegExp(`refusing to push .*${file} \\(sha256 ${sha}\\): .*SHA256SUMS names ${other}`));
      sums(sha);
      index(other);
      r = mirror();
      expect(r.status).not.toBe(0);
      expect(r.out).toMatch(/refusing to push .*index\.yaml names 0{64}/);
      expect(state().manifests).toEqual({});
      expect(state().blobs).toEqual({});

      // both name the download: it is pushed the way helm push does
      index(sha);
      r = mirror();
      expect(r.status, r.out).toBe(0);
      const pushed = state();
      const entry = pushed.manifests[`charts/tigera-operator:${v}`];
      expect(entry.contentType).toBe(OCI_MANIFEST);
      expect(entry.manifest.mediaType).toBe(OCI_MANIFEST);
      expect(entry.manifest.config.mediaType).toBe(HELM_CONFIG);
      expect(entry.manifest.layers).toEqual([{ mediaType: HELM_CHART, digest: `sha256:${sha}`, size: tgz.length }]);
      // the config is the chart's Chart.yaml as helm's metadata JSON
      expect(JSON.parse(pushed.configs[entry.manifest.config.digest])).toEqual({
        name: "tigera-operator",
        home: "https://projectcalico.docs.tigera.io/about/about-calico",
        version: v,
        description: "Installs the Tigera operator for Calico",
        apiVersion: "v2",
        appVersion: v,
      });
      // through Harbor's token service, with the admin's credentials and a push scope for the repository
      expect(pushed.tokens).toContain("repository:charts/tigera-operator:pull,push");

      // idempotent: Harbor has the tag, so nothing is downloaded or written again
      const downloads = pushed.downloads.length;
      r = mirror();
      expect(r.status, r.out).toBe(0);
      expect(state().writes).toBe(pushed.writes);
      expect(state().downloads).toHaveLength(downloads);
    } finally {
      server.kill();
    }
  });
});

describe("client", () => {
  const clients = hostCases.filter(([, , h]) => h.role === "client");
  it.each(clients)("%s: pinned tools with checksum verification, config paths documented", (_, m, h) => {
    const text = filled(renderUserData(m, h));
    const v = clientToolVersions(m);
    expect(v.talosctl).toBe(m.spec.talos.version);
    const script = fileContent(writeFiles(text), "/usr/local/sbin/talos-enclave-install-tools");
    expect(script).toContain(`TALOSCTL_VERSION="${v.talosctl}"`);
    expect(script).toContain(`KUBECTL_VERSION="${v.kubectl}"`);
    expect(script).toContain(`HELM_VERSION="${v.helm}"`);
    expect(script).toContain("sha256sum --check");
    expect(script).toContain(`url:https://github.com/siderolabs/talos/releases/download/${v.talosctl}/sha256sum.txt`);
    const paths = clientConfigPaths(m);
    expect(paths).toEqual({ talosconfig: `/home/${m.spec.adminUser}/.talos/config`, kubeconfig: `/home/${m.spec.adminUser}/.kube/config` });
    expect(text).toContain(paths.talosconfig);
    expect(text).toContain(paths.kubeconfig);
  });
});

describe("ingress: route, host firewall, controller", () => {
  it.each(ingressCases)("%s: a pod-CIDR route via the DMZ gateway", (_, m, h) => {
    const dropIn = fileContent(writeFiles(filled(renderUserData(m, h))), podRouteDropInPath());
    expect(dropIn).toContain(`[Route]\nDestination=${m.spec.network.podCidr}\nGateway=${m.zones.dmz.gateway}\n`);
  });

  it.each(ingressCases)("%s: the firewall admits 80/443 from anywhere and SSH from the clients only", (_, m, h) => {
    const rules = fileContent(writeFiles(filled(renderUserData(m, h))), "/etc/talos-enclave/host-firewall.nft");
    const clients = m.hosts.filter((x) => x.role === "client").map((x) => x.ip);
    const elements = /elements = \{ ([^}]*) \}/.exec(rules)?.[1].split(", ") ?? [];
    expect(elements).toEqual(clients);
    const accepts = rules.split("\n").filter((l) => /\baccept\b/.test(l) && !l.trim().startsWith("#")).map((l) => l.trim());
    expect(accepts).toEqual([
      'iif "lo" accept',
      "ct state established,related accept",
      "tcp dport { 80, 443 } accept",
      "ip saddr @ssh_clients tcp dport 22 accept",
    ]);
    expect(rules).toContain("type filter hook input priority filter; policy drop;");
  });

  describe.skipIf(!nft)("nft -c", () => {
    it.each(ingressCases)("%s: the ruleset loads", (_, m, h) => {
      const rules = fileContent(writeFiles(filled(renderUserData(m, h))), "/etc/talos-enclave/host-firewall.nft");
      const r = run("nft", ["-c", "-f", tempFile("host-firewall.nft", rules)])!;
      expect(r.status, r.out).toBe(0);
    });
    it("a broken ruleset does not", () => {
      const [, m, h] = ingressCases[0];
      const rules = fileContent(writeFiles(filled(renderUserData(m, h))), "/etc/talos-enclave/host-firewall.nft");
      const r = run("nft", ["-c", "-f", tempFile("broken.nft", rules.replace("tcp dport { 80, 443 }", "tcp dport { 80, 443"))])!;
      expect(r.status).not.toBe(0);
    });
  });

  it.each(ingressCases)("%s: the controller runs in external mode on the host, with an image and packages pushed to it (no proxy into MGMT)", (_, m, h) => {
    const text = filled(renderUserData(m, h));
    const files = writeFiles(text);
    const unit = fileContent(files, "/etc/systemd/system/haproxy-ingress.service");
    const image = `${m.spec.registry.fqdn}/proxy-docker.io/haproxytech/kubernetes-ingress:${SERVICE_VERSIONS.haproxyIngress.version}`;
    // the image the unit runs is named by the provisioning, which pushes it: a later version runs
    expect(unit).toContain("EnvironmentFile=/etc/haproxy-ingress/image.env");
    expect(unit).not.toContain(image);
    const provision = m.services.of(h.role).provision!({ model: m, host: h })!;
    expect(provision.images).toEqual([image]);
    expect(provision.files).toEqual([expect.objectContaining({ path: "/etc/haproxy-ingress/image.env", content: `IMAGE=${image}\n` })]);
    expect(unit).toContain("--external");
    expect(unit).toContain("--network host");
    expect(unit).toContain(`--ipv4-bind-address=${h.ip}`);
    expect(unit).toContain(`--volume ${INGRESS_CONTROLLER.kubeconfigPath}:/haproxy-ingress/kubeconfig:ro`);
    expect(unit).toContain(`--configmap=${INGRESS_CONTROLLER.configMap}`);
    // the host fetches nothing itself: no apt proxy, no pull in its setup
    expect((parse(text) as { apt?: unknown }).apt).toBeUndefined();
    expect(text).not.toContain(":3142");
    expect(fileContent(files, "/usr/local/sbin/talos-enclave-ingress-setup")).not.toMatch(/apt-get (update|install)|podman pull/);
    expect(fileContent(files, HAPROXY_AUX_CFG_PATH)).toBe(renderHaproxyCfg(m, h));
  });
});

describe.skipIf(!haproxy)("haproxy -c", () => {
  /**
   * Stands in for the main haproxy.cfg the controller writes at runtime from the generated ConfigMap
   * (edge protection included), which the aux file joins: its frontend tracks clients in the aux
   * file's table, so the pair must resolve together.
   */
  const controllerMain = (m: LabModel, h: VmPlan) =>
    controllerMainCfg({
      settings: edgeControllerSettings(m.spec.network.ingressProtection),
      bind: `${h.ip}:80`,
      server: "10.244.0.10:8080",
      pidfile: `${work}/haproxy.pid`,
    });

  it.each(ingressCases)("%s: the generated haproxy.cfg is valid, alone and next to the controller's", (_, m, h) => {
    const cfg = tempFile(`${h.name}.haproxy-aux.cfg`, renderHaproxyCfg(m, h));
    const alone = run("haproxy", ["-c", "-f", cfg])!;
    expect(alone.status, alone.out).toBe(0);
    const both = run("haproxy", ["-c", "-f", tempFile("main.cfg", controllerMain(m, h)), "-f", cfg])!;
    expect(both.status, both.out).toBe(0);
    // valid is not enough: an alert or warning about the aux file means HAProxy ignored or
    // second-guessed one of its lines (the stand-in for the controller's own file has its own notes)
    const about = (out: string) => out.split("\n").filter((l) => /\[(ALERT|WARNING)\]/.test(l) && l.includes(cfg));
    expect(about(alone.out), alone.out).toEqual([]);
    expect(about(both.out), both.out).toEqual([]);
  });

  it("a second maxconn in the aux file is an alert the check sees (HAProxy keeps the first one)", () => {
    const [, m, h] = ingressCases[0];
    const twice = renderHaproxyCfg(m, h).replace("global\n", "global\n    maxconn 100\n    maxconn 200\n");
    const r = run("haproxy", ["-c", "-f", tempFile("twice.cfg", twice)])!;
    expect(r.out).toMatch(/\[ALERT\].*maxconn/);
  });

  it("a planted error fails the check", () => {
    const [, m, h] = ingressCases[0];
    const broken = renderHaproxyCfg(m, h).replace("stats refresh 10s", "stats refresh 10s\n    bind 127.0.0.1:notaport");
    const r = run("haproxy", ["-c", "-f", tempFile("broken.cfg", broken)])!;
    expect(r.status).not.toBe(0);
  });

  it("a planted bad edge-protection value fails the check, in the aux file and in the controller's frontend", () => {
    const [, m, h] = ingressCases[0];
    const edge = m.spec.network.ingressProtection;
    const aux = renderHaproxyCfg(m, h);
    const badTimeout = aux.replace(`timeout http-request ${edge.timeouts.httpRequestSeconds}s`, "timeout http-request soon");
    expect(badTimeout).not.toBe(aux);
    expect(run("haproxy", ["-c", "-f", tempFile("bad-timeout.cfg", badTimeout)])!.status).not.toBe(0);
    const badTable = aux.replace(`size ${edge.trackedClients} `, "size lots ");
    expect(badTable).not.toBe(aux);
    expect(run("haproxy", ["-c", "-f", tempFile("bad-table.cfg", badTable)])!.status).not.toBe(0);
    // The ConfigMap's snippet names the aux file's table: without the aux file, the controller's config fails.
    const main = tempFile("main-alone.cfg", controllerMain(m, h));
    const r = run("haproxy", ["-c", "-f", main])!;
    expect(r.status).not.toBe(0);
    expect(r.out).toContain(EDGE_CLIENT_TABLE);
  });
});

describe("service flows", () => {
  it.each(labs)("%s: the lab declares the flows the services need, and none from a DMZ host into MGMT", (_, m) => {
    const table = labFlows(m);
    const has = (from: string, port: number) => table.flows.some((f) => f.from === from && f.to === m.spec.registry.host && f.protocol === "tcp" && f.ports.includes(port));
    const mgmt = new Set(m.hosts.filter((h) => h.module === "mgmt").map((h) => h.name));
    for (const i of m.hosts.filter((h) => h.module === "dmz")) {
      expect(table.flows.filter((f) => f.from === i.name && (mgmt.has(f.to) || f.to === "zone:mgmt")).map((f) => f.id)).toEqual([]);
    }
    for (const c of m.hosts.filter((h) => h.role === "client")) expect(has(c.name, 443)).toBe(true);
  });
});

describe("templatefile escaping", () => {
  it("escapes what templatefile would interpret and restores it when filled", () => {
    const text = 'a ${b} %{ if x } $${c} "${IMAGE}" 100%';
    const escaped = escapeTemplatefile(text);
    expect(escaped).toBe('a $${b} %%{ if x } $$${c} "$${IMAGE}" 100%');
    expect(fillTerraformTemplate(escaped, {})).toBe(text);
    expect(templateVariables(escaped)).toEqual([]);
  });
});
