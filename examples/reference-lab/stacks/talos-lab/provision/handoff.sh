#!/bin/bash
# talos-enclave: hands the stack to the runner, once, at the end of the bootstrap. Run by tofu
# (terraform_data.runner-handoff, local-exec) on the machine outside the lab that ran the first
# applies, by `tofu apply -target=terraform_data.runner-handoff` after `tofu apply -target=module.mgmt`
# has finished, so the state it copies is complete: while only this resource's provisioner runs, no
# other resource changes and tofu writes no state snapshot (OpenTofu internal/backend/local/
# hook_state.go persists only on a resource's state update; internal/tofu/node_resource_apply_instance.go
# writes this resource's state before and after its provisioners, never during them).
#
# What it copies, over SSH to the runner (directly, else through its Proxmox node with ssh -J):
#   - the output folder that holds this stack, without any .terraform folder, to the same place under
#     the runner's home (tar over the SSH session; the runner's own .terraform is left alone);
#   - the local state file, when the backend is local, to the same place relative to the stack, so the
#     backend's relative path holds there too; it refuses to replace a different state already there
#     (tofu runs on the runner after the hand-off: the copy here is the stale one);
#   - ~/secrets/tofu.env (0600, in ~/secrets made 0700): `export TF_VAR_<name>=<value>` for every root
#     variable, each value single-quoted for the shell, then the backend's credentials that are set
#     here, then TF_VAR_<guard>=false, so tofu on the runner never plans this hand-off again;
#   - ~/secrets/id_ed25519 (0600), the Proxmox SSH key, when the stack reads it from a variable.
# Every value travels on the SSH session's standard input: never an argument, never a file here.
#
# Inputs, all from the environment (tofu sets them from the root module; nothing is read from arguments):
#   TE_HANDOFF_HOST       address of the runner
#   TE_HANDOFF_USER       login on the runner (a key of admin_ssh_public_keys, passwordless sudo)
#   TE_HANDOFF_JUMP       optional user@address to jump through (ssh -J): the runner's Proxmox node
#   TE_HANDOFF_STACK      this stack's folder relative to the folder that holds the output folder,
#                         e.g. cdktf.out/stacks/<lab>; tofu runs here, so it is how this folder ends
#   TE_HANDOFF_STATE      the local state file relative to this folder; empty for a remote backend
#   TE_HANDOFF_VARIABLES  root variable names, space-separated; the value of each is TE_VAR_<name>
#   TE_HANDOFF_BACKEND    names of the backend's credential variables, space-separated, copied when set
#   TE_HANDOFF_GUARD      the root variable that switches this hand-off off (written false)
#   TE_HANDOFF_SSH_KEY    optional: the root variable whose value is written to ~/secrets/id_ed25519
#   TE_WAIT               optional: seconds to wait for the runner's SSH (default 900)
set -euo pipefail
umask 077
export LC_ALL=C

die() { echo "handoff: $*" >&2; exit 1; }
log() { echo "handoff: $*" >&2; }

