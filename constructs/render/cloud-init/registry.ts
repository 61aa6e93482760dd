import { createPublicKey } from "node:crypto";
import type { VulnerabilitySeverity } from "../../input/lab-spec";
import type { HostPlan, LabModel } from "../../model/lab-model";
import type { HostProvision } from "../../model/host-provision";
import { harborProxyProject, mirroredRegistries } from "../talos/machine-documents";
import { harborSignedProject } from "../talos/image-verification";
import { uncompressedSpki } from "../../input/image-signing";
import { chartMirrorTarget, ChartChecksum, upstreamCharts } from "../platform/platform-charts";
import { COMMON_TEMPLATE, COMMON_VARS, commonValues, UserDataTemplate } from "./common";
import { embedFile, embedText, renderUserDataSkeleton } from "./tf-template";
import { checksumSource, SERVICE_VERSIONS } from "./versions";

/** Harbor project where the Image Factory keeps schematics, its cache and built installers: public reads (Talos pulls installers anonymously through the factory), pushes by the factory robot only. */
export const FACTORY_PROJECT = "talos-image-factory";
/** Harbor system robot the Image Factory pushes and pulls with. */
export const FACTORY_ROBOT = "talos-image-factory";

/** Files on the registry host, for the README. */
export const REGISTRY_PATHS = {
  certificate: "/etc/talos-enclave/tls/registry.crt",
  privateKey: "/etc/talos-enclave/tls/registry.key",
  harborAdminPassword: "/etc/talos-enclave/secrets/harbor-admin-password",
  harborDbPassword: "/etc/talos-enclave/secrets/harbor-db-password",
  bootstrapConfig: "/etc/talos-enclave/harbor-bootstrap.json",
  chartMirrorConfig: "/etc/talos-enclave/chart-mirror.json",
  factoryConfig: "/etc/talos-enclave/image-factory/config.yaml",
  factoryDockerConfig: "/etc/talos-enclave/image-factory/docker/config.json",
  /**
   * The factory's signing key (`cache.signingKeyPath`; /etc/image-factory/cache-signing-key.pem in its
   * container, which mounts /etc/talos-enclave/image-factory there).
   */
  factorySigningKey: "/etc/talos-enclave/image-factory/cache-signing-key.pem",
  harborDir: "/opt/harbor",
  harborData: "/data/harbor",
} as const;

export interface HarborEndpoint {
  readonly name: string;
  /** Harbor registry provider type. */
  readonly type: "docker-hub" | "docker-registry";
  readonly url: string;
  readonly description: string;
}

/**
 * The Harbor registry endpoint a proxy-cache project of an upstream reads from: Docker Hub needs its
 * own provider (registry-1.docker.io, `library/` handling); every other upstream speaks the plain
 * registry API anonymously at https://<host>.
 */
export function harborEndpoint(upstream: string): HarborEndpoint {
  const description = `upstream of the proxy-cache project ${harborProxyProject(upstream)} (talos-enclave)`;
  if (upstream === "docker.io") return { name: upstream, type: "docker-hub", url: "https://hub.docker.com", description };
  return { name: upstream, type: "docker-registry", url: `https://${upstream}`, description };
}

/**
 * Harbor project metadata the bootstrap holds every proxy-cache project to. Keys and values are Harbor's
 * (goharbor/harbor api/v2.0/swagger.yaml, `ProjectMetadata`: strings "true"/"false", severity one of
 * none/low/medium/high/critical; src/pkg/project/models/pro_meta.go names them). Keys left out are left
 * as they are.
 */
export interface HarborProjectMetadata {
  /** The project can be pulled from anonymously (Talos pulls without credentials). */
  readonly public: "true";
  /**
   * Scan an artifact when it arrives. A proxy-cache project fires the push event that triggers it
   * for every artifact it caches (src/controller/artifact/controller.go `Ensure`: only an artifact a
   * proxy project already had fires none; src/controller/event/handler/internal/artifact.go `onPush`
   * and util.go `autoScan` scan when `auto_scan` is "true").
   */
  readonly auto_scan: "true";
  /**
   * "Prevent vulnerable images from running": a manifest pull of a cached artifact is refused when its
   * scan found `severity` or worse, or when it is scannable and has no successful scan yet
   * (src/server/middleware/vulnerable/vulnerable.go). The first pull through a proxy project is
   * answered from upstream before that check (src/server/registry/route.go puts repoproxy's
   * ManifestMiddleware first; goharbor/harbor#13242 calls this the design of proxy cache).
   */
  readonly prevent_vul: "true" | "false";
  /** Lowest severity that blocks; only written when `prevent_vul` is "true". */
  readonly severity?: Exclude<VulnerabilitySeverity, "none">;
}

