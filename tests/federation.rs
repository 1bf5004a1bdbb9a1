//! Federation with the other operators of the trust space, end to end: the trust list
//! imported from a file and from an HTTPS server (openssl s_server with a certificate from a
//! test authority made here), listed and shown, a malformed copy refused whole; a peer
//! relaying into the relay port; two Caducée operators exchanging documents both ways
//! through their outbound queues, the queue administered while a peer is away; Postfix as a
//! third operator.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::operators::*;
use common::*;
use serde_json::Value;

/// A list as published, with the spellings real copies have (shared with the unit tests of
/// `appliance/src/federation/trust.rs`).
const LIST: &str = include_str!("fixtures/listeblanchemssante.xml");

#[test]
fn a_trust_list_is_put_in_force_whole_or_not_at_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let none = relay.cli(&["trust", "list"]);
    assert!(String::from_utf8_lossy(&none.stdout).contains("no trust list is in force"), "{none:?}");

    let file = dir.path().join("listeblanchemssante.xml");
    std::fs::write(&file, LIST).expect("list");
    let imported = relay.cli(&["trust", "import", path(&file)]);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    assert!(String::from_utf8_lossy(&imported.stdout).contains("2 domains (no list before)"), "{imported:?}");

    let listing = ok_json(&relay.cli(&["trust", "list", "--json"]));
    assert_eq!(listing["source"], path(&file));
    let domains: Vec<&str> =
        listing["domains"].as_array().expect("domains").iter().filter_map(|d| d["domain"].as_str()).collect();
    assert_eq!(domains, ["hopital-nord.mssante.test", "labo-sud.mssante.test"]);
    let labo = ok_json(&relay.cli(&["trust", "show", "Labo-Sud.MSSante.test", "--json"]));
    assert_eq!(
        labo["operators"][0], "CN=mx.operateur-b.test, OU=0002 987654321, O=OPERATEUR B, ST=Paris(75), C=FR",
        "quotes and double spaces tidied"
    );
    assert_eq!(labo["support_contact"], "support@operateur-b.test");
    let text = relay.cli(&["trust", "show", "hopital-nord.mssante.test"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("operator:    CN=mx.operateur-a.test"), "{text:?}");
    let unknown = relay.cli(&["trust", "show", "ailleurs.test"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("not in the trust list"), "{unknown:?}");

    // A copy without its closing root tag: refused whole, said why, an alert; the list stays.
    let cut = dir.path().join("cut.xml");
    std::fs::write(&cut, LIST.trim_end().strip_suffix("</ListeBlanche>").expect("root end")).expect("cut");
    let refused = relay.cli(&["trust", "import", path(&cut)]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("not well-formed XML") && why.contains("last good list"), "{why}");
    let alerts = ok_json(&relay.cli(&["alerts", "--open", "--json"]));
    assert!(alerts.as_array().expect("alerts").iter().any(|a| a["kind"] == "trust-list"), "{alerts}");
    assert_eq!(ok_json(&relay.cli(&["trust", "list", "--json"]))["domains"].as_array().map(Vec::len), Some(2));

    // The import is in the audit trail, and the list survives a restart.
    let audit = relay.cli(&["audit", "export", "--from", "2000-01-01", "--to", "2999-12-31"]);
    assert!(String::from_utf8_lossy(&audit.stdout).contains("2 domains from"), "the import is audited");
    assert!(relay.stop().success());
    let offline = ok_json(&caducee(&dir.path().join("data"), &["trust", "list", "--json"]));
    assert_eq!(offline["domains"].as_array().map(Vec::len), Some(2));
}

/// `openssl s_server -WWW` serving `dir` over HTTPS on a free loopback port.
struct HttpsFiles {
    child: Child,
    port: u16,
}

impl HttpsFiles {
    fn start(dir: &Path) -> HttpsFiles {
        let mut child = own_clock_lock(&mut Command::new("openssl"))
            .args(["s_server", "-WWW", "-cert", "server.pem", "-key", "server.key", "-accept", "127.0.0.1:0"])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("openssl s_server");
        // s_server says `ACCEPT 127.0.0.1:PORT` once it listens.
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("ACCEPT ").and_then(|a| a.rsplit(':').next()?.parse().ok()))
            .expect("s_server listening");
        // What it prints afterwards is read and dropped, so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        HttpsFiles { child, port }
    }
}