[ -n "${TE_HANDOFF_HOST:-}" ] || die "TE_HANDOFF_HOST is not set"
[ -n "${TE_HANDOFF_USER:-}" ] || die "TE_HANDOFF_USER is not set"
[ -n "${TE_HANDOFF_STACK:-}" ] || die "TE_HANDOFF_STACK is not set"
[ -n "${TE_HANDOFF_GUARD:-}" ] || die "TE_HANDOFF_GUARD is not set"
wait_seconds=${TE_WAIT:-900}
case "$wait_seconds" in '' | *[!0-9]*) die "TE_WAIT must be a number of seconds, not '$wait_seconds'" ;; esac
name_re='^[A-Za-z_][A-Za-z0-9_]*$'
path_ok() { case "$1" in '' | /* | *[!A-Za-z0-9._/-]*) return 1 ;; esac; }
path_ok "$TE_HANDOFF_STACK" || die "TE_HANDOFF_STACK '$TE_HANDOFF_STACK' must be a relative path of letters, digits and . _ - /"
case "/$TE_HANDOFF_STACK/" in */../* | */./*) die "TE_HANDOFF_STACK '$TE_HANDOFF_STACK' must not climb" ;; esac
[[ $TE_HANDOFF_GUARD =~ $name_re ]] || die "TE_HANDOFF_GUARD '$TE_HANDOFF_GUARD' is not a variable name"

# ── where the output folder is: this folder ends with TE_HANDOFF_STACK ──────────────────────────────
here=$(pwd -P)
case "$here" in */"$TE_HANDOFF_STACK") ;; *) die "this folder ($here) does not end with $TE_HANDOFF_STACK: run tofu in the stack's folder" ;; esac
base=${here%/"$TE_HANDOFF_STACK"}
tree=${TE_HANDOFF_STACK%%/*}

# ── the state file, when local: where it is relative to the folder that holds the output folder ─────
state_rel=""
if [ -n "${TE_HANDOFF_STATE:-}" ]; then
  [ -f "$TE_HANDOFF_STATE" ] || die "the local state $TE_HANDOFF_STATE is missing: apply module.mgmt first (tofu apply -target=module.mgmt)"
  state_dir=$(cd "$(dirname "$TE_HANDOFF_STATE")" && pwd -P)
  state_abs="$state_dir/$(basename "$TE_HANDOFF_STATE")"
  case "$state_abs" in
    "$base"/*) state_rel=${state_abs#"$base"/} ;;
    *) die "the local state $state_abs is outside $base, which holds the output folder: the runner could not find it at the same relative path (keep it beside the output folder, or use a remote backend)" ;;
  esac
  path_ok "$state_rel" || die "the state's path $state_rel has characters the hand-off does not copy (letters, digits and . _ - / only)"
fi

# ── tofu.env, in memory: every root variable, the backend's credentials, the guard off ─────────────
# A value is single-quoted (POSIX: the shell expands nothing inside, and ' is written '\''), so quotes,
# $, backquotes and newlines come back as they were when the file is sourced.
quote() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }
env_text="# written by the talos-enclave hand-off (terraform_data.runner-handoff); source it before tofu: . ~/secrets/tofu.env"$'\n'
read -r -a variables <<< "${TE_HANDOFF_VARIABLES:-}"
[ "${#variables[@]}" -gt 0 ] || die "TE_HANDOFF_VARIABLES names no root variable"
for name in "${variables[@]}"; do
  [[ $name =~ $name_re ]] || die "TE_HANDOFF_VARIABLES: '$name' is not a variable name"
  [ "$name" != "$TE_HANDOFF_GUARD" ] || die "TE_HANDOFF_VARIABLES names the guard $name, which the hand-off writes itself"
  env_name="TE_VAR_$name"
  [ -n "${!env_name+set}" ] || die "$env_name is not set: the value of the root variable $name (set TF_VAR_$name and apply again)"
  env_text+="export TF_VAR_$name=$(quote "${!env_name}")"$'\n'
done
read -r -a backend <<< "${TE_HANDOFF_BACKEND:-}"
for name in "${backend[@]}"; do
  [[ $name =~ $name_re ]] || die "TE_HANDOFF_BACKEND: '$name' is not a variable name"
  if [ -n "${!name+set}" ]; then
    env_text+="export $name=$(quote "${!name}")"$'\n'
  else
    log "$name is not set here: not written to tofu.env"
  fi
done
env_text+="export TF_VAR_$TE_HANDOFF_GUARD=false"$'\n'
key_text=""
if [ -n "${TE_HANDOFF_SSH_KEY:-}" ]; then
  [[ $TE_HANDOFF_SSH_KEY =~ $name_re ]] || die "TE_HANDOFF_SSH_KEY '$TE_HANDOFF_SSH_KEY' is not a variable name"
  key_env="TE_VAR_$TE_HANDOFF_SSH_KEY"
  [ -n "${!key_env:-}" ] || die "$key_env is empty: the SSH key the runner's tofu uses (set TF_VAR_$TE_HANDOFF_SSH_KEY)"
  key_text=${!key_env}
  # ssh-add wants the key file to end with a newline
  [ "${key_text: -1}" = $'\n' ] || key_text+=$'\n'
fi

# ── SSH to the runner, directly, else through its Proxmox node ──────────────────────────────────────
ssh_opts=(-o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=15 -o StrictHostKeyChecking=accept-new)
target="${TE_HANDOFF_USER}@${TE_HANDOFF_HOST}"
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
reach_host "$TE_HANDOFF_HOST" "${TE_HANDOFF_JUMP:-}" "is $TE_HANDOFF_HOST up, and is a key of admin_ssh_public_keys in your agent?"
if [ "$jumping" = 1 ]; then log "reached $TE_HANDOFF_HOST through $TE_HANDOFF_JUMP"; else log "reached $TE_HANDOFF_HOST"; fi
# tofu, talosctl, kubectl and helm arrive with the runner's cloud-init
remote sudo cloud-init status --wait > /dev/null < /dev/null || log "cloud-init reports an error on the runner; handing over anyway"

# ── the state first, once: never over a different one (tofu may have run there since) ─────────────
# Compared before anything is written, so a hand-off that comes too late leaves the runner as it was.
copy_state=0
if [ -n "$state_rel" ]; then
  ours=$(sha256sum < "$state_abs" | cut -d' ' -f1)
  # shellcheck disable=SC2016 # "$1" and "$HOME" are expanded on the runner
  theirs=$(remote sh -c 'if [ -e "$HOME/$1" ]; then sha256sum < "$HOME/$1" | cut -d" " -f1; fi' sh "$state_rel" < /dev/null)
  if [ -z "$theirs" ]; then
    copy_state=1
  elif [ "$theirs" = "$ours" ]; then
    log "the runner already has this state at ~/$state_rel"
  else
    die "the runner has a different state at ~/$state_rel: tofu has run there since the hand-off, so this copy is stale and nothing was copied (change a variable on the runner in ~/secrets/tofu.env); remove that state there only if you mean to replace it"
  fi
fi

# ── the runner's secrets files: replaced only where the hand-off wrote them ──────────────────────────
# tofu.env carries the hand-off's first line; an id_ed25519 it did not write (another key) stays.
env_head=${env_text%%$'\n'*}
# shellcheck disable=SC2016 # "$1" and "$HOME" are expanded on the runner
env_theirs=$(remote sh -c 'if [ -e "$HOME/secrets/tofu.env" ]; then head -n 1 "$HOME/secrets/tofu.env"; else echo absent; fi' sh < /dev/null)
[ "$env_theirs" = absent ] || [ "$env_theirs" = "$env_head" ] ||
  die "the runner's ~/secrets/tofu.env was not written by the hand-off (its first line differs): move it away there, then apply again"
if [ -n "$key_text" ]; then
  key_ours=$(printf '%s' "$key_text" | sha256sum | cut -d' ' -f1)
  # shellcheck disable=SC2016 # expanded on the runner
  key_theirs=$(remote sh -c 'if [ -e "$HOME/secrets/id_ed25519" ]; then sha256sum < "$HOME/secrets/id_ed25519" | cut -d" " -f1; fi' < /dev/null)
  [ -z "$key_theirs" ] || [ "$key_theirs" = "$key_ours" ] ||
    die "the runner's ~/secrets/id_ed25519 is another key than proxmox_ssh_private_key: move it away there (or set the variable to it), then apply again"
fi

# ── the tree, without .terraform and without any state file (the state goes its own way above) ──────
# shellcheck disable=SC2016 # "$HOME" is the runner's, expanded there
tar -C "$base" --exclude=.terraform --exclude='*.tfstate' --exclude='*.tfstate.*' --exclude='.terraform.tfstate.lock.info' -cf - "$tree" |
  remote sh -c 'cd "$HOME" && tar -xf -'
log "copied $tree (without .terraform and state files) to ~/$tree"
if [ "$copy_state" = 1 ]; then
  # shellcheck disable=SC2016 # expanded on the runner
  remote sh -c 'umask 077 && mkdir -p "$HOME/$(dirname "$1")" && cat > "$HOME/$1.handoff" && mv -f "$HOME/$1.handoff" "$HOME/$1"' sh "$state_rel" < "$state_abs"
  log "copied the state to ~/$state_rel"
fi

# ── the variables and the key, on standard input ─────────────────────────────────────────────────────
# shellcheck disable=SC2016 # expanded on the runner
printf '%s' "$env_text" | remote sh -c 'umask 077 && mkdir -p "$HOME/secrets" && chmod 700 "$HOME/secrets" && cat > "$HOME/secrets/.tofu.env.new" && chmod 600 "$HOME/secrets/.tofu.env.new" && mv -f "$HOME/secrets/.tofu.env.new" "$HOME/secrets/tofu.env"'
log "wrote ~/secrets/tofu.env (${#variables[@]} variables)"
if [ -n "$key_text" ]; then
  # shellcheck disable=SC2016 # expanded on the runner
  printf '%s' "$key_text" | remote sh -c 'umask 077 && cat > "$HOME/secrets/.id_ed25519.new" && chmod 600 "$HOME/secrets/.id_ed25519.new" && mv -f "$HOME/secrets/.id_ed25519.new" "$HOME/secrets/id_ed25519"'
  log "wrote ~/secrets/id_ed25519"
fi
log "done: from now on run tofu on the runner only (. ~/secrets/tofu.env first); the copy here is stale"
