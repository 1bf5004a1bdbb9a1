#!/usr/bin/env bash
# The relay's CPU per message, by stage: runs caducee-load against a scratch relay started
# under `perf record` (DWARF call graphs), then attributes every sample to the stage whose
# code was running (benches/scripts/cpu-budget.py: TLS, SMTP parsing, the OpenPGP content
# check, sealing, the commit, the runtime and actor hops, …) and prints the budget in µs of
# relay CPU per accepted message. Run by hand as root (perf), never in CI:
#
#   cargo build --release -p caducee -p caducee-bench
#   sudo benches/scripts/cpu-budget.sh [SESSIONS] [MESSAGES] [-- caducee-load arguments]
#
# RELAY=/path/to/caducee profiles another build of the relay (an earlier one, to compare)
# with this build's load generator. KEEP=/path/perf.data keeps the recording.
#
# The load runs twice: as it is, for the relay's CPU time per message (the budget's total),
# and under perf (sampling at 499 Hz with 16 KiB of stack per sample), for each stage's share.
set -euo pipefail

sessions=${1:-50}
messages=${2:-20000}
shift $(($# >= 2 ? 2 : $#))
[[ ${1:-} == -- ]] && shift
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CARGO_TARGET_DIR:-$top/target}/release
command -v perf >/dev/null || { echo "cpu-budget: perf is needed (apt-get install linux-perf)" >&2; exit 1; }
relay=${RELAY:-$bin/caducee}
[[ -x $relay && -x $bin/caducee-load ]] || {
    echo "cpu-budget: build first: cargo build --release -p caducee -p caducee-bench" >&2; exit 1; }

work=$(mktemp -d /tmp/caducee-budget.XXXXXX)
trap 'rm -rf "$work"' EXIT
# The load starts the relay through this wrapper, so that perf records the serving relay
# alone (the load's administration commands go through it too, unrecorded).
cat > "$work/relay" <<EOF
#!/bin/sh
case " \$* " in
    *" serve "*) exec perf record --quiet -F 499 --call-graph dwarf,16384 -o "$work/perf.data" -- "$relay" "\$@" ;;
esac
exec "$relay" "\$@"
EOF
chmod +x "$work/relay"

# Twice: once as it runs (the relay's CPU time per message, from /proc), once under perf
# (where each sample went; perf's own work would skew the total).
echo "== caducee-load --sessions $sessions --messages $messages $*"
"$bin/caducee-load" --sessions "$sessions" --messages "$messages" --relay-bin "$relay" --json "$work/load.json" "$@"
echo "== the same, the relay under perf record"
"$bin/caducee-load" --sessions "$sessions" --messages "$messages" --relay-bin "$work/relay" \
    --json "$work/profiled.json" "$@" > /dev/null
echo "== attributing the samples (perf script; a minute or two)"
perf script --no-inline -F comm,tid,ip,sym,dso -i "$work/perf.data" 2>/dev/null \
    | python3 "$(dirname "$0")/cpu-budget.py" "$work/load.json"
# KEEP=/path/perf.data keeps the recording, to look further (perf report -i …).
[[ -n ${KEEP:-} ]] && cp "$work/perf.data" "$KEEP" && echo "the recording: $KEEP"