impl Drop for HttpsFiles {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_trust_list_is_fetched_over_https_from_a_server_of_the_trust_space() {
    let dir = tempfile::tempdir().expect("tempdir");
    let web = dir.path().join("web");
    std::fs::create_dir(&web).expect("web");
    Authority::new(&web, "ca").issue("server", "/CN=listes.test", "IP:127.0.0.1");
    std::fs::write(web.join("listeblanchemssante.xml"), LIST).expect("list");
    let server = HttpsFiles::start(&web);
    let url = format!("https://127.0.0.1:{}/listeblanchemssante.xml", server.port);

    let ca = web.join("ca.pem");
    let relay = Relay::start(&dir.path().join("data"), &format!("[federation]\nca_bundle = \"{}\"\n", path(&ca)));
    let imported = relay.cli(&["trust", "import", &url]);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    assert_eq!(ok_json(&relay.cli(&["trust", "list", "--json"]))["source"], url.as_str());

    // Verified against another authority (the relay's own CA), the server is refused.
    let other = dir.path().join("data/tls/ca.pem");
    let refused = relay.cli(&["trust", "import", &url, "--ca-bundle", path(&other)]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("fetching"), "{refused:?}");
    // Plain HTTP is not a way in.
    let plain = relay.cli(&["trust", "import", &url.replace("https", "http")]);
    assert!(String::from_utf8_lossy(&plain.stderr).contains("https:// only"), "{plain:?}");
}

/// A trust list binding `peer.test` to the peer operator's certificate, and `ailleurs.test`
/// to another operator.
const PEER_LIST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListeBlanche>
  <Domaine><Nom>peer.test</Nom><Description>Operateur pair</Description>
    <DNCertificatOperateur>CN=mx.peer.test, O=OPERATEUR  PAIR, C=FR</DNCertificatOperateur>
    <ResponsableContact>rssi@peer.test</ResponsableContact><SupportContact>support@peer.test</SupportContact>
    <DateMAJ>2026-01-01</DateMAJ></Domaine>
  <Domaine><Nom>ailleurs.test</Nom><Description>Un autre</Description>
    <DNCertificatOperateur>CN=mx.ailleurs.test, O=AUTRE, C=FR</DNCertificatOperateur>
    <ResponsableContact>rssi@ailleurs.test</ResponsableContact><SupportContact>s@ailleurs.test</SupportContact>
    <DateMAJ>2026-01-01</DateMAJ></Domaine>
</ListeBlanche>
"#;

/// A relay with a relay port on loopback, the trust space of `space`, and `PEER_LIST` in force.
fn relay_with_port(dir: &Path, space: &Path) -> Relay {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("data");
    let config = format!(
        "domain = \"relay.test\"\n[federation]\nca_bundle = \"{}\"\n[keys]\nauto_renew = false\n[listen]\n\
         submission = \"127.0.0.1:0\"\nsubmissions = \"127.0.0.1:0\"\npop3 = \"127.0.0.1:0\"\npop3s = \"127.0.0.1:0\"\nimap = \"127.0.0.1:0\"\nimaps = \"127.0.0.1:0\"\n\
         https = \"127.0.0.1:0\"\nldap = \"127.0.0.1:0\"\nldaps = \"127.0.0.1:0\"\nmetrics = \"127.0.0.1:0\"\n\
         relay = \"127.0.0.1:0\"\n",
        path(&space.join("ca.pem"))
    );
    std::fs::write(data.join("caducee.toml"), config).expect("config");
    let relay = Relay::start(&data, "");
    let list = dir.join("list.xml");
    std::fs::write(&list, PEER_LIST).expect("list");
    assert!(relay.cli(&["trust", "import", path(&list)]).status.success());
    relay
}

#[test]
fn a_relay_port_before_the_trust_space_is_joined_refuses_every_sender_saying_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data");
    // As the appliance starts: port 25 open, no [federation] yet.
    let config = "domain = \"relay.test\"\n[keys]\nauto_renew = false\n[listen]\n\
         submission = \"127.0.0.1:0\"\nsubmissions = \"127.0.0.1:0\"\npop3 = \"127.0.0.1:0\"\npop3s = \"127.0.0.1:0\"\nimap = \"127.0.0.1:0\"\nimaps = \"127.0.0.1:0\"\n\
         https = \"127.0.0.1:0\"\nldap = \"127.0.0.1:0\"\nldaps = \"127.0.0.1:0\"\nmetrics = \"127.0.0.1:0\"\n\
         relay = \"127.0.0.1:0\"\n";
    std::fs::write(data.join("caducee.toml"), config).expect("config");
    let relay = Relay::start(&data, "");
    let (alice, _) = relay.add_user("alice", None);
    let message = compose(dir.path(), &["secretariat@peer.test", &alice], "Compte rendu");
    let sent = relay_send(&relay, dir.path(), None, "secretariat@peer.test", &alice, &message);
    assert_eq!(code(&sent["mail"]), 550, "{sent}");
    assert!(common::text(&sent["mail"]).contains("has not joined the operators' trust space"), "{sent}");
}

