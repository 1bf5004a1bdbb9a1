#!/usr/bin/env bash
# Measures Caducée's recovery path on a store of a given size: fills a scratch relay with
# 64 KiB OpenPGP messages (taking a backup under load half way), then, relay stopped, times
# a compacted and a full backup, verify, restore, and the restore drill end to end.
#
#   benches/scripts/recovery.sh WORK_DIR MESSAGES
#
# WORK_DIR must be on the disk being measured and have room for about five times the store
# (store, two backups, a restore, the drill's scratch copy). 12,000 messages make a ~1 GB
# store; 115,000 a ~10 GB one. Build first: cargo build --release -p caducee -p caducee-bench
set -euo pipefail

work=${1:?work folder}
messages=${2:?message count}
bin=$(cd "$(dirname "$0")/../.." && pwd)/target/release
data=$work/data
rm -rf "$work" && mkdir -p "$work"

seconds() { local start=$1; echo "$(date +%s.%N) - $start" | bc; }

echo "== filling the store: $messages messages of 64 KiB, a backup taken under load half way"
"$bin/caducee-load" --sessions 32 --messages "$messages" --size 65536 --data-dir "$data" \
    --backup-during "$work/under-load.cbk" --json "$work/load.json" 2>/dev/null
store_bytes=$(stat -c %s "$data/store/data.mdb")
echo "store file: $store_bytes bytes"

for mode in compact full; do
    flag=(); [[ $mode == full ]] && flag=(--no-compact)
    start=$(date +%s.%N)
    "$bin/caducee" --data-dir "$data" backup --to "$work/$mode.cbk" "${flag[@]}" >/dev/null
    echo "backup ($mode): $(seconds "$start") s, $(stat -c %s "$work/$mode.cbk") bytes"
done
rm -f "$work/full.cbk"

start=$(date +%s.%N)
"$bin/caducee" --data-dir "$data" backup verify "$work/compact.cbk" >/dev/null
echo "verify: $(seconds "$start") s"

"$bin/caducee" --data-dir "$data" backup key --export "$work/offline.key" >/dev/null
start=$(date +%s.%N)
"$bin/caducee" --data-dir "$work/restored" restore --from "$work/compact.cbk" --key-file "$work/offline.key" >/dev/null
echo "restore: $(seconds "$start") s"
rm -rf "$work/restored"

"$bin/caducee" --data-dir "$data" drill --from "$work/compact.cbk" --json > "$work/drill.json"
echo "drill: $(tr -d '\n ' < "$work/drill.json")"
