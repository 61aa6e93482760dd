/**
 * Versions the Ubuntu services of the lab run, pinned in one place. Container images are pulled through
 * the lab's own Harbor; binaries are downloaded on MGMT hosts and checked against a SHA-256 before use.
 *
 * `sha256`, where set, pins the digest of the download for exactly `version`; without it the install
 * scripts check the download against the checksum file the project publishes next to it (see
 * `checksumSource`). Pin a digest by adding it here once it was taken from a trusted download.
 */
export interface PinnedService {
  /** The pinned release. */
  readonly version: string;
  /** Why this version, and what moves with it. */
  readonly comment: string;
  /** Image repository at its upstream registry (containers only). */
  readonly image?: string;
  /** SHA-256 of the downloaded artefact (binaries only), valid for `version` only. */
  readonly sha256?: string;
}

/** The pinned version of each Ubuntu service and operator CLI, with the reason for it. */
export const SERVICE_VERSIONS = {
  harbor: {
    version: "v2.15.2",
    comment:
      "Harbor online installer, newest 2.15 patch (2026-07); proxy-cache projects, robot accounts and the /api/v2.0 calls of the bootstrap are stable across 2.x. Its images (goharbor/*) come from Docker Hub on first install.",
  },
  imageFactory: {
    version: "v1.5.0",
    image: "ghcr.io/siderolabs/image-factory",
    comment:
      "Talos Image Factory; v1.5.0 added artifacts.core.namespace, which lets it read the siderolabs images through the Harbor proxy-cache project of ghcr.io. Pulled through that project.",
  },
  haproxyIngress: {
    version: "3.2.12",
    image: "docker.io/haproxytech/kubernetes-ingress",
    comment:
      "HAProxy Kubernetes Ingress Controller 3.2 (supported to 2027-01) with the HAProxy 3.2 it is built and tested with; the image carries both, so the DMZ host runs that pair in external mode instead of Ubuntu's HAProxy 2.8. Pulled through the Harbor proxy-cache project of docker.io.",
  },
  kubectl: {
    version: "v1.36.2",
    comment:
      "kubectl when the spec leaves talos.kubernetesVersion unset (Talos 1.13 supports Kubernetes 1.31-1.36); with a version in the spec, kubectl follows it to stay inside the client skew.",
  },
  helm: {
    version: "v4.2.4",
    comment: "Helm 4 CLI, newest patch (2026-08); reads and upgrades releases made by the hashicorp/helm 3.1.1 provider (Helm 3 storage).",
  },
  opentofu: {
    version: "v1.12.5",
    comment:
      "OpenTofu on the runner (spec apply.runner), newest 1.12 patch (2026-07-21); the stack needs >= 1.8 for its state and plan encryption. Checked against the release's tofu_<version>_SHA256SUMS.",
  },
  cosign: {
    version: "v2.6.4",
    comment:
      "cosign for the mirror/re-sign step on the runner (images/mirror-and-sign.sh), newest 2.x: its `sign` writes the legacy `sha256-<hex>.sig` signature Talos falls back to, and takes --tlog-upload=false. Binary cosign-linux-amd64, checked against the release's cosign_checksums.txt (sigstore/cosign v2.6.4 .goreleaser.yml).",
  },
  crane: {
    version: "v0.21.9",
    comment:
      "crane (go-containerregistry) resolves tags to digests and copies images by digest in the mirror step. Archive go-containerregistry_Linux_x86_64.tar.gz, checked against the release's checksums.txt (google/go-containerregistry .goreleaser.yml).",
  },
  talosctl: {
    version: "v1.13.9",
    comment: "talosctl always follows spec.talos.version (the client must match the cluster); this entry is the reference lab's version.",
  },
} as const satisfies Readonly<Record<string, PinnedService>>;

export type ServiceName = keyof typeof SERVICE_VERSIONS;

/**
 * Where the install scripts get the expected digest of a download: `sha256:<hex>` when the digest is
 * pinned here for that version, else `url:<checksum file>` published by the project (`md5url:` for
 * Harbor, which publishes MD5 sums only).
 */
export function checksumSource(service: ServiceName, version: string, publishedUrl: string, kind: "url" | "md5url" = "url"): string {
  const pinned: PinnedService = SERVICE_VERSIONS[service];
  if (pinned.sha256 && pinned.version === version) return `sha256:${pinned.sha256}`;
  return `${kind}:${publishedUrl}`;
}
