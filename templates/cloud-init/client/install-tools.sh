#!/bin/bash
# talos-enclave: installs the operator's CLIs into /usr/local/bin (talos-enclave-tools.service).
# Idempotent: a tool is downloaded only when /usr/local/share/talos-enclave/<tool>.version differs.
# Every download is checked against a SHA-256 before it is installed: a digest pinned in the lab's
# SERVICE_VERSIONS ("sha256:<hex>") or the checksum file the project publishes ("url:<file>").
set -euo pipefail

BIN=/usr/local/bin
STATE=/usr/local/share/talos-enclave
CACHE=/var/cache/talos-enclave
ADMIN="{{admin_user}}"

log() { echo "install-tools: $*" >&2; }

expected_sha256() { # SOURCE NAME
  case "$1" in
    sha256:*) echo "${1#sha256:}" ;;
    url:*) curl -fsSL --retry 5 --retry-delay 5 "${1#url:}" | awk -v f="$2" 'NF == 1 { print $1; exit } $2 == f || $2 == "*" f { print $1; exit }' ;;
    *) return 1 ;;
  esac
}

fetch_verified() { # URL DEST CHECKSUM-SOURCE NAME
  local tmp want
  tmp=$(mktemp "$CACHE/download.XXXXXX")
  curl -fsSL --retry 5 --retry-delay 5 -o "$tmp" "$1"
  want=$(expected_sha256 "$3" "$4" || true)
  if ! [[ "$want" =~ ^[0-9a-f]{64}$ ]]; then
    log "no SHA-256 for $4 from $3"; rm -f "$tmp"; return 1
  fi
  if ! echo "$want  $tmp" | sha256sum --check --status; then
    log "checksum mismatch for $1"; rm -f "$tmp"; return 1
  fi
  mv "$tmp" "$2"
}

current() { cat "$STATE/$1.version" 2>/dev/null || true; }
installed() { echo "$2" > "$STATE/$1.version"; log "$1 $2 installed"; }

install -d -m 0755 "$STATE" "$CACHE"

TALOSCTL_VERSION="{{talosctl_version}}"
if [ "$(current talosctl)" != "$TALOSCTL_VERSION" ] || [ ! -x "$BIN/talosctl" ]; then
  fetch_verified "https://github.com/siderolabs/talos/releases/download/$TALOSCTL_VERSION/talosctl-linux-amd64" \
    "$CACHE/talosctl" "{{talosctl_checksum}}" talosctl-linux-amd64
  install -m 0755 "$CACHE/talosctl" "$BIN/talosctl"
  installed talosctl "$TALOSCTL_VERSION"
fi

KUBECTL_VERSION="{{kubectl_version}}"
if [ "$(current kubectl)" != "$KUBECTL_VERSION" ] || [ ! -x "$BIN/kubectl" ]; then
  fetch_verified "https://dl.k8s.io/release/$KUBECTL_VERSION/bin/linux/amd64/kubectl" \
    "$CACHE/kubectl" "{{kubectl_checksum}}" kubectl
  install -m 0755 "$CACHE/kubectl" "$BIN/kubectl"
  installed kubectl "$KUBECTL_VERSION"
fi

HELM_VERSION="{{helm_version}}"
if [ "$(current helm)" != "$HELM_VERSION" ] || [ ! -x "$BIN/helm" ]; then
  fetch_verified "https://get.helm.sh/helm-$HELM_VERSION-linux-amd64.tar.gz" \
    "$CACHE/helm.tar.gz" "{{helm_checksum}}" "helm-$HELM_VERSION-linux-amd64.tar.gz"
  tar -xzf "$CACHE/helm.tar.gz" -C "$CACHE" linux-amd64/helm
  install -m 0755 "$CACHE/linux-amd64/helm" "$BIN/helm"
  rm -rf "$CACHE/linux-amd64" "$CACHE/helm.tar.gz"
  installed helm "$HELM_VERSION"
fi

# OpenTofu, on the lab's runner only (apply-steps.json): it applies the stack after the bootstrap.
TOFU_VERSION="{{tofu_version}}"
if [ -n "$TOFU_VERSION" ] && { [ "$(current tofu)" != "$TOFU_VERSION" ] || [ ! -x "$BIN/tofu" ]; }; then
  fetch_verified "https://github.com/opentofu/opentofu/releases/download/$TOFU_VERSION/tofu_${TOFU_VERSION#v}_linux_amd64.tar.gz" \
    "$CACHE/tofu.tar.gz" "{{tofu_checksum}}" "tofu_${TOFU_VERSION#v}_linux_amd64.tar.gz"
  install -d -m 0755 "$CACHE/tofu"
  tar -xzf "$CACHE/tofu.tar.gz" -C "$CACHE/tofu" tofu
  install -m 0755 "$CACHE/tofu/tofu" "$BIN/tofu"
  rm -rf "$CACHE/tofu" "$CACHE/tofu.tar.gz"
  installed tofu "$TOFU_VERSION"
fi

# Shell completion for every login.
install -d -m 0755 /etc/bash_completion.d
"$BIN/talosctl" completion bash > /etc/bash_completion.d/talosctl
"$BIN/kubectl" completion bash > /etc/bash_completion.d/kubectl
"$BIN/helm" completion bash > /etc/bash_completion.d/helm

# Where the operator puts the client configurations (see the header of the user-data).
home=$(getent passwd "$ADMIN" | cut -d: -f6)
install -d -m 0700 -o "$ADMIN" -g "$ADMIN" "$home/.talos" "$home/.kube"
