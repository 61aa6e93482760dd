#!/bin/bash
# talos-enclave: delivers to one lab host, over SSH, what its cloud-init snippet must not carry.
# Run by tofu (terraform_data.<host>-provision, local-exec) on the machine that runs tofu, after the
# host's VM is created, and again when the VM is replaced or what it writes changes, and, for a host
# with service account tokens (TE_TOKENS), in each new renewal window; idempotent. (What
# rotating each secret takes besides a new value: the stack README, "Where each secret lives".)
#
# Why: the snippet is a file on the Proxmox snippet datastore, so it holds no secret; and a DMZ host
# opens no connection into MGMT, so the packages and images it needs are pushed to it from here.
#
# Inputs, all from the environment (tofu sets them from the module; nothing is read from arguments):
#   TE_HOST      address of the host
#   TE_USER      login on the host (passwordless sudo, one of admin_ssh_public_keys)
#   TE_JUMP      optional user@address to jump through (ssh -J), the host's Proxmox node: used when the
#                host does not answer directly (outside the lab, in the bootstrap)
#   TE_PACKAGES  Ubuntu packages to install on the host, space-separated; resolved against the host's
#                dpkg status and downloaded here (same Ubuntu release), installed there offline
#   TE_IMAGES    images to copy from the lab registry into the host's podman store, space-separated
#   TE_FILES     files to write, in order, space-separated NAME=PATH:MODE:USER:GROUP; the content of
#                each is the environment variable TE_FILE_<NAME in upper case>, sent on standard input
#                (secrets among them: never an argument, never a file here); an empty value writes
#                nothing (a variable set later triggers a new run)
#   TE_TOKENS    kubeconfigs with a bounded service account token to write after the files,
#                space-separated NAMESPACE/SERVICEACCOUNT:HOURS:PATH:MODE:USER:GROUP:SERVER; each token is
#                minted here with the TokenRequest API (kubectl create token --duration), the
#                kubeconfig (SERVER, the cluster CA, the token) is built in memory and sent on standard
#                input like a secret
#   TE_KUBECONFIG  the cluster's admin kubeconfig that mints them (needed with TE_TOKENS); kubectl reads
#                it through a pipe (process substitution), never from a file or an argument
#   TE_PASSWORDS account passwords to set after the tokens, space-separated NAME=USER; the password is
#                the environment variable TE_PASSWORD_<NAME in upper case>, sent as USER:PASSWORD on
#                standard input to chpasswd on the host, which keeps only its hash; an empty value sets
#                nothing (a variable set later triggers a new run)
#   TE_START     systemd units to restart at the end, space-separated
#   TE_WAIT      optional: seconds to wait for the host's SSH (default 900)
# SSH authenticates with this machine's agent or default keys (a key of admin_ssh_public_keys; for the
# jump, root's key on the Proxmox node). A host key is trusted on first use and checked afterwards
# (~/.ssh/known_hosts): after a deliberate re-creation of a VM, remove its old key with
# `ssh-keygen -R <address>` (the script stops at once with that hint when the key changed).
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
target="${TE_USER}@${TE_HOST}"

