/**
 * Facts about Talos image signature verification, with their sources (siderolabs/talos).
 *
 * - The `ImageVerificationConfig` document (`security.ImageVerificationConfigV1Alpha1`,
 *   pkg/machinery/config/types/security/image_verification.go) was added by commit 7f2eb4856
 *   ("feat: add image verification endpoint", 2026-01-15); the first release tag holding it is
 *   v1.13.0 (v1.12.11 has no such file). Its Go types are unchanged from v1.13.0 to v1.14.0-rc.1
 *   apart from documentation and validation warnings.
 * - Rules are evaluated in order and the first match applies; a reference no rule matches is
 *   *allowed* ("no matched rule, allowing by default", internal/pkg/containers/image/verify/verify.go
 *   at v1.13.9): a closing `image: "*"` rule with `deny: true` is what refuses everything else.
 * - A `publicKey.certificate` is read with sigstore's `cryptoutils.UnmarshalPEMToPublicKey`, so a
 *   PEM `PUBLIC KEY` (cosign.pub) is what it takes; verification is then offline, with the
 *   transparency log ignored (`Offline: true, IgnoreTlog: true`, verify.go `cosignCheckOptsFromRule`).
 *   Keyless rules need the Sigstore TUF trusted root, which SRV cannot fetch: the lab uses keys.
 *
 * The installer image, from the lab's own Talos Image Factory (siderolabs/image-factory v1.5.0, tag
 * object e4b0a3139fea0f713e85974f97f16fd39498cda8, commit bd13149c37cbb1dc67f865f143fd1ddeedcfd4b5):
 * - `cache.signingKeyPath` is read by cmd/image-factory/cmd/service.go `loadPrivateKey` with sigstore's
 *   `cryptoutils.UnmarshalPEMToPrivateKey(…, cryptoutils.SkipPassword)` (sigstore/sigstore v1.10.9):
 *   an unencrypted PEM `EC PRIVATE KEY` (SEC1, `openssl ecparam -genkey`) or `PRIVATE KEY` (PKCS#8,
 *   `openssl genpkey`) is taken; the encrypted `ENCRYPTED SIGSTORE PRIVATE KEY` of
 *   `cosign generate-key-pair` is not (SkipPassword gives no password, so the sealed bytes are read
 *   as PKCS#8 and fail). docs/configuration.md calls it "the ECDSA key used to sign cached assets";
 *   the project's own chart test key (deploy/helm/e2e/testdata/signing-key.key) is an EC PRIVATE KEY.
 * - It signs each installer *index* it builds with that key in cosign's legacy format
 *   (internal/image/signer/key.go `SignImage`: simple-signing payload, tag `sha256-<hex>.sig` in the
 *   installer's internal repository; internal/frontend/http/registry.go `PublishInstallerIndex`
 *   signs before it pushes the version tag), the legacy format's media type being the OCI image
 *   manifest (sigstore/cosign pkg/oci/empty/signatures.go), which Talos's `.sig` lookup requires.
 * - Its registry endpoint (`:<factoryPort>/v2/<image>/<schematic>/…`) passes every manifest
 *   reference that is no `v…` version tag, `sha256-<hex>.sig` included, and every blob, through to
 *   that internal repository (registry.go `handleManifest` → `handleExternalRegistry`, proxied
 *   because the lab sets no `artifacts.installer.external`: service.go sets
 *   `ProxyInstallerInternalRepository`), so Talos, resolving the installer's tag to the index digest
 *   at the factory, finds the `.sig` tag where it looks: in the same repository.
 * - It serves its public key at `/oci/cosign/signing-key.pub` (registry.go
 *   `handleCosignSigningKeyPub`, PEM `PUBLIC KEY`): a way to check `factoryPublicKey` against the
 *   running factory.
 * - Installer evidence (in-toto referrers that Talos would try first) is published only by the
 *   `enterprise` build (pkg/enterprise/enterprise_off.go returns no publisher); the public image is
 *   built without that tag (.github/workflows/ci.yaml `push-image-factory` runs
 *   `make image-image-factory` without `WITH_ENTERPRISE`).
 * - Talos verifies the installer like any image: `image.Pull` runs `verify.ImageSignature` before
 *   every pull (internal/pkg/containers/image/image.go at v1.13.9, pull.go at v1.14.0-rc.1), and both
 *   the install (internal/pkg/install/install.go `RunInstallerContainer`) and the upgrade request
 *   (pull.go `PullAndValidateInstallerImage`) pull through it.
 */

import { createPublicKey, KeyObject } from "node:crypto";

