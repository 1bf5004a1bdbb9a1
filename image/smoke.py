#!/usr/bin/env python3
"""The host side of image/test-boot: checks a booted appliance through its forwarded ports
the way an administrator (SSH) and practices (SMTP, POP3, HTTPS, LDAP) reach it.

Phase "first": makes two accounts over SSH, checks the CA against the ready banner, the
data partition's growth, key discovery and the directory page on 443, LDAP on 389 with
StartTLS, sends a signed and encrypted message from alice to bob on 587 with STARTTLS and
collects it on 995, then leaves a second message waiting for bob.
Phase "console": on tty1's keyboard (QEMU's monitor), a wrong password for caduceeadm
does not open the administrator's console; the password whose hash the seed gave does;
`q` ends the session and the login prompt comes back. The screen is read from the guest's
/dev/vcs1 over SSH.
Phase "second" (after a reboot): bob's waiting message is still there, exactly once.
State between phases is kept in WORK/smoke.json.
"""

import argparse
import hashlib
import http.client
import imaplib
import json
import os
import poplib
import re
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "clients"))
import mailclient  # noqa: E402  (the end-to-end tests' mail client: gpg, PGP/MIME)

DOMAIN = "caducee.test"
HOSTNAME = "relay.caducee.test"
CONSOLE_USER = "caduceeadm"
# How long a step on tty1 may take under software emulation (login, the console starting).
TTY_SECONDS = 180


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
            "fingerprint": out["fingerprint"], "bundle": path, "remote_bundle": out["bundle"]}


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
    # tty1 holds a login prompt; the console's account has the console for its shell, is
    # in the relay's group (the admin socket is the relay's user's and group's), and runs
    # no command.
    getty = ssh(args, "systemctl show getty@tty1.service -p ActiveState").decode()
    if "ActiveState=active" not in getty:
        fail("no login prompt on tty1: " + getty)
    account = ssh(args, "getent passwd %s; id -nG %s; stat -c '%%U:%%G:%%a' /var/lib/caducee/admin.sock"
                        % (CONSOLE_USER, CONSOLE_USER)).decode().split("\n")
    if not account[0].endswith(":/usr/lib/caducee/console-shell") or "caducee" not in account[1].split() \
            or account[2] != "caducee:caducee:660":
        fail("the console's account or the admin socket: %r" % account)
    command = ssh_run(args, "su %s -c id" % CONSOLE_USER)
    if command.returncode == 0 or b"uid=" in command.stdout:
        fail("the console's account ran a command: %r" % command.stdout)
    # The data folder: the relay writes there, but cannot move root's appliance/ aside.
    modes = ssh(args, "stat -c '%U:%G:%a' /var/lib/caducee /var/lib/caducee/appliance").decode().split()
    if modes != ["root:caducee:1770", "root:root:700"]:
        fail("data folder and appliance state: %r" % modes)
    planted = ssh_run(args, "runuser -u caducee -- mv /var/lib/caducee/appliance /var/lib/caducee/moved")
    if planted.returncode == 0:
        fail("the relay's user could move the appliance's state aside")
    exposure = ssh(args, "systemd-analyze security --no-pager caducee.service | tail -1").decode().strip()
    print("systemd-analyze security: " + exposure)
    operations_conventions(args)

    state["alice"] = add_user(args, "alice", "Alice", "Martin")
    state["bob"] = add_user(args, "bob", "Bob", "Durand")
    # Users' keys are made by the key issuer, its own user in its own sandbox: the bundle is
    # in its folder, and the relay's user cannot read it.
    issuer = ssh(args, "systemctl show caducee-issuer.service -p ActiveState -p User -p PrivateNetwork "
                       "-p NoNewPrivileges").decode()
    for expected in ["ActiveState=active", "User=caducee-issuer", "PrivateNetwork=yes", "NoNewPrivileges=yes"]:
        if expected not in issuer:
            fail("caducee-issuer.service: %s not in\n%s" % (expected, issuer))
    bundle = state["alice"]["remote_bundle"]
    if not bundle.startswith("/var/lib/caducee-issuer/bundles/"):
        fail("alice's bundle was not written by the key issuer: %s" % bundle)
    owner = ssh(args, "stat -c '%%U:%%a' %s" % bundle).decode().strip()
    if owner != "caducee-issuer:600":
        fail("alice's bundle: %s" % owner)
    if ssh_run(args, "runuser -u caducee -- cat %s" % bundle).returncode == 0:
        fail("the relay's user could read a bundle")
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

    # Port 25, the relay port between operators: through the firewall, STARTTLS first, and
    # (no trust space joined yet) every sender refused in words.
    relay = smtplib.SMTP("127.0.0.1", args.relay, timeout=120)
    relay.ehlo("mx.operateur.test")
    code, text = relay.mail("secretariat@operateur.test")
    if code != 530:
        fail("the relay port took MAIL before STARTTLS: %d %s" % (code, text))
    relay.starttls(context=ctx)
    relay.ehlo("mx.operateur.test")
    code, text = relay.mail("secretariat@operateur.test")
    relay.quit()
    if code != 550 or b"has not joined the operators' trust space" not in text:
        fail("the relay port without a trust space: %d %s" % (code, text))

    # One more left waiting, to be found after the reboot; IMAP on 993, through the
    # firewall, shows it to bob (and leaves it there: SELECT erases nothing).
    submit(args, ctx, state, "waiting across a reboot", "Compte rendu: kept\n")
    imap = imaplib.IMAP4_SSL("127.0.0.1", args.imaps, ssl_context=ctx, timeout=120)
    imap.login(state["bob"]["address"], state["bob"]["password"])
    typ, data = imap.select("INBOX")
    if typ != "OK" or data != [b"1"]:
        fail("IMAP on 993: SELECT INBOX gave %s %r, not the one message waiting" % (typ, data))
    imap.logout()
    with open(os.path.join(args.work, "smoke.json"), "w") as f:
        json.dump(state, f)
    print("first boot: accounts, CA, data partition %s%s, HKP, directory page, LDAP, 587 -> 995, 993, port 25 all passed"
          % (size.group(1), size.group(2)))