# Runs one command on the host, each argument quoted for the remote shell: nothing here is re-parsed there.
remote() {
  local quoted
  quoted=$(printf '%q ' "$@")
  # shellcheck disable=SC2029 # quoted here on purpose, so the remote shell reads each argument as one word
  ssh "${ssh_opts[@]}" "$target" "$quoted"
}
# Tries the host once; a changed host key stops everything at once (waiting would not help).
try_ssh() {
  local out
  if out=$(remote true 2>&1 < /dev/null); then return 0; fi
  case "$out" in
    *"IDENTIFICATION HAS CHANGED"* | *"Host key verification failed"*)
      die "the host key of $1 changed (a re-created VM?): check it, then ssh-keygen -R $1 and apply again" ;;
  esac
  last_error=$out
  return 1
}
# reach_host HOST JUMP HINT: waits up to wait_seconds for HOST's SSH, directly, else (JUMP not empty)
# through JUMP (ssh -J, added to ssh_opts from then on); sets jumping=1 when it went through JUMP.
# HINT says what to check when no answer comes.
reach_host() {
  local host=$1 jump=$2 hint=$3 waited=0
  last_error=""
  jumping=0
  until try_ssh "$host"; do
    if [ "$jumping" = 0 ] && [ -n "$jump" ]; then
      # not reachable from here directly (outside the lab): through the Proxmox node from now on
      ssh_opts+=(-J "$jump")
      jumping=1
      continue
    fi
    [ "$waited" -lt "$wait_seconds" ] || die "no SSH answer after ${wait_seconds}s ($hint): ${last_error}"
    sleep 10
    waited=$((waited + 10))
  done
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

# ── the host answers (directly, else through the jump host), and cloud-init has written its files ──────
reach_host "$TE_HOST" "${TE_JUMP:-}" "is the VM up, and is this machine's key in admin_ssh_public_keys?"
if [ "$jumping" = 1 ]; then log "reached over SSH through $TE_JUMP"; else log "reached over SSH"; fi
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
  if remote sudo podman image exists -- "$name"; then
    log "image present: $name"
    continue
  fi
  log "copying $image"
  rm -f "$work/image.tar"
  skopeo copy --quiet -- "docker://$image" "docker-archive:$work/image.tar:$name"
  upload "$inbox" "$work/image.tar"
  remote sudo podman load --quiet --input "$inbox/image.tar" >/dev/null
  remote rm -f "$inbox/image.tar"
done

# ── files and secrets: each content goes through the SSH session's standard input into its file ─────
read -r -a files <<< "${TE_FILES:-}"
for entry in "${files[@]}"; do
  name=${entry%%=*}
  IFS=: read -r path mode user group <<< "${entry#*=}"
  if [ -z "$name" ] || [ -z "$path" ] || [ -z "$mode" ] || [ -z "$user" ] || [ -z "$group" ]; then
    die "TE_FILES entry '$entry' is not NAME=PATH:MODE:USER:GROUP"
  fi
  case "$path$mode$user$group" in -* | *[!A-Za-z0-9._/-]*) die "TE_FILES entry '$entry' has characters a path, mode or owner cannot have" ;; esac
  env_name="TE_FILE_${name^^}"
  [ -n "${!env_name+set}" ] || die "$env_name is not set (the content of $path)"
  if [ -z "${!env_name}" ]; then
    log "${name#_} is empty: $path not written (set TF_VAR_$name and apply again)"
    continue
  fi
  printf '%s' "${!env_name}" | remote sudo install -D -m "$mode" -o "$user" -g "$group" -- /dev/stdin "$path"
  log "wrote $path ($mode $user:$group)"
done

# ── service account tokens: minted here for a bounded time, each kubeconfig sent on standard input ──
read -r -a tokens <<< "${TE_TOKENS:-}"
if [ "${#tokens[@]}" -gt 0 ]; then
  [ -n "${TE_KUBECONFIG:-}" ] || die "TE_KUBECONFIG is not set: the cluster's admin kubeconfig (the srv module's kubeconfig output) mints the tokens TE_TOKENS names"
  command -v kubectl >/dev/null || die "kubectl is not installed here: it mints the tokens TE_TOKENS names"
  # the admin kubeconfig reaches kubectl through a pipe: never a file here, never an argument
  ca=$(kubectl config view --raw --minify --kubeconfig <(printf '%s' "$TE_KUBECONFIG") -o 'jsonpath={.clusters[0].cluster.certificate-authority-data}') ||
    die "kubectl cannot read the admin kubeconfig in TE_KUBECONFIG"
  [ -n "$ca" ] || die "the admin kubeconfig in TE_KUBECONFIG names no certificate-authority-data"
  case "$ca" in *[!A-Za-z0-9+/=]*) die "the cluster CA in TE_KUBECONFIG is not base64" ;; esac
