#!/usr/bin/env python3
"""Reads `perf script -F comm,tid,ip,sym,dso` (with call chains) on stdin and the load's JSON
report (argument 1), and prints the relay's CPU per accepted message by stage.

Each sample goes to one stage. Kernel samples go by what the kernel was doing (socket I/O,
the disk's syncs, waiting and scheduling); the others by the innermost frame of the relay's
own stages, walking up from the sampled instruction past the shared machinery (allocator,
memcpy, the crypto primitives, the standard library), so that an AES round counts for TLS
when rustls called it and for sealing when the store did. Used by cpu-budget.sh.

With FRAMES=REGEX in the environment, it also prints the samples whose innermost frame of
the relay's own (past the kernel and the shared machinery, as above) matches REGEX, whatever
their stage: what those functions cost themselves, with the locks and allocations they call.
For example FRAMES='tokio::runtime::time|tokio::time::sleep' for the runtime's timers."""

import collections
import json
import os
import re
import sys

KERNEL = [
    ("socket I/O (kernel)", re.compile(r"tcp_|inet_|sock_|skb|__sys_(send|recv)|ip_|net_rx|loopback|sendmsg|recvmsg")),
    ("files, disk writes and syncs (kernel)", re.compile(r"ext4|jbd2|blk_|fdatasync|fsync|filemap_write|writeback|bio_|virtblk|nvme")),
    ("io_uring and epoll (kernel)", re.compile(r"io_uring|epoll|ep_poll")),
    ("waits, futexes, scheduling (kernel)", re.compile(r"futex|schedule|__x64_sys_sched|finish_task_switch|do_nanosleep")),
    ("memory (kernel: page faults, mmap)", re.compile(r"page_fault|do_anonymous|mmap|munmap|madvise|clear_page|handle_mm_fault")),
]

# Frames that do work for whoever called them: the sample goes to their caller's stage.
SHARED = re.compile(
    r"^(mi_|_mi_|__memcpy|__memmove|__memset|memcpy|memmove|memset|__memcmp|memcmp|bcmp|"
    r"alloc::|core::|std::|hashbrown::|bytes::|aws_lc|ring::|ring_core|chacha20|poly1305|aes|ghash|"
    r"sha2::|sha1|digest::|generic_array|cipher::|aead::|zeroize|smallvec|__libc|_int_|malloc|free|"
    r"realloc|cfree|\[unknown\]|<)")

LOGINS = "logins (argon2id)"
# The load's accounts are made before it starts: their keys issued and certified; and the
# relay's own keys are made or read as it starts.
SETUP = "account creation and the relay's start (keys issued)"
STAGES = [
    ("TLS (rustls)", re.compile(r"rustls")),
    # (mail_parser and base64 are matched by no stage: they go to their caller, the content
    # check or the SMTP machine's header check.)
    # (sequoia's own frames are matched by no stage either: its parser counts for the
    # content check when the check called it, not when the relay's start made its keys.)
    ("content check (MIME and OpenPGP structure)", re.compile(r"content_check|caducee_protocol::content")),
    ("sealing", re.compile(r"caducee_storage::seal")),
    ("commit (LMDB, group commit)", re.compile(r"heed|mdb_|caducee_storage::writer|caducee_storage::store")),
    ("store, other", re.compile(r"caducee_storage")),
    ("metrics, logs and trails", re.compile(r"metrics|prometheus|tracing|audit|trail|journal|connection_log|logging")),
    ("recipients, keys, mailboxes", re.compile(r"caducee_actors::(mailbox|keyvault|relay_key|directory|throttle|monitor)")),
    ("SMTP machine and parsing", re.compile(r"caducee_protocol")),
    ("session driver", re.compile(r"caducee_actors::session|caducee_actors::smtp")),
    ("actors and runtime (actix, tokio)", re.compile(r"actix|tokio|mio::|futures|async_task|crossbeam")),
    ("relay, other", re.compile(r"caducee")),
]


def frames(lines):
    """(symbol, dso) of each frame, innermost first."""
    out = []
    for line in lines:
        m = re.match(r"\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$", line)
        if m:
            out.append((m.group(1), m.group(2)))
    return out


