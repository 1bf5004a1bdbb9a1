#!/usr/bin/env python3
"""The host side of image/test-boot: checks a booted appliance through its forwarded ports
the way an administrator (SSH) and practices (SMTP, POP3, HTTPS, LDAP) reach it.

Phase "first": makes two accounts over SSH, checks the CA against the ready banner, the
data partition's growth, key discovery and the directory page on 443, LDAP on 389 with
StartTLS, sends a signed and encrypted message from alice to bob on 587 with STARTTLS and
collects it on 995, then leaves a second message waiting for bob.
Phase "second" (after a reboot): bob's waiting message is still there, exactly once.
State between phases is kept in WORK/smoke.json.
"""

import argparse
import hashlib
import http.client
import json
import os
import poplib
import re
import smtplib
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "clients"))
import mailclient  # noqa: E402  (the end-to-end tests' mail client: gpg, PGP/MIME)

DOMAIN = "caducee.test"
HOSTNAME = "relay.caducee.test"


def fail(message):
    raise SystemExit("smoke test failed: " + message)


def ssh_run(args, command, data=None):
    """Runs a command on the appliance as root; the completed process, whatever its exit."""
    return subprocess.run(
        ["ssh", "-q", "-p", str(args.ssh), "-i", os.path.join(args.work, "id"),
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=" + os.path.join(args.work, "known_hosts"),
         "-o", "ConnectTimeout=30", "root@127.0.0.1", command],
        input=data, capture_output=True, check=False)


def ssh(args, command, data=None):
    """Runs a command on the appliance as root; its output, or the smoke test fails."""
    result = ssh_run(args, command, data)
    if result.returncode != 0:
        fail("ssh %r: exit %d: %s" % (command, result.returncode, result.stderr.decode(errors="replace")))
    return result.stdout


class RelayHTTPS(http.client.HTTPSConnection):
    """HTTPS to the forwarded port on 127.0.0.1, checking the certificate for the relay's
    host name (which does not resolve on the test host)."""

    def __init__(self, port, ctx):
        super().__init__(HOSTNAME, port, context=ctx, timeout=60)
        self.forwarded_port = port
        self.ctx = ctx

    def connect(self):
        import socket
        raw = socket.create_connection(("127.0.0.1", self.forwarded_port), timeout=60)
        self.sock = self.ctx.wrap_socket(raw, server_hostname=HOSTNAME)


def https_get(args, ctx, path):
    connection = RelayHTTPS(args.https, ctx)
    connection.request("GET", path, headers={"Host": HOSTNAME})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    if response.status != 200:
        fail("GET %s: HTTP %d" % (path, response.status))
    return body


def add_user(args, local, first, last):
    address = "%s@%s" % (local, DOMAIN)
    out = json.loads(ssh(args, "caducee user add --address %s --first-name %s --last-name %s "
                               "--contact-email %s@example.org --city Lille --json" % (address, first, last, local)))
    bundle = ssh(args, "cat %s" % out["bundle"])
    path = os.path.join(args.work, local + ".bundle")
    with open(path, "wb") as f:
        f.write(bundle)
    return {"address": address, "password": out["password"], "code": out["installation_code"],
            "fingerprint": out["fingerprint"], "bundle": path}


def import_bundle(home, user):
    namespace = argparse.Namespace(home=home, address=user["address"], bundle=user["bundle"], code=user["code"])
    with open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            mailclient.cmd_import_bundle(namespace)
        finally:
            sys.stdout = stdout


def submit(args, ctx, state, subject, text):
    home = state["gnupghome"]
    body = mailclient.pgp_mime(home, state["alice"]["address"], [state["bob"]["address"]], text, subject)
    client = smtplib.SMTP("127.0.0.1", args.submission, timeout=120)
    client.ehlo("practice.example")
    if "starttls" not in client.esmtp_features:
        fail("587 offers no STARTTLS")
    client.starttls(context=ctx)
    client.ehlo("practice.example")
    client.login(state["alice"]["address"], state["alice"]["password"])
    refused = client.sendmail(state["alice"]["address"], [state["bob"]["address"]], body)
    client.quit()
    if refused:
        fail("recipients refused: %r" % refused)
    return body


def collect(args, ctx, user):
    client = poplib.POP3_SSL("127.0.0.1", args.pop3s, context=ctx, timeout=120)
    client.user(user["address"])
    client.pass_(user["password"])
    count, _ = client.stat()
    messages = []
    for n in range(1, count + 1):
        _, lines, _ = client.retr(n)
        messages.append(b"\r\n".join(lines) + b"\r\n")
        client.dele(n)
    client.quit()
    return messages


def subject_of(message):
    found = re.search(rb"^Subject: (.*)$", message, re.MULTILINE | re.IGNORECASE)
    return found.group(1).strip().decode() if found else None


