import { stringify } from "yaml";
import { LabModel } from "../../model/lab-model";
import { harborProxyProject } from "../talos/machine-documents";
import { DEMO_IMAGE, digestPin, registryOf } from "../talos/cluster-images";
import { signedDemoImage } from "../talos/image-verification";
import { INGRESS_CONTROLLER_API } from "./ingress-controller-api";
import { edgeControllerSettings } from "../haproxy/edge-protection";

/**
 * The platform layer's Helm inputs, rendered from the model: values for the tigera-operator chart and
 * three small local charts (static manifests, no templating, so a reviewer reads exactly what is
 * installed). Pure; the platform module installs them in order.
 */

type Manifest = Record<string, unknown>;

export const INGRESS_NAMESPACE = "ingress-access";
export const INGRESS_SERVICE_ACCOUNT = "haproxy-ingress";
export const DEMO_NAMESPACE = "demo";
/** The ConfigMap the external controller is started with (`--configmap=<namespace>/<name>`). */
export const INGRESS_CONTROLLER_CONFIG = { namespace: "haproxy-controller", name: "haproxy-kubernetes-ingress" } as const;
/**
 * agnhost's netexec answers HTTP with request details: a small echo server. Named through Harbor (the
 * lab's signed copy while image verification is on, else the proxy project for its upstream), so
 * the chart names no public registry.
 */
export function demoImage(m: LabModel): string {
  if (m.imageVerification.enabled) return signedDemoImage(m);
  return `${m.spec.registry.fqdn}/${harborProxyProject(registryOf(DEMO_IMAGE.repository))}/${DEMO_IMAGE.repository.slice(registryOf(DEMO_IMAGE.repository).length + 1)}:${DEMO_IMAGE.tag}`;
}

/** A generated local Helm chart: static manifests only, written under `charts/<name>/`. */
export interface LocalChart {
  /** Chart and release name. */
  readonly name: string;
  /** Chart description (Chart.yaml). */
  readonly description: string;
  /** Files under `templates/`, each with the manifests it holds. */
  readonly manifests: readonly { readonly file: string; readonly docs: readonly Manifest[] }[];
}

/** The service accounts a local chart creates, as `namespace/name`. */
export function chartServiceAccounts(c: LocalChart): string[] {
  return c.manifests.flatMap((f) =>
    f.docs
      .filter((d) => d.kind === "ServiceAccount")
      .map((d) => {
        const meta = (d.metadata ?? {}) as { name?: string; namespace?: string };
        return `${meta.namespace ?? "default"}/${meta.name}`;
      }),
  );
}

/** Where the platform module's helm provider pulls the upstream charts from: `platform.chartRepository`, else Harbor's `charts` project. */
export function chartRepository(m: LabModel): string {
  return m.spec.platform.chartRepository ?? `oci://${m.spec.registry.fqdn}/${CHART_PROJECT}`;
}

/** The Harbor project the registry host mirrors the upstream charts into (a regular, public project). */
export const CHART_PROJECT = "charts";

/**
 * Where a chart's expected SHA-256 comes from; the registry host pushes a download only when every
 * source of its chart names the same digest (at least one is required).
 *  - `sha256`: pinned in this repository (the reviewed table `IMAGE_DIGESTS`, row `chart:<name>:<version>`).
 *  - `sha256sums`: a `sha256sum` listing published with the download, the line for `file`.
 *  - `helmIndex`: a Helm repository's index.yaml, the `digest` of the entry `chart` at `version`
 *    (`helm repo index` writes the SHA-256 of the packaged .tgz there: helm/helm pkg/repo/index.go
 *    `IndexDirectory` passes `provenance.DigestFile(archive)` to `index.Add` as the entry's digest).
 */
export type ChartChecksum =
  | { readonly sha256: string; readonly source: string }
  | { readonly sha256sums: string; readonly file: string }
  | { readonly helmIndex: string; readonly chart: string; readonly version: string };

/** A packaged chart the platform installs from its upstream, mirrored into Harbor by the registry host. */
export interface UpstreamChart {
  /** Chart name (its Chart.yaml `name`; the OCI repository's last path element). */
  readonly name: string;
  /** Pinned chart version (its Chart.yaml `version`; the OCI tag). */
  readonly version: string;
  /** The packaged chart (.tgz) at its upstream, over HTTPS. */
  readonly url: string;
  /** Where its SHA-256 is read from; all must agree with the download. */
  readonly checksums: readonly ChartChecksum[];
}

