import { talosMinorOf } from "../../input/talos-support";
import type { LabModel } from "../../model/lab-model";

/**
 * Every image and chart the lab names, with the digest it is pinned to (or why it is not), where the
 * upstream signs it and with which identity. The reviewed tables here feed the Talos
 * `ImageVerificationConfig` rules (image-verification.ts) and the mirror/re-sign script
 * (mirror-script.ts); change them only with a source.
 */

/** How an upstream signs an image: cosign keyless, the identity `cosign verify` must see. */
export interface UpstreamSignature {
  /** OIDC issuer of the signing certificate. */
  readonly issuer: string;
  /** Exact certificate identity, or... */
  readonly subject?: string;
  /** ...a regular expression for it. */
  readonly subjectRegex?: string;
  /** Where the identity is documented. */
  readonly source: string;
}

/**
 * Keyless identities of the upstreams that sign, as Talos's own image-verification test patch names
 * them (siderolabs/talos v1.13.9, hack/test/patches/image-verification.yaml).
 */
export const UPSTREAM_SIGNERS = {
  kubernetes: {
    issuer: "https://accounts.google.com",
    subject: "krel-trust@k8s-releng-prod.iam.gserviceaccount.com",
    source: "siderolabs/talos v1.13.9 hack/test/patches/image-verification.yaml (rule registry.k8s.io/*)",
  },
  siderolabs: {
    issuer: "https://accounts.google.com",
    subjectRegex: "(@siderolabs\\.com$|^releasemgr-svc@talos-production\\.iam\\.gserviceaccount\\.com$)",
    source: "siderolabs/talos v1.13.9 hack/test/patches/image-verification.yaml (rule ghcr.io/siderolabs/*)",
  },
} as const satisfies Readonly<Record<string, UpstreamSignature>>;

/** A digest pin: the digest and the page it was read from, or the reason there is none. */
export type DigestPin =
  | { readonly digest: `sha256:${string}`; readonly source: string }
  | { readonly unpinned: string };

/**
 * Where a digest could not be read when the table was written (the machine had no registry access,
 * so only digests an upstream publishes in a repository could be pinned). For these rows the mirror
 * step resolves the tag once, verifies the upstream signature on that digest where there is one,
 * and prints it: review it and pin it here.
 */
const UNPINNED = {
  kubernetesPromoter: (image: string, tag: string) =>
    `unpinned: registry.k8s.io publishes its digests in the image promoter's manifests (kubernetes/k8s.io registry.k8s.io/images/k8s-staging-kubernetes/images.yaml), but the copy of kubernetes/k8s.io readable offline (ecf019a88caa0923c610e8982ca44a460c0303e5) predates ${image}:${tag}`,
  coredns:
    "unpinned: registry.k8s.io publishes its digests in the image promoter's manifests, but no readable copy of kubernetes/k8s.io registry.k8s.io/images/k8s-staging-coredns/images.yaml lists v1.14.6 (the upstream copy, 9a1bd547b6a93ef57e6c6f7940b2299e9ee76ee0, stops at v1.13.2; the newest fork copy at v1.14.3)",
  siderolabsKubelet:
    "unpinned: siderolabs publishes no digest list for ghcr.io/siderolabs/kubelet (none in siderolabs/talos v1.13.9: pkg/images, pkg/machinery/constants, release notes); the image is cosign-signed by siderolabs, which the mirror step verifies on the digest it resolves",
  imageFactory:
    "unpinned: siderolabs publishes no digest of ghcr.io/siderolabs/image-factory (siderolabs/image-factory v1.5.0, e4b0a3139fea0f713e85974f97f16fd39498cda8, names its own image by tag only); the image is cosign-signed by siderolabs, which the mirror step verifies",
  calico:
    "unpinned: quay.io publishes no digest list, and projectcalico/calico v3.31.0 (b1f3c43f84370504e218eb5be8a34c81348f866a) names every image by tag (manifests/, charts/tigera-operator/values.yaml, release/internal/pinnedversion); the release's SHA256SUMS covers release files, not images",
  tigeraOperator:
    "unpinned: quay.io publishes no digest list, and tigera/operator v1.40.0 (6cfee9bff62db7d2725b6b0d257c687dce9f195a) and projectcalico/calico v3.31.0 name the operator image by tag only",
  haproxy:
    "unpinned: Docker Hub publishes no digest list, and haproxytech/kubernetes-ingress (snapshot fc1206761aa7948e051eebd56c736802e1d7e226, 2026-07-02, before the 3.2.12 tag) names no image digest",
} as const;

/**
 * The reviewed digest table: `<upstream repository>:<tag>` → its digest and where it was read, or
 * why there is none. No digest is ever written here without a source; an image whose tag is not in
 * the table (a spec that moved a version) is unpinned until someone adds it.
 *
 * Pinned: registry.k8s.io/pause:3.10.1 and registry.k8s.io/e2e-test-images/agnhost:2.53, from the
 * image promoter's manifests in kubernetes/k8s.io (the promoter copies exactly those digests to
 * registry.k8s.io). A promoter digest is the one the tag resolves to: the image index of a
 * multi-arch image. The mirror step checks every pin against the tag (and refuses a mismatch) before
 * it verifies the upstream signature on it. Every other row says why it is not pinned.
 */