def phase_first(args):
    state = {}
    serial = open(args.serial, "rb").read().decode(errors="replace")

    # The CA the practices will trust is the one the console showed.
    ca_pem = ssh(args, "cat /var/lib/caducee/tls/ca.pem").decode()
    ca_path = os.path.join(args.work, "ca.pem")
    with open(ca_path, "w") as f:
        f.write(ca_pem)
    der = ssl.PEM_cert_to_DER_cert(ca_pem)
    fingerprint = ":".join("%02X" % b for b in hashlib.sha256(der).digest())
    if "CA certificate SHA-256: " + fingerprint not in serial:
        fail("the ready banner does not show the CA's fingerprint %s" % fingerprint)

    # The data partition grew from the image's 256 MiB to the end of the 4 GiB disk (2.3 GiB).
    size = re.search(r"data partition: ([0-9.,]+)([MG])", serial)
    if not size or size.group(2) != "G" or float(size.group(1).replace(",", ".")) < 2.0:
        fail("the data partition did not grow to the disk: %r" % (size.group(0) if size else None))

    # The relay runs under systemd as its own user, hardened.
    unit = ssh(args, "systemctl show caducee.service -p ActiveState -p User -p NoNewPrivileges "
                     "-p ProtectSystem -p Type -p WatchdogUSec").decode()
    for expected in ["ActiveState=active", "User=caducee", "NoNewPrivileges=yes", "ProtectSystem=strict",
                     "Type=notify", "WatchdogUSec=30s"]:
        if expected not in unit:
            fail("caducee.service: %s not in\n%s" % (expected, unit))
    if b"policy drop" not in ssh(args, "nft list ruleset"):
        fail("no firewall with a drop policy")
    failed = ssh(args, "systemctl list-units --failed --plain --no-legend").decode().strip()
    if failed:
        fail("failed units after boot:\n" + failed)
    # The administrator's console holds tty1 in place of a login prompt.
    console = ssh(args, "systemctl show caducee-console.service -p ActiveState -p TTYPath -p User").decode()
    if any(f not in console for f in ("ActiveState=active", "TTYPath=/dev/tty1", "User=caducee")):
        fail("the console is not running on tty1 as the relay's user: " + console)
    # The data folder: the relay writes there, but cannot move root's appliance/ aside.
    modes = ssh(args, "stat -c '%U:%G:%a' /var/lib/caducee /var/lib/caducee/appliance").decode().split()
    if modes != ["root:caducee:1770", "root:root:700"]:
        fail("data folder and appliance state: %r" % modes)
    planted = ssh_run(args, "runuser -u caducee -- mv /var/lib/caducee/appliance /var/lib/caducee/moved")
    if planted.returncode == 0:
        fail("the relay's user could move the appliance's state aside")
    exposure = ssh(args, "systemd-analyze security --no-pager caducee.service | tail -1").decode().strip()
    print("systemd-analyze security: " + exposure)

    state["alice"] = add_user(args, "alice", "Alice", "Martin")
    state["bob"] = add_user(args, "bob", "Bob", "Durand")
    state["gnupghome"] = tempfile.mkdtemp(prefix="gnupg-", dir=args.work)
    import_bundle(state["gnupghome"], state["alice"])
    import_bundle(state["gnupghome"], state["bob"])

    ctx = mailclient.context(ca_path)
    # Key discovery (HKP) on 443 returns bob's current certificate.
    armored = https_get(args, ctx, "/pks/lookup?op=get&options=mr&search=" + state["bob"]["address"])
    if b"BEGIN PGP PUBLIC KEY BLOCK" not in armored:
        fail("HKP gave no certificate for bob")
    listing = mailclient.gpg(state["gnupghome"], "--with-colons", "--show-keys", data=armored).decode()
    if state["bob"]["fingerprint"].upper() not in listing.upper():
        fail("HKP's certificate is not bob's current one")
    # The directory page lists both practices of Lille.
    page = https_get(args, ctx, "/directory?q=lille").decode(errors="replace")
    for user in ("alice", "bob"):
        if state[user]["address"] not in page:
            fail("the directory page does not list %s" % state[user]["address"])

    # LDAP with StartTLS, anonymous, as a practice's address book would.
    ldap = subprocess.run(
        ["ldapsearch", "-LLL", "-x", "-ZZ", "-H", "ldap://127.0.0.1:%d" % args.ldap,
         "-b", "ou=directory,dc=caducee,dc=test", "(mail=%s)" % state["alice"]["address"], "cn", "mail"],
        env=dict(os.environ, LDAPTLS_CACERT=ca_path, LDAPTLS_REQCERT="demand"),
        capture_output=True, check=False)
    if ldap.returncode != 0 or b"mail: alice@caducee.test" not in ldap.stdout:
        fail("ldapsearch: exit %d: %s %s" % (ldap.returncode, ldap.stdout, ldap.stderr))

    # A document from alice to bob: signed and encrypted, through 587 and 995.
    submit(args, ctx, state, "first-boot document", "Compte rendu: first boot\n")
    received = collect(args, ctx, state["bob"])
    if [subject_of(m) for m in received] != ["first-boot document"]:
        fail("bob collected %r" % [subject_of(m) for m in received])
    opened = decrypt(state, received[0])
    if "Compte rendu: first boot" not in opened:
        fail("bob's copy does not decrypt to the document: %r" % opened)

    # One more left waiting, to be found after the reboot.
    submit(args, ctx, state, "waiting across a reboot", "Compte rendu: kept\n")
    with open(os.path.join(args.work, "smoke.json"), "w") as f:
        json.dump(state, f)
    print("first boot: accounts, CA, data partition %s%s, HKP, directory page, LDAP, 587 -> 995 all passed"
          % (size.group(1), size.group(2)))