/**
 * Harbor's system scan-all schedule: every artifact in Harbor, the proxy caches' included, is scanned
 * again with the day's vulnerability database, so an image cached before a CVE was published is
 * blocked once it is known. `Daily` with Harbor's own cron for it (6 fields, seconds first; the portal's
 * cron-schedule component and src/server/v2.0/handler/scan_all_test.go use "0 0 0 * * *"; the handler
 * refuses a schedule without a valid cron: src/server/v2.0/handler/scan_all.go).
 */
export const SCAN_ALL_SCHEDULE = { type: "Daily", cron: "0 0 0 * * *" } as const;

/** What harbor-bootstrap.service makes sure of; written to the host as JSON and reviewed here. */
export interface HarborBootstrapConfig {
  readonly api: string;
  readonly adminPasswordFile: string;
  readonly caFile: string;
  readonly proxyProjects: readonly { readonly project: string; readonly registry: HarborEndpoint; readonly metadata: HarborProjectMetadata }[];
  /**
   * Regular public projects for the lab's signed copies, one per upstream (image verification on).
   * With verification on, SRV pulls from these, so they carry the proxy projects' scanning and
   * pull-blocking metadata too.
   */
  readonly signedProjects: readonly { readonly project: string; readonly metadata: HarborProjectMetadata }[];
  /**
   * Regular public projects the registry host mirrors the platform's upstream charts into
   * (talos-enclave-chart-mirror.service), every tag immutable: a pinned chart version is never
   * re-pointed. Public, because the helm provider on the runner pulls them anonymously. Empty when
   * `platform.chartRepository` is not on this Harbor.
   */
  readonly chartProjects: readonly { readonly project: string; readonly metadata: { readonly public: "true" } }[];
  /**
   * Vulnerability scanning: the bootstrap waits for Harbor's default scanner (`scanner`, the Trivy
   * adapter Harbor registers when prepared `--with-trivy`: src/core/main.go `registerScanners`) and
   * sets the scan-all schedule (`PUT /system/scanAll/schedule`, api/v2.0/swagger.yaml).
   */
  readonly scanning: {
    readonly scanner: string;
    readonly scanAllSchedule: typeof SCAN_ALL_SCHEDULE;
  };
  readonly factory: {
    readonly project: string;
    readonly robot: string;
    readonly coreProject: string;
    readonly dockerConfig: string;
    readonly registryHost: string;
  };
}

/** Name under which Harbor registers its Trivy adapter (src/core/main.go, `trivyScanner`). */
export const HARBOR_TRIVY_SCANNER = "Trivy";

/**
 * The metadata of the proxy-cache projects for the spec's `registry.scanning`: always public and
 * scanned on arrival; `blockSeverity: none` turns Harbor's pull prevention off, any other level turns
 * it on at that level.
 */
export function proxyProjectMetadata(model: LabModel): HarborProjectMetadata {
  const block = model.spec.registry.scanning.blockSeverity;
  return block === "none"
    ? { public: "true", auto_scan: "true", prevent_vul: "false" }
    : { public: "true", auto_scan: "true", prevent_vul: "true", severity: block };
}