export const IMAGE_DIGESTS: Readonly<Record<string, DigestPin>> = {
  "ghcr.io/siderolabs/kubelet:v1.36.3": { unpinned: UNPINNED.siderolabsKubelet },
  "registry.k8s.io/kube-apiserver:v1.36.3": { unpinned: UNPINNED.kubernetesPromoter("registry.k8s.io/kube-apiserver", "v1.36.3") },
  "registry.k8s.io/kube-controller-manager:v1.36.3": {
    unpinned: UNPINNED.kubernetesPromoter("registry.k8s.io/kube-controller-manager", "v1.36.3"),
  },
  "registry.k8s.io/kube-scheduler:v1.36.3": { unpinned: UNPINNED.kubernetesPromoter("registry.k8s.io/kube-scheduler", "v1.36.3") },
  "registry.k8s.io/kube-proxy:v1.36.3": { unpinned: UNPINNED.kubernetesPromoter("registry.k8s.io/kube-proxy", "v1.36.3") },
  "registry.k8s.io/etcd:v3.6.12": {
    unpinned:
      "unpinned: registry.k8s.io publishes its digests in the image promoter's manifests (kubernetes/k8s.io registry.k8s.io/images/k8s-staging-etcd/images.yaml), but the copy of kubernetes/k8s.io readable offline (042770b5870a67fada1d4c48ed9679b10dcb9ca2) stops at 3.6.1-0",
  },
  "registry.k8s.io/coredns/coredns:v1.14.6": { unpinned: UNPINNED.coredns },
  "registry.k8s.io/pause:3.10.1": {
    digest: "sha256:278fb9dbcca9518083ad1e11276933a2e96f23de604a3a08cc3c80002767d24c",
    source:
      "kubernetes/k8s.io registry.k8s.io/images/k8s-staging-kubernetes/images.yaml at ecf019a88caa0923c610e8982ca44a460c0303e5 (name pause, tag 3.10.1; promoted to registry.k8s.io per registry.k8s.io/manifests/k8s-staging-kubernetes/promoter-manifest.yaml); the image index",
  },
  "quay.io/tigera/operator:v1.40.0": { unpinned: UNPINNED.tigeraOperator },
  "quay.io/calico/node:v3.31.0": { unpinned: UNPINNED.calico },
  "quay.io/calico/cni:v3.31.0": { unpinned: UNPINNED.calico },
  "quay.io/calico/kube-controllers:v3.31.0": { unpinned: UNPINNED.calico },
  "quay.io/calico/typha:v3.31.0": { unpinned: UNPINNED.calico },
  "quay.io/calico/pod2daemon-flexvol:v3.31.0": { unpinned: UNPINNED.calico },
  "quay.io/calico/csi:v3.31.0": { unpinned: UNPINNED.calico },
  "quay.io/calico/node-driver-registrar:v3.31.0": { unpinned: UNPINNED.calico },
  "registry.k8s.io/e2e-test-images/agnhost:2.53": {
    digest: "sha256:99c6b4bb4a1e1df3f0b3752168c89358794d02258ebebc26bf21c29399011a85",
    source:
      "kubernetes/k8s.io registry.k8s.io/images/k8s-staging-e2e-test-images/images.yaml at e10ab5f95c9786e66745737e865fd6f593358eae (name agnhost, tag 2.53; promoted to registry.k8s.io/e2e-test-images per registry.k8s.io/manifests/k8s-staging-e2e-test-images/promoter-manifest.yaml); the image index",
  },
  "ghcr.io/siderolabs/image-factory:v1.5.0": { unpinned: UNPINNED.imageFactory },
  "docker.io/haproxytech/kubernetes-ingress:3.2.12": { unpinned: UNPINNED.haproxy },
  // charts: the digest of the packaged chart (.tgz) helm pulls
  "chart:tigera-operator:v3.31.0": {
    unpinned:
      "unpinned: the chart's digest is published in the Calico release's SHA256SUMS (GitHub) and in docs.tigera.io/calico/charts/index.yaml, neither in a repository, so it was not readable offline; the registry host's chart mirror checks the download against both (talos-enclave-chart-mirror.service logs the SHA-256 to pin here, which then becomes a third source)",
  },
};

/** The digest pin of `<repository>:<tag>` (a chart as `chart:<name>:<version>`). */
export function digestPin(ref: string): DigestPin {
  return IMAGE_DIGESTS[ref] ?? { unpinned: `unpinned: ${ref} is not in the reviewed table IMAGE_DIGESTS (a spec version moved past it)` };
}

/**
 * Defaults of the Talos release the nodes run, which Talos (not the spec) decides: etcd and CoreDNS
 * (pkg/machinery/constants/constants.go `DefaultEtcdVersion`, `DefaultCoreDNSVersion`) and the pause
 * image containerd sandboxes with (pkg/images/list.go `DefaultSandboxImage`), per Talos minor, at
 * v1.12.11, v1.13.9 and v1.14.0-rc.1.
 */
