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
