#!/usr/bin/env bash
# The implicit-TLS submission door with its sockets read and written through epoll (tokio)
# and through io_uring (tokio-uring), alternated in one sitting: ROUNDS rounds of each, at
# one session and at SESSIONS sessions, each on a scratch relay. Prints each run, then the
# medians.
#
#   benches/scripts/socket-io.sh [ROUNDS] [SESSIONS]
#
# Build first: cargo build --release -p caducee -p caducee-bench
set -euo pipefail

rounds=${1:-3}
sessions=${2:-50}
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${BIN:-${CARGO_TARGET_DIR:-$top/target}/release}
[[ -x $bin/caducee && -x $bin/caducee-load ]] || {
    echo "socket-io: no build in $bin: cargo build --release -p caducee -p caducee-bench" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for round in $(seq "$rounds"); do
    for s in 1 "$sessions"; do
        messages=$([[ $s == 1 ]] && echo 5000 || echo 20000)
        for io in epoll io-uring; do
            echo "== round $round, $s session(s), $io"
            "$bin/caducee-load" --sessions "$s" --messages "$messages" --socket-io "$io" \
                --json "$out/$io-$s-$round.json" 2>/dev/null | grep -E "messages/s|end of data|relay CPU once"
        done
    done
done

python3 - "$out" <<'PY'
import json, pathlib, statistics, sys
runs = {}
for path in pathlib.Path(sys.argv[1]).glob("*.json"):
    io, sessions, _ = path.stem.rsplit("-", 2)
    runs.setdefault((int(sessions), io), []).append(json.loads(path.read_text()))
print("\n| sessions | socket I/O | runs | messages/s, median | end of data → 250 p50 (ms), median | relay CPU per message (µs), median |")
print("|---:|---|---:|---:|---:|---:|")
for (sessions, io), reports in sorted(runs.items()):
    rate = statistics.median(r["messages_per_second"] for r in reports)
    p50 = statistics.median(r["end_of_data_to_250"]["p50_ms"] for r in reports)
    cpu = statistics.median(r["relay_cpu_micros_per_message_after_logins"] for r in reports)
    print(f"| {sessions} | {io} | {len(reports)} | {rate:,.0f} | {p50:.2f} | {cpu:.0f} |")
PY