def local_get(args, port, path):
    """GET http://127.0.0.1:PORT/PATH on the appliance, with bash alone (no HTTP client there)."""
    return ssh(args, "exec 3<>/dev/tcp/127.0.0.1/%d; printf 'GET %s HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3"
                     % (port, path)).decode(errors="replace")


def operations_conventions(args):
    """What a hosting provider relies on: dual-stack listeners, the journal's priorities,
    the health probes, the node exporter on loopback, the alert rules."""
    listening = ssh(args, "ss -Hltn").decode()
    for port in (25, 110, 143, 389, 443, 465, 587, 636, 993, 995):
        for address in ("0.0.0.0:%d" % port, "[::]:%d" % port):
            if address not in listening:
                fail("nothing listens on %s:\n%s" % (address, listening))
    if "127.0.0.1:9100" not in listening or "0.0.0.0:9100" in listening or "*:9100" in listening:
        fail("the node exporter is not on loopback alone:\n" + listening)
    notices = ssh(args, "journalctl -u caducee.service -p notice..notice -o cat --no-pager").decode()
    if "listening" not in notices:
        fail("the relay's information lines are not in the journal at their priority:\n" + notices[-2000:])
    ready = local_get(args, 9464, "/readyz")
    if not re.match(r"HTTP/1\.[01] 200 ", ready) or not ready.endswith("ready\n"):
        fail("/readyz: %r" % ready)
    host = local_get(args, 9100, "/metrics")
    if "node_memory_MemAvailable_bytes" not in host:
        fail("the node exporter's figures: %r" % host[:500])
    rules = ssh(args, "grep -c 'alert:' /usr/share/caducee/prometheus/caducee-alerts.yml").decode().strip()
    # The manual and the completions, as root reads and types them over SSH.
    page = ssh(args, "MANWIDTH=100 man -P cat caducee-config-check 2>&1").decode(errors="replace")
    if "caducee config check" not in page:
        fail("man caducee-config-check: %r" % page[:500])
    completion = ssh(args, "bash -lc 'source /usr/share/bash-completion/bash_completion; _completion_loader caducee; "
                           "COMP_WORDS=(caducee con); COMP_CWORD=1; _caducee caducee con caducee; echo ${COMPREPLY[@]}'")
    if b"config" not in completion.split() or b"console" not in completion.split():
        fail("bash completion of `caducee con`: %r" % completion)
    print("operations: dual-stack listeners, journal priorities, /readyz, node exporter, %s alert rules" % rules)


def tty1_screen(args):
    """The text on tty1, from the kernel's copy of the screen (one string, rows joined)."""
    return ssh(args, "cat /dev/vcs1").decode("latin-1")


