#!/usr/bin/env python3
"""What one durable commit costs this disk, by how its pages lie: cycles of page writes
followed by one fdatasync, as the store's commits do, in a scratch file in DIRECTORY.

    benches/scripts/disk-sync.py [DIRECTORY] [CYCLES]

Each pattern writes 4 KiB pages with pwrite, then syncs once; the median cycle is printed.
The patterns are those the store's commits show (benches/scripts/commit-pages.sh): pages
alone, scattered over a region of the file, and runs of pages appended at its end. (LMDB
then writes its meta page through a second, synchronous descriptor: not modelled here.)
Run by hand, never in CI.
"""

import os
import random
import statistics
import sys
import time

PAGE = 4096
REGION_PAGES = 20 * 2**20 // PAGE  # 20 MiB written beforehand: the overwritten part
MOST_PAGES = 128  # the longest run a pattern writes in one call


def cycle_p50(directory, cycles, pattern):
    path = os.path.join(directory, "disk-sync.scratch")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        mebibyte = b"\1" * 2**20
        for _ in range(REGION_PAGES * PAGE // 2**20):
            os.write(fd, mebibyte)
        os.fsync(fd)
        data = os.urandom(MOST_PAGES * PAGE)
        times = []
        for number in range(cycles):
            started = time.perf_counter()
            for first, count in pattern(number):
                assert count <= MOST_PAGES, "a run longer than the data written"
                os.pwrite(fd, data[: count * PAGE], first * PAGE)
            os.fdatasync(fd)
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000
    finally:
        os.close(fd)
        os.remove(path)


def scattered(count, span=REGION_PAGES):
    return lambda _: [(random.randrange(span), 1) for _ in range(count)]


def appended(count):
    return lambda number: [(REGION_PAGES + number * count, count)]


def both(alone, run):
    return lambda number: scattered(alone)(number) + appended(run)(number)


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "."
    cycles = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    patterns = [
        ("70 pages appended (the file grows)", appended(70)),
        ("70 pages overwritten, contiguous", lambda n: [((n * 70) % (REGION_PAGES - 70), 70)]),
        ("30 pages alone, scattered over 20 MiB", scattered(30)),
        ("30 pages alone over 20 MiB + 40 appended", both(30, 40)),
        ("10 pages alone over 20 MiB + 40 appended", both(10, 40)),
        ("3 pages alone over 20 MiB + 40 appended", both(3, 40)),
        ("30 pages alone, scattered over 1 MiB", scattered(30, 256)),
    ]
    print(f"{cycles} cycles each, in {os.path.abspath(directory)}: median time from the first write to the end of the sync")
    for name, pattern in patterns:
        print(f"  {name:<44} {cycle_p50(directory, cycles, pattern):6.2f} ms")


if __name__ == "__main__":
    main()