/**
 * The upstream charts the platform module installs (the local charts are generated, not fetched):
 * the tigera-operator chart at `platform.calicoVersion`. The Calico release attaches
 * `tigera-operator-<version>.tgz` and a `SHA256SUMS` of every attached file to its GitHub release
 * (projectcalico/calico release/pkg/manager/calico/manager.go, `collectGithubArtifacts`: "Generate a
 * SHA256SUMS file containing the checksums for each artifact that we attach to the release"; the
 * release's own checks expect both assets, `expectedCalicoAssets`); its Helm repository
 * https://docs.tigera.io/calico/charts (the one `helm repo add projectcalico` names in Calico's docs)
 * lists the same .tgz with its `digest`. The two are served from different places (GitHub, Tigera's
 * docs site), so a download passes only if both name its digest, or the digest pinned here.
 */
export function upstreamCharts(m: LabModel): UpstreamChart[] {
  const v = m.spec.platform.calicoVersion;
  const file = `tigera-operator-${v}.tgz`;
  const release = `https://github.com/projectcalico/calico/releases/download/${v}`;
  const pin = digestPin(`chart:tigera-operator:${v}`);
  return [
    {
      name: "tigera-operator",
      version: v,
      url: `${release}/${file}`,
      checksums: [
        ...("digest" in pin ? [{ sha256: pin.digest.slice("sha256:".length), source: pin.source }] : []),
        { sha256sums: `${release}/SHA256SUMS`, file },
        { helmIndex: "https://docs.tigera.io/calico/charts/index.yaml", chart: "tigera-operator", version: v },
      ],
    },
  ];
}

/**
 * Where the registry host pushes the upstream charts: the Harbor project (and the path below it) that
 * `chartRepository` names, when it is on the lab's Harbor; undefined when the spec points the helm
 * provider at another OCI registry, whose owner then provides the charts.
 */
