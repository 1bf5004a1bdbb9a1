#!/usr/bin/env python3
"""A practice's mail client for Caducée's end-to-end tests, built on the standard library
(smtplib, poplib, ssl) and gpg. Every command prints one JSON document on stdout, except
`load`, which prints one JSON line per accepted message as it happens, then a summary.
"""

import argparse
import base64
import json
import os
import poplib
import smtplib
import ssl
import subprocess
import sys
import threading
import time
from email import policy
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart


def gpg(home, *args, data=None, passphrase=""):
    env = dict(os.environ, GNUPGHOME=home)
    result = subprocess.run(
        ["gpg", "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", passphrase, *args],
        input=data, capture_output=True, env=env, check=False,
    )
    if result.returncode != 0:
        raise SystemExit("gpg %s failed: %s" % (args[0], result.stderr.decode(errors="replace")))
    return result.stdout


def codes(home):
    """The installation codes of the bundles imported into this keyring, by address: gpg
    keeps an imported secret key under its code."""
    try:
        with open(os.path.join(home, "codes.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def has_secret_key(home, address):
    env = dict(os.environ, GNUPGHOME=home)
    listing = subprocess.run(["gpg", "--batch", "--list-secret-keys", "<%s>" % address],
                             capture_output=True, env=env, check=False)
    return listing.returncode == 0


def make_keys(home, addresses):
    """Keys for addresses that have none yet (those of the relay's users come from their
    installation bundles: see import-bundle)."""
    os.makedirs(home, mode=0o700, exist_ok=True)
    imported = codes(home)
    for address in addresses:
        # An address whose bundle was imported has its key, whatever a listing says: a
        # listing that fails (its agent slow to answer on a loaded machine) must not add a
        # second key, which a later signature might pick without the code that opens it.
        if address in imported or has_secret_key(home, address):
            continue
        gpg(home, "--quick-gen-key", "%s <%s>" % (address.split("@")[0], address), "ed25519", "sign", "never")
        listing = gpg(home, "--list-keys", "--with-colons", address).decode()
        fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))
        gpg(home, "--quick-add-key", fpr, "cv25519", "encr", "never")


def cmd_import_bundle(args):
    """Installs a user's bundle the way a gpg user would: gpg --import, with the code."""
    os.makedirs(args.home, mode=0o700, exist_ok=True)
    # A new edition replaces whatever keys this keyring held for the address (a practice
    # re-installs; an address closed and subscribed again starts afresh).
    env = dict(os.environ, GNUPGHOME=args.home)
    listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys", "<%s>" % args.address],
                             capture_output=True, env=env, check=False).stdout.decode()
    lines = listing.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("pub:") and i + 1 < len(lines) and lines[i + 1].startswith("fpr:"):
            gpg(args.home, "--delete-secret-and-public-keys", lines[i + 1].split(":")[9])
    gpg(args.home, "--import", args.bundle, passphrase=args.code)
    known = codes(args.home)
    known[args.address] = args.code
    with open(os.path.join(args.home, "codes.json"), "w") as f:
        json.dump(known, f)
    print(json.dumps({"ok": True}))


def pgp_mime(home, sender, recipients, text, subject):
    args = ["--armor", "--encrypt", "--sign", "--trust-model", "always", "-u", sender]
    for r in recipients:
        args += ["-r", r]
    armored = gpg(home, *args, data=text.encode(), passphrase=codes(home).get(sender, ""))
    message = MIMEMultipart("encrypted", protocol="application/pgp-encrypted")
    control = MIMEBase("application", "pgp-encrypted")
    control.set_payload("Version: 1\n")
    message.attach(control)
    data = MIMEBase("application", "octet-stream", name="encrypted.asc")
    data.set_payload(armored.decode())
    message.attach(data)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8").encode()
    return message.as_bytes(policy=policy.SMTP)


def context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def smtp_connect(args):
    ctx = context(args.ca)
    if getattr(args, "client_cert", None):
        # Another operator's relay presents its certificate (the relay port).
        ctx.load_cert_chain(args.client_cert, args.client_key)
    host = getattr(args, "host", None) or "127.0.0.1"
    if args.tls == "implicit":
        return smtplib.SMTP_SSL(host, args.port, context=ctx, timeout=30)
    client = smtplib.SMTP(host, args.port, timeout=30)
    if args.tls == "starttls":
        client.starttls(context=ctx)
    return client


