#!/bin/bash
# talos-enclave: installs Harbor {{harbor_version}} under /opt/harbor and (re)generates its configuration.
# Idempotent: downloads only when /opt/harbor holds another version, runs Harbor's `prepare` only when
# harbor.yml, the certificate or prepare's flags changed. Runs as ExecStartPre of harbor.service.
# Harbor runs with its scanner, Trivy (`prepare --with-trivy`, as the installer's install.sh passes it:
# goharbor/harbor make/install.sh), which keeps its vulnerability database fresh from the internet.
set -euo pipefail

# A directory standing in for / (tests run the script unprivileged); empty on the registry host.
ROOT="${HARBOR_INSTALL_ROOT:-}"

VERSION="{{harbor_version}}"
FQDN="{{fqdn}}"
INSTALLER="harbor-online-installer-$VERSION.tgz"
URL="https://github.com/goharbor/harbor/releases/download/$VERSION/$INSTALLER"
# "sha256:<hex>" (pinned) or "md5url:<md5sum file of the release>" (Harbor publishes MD5 sums only).
CHECKSUM="{{harbor_checksum}}"
CERT=$ROOT/etc/talos-enclave/tls/registry.crt
KEY=$ROOT/etc/talos-enclave/tls/registry.key
ADMIN_PASSWORD_FILE=$ROOT/etc/talos-enclave/secrets/harbor-admin-password
DB_PASSWORD_FILE=$ROOT/etc/talos-enclave/secrets/harbor-db-password
DATA=$ROOT/data/harbor
CACHE=$ROOT/var/cache/talos-enclave
HARBOR=$ROOT/opt/harbor
PREPARE_FLAGS=(--with-trivy)

log() { echo "harbor-install: $*" >&2; }
retry() {
  local n=0
  until "$@"; do
    n=$((n + 1))
    [ "$n" -lt 30 ] || return 1
    sleep 10
  done
}

verify() { # FILE
  case "$CHECKSUM" in
    sha256:*)
      echo "${CHECKSUM#sha256:}  $1" | sha256sum --check --status ;;
    md5url:*)
      local want
      want=$(curl -fsSL --retry 5 "${CHECKSUM#md5url:}" | awk -v f="$INSTALLER" '$2 == f || $2 == "*" f { print $1; exit }')
      [[ "$want" =~ ^[0-9a-f]{32}$ ]] || { log "no checksum for $INSTALLER"; return 1; }
      echo "$want  $1" | md5sum --check --status ;;
    *)
      log "unknown checksum source $CHECKSUM"; return 1 ;;
  esac
}

for f in "$CERT" "$KEY" "$ADMIN_PASSWORD_FILE"; do
  [ -s "$f" ] || { log "$f is missing (delivered over SSH by tofu's provisioning after boot; this unit retries until it is there)"; exit 1; }
done
retry docker info >/dev/null

if [ "$(cat "$HARBOR/.talos-enclave-version" 2>/dev/null || true)" != "$VERSION" ]; then
  install -d -m 0755 "$CACHE"
  if [ ! -s "$CACHE/$INSTALLER" ] || ! verify "$CACHE/$INSTALLER"; then
    rm -f "$CACHE/$INSTALLER.part"
    retry curl -fsSL --retry 5 -o "$CACHE/$INSTALLER.part" "$URL"
    verify "$CACHE/$INSTALLER.part" || { log "checksum mismatch for $URL"; rm -f "$CACHE/$INSTALLER.part"; exit 1; }
    mv "$CACHE/$INSTALLER.part" "$CACHE/$INSTALLER"
  fi
  if [ -f "$HARBOR/docker-compose.yml" ]; then
    log "stopping the running Harbor before the upgrade to $VERSION"
    docker compose --project-directory "$HARBOR" -f "$HARBOR/docker-compose.yml" down || true
  fi
  rm -rf "$HARBOR.new"
  install -d -m 0755 "$HARBOR.new"
  tar -xzf "$CACHE/$INSTALLER" -C "$HARBOR.new" --strip-components=1
  rm -rf "$HARBOR.old"
  if [ -d "$HARBOR" ]; then mv "$HARBOR" "$HARBOR.old"; fi
  mv "$HARBOR.new" "$HARBOR"
  echo "$VERSION" > "$HARBOR/.talos-enclave-version"
fi

# Harbor's database password never leaves this host: made once, kept in a 0600 file.
if [ ! -s "$DB_PASSWORD_FILE" ]; then
  install -d -m 0700 "$(dirname "$DB_PASSWORD_FILE")"
  (umask 077 && openssl rand -hex 24 > "$DB_PASSWORD_FILE")
fi

# harbor.yml from the installer's own template, so keys new in this version keep their defaults.
install -d -m 0755 "$DATA"
umask 077
python3 - "$HARBOR/harbor.yml.tmpl" "$HARBOR/harbor.yml" <<PY
import sys, yaml

src, dst = sys.argv[1], sys.argv[2]
with open(src) as f:
    cfg = yaml.safe_load(f)
with open("$ADMIN_PASSWORD_FILE") as f:
    admin_password = f.read().rstrip("\n")
with open("$DB_PASSWORD_FILE") as f:
    db_password = f.read().strip()
cfg["hostname"] = "$FQDN"
cfg["https"] = {"port": 443, "certificate": "$CERT", "private_key": "$KEY"}
cfg["harbor_admin_password"] = admin_password  # applies on Harbor's first start only
cfg.setdefault("database", {})["password"] = db_password
cfg["data_volume"] = "$DATA"
# Trivy downloads its vulnerability databases (OCI artefacts ghcr.io/aquasecurity/trivy-db and
# trivy-java-db, Harbor's defaults: make/harbor.yml.tmpl) itself whenever they are stale; MGMT reaches
# the internet over 443 (ghcr.io and pkg-containers.githubusercontent.com, trivy.dev/v0.57/docs/advanced/air-gap).
# The template's own defaults already download; set here so that an installer changing them cannot
# leave the lab scanning with a stale database.
trivy = cfg.get("trivy") or {}
trivy["skip_update"] = False
trivy["skip_java_db_update"] = False
cfg["trivy"] = trivy
with open(dst, "w") as f:
    yaml.safe_dump(cfg, f, default_flow_style=False, sort_keys=False)
PY
chmod 0600 "$HARBOR/harbor.yml"

STAMP="$HARBOR/.talos-enclave-prepared"
want=$( { echo "${PREPARE_FLAGS[*]}"; cat "$HARBOR/harbor.yml" "$CERT" "$KEY"; } | sha256sum | cut -d' ' -f1)
if [ ! -f "$HARBOR/docker-compose.yml" ] || [ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]; then
  log "running Harbor's prepare ${PREPARE_FLAGS[*]} for $FQDN"
  (cd "$HARBOR" && retry ./prepare "${PREPARE_FLAGS[@]}")
  echo "$want" > "$STAMP"
fi
