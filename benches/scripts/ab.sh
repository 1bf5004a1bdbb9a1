#!/usr/bin/env bash
# Two builds of the relay under the same load, alternated round by round (A, B, A, B, …), and
# the median of each: on a machine whose speed moves from one minute to the next (a cloud
# guest's disk and CPU), the comparison that holds. A change of a few µs per message shows
# here only as a shift of the medians over enough rounds; one run of each says nothing.
#
#   cargo build --release -p caducee-bench
#   benches/scripts/ab.sh BEFORE AFTER [ROUNDS] [-- caducee-load arguments]
#
# BEFORE and AFTER are `caducee` binaries (copy each build aside: cargo overwrites
# target/release/caducee). Build both in this checkout (`git stash`, or a checkout of the
# earlier commit): a second checkout of the tree (a git worktree) building into the same
# CARGO_TARGET_DIR shares cargo's build units with this one, which may then take its own
# sources for built and hand back the other's binary. ROUNDS defaults to 5; the load to `--sessions 50 --messages 30000`
# when no arguments follow `--`. Prints each run's messages/s, end of data → 250 p50 and the
# relay's CPU per message once every session had logged in, then the medians. Run by hand,
# never in CI (benches stay benches).
set -euo pipefail

[[ $# -ge 2 ]] || { sed -n '2,14p' "$0" >&2; exit 2; }
before=$1
after=$2
shift 2
rounds=5
if [[ $# -gt 0 && $1 != -- ]]; then
    rounds=$1
    shift
fi
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "ab: ROUNDS is a count of rounds, not '$rounds' (load arguments go after --)" >&2; exit 2; }
[[ ${1:-} == -- ]] && shift
load_args=("$@")
((${#load_args[@]})) || load_args=(--sessions 50 --messages 30000)
top=$(cd "$(dirname "$0")/../.." && pwd)
load=${CARGO_TARGET_DIR:-$top/target}/release/caducee-load
for binary in "$before" "$after" "$load"; do
    [[ -x $binary ]] || { echo "ab: $binary is not an executable (cargo build --release -p caducee-bench)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/caducee-ab.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "ab: ${load_args[*]}, $rounds rounds; A = $before, B = $after"
printf '%-6s %-2s %12s %12s %14s\n' round "" "messages/s" "p50 (ms)" "µs/message"
for ((round = 1; round <= rounds; round++)); do
    # A first in odd rounds, B first in even ones: what drifts within a round falls on both.
    order="A B"
    ((round % 2)) || order="B A"
    for side in $order; do
        relay=$before
        [[ $side == B ]] && relay=$after
        report="$work/$side-$round.json"
        if ! "$load" "${load_args[@]}" --relay-bin "$relay" --json "$report" > "$work/$side-$round.log" 2>&1; then
            echo "ab: round $round, $side failed; its output:" >&2
            tail -20 "$work/$side-$round.log" >&2
            exit 1
        fi
        python3 - "$report" "$round" "$side" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
cpu = report["relay_cpu_micros_per_message_after_logins"]  # none when no relay was started
cpu = "-" if cpu is None else f"{cpu:.1f}"
print(f"{sys.argv[2]:<6} {sys.argv[3]:<2} {report['messages_per_second']:12,.0f} "
      f"{report['end_of_data_to_250']['p50_ms']:12.2f} {cpu:>14}")
EOF
    done
done
python3 - "$work" "$rounds" <<'EOF'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
for side in "AB":
    reports = [json.load(open(f"{work}/{side}-{r}.json")) for r in range(1, rounds + 1)]
    rate = statistics.median(r["messages_per_second"] for r in reports)
    p50 = statistics.median(r["end_of_data_to_250"]["p50_ms"] for r in reports)
    cpus = [r["relay_cpu_micros_per_message_after_logins"] for r in reports]
    cpus = [c for c in cpus if c is not None]
    cpu = f"{statistics.median(cpus):.1f}" if cpus else "-"
    print(f"median {side:<2} {rate:12,.0f} {p50:12.2f} {cpu:>14}")
EOF