def console_processes(args):
    """The processes of the console's account: `tty command` lines."""
    return ssh(args, "ps -o tty=,args= -u %s || true" % CONSOLE_USER).decode().strip()


def wait_until(args, what, check):
    """Polls `check` (which returns a true value once done) until TTY_SECONDS have passed."""
    deadline = time.monotonic() + TTY_SECONDS
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(1)
    fail("%s: not within %d s; tty1 shows:\n%s\nprocesses: %s"
         % (what, TTY_SECONDS, tty1_screen(args), console_processes(args)))


def type_on_tty1(args, *lines):
    """Types each line and Enter on the guest's keyboard (image/type-keys.py)."""
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([sys.executable, os.path.join(here, "type-keys.py"), args.monitor, *lines], check=True)


def log_in_on_tty1(args, password):
    """Types the console's account at the login prompt shown, then, once login asks for it
    (login flushes what was typed before it took the terminal), the password."""
    asked = tty1_screen(args).count("Password:")
    type_on_tty1(args, CONSOLE_USER)
    wait_until(args, "login asking for the password", lambda: tty1_screen(args).count("Password:") > asked)
    type_on_tty1(args, password)


def failed_logins(args):
    """The failures pam_faillock holds for the console's account, one line each."""
    listing = ssh(args, "faillock --dir /var/lib/faillock --user %s" % CONSOLE_USER).decode()
    return [line for line in listing.splitlines() if re.match(r"^\d{4}-\d{2}-\d{2} ", line)]


def phase_console(args):
    if not args.monitor or not args.console_password:
        fail("the console phase needs --monitor and --console-password")
    prompt = re.compile(r"\S login: ")
    wait_until(args, "a login prompt on tty1", lambda: prompt.search(tty1_screen(args)))

    # A wrong password: refused, counted, and no console.
    log_in_on_tty1(args, "not-the-console-password")
    wait_until(args, "'Login incorrect' on tty1", lambda: "Login incorrect" in tty1_screen(args))
    if console_processes(args):
        fail("a wrong password opened a session: " + console_processes(args))
    if len(failed_logins(args)) != 1:
        fail("pam_faillock did not count the failure: %r" % failed_logins(args))
    wait_until(args, "the login prompt again after the failure",
               lambda: prompt.search(tty1_screen(args).split("Login incorrect")[-1]))

    # The password whose hash the seed gave: the console, as the console's account.
    log_in_on_tty1(args, args.console_password)
    wait_until(args, "the console running as %s on tty1" % CONSOLE_USER,
               lambda: re.search(r"^\s*tty1\s+/usr/bin/caducee console\s*$", console_processes(args), re.MULTILINE))
    wait_until(args, "the console's screens on tty1",
               lambda: all(word in tty1_screen(args) for word in ("Dash", "Audit", "Alert")))
    if failed_logins(args):
        fail("the failure was still counted after a good login: %r" % failed_logins(args))
    # The console's requests are the console account's in the audit trail.
    uid = ssh(args, "id -u %s" % CONSOLE_USER).decode().strip()
    audit = ssh(args, "caducee audit export --from 2000-01-01 --to 2999-12-31").decode()
    if not re.search(r'"actor":\s*"uid %s"' % uid, audit):
        fail("no audit entry names the console's account (uid %s)" % uid)

    # q: the console ends, and the session with it; the login prompt comes back.
    type_on_tty1(args, "q")
    wait_until(args, "the session ended after q", lambda: not console_processes(args))
    wait_until(args, "the login prompt back after q",
               lambda: prompt.search(tty1_screen(args)) and "Audit" not in tty1_screen(args))
    print("console: a wrong password refused and counted, the seed's password opened the console "
          "as %s on tty1, q brought the login prompt back" % CONSOLE_USER)


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
    parser.add_argument("--phase", choices=["first", "console", "second", "before-power-cut", "after-power-cut"],
                        required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--serial", required=True)
    parser.add_argument("--monitor", help="the QEMU monitor's socket (phase console)")
    parser.add_argument("--console-password", help="the console's password the seed gave (phase console)")
    for name in ("ssh", "submission", "pop3s", "imaps", "https", "ldap", "relay"):
        parser.add_argument("--" + name, type=int, required=True)
    args = parser.parse_args()
    {"first": phase_first, "console": phase_console, "second": phase_second, "before-power-cut": phase_before_power_cut,
     "after-power-cut": phase_after_power_cut}[args.phase](args)


if __name__ == "__main__":
    main()