/// One relayed submission on the relay port: STARTTLS, the client certificate `cert` if any,
/// no AUTH; the reply to each step.
fn relay_send(relay: &Relay, space: &Path, cert: Option<&str>, sender: &str, to: &str, message: &Path) -> Value {
    let (port, ca) = (relay.port("relay"), relay.ca());
    let mut args = vec!["send", "--port", &port, "--tls", "starttls", "--ca", &ca, "--sender", sender];
    args.extend(["--to", to, "--file", path(message)]);
    let (pem, key) = cert.map_or((String::new(), String::new()), |c| {
        (path(&space.join(format!("{c}.pem"))).to_owned(), path(&space.join(format!("{c}.key"))).to_owned())
    });
    if cert.is_some() {
        args.extend(["--client-cert", &pem, "--client-key", &key]);
    }
    python(&args)
}

#[test]
fn a_peer_operator_relays_into_the_relay_port_with_its_certificate_and_is_told_every_refusal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let space = dir.path().join("space");
    std::fs::create_dir(&space).expect("space");
    let authority = Authority::new(&space, "ca");
    authority.issue("peer", "/C=FR/O=OPERATEUR PAIR/CN=mx.peer.test", "DNS:mx.peer.test");
    authority.issue("stranger", "/C=FR/O=INCONNU/CN=mx.inconnu.test", "DNS:mx.inconnu.test");
    Authority::new(&space, "rogue").issue("impostor", "/C=FR/O=OPERATEUR PAIR/CN=mx.peer.test", "DNS:mx.peer.test");
    let relay = relay_with_port(dir.path(), &space);
    let (alice, alice_pw) = relay.add_user("alice", None);
    let message = compose(dir.path(), &["secretariat@peer.test", &alice], "Compte rendu");

    // The peer's certificate, its own domain, a local recipient: stored, and collected.
    let sent = relay_send(&relay, &space, Some("peer"), "secretariat@peer.test", &alice, &message);
    assert!(sent["ehlo"].get("auth").is_none(), "no AUTH on the relay port: {sent}");
    assert_eq!(code(&sent["mail"]), 250, "{sent}");
    assert_eq!(code(&sent["data"]), 250, "{sent}");
    let collected = relay.fetch(&alice, &alice_pw, true);
    assert_eq!(collected.len(), 1);
    let trace = String::from_utf8_lossy(&collected[0]);
    assert!(
        trace.contains("(operator C=FR, O=OPERATEUR PAIR, CN=mx.peer.test)"),
        "the trace names the operator: {trace}"
    );

    // Each refusal says why.
    let refusal = |cert: Option<&str>, sender: &str, to: &str| {
        let sent = relay_send(&relay, &space, cert, sender, to, &message);
        (code(&sent["mail"]), text(&sent["mail"]).to_owned(), sent)
    };
    let (code_, text, sent) = refusal(None, "secretariat@peer.test", &alice);
    assert!(code_ == 550 && text.contains("no client certificate"), "{sent}");
    let (code_, text, sent) = refusal(Some("impostor"), "secretariat@peer.test", &alice);
    assert!(code_ == 550 && text.contains("not one of the trust space's authority"), "{sent}");
    let (code_, text, sent) = refusal(Some("stranger"), "secretariat@peer.test", &alice);
    assert!(code_ == 550 && text.contains("is not bound to peer.test"), "{sent}");
    let (code_, text, sent) = refusal(Some("peer"), "secretariat@ailleurs.test", &alice);
    assert!(code_ == 550 && text.contains("is not bound to ailleurs.test"), "{sent}");
    let (code_, text, sent) = refusal(Some("peer"), "secretariat@nulle-part.test", &alice);
    assert!(code_ == 550 && text.contains("nulle-part.test is not in the trust list"), "{sent}");
    let sent = relay_send(&relay, &space, Some("peer"), "secretariat@peer.test", "personne@relay.test", &message);
    assert_eq!(code(&sent["rcpt"][0]), 550, "only local recipients: {sent}");
    assert!(relay.fetch(&alice, &alice_pw, true).is_empty(), "nothing refused was stored");
}

