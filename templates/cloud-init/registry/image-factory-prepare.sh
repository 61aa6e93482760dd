#!/bin/bash
# talos-enclave: prepares the Talos Image Factory (ExecStartPre of image-factory.service). Idempotent.
#  - the cache signing key (ECDSA P-256) is made once on this host and never leaves it;
#  - the Harbor robot credentials come from harbor-bootstrap.service; without them the factory
#    cannot store schematics, so the start fails and systemd tries again.
set -euo pipefail

DIR=/etc/talos-enclave/image-factory
KEY="$DIR/cache-signing-key.pem"
DOCKER_CONFIG_FILE="$DIR/docker/config.json"

# tls/ is the mount point of the certificate directory inside the read-only config mount.
install -d -m 0755 "$DIR" "$DIR/tls" /var/lib/image-factory/tmp
if [ ! -s "$KEY" ]; then
  (umask 077 && openssl ecparam -name prime256v1 -genkey -noout -out "$KEY.tmp" && mv "$KEY.tmp" "$KEY")
fi
if [ ! -s "$DOCKER_CONFIG_FILE" ]; then
  echo "image-factory: $DOCKER_CONFIG_FILE is missing; harbor-bootstrap.service creates it" >&2
  exit 1
fi
