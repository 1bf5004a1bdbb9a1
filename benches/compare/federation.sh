#!/usr/bin/env bash
# Federation throughput: practices of operator A submit to practices of operator B; A's
# outbound queue delivers over the relay port (STARTTLS, both operators' certificates from
# a test authority made here, the trust list checked), and collectors at B take every
# message. caducee-load drives A and collects at B, so its "collected" figures are end to
# end. Run by hand on this machine's loopback, never in CI:
#
#   cargo build --release -p caducee -p caducee-bench
#   benches/compare/federation.sh [SESSIONS] [MESSAGES] [COLLECTORS]
#
# Then the same load through two Postfix instances (benches/compare/postfix-relay.sh) for
# the comparison recorded in docs/benchmarks.md.
set -euo pipefail

sessions=${1:-16}
messages=${2:-5000}
collectors=${3:-1}
# Practices poll for new mail; every poll is a login (an argon2id check): polling four
# times a second keeps the receiving side's CPU for the relaying.
collect_every_ms=${COLLECT_EVERY_MS:-250}
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CARGO_TARGET_DIR:-$top/target}/release
work=$(mktemp -d /tmp/caducee-federation.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The trust space: one authority, a certificate per operator.
cd "$work"
newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${newkey[@]}" -keyout ca.key -out ca.pem -days 30 -subj "/CN=Bench authority" 2>/dev/null
for op in a b; do
    openssl req "${newkey[@]}" -keyout "$op.key" -out "$op.csr" -subj "/C=FR/O=OPERATEUR ${op^^}/CN=mx.$op.test" 2>/dev/null
    printf 'subjectAltName=DNS:mx.%s.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' "$op" > "$op.cnf"
    openssl x509 -req -in "$op.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$op.pem" -days 30 \
        -extfile "$op.cnf" 2>/dev/null
done
cat > list.xml <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<ListeBlanche>
  <Domaine><Nom>a.test</Nom><Description>A</Description><DNCertificatOperateur>CN=mx.a.test, O=OPERATEUR A, C=FR</DNCertificatOperateur>
    <ResponsableContact>r@a.test</ResponsableContact><SupportContact>s@a.test</SupportContact><DateMAJ>2026-01-01</DateMAJ></Domaine>
  <Domaine><Nom>b.test</Nom><Description>B</Description><DNCertificatOperateur>CN=mx.b.test, O=OPERATEUR B, C=FR</DNCertificatOperateur>
    <ResponsableContact>r@b.test</ResponsableContact><SupportContact>s@b.test</SupportContact><DateMAJ>2026-01-01</DateMAJ></Domaine>
</ListeBlanche>
EOF

# One operator's relay: its config, started, its ready lines in OP.ready. ROUTE: a
# [federation.routes] line or nothing.
start_operator() { # OP ROUTE
    local op=$1 route=$2
    mkdir -p "$op-data"
    "$bin/caducee-scratch-config" --domain "$op.test" --relay-door --load-sessions $((sessions + collectors)) \
        > "$op-data/caducee.toml"
    cat >> "$op-data/caducee.toml" <<EOF
[federation]
ca_bundle = "$work/ca.pem"
certificate = "$work/$op.pem"
key = "$work/$op.key"
[federation.routes]
$route
EOF
    "$bin/caducee" --data-dir "$op-data" serve > "$op.ready" 2> "$op.log" &
    pids+=($!)
    echo $! > "$op.pid"
    until grep -q "ready: admin" "$op.ready"; do sleep 0.1; done
    "$bin/caducee" --data-dir "$op-data" trust import list.xml > /dev/null
}
port_of() { awk -v s="$2" '$1 == "ready:" && $2 == s { n = split($3, p, ":"); print p[n] }' "$1.ready"; }

start_operator b ""
start_operator a "\"b.test\" = \"127.0.0.1:$(port_of b relay)\""

# Senders at A, recipients at B: "address password certificate" lines.
accounts() { # OP FILE
    for i in $(seq 0 $((sessions - 1))); do
        local address="practice-$i@$1.test"
        "$bin/caducee" --data-dir "$1-data" user add --address "$address" --first-name P --last-name "$i" \
            --contact-email "c$i@example.org" --json > "$1-$i.json"
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write(d["certificate"]); print(d["address"], d["password"], sys.argv[2])' \
            "$1-$i.json" "$work/$1-$i.asc"
    done > "$2"
}
echo "creating $sessions accounts at each operator" >&2
accounts a a-accounts.txt
accounts b b-accounts.txt

"$bin/caducee-load" --sessions "$sessions" --messages "$messages" --collectors "$collectors" --collect-every-ms "$collect_every_ms" \
    --target-submissions-port "$(port_of a submissions)" --target-pop3s-port "$(port_of a pop3s)" \
    --target-ca a-data/tls/ca.pem --target-accounts a-accounts.txt --target-pid "$(cat a.pid)" \
    --peer-accounts b-accounts.txt --peer-pop3s-port "$(port_of b pop3s)" --peer-ca b-data/tls/ca.pem \
    --json "${FEDERATION_JSON:-/dev/null}"
# What A still holds leaves for B: the time from the end of the load until A's queue is
# empty says how fast the relay port carries it (without collectors, B only stores).
started=$(date +%s.%N)
until [[ $("$bin/caducee" --data-dir a-data queue list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["entries"]))') == 0 ]]; do
    sleep 0.2
done
echo "A's queue empty $(python3 -c "import sys; print(round($(date +%s.%N) - $started, 2))") s after the load ended"
echo "B stores $("$bin/caducee" --data-dir b-data status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["stored_messages"])') messages"
for op in a b; do
    echo "$op's relay CPU: $(awk '{print ($14 + $15) / 100 " s"}' "/proc/$(cat $op.pid)/stat")"
done
