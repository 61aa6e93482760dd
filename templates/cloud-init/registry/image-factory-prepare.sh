#!/bin/bash
# talos-enclave: prepares the Talos Image Factory (ExecStartPre of image-factory.service). Idempotent.
#  - the signing key (ECDSA P-256 PEM) the factory signs its installers with is delivered over SSH by
#    tofu's provisioning after boot (variable image_factory_signing_key): Talos verifies the installer
#    against its public half, which the lab spec names, so it is never made here;
#  - the Harbor robot credentials come from harbor-bootstrap.service; without them the factory
#    cannot store schematics, so the start fails and systemd tries again.
set -euo pipefail

# IMAGE_FACTORY_PREPARE_ROOT: a directory standing in for / (tests only).
ROOT="${IMAGE_FACTORY_PREPARE_ROOT:-}"
DIR=$ROOT/etc/talos-enclave/image-factory
KEY="$DIR/cache-signing-key.pem"
DOCKER_CONFIG_FILE="$DIR/docker/config.json"
# base64 of the DER public key (uncompressed point) Talos verifies the installer against
# (talos.imageVerification.factoryPublicKey); empty while image verification is off.
WANT_PUBLIC_KEY="{{factory_public_key_der}}"

# tls/ is the mount point of the certificate directory inside the read-only config mount.
install -d -m 0755 "$DIR" "$DIR/tls" "$ROOT/var/lib/image-factory/tmp"
if [ ! -s "$KEY" ]; then
  echo "image-factory: $KEY is missing (delivered over SSH by tofu's provisioning after boot; this unit retries until it is there)" >&2
  exit 1
fi
# The factory reads an unencrypted PEM key only (cryptoutils.UnmarshalPEMToPrivateKey with SkipPassword,
# siderolabs/image-factory v1.5.0 cmd/image-factory/cmd/service.go `loadPrivateKey`).
# An empty passphrase makes openssl refuse an encrypted key instead of asking for one.
if ! openssl ec -in "$KEY" -passin pass: -noout 2>/dev/null; then
  echo "image-factory: $KEY is no unencrypted PEM EC key (the encrypted key of cosign generate-key-pair is not read); set image_factory_signing_key to one from: openssl ecparam -name prime256v1 -genkey -noout" >&2
  exit 1
fi
if [ -n "$WANT_PUBLIC_KEY" ]; then
  have=$(openssl ec -in "$KEY" -pubout -outform DER -conv_form uncompressed 2>/dev/null | base64 -w0)
  if [ "$have" != "$WANT_PUBLIC_KEY" ]; then
    echo "image-factory: the public half of $KEY is not talos.imageVerification.factoryPublicKey: Talos would refuse every installer it signs; set image_factory_signing_key to that key's private half (or the spec to its public half: openssl ec -in key.pem -pubout)" >&2
    exit 1
  fi
fi
if [ ! -s "$DOCKER_CONFIG_FILE" ]; then
  echo "image-factory: $DOCKER_CONFIG_FILE is missing; harbor-bootstrap.service creates it" >&2
  exit 1
fi
