#!/bin/bash
# talos-enclave: prepares one Proxmox node for the lab, over SSH. Run by tofu
# (terraform_data.<node>-prepare in module mgmt, local-exec) on the machine that runs tofu, after
# pfSense exists and before the MGMT hosts' provisioning (which jumps through the node) and the srv
# module's Talos ISO download (which the node fetches from the Image Factory in MGMT); again when
# what it writes changes. Idempotent: a second run changes nothing.
#
# What it makes true on the node:
#   1. a route to the MGMT subnet via pfSense's WAN address, now (ip route replace) and after every
#      boot: a systemd oneshot unit of its own, talos-enclave-<lab>-mgmt-route.service. Not a line
#      in /etc/network/interfaces: Proxmox VE writes network changes from its GUI/API into
#      /etc/network/interfaces.new and applies them with ifupdown2's ifreload (Proxmox VE admin guide,
#      "Network Configuration"), so that file is the GUI's; a unit is not, and survives those edits.
#      (A bridge taken down and up by hand drops the route: then systemctl restart that unit.)
#   2. the lab's names in /etc/hosts, one line per address, each ending in "# talos-enclave <lab>":
#      the script owns those lines (it rewrites them and nothing else), so two runs leave one;
#   3. the lab CA in the node's trust store: /usr/local/share/ca-certificates/talos-enclave-<lab>-ca.crt,
#      then update-ca-certificates (only when the file changed).
#
# Inputs, all from the environment (tofu sets them from the module; nothing is read from arguments):
#   TE_NODE        address (or name) of the node's SSH
#   TE_SSH_USER    login on the node (root, or a user with passwordless sudo)
#   TE_LAB         the lab's name (names the unit, the hosts lines' mark and the CA file)
#   TE_ROUTE_CIDR  the MGMT subnet, a.b.c.d/n
#   TE_ROUTE_VIA   pfSense's WAN address (the pfSense console shows it; root variable firewall_wan_address)
#   TE_HOSTS       the names the node resolves, space-separated ADDRESS=NAME (the registry's)
#   TE_CA          PEM of the lab CA (public)
#   TE_SSH_KEY     optional private key for the node (the provider's proxmox_ssh_private_key): loaded
#                  into an agent of this run only, through standard input, never a file; without it,
#                  this machine's agent (SSH_AUTH_SOCK) or default keys
#   TE_WAIT        optional: seconds to wait for the node's SSH (default 60)
# The node's host key is trusted on first use and checked afterwards (~/.ssh/known_hosts).
set -euo pipefail
umask 077
export LC_ALL=C

die() { echo "prepare-proxmox-node: ${TE_NODE:-?}: $*" >&2; exit 1; }
log() { echo "prepare-proxmox-node: ${TE_NODE:-?}: $*" >&2; }

for v in TE_NODE TE_SSH_USER TE_LAB TE_ROUTE_CIDR TE_ROUTE_VIA TE_CA; do
  [ -n "${!v:-}" ] || die "$v is not set"
done
octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
ipv4="^${octet}(\.${octet}){3}$"
[[ $TE_LAB =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || die "TE_LAB '$TE_LAB' is not a DNS label"
[[ $TE_ROUTE_VIA =~ $ipv4 ]] || die "TE_ROUTE_VIA '$TE_ROUTE_VIA' is not an IPv4 address (set TF_VAR_firewall_wan_address to the WAN address the pfSense console shows)"
[[ $TE_ROUTE_CIDR == */* && ${TE_ROUTE_CIDR%/*} =~ $ipv4 && ${TE_ROUTE_CIDR#*/} =~ ^([0-9]|[12][0-9]|3[0-2])$ ]] || die "TE_ROUTE_CIDR '$TE_ROUTE_CIDR' is not a.b.c.d/n"
hosts_lines=""
read -r -a entries <<< "${TE_HOSTS:-}"
for entry in "${entries[@]}"; do
  address=${entry%%=*}
  name=${entry#*=}
  [[ $address =~ $ipv4 ]] || die "TE_HOSTS entry '$entry': '$address' is not an IPv4 address"
  [[ $name =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$ ]] || die "TE_HOSTS entry '$entry': '$name' is not a DNS name"
  hosts_lines+="$address $name # talos-enclave $TE_LAB"$'\n'
done
case "$TE_CA" in *"-----BEGIN CERTIFICATE-----"*"-----END CERTIFICATE-----"*) ;; *) die "TE_CA is not a PEM certificate" ;; esac
wait_seconds=${TE_WAIT:-60}
case "$wait_seconds" in '' | *[!0-9]*) die "TE_WAIT must be a number of seconds, not '$wait_seconds'" ;; esac