fi
label='^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
for entry in "${tokens[@]}"; do
  IFS=: read -r account hours path mode user group server <<< "$entry"
  namespace=${account%%/*}
  sa=${account#*/}
  [[ $namespace =~ $label && $sa =~ $label ]] || die "TE_TOKENS entry '$entry': the namespace and service account must be DNS labels"
  case "$hours" in '' | *[!0-9]*) die "TE_TOKENS entry '$entry': HOURS must be a whole number" ;; esac
  if [ "$hours" -lt 1 ] || [ "$hours" -gt 8760 ]; then die "TE_TOKENS entry '$entry': a token lives 1-8760 hours, not $hours"; fi
  if [ -z "$path" ] || [ -z "$mode" ] || [ -z "$user" ] || [ -z "$group" ]; then
    die "TE_TOKENS entry '$entry' is not NAMESPACE/SERVICEACCOUNT:HOURS:PATH:MODE:USER:GROUP:SERVER"
  fi
  case "$path$mode$user$group" in -* | *[!A-Za-z0-9._/-]*) die "TE_TOKENS entry '$entry' has characters a path, mode or owner cannot have" ;; esac
  [[ $server =~ ^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?$ ]] || die "TE_TOKENS entry '$entry': SERVER must be https://<host>[:port]"
  token=$(kubectl create token "$sa" --namespace "$namespace" --duration "${hours}h" --kubeconfig <(printf '%s' "$TE_KUBECONFIG")) ||
    die "kubectl could not mint a token for $namespace/$sa (is the API up, and does the service account exist?)"
  case "$token" in '' | *[!A-Za-z0-9._-]*) die "the TokenRequest API answered no token for $namespace/$sa" ;; esac
  # printf is the shell's own: the token is never an argument of a program
  printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: cluster\n  cluster:\n    server: %s\n    certificate-authority-data: %s\nusers:\n- name: %s\n  user:\n    token: %s\ncontexts:\n- name: default\n  context:\n    cluster: cluster\n    namespace: %s\n    user: %s\ncurrent-context: default\n' \
    "$server" "$ca" "$sa" "$token" "$namespace" "$sa" | remote sudo install -D -m "$mode" -o "$user" -g "$group" -- /dev/stdin "$path"
  unset token
  log "wrote $path ($mode $user:$group): a token of $namespace/$sa for ${hours}h"
done

# ── passwords: USER:PASSWORD through the SSH session's standard input into chpasswd (hash only there) ─
read -r -a passwords <<< "${TE_PASSWORDS:-}"
for entry in "${passwords[@]}"; do
  name=${entry%%=*}
  user=${entry#*=}
  if [ -z "$name" ] || [ -z "$user" ] || [ "$name" = "$entry" ]; then die "TE_PASSWORDS entry '$entry' is not NAME=USER"; fi
  case "$user" in -* | *[!a-z0-9_-]*) die "TE_PASSWORDS entry '$entry': USER must be a login name" ;; esac
  env_name="TE_PASSWORD_${name^^}"
  [ -n "${!env_name+set}" ] || die "$env_name is not set (the password of $user)"
  if [ -z "${!env_name}" ]; then
    log "$name is empty: the password of $user is not set (set TF_VAR_$name and apply again)"
    continue
  fi
  case "${!env_name}" in *$'\n'* | *$'\r'*) die "$name holds a line break, which chpasswd cannot take: the password of $user is not set" ;; esac
  # printf is the shell's own: the password is never an argument of a program
  printf '%s:%s\n' "$user" "${!env_name}" | remote sudo chpasswd
  log "set the password of $user (chpasswd; the host keeps its hash)"
done

# ── services that waited for what came above ─────────────────────────────────────────────────────────
read -r -a units <<< "${TE_START:-}"
if [ "${#units[@]}" -gt 0 ]; then
  remote sudo systemctl daemon-reload
  remote sudo systemctl restart --no-block -- "${units[@]}"
  log "restarted ${units[*]}"
fi
log "done"
