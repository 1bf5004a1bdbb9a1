#!/usr/bin/env bash
# The comparison for benches/compare/federation.sh: the same load through two Postfix
# operators. Postfix A takes the practices' submissions (implicit TLS, SASL from Dovecot)
# and relays them over STARTTLS with its client certificate to Postfix B, which takes
# mail only from certificates of the test authority (smtpd_tls_ask_ccert,
# permit_tls_all_clientcerts) and delivers to Dovecot (LMTP, maildir, mail_fsync =
# always); collectors take every message from Dovecot over POP3S. Both Postfix instances
# and Dovecot run from a scratch folder (the system's configuration is not touched). Run
# by hand as root, never in CI:
#
#   cargo build --release -p caducee-bench
#   sudo benches/compare/postfix-relay.sh [SESSIONS] [MESSAGES] [COLLECTORS]
set -euo pipefail

sessions=${1:-16}
messages=${2:-5000}
collectors=${3:-1}
# Practices poll for new mail; every poll is a login (an argon2id check): polling four
# times a second keeps the receiving side's CPU for the relaying.
collect_every_ms=${COLLECT_EVERY_MS:-250}
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CARGO_TARGET_DIR:-$top/target}/release
work=$(mktemp -d /tmp/postfix-relay.XXXXXX)
chmod 755 "$work"

if ! command -v postfix >/dev/null || ! command -v dovecot >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postfix dovecot-core dovecot-pop3d dovecot-lmtpd openssl
fi
cleanup() {
    for op in a b; do postfix -c "$work/$op/conf" stop >/dev/null 2>&1 || true; done
    [[ -f $work/dovecot.conf ]] && doveadm -c "$work/dovecot.conf" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== the trust space: an authority, each operator's certificate, localhost for the clients"
cd "$work"
newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${newkey[@]}" -keyout ca.key -out ca.pem -days 2 -subj "/CN=Bench authority" 2>/dev/null
for op in a b localhost; do
    openssl req "${newkey[@]}" -keyout "$op.key" -out "$op.csr" -subj "/C=FR/O=OPERATEUR/CN=mx.$op.test" 2>/dev/null
    printf 'subjectAltName=DNS:mx.%s.test,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' \
        "$op" > "$op.cnf"
    openssl x509 -req -in "$op.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$op.pem" -days 2 \
        -extfile "$op.cnf" 2>/dev/null
done
chmod 644 ./*.key

echo "== accounts: $sessions practices at each operator"
id vmail >/dev/null 2>&1 || useradd --system --home-dir "$work/mail" --shell /usr/sbin/nologin vmail
mkdir -p mail && chown vmail:vmail mail
: > users; : > a-accounts.txt; : > b-accounts.txt; : > a-senders; : > b-mailboxes
for i in $(seq 0 $((sessions - 1))); do
    for op in a b; do
        address="practice-$i@$op.test"
        password=$(openssl rand -hex 12)
        echo "$address:$(doveadm pw -s ARGON2ID -p "$password")" >> users
        echo "$address $password" >> "$op-accounts.txt"
    done
    echo "practice-$i@a.test practice-$i@a.test" >> a-senders
    echo "practice-$i@b.test OK" >> b-mailboxes
done

# One Postfix operator in $work/OP: its SMTP server on PORT, the rest of main.cf given.
postfix_instance() { # OP PORT MAIN_CF_LINES...
    local op=$1 port=$2
    shift 2
    mkdir -p "$op/conf" "$op/queue" "$op/data"
    chown postfix "$op/data"
    {
        echo "compatibility_level = 3.6"
        echo "myhostname = mx.$op.test"
        echo "mydestination ="
        echo "inet_interfaces = 127.0.0.1"
        echo "inet_protocols = ipv4"
        echo "queue_directory = $work/$op/queue"
        echo "data_directory = $work/$op/data"
        echo "maillog_file_prefixes = $work"
        echo "maillog_file = $work/$op/maillog"
        echo "alias_maps ="
        echo "alias_database ="
        echo "default_process_limit = $((sessions * 2 + 20))"
        echo "smtpd_client_connection_count_limit = 0"
        echo "smtpd_client_message_rate_limit = 0"
        echo "message_size_limit = 26214400"
        printf '%s\n' "$@"
    } > "$op/conf/main.cf"
    cat > "$op/conf/master.cf" <<EOF
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    postfix -c "$work/$op/conf" check
}

postfix_instance b 2526 \
    "virtual_mailbox_domains = b.test" "virtual_mailbox_maps = texthash:$work/b-mailboxes" \
    "virtual_transport = lmtp:unix:private/bench-lmtp" \
    "smtpd_tls_cert_file = $work/b.pem" "smtpd_tls_key_file = $work/b.key" "smtpd_tls_CAfile = $work/ca.pem" \
    "smtpd_tls_security_level = encrypt" "smtpd_tls_ask_ccert = yes" \
    "smtpd_recipient_restrictions = permit_tls_all_clientcerts, reject"
postfix_instance a 2465 \
    "relay_domains = b.test" "transport_maps = inline:{b.test=smtp:[127.0.0.1]:2526}" \
    "smtp_tls_cert_file = $work/a.pem" "smtp_tls_key_file = $work/a.key" "smtp_tls_CAfile = $work/ca.pem" \
    "smtp_tls_security_level = verify" "smtp_tls_verify_cert_match = nexthop" \
    "smtpd_tls_cert_file = $work/localhost.pem" "smtpd_tls_key_file = $work/localhost.key" \
    "smtpd_tls_wrappermode = yes" "smtpd_tls_security_level = encrypt" \
    "smtpd_sasl_auth_enable = yes" "smtpd_sasl_type = dovecot" "smtpd_sasl_path = private/bench-auth" \
    "smtpd_sender_login_maps = texthash:$work/a-senders" \
    "smtpd_sender_restrictions = reject_sender_login_mismatch" \
    "smtpd_recipient_restrictions = permit_sasl_authenticated, reject"

echo "== dovecot: SASL for A, LMTP for B, POP3 over TLS on 127.0.0.1:2995"
cat > dovecot.conf <<CONF
protocols = pop3 lmtp
listen = 127.0.0.1
base_dir = $work/run
log_path = $work/dovecot.log
ssl = required
ssl_cert = <$work/localhost.pem
ssl_key = <$work/localhost.key
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
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = 2995
    ssl = yes
  }
}
service lmtp {
  unix_listener $work/b/queue/private/bench-lmtp {
    mode = 0666
  }
}
service auth {
  unix_listener $work/a/queue/private/bench-auth {
    mode = 0666
  }
}
CONF
mkdir -p run
dovecot -c "$work/dovecot.conf"
for op in a b; do postfix -c "$work/$op/conf" start >/dev/null; done
for port in 2465 2526; do
    for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done

echo "== the load: practices at A submit to practices at B, collected from B's Dovecot"
"$bin/caducee-load" --sessions "$sessions" --messages "$messages" --collectors "$collectors" --collect-every-ms "$collect_every_ms" \
    --target-submissions-port 2465 --target-pop3s-port 2995 --target-ca ca.pem \
    --target-accounts a-accounts.txt --peer-accounts b-accounts.txt --peer-pop3s-port 2995 --peer-ca ca.pem \
    --seconds-max 900 --json "${POSTFIX_RELAY_JSON:-/dev/null}"