def decrypt(state, message):
    path = os.path.join(state["gnupghome"], "received.eml")
    with open(path, "wb") as f:
        f.write(message)
    namespace = argparse.Namespace(file=path, home=state["gnupghome"], code=state["bob"]["code"])
    capture = tempfile.TemporaryFile(mode="w+")
    stdout, sys.stdout = sys.stdout, capture
    try:
        mailclient.cmd_gpg_open(namespace)
    finally:
        sys.stdout = stdout
    capture.seek(0)
    result = json.load(capture)
    if not result["goodsig"]:
        fail("bob's copy does not carry alice's good signature: %r" % result)
    return result["plaintext"]


def saved_state(args):
    """What the first phase kept (accounts, keyring), and a TLS context trusting the CA."""
    with open(os.path.join(args.work, "smoke.json")) as f:
        state = json.load(f)
    return state, mailclient.context(os.path.join(args.work, "ca.pem"))


def collect_exactly(args, ctx, state, subject, text, when):
    """Bob's mailbox holds exactly the message `subject`, which decrypts to `text`."""
    received = collect(args, ctx, state["bob"])
    if [subject_of(m) for m in received] != [subject]:
        fail("%s bob collected %r" % (when, [subject_of(m) for m in received]))
    if text not in decrypt(state, received[0]):
        fail("%s the message %r does not decrypt" % (when, subject))


def phase_second(args):
    state, ctx = saved_state(args)
    collect_exactly(args, ctx, state, "waiting across a reboot", "Compte rendu: kept", "after the reboot")
    if collect(args, ctx, state["bob"]):
        fail("the collected message came back")
    status = json.loads(ssh(args, "caducee status --json"))
    if status.get("mailbox_count") != 2:
        fail("status after reboot: %r" % status)
    # The nightly backup and restore drill, run now, onto the backup disk (mounted by then:
    # the unit wants its mount; without it the unit is skipped, which must not pass unseen).
    ssh(args, "systemctl start caducee-backup.service")
    if ssh_run(args, "mountpoint -q /var/backups/caducee").returncode != 0:
        fail("the backup disk is not mounted at /var/backups/caducee: %s"
             % ssh_run(args, "systemctl status var-backups-caducee.mount").stdout.decode(errors="replace"))
    listing = ssh(args, "ls /var/backups/caducee").decode().split()
    backups = [name for name in listing if name.startswith("caducee-") and name.endswith(".cbk")]
    if not backups:
        fail("no backup on the backup disk: %r" % listing)
    drill = json.loads(ssh(args, "caducee status --json")).get("last_drill") or {}
    if drill.get("ok") is not True:
        fail("the restore drill after the backup: %r" % drill)
    print("second boot: the waiting message survived the reboot and was collected once; backup %s drilled, "
          "first message accepted %.1f s after the restore began" % (backups[-1], drill.get("first_accept_seconds")))


def phase_before_power_cut(args):
    state, ctx = saved_state(args)
    submit(args, ctx, state, "accepted before the power cut", "Compte rendu: power cut\n")
    print("a message accepted (250) just before the power cut")


def phase_after_power_cut(args):
    state, ctx = saved_state(args)
    collect_exactly(args, ctx, state, "accepted before the power cut", "Compte rendu: power cut",
                    "after the power cut")
    fsck = ssh(args, "caducee fsck --json").decode()
    if '"ok":true' not in fsck.replace(" ", ""):
        fail("fsck after the power cut: " + fsck)
    print("after the power cut: the message acknowledged before it was collected, the store sound")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--phase", choices=["first", "second", "before-power-cut", "after-power-cut"],
                        required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--serial", required=True)
    for name in ("ssh", "submission", "pop3s", "https", "ldap"):
        parser.add_argument("--" + name, type=int, required=True)
    args = parser.parse_args()
    {"first": phase_first, "second": phase_second, "before-power-cut": phase_before_power_cut,
     "after-power-cut": phase_after_power_cut}[args.phase](args)


if __name__ == "__main__":
    main()