# ── SSH: the provider's key in an agent of this run (through standard input), else this machine's ───
if [ -n "${TE_SSH_KEY:-}" ]; then
  eval "$(ssh-agent -s)" >/dev/null
  trap 'ssh-agent -k >/dev/null 2>&1 || true' EXIT
  printf '%s\n' "$TE_SSH_KEY" | ssh-add -q - || die "ssh-add refused the key in TE_SSH_KEY (proxmox_ssh_private_key)"
fi
ssh_opts=(-o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=accept-new)
run_as=(bash -s)
[ "$TE_SSH_USER" = root ] || run_as=(sudo -n bash -s)

# ── the program the node runs, its values quoted for its shell: nothing of the inputs is re-parsed ──
unit="talos-enclave-${TE_LAB}-mgmt-route.service"
unit_text="[Unit]
Description=talos-enclave ${TE_LAB}: route to MGMT ${TE_ROUTE_CIDR} via pfSense's WAN address
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/ip route replace ${TE_ROUTE_CIDR} via ${TE_ROUTE_VIA}

[Install]
WantedBy=multi-user.target
"
# the PEM without trailing line breaks (a file read into the variable ends with one): written with one
ca_pem=$(printf '%s' "$TE_CA")
program=$(
  printf 'set -euo pipefail\n'
  # TE_ROOT: a folder the node's files live under, for a test's stand-in node only (ssh passes no environment)
  # shellcheck disable=SC2016 # expanded on the node, not here
  printf 'root=${TE_ROOT:-}\n'
  printf 'lab=%q\ncidr=%q\nvia=%q\nunit=%q\nunit_text=%q\nhosts_lines=%q\nca=%q\n' \
    "$TE_LAB" "$TE_ROUTE_CIDR" "$TE_ROUTE_VIA" "$unit" "$unit_text" "$hosts_lines" "$ca_pem"
  cat <<'NODE'
# Writes a file when its content differs; says whether it did.
put() {
  local path=$1 text=$2 mode=$3
  if [ -f "$path" ] && [ "$(cat "$path"; printf x)" = "${text}x" ]; then return 1; fi
  mkdir -p "$(dirname "$path")"
  printf '%s' "$text" > "$path.talos-enclave.tmp"
  chmod "$mode" "$path.talos-enclave.tmp"
  mv -f "$path.talos-enclave.tmp" "$path"
}
# 1. the route, now and at every boot
if put "$root/etc/systemd/system/$unit" "$unit_text" 0644; then
  systemctl daemon-reload
  echo "wrote /etc/systemd/system/$unit"
fi
systemctl enable --quiet "$unit"
ip route replace "$cidr" via "$via"
# 2. the lab's lines in /etc/hosts: every other line kept as it is, this lab's written once
hosts=$root/etc/hosts
touch "$hosts"
kept=$(grep -v -E -e "# talos-enclave ${lab}\$" "$hosts" || true)
want="${kept:+$kept
}$hosts_lines"
if [ "$(cat "$hosts"; printf x)" != "${want}x" ]; then
  printf '%s' "$want" > "$hosts.talos-enclave.tmp"
  cat "$hosts.talos-enclave.tmp" > "$hosts"
  rm -f "$hosts.talos-enclave.tmp"
  echo "wrote the lab's lines in /etc/hosts"
fi
# 3. the lab CA in the trust store
if put "$root/usr/local/share/ca-certificates/talos-enclave-$lab-ca.crt" "$ca"$'\n' 0644; then
  update-ca-certificates >/dev/null
  echo "added the lab CA to the trust store"
fi
NODE
)

# ── the node answers ─────────────────────────────────────────────────────────────────────────────────
target="${TE_SSH_USER}@${TE_NODE}"
waited=0
until out=$(ssh "${ssh_opts[@]}" "$target" true 2>&1); do
  case "$out" in
    *"IDENTIFICATION HAS CHANGED"* | *"Host key verification failed"*)
      die "the host key of $TE_NODE changed: check it, then ssh-keygen -R $TE_NODE and apply again" ;;
  esac
  [ "$waited" -lt "$wait_seconds" ] || die "no SSH answer after ${wait_seconds}s (does $TE_SSH_USER's key match the provider's?): $out"
  sleep 5
  waited=$((waited + 5))
done
# shellcheck disable=SC2029 # a fixed command (bash -s, or through sudo): the program comes on standard input
printf '%s\n' "$program" | ssh "${ssh_opts[@]}" "$target" "${run_as[*]}" >&2 || die "the preparation failed on the node (its output is above)"
log "route to $TE_ROUTE_CIDR via $TE_ROUTE_VIA, ${#entries[@]} hosts line(s), the lab CA: in place"