/** The first Talos minor whose machine configuration knows `ImageVerificationConfig`. */
export const IMAGE_VERIFICATION_SINCE = "v1.13";

/**
 * The reference lab's cosign public key (ECDSA P-256, made once with node's crypto; its private half
 * was never kept). It stands for the operator's own key (`cosign generate-key-pair`, then the
 * content of cosign.pub in `talos.imageVerification.publicKey`): with this one nobody can sign, so a
 * lab that keeps it can pull no image while verification is on.
 */
export const REFERENCE_LAB_COSIGN_PUBLIC_KEY = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEW+ye0/Hw61d72pAMoNPhm2LJxl72
vRGVTVWoOGfajBY9lpwPE7h43FkRL99TSz/3hiwxSR0EQpnFR/QnheW5ww==
-----END PUBLIC KEY-----
`;

/**
 * The public half of the reference lab's Image Factory signing key (ECDSA P-256, made once with node's
 * crypto; its private half was never kept). It stands for the operator's own: the factory signs the
 * installers it builds with the private half (`image_factory_signing_key`), and Talos verifies the
 * installer against this. With this one no factory can sign, so a lab that keeps it installs nothing
 * while verification is on.
 */
export const REFERENCE_LAB_FACTORY_PUBLIC_KEY = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEOQZDYiYeqzp3uA7meI3nwMrZY9Nf
dBE2pqvRhDGxqaXoqh3r0CszPeHbRAjP8UmeckbcFwcQkMaqrMWGhN3uWA==
-----END PUBLIC KEY-----
`;

/** How to make a cosign key pair, for the problem text of `talos.imageVerification.publicKey`. */
/** A PEM block as Go and cosign print it: LF line ends, no blank edges, one trailing newline. */
export function pemText(pem: string): string {
  return `${pem.replace(/\r\n?/g, "\n").trim()}\n`;
}

export const COSIGN_PUBLIC_KEY_HINT =
  "the content of cosign.pub from `cosign generate-key-pair`: -----BEGIN PUBLIC KEY-----, base64, -----END PUBLIC KEY-----";

/** How to make the factory's key pair, for the problem text of `talos.imageVerification.factoryPublicKey`. */
export const FACTORY_PUBLIC_KEY_HINT =
  "the public half of image_factory_signing_key: `openssl ec -in factory-key.pem -pubout` after `openssl ecparam -name prime256v1 -genkey -noout -out factory-key.pem`, -----BEGIN PUBLIC KEY-----, base64, -----END PUBLIC KEY-----";

/**
 * What is wrong with a cosign public key, or undefined: it must be one PEM `PUBLIC KEY` block
 * (what `cryptoutils.UnmarshalPEMToPublicKey` reads) holding an ECDSA key on P-256, the curve
 * `cosign generate-key-pair` makes and the one the lab's signing step uses. `hint` says how to get a
 * right one (default: for the lab's cosign key).
 */
export function cosignPublicKeyProblem(pem: string, hint: string = COSIGN_PUBLIC_KEY_HINT): { rule: string; hint: string } | undefined {
  const blocks = pem.match(/-----BEGIN [A-Z ]+-----/g) ?? [];
  if (blocks.length !== 1 || !/^\s*-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PUBLIC KEY-----\s*$/.test(pem)) {
    return { rule: "must be one PEM public key block", hint };
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: "pem" });
  } catch (e) {
    return { rule: `must be a readable public key (${(e as Error).message})`, hint };
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== "ec" || curve !== "prime256v1") {
    return { rule: `must be an ECDSA P-256 key, not ${key.asymmetricKeyType}${curve ? ` on ${curve}` : ""}`, hint };
  }
  // Go's crypto/x509 ParsePKIXPublicKey, which sigstore's UnmarshalPEMToPublicKey calls, reads the
  // point with elliptic.Unmarshal (crypto/x509/parser.go `parsePublicKey`): uncompressed only. node
  // keeps the point as written; a JWK round trip writes it uncompressed.
  if (!key.export({ type: "spki", format: "der" }).equals(uncompressedSpki(key))) {
    return { rule: "must hold its point uncompressed (Go's x509, which Talos reads it with, refuses a compressed one)", hint };
  }
  return undefined;
}

/**
 * The DER SubjectPublicKeyInfo of an EC public key with its point uncompressed, however the PEM
 * spelled it (`openssl ec -pubout -outform DER -conv_form uncompressed` prints the same bytes).
 */
export function uncompressedSpki(key: KeyObject): Buffer {
  return createPublicKey({ key: key.export({ format: "jwk" }), format: "jwk" }).export({ type: "spki", format: "der" });
}
