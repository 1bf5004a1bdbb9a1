#!/usr/bin/env python3
"""Stands in for systemd-journald's native socket (systemd's "Native Journal Protocol"):
binds a datagram socket at PATH, says so on READY (a pipe: one line), decodes each entry (KEY=value lines; a value holding a
line break as KEY, newline, its 64-bit little-endian length, the bytes, newline) and
writes it to OUT as one JSON object per line. Stops after an entry whose MESSAGE is
STOP_AT, or after a minute without any."""

import json
import socket
import struct
import sys


def decode(datagram):
    fields = {}
    at = 0
    while at < len(datagram):
        end = datagram.index(b"\n", at)
        line = datagram[at:end]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            at = end + 1
        else:
            key = line
            (length,) = struct.unpack("<Q", datagram[end + 1:end + 9])
            value = datagram[end + 9:end + 9 + length]
            at = end + 9 + length + 1
        fields[key.decode()] = value.decode(errors="replace")
    return fields


def main():
    path, out, stop_at, ready = sys.argv[1:5]
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(60)
    with open(ready, "w", encoding="utf-8") as said:
        said.write("ready\n")
    with open(out, "a", encoding="utf-8") as written:
        while True:
            try:
                datagram = server.recv(1 << 20)
            except socket.timeout:
                return
            fields = decode(datagram)
            written.write(json.dumps(fields) + "\n")
            written.flush()
            if fields.get("MESSAGE") == stop_at:
                return


if __name__ == "__main__":
    main()
