import "reflect-metadata"; // @peculiar/x509 resolves its services through tsyringe, which needs it
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface ServerIdentity {
  readonly certPem: string;
  readonly keyPem: string;
  /** DER of the certificate in unpadded standard base64, as go-plugin expects on the handshake line. */
  readonly certForHandshake: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString("base64");
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * A fresh self-signed EC P-256 certificate for go-plugin's AutoMTLS. Go rejects a server certificate
 * without a SAN, so it names DNS:localhost; it is a CA and allows both TLS roles, as go-plugin's own
 * generated certificates do.
 */
export async function generateServerIdentity(): Promise<ServerIdentity> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString("hex").replace(/^[89a-f]/, "1"),
    name: "CN=localhost, O=talos-enclave simulated provider",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 24 * 3600_000),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.keyCertSign,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "localhost" }]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    certPem: cert.toString("pem") + "\n",
    keyPem: pem("PRIVATE KEY", pkcs8),
    certForHandshake: Buffer.from(cert.rawData).toString("base64").replace(/=+$/, ""),
  };
}
