#!/usr/bin/env bash
# What the store's commits write, and what this disk makes of it. Two parts:
#
# 1. The relay under caducee-load (`--sessions 50 --messages 40000` unless arguments follow
#    `--`): perf records the serving relay's write and sync calls for SECONDS once the load
#    runs (syscall tracepoints, cheap enough not to change the run), and each commit's writes
#    to the store's file (pwrite64, lseek + writev) between two fdatasyncs are summed up: pages, write calls, single pages alone, contiguous runs, the span they
#    cover. The disk's counters (/proc/diskstats) give the bytes and requests of the whole run.
# 2. The disk alone (benches/scripts/disk-sync.py): sync cycles of the same size, the pages
#    scattered or contiguous, in a scratch file beside the store.
#
#   cargo build --release -p caducee-bench
#   sudo benches/scripts/commit-pages.sh [SECONDS] [-- caducee-load arguments]
#
# Run by hand as root (perf), never in CI.
set -euo pipefail

seconds=3
if [[ $# -gt 0 && $1 != -- ]]; then
    seconds=$1
    shift
fi
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "commit-pages: SECONDS is a whole number, not '$seconds'" >&2; exit 2; }
[[ ${1:-} == -- ]] && shift
load_args=("$@")
((${#load_args[@]})) || load_args=(--sessions 50 --messages 40000)
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CARGO_TARGET_DIR:-$top/target}/release
for tool in perf python3; do
    command -v "$tool" >/dev/null || { echo "commit-pages: $tool is needed (apt-get install linux-perf python3)" >&2; exit 1; }
done
[[ -x $bin/caducee && -x $bin/caducee-load ]] || {
    echo "commit-pages: build first: cargo build --release -p caducee -p caducee-bench" >&2; exit 1; }

work=$(mktemp -d /var/tmp/caducee-pages.XXXXXX)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$work"' EXIT
source=$(df --output=source "$work" | tail -1)
disk=$(lsblk -no pkname "$source" 2>/dev/null | head -1 || true)
[[ -n $disk ]] || disk=$(basename "$source")
counters() { awk -v d="$disk" '$3 == d { print $8, $10 }' /proc/diskstats; }
[[ -n $(counters) ]] || { echo "commit-pages: no disk counters for $source ($disk) in /proc/diskstats" >&2; exit 1; }

echo "== caducee-load ${load_args[*]} (store in $work, disk $disk)"
read -r writes0 sectors0 < <(counters)
"$bin/caducee-load" "${load_args[@]}" --data-dir "$work/relay" > "$work/load.txt" 2>&1 &
load=$!
until grep -q ' accepted ' "$work/load.txt" 2>/dev/null; do
    kill -0 "$load" 2>/dev/null || { cat "$work/load.txt" >&2; exit 1; }
    sleep 0.2
done
relay=$(pgrep -f -- "--data-dir $work/relay serve" | head -1 || true)
[[ -n $relay ]] || { echo "commit-pages: the load's relay was not found" >&2; wait "$load"; exit 1; }
perf record -q -o "$work/perf.data" -p "$relay" -e syscalls:sys_enter_pwrite64,syscalls:sys_enter_lseek \
    -e syscalls:sys_exit_writev,syscalls:sys_enter_fdatasync -- sleep "$seconds" 2>/dev/null || true
wait "$load"
read -r writes1 sectors1 < <(counters)
grep -E '^(accepted|group commit)' "$work/load.txt"
messages=$(awk '/^accepted/ { print $2 }' "$work/load.txt")
commits=$(awk '/^group commit/ { print $3 }' "$work/load.txt")
echo "disk $disk over the whole run: $(((sectors1 - sectors0) * 512 / messages)) bytes written per message," \
    "$(((writes1 - writes0) / commits)) write requests per commit"

echo "== the commits recorded"
perf script -i "$work/perf.data" 2>/dev/null | python3 /dev/fd/3 3<<'EOF'
import re, statistics, sys

PAGE = 4096
commits, current, position, store = [], [], None, None
for line in sys.stdin:
    # Only the store's writer thread writes the store's file.
    if not line.lstrip().startswith("store-writer"):
        continue
    fields = dict(re.findall(r"(\w+): (0x[0-9a-f]+)", line))
    if "sys_enter_fdatasync" in line:
        # The store's data file is the descriptor its writer syncs.
        store = store or fields["fd"]
        if fields["fd"] == store and current:
            commits.append(current)
            current = []
    elif "sys_enter_pwrite64" in line and fields.get("fd") == store:
        current.append((int(fields["pos"], 16) // PAGE, int(fields["count"], 16) // PAGE))
    elif "sys_enter_lseek" in line and fields.get("fd") == store:
        position = int(fields["offset"], 16)
    elif "sys_exit_writev" in line and position is not None:
        written = int(line.rsplit(" ", 1)[1], 16)
        current.append((position // PAGE, written // PAGE))
        position = None
commits = commits[1:]  # the first may have begun before the recording
if not commits:
    sys.exit("no commit seen: lengthen SECONDS")

def runs(writes):
    """Contiguous runs of pages once the commit's writes are put in page order."""
    merged = []
    for first, count in sorted(writes):
        if merged and first <= merged[-1][0] + merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], first + count - merged[-1][0])
        else:
            merged.append([first, count])
    return merged

def median(values):
    return statistics.median(values)

pages = [sum(count for _, count in c) for c in commits]
calls = [len(c) for c in commits]
merged = [runs(c) for c in commits]
alone = [sum(1 for _, count in m if count == 1) for m in merged]
longer = [sum(count for _, count in m if count > 1) for m in merged]
span = [(m[-1][0] + m[-1][1] - m[0][0]) * PAGE / 2**20 for m in merged]
print(f"{len(commits)} commits; per commit, medians: {median(pages):.0f} pages written in {median(calls):.0f} calls,")
print(f"  {median(alone):.0f} pages alone (no neighbour written in the same commit),"
      f" {median(longer):.0f} pages in contiguous runs, over {median(span):.1f} MiB of the file")
EOF

echo "== the disk alone: sync cycles in a scratch file on the same filesystem"
python3 "$(dirname "$0")/disk-sync.py" "$work"
