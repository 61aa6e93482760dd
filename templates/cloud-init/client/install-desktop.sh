#!/bin/bash
# talos-enclave: the operator's desktop on this client (talos-enclave-desktop.service): xrdp with a light
# Xfce session and a browser (Epiphany: WebKitGTK, whose TLS goes through glib-networking and GnuTLS,
# which trust /etc/ssl/certs/ca-certificates.crt, where cloud-init put the lab CA).
# Pinned: the packages come from the Ubuntu archive as it was at the snapshot below (apt's
# APT::Snapshot, snapshot.ubuntu.com), so every client gets the same versions. They are installed
# once per snapshot (/var/lib/talos-enclave/desktop.snapshot); later security updates come as usual
# (unattended-upgrades). The xrdp settings are made again on every run.
# xrdp: TLS only, no root login, port 3389, the Xfce session. Its users log in with their password:
# the admin user's comes from the provisioning over SSH (client_desktop_password), never from here.
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

SNAPSHOT="{{apt_snapshot}}"
PACKAGES="{{packages}}"
ADMIN="{{admin_user}}"
# TALOS_ENCLAVE_DESKTOP_ROOT: a directory standing in for / (tests only).
ROOT="${TALOS_ENCLAVE_DESKTOP_ROOT:-}"
STATE=$ROOT/var/lib/talos-enclave
XRDP_INI=$ROOT/etc/xrdp/xrdp.ini
SESMAN_INI=$ROOT/etc/xrdp/sesman.ini

log() { echo "install-desktop: $*" >&2; }
die() { log "$*"; exit 1; }

# ── packages, from the snapshot, once per snapshot ───────────────────────────────────────────────────
IFS=, read -r -a packages <<< "$PACKAGES"
install -d -m 0755 "$STATE"
if [ "$(cat "$STATE/desktop.snapshot" 2>/dev/null || true)" != "$SNAPSHOT" ]; then
  # apt maps a source to the snapshot service when its Release file names one (Snapshots:), so the
  # live indexes come first; then the snapshot's, and the install reads only those.
  apt-get -q update >/dev/null
  apt-get -q -o APT::Snapshot="$SNAPSHOT" update >/dev/null || die "apt could not read the snapshot $SNAPSHOT (is it a past time after 20230301T000000Z, and is snapshot.ubuntu.com reachable?)"
  if ! apt-get -q -y -o APT::Snapshot="$SNAPSHOT" -o Dpkg::Options::=--force-confold --no-install-recommends install "${packages[@]}"; then
    apt-get -q update >/dev/null || true
    die "the desktop packages of snapshot $SNAPSHOT do not install here; when apt would have to downgrade, the host's packages are newer than the snapshot: set clientDesktop.aptSnapshot to a later time"
  fi
  # the live indexes again, for the host's own updates
  apt-get -q update >/dev/null || log "apt-get update failed; the host's updates read the indexes at their next run"
  echo "$SNAPSHOT" > "$STATE/desktop.snapshot"
  log "installed from snapshot $SNAPSHOT: ${packages[*]}"
fi
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || die "$p is not installed"
done

# ── xrdp settings: key=value in a section of an ini file, set where it is, added where it is not ─────
ini_set() { # FILE SECTION KEY VALUE
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  awk -v sec="[$2]" -v key="$3" -v val="$4" '
    function put() { if (insec && !done) { print key "=" val; done = 1 } }
    /^\[[^]]*\][ \t]*$/ { put(); insec = ($0 == sec); print; next }
    insec && /^[A-Za-z_][A-Za-z0-9_]*[ \t]*=/ {
      k = $0; sub(/[ \t]*=.*/, "", k)
      if (k == key) { if (!done) { print key "=" val; done = 1 } next }
    }
    { print }
    END { put(); if (!done) { print ""; print sec; print key "=" val } }
  ' "$1" > "$tmp"
  chmod --reference="$1" "$tmp"
  chown --reference="$1" "$tmp"
  mv "$tmp" "$1"
}
ini_get() { # FILE SECTION KEY
  awk -v sec="[$2]" -v key="$3" '
    /^\[[^]]*\][ \t]*$/ { insec = ($0 == sec); next }
    insec && /^[A-Za-z_][A-Za-z0-9_]*[ \t]*=/ { k = $0; sub(/[ \t]*=.*/, "", k); if (k == key) { v = $0; sub(/^[^=]*=[ \t]*/, "", v); print v; exit } }
  ' "$1"
}
require() { # FILE SECTION KEY VALUE
  ini_set "$@"
  [ "$(ini_get "$1" "$2" "$3")" = "$4" ] || die "$1 [$2] $3 is not $4"
}

if [ ! -f "$XRDP_INI" ] || [ ! -f "$SESMAN_INI" ]; then die "xrdp's configuration is missing ($XRDP_INI, $SESMAN_INI)"; fi
# TLS only (no RDP standard security, no negotiation down to it), TLS 1.2 or newer, on 3389
require "$XRDP_INI" Globals port 3389
require "$XRDP_INI" Globals security_layer tls
require "$XRDP_INI" Globals ssl_protocols "TLSv1.2, TLSv1.3"
require "$XRDP_INI" Globals certificate /etc/xrdp/cert.pem
require "$XRDP_INI" Globals key_file /etc/xrdp/key.pem
# root never logs in over RDP
require "$SESMAN_INI" Security AllowRootLogin false

# The certificate: the host's own (ssl-cert's snakeoil pair, made when ssl-cert was installed); its key
# is readable by the ssl-cert group only, which the xrdp user (the daemon runs as it) joins.
if [ ! -e "$ROOT/etc/xrdp/cert.pem" ] || [ ! -e "$ROOT/etc/xrdp/key.pem" ]; then
  [ -e "$ROOT/etc/ssl/private/ssl-cert-snakeoil.key" ] || make-ssl-cert generate-default-snakeoil
  ln -sf /etc/ssl/certs/ssl-cert-snakeoil.pem "$ROOT/etc/xrdp/cert.pem"
  ln -sf /etc/ssl/private/ssl-cert-snakeoil.key "$ROOT/etc/xrdp/key.pem"
fi
if getent passwd xrdp >/dev/null; then usermod -a -G ssl-cert xrdp; fi

# ── the session: Xfce, for the admin user and as the system's session manager ───────────────────────
update-alternatives --set x-session-manager /usr/bin/xfce4-session
home=$(getent passwd "$ADMIN" | cut -d: -f6)
if [ -z "$home" ] || [ ! -d "$ROOT$home" ]; then die "the admin user $ADMIN has no home"; fi
# a new file moved into place: an existing ~/.xsession, a link included, is replaced, never written through
xsession=$(mktemp "$ROOT$home/.xsession.XXXXXX")
printf 'exec xfce4-session\n' > "$xsession"
chmod 0644 "$xsession"
chown "$ADMIN:$(id -gn "$ADMIN")" "$xsession"
mv -f "$xsession" "$ROOT$home/.xsession"

systemctl enable xrdp.service xrdp-sesman.service
systemctl restart xrdp-sesman.service xrdp.service
log "xrdp listens on 3389 (TLS only); log in as $ADMIN with the password the provisioning set"