def reply(code, text):
    return {"code": code, "text": text.decode(errors="replace") if isinstance(text, bytes) else str(text)}


def cmd_keys(args):
    make_keys(args.home, args.addresses.split(","))
    print(json.dumps({"ok": True}))


def cmd_https_get(args):
    """GET over HTTPS trusting the relay's CA (key discovery: HKP, WKD); with --import-into,
    the body goes to gpg --import in that GNUPGHOME and gpg's view of the keys comes back."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(args.url, context=context(args.ca), timeout=30) as response:
            status, body = response.status, response.read()
            content_type = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, body, content_type = e.code, e.read(), e.headers.get("Content-Type", "")
    out = {"status": status, "content_type": content_type, "bytes": len(body)}
    if content_type.startswith(("text/", "application/json")) or content_type == "application/pgp-keys":
        out["text"] = body.decode(errors="replace")
    if args.import_into and status == 200:
        os.makedirs(args.import_into, mode=0o700, exist_ok=True)
        gpg(args.import_into, "--import", data=body)
        out["gpg_keys"] = gpg(args.import_into, "--list-keys", "--with-colons").decode()
    print(json.dumps(out))


def cmd_wkd_hash(args):
    """The WKD hash of a local part (SHA-1, z-base-32), computed independently of the relay."""
    import hashlib
    alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769"
    digest = hashlib.sha1(args.local.lower().encode()).digest()
    bits = "".join("{:08b}".format(b) for b in digest)
    bits += "0" * (-len(bits) % 5)
    print(json.dumps({"hash": "".join(alphabet[int(bits[i:i + 5], 2)] for i in range(0, len(bits), 5))}))


def cmd_gpg_open(args):
    """Decrypts and verifies a received message's OpenPGP part with gpg, as a practice using
    gpg alone would; reports the plaintext and gpg's status lines."""
    with open(args.file, "rb") as f:
        raw = f.read()
    start = raw.index(b"-----BEGIN PGP MESSAGE-----")
    end = raw.index(b"-----END PGP MESSAGE-----") + len(b"-----END PGP MESSAGE-----")
    env = dict(os.environ, GNUPGHOME=args.home)
    result = subprocess.run(
        ["gpg", "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", args.code,
         "--status-fd", "2", "--trust-model", "always", "--decrypt"],
        input=raw[start:end].replace(b"\r\n", b"\n"), capture_output=True, env=env, check=False,
    )
    status = [line[len("[GNUPG:] "):] for line in result.stderr.decode(errors="replace").splitlines()
              if line.startswith("[GNUPG:] ")]
    validsig = next((line.split()[1] for line in status if line.startswith("VALIDSIG ")), None)
    print(json.dumps({"exit": result.returncode, "plaintext": result.stdout.decode(errors="replace"),
                      "goodsig": any(line.startswith("GOODSIG ") for line in status), "validsig": validsig}))


