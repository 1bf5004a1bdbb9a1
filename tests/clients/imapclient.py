#!/usr/bin/env python3
"""A mail client collecting over IMAP for Caducée's end-to-end tests, built on python's
imaplib and ssl. Each command prints one JSON document on stdout; `idle` first prints the
line `idling` once the server accepted IDLE, then the JSON when new mail was announced.
"""

import argparse
import base64
import imaplib
import json
import re
import ssl
import sys


def connect(args):
    context = ssl.create_default_context(cafile=args.ca)
    if args.tls == "implicit":
        imap = imaplib.IMAP4_SSL("127.0.0.1", int(args.port), ssl_context=context)
        before = None
    else:
        imap = imaplib.IMAP4("127.0.0.1", int(args.port))
        before = sorted(imap.capabilities)
        imap.starttls(ssl_context=context)
    return imap, before


def text(data):
    return [d.decode(errors="replace") if isinstance(d, bytes) else repr(d) for d in data]


def login(imap, args, report):
    try:
        typ, data = imap.login(args.user, args.password)
    except imaplib.IMAP4.error as error:
        report["login_error"] = str(error)
        print(json.dumps(report))
        sys.exit(0)
    report["login"] = [typ, *text(data)]


def cmd_session(args):
    imap, before = connect(args)
    report = {"greeting": imap.welcome.decode(errors="replace"), "capabilities_before_tls": before}
    typ, data = imap.capability()
    report["capabilities"] = text(data)[0].split()
    login(imap, args, report)
    typ, data = imap.status("INBOX", "(MESSAGES UNSEEN UIDNEXT)")
    report["status"] = text(data)
    typ, data = imap.getquotaroot("INBOX")
    report["quota"] = [text(d) for d in data]
    typ, data = imap.list()
    report["list"] = text(data)
    typ, data = imap.create("Archives")
    report["create"] = [typ, *text(data)]
    typ, data = imap.select("INBOX", readonly=args.examine)
    report["select"] = [typ, *text(data)]
    if typ != "OK":
        imap.logout()
        print(json.dumps(report))
        return
    report["exists"] = int(data[0])
    typ, data = imap.uid("SEARCH", None, "UNSEEN")
    report["unseen"] = [int(u) for u in data[0].split()]
    typ, data = imap.uid("SEARCH", None, "FROM", '"%s"' % args.from_address) if args.from_address else (None, [b""])
    report["from"] = [int(u) for u in data[0].split()]
    typ, data = imap.uid("SEARCH", None, "ALL")
    report["all"] = [int(u) for u in data[0].split()]
    messages = []
    for uid in report["all"]:
        typ, data = imap.uid("FETCH", str(uid), "(UID FLAGS RFC822.SIZE BODY.PEEK[])")
        body = data[0][1]
        messages.append({"uid": uid, "size": len(body), "meta": data[0][0].decode(),
                         "body": base64.b64encode(body).decode()})
    report["messages"] = messages
    typ, data = imap.uid("FETCH", "1:*", "(FLAGS)")
    report["flags_after_peek"] = text([d for d in data if d])
    if args.read and report["unseen"]:
        typ, data = imap.uid("FETCH", str(report["unseen"][0]), "(BODY[HEADER.FIELDS (SUBJECT)])")
        typ, data = imap.uid("FETCH", str(report["unseen"][0]), "(FLAGS)")
        report["flags_after_read"] = text([d for d in data if d])
    if args.delete and report["all"]:
        uids = ",".join(str(u) for u in report["all"])
        typ, data = imap.uid("STORE", uids, "+FLAGS.SILENT", r"(\Deleted)")
        report["store"] = typ
        typ, data = imap.expunge()
        report["expunge"] = [typ, *text(data)]
    typ, data = imap.search(None, "ALL")
    report["left"] = [int(n) for n in data[0].split()]
    imap.close()
    imap.logout()
    print(json.dumps(report))


def cmd_idle(args):
    """Selects INBOX, idles until the server announces new mail, then ends IDLE."""
    imap, _ = connect(args)
    report = {}
    login(imap, args, report)
    typ, data = imap.select("INBOX")
    report["exists_before"] = int(data[0])
    tag = imap._new_tag()
    imap.send(tag + b" IDLE\r\n")
    line = imap.readline()
    if not line.startswith(b"+"):
        raise SystemExit("IDLE refused: %r" % line)
    print("idling", flush=True)
    while True:
        line = imap.readline()
        if not line:
            raise SystemExit("connection closed while idling")
        found = re.match(rb"\* (\d+) EXISTS", line)
        if found:
            report["exists"] = int(found.group(1))
            break
    imap.send(b"DONE\r\n")
    while True:
        line = imap.readline()
        if line.startswith(tag):
            report["done"] = line.decode().strip()
            break
    imap.logout()
    print(json.dumps(report), flush=True)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("session", "idle"):
        p = sub.add_parser(name)
        p.add_argument("--port", required=True)
        p.add_argument("--tls", choices=["starttls", "implicit"], required=True)
        p.add_argument("--ca", required=True)
        p.add_argument("--user", required=True)
        p.add_argument("--password", required=True)
        if name == "session":
            p.add_argument("--examine", action="store_true")
            p.add_argument("--read", action="store_true")
            p.add_argument("--delete", action="store_true")
            p.add_argument("--from-address")
    args = parser.parse_args()
    {"session": cmd_session, "idle": cmd_idle}[args.command](args)


if __name__ == "__main__":
    main()
