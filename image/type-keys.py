#!/usr/bin/env python3
"""Types text on a QEMU guest's keyboard through the human monitor (HMP) socket, as an
administrator at the hypervisor's console would: image/type-keys.py MONITOR.sock TEXT...
Each argument is typed and followed by Enter; an empty argument is Enter alone.
`--command CMD` sends one monitor command instead (system_powerdown, say)."""

import socket
import sys

NAMES = {".": "dot", "-": "minus", " ": "spc", "/": "slash", "_": "shift-minus", "@": "shift-2"}


def key(char):
    if char.isascii() and (char.islower() or char.isdigit()):
        return char
    if char.isascii() and char.isupper():
        return "shift-" + char.lower()
    if char in NAMES:
        return NAMES[char]
    raise SystemExit("type-keys: no key for %r" % char)


def main():
    monitor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    monitor.connect(sys.argv[1])
    monitor.settimeout(10)
    if sys.argv[2] == "--command":
        commands = [sys.argv[3]]
    else:
        commands = ["sendkey %s" % name for text in sys.argv[2:] for name in [key(c) for c in text] + ["ret"]]
    for command in commands:
        monitor.sendall((command + "\n").encode())
    # A command that answers: everything before it has been handled.
    monitor.sendall(b"info name\n")
    received = b""
    while b"info name" not in received or not received.rstrip().endswith(b"(qemu)"):
        chunk = monitor.recv(4096)
        if not chunk:
            break
        received += chunk
    monitor.close()


if __name__ == "__main__":
    main()
