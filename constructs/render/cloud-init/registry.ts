import type { HostPlan, LabModel } from "../../model/lab-model";
import { harborProxyProject, mirroredRegistries } from "../talos/machine-documents";
import { harborSignedProject } from "../talos/image-verification";
import { COMMON_TEMPLATE, COMMON_VARS, commonValues, UserDataTemplate } from "./common";
import { embedFile, embedText, renderUserDataSkeleton } from "./tf-template";
import { checksumSource, SERVICE_VERSIONS } from "./versions";

/** Port of the apt proxy (apt-cacher-ng's default) on the registry host. */
export { APT_PROXY_PORT } from "../../model/lab-flows";

/** Private Harbor project where the Image Factory keeps schematics, its cache and built installers. */
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
  factoryConfig: "/etc/talos-enclave/image-factory/config.yaml",
  factoryDockerConfig: "/etc/talos-enclave/image-factory/docker/config.json",
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

/** What harbor-bootstrap.service makes sure of; written to the host as JSON and reviewed here. */
export interface HarborBootstrapConfig {
  readonly api: string;
  readonly adminPasswordFile: string;
  readonly caFile: string;
  readonly proxyProjects: readonly { readonly project: string; readonly registry: HarborEndpoint }[];
  /** Regular public projects for the lab's signed copies, one per upstream (image verification on). */
  readonly signedProjects: readonly string[];
  readonly factory: {
    readonly project: string;
    readonly robot: string;
    readonly coreProject: string;
    readonly dockerConfig: string;
    readonly registryHost: string;
  };
}

export function harborBootstrapConfig(model: LabModel): HarborBootstrapConfig {
  const fqdn = model.spec.registry.fqdn;
  return {
    api: `https://${fqdn}/api/v2.0`,
    adminPasswordFile: REGISTRY_PATHS.harborAdminPassword,
    caFile: "/etc/ssl/certs/ca-certificates.crt",
    proxyProjects: mirroredRegistries(model).map((upstream) => ({ project: harborProxyProject(upstream), registry: harborEndpoint(upstream) })),
    signedProjects: model.imageVerification.enabled ? mirroredRegistries(model).map(harborSignedProject) : [],
    factory: {
      project: FACTORY_PROJECT,
      robot: FACTORY_ROBOT,
      coreProject: harborProxyProject("ghcr.io"),
      dockerConfig: REGISTRY_PATHS.factoryDockerConfig,
      registryHost: fqdn,
    },
  };
}

/** `<harbor>/<proxy project>/<path>`: an upstream image reference pulled through Harbor. */
export function throughHarbor(model: LabModel, image: string, tag: string): string {
  const slash = image.indexOf("/");
  const upstream = image.slice(0, slash);
  if (!mirroredRegistries(model).includes(upstream)) throw new Error(`${upstream} has no proxy-cache project in Harbor`);
  return `${model.spec.registry.fqdn}/${harborProxyProject(upstream)}/${image.slice(slash + 1)}:${tag}`;
}

export const REGISTRY_VARS = {
  ...COMMON_VARS,
  lab_tls_certificate_b64: "base64encode(var.lab_tls_certificate)",
  lab_tls_private_key_b64: "base64encode(var.lab_tls_private_key)",
  harbor_admin_password_b64: "base64encode(var.harbor_admin_password)",
} as const;

export function renderRegistryUserData(model: LabModel, plan: HostPlan): UserDataTemplate {
  const reg = model.spec.registry;
  if (plan.name !== reg.host) throw new Error(`${plan.name} is not the lab's registry host (${reg.host})`);
  const harbor = SERVICE_VERSIONS.harbor.version;
  const factory = SERVICE_VERSIONS.imageFactory;
  const factoryImage = throughHarbor(model, factory.image, factory.version);
  const bootstrap = harborBootstrapConfig(model);
  const dmz = model.hosts.filter((h) => h.module === "dmz");
  const base = { fqdn: reg.fqdn };
  const text = renderUserDataSkeleton(
    [COMMON_TEMPLATE, "cloud-init/registry.user-data.yaml"],
    {
      ...commonValues(model, plan),
      registry_fqdn: reg.fqdn,
      harbor_version: harbor,
      proxy_projects: bootstrap.proxyProjects.map((p) => p.project).join(", "),
      factory_version: factory.version,
      factory_port: String(reg.factoryPort),
      factory_project: FACTORY_PROJECT,
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
      factory_prepare: embedFile("cloud-init/registry/image-factory-prepare.sh", {}),
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
      acng_conf: embedFile("cloud-init/registry/apt-cacher-ng.conf", {
        apt_clients: dmz.length ? dmz.map((h) => `${h.name} ${h.ip}`).join(", ") : "none yet",
      }),
    },
    Object.keys(REGISTRY_VARS),
  );
  return { text, vars: { ...REGISTRY_VARS } };
}
