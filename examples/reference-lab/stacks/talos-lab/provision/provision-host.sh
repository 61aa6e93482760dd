#!/bin/bash
# talos-enclave: delivers to one lab host, over SSH, what its cloud-init snippet must not carry.
# Run by tofu (terraform_data.<host>-provision, local-exec) on the machine that runs tofu, after the
# host's VM is created; idempotent, so a re-run after a rotated secret or a replaced VM is safe.
#
# Why: the snippet is a file on the Proxmox snippet datastore, so it holds no secret; and a DMZ host
# opens no connection into MGMT, so the packages and images it needs are pushed to it from here.
#
# Inputs, all from the environment (tofu sets them from the module; nothing is read from arguments):
#   TE_HOST      address of the host
#   TE_USER      login on the host (passwordless sudo, one of admin_ssh_public_keys)
#   TE_JUMP      optional user@address to jump through (ssh -J): the host's Proxmox node
#   TE_PACKAGES  Ubuntu packages to install on the host, space-separated; resolved against the host's
#                dpkg status and downloaded here (same Ubuntu release), installed there offline
#   TE_IMAGES    images to copy from the lab registry into the host's podman store, space-separated
#   TE_SECRETS   files to write, space-separated VARIABLE=PATH:MODE:USER:GROUP; the value of each is
#                the environment variable TE_SECRET_<VARIABLE in upper case>, sent on standard input;
#                an empty value writes nothing (a variable set later triggers a new run)
#   TE_START     systemd units to restart at the end, space-separated
#   TE_WAIT      optional: seconds to wait for the host's SSH (default 900)
# SSH authenticates with this machine's agent or default keys. A host key is trusted on first use and
# checked afterwards (~/.ssh/known_hosts): after a deliberate re-creation of a VM, remove its old key
# with `ssh-keygen -R <address>`.
set -euo pipefail
umask 077
export LC_ALL=C

die() { echo "provision-host: ${TE_HOST:-?}: $*" >&2; exit 1; }
log() { echo "provision-host: ${TE_HOST:-?}: $*" >&2; }

[ -n "${TE_HOST:-}" ] || die "TE_HOST is not set"
[ -n "${TE_USER:-}" ] || die "TE_USER is not set"
wait_seconds=${TE_WAIT:-900}
case "$wait_seconds" in '' | *[!0-9]*) die "TE_WAIT must be a number of seconds, not '$wait_seconds'" ;; esac

ssh_opts=(-o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=15 -o StrictHostKeyChecking=accept-new)
if [ -n "${TE_JUMP:-}" ]; then ssh_opts+=(-J "$TE_JUMP"); fi
target="${TE_USER}@${TE_HOST}"

# Runs one command on the host, each argument quoted for the remote shell: nothing here is re-parsed there.
remote() {
  local quoted
  quoted=$(printf '%q ' "$@")
  # shellcheck disable=SC2029 # quoted here on purpose, so the remote shell reads each argument as one word
  ssh "${ssh_opts[@]}" "$target" "$quoted"
}
# Copies local files into a directory on the host.
upload() {
  local dest=$1
  shift
  scp -q "${ssh_opts[@]}" "$@" "$target:$dest/"
}

work=$(mktemp -d)
inbox=""
cleanup() {
  rm -rf "$work"
  if [ -n "$inbox" ]; then remote rm -rf "$inbox" || true; fi
}
trap cleanup EXIT

# ── the host answers, and cloud-init has written its files ───────────────────────────────────────────
waited=0
until remote true 2>/dev/null; do
  [ "$waited" -lt "$wait_seconds" ] || die "no SSH answer after ${wait_seconds}s (is the VM up, and is this machine's key in admin_ssh_public_keys?)"
  sleep 10
  waited=$((waited + 10))
done
log "reached over SSH${TE_JUMP:+ through $TE_JUMP}"
remote sudo cloud-init status --wait >/dev/null || log "cloud-init reports an error on the host; delivering anyway"
inbox=$(remote mktemp -d)

