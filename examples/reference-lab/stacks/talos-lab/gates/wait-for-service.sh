#!/bin/bash
# talos-enclave: waits until one lab service answers over HTTPS, or gives up with a message that says
# what did not answer and what usually causes it. Run by tofu (terraform_data.<gate>, local-exec) on
# the machine that runs tofu, before the resources that need the service: Harbor before the Talos VMs
# (they install from and pull through it), the Kubernetes API VIP before the Helm releases.
#
# A gate checks that the service answers, nothing more: an HTTP status in TE_GATE_ACCEPT over TLS
# verified against TE_GATE_CA. It sends no credential, and it does not prove the service works.
#
# Inputs, all from the environment (tofu sets them from the module; nothing is read from arguments):
#   TE_GATE_NAME      what is waited for, for the messages, e.g. "Harbor (<the registry's name>)"
#   TE_GATE_URL       the https URL asked
#   TE_GATE_ACCEPT    HTTP statuses that count as answering, space-separated (e.g. "200", "200 401 403")
#   TE_GATE_CA        PEM of the CA the service's certificate chains to (not secret); empty: the
#                     system's trust store
#   TE_GATE_HINT      the likely causes when it does not answer, for the message
#   TE_GATE_TIMEOUT   seconds to wait in all
#   TE_GATE_INTERVAL  optional: seconds between tries (default 10)
#   TE_GATE_JSON      optional KEY=VALUE: the answer also counts only when its body is a JSON object
#                     whose top-level KEY is the string VALUE (Harbor answers its health with HTTP 200
#                     and {"status": "healthy" | "unhealthy", …})
set -euo pipefail
umask 077
export LC_ALL=C

name=${TE_GATE_NAME:-service}
die() { echo "wait-for-service: $name: $*" >&2; exit 1; }
log() { echo "wait-for-service: $name: $*" >&2; }

[ -n "${TE_GATE_URL:-}" ] || die "TE_GATE_URL is not set"
[ -n "${TE_GATE_ACCEPT:-}" ] || die "TE_GATE_ACCEPT is not set"
timeout=${TE_GATE_TIMEOUT:-}
interval=${TE_GATE_INTERVAL:-10}
case "$timeout" in '' | *[!0-9]*) die "TE_GATE_TIMEOUT must be a number of seconds, not '$timeout'" ;; esac
case "$interval" in '' | *[!0-9]* | 0) die "TE_GATE_INTERVAL must be a positive number of seconds, not '$interval'" ;; esac
case "$TE_GATE_URL" in https://*) ;; *) die "TE_GATE_URL must be an https URL, not '$TE_GATE_URL'" ;; esac

tls=()
if [ -n "${TE_GATE_CA:-}" ]; then
  ca=$(mktemp)
  printf '%s\n' "$TE_GATE_CA" > "$ca"
  tls=(--cacert "$ca")
fi

body=$(mktemp)
trap 'rm -f "${ca:-}" "$body"' EXIT
# One try: the HTTP status, or 000 with curl's reason on standard error; the body in $body.
ask() {
  curl --silent --show-error --output "$body" --write-out '%{http_code}' \
    --connect-timeout 5 --max-time 10 --noproxy '*' "${tls[@]}" "$TE_GATE_URL"
}
# Whether the body says what TE_GATE_JSON asks (always, without TE_GATE_JSON).
says() {
  [ -n "${TE_GATE_JSON:-}" ] || return 0
  python3 -c 'import json, sys
key, _, want = sys.argv[1].partition("=")
try:
    doc = json.load(open(sys.argv[2]))
except ValueError:
    sys.exit(1)
sys.exit(0 if isinstance(doc, dict) and doc.get(key) == want else 1)' "$TE_GATE_JSON" "$body"
}

start=$SECONDS
tries=0
last="no answer yet"
while :; do
  tries=$((tries + 1))
  err=$(mktemp)
  status=$(ask 2> "$err") || true
  reason=$(tr '\n' ' ' < "$err")
  reason=${reason% }
  rm -f "$err"
  accepted=0
  for ok in $TE_GATE_ACCEPT; do [ "$status" != "$ok" ] || accepted=1; done
  if [ "$accepted" = 1 ] && says; then
    log "answers at $TE_GATE_URL (HTTP $status) after $((SECONDS - start))s"
    exit 0
  fi
  if [ "${status:-000}" = "000" ]; then
    last="no HTTP answer: ${reason:-curl gave no reason}"
  elif [ "$accepted" = 1 ]; then
    last="HTTP $status, but the body does not say ${TE_GATE_JSON:-}: $(head -c 300 "$body" | tr '\n' ' ')"
  else
    last="HTTP $status (waiting for ${TE_GATE_ACCEPT// / or })"
  fi
  elapsed=$((SECONDS - start))
  if [ "$elapsed" -ge "$timeout" ]; then
    die "did not answer at $TE_GATE_URL within ${timeout}s ($tries tries; last: $last). Likely: ${TE_GATE_HINT:-the service is not up}. Once it answers, run tofu apply again."
  fi
  [ $((tries % 6)) -ne 1 ] || log "waiting for $TE_GATE_URL ($last; ${elapsed}s of ${timeout}s)"
  wait_for=$interval
  [ $((elapsed + wait_for)) -le "$timeout" ] || wait_for=$((timeout - elapsed))
  sleep "$wait_for"
done