# Work left out of the budget, whatever runs under it (the kernel included): not a message's.
LEFT_OUT = [
    (SETUP, re.compile(r"caducee_actors::keyvault::(issue|write_bundle|armored)|caducee_appliance::admin::users|"
                       r"caducee_actors::relay_key|caducee_client::keys::build|RelayKeys::new")),
    (LOGINS, re.compile(r"argon2|caducee_actors::login|password")),
]


def stage_of(stack):
    for name, pattern in LEFT_OUT:
        if any(pattern.search(sym) for sym, _ in stack):
            return name
    kernel = [sym for sym, dso in stack if dso.startswith("[kernel")]
    if kernel:
        for name, pattern in KERNEL:
            if any(pattern.search(sym) for sym in kernel):
                return name
    for sym, dso in stack:
        if dso.startswith("[kernel"):
            continue
        if SHARED.match(sym):
            # A trait method shows as `<Type as Trait>::method`: judged by its type's path.
            if sym.startswith("<"):
                for name, pattern in STAGES:
                    if pattern.search(sym.split(" as ")[0]):
                        return name
            continue
        for name, pattern in STAGES:
            if pattern.search(sym):
                return name
    if kernel:
        return "kernel, other"
    return "unattributed (shared code without a relay caller in the sampled stack)"


def innermost_own(stack):
    """The innermost frame that is neither the kernel's nor shared machinery."""
    for sym, dso in stack:
        if dso.startswith("[kernel"):
            continue
        if sym.startswith("<"):
            # A trait method, `<Type as Trait>::method`, is judged by its type's path; a type
            # without one (a closure's `F`, `&T`, `[T]`, `u64`) is machinery, as above.
            own_type = sym[1:].split(" as ")[0]
            if "::" not in own_type or SHARED.match(own_type):
                continue
        elif SHARED.match(sym):
            continue
        return sym
    return ""


def samples(stream):
    header, body = None, []
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if header is not None:
                yield header, frames(body)
            header, body = None, []
        elif header is None:
            header = line
        else:
            body.append(line)
    if header is not None:
        yield header, frames(body)


def main():
    with open(sys.argv[1]) as f:
        report = json.load(f)
    # The budget's total: the relay's CPU per message once every session had logged in (the
    # sessions' argon2id checks are a session's cost, not a message's).
    micros = report.get("relay_cpu_micros_per_message_after_logins")
    if micros is None:
        micros = report["relay_cpu_seconds"] * 1e6 / max(report["accepted"], 1)
    by_stage, by_thread = collections.Counter(), collections.Counter()
    frames_pattern = re.compile(os.environ["FRAMES"]) if os.environ.get("FRAMES") else None
    matched, left_out_names = 0, {name for name, _ in LEFT_OUT}
    for header, stack in samples(sys.stdin):
        stage = stage_of(stack)
        by_stage[stage] += 1
        if frames_pattern and stage not in left_out_names and frames_pattern.search(innermost_own(stack)):
            matched += 1
        by_thread[re.sub(r"[-_ ]?\d+$", "", header.split()[0] if header.split() else "?")] += 1
    left_out = sum(by_stage.pop(name, 0) for name, _ in LEFT_OUT)
    total = sum(by_stage.values())
    if not total:
        sys.exit("cpu-budget: no samples")
    print("\nrelay CPU per accepted message, once every session had logged in: %.1f µs (%d accepted); "
          "%d samples, and %d more in the accounts' creation and the sessions' logins (left out)" % (micros, report["accepted"], total, left_out))
    print("\n| stage | share | µs per message |\n|---|---:|---:|")
    for name, count in by_stage.most_common():
        print("| %s | %.1f %% | %.1f |" % (name, 100 * count / total, micros * count / total))
    if frames_pattern:
        print("\nsamples whose innermost own frame matches %r: %.1f %%, %.1f µs per message"
              % (frames_pattern.pattern, 100 * matched / total, micros * matched / total))
    print("\n| thread | share of all samples |\n|---|---:|")
    for name, count in by_thread.most_common(8):
        print("| %s | %.1f %% |" % (name, 100 * count / (total + left_out)))

if __name__ == "__main__":
    main()
