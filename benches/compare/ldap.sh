#!/usr/bin/env bash
# LDAP side by side: Caducée's directory against OpenLDAP's slapd (mdb backend, equality
# and substring indexes on the searched attributes), both holding the same entries — the
# LDIF Caducée exports — searched by the same client (caducee-ldapbench) with the same mix
# over LDAPS on this machine's loopback: Caducée's directory answers over TLS only, so
# slapd serves TLS too, with the relay's certificate, and both pay for the same handshakes
# and records. Run by hand as root on a Debian machine:
#
#   cargo build --release -p caducee -p caducee-bench
#   sudo benches/compare/ldap.sh [ENTRIES] [CONNECTIONS] [SECONDS]
#
# A quick check that the script still runs end to end: `sudo benches/compare/ldap.sh 200 2 2`
# (CADUCEE_BIN=<folder> takes the binaries from another build, a debug one say;
# CADUCEE_RESULTS=<folder> writes the reports elsewhere).
#
# It installs slapd from Debian's packages if missing, runs its own instance from a scratch
# folder (the system's slapd, if any, is left stopped as it was found... and stopped if it
# was started by the package installation), and writes the reports to
# docs/bench-results/ldap-*.json.
set -euo pipefail

entries=${1:-100000}
connections=${2:-16}
seconds=${3:-20}
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CADUCEE_BIN:-${CARGO_TARGET_DIR:-$top/target}/release}
# The scratch configuration from this tree's build when CADUCEE_BIN's predates the command.
scratch_config=$bin/caducee-scratch-config
[[ -x $scratch_config ]] || scratch_config=${CARGO_TARGET_DIR:-$top/target}/release/caducee-scratch-config
work=$(mktemp -d /tmp/caducee-ldap-compare.XXXXXX)
results=${CADUCEE_RESULTS:-$top/docs/bench-results}
base="ou=directory,dc=relay,dc=test"

if ! command -v slapd >/dev/null && [[ ! -x /usr/sbin/slapd ]]; then
    echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slapd ldap-utils
fi
systemctl stop slapd >/dev/null 2>&1 || true

cleanup() {
    [[ -n ${relay_pid:-} ]] && kill "$relay_pid" 2>/dev/null || true
    [[ -f $work/slapd.pid ]] && kill "$(cat "$work/slapd.pid")" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== populating a relay store with $entries entries"
mkdir -p "$work/relay"
"$scratch_config" --domain relay.test > "$work/relay/caducee.toml"
cat >> "$work/relay/caducee.toml" <<EOF
[keys]
auto_renew = false
EOF
"$bin/caducee-ldapbench" populate --data-dir "$work/relay" --entries "$entries"

echo "== starting the relay"
"$bin/caducee" --data-dir "$work/relay" serve > "$work/relay.out" 2> "$work/relay.log" &
relay_pid=$!
for _ in $(seq 100); do grep -q "^ready: admin" "$work/relay.out" 2>/dev/null && break; sleep 0.1; done
# The relay's memory before any search (the directory's view is built by the first one).
echo "relay resident at start: $(awk '/^VmRSS/ { print $2, $3 }' "/proc/$relay_pid/status")"
ldap_port=$(awk '$2 == "ldap" { split($3, a, ":"); print a[2] }' "$work/relay.out")
ldaps_port=$(awk '$2 == "ldaps" { split($3, a, ":"); print a[2] }' "$work/relay.out")
ca=$work/relay/tls/ca.pem
# The directory is read over TLS only: StartTLS on the plain port (-ZZ), or LDAPS.
found=$(LDAPTLS_CACERT=$ca ldapsearch -LLL -x -ZZ -H "ldap://127.0.0.1:$ldap_port" -b "$base" -z 5 \
    "(objectClass=inetOrgPerson)" mail 2>/dev/null | grep -c '^mail:' || true)
echo "ldapsearch -ZZ (StartTLS): $found entries of the first 5 asked"
[[ $found -gt 0 ]] || { echo "the relay's directory did not answer over StartTLS" >&2; exit 1; }
"$bin/caducee" --data-dir "$work/relay" directory export --format ldif --out "$work/directory.ldif"

echo "== loading the same LDIF into slapd"
mkdir -p "$work/slapd-db"
cat > "$work/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include $top/docs/caducee.schema
pidfile $work/slapd.pid
TLSCACertificateFile $ca
TLSCertificateFile $work/relay/tls/server.pem
TLSCertificateKeyFile $work/relay/tls/server.key
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
suffix "$base"
directory $work/slapd-db
maxsize 4294967296
index objectClass eq
index mail,sn,cn eq,sub
index givenName,l,postalCode,specialty,rpps eq
EOF
{
    printf 'dn: %s\nobjectClass: organizationalUnit\nou: directory\n\n' "$base"
    tail -n +3 "$work/directory.ldif"   # without "version: 1" and its blank line
} > "$work/slapd.ldif"
started=$(date +%s.%N)
slapadd -q -f "$work/slapd.conf" -l "$work/slapd.ldif"
echo "slapadd: $(echo "$(date +%s.%N) - $started" | bc) s"
slapd_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
slapd -f "$work/slapd.conf" -h "ldaps://127.0.0.1:$slapd_port/" -n caducee-compare-slapd
# Ready when it accepts connections.
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$slapd_port") 2>/dev/null && break; sleep 0.1; done

run() {
    local name=$1 port=$2
    echo "== $name"
    "$bin/caducee-ldapbench" search --port "$port" --ldaps-ca "$ca" --entries "$entries" \
        --connections "$connections" --seconds "$seconds" --json "$results/ldap-$name-${entries}.json"
}
# Warm both (first searches build Caducée's view and fill slapd's caches).
"$bin/caducee-ldapbench" search --port "$ldaps_port" --ldaps-ca "$ca" --entries "$entries" --connections 1 --seconds 2 >/dev/null
"$bin/caducee-ldapbench" search --port "$slapd_port" --ldaps-ca "$ca" --entries "$entries" --connections 1 --seconds 2 >/dev/null
run caducee "$ldaps_port"
run slapd "$slapd_port"
ps -o rss=,comm= -p "$relay_pid" "$(cat "$work/slapd.pid")"
echo "reports in $results/ldap-{caducee,slapd}-${entries}.json; scratch folder $work"