#[test]
fn two_operators_exchange_a_document_through_their_relay_ports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let space = two_operator_space(dir.path());
    let b = operator(dir.path(), "data-b", "b.test", &space, "b", "");
    let a = operator(
        dir.path(),
        "data-a",
        "relay.test",
        &space,
        "a",
        &format!("\"b.test\" = \"127.0.0.1:{}\"", b.port("relay")),
    );
    let (alice, alice_pw) = a.add_user("alice", None);
    let bob = "bob@b.test";
    let bob_pw = practice(&b, bob);

    // A document from alice at A to bob at B: 250 once queued at A, collected at B.
    let message = compose(dir.path(), &[&alice, bob], "Compte rendu operatoire");
    let sent = a.send(&alice, &alice_pw, bob, &message);
    assert_eq!(code(&sent["data"]), 250, "{sent}");
    let received = collect_when_arrived(&b, bob, &bob_pw, 1);
    let text = String::from_utf8_lossy(&received[0]);
    assert!(text.contains("(operator C=FR, O=OPERATEUR A, CN=mx.relay.test)"), "B names operator A: {text}");
    assert!(text.contains("-----BEGIN PGP MESSAGE-----"), "{text}");
    assert_eq!(a.status()["stored_messages"], 0, "A erased its copy once B accepted it");
    // A's trail says which operator took it, and when.
    let id = common::text(&sent["data"]).rsplit("stored as ").next().and_then(|s| s.split('.').next());
    let trail = a.cli(&["trail", "--message-id", id.expect("the message's number")]);
    let trail = String::from_utf8_lossy(&trail.stdout).into_owned();
    assert!(trail.contains("to bob@b.test") && trail.contains("relayed"), "{trail}");
    assert!(trail.contains("by operator C=FR, O=OPERATEUR B, CN=mx.b.test: 250 accepted"), "{trail}");
    assert!(trail.contains("erased"), "{trail}");

    // A domain outside the trust list is refused at RCPT, in words.
    let sent = a.send(&alice, &alice_pw, "quelquun@ailleurs.test", &message);
    assert_eq!(code(&sent["rcpt"][0]), 550, "{sent}");
    assert!(common::text(&sent["rcpt"][0]).contains("not in the trust list"), "{sent}");

    // A recipient B does not have: B refuses it at RCPT, and alice gets a signed report.
    let ghost = compose(dir.path(), &[&alice, bob], "Pour personne");
    let sent = a.send(&alice, &alice_pw, "personne@b.test", &ghost);
    assert_eq!(code(&sent["data"]), 250, "queued: {sent}");
    let report = collect_when_arrived(&a, &alice, &alice_pw, 1);
    let report = String::from_utf8_lossy(&report[0]);
    assert!(report.contains("Final-Recipient: rfc822; personne@b.test"), "{report}");
    assert!(report.contains("Status: 5.1.1") && report.contains("no such mailbox"), "{report}");
    assert!(report.contains("multipart/signed"), "signed by the relay: {report}");
    assert_eq!(a.status()["stored_messages"], 0, "nothing left at A");

    // And back: B, told A's relay port, delivers bob's answer to alice.
    let a_port = a.port("relay");
    assert!(b.stop().success());
    let b = operator(dir.path(), "data-b", "b.test", &space, "b", &format!("\"relay.test\" = \"127.0.0.1:{a_port}\""));
    let answer = compose(dir.path(), &[bob, &alice], "Re: Compte rendu");
    let sent = b.send(bob, &bob_pw, &alice, &answer);
    assert_eq!(code(&sent["data"]), 250, "{sent}");
    let received = collect_when_arrived(&a, &alice, &alice_pw, 1);
    let text = String::from_utf8_lossy(&received[0]);
    assert!(text.contains("(operator C=FR, O=OPERATEUR B, CN=mx.b.test)"), "A names operator B: {text}");
}