# ── packages: resolved against the host's dpkg status, downloaded here, installed there offline ─────
read -r -a packages <<< "${TE_PACKAGES:-}"
if [ "${#packages[@]}" -gt 0 ]; then
  # shellcheck disable=SC1091 # os-release is the running system's
  here=$(. /etc/os-release && echo "${ID}:${VERSION_CODENAME:-}:$(dpkg --print-architecture)")
  # shellcheck disable=SC2016 # expanded on the host, not here
  there=$(remote sh -c '. /etc/os-release && echo "${ID}:${VERSION_CODENAME:-}:$(dpkg --print-architecture)"')
  [ "$here" = "$there" ] || die "this machine runs $here and the host $there: the packages must come from the same release"
  remote cat /var/lib/dpkg/status > "$work/status"
  mkdir -p "$work/lists/partial" "$work/debs/partial"
  apt_opts=(-q -o Debug::NoLocking=1 -o Dir::State::status="$work/status" -o Dir::State::Lists="$work/lists"
    -o Dir::Cache::archives="$work/debs" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update >/dev/null
  apt-get "${apt_opts[@]}" install --download-only --yes --no-install-recommends "${packages[@]}" >/dev/null
  debs=("$work"/debs/*.deb)
  if [ -e "${debs[0]}" ]; then
    log "installing ${#debs[@]} packages for: ${packages[*]}"
    upload "$inbox" "${debs[@]}"
    # shellcheck disable=SC2016 # "$1" is the inbox, expanded on the host
    remote sudo env DEBIAN_FRONTEND=noninteractive sh -c 'apt-get install --yes --no-download "$1"/*.deb >/dev/null && rm -f "$1"/*.deb' sh "$inbox"
  else
    log "packages already installed: ${packages[*]}"
  fi
fi

# ── images: copied from the lab registry into the host's podman store ────────────────────────────────
read -r -a images <<< "${TE_IMAGES:-}"
for image in "${images[@]}"; do
  name=${image%@*}
  if remote sudo podman image exists "$name"; then
    log "image present: $name"
    continue
  fi
  log "copying $image"
  rm -f "$work/image.tar"
  skopeo copy --quiet "docker://$image" "docker-archive:$work/image.tar:$name"
  upload "$inbox" "$work/image.tar"
  remote sudo podman load --quiet --input "$inbox/image.tar" >/dev/null
  remote rm -f "$inbox/image.tar"
done

# ── secrets: each value goes through the SSH session's standard input into its file ─────────────────
read -r -a secrets <<< "${TE_SECRETS:-}"
for entry in "${secrets[@]}"; do
  variable=${entry%%=*}
  IFS=: read -r path mode user group <<< "${entry#*=}"
  if [ -z "$variable" ] || [ -z "$path" ] || [ -z "$mode" ] || [ -z "$user" ] || [ -z "$group" ]; then
    die "TE_SECRETS entry '$entry' is not VARIABLE=PATH:MODE:USER:GROUP"
  fi
  env_name="TE_SECRET_${variable^^}"
  [ -n "${!env_name+set}" ] || die "$env_name is not set (the value of $variable)"
  if [ -z "${!env_name}" ]; then
    log "$variable is empty: $path not written (set TF_VAR_$variable and apply again)"
    continue
  fi
  printf '%s' "${!env_name}" | remote sudo install -D -m "$mode" -o "$user" -g "$group" /dev/stdin "$path"
  log "wrote $path ($mode $user:$group)"
done

# ── services that waited for what came above ─────────────────────────────────────────────────────────
read -r -a units <<< "${TE_START:-}"
if [ "${#units[@]}" -gt 0 ]; then
  remote sudo systemctl daemon-reload
  remote sudo systemctl restart --no-block "${units[@]}"
  log "restarted ${units[*]}"
fi
log "done"
