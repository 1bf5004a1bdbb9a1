#!/usr/bin/env bash
# Side by side: Caducée against Postfix (submission over implicit TLS, SASL via Dovecot)
# delivering to Dovecot (LMTP, maildir, mail_fsync = always, POP3 over TLS), with the same
# load from caducee-load, on this machine's loopback. Run by hand as root on a Debian
# machine, never in CI:
#
#   cargo build --release -p caducee -p caducee-bench
#   sudo benches/compare/run.sh [SESSIONS] [MESSAGES] [COLLECTORS] [pop3|imap]
#
# It ends with the ratio table: accepted messages/s and end-of-data latency of the sink,
# Postfix + Dovecot and Caducée, Caducée's CPU per message and its share of the sink.
# Postfix's and Dovecot's per-client connection and rate limits are off, their process
# limits raised with the session count, so that 50 and 100 sessions run.
#
# COLLECTORS (default 4) collectors run beside the senders; 0 measures the accept path
# alone. They collect over POP3 (the default: a login per mailbox and round) or IMAP (one
# session per mailbox kept open: fetch, \Deleted, expunge, then IDLE until new mail is
# announced; Dovecot's IMAP on 127.0.0.1:2993 for the comparison).
#
# It installs postfix and dovecot from Debian's packages if missing, runs its own
# configuration from a scratch folder, and afterwards stops both and puts postfix's
# main.cf and master.cf back as they were (the packages stay installed).
set -euo pipefail

sessions=${1:-32}
messages=${2:-20000}
collectors=${3:-4}
protocol=${4:-pop3}
[[ $protocol == pop3 || $protocol == imap ]] || { echo "the collectors' protocol is pop3 or imap" >&2; exit 2; }
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CARGO_TARGET_DIR:-$top/target}/release
work=$(mktemp -d /tmp/caducee-compare.XXXXXX)
chmod 755 "$work"   # dovecot's auth process reads the password file as its own user
spool=/var/spool/postfix

if ! command -v postfix >/dev/null || ! command -v dovecot >/dev/null || [[ ! -x /usr/lib/dovecot/imap ]]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postfix dovecot-core dovecot-pop3d dovecot-imapd dovecot-lmtpd openssl
fi

cp /etc/postfix/main.cf "$work/main.cf.orig"
cp /etc/postfix/master.cf "$work/master.cf.orig"
stop_all() {
    postfix stop >/dev/null 2>&1 || true
    postsuper -d ALL >/dev/null 2>&1 || true
    [[ -f $work/dovecot.conf ]] && doveadm -c "$work/dovecot.conf" stop >/dev/null 2>&1 || true
    # Leave postfix's configuration as it was found.
    cp "$work/main.cf.orig" /etc/postfix/main.cf
    cp "$work/master.cf.orig" /etc/postfix/master.cf
}
trap stop_all EXIT

echo "== this machine's limits"
"$bin/caducee-limits" --dir "$work" --json "$work/limits.json"

echo "== the ceiling: the same load against an SMTP sink (TLS, AUTH, nothing stored)"
"$bin/caducee-limits" --smtp-sink "$work/sink" --sink-accounts "$sessions" > "$work/sink.ports" &
sink_pid=$!
for _ in $(seq 100); do [[ -s $work/sink.ports ]] && break; sleep 0.1; done
read -r _ _ sink_submissions _ sink_pop3s _ _ < "$work/sink.ports"
"$bin/caducee-load" --sessions "$sessions" --messages "$messages" --collectors 0 \
    --target-submissions-port "$sink_submissions" --target-pop3s-port "$sink_pop3s" \
    --target-ca "$work/sink/ca.pem" --target-accounts "$work/sink/accounts" --target-pid "$sink_pid" \
    --json "$work/sink.json" | tee "$work/sink.txt"
kill "$sink_pid"
wait "$sink_pid" 2>/dev/null || true