/// The relay's `/metrics`.
fn scrape(relay: &Relay) -> String {
    let output = Command::new("python3")
        .args(["-c", "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())"])
        .arg(format!("http://127.0.0.1:{}/metrics", relay.port("metrics")))
        .output()
        .expect("python3");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn a_message_waits_in_the_queue_while_its_peer_is_away_and_the_administrator_acts_on_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let space = two_operator_space(dir.path());
    let b = operator(dir.path(), "data-b", "b.test", &space, "b", "");
    let away = format!("\"b.test\" = \"127.0.0.1:{}\"", closed_port());
    // An alert as soon as anything waits.
    let a = operator_with(dir.path(), "data-a", "relay.test", &space, "a", &away, "queue_alert_minutes = 0");
    let (alice, alice_pw) = a.add_user("alice", None);
    let bob = "bob@b.test";
    let bob_pw = practice(&b, bob);

    // Two documents for bob while B cannot be reached: both 250 (on disk, queued).
    for subject in ["Premier", "Second"] {
        let message = compose(dir.path(), &[&alice, bob], subject);
        assert_eq!(code(&a.send(&alice, &alice_pw, bob, &message)["data"]), 250);
    }
    let queue = queue_when(&a, |q| {
        q["entries"].as_array().is_some_and(|e| e.len() == 2 && e.iter().all(|e| e["attempts"].as_u64() >= Some(1)))
    });
    let entries = queue["entries"].as_array().expect("entries");
    let (first, second) = (entries[0]["id"].as_u64().expect("id"), entries[1]["id"].as_u64().expect("id"));
    assert_eq!(entries[0]["domain"], "b.test");
    assert_eq!(entries[0]["recipients"][0]["state"], "waiting");
    assert!(entries[0]["last_error"].as_str().is_some_and(|e| e.contains("127.0.0.1")), "{queue}");
    let listing = String::from_utf8_lossy(&a.cli(&["queue", "list"]).stdout).into_owned();
    assert!(listing.contains("b.test") && listing.contains("last error"), "{listing}");
    // Raised at the end of the deliverer's look: looked for until it is there.
    let stuck = eventually(|| {
        let alerts = ok_json(&a.cli(&["alerts", "--open", "--json"]));
        alerts.as_array().expect("alerts").iter().find(|a| a["kind"] == "outbound-queue").cloned()
    });
    let stuck = stuck.expect("an outbound-queue alert");
    assert!(stuck["text"].as_str().is_some_and(|t| t.contains("mail for b.test has waited")), "{stuck}");
    let metrics = scrape(&a);
    assert!(metrics.contains("caducee_outbound_queue_entries 2"), "{metrics}");
    assert!(metrics.contains("caducee_outbound_deliveries_total{outcome=\"deferred\"}"), "{metrics}");
    assert!(metrics.contains("caducee_outbound_queue_oldest_age_seconds"), "{metrics}");

    // Held, then released; the second deleted: alice is told it will not be delivered.
    assert!(a.cli(&["queue", "hold", &first.to_string()]).status.success());
    assert_eq!(ok_json(&a.cli(&["queue", "show", &first.to_string(), "--json"]))["held"], true);
    assert!(a.cli(&["queue", "release", &first.to_string()]).status.success());
    assert_eq!(ok_json(&a.cli(&["queue", "show", &first.to_string(), "--json"]))["held"], false);
    let deleted = a.cli(&["queue", "delete", &second.to_string()]);
    assert!(String::from_utf8_lossy(&deleted.stdout).contains("1 entry deleted"), "{deleted:?}");
    let report = a.fetch(&alice, &alice_pw, true);
    assert_eq!(report.len(), 1, "one report, for the deleted message");
    let report = String::from_utf8_lossy(&report[0]);
    assert!(report.contains("Final-Recipient: rfc822; bob@b.test") && report.contains("deleted"), "{report}");
    let audit = a.cli(&["audit", "export", "--from", "2000-01-01", "--to", "2999-12-31"]);
    assert!(String::from_utf8_lossy(&audit.stdout).contains("deleted from the outbound queue"), "audited");

    // The queue is on disk: A restarted with the right route delivers the first one.
    assert!(a.stop().success());
    let route = format!("\"b.test\" = \"127.0.0.1:{}\"", b.port("relay"));
    let a = operator(dir.path(), "data-a", "relay.test", &space, "a", &route);
    let retried = a.cli(&["queue", "retry", "--all"]);
    assert!(String::from_utf8_lossy(&retried.stdout).contains("1 entry to be tried now"), "{retried:?}");
    let received = collect_when_arrived(&b, bob, &bob_pw, 1);
    assert_eq!(received.len(), 1, "the deleted one never left");
    assert!(String::from_utf8_lossy(&received[0]).contains("OPERATEUR A"));
    queue_when(&a, |q| q["entries"].as_array().is_some_and(Vec::is_empty));
    assert_eq!(a.status()["stored_messages"], 0);
}

