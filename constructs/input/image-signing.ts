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
 * What is wrong with a cosign public key, or undefined: it must be one PEM `PUBLIC KEY` block
 * (what `cryptoutils.UnmarshalPEMToPublicKey` reads) holding an ECDSA key on P-256, the curve
 * `cosign generate-key-pair` makes and the one the lab's signing step uses.
 */
export function cosignPublicKeyProblem(pem: string): { rule: string; hint: string } | undefined {
  const hint = "the content of cosign.pub from `cosign generate-key-pair`: -----BEGIN PUBLIC KEY-----, base64, -----END PUBLIC KEY-----";
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
  return undefined;
}