echo "== TLS: a CA and a certificate for localhost"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=compare CA" \
    -addext "basicConstraints=critical,CA:TRUE" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
    -extfile <(printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth") \
    -out "$work/server.pem" 2>/dev/null
chmod 644 "$work/server.key"

echo "== accounts: $sessions practices, argon2id passwords as on Caducée"
id vmail >/dev/null 2>&1 || useradd --system --home-dir "$work/mail" --shell /usr/sbin/nologin vmail
mkdir -p "$work/mail" && chown vmail:vmail "$work/mail"
: > "$work/users"; : > "$work/accounts.txt"; : > "$work/vmailbox"
for i in $(seq 0 $((sessions - 1))); do
    address="practice-$i@load.test"
    password=$(openssl rand -hex 12)
    hash=$(doveadm pw -s ARGON2ID -p "$password")
    echo "$address:$hash" >> "$work/users"
    echo "$address $password" >> "$work/accounts.txt"
    echo "$address OK" >> "$work/vmailbox"
done

echo "== dovecot: POP3 and IMAP over TLS on 127.0.0.1:2995 and 2993, LMTP and SASL sockets for postfix"
cat > "$work/dovecot.conf" <<CONF
protocols = pop3 imap lmtp
listen = 127.0.0.1
base_dir = $work/run
log_path = $work/dovecot.log
ssl = required
ssl_cert = <$work/server.pem
ssl_key = <$work/server.key
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain login
mail_location = maildir:$work/mail/%u
mail_fsync = always
mail_uid = vmail
mail_gid = vmail
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = $work/users
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=$work/mail/%u
}
# Every session of the load is one login process's client: enough of them for 100 sessions
# and the collectors, and as many mail processes.
default_process_limit = $((sessions * 2 + 20))
default_client_limit = $((sessions * 4 + 100))
mail_max_userip_connections = $((sessions + 10))
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = 2995
    ssl = yes
  }
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    port = 2993
    ssl = yes
  }
}
service lmtp {
  unix_listener $spool/private/compare-lmtp {
    mode = 0666
    user = postfix
    group = postfix
  }
}
service auth {
  client_limit = $((sessions * 4 + 100))
  unix_listener $spool/private/compare-auth {
    mode = 0666
    user = postfix
    group = postfix
  }
}
CONF
mkdir -p "$work/run"
dovecot -c "$work/dovecot.conf"

echo "== postfix: submission over implicit TLS on 127.0.0.1:2465, SASL, LMTP to dovecot"
postconf -e "myhostname = localhost" "mydestination =" "inet_interfaces = loopback-only" \
    "virtual_mailbox_domains = load.test" "virtual_mailbox_maps = texthash:$work/vmailbox" \
    "virtual_transport = lmtp:unix:private/compare-lmtp" \
    "smtpd_tls_cert_file = $work/server.pem" "smtpd_tls_key_file = $work/server.key" \
    "smtpd_sasl_type = dovecot" "smtpd_sasl_path = private/compare-auth" \
    "smtpd_sender_login_maps = texthash:$work/vmailbox" \
    "default_process_limit = $((sessions * 2 + 20))" "smtpd_client_connection_count_limit = 0" \
    "smtpd_client_connection_rate_limit = 0" "smtpd_client_message_rate_limit = 0" \
    "smtpd_client_recipient_rate_limit = 0" "smtpd_client_new_tls_session_rate_limit = 0" \
    "smtpd_client_auth_rate_limit = 0" "smtpd_client_event_limit_exceptions =" \
    "anvil_rate_time_unit = 60s" "message_size_limit = 26214400" "maillog_file_prefixes = /var /tmp" \
    "maillog_file = $work/maillog"
postconf -M "127.0.0.1:2465/inet=127.0.0.1:2465 inet n - y - - smtpd"
postconf -P "127.0.0.1:2465/inet/smtpd_tls_wrappermode=yes" \
    "127.0.0.1:2465/inet/smtpd_sasl_auth_enable=yes" \
    "127.0.0.1:2465/inet/smtpd_tls_security_level=encrypt" \
    "127.0.0.1:2465/inet/smtpd_recipient_restrictions=permit_sasl_authenticated,reject" \
    "127.0.0.1:2465/inet/smtpd_sender_restrictions=reject_sender_login_mismatch"