/// Operators A (Caducée, `relay.test`) and P (Postfix, `p.test`).
const WITH_POSTFIX: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListeBlanche>
  <Domaine><Nom>relay.test</Nom><Description>Operateur A</Description>
    <DNCertificatOperateur>CN=mx.relay.test, O=OPERATEUR A, C=FR</DNCertificatOperateur>
    <ResponsableContact>rssi@relay.test</ResponsableContact><SupportContact>support@relay.test</SupportContact>
    <DateMAJ>2026-01-01</DateMAJ></Domaine>
  <Domaine><Nom>p.test</Nom><Description>Operateur P, sous Postfix</Description>
    <DNCertificatOperateur>CN=mx.p.test, O=OPERATEUR P, C=FR</DNCertificatOperateur>
    <ResponsableContact>rssi@p.test</ResponsableContact><SupportContact>support@p.test</SupportContact>
    <DateMAJ>2026-01-01</DateMAJ></Domaine>
</ListeBlanche>
"#;

/// Postfix's daemons, as Debian's master.cf has them, none chrooted (the instance lives
/// in the test's folder) and the SMTP server on the test's port.
const POSTFIX_MASTER: &str = "\
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
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";

/// Postfix's routes: `relay.test` to Caducée's relay port; `gone@p.test` a mailbox Postfix
/// accepts, then cannot deliver (a next hop where nothing listens, with no queue lifetime:
/// it bounces at the first failure), so that its delivery status notification goes back to
/// Caducée from the null sender.
fn postfix_transport(relay_port: &str) -> String {
    format!("inline:{{relay.test=smtp:[127.0.0.1]:{relay_port}, gone@p.test=smtp:[127.0.0.1]:9}}")
}

/// A Postfix instance of its own (Debian package `postfix`, run as root as CI runs): the
/// operator of `p.test`, its mail in one mbox, its log in a file.
struct Postfix {
    dir: std::path::PathBuf,
    port: u16,
}

