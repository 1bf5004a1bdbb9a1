#!/usr/bin/env bash
# wrk against the personal space (login page, account page) and the directory page, each
# for 10 s over 8 connections, on a scratch relay (release build; apt-get install wrk):
#
#   cargo build --release -p caducee -p caducee-bench && benches/scripts/portal-wrk.sh
#
# wrk's connections all come from one address: the anonymous request rate is turned off.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
release=${CARGO_TARGET_DIR:-$top/target}/release
bin=$release/caducee
[[ -x $bin && -x $release/caducee-scratch-config ]] || {
    echo "portal-wrk: no build in $release: cargo build --release -p caducee -p caducee-bench" >&2; exit 1; }
command -v wrk >/dev/null || { echo "portal-wrk: wrk is needed (apt-get install wrk)" >&2; exit 1; }
work=$(mktemp -d /tmp/caducee-wrk.XXXXXX)
mkdir -p "$work/data"
"$release/caducee-scratch-config" --domain relay.test > "$work/data/caducee.toml"
printf '\n[limits]\nhttp_requests_per_ip_per_minute = 0\n' >> "$work/data/caducee.toml"
"$bin" --data-dir "$work/data" serve > "$work/out" 2> "$work/log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "^ready: admin" "$work/out" 2>/dev/null && break; sleep 0.1; done
https=$(awk '$2 == "https" { print $3 }' "$work/out")
password=$("$bin" --data-dir "$work/data" user add --address alice@relay.test --first-name A --last-name B --contact-email c@example.org --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')
P="python3 $top/tests/clients/portal.py --base https://$https --ca $work/data/tls/ca.pem --state $work/jar"
$P login --address alice@relay.test --password "$password" >/dev/null
session=$(grep -o 'caducee_session="[^"]*"' "$work/jar" | cut -d'"' -f2)
echo "== GET /login"
wrk -t2 -c8 -d10s --latency "https://$https/login" | grep -E "Requests/sec|Latency|Non-2xx|Socket errors|requests in|50%|99%"
echo "== GET /account (logged in; each view is an audited read: one durable commit)"
wrk -t2 -c8 -d10s --latency -H "Cookie: caducee_session=$session" "https://$https/account" | grep -E "Requests/sec|Latency|Non-2xx|Socket errors|requests in|50%|99%"
echo "== GET /directory?q=lille"
wrk -t2 -c8 -d10s --latency "https://$https/directory?q=lille" | grep -E "Requests/sec|Latency|Non-2xx|Socket errors|requests in|50%|99%"