# The sender_login_maps file says "OK" as owner: make it name each login.
awk '{print $1, $1}' "$work/vmailbox" > "$work/senders"
postconf -e "smtpd_sender_login_maps = texthash:$work/senders"
# Each run starts from an empty queue (an earlier run's leftovers would compete).
postsuper -d ALL >/dev/null 2>&1 || true
postfix start >/dev/null 2>&1 || postfix reload >/dev/null
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/2465) 2>/dev/null && break; sleep 0.2; done

echo "== the same load against postfix + dovecot"
"$bin/caducee-load" --sessions "$sessions" --messages "$messages" --collectors "$collectors" \
    --collect-protocol "$protocol" --target-imaps-port 2993 \
    --target-submissions-port 2465 --target-pop3s-port 2995 --target-ca "$work/ca.pem" \
    --target-accounts "$work/accounts.txt" --seconds-max 900 \
    --json "$work/postfix.json" | tee "$work/postfix.txt" \
    || echo "(Postfix's run ended with errors, listed above; its figures count the sessions that went through)"

# Postfix may still be delivering its queue to Dovecot: stop both so that nothing of their
# run competes with the next one.
stop_all
# Why Postfix refused or dropped a session, if it did.
grep -E 'warning|fatal|panic|reject' "$work/maillog" 2>/dev/null | sed -E 's/^.*postfix\/([a-z]+)\[[0-9]+\]: /\1: /' \
    | sort | uniq -c | sort -rn | head -5 || true

echo "== and against caducee"
"$bin/caducee-load" --sessions "$sessions" --messages "$messages" --collectors "$collectors" \
    --collect-protocol "$protocol" \
    --json "$work/caducee.json" | tee "$work/caducee.txt"

echo "== ratios (one sitting: the sink, then Postfix + Dovecot, then Caducée)"
python3 - "$work" "$sessions" "$messages" "$collectors" "$protocol" <<'PY'
import json, sys
work, sessions, messages, collectors, protocol = sys.argv[1:]
runs = {name: json.load(open(f"{work}/{name}.json")) for name in ("sink", "postfix", "caducee")}
def rate(run): return run["messages_per_second"]
def p(run, what, q): return (run.get(what) or {}).get(f"{q}_ms")
print(f"{sessions} sessions, {messages} messages, {collectors} {protocol} collectors")
print(f"{'':28}{'sink':>12}{'Postfix+Dovecot':>18}{'Caducée':>12}")
print(f"{'accepted messages/s':28}" + "".join(f"{rate(runs[n]):>{w},.0f}" for n, w in (("sink", 12), ("postfix", 18), ("caducee", 12))))
for q in ("p50", "p99"):
    cells = [p(runs[n], "end_of_data_to_250", q) for n in ("sink", "postfix", "caducee")]
    print(f"{'end of data -> 250 ' + q + ' (ms)':28}" + "".join(f"{c:>{w}.2f}" if c is not None else f"{'-':>{w}}" for c, w in zip(cells, (12, 18, 12))))
if int(collectors):
    print(f"{'collected messages/s':28}{'-':>12}{runs['postfix']['collected_per_second']:>18,.0f}{runs['caducee']['collected_per_second']:>12,.0f}")
cpu = runs["caducee"].get("relay_cpu_seconds")
if cpu:
    after = runs["caducee"].get("relay_cpu_micros_per_message_after_logins")
    print(f"Caducée's relay CPU per message: {cpu / max(runs['caducee']['accepted'], 1) * 1e6:.0f} µs"
          + (f", {after:.0f} µs once every session had logged in" if after else ""))
print(f"Caducée / sink: {rate(runs['caducee']) / rate(runs['sink']):.1%}   Caducée / Postfix + Dovecot: {rate(runs['caducee']) / rate(runs['postfix']):.1f}x")
PY
echo "== results in $work"