impl Postfix {
    /// Postfix with the certificate `cert` of `space` (none: `None`) for its deliveries,
    /// relaying `relay.test` to `relay_port`; its SMTP server asks for client certificates
    /// and takes mail only from verified ones (`permit_tls_all_clientcerts`).
    fn start(dir: &Path, space: &Path, cert: Option<&str>, relay_port: &str) -> Postfix {
        assert!(
            Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0")),
            "the Postfix test runs Postfix as root, as CI does"
        );
        let dir = dir.join("postfix");
        for folder in ["conf", "queue", "data", "mail"] {
            std::fs::create_dir_all(dir.join(folder)).expect("postfix folder");
        }
        for folder in ["data", "mail"] {
            assert!(Command::new("chown").arg("postfix").arg(dir.join(folder)).status().expect("chown").success());
        }
        let port = closed_port();
        let id = |flag: &str| {
            let out = Command::new("id").args([flag, "postfix"]).output().expect("id");
            String::from_utf8(out.stdout).expect("id").trim().to_owned()
        };
        let client = cert.map_or(String::new(), |c| {
            format!("smtp_tls_cert_file = {}\nsmtp_tls_key_file = {}\n", path(&space.join(format!("{c}.pem"))), {
                path(&space.join(format!("{c}.key")))
            })
        });
        let main = format!(
            "compatibility_level = 3.6\nmyhostname = mx.p.test\nmydomain = p.test\nmyorigin = p.test\nmydestination =\n\
             inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\nqueue_directory = {d}/queue\ndata_directory = {d}/data\n\
             mail_owner = postfix\nsetgid_group = postdrop\nmaillog_file_prefixes = {d}\nmaillog_file = {d}/maillog\n\
             alias_maps =\nalias_database =\nsmtputf8_enable = no\n\
             virtual_mailbox_domains = p.test\nvirtual_mailbox_base = {d}/mail\nvirtual_mailbox_maps = static:mailbox\n\
             virtual_uid_maps = static:{uid}\nvirtual_gid_maps = static:{gid}\n\
             smtpd_tls_cert_file = {space}/p.pem\nsmtpd_tls_key_file = {space}/p.key\nsmtpd_tls_CAfile = {space}/ca.pem\n\
             smtpd_tls_security_level = may\nsmtpd_tls_ask_ccert = yes\nsmtpd_tls_loglevel = 1\n\
             smtpd_recipient_restrictions = permit_tls_all_clientcerts, reject\n\
             smtp_tls_security_level = encrypt\nsmtp_tls_loglevel = 1\n{client}\
             transport_maps = {transport}\n\
             bounce_queue_lifetime = 0\nmaximal_queue_lifetime = 0\n",
            d = path(&dir),
            space = path(space),
            uid = id("-u"),
            gid = id("-g"),
            transport = postfix_transport(relay_port),
        );
        std::fs::write(dir.join("conf/main.cf"), main).expect("main.cf");
        let master = format!("127.0.0.1:{port} inet n - n - - smtpd\n{POSTFIX_MASTER}");
        std::fs::write(dir.join("conf/master.cf"), master).expect("master.cf");
        let postfix = Postfix { dir, port };
        postfix.command(&["check"]);
        postfix.command(&["start"]);
        // Ready once its SMTP server answers.
        let up = (0..2000).any(|_| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(up, "Postfix listens on {port}: {}", postfix.log());
        postfix
    }

    fn command(&self, args: &[&str]) {
        let output = own_clock_lock(&mut Command::new("postfix"))
            .arg("-c")
            .arg(self.dir.join("conf"))
            .args(args)
            .output()
            .expect("postfix");
        assert!(output.status.success(), "postfix {args:?}: {}{}", String::from_utf8_lossy(&output.stderr), self.log());
    }

    /// Changes one setting of `main.cf` (`name = value`); `postfix reload` applies it.
    fn postconf(&self, setting: &str) {
        let output = Command::new("postconf").arg("-c").arg(self.dir.join("conf")).args(["-e", setting]).output();
        assert!(output.expect("postconf").status.success(), "postconf -e {setting}");
    }

    /// Hands a message to Postfix as a local program does (`sendmail`).
    fn sendmail(&self, sender: &str, recipient: &str, message: &Path) {
        let status = own_clock_lock(&mut Command::new("sendmail"))
            .arg("-C")
            .arg(self.dir.join("conf"))
            .args(["-f", sender, recipient])
            .stdin(std::fs::File::open(message).expect("message"))
            .status()
            .expect("sendmail");
        assert!(status.success());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    /// Asks Postfix for its queue (`postqueue -p`): each look at what Postfix did waits on
    /// Postfix itself, not on a timer.
    fn ask_queue(&self) {
        let _ = Command::new("postqueue").arg("-c").arg(self.dir.join("conf")).arg("-p").output();
    }

    /// Postfix's log once it holds `text`.
    fn log_when(&self, text: &str) -> String {
        let found = eventually(|| {
            self.ask_queue();
            let log = self.log();
            log.contains(text).then_some(log)
        });
        found.unwrap_or_else(|| panic!("Postfix never logged {text:?}: {}", self.log()))
    }

    /// The mbox of `p.test`, once it holds `text`.
    fn mailbox_when(&self, text: &str) -> String {
        let file = self.dir.join("mail/mailbox");
        let found = eventually(|| {
            self.ask_queue();
            let mbox = std::fs::read_to_string(&file).unwrap_or_default();
            mbox.contains(text).then_some(mbox)
        });
        found.unwrap_or_else(|| panic!("p.test's mailbox never got {text:?}: {}", self.log()))
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = own_clock_lock(&mut Command::new("postfix")).arg("-c").arg(self.dir.join("conf")).arg("stop").output();
    }
}

#[test]
fn postfix_as_a_third_operator_relays_both_ways_and_is_refused_without_its_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let space = dir.path().join("space");
    std::fs::create_dir(&space).expect("space");
    let authority = Authority::new(&space, "ca");
    authority.issue("a", "/C=FR/O=OPERATEUR A/CN=mx.relay.test", "DNS:mx.relay.test,IP:127.0.0.1");
    authority.issue("p", "/C=FR/O=OPERATEUR P/CN=mx.p.test", "DNS:mx.p.test,IP:127.0.0.1");
    Authority::new(&space, "rogue").issue("impostor", "/C=FR/O=OPERATEUR P/CN=mx.p.test", "DNS:mx.p.test");

    // Postfix's port is chosen before it starts, A's relay port once A runs: Postfix is told
    // it then.
    let postfix = Postfix::start(dir.path(), &space, Some("p"), "25");
    let route = format!("\"p.test\" = \"127.0.0.1:{}\"", postfix.port);
    let a = operator(dir.path(), "data-a", "relay.test", &space, "a", &route);
    postfix.postconf(&format!("transport_maps = {}", postfix_transport(&a.port("relay"))));
    postfix.command(&["reload"]);
    let list = dir.path().join("with-postfix.xml");
    std::fs::write(&list, WITH_POSTFIX).expect("list");
    assert!(a.cli(&["trust", "import", path(&list)]).status.success());
    let (alice, alice_pw) = a.add_user("alice", None);

    // Caducée → Postfix: Postfix takes it from A's verified certificate.
    let document = compose(dir.path(), &[&alice, "carol@p.test"], "Vers Postfix");
    assert_eq!(code(&a.send(&alice, &alice_pw, "carol@p.test", &document)["data"]), 250);
    let mbox = postfix.mailbox_when("-----BEGIN PGP MESSAGE-----");
    assert!(mbox.contains("Subject: Vers Postfix") || mbox.contains("From alice@relay.test"), "{mbox}");
    let log = postfix.log_when("relay=virtual");
    assert!(log.contains("Trusted TLS connection established from"), "A's certificate verified: {log}");
    queue_when(&a, |q| q["entries"].as_array().is_some_and(Vec::is_empty));

    // Postfix → Caducée: relayed into A's relay port with P's certificate.
    let reply = compose(dir.path(), &["dr.durand@p.test", &alice], "Depuis Postfix");
    postfix.sendmail("dr.durand@p.test", &alice, &reply);
    let log = postfix.log_when(&format!("to=<{alice}>"));
    let line = log.lines().find(|l| l.contains(&format!("to=<{alice}>"))).unwrap_or_default();
    assert!(line.contains("status=sent"), "Postfix relayed it: {log}");
    let received = collect_when_arrived(&a, &alice, &alice_pw, 1);
    let text = String::from_utf8_lossy(&received[0]);
    assert!(text.contains("(operator C=FR, O=OPERATEUR P, CN=mx.p.test)"), "{text}");

    // A recipient Postfix takes, then bounces: its report comes back from the null sender,
    // with the encrypted original, and alice collects it.
    let gone = compose(dir.path(), &[&alice, "gone@p.test"], "Pour une boite fermee");
    assert_eq!(code(&a.send(&alice, &alice_pw, "gone@p.test", &gone)["data"]), 250);
    let report = collect_when_arrived(&a, &alice, &alice_pw, 1);
    let report = String::from_utf8_lossy(&report[0]);
    assert!(report.contains("report-type=delivery-status") && report.contains("Action: failed"), "{report}");
    assert!(report.contains("Final-Recipient: rfc822; gone@p.test"), "{report}");
    assert!(report.contains("(operator C=FR, O=OPERATEUR P, CN=mx.p.test)"), "{report}");
    // Deferred once, and returned at once: its queue lifetime is zero.
    let log = postfix.log_when("sender non-delivery notification");
    assert!(log.contains("to=<gone@p.test>, relay=none"), "{log}");

    // Without its certificate, then with another authority's: refused, in words.
    for (cert, why) in [
        ("", "no client certificate was presented"),
        ("impostor", "the certificate presented is not one of the trust space's authority"),
    ] {
        let (pem, key) = if cert.is_empty() {
            (String::new(), String::new())
        } else {
            (path(&space.join(format!("{cert}.pem"))).to_owned(), path(&space.join(format!("{cert}.key"))).to_owned())
        };
        postfix.postconf(&format!("smtp_tls_cert_file = {pem}"));
        postfix.postconf(&format!("smtp_tls_key_file = {key}"));
        postfix.command(&["reload"]);
        postfix.sendmail("dr.durand@p.test", &alice, &reply);
        postfix.log_when(why);
    }
    assert_eq!(a.status()["stored_messages"], 0, "nothing refused was stored");
}