export const TALOS_DEFAULT_IMAGES: Readonly<Record<string, { etcd: string; coredns: string; pause: string }>> = {
  "v1.12": { etcd: "v3.6.11", coredns: "v1.14.2", pause: "3.10.1" },
  "v1.13": { etcd: "v3.6.12", coredns: "v1.14.6", pause: "3.10.1" },
  "v1.14": { etcd: "3.7.1", coredns: "v1.14.6", pause: "3.10.2" },
};

/**
 * tigera-operator image per Calico release (projectcalico/calico charts/tigera-operator/values.yaml
 * `tigeraOperator.version`, at the release tag).
 */
export const TIGERA_OPERATOR_BY_CALICO: Readonly<Record<string, string>> = {
  "v3.31.0": "v1.40.0",
};

/**
 * The Calico images the operator deploys for the lab's Installation (Linux, API server, Goldmane and
 * Whisker off): node, cni, kube-controllers and typha, plus the flexvol and CSI driver images it may
 * still roll out. From quay.io: projectcalico/calico v3.31.0 manifests/calico.yaml names
 * quay.io/calico/{node,cni,kube-controllers}; the component names are
 * release/internal/pinnedversion/templates/calico-versions.yaml.gotmpl at v3.31.0.
 */
export const CALICO_IMAGES = ["node", "cni", "kube-controllers", "typha", "pod2daemon-flexvol", "csi", "node-driver-registrar"] as const;

/** Upstream registry of the Kubernetes e2e echo server the demo runs. */
export const DEMO_IMAGE = { repository: "registry.k8s.io/e2e-test-images/agnhost", tag: "2.53" } as const;

/** One image the cluster runs, at its upstream. */
export interface ClusterImage {
  /** `<registry>/<path>` at the upstream, e.g. `registry.k8s.io/kube-apiserver`. */
  readonly repository: string;
  /** The tag the lab runs. */
  readonly tag: string | undefined;
  /** Which part of the lab runs it. */
  readonly purpose: "Talos" | "Kubernetes" | "Calico" | "demo";
  /** The upstream's keyless signature, or why the mirror step cannot verify one. */
  readonly upstreamSignature: UpstreamSignature | { readonly none: string };
}

/** Registry part of a repository: `registry.k8s.io/kube-proxy` → `registry.k8s.io`. */
export function registryOf(repository: string): string {
  return repository.slice(0, repository.indexOf("/"));
}

const CALICO_UNSIGNED = "no cosign signature of Calico's images is documented; the mirror step copies the digest it resolved (pin it in IMAGE_DIGESTS)";

/**
 * The images the Talos nodes pull from registries (the installer comes from the Image Factory and is
 * not in this list): Kubernetes from the spec's version, etcd/CoreDNS/pause as the Talos minor
 * decides, Calico from the chart version, and the demo.
 */
export function clusterImages(m: LabModel): ClusterImage[] {
  const t = m.spec.talos;
  const k8s = t.kubernetesVersion;
  const defaults = TALOS_DEFAULT_IMAGES[talosMinorOf(t.version)] ?? TALOS_DEFAULT_IMAGES["v1.13"];
  const calico = m.spec.platform.calicoVersion;
  const k8sSigned = UPSTREAM_SIGNERS.kubernetes;
  return [
    { repository: "ghcr.io/siderolabs/kubelet", tag: k8s, purpose: "Kubernetes", upstreamSignature: UPSTREAM_SIGNERS.siderolabs },
    ...(["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"] as const).map(
      (c): ClusterImage => ({ repository: `registry.k8s.io/${c}`, tag: k8s, purpose: "Kubernetes", upstreamSignature: k8sSigned }),
    ),
    { repository: "registry.k8s.io/etcd", tag: defaults.etcd, purpose: "Kubernetes", upstreamSignature: k8sSigned },
    { repository: "registry.k8s.io/coredns/coredns", tag: defaults.coredns, purpose: "Kubernetes", upstreamSignature: k8sSigned },
    { repository: "registry.k8s.io/pause", tag: defaults.pause, purpose: "Kubernetes", upstreamSignature: k8sSigned },
    { repository: "quay.io/tigera/operator", tag: TIGERA_OPERATOR_BY_CALICO[calico], purpose: "Calico", upstreamSignature: { none: CALICO_UNSIGNED } },
    ...CALICO_IMAGES.map((c): ClusterImage => ({ repository: `quay.io/calico/${c}`, tag: calico, purpose: "Calico", upstreamSignature: { none: CALICO_UNSIGNED } })),
    {
      ...DEMO_IMAGE,
      purpose: "demo",
      // Talos's own test patch skips registry.k8s.io/e2e-test-images/* "since they are not signed"
      upstreamSignature: { none: "the Kubernetes e2e test images are not signed (siderolabs/talos v1.13.9 hack/test/patches/image-verification.yaml)" },
    },
  ];
}
