#!/usr/bin/env python3
"""A browser's part in the personal space, with the standard library only: cookies, forms,
redirects (not followed, so that each one can be checked), and TOTP codes computed here
from the seed the enrolment page shows (RFC 6238, independently of the relay's code).

Each command prints one JSON document."""

import argparse
import base64
import hashlib
import hmac
import http.cookiejar
import json
import re
import ssl
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Browser:
    def __init__(self, base, ca, state=None):
        self.base = base
        self.jar = http.cookiejar.LWPCookieJar()
        if state:
            try:
                self.jar.load(state, ignore_discard=True, ignore_expires=True)
            except FileNotFoundError:
                pass
        self.state = state
        context = ssl.create_default_context(cafile=ca)
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context),
            urllib.request.HTTPCookieProcessor(self.jar),
            NoRedirect,
        )

    def request(self, path, form=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base + path, data=data)
        try:
            with self.opener.open(req, timeout=30) as response:
                status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, e.headers, e.read()
        if self.state:
            self.jar.save(self.state, ignore_discard=True, ignore_expires=True)
        return {
            "status": status,
            "location": headers.get("Location"),
            "set_cookie": headers.get_all("Set-Cookie") or [],
            "headers": {k.lower(): v for k, v in headers.items()},
            "body": body.decode(errors="replace"),
        }


def csrf_of(body):
    found = re.search(r'name="csrf" value="([^"]*)"', body)
    return found.group(1) if found else ""


def totp(secret_base32, at=None, step=30, digits=6):
    key = base64.b32decode(secret_base32 + "=" * (-len(secret_base32) % 8))
    counter = int((at if at is not None else time.time()) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % (10 ** digits)
    return str(code).zfill(digits)


def cmd_get(args):
    b = Browser(args.base, args.ca, args.state)
    print(json.dumps(b.request(args.path)))


def cmd_post(args):
    """POST a form; `csrf` is taken from the page at --form-page unless given."""
    b = Browser(args.base, args.ca, args.state)
    form = dict(pair.split("=", 1) for pair in args.field)
    if "csrf" not in form:
        form["csrf"] = csrf_of(b.request(args.form_page)["body"])
    print(json.dumps(b.request(args.path, form)))


def cmd_login(args):
    """Password, then second factor (enrolling if the page offers a seed). Prints every
    step's status and what was learnt (seed, recovery codes)."""
    b = Browser(args.base, args.ca, args.state)
    out = {}
    page = b.request("/login")
    out["login_page"] = page["status"]
    out["login_cookie"] = page["set_cookie"]
    step = b.request("/login", {"csrf": csrf_of(page["body"]), "address": args.address, "password": args.password})
    out["password"] = {"status": step["status"], "location": step["location"], "set_cookie": step["set_cookie"],
                       "body": step["body"] if step["status"] != 303 else ""}
    if step["status"] != 303:
        print(json.dumps(out))
        return
    second = b.request("/login/second-factor")
    seed = re.search(r'<code id="secret">([A-Z2-7]+)</code>', second["body"])
    secret = seed.group(1) if seed else args.secret
    out["enrolment"] = bool(seed)
    out["secret"] = secret
    code = args.code or totp(secret)
    done = b.request("/login/second-factor", {"csrf": csrf_of(second["body"]), "code": code})
    out["second_factor"] = {"status": done["status"], "location": done["location"], "set_cookie": done["set_cookie"]}
    out["code"] = code
    out["recovery_codes"] = re.findall(r"<li><code>([0-9A-F]{16})</code></li>", done["body"])
    out["body"] = done["body"] if done["status"] not in (200, 303) else ""
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--state", help="cookie jar file kept between commands")
    sub = parser.add_subparsers(required=True)
    p = sub.add_parser("get")
    p.add_argument("path")
    p.set_defaults(run=cmd_get)
    p = sub.add_parser("post")
    p.add_argument("path")
    p.add_argument("--form-page", default="/account")
    p.add_argument("--field", action="append", default=[])
    p.set_defaults(run=cmd_post)
    p = sub.add_parser("login")
    p.add_argument("--address", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--secret", help="the TOTP seed, once enrolled")
    p.add_argument("--code", help="a code to send instead of the current TOTP (a recovery code)")
    p.set_defaults(run=cmd_login)
    p = sub.add_parser("totp")
    p.add_argument("secret")
    p.set_defaults(run=lambda a: print(json.dumps({"code": totp(a.secret)})))
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    sys.exit(main())
