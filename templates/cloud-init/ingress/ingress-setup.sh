#!/bin/bash
# talos-enclave: prepares the DMZ ingress host (talos-enclave-ingress-setup.service). Idempotent.
# No internet here and no connection into MGMT: the runner pushes the packages and the controller
# image over SSH (tofu's provisioning) and restarts this unit once they are in place. Until then it
# only says what it waits for.
set -euo pipefail

IMAGE_ENV="{{image_env}}"
POD_CIDR="{{pod_cidr}}"
GATEWAY="{{gateway}}"

log() { echo "ingress-setup: $*" >&2; }

missing=()
for pkg in qemu-guest-agent nftables podman; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "waiting for the runner's provisioning over SSH: ${missing[*]} not installed yet"
  exit 0
fi

systemctl enable --now qemu-guest-agent
systemctl restart talos-enclave-firewall.service

# The pod route comes from the networkd drop-in; say so loudly if it is not in place.
if ! ip -4 route show "$POD_CIDR" | grep -q "via $GATEWAY"; then
  log "WARNING: no route to $POD_CIDR via $GATEWAY (check the drop-in under /etc/systemd/network)"
fi

install -d -m 0755 /var/lib/haproxy-ingress/etc
IMAGE=$(sed -n 's/^IMAGE=//p' "$IMAGE_ENV" 2>/dev/null || true)
if [ -z "$IMAGE" ] || ! podman image exists -- "$IMAGE"; then
  log "waiting for the runner's provisioning over SSH: no controller image loaded yet ($IMAGE_ENV)"
fi
