#!/usr/bin/env python3
"""The relay's memory per idle TLS session: starts a scratch relay, reads its resident
memory, opens SESSIONS implicit-TLS submission sessions that each read the greeting and
send EHLO (so that every session has read once), then reads it again. Run by hand, never
in CI (benches stay benches):

    cargo build --release -p caducee -p caducee-bench
    benches/scripts/idle-sessions.py [RELAY] [SESSIONS]

RELAY defaults to this tree's release build, SESSIONS to 1,000. To compare two builds,
run it on each, alternated, more than once."""

import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

def resident_kib(pid):
    with open("/proc/%d/status" % pid) as status:
        return int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1))


def ready_ports(stdout):
    """The relay's `ready: SERVICE ADDRESS` lines, up to the last (`ready: admin …`)."""
    ports = {}
    for line in stdout:
        words = line.decode(errors="replace").split()
        if "ready:" not in words:
            continue
        rest = words[words.index("ready:") + 1:]
        if rest[:1] == ["admin"]:
            break
        if len(rest) >= 2 and rest[1].rsplit(":", 1)[-1].isdigit():
            ports[rest[0]] = int(rest[1].rsplit(":", 1)[-1])
    return ports


def open_session(port, context):
    """One session: TLS, the greeting, EHLO and its whole reply."""
    tls = context.wrap_socket(socket.create_connection(("127.0.0.1", port)))
    lines = tls.makefile("rb")
    lines.readline()
    tls.sendall(b"EHLO idle.example\r\n")
    while lines.readline()[3:4] == b"-":
        pass
    return tls, lines


def main():
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(top, "target"))
    relay = sys.argv[1] if len(sys.argv) > 1 else os.path.join(target, "release", "caducee")
    sessions = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    scratch_config = os.path.join(target, "release", "caducee-scratch-config")
    for program in (relay, scratch_config):
        if not os.access(program, os.X_OK):
            sys.exit("idle-sessions: %s: build it first (cargo build --release -p caducee -p caducee-bench)"
                     % program)
    scratch = tempfile.mkdtemp(prefix="caducee-idle.")
    try:
        data = os.path.join(scratch, "data")
        os.makedirs(data)
        with open(os.path.join(data, "caducee.toml"), "wb") as config:
            config.write(subprocess.check_output(
                [scratch_config, "--domain", "idle.localhost", "--load-sessions", str(sessions)]))
        child = subprocess.Popen([relay, "--data-dir", data, "serve"], stdout=subprocess.PIPE,
                                 env=dict(os.environ, CADUCEE_LOG="warn"))
        try:
            port = ready_ports(child.stdout).get("submissions")
            if port is None:
                sys.exit("idle-sessions: the relay did not report its submissions listener")
            time.sleep(1)  # the relay's start settles (its first rounds, the directory's view)
            before = resident_kib(child.pid)
            # The relay's own certificate is made for this scratch store: not checked here.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            held = []
            for count in range(1, sessions + 1):
                held.append(open_session(port, context))
                if count % 250 == 0:
                    print("  %d sessions open" % count, file=sys.stderr)
            time.sleep(1)
            after = resident_kib(child.pid)
            print("relay resident memory: %d KiB alone, %d KiB with %d idle TLS sessions: %.1f KiB per session"
                  % (before, after, sessions, (after - before) / sessions))
        finally:
            child.terminate()
            child.wait()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