/** The JSON harbor-bootstrap.service reads: what Harbor must hold for this lab. */
export function harborBootstrapConfig(model: LabModel): HarborBootstrapConfig {
  const fqdn = model.spec.registry.fqdn;
  const metadata = proxyProjectMetadata(model);
  return {
    api: `https://${fqdn}/api/v2.0`,
    adminPasswordFile: REGISTRY_PATHS.harborAdminPassword,
    caFile: "/etc/ssl/certs/ca-certificates.crt",
    proxyProjects: mirroredRegistries(model).map((upstream) => ({ project: harborProxyProject(upstream), registry: harborEndpoint(upstream), metadata })),
    signedProjects: model.imageVerification.enabled ? mirroredRegistries(model).map((upstream) => ({ project: harborSignedProject(upstream), metadata })) : [],
    chartProjects: chartMirrorConfig(model).charts.length ? [{ project: chartMirrorTarget(model)!.project, metadata: { public: "true" } }] : [],
    scanning: { scanner: HARBOR_TRIVY_SCANNER, scanAllSchedule: SCAN_ALL_SCHEDULE },
    factory: {
      project: FACTORY_PROJECT,
      robot: FACTORY_ROBOT,
      coreProject: harborProxyProject("ghcr.io"),
      dockerConfig: REGISTRY_PATHS.factoryDockerConfig,
      registryHost: fqdn,
    },
  };
}

/** What talos-enclave-chart-mirror.service pushes into Harbor; written to the host as JSON and reviewed here. */
export interface ChartMirrorConfig {
  /** Harbor's registry API base (`/v2/` below it). */
  readonly registry: string;
  readonly adminPasswordFile: string;
  /** CA bundle for Harbor and the upstreams: the host's (public CAs and the lab CA). */
  readonly caFile: string;
  readonly charts: readonly {
    readonly name: string;
    readonly version: string;
    readonly url: string;
    readonly checksums: readonly ChartChecksum[];
    /** `<project>[/<path>]/<name>` in Harbor. */
    readonly repository: string;
    /** The OCI tag helm looks the version up by (helm replaces `+`, which tags cannot hold, by `_`). */
    readonly tag: string;
  }[];
}

/**
 * The charts the registry host mirrors: every upstream chart the platform installs, into the Harbor
 * project `platform.chartRepository` names; none when that repository is not on this Harbor.
 */
export function chartMirrorConfig(model: LabModel): ChartMirrorConfig {
  const target = chartMirrorTarget(model);
  const prefix = target ? [target.project, target.path].filter((x) => x).join("/") : "";
  return {
    registry: `https://${model.spec.registry.fqdn}`,
    adminPasswordFile: REGISTRY_PATHS.harborAdminPassword,
    caFile: "/etc/ssl/certs/ca-certificates.crt",
    charts: target
      ? upstreamCharts(model).map((c) => ({ ...c, repository: `${prefix}/${c.name}`, tag: c.version.replace(/\+/g, "_") }))
      : [],
  };
}

/** `<harbor>/<proxy project>/<path>`: an upstream image reference pulled through Harbor. */
export function throughHarbor(model: LabModel, image: string, tag: string): string {
  const slash = image.indexOf("/");
  const upstream = image.slice(0, slash);
  if (!mirroredRegistries(model).includes(upstream)) throw new Error(`${upstream} has no proxy-cache project in Harbor`);
  return `${model.spec.registry.fqdn}/${harborProxyProject(upstream)}/${image.slice(slash + 1)}:${tag}`;
}

/**
 * Template variables of the registry's user-data: the common ones. Its certificate, its key and
 * Harbor's password are provisioned over SSH (the certificate with its key, so they change together).
 */
export const REGISTRY_VARS = { ...COMMON_VARS } as const;

/**
 * What the registry host gets over SSH after boot: its TLS certificate and key (together, so a new
 * pair never meets an old half), Harbor's admin password and the Image Factory's signing key (never
 * in its snippet); then Harbor, its bootstrap, the chart mirror and the Image Factory start with them. The factory's
 * key comes from where tofu runs, not from the host, because its public half must be known at synth:
 * Talos verifies the installer against it (`talos.imageVerification.factoryPublicKey`).
 */
export function registryProvision(): HostProvision {
  return {
    files: [{ variable: "lab_tls_certificate", path: REGISTRY_PATHS.certificate, mode: "0644", owner: "root:root" }],
    secrets: [
      { variable: "lab_tls_private_key", path: REGISTRY_PATHS.privateKey, mode: "0600", owner: "root:root" },
      { variable: "harbor_admin_password", path: REGISTRY_PATHS.harborAdminPassword, mode: "0600", owner: "root:root" },
      // the container runs as root (siderolabs/image-factory v1.5.0 Dockerfile sets no USER)
      { variable: "image_factory_signing_key", path: REGISTRY_PATHS.factorySigningKey, mode: "0600", owner: "root:root" },
    ],
    start: ["harbor.service", "harbor-bootstrap.service", "talos-enclave-chart-mirror.service", "image-factory.service"],
  };
}