def cmd_compose(args):
    text = args.text
    if text.startswith("@"):
        with open(text[1:], encoding="utf-8") as f:
            text = f.read()
    if args.pad_bytes:
        # Random letters do not compress: the encrypted message grows by about as much.
        text += "\n" + base64.b64encode(os.urandom(args.pad_bytes * 3 // 4)).decode()
    body = pgp_mime(args.home, args.sender, args.to.split(","), text, args.subject)
    with open(args.out, "wb") as f:
        f.write(body)
    print(json.dumps({"bytes": len(body)}))


def cmd_send(args):
    """Runs one submission and reports the reply to each step."""
    out = {}
    with open(args.file, "rb") as f:
        body = f.read()
    try:
        client = smtp_connect(args)
    except Exception as e:
        print(json.dumps({"connect_error": str(e)}))
        return
    try:
        client.ehlo("practice.example")
        out["ehlo"] = client.esmtp_features
        if args.user:
            try:
                code, text = client.login(args.user, args.password)
                out["auth"] = reply(code, text)
            except smtplib.SMTPException as e:
                out["auth"] = reply(getattr(e, "smtp_code", 0), getattr(e, "smtp_error", str(e)))
        code, text = client.mail(args.sender)
        out["mail"] = reply(code, text)
        out["rcpt"] = []
        for r in args.to.split(","):
            code, text = client.rcpt(r)
            out["rcpt"].append(reply(code, text))
        if out["mail"]["code"] == 250 and any(r["code"] == 250 for r in out["rcpt"]):
            code, text = client.data(body)
            out["data"] = reply(code, text)
        client.quit()
    except smtplib.SMTPServerDisconnected as e:
        out["disconnected"] = str(e)
    print(json.dumps(out))


def cmd_raw(args):
    """Sends raw lines (after STARTTLS/login when asked) and reports each reply."""
    client = smtp_connect(args)
    client.ehlo("practice.example")
    if args.user:
        client.login(args.user, args.password)
    replies = []
    for line in args.lines:
        client.send(line.encode() + b"\r\n")
        code, text = client.getreply()
        replies.append(reply(code, text))
    print(json.dumps({"replies": replies}))


def pop_connect(args):
    host = getattr(args, "host", None) or "127.0.0.1"
    if args.tls == "implicit":
        client = poplib.POP3_SSL(host, args.port, context=context(args.ca), timeout=30)
    else:
        client = poplib.POP3(host, args.port, timeout=30)
        if args.tls == "stls":
            client.stls(context=context(args.ca))
    return client


def cmd_fetch(args):
    """Logs in, lists, retrieves every message, deletes them if asked, quits."""
    client = pop_connect(args)
    out = {}
    try:
        client.user(args.user)
        client.pass_(args.password)
    except poplib.error_proto as e:
        print(json.dumps({"login_error": str(e)}))
        return
    count, size = client.stat()
    out["stat"] = [count, size]
    out["uidl"] = [line.decode().split()[1] for line in client.uidl()[1]]
    messages = []
    for n in range(1, count + 1):
        _, lines, _ = client.retr(n)
        messages.append(base64.b64encode(b"\r\n".join(lines) + b"\r\n").decode())
        if args.delete:
            client.dele(n)
    out["messages"] = messages
    out["quit"] = client.quit().decode()
    print(json.dumps(out))


def subject_of(message):
    for line in message.split(b"\r\n"):
        if line.lower().startswith(b"subject: "):
            return line[9:].decode(errors="replace")
        if not line:
            break
    return None


def cmd_collect(args):
    """Collects like a practice that polls: log in, retrieve and delete everything, QUIT;
    again and again until the server goes away. Prints each retrieval and each confirmed
    QUIT (only then are the deletions final) as JSON lines."""
    session = 0
    while True:
        session += 1
        try:
            client = pop_connect(args)
            client.user(args.user)
            client.pass_(args.password)
            count, _ = client.stat()
            if count == 0:
                time.sleep(0.02)  # a polling interval, as practice software has
            for n in range(1, count + 1):
                _, lines, _ = client.retr(n)
                subject = subject_of(b"\r\n".join(lines) + b"\r\n")
                print(json.dumps({"session": session, "retrieved": subject}), flush=True)
                client.dele(n)
            client.quit()
            print(json.dumps({"session": session, "quit_ok": True}), flush=True)
        except (OSError, poplib.error_proto, EOFError):
            return


def cmd_sink(args):
    """A plain SMTP sink standing in for a smarthost: prints {"listening": port}, then one
    JSON line per message received (envelope and base64 data), until killed."""
    import socketserver

    lock = threading.Lock()

    class Session(socketserver.StreamRequestHandler):
        def reply(self, line):
            self.wfile.write(line.encode() + b"\r\n")
            self.wfile.flush()

        def handle(self):
            self.reply("220 sink.test ESMTP")
            mail_from, rcpts = None, []
            while True:
                line = self.rfile.readline(4096)
                if not line:
                    return
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    self.reply("250-sink.test\r\n250 8BITMIME")
                elif verb == b"MAIL":
                    mail_from, rcpts = line.decode().split(":", 1)[1].strip(), []
                    self.reply("250 OK")
                elif verb == b"RCPT":
                    rcpts.append(line.decode().split(":", 1)[1].strip())
                    self.reply("250 OK")
                elif verb == b"DATA":
                    self.reply("354 go on")
                    data = b""
                    while True:
                        chunk = self.rfile.readline()
                        if chunk in (b".\r\n", b""):
                            break
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    with lock:
                        print(json.dumps({"mail_from": mail_from, "rcpt": rcpts,
                                          "data": base64.b64encode(data).decode()}), flush=True)
                    self.reply("250 queued")
                elif verb == b"QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("250 OK")

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    with Server(("127.0.0.1", args.port), Session) as server:
        print(json.dumps({"listening": server.server_address[1]}), flush=True)
        server.serve_forever()


def cmd_load(args):
    """Several concurrent senders over persistent STARTTLS sessions; prints each accepted
    message's subject the moment its 250 arrives, until the server goes away or each
    sender has sent its share."""
    with open(args.file, "rb") as f:
        template = f.read()
    lock = threading.Lock()
    accepted = []

    def sender(worker):
        try:
            client = smtp_connect(args)
            client.login(args.user, args.password)
            for n in range(args.count):
                subject = b"%sload-%d-%d" % (args.tag.encode(), worker, n)
                body = template.replace(b"Subject: load", b"Subject: " + subject, 1)
                client.sendmail(args.sender, args.to.split(","), body)
                with lock:
                    accepted.append(subject.decode())
                    print(json.dumps({"accepted": subject.decode()}), flush=True)
            client.quit()
        except smtplib.SMTPResponseException as e:
            # A refusal ends this sender; say which, so a test can tell "full" from "broken".
            text = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
            with lock:
                print(json.dumps({"refused": e.smtp_code, "text": text}), flush=True)
        except (OSError, smtplib.SMTPException):
            pass  # the server was killed: what was accepted is what counts

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(args.senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"done": len(accepted)}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("keys")
    p.add_argument("--home", required=True)
    p.add_argument("--addresses", required=True)
    p.set_defaults(run=cmd_keys)

    p = sub.add_parser("https-get")
    p.add_argument("--url", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--import-into")
    p.set_defaults(run=cmd_https_get)

    p = sub.add_parser("gpg-open")
    p.add_argument("--home", required=True)
    p.add_argument("--code", required=True, help="the passphrase of the imported secret key")
    p.add_argument("--file", required=True)
    p.set_defaults(run=cmd_gpg_open)

    p = sub.add_parser("wkd-hash")
    p.add_argument("--local", required=True)
    p.set_defaults(run=cmd_wkd_hash)

    p = sub.add_parser("import-bundle")
    p.add_argument("--home", required=True)
    p.add_argument("--bundle", required=True)
    p.add_argument("--code", required=True)
    p.add_argument("--address", required=True)
    p.set_defaults(run=cmd_import_bundle)

    p = sub.add_parser("compose")
    p.add_argument("--home", required=True)
    p.add_argument("--sender", required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--text", required=True, help="the document's text; @FILE reads it from FILE")
    p.add_argument("--subject", default="Document")
    p.add_argument("--out", required=True)
    p.add_argument("--pad-bytes", type=int, default=0, help="grow the document by about this much")
    p.set_defaults(run=cmd_compose)

    for name, run in (("send", cmd_send), ("raw", cmd_raw), ("load", cmd_load)):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--host", help="the relay's address (127.0.0.1 by default; ::1 for IPv6)")
        p.add_argument("--tls", choices=["none", "starttls", "implicit"], default="starttls")
        p.add_argument("--ca", required=True)
        p.add_argument("--user")
        p.add_argument("--password")
        p.add_argument("--client-cert", help="a client certificate (PEM) presented after STARTTLS")
        p.add_argument("--client-key")
        p.add_argument("--sender")
        p.add_argument("--to", default="")
        p.add_argument("--file")
        p.add_argument("--senders", type=int, default=8)
        p.add_argument("--count", type=int, default=1000)
        p.add_argument("--tag", default="", help="prefix of each load message's subject")
        p.add_argument("lines", nargs="*")
        p.set_defaults(run=run)

    p = sub.add_parser("fetch")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", help="the relay's address (127.0.0.1 by default; ::1 for IPv6)")
    p.add_argument("--tls", choices=["none", "stls", "implicit"], default="stls")
    p.add_argument("--ca", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--delete", action="store_true")
    p.set_defaults(run=cmd_fetch)

    p = sub.add_parser("sink")
    p.add_argument("--port", type=int, default=0, help="the port to listen on (any free one by default)")
    p.set_defaults(run=cmd_sink)

    p = sub.add_parser("collect")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls", choices=["none", "stls", "implicit"], default="implicit")
    p.add_argument("--ca", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.set_defaults(run=cmd_collect)

    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    sys.exit(main())
