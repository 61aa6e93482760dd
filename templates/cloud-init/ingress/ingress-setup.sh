#!/bin/bash
# talos-enclave: prepares the DMZ ingress host (talos-enclave-ingress-setup.service). Idempotent.
# No internet here: packages come through apt-cacher-ng on the registry, the controller image
# through Harbor's proxy cache; both may still be starting when this host boots, so every fetch retries.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

IMAGE="{{controller_image}}"
POD_CIDR="{{pod_cidr}}"
GATEWAY="{{gateway}}"

log() { echo "ingress-setup: $*" >&2; }
retry() {
  local n=0
  until "$@"; do
    n=$((n + 1))
    [ "$n" -lt 90 ] || return 1
    log "retrying in 20s: $*"
    sleep 20
  done
}

missing=()
for pkg in qemu-guest-agent nftables podman; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  retry apt-get update
  retry apt-get install -y "${missing[@]}"
fi

systemctl enable --now qemu-guest-agent
systemctl restart talos-enclave-firewall.service

# The pod route comes from the networkd drop-in; say so loudly if it is not in place.
if ! ip -4 route show "$POD_CIDR" | grep -q "via $GATEWAY"; then
  log "WARNING: no route to $POD_CIDR via $GATEWAY (check the drop-in under /etc/systemd/network)"
fi

install -d -m 0755 /var/lib/haproxy-ingress/etc
retry podman pull --quiet "$IMAGE" >/dev/null