/**
 * The factory's public key as the prepare script compares it: base64 of its DER SubjectPublicKeyInfo
 * with the point uncompressed (what `openssl ec -pubout -outform DER -conv_form uncompressed` prints
 * on the host).
 */
export function factoryPublicKeyDer(pem: string): string {
  return uncompressedSpki(createPublicKey({ key: pem, format: "pem" })).toString("base64");
}

/** The registry's cloud-init user-data: Harbor, its bootstrap, the chart mirror and the Image Factory, with their units. */
export function renderRegistryUserData(model: LabModel, plan: HostPlan): UserDataTemplate {
  const reg = model.spec.registry;
  if (plan.name !== reg.host) throw new Error(`${plan.name} is not the lab's registry host (${reg.host})`);
  const harbor = SERVICE_VERSIONS.harbor.version;
  const factory = SERVICE_VERSIONS.imageFactory;
  const factoryImage = throughHarbor(model, factory.image, factory.version);
  const bootstrap = harborBootstrapConfig(model);
  const charts = chartMirrorConfig(model);
  const base = { fqdn: reg.fqdn };
  const text = renderUserDataSkeleton(
    [COMMON_TEMPLATE, "cloud-init/registry.user-data.yaml"],
    {
      ...commonValues(model, plan),
      registry_fqdn: reg.fqdn,
      harbor_version: harbor,
      proxy_projects: bootstrap.proxyProjects.map((p) => p.project).join(", "),
      block_severity: reg.scanning.blockSeverity === "none" ? "none (reported only)" : reg.scanning.blockSeverity,
      factory_version: factory.version,
      factory_port: String(reg.factoryPort),
      factory_project: FACTORY_PROJECT,
      mirrored_charts: charts.charts.length ? charts.charts.map((c) => `${c.repository}:${c.tag}`).join(", ") : "none (platform.chartRepository is not on this Harbor)",
    },
    {
      bootstrap_config: embedText(JSON.stringify(bootstrap, null, 2) + "\n"),
      harbor_install: embedFile("cloud-init/registry/harbor-install.sh", {
        ...base,
        harbor_version: harbor,
        harbor_checksum: checksumSource(
          "harbor",
          harbor,
          `https://github.com/goharbor/harbor/releases/download/${harbor}/md5sum`,
          "md5url",
        ),
      }),
      harbor_bootstrap: embedFile("cloud-init/registry/harbor-bootstrap.py", {}),
      chart_mirror_config: embedText(JSON.stringify(charts, null, 2) + "\n"),
      chart_mirror: embedFile("cloud-init/registry/chart-mirror.py", {}),
      chart_mirror_unit: embedFile("cloud-init/registry/talos-enclave-chart-mirror.service", {}),
      factory_prepare: embedFile("cloud-init/registry/image-factory-prepare.sh", {
        // base64 only: the template guard refuses anything else in a .sh value
        factory_public_key_der: model.imageVerification.enabled ? factoryPublicKeyDer(model.imageVerification.factoryPublicKey) : "",
      }),
      factory_config: embedFile("cloud-init/registry/image-factory.yaml", {
        ...base,
        factory_version: factory.version,
        factory_port: String(reg.factoryPort),
        core_project: bootstrap.factory.coreProject,
        factory_project: FACTORY_PROJECT,
      }),
      harbor_unit: embedFile("cloud-init/registry/harbor.service", { ...base, harbor_version: harbor }),
      bootstrap_unit: embedFile("cloud-init/registry/harbor-bootstrap.service", {}),
      factory_unit: embedFile("cloud-init/registry/image-factory.service", {
        ...base,
        factory_version: factory.version,
        factory_port: String(reg.factoryPort),
        factory_image: factoryImage,
      }),
    },
    Object.keys(REGISTRY_VARS),
  );
  return { text, vars: { ...REGISTRY_VARS } };
}
