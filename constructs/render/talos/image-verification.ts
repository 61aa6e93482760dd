import type { LabModel } from "../../model/lab-model";
import { clusterImages, DEMO_IMAGE, registryOf } from "./cluster-images";
import type { TalosDocument } from "./talos-document";

/*
 * Where the lab's signatures live, and why (siderolabs/talos v1.13.9):
 * - Talos looks a signature up in the image's own repository, through the same resolver (registry
 *   mirrors, auth, TLS) as the pull: OCI referrers of the digest first, then the tag `sha256-<hex>`
 *   (a sigstore bundle), then the legacy cosign tag `sha256-<hex>.sig`
 *   (internal/pkg/containers/image/verify/internal/cosign/cosign.go `VerifyImage`). The rule has no
 *   field naming another signature repository (pkg/machinery/config/types/security/image_verification.go).
 * - A bundle tag that exists but does not verify ends the search with an error (`verifyFromBundleTag`
 *   returns verified=true with the error), so an upstream's own bundle reached through a proxy cache
 *   would make the lab's `.sig` unreachable.
 * - Harbor proxy-cache projects take no pushes. So the lab copies each image by digest into a
 *   regular, public Harbor project per upstream (`signed-<upstream>`), signs it there (legacy `.sig`,
 *   no transparency log), and, while verification is on, each upstream's RegistryMirrorConfig points
 *   at that project alone: a node can pull only what the lab mirrored, and finds only the lab's
 *   signatures. Talos checks the signature over the payload but sets no claim verifier
 *   (verify.go `cosignCheckOptsFromRule`), so the digest is bound by the `sha256-<hex>.sig` tag name;
 *   only the lab's mirror step may push to the signed projects.
 */

/** Harbor project (regular, public) holding the lab's signed copies of one upstream's images. */
export function harborSignedProject(upstream: string): string {
  return `signed-${upstream}`;
}

/**
 * Names an upstream repository the way Talos matches rules: go-containerregistry's
 * `Repository.Name()`, which rewrites `docker.io` to `index.docker.io` (pkg/name/registry.go
 * `NewRegistry`); Talos matches `inRef.Context().String()` (verify.go). Docker Hub images get both
 * spellings, so a rule holds whichever Talos's normalisation a release uses.
 */
export function rulePatterns(repository: string): string[] {
  const registry = registryOf(repository);
  if (registry !== "docker.io") return [repository];
  return [repository, `index.docker.io/${repository.slice(registry.length + 1)}`];
}

/** The demo image as the chart names it: the lab's signed copy in Harbor (no public registry name). */
export function signedDemoImage(m: LabModel): string {
  const upstream = registryOf(DEMO_IMAGE.repository);
  return `${m.spec.registry.fqdn}/${harborSignedProject(upstream)}/${DEMO_IMAGE.repository.slice(upstream.length + 1)}:${DEMO_IMAGE.tag}`;
}

/** The installer repository the nodes pull from the internal Image Factory (no tag). */
export function installerRepository(m: LabModel): string {
  return m.imageFactory.installerImage.replace(/:[^:/]+$/, "");
}

/**
 * The lab's ImageVerificationConfig (none while verification is off): first the installer, which
 * the internal Image Factory builds and signs with its own key (`image_factory_signing_key`,
 * delivered to the registry host by its provisioning), verified against the public half
 * `talos.imageVerification.factoryPublicKey`; then one public-key rule per repository the cluster
 * runs (the demo by its Harbor name), with the lab's key; last `*` denied, because Talos allows what
 * no rule matches.
 *
 * Why the installer rule holds (sources in constructs/input/image-signing.ts): the factory
 * (siderolabs/image-factory v1.5.0) signs each installer index it builds in cosign's legacy format
 * (internal/image/signer/key.go `SignImage`, tag `sha256-<hex>.sig` in the installer's repository)
 * and passes that tag and its blobs through its own registry endpoint
 * (internal/frontend/http/registry.go `handleManifest`, `handleBlob`); Talos (v1.13.9) resolves
 * `…:9443/<image>/<schematic>:<version>` to the index digest and finds `sha256-<hex>.sig` in the
 * same repository (verify/internal/cosign/cosign.go `verifyFromLegacySigTag`), for the install and
 * for upgrades alike (internal/pkg/install: both pull through `image.Pull`, which verifies first).
 * The rule comes first: the factory's key signs the installer only, the lab's key everything else.
 */
export function imageVerificationDocuments(m: LabModel): TalosDocument[] {
  if (!m.imageVerification.enabled) return [];
  const patterns = clusterImages(m).flatMap((i) =>
    i.purpose === "demo" ? [signedDemoImage(m).replace(/:[^:/]+$/, "")] : rulePatterns(i.repository),
  );
  const rules = [
    { image: installerRepository(m), publicKey: { certificate: m.imageVerification.factoryPublicKey } },
    // a fresh object per rule: a shared one would be written as a YAML anchor and aliases
    ...[...new Set(patterns)].map((image) => ({ image, publicKey: { certificate: m.imageVerification.publicKey } })),
    { image: "*", deny: true },
  ];
  return [{ apiVersion: "v1alpha1", kind: "ImageVerificationConfig", rules }];
}