export function chartMirrorTarget(m: LabModel): { readonly project: string; readonly path: string } | undefined {
  const match = /^oci:\/\/([^/]+)\/([^/]+)((?:\/[^/]+)*)$/.exec(chartRepository(m));
  if (!match) return undefined;
  const host = match[1].replace(/:443$/, "");
  if (host !== m.spec.registry.fqdn) return undefined;
  return { project: match[2], path: match[3].replace(/^\//, "") };
}

export function demoHost(m: LabModel): string {
  return m.spec.platform.demoHost ?? `demo.${m.zones.dmz.domain}`;
}

/** tigera-operator values: BGP on, one pool = the pod CIDR, no encapsulation, Talos's plugin path. */
export function tigeraOperatorValues(m: LabModel): Manifest {
  const n = m.spec.network;
  return {
    apiServer: { enabled: false },
    goldmane: { enabled: false },
    whisker: { enabled: false },
    installation: {
      enabled: true,
      // Talos has no writable kubelet plugin dir. The 3.31 chart copies `installation` into the
      // Installation spec and reads no top-level key (charts/tigera-operator values.yaml:8-19,
      // templates/crs/custom-resources.yaml:1-10; 3.31.0 release notes).
      kubeletVolumePluginPath: "None",
      cni: { type: "Calico", ipam: { type: "Calico" } },
      calicoNetwork: {
        bgp: "Enabled",
        // Talos 1.13 runs kube-proxy in nftables mode for Kubernetes ≥ 1.31 (talos
        // internal/app/machined/pkg/controllers/k8s/control_plane.go:476-496); Calico's data plane
        // must match (Nftables is GA in 3.31, Installation CRD linuxDataplane enum).
        linuxDataplane: "Nftables",
        hostPorts: "Enabled",
        ipPools: [
          {
            name: "pods",
            cidr: n.podCidr,
            blockSize: n.podBlockSize,
            encapsulation: "None",
            // Pods keep their addresses on the wire: pfSense sees (and filters) the real source.
            natOutgoing: "Disabled",
            nodeSelector: "all()",
          },
        ],
        nodeAddressAutodetectionV4: { kubernetes: "NodeInternalIP" },
      },
    },
  };
}

/**
 * The local charts, in install order: `calico-bgp` (AS and the pfSense peer), `ingress-access` (the
 * external ingress controller's least-privilege account) and `demo` (an echo server behind the DMZ
 * HAProxy).
 */
export function localCharts(m: LabModel): LocalChart[] {
  const b = m.spec.bgp;
  const calico: LocalChart = {
    name: "calico-bgp",
    description: "Calico BGP: the cluster's AS and its eBGP peer, pfSense on the SRV gateway",
    manifests: [
      {
        file: "bgp.yaml",
        docs: [
          {
            apiVersion: "crd.projectcalico.org/v1",
            kind: "BGPConfiguration",
            metadata: { name: "default" },
            spec: { asNumber: b.clusterAs, nodeToNodeMeshEnabled: b.nodeToNodeMesh, logSeverityScreen: "Info" },
          },
          {
            apiVersion: "crd.projectcalico.org/v1",
            kind: "BGPPeer",
            metadata: { name: "pfsense" },
            spec: { peerIP: m.zones.srv.gateway, asNumber: b.firewallAs },
          },
        ],
      },
    ],
  };

  const ingress: LocalChart = {
    name: "ingress-access",
    description: "Least-privilege access for the HAProxy ingress controller running outside the cluster (DMZ)",
    manifests: [
      {
        file: "access.yaml",
        docs: [
          { apiVersion: "v1", kind: "Namespace", metadata: { name: INGRESS_NAMESPACE } },
          { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: INGRESS_SERVICE_ACCOUNT, namespace: INGRESS_NAMESPACE } },
          {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRole",
            metadata: { name: INGRESS_SERVICE_ACCOUNT },
            // Exactly what the controller uses (ingress-controller-api.ts, with its sources).
            rules: INGRESS_CONTROLLER_API.map((u) => ({ apiGroups: [u.group], resources: [...u.resources], verbs: [...u.verbs] })),
          },
          {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRoleBinding",
            metadata: { name: INGRESS_SERVICE_ACCOUNT },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: INGRESS_SERVICE_ACCOUNT },
            subjects: [{ kind: "ServiceAccount", name: INGRESS_SERVICE_ACCOUNT, namespace: INGRESS_NAMESPACE }],
          },
          // No token Secret: the DMZ host's kubeconfig carries a bounded token the provisioning mints
          // with the TokenRequest API and renews (HostProvision.tokens, ingressProvision).
          // The controller's own settings (it reads this ConfigMap): the edge protection of
          // network.ingressProtection in the controller's documented keys (edge-protection.ts).
          { apiVersion: "v1", kind: "Namespace", metadata: { name: INGRESS_CONTROLLER_CONFIG.namespace } },
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: INGRESS_CONTROLLER_CONFIG.name, namespace: INGRESS_CONTROLLER_CONFIG.namespace },
            data: edgeControllerSettings(m.spec.network.ingressProtection),
          },
          {
            apiVersion: "networking.k8s.io/v1",
            kind: "IngressClass",
            metadata: { name: "haproxy" },
            spec: { controller: "haproxy.org/ingress-controller/haproxy" },
          },
        ],
      },
    ],
  };

  const labels = { app: "demo" };
  const demo: LocalChart = {
    name: "demo",
    description: "Echo server published through the DMZ HAProxy",
    manifests: [
      {
        file: "demo.yaml",
        docs: [
          { apiVersion: "v1", kind: "Namespace", metadata: { name: DEMO_NAMESPACE } },
          {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "echo", namespace: DEMO_NAMESPACE, labels },
            spec: {
              replicas: 2,
              selector: { matchLabels: labels },
              template: {
                metadata: { labels },
                spec: {
                  containers: [
                    {
                      name: "echo",
                      image: demoImage(m),
                      args: ["netexec", "--http-port=8080"],
                      ports: [{ name: "http", containerPort: 8080 }],
                      readinessProbe: { httpGet: { path: "/healthz", port: "http" } },
                      securityContext: { allowPrivilegeEscalation: false, runAsNonRoot: true, runAsUser: 65534, capabilities: { drop: ["ALL"] } },
                    },
                  ],
                },
              },
            },
          },
          {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: "echo", namespace: DEMO_NAMESPACE },
            spec: { selector: labels, ports: [{ name: "http", port: 8080, targetPort: "http" }] },
          },
          {
            apiVersion: "networking.k8s.io/v1",
            kind: "Ingress",
            metadata: { name: "echo", namespace: DEMO_NAMESPACE },
            spec: {
              ingressClassName: "haproxy",
              rules: [{ host: demoHost(m), http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "echo", port: { number: 8080 } } } }] } }],
            },
          },
        ],
      },
    ],
  };
  return [calico, ingress, demo];
}

const yaml = (v: unknown) => stringify(v, { version: "1.1", lineWidth: 0 });

/**
 * The Helm template boundary: files under a chart's `templates/` are Go templates, so every `{{` in a
 * static manifest is written as the template action that prints it, `{{"{{"}}`. What a reviewer reads
 * is then exactly what Helm installs.
 */
export function helmLiteral(text: string): string {
  return text.replace(/\{\{/g, '{{"{{"}}');
}

/** Sidecar files: `charts/<name>/{Chart.yaml,templates/*.yaml}` and `charts/values/tigera-operator.yaml`. */
export function platformChartFiles(m: LabModel): Map<string, string> {
  const files = new Map<string, string>();
  files.set("charts/values/tigera-operator.yaml", `# tigera-operator values for ${m.name}. Generated by talos-enclave.\n${yaml(tigeraOperatorValues(m))}`);
  for (const c of localCharts(m)) {
    files.set(`charts/${c.name}/Chart.yaml`, yaml({ apiVersion: "v2", name: c.name, description: c.description, type: "application", version: "0.1.0" }));
    for (const f of c.manifests) files.set(`charts/${c.name}/templates/${f.file}`, helmLiteral(f.docs.map(yaml).join("---\n")));
  }
  return files;
}
