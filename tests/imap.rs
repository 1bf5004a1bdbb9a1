//! IMAP collection end to end: the real `caducee` binary on 127.0.0.1, collected by real
//! clients — python's imaplib over STARTTLS and implicit TLS, curl, fetchmail idling, and
//! neomutt in batch mode — under the rules POP3 has: a message is erased, key included,
//! once every recipient has expunged it; a new message reaches an idling session at once.

// An end-to-end scenario reads as one story, step after step.
#![allow(clippy::too_many_lines)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use base64::Engine as _;
use common::*;
use serde_json::Value;

/// An imapclient.py session for `user` on the relay's `imap` (STARTTLS) or `imaps` port.
fn session(relay: &Relay, service: &str, user: &str, password: &str, extra: &[&str]) -> Value {
    let (port, ca) = (relay.port(service), relay.ca());
    let tls = if service == "imaps" { "implicit" } else { "starttls" };
    let args = ["session", "--port", &port, "--tls", tls, "--ca", &ca, "--user", user, "--password", password];
    imap_client(&[&args[..], extra].concat())
}

fn decoded(message: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(message["body"].as_str().expect("base64")).expect("base64")
}

#[test]
fn imap_collects_over_both_tls_styles_and_erases_once_every_recipient_expunged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start(&data, "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let (carol, carol_pw) = relay.add_user("carol", None);
    let message = compose(dir.path(), &[&alice, &bob, &carol], "Résultats biologiques");
    let sent_bytes = std::fs::read(&message).expect("composed message");
    let sent = relay.send(&alice, &alice_pw, &format!("{bob},{carol}"), &message);
    assert_eq!(code(&sent["data"]), 250, "{sent}");

    // bob over STARTTLS: no login offered before TLS; the mailbox shown, read, expunged.
    let bob_session = session(&relay, "imap", &bob, &bob_pw, &["--read", "--delete", "--from-address", &alice]);
    let before: Vec<&str> =
        bob_session["capabilities_before_tls"].as_array().expect("list").iter().filter_map(Value::as_str).collect();
    assert!(before.contains(&"STARTTLS") && before.contains(&"LOGINDISABLED"), "{bob_session}");
    assert!(!before.iter().any(|c| c.starts_with("AUTH=")), "no AUTH before TLS: {bob_session}");
    let after: Vec<&str> =
        bob_session["capabilities"].as_array().expect("list").iter().filter_map(Value::as_str).collect();
    // imaplib reports them in capitals.
    for capability in ["IMAP4REV1", "IDLE", "UIDPLUS", "AUTH=PLAIN", "SASL-IR", "ID", "NAMESPACE", "QUOTA", "UNSELECT"]
    {
        assert!(after.contains(&capability), "{capability} offered after TLS: {after:?}");
    }
    assert_eq!(bob_session["login"][0], "OK", "{bob_session}");
    assert!(bob_session["status"][0].as_str().is_some_and(|s| s.contains("MESSAGES 1")), "{bob_session}");
    assert!(bob_session["quota"].to_string().contains("STORAGE"), "the quota shown: {bob_session}");
    assert!(bob_session["list"][0].as_str().is_some_and(|s| s.contains("INBOX")), "{bob_session}");
    assert_eq!(bob_session["create"][0], "NO", "{bob_session}");
    assert!(bob_session["create"][1].as_str().is_some_and(|s| s.contains("[CANNOT]")), "{bob_session}");
    assert_eq!(bob_session["exists"], 1, "{bob_session}");
    assert_eq!(bob_session["unseen"], serde_json::json!([1]), "{bob_session}");
    assert_eq!(bob_session["from"], serde_json::json!([1]), "FROM searched on the clear headers: {bob_session}");
    let fetched = decoded(&bob_session["messages"][0]);
    assert_eq!(without_trace_header(&fetched), sent_bytes.as_slice(), "byte-identical apart from the trace header");
    assert!(!bob_session["flags_after_peek"].to_string().contains("\\\\Seen"), "BODY.PEEK sets no flag: {bob_session}");
    assert!(bob_session["flags_after_read"].to_string().contains("\\\\Seen"), "BODY[] sets \\Seen: {bob_session}");
    assert_eq!(bob_session["expunge"][0], "OK", "{bob_session}");
    assert_eq!(bob_session["left"], serde_json::json!([]), "{bob_session}");
    assert!(relay.fetch(&bob, &bob_pw, false).is_empty(), "bob's expunge is his deletion, for POP3 too");
    assert_eq!(relay.status()["stored_messages"], 1, "carol has not collected yet");

    // carol reads with curl over implicit TLS (`\Seen` set), then expunges over imaps.
    let curl = Command::new("curl")
        .args(["--silent", "--show-error", "--cacert", &relay.ca(), "--user", &format!("{carol}:{carol_pw}")])
        .arg(format!("imaps://127.0.0.1:{}/INBOX;UID=1", relay.port("imaps")))
        .output()
        .expect("run curl");
    assert!(curl.status.success(), "curl: {}", String::from_utf8_lossy(&curl.stderr));
    assert_eq!(without_trace_header(&curl.stdout), sent_bytes.as_slice(), "curl reads the message");
    let carol_session = session(&relay, "imaps", &carol, &carol_pw, &["--delete"]);
    assert_eq!(carol_session["unseen"], serde_json::json!([]), "curl's read set \\Seen: {carol_session}");
    assert_eq!(carol_session["all"], serde_json::json!([1]), "{carol_session}");
    assert_eq!(carol_session["expunge"][0], "OK", "{carol_session}");

    let status = relay.status();
    assert_eq!(status["stored_messages"], 0, "erased once every recipient expunged: {status}");
    let carol_box = status["mailboxes"].as_array().expect("mailboxes").iter().find(|m| m["address"] == carol.as_str());
    assert!(carol_box.is_some_and(|m| m["last_collection"].as_u64().is_some()), "SELECT is a collection: {status}");
    let fsck = relay.cli(&["fsck"]);
    assert!(fsck.status.success(), "fsck: {}", String::from_utf8_lossy(&fsck.stdout));

    // A wrong password is refused, and said so.
    let refused = session(&relay, "imaps", &bob, "not-the-password", &[]);
    assert!(refused["login_error"].as_str().is_some_and(|e| e.contains("AUTHENTICATIONFAILED")), "{refused}");
}

#[test]
fn a_session_idling_on_inbox_hears_of_a_new_message_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start(&data, "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);

    let idler = Idler::start(&relay, &bob, &bob_pw);

    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    let sent = relay.send(&alice, &alice_pw, &bob, &message);
    assert_eq!(code(&sent["data"]), 250, "{sent}");

    let report = idler.report();
    assert_eq!(report["exists_before"], 0, "{report}");
    assert_eq!(report["exists"], 1, "the new message announced while idling: {report}");
    assert!(report["done"].as_str().is_some_and(|d| d.contains("OK")), "{report}");
}

/// fetchmail collecting over IMAP with `idle`, as a practice's mail gateway would: what
/// was waiting is fetched and erased at once, and a message sent later reaches it while it
/// idles, without a poll.
#[test]
fn fetchmail_idling_over_imap_collects_a_new_message_as_it_arrives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start(&data, "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let first = compose(dir.path(), &[&alice, &bob], "Premier compte rendu");
    assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &first)["data"]), 250);

    let delivered = dir.path().join("delivered.mbox");
    let rc = dir.path().join("fetchmailrc");
    // The certificate names `localhost`; the relay listens on 127.0.0.1 alone.
    let config = format!(
        "poll localhost via 127.0.0.1 port {} protocol IMAP\n  user \"{bob}\" password \"{bob_pw}\"\n  \
         ssl sslcertfile {} sslcertck sslcommonname localhost idle\n  mda \"cat >> {}\"\n",
        relay.port("imaps"),
        relay.ca(),
        delivered.display()
    );
    std::fs::write(&rc, config).expect("fetchmailrc");
    std::fs::set_permissions(&rc, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("0600");
    let mut fetchmail = Command::new("fetchmail")
        .args(["--nodetach", "--nosyslog", "--verbose", "--fetchmailrc"])
        .arg(&rc)
        .env("HOME", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("fetchmail (apt-get install fetchmail)");
    let mut log = BufReader::new(fetchmail.stdout.take().expect("stdout")).lines().map_while(Result::ok);
    // fetchmail says each IMAP line it sends (`IMAP> A0007 IDLE`) and reads (`IMAP< …`).
    let mut until = |sent: bool, end: &str| {
        let direction = if sent { "IMAP> " } else { "IMAP< " };
        log.by_ref().any(|line| line.contains(direction) && line.trim_end().ends_with(end))
    };
    assert!(until(true, " IDLE"), "fetchmail idles once the waiting mail is in");
    let waiting = std::fs::read_to_string(&delivered).expect("the first message delivered");
    assert!(waiting.contains("Premier compte rendu"), "{waiting}");

    let second = compose(dir.path(), &[&alice, &bob], "Second compte rendu");
    assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &second)["data"]), 250);
    assert!(until(false, " EXISTS"), "the relay told the idling session of the new message");
    assert!(until(false, "OK EXPUNGE completed"), "fetchmail fetched it and erased it");
    assert!(until(true, " IDLE"), "and idles again");
    let _ = fetchmail.kill();
    let _ = fetchmail.wait();
    let delivered = std::fs::read_to_string(&delivered).expect("delivered");
    assert!(delivered.contains("Second compte rendu"), "{delivered}");
    assert_eq!(relay.status()["stored_messages"], 0, "both erased: bob was their only recipient");
}

/// neomutt in a real terminal on the IMAPS port: a message sent while it shows INBOX
/// appears without a key pressed (IDLE), and deleting it then syncing (`d`, `$`) erases it.
#[test]
fn neomutt_shows_a_new_message_at_once_and_its_deletion_erases_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start(&data, "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let muttrc = dir.path().join("muttrc");
    let config = format!(
        "set imap_user = \"{bob}\"\nset imap_pass = \"{bob_pw}\"\nset certificate_file = \"{}\"\n\
         set ssl_force_tls = yes\nset folder = \"imaps://localhost:{}/\"\nset spoolfile = \"+INBOX\"\n\
         set imap_idle = yes\nset delete = yes\nset timeout = 1\nset mail_check = 1\n",
        relay.ca(),
        relay.port("imaps")
    );
    std::fs::write(&muttrc, config).expect("muttrc");
    let tmux = tmux::Tmux::new("neomutt");
    let command = format!("HOME={} neomutt -n -F {}", dir.path().display(), muttrc.display());
    assert!(tmux.run(&["new-session", "-d", "-s", "neomutt", "-x", "120", "-y", "30", &command]).status.success());
    tmux.wait_for("+INBOX [Msgs:0]");

    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu opératoire");
    assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &message)["data"]), 250);
    tmux.wait_for("Compte rendu op");
    tmux.keys(&["d"]);
    tmux.wait_for("Del:1");
    tmux.keys(&["$"]);
    tmux.wait_for("+INBOX [Msgs:0]");
    assert_eq!(relay.status()["stored_messages"], 0, "erased once bob deleted it");
    tmux.keys(&["q"]);
}

fn plain(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

/// Thunderbird's first connection (CAPABILITY, ID, AUTHENTICATE PLAIN, NAMESPACE, LIST,
/// SELECT, UID FETCH 1:* (FLAGS), IDLE … DONE, LOGOUT), sent over TLS all at once and cut
/// in pieces of many sizes: the relay answers the same, byte for byte, however it arrives.
#[test]
fn thunderbirds_first_connection_over_tls_reads_the_same_however_the_bytes_are_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &message)["data"]), 250);
    let dialogue = format!(
        "1 capability\r\n2 ID (\"name\" \"Thunderbird\" \"version\" \"128.5.0\")\r\n\
         3 authenticate PLAIN {}\r\n4 namespace\r\n5 list \"\" \"*\"\r\n6 select \"INBOX\"\r\n\
         7 UID fetch 1:* (FLAGS)\r\n8 IDLE\r\nDONE\r\n9 logout\r\n",
        plain(&bob, &bob_pw)
    );
    let mut transcripts = Vec::new();
    for chunk in [usize::MAX, 1, 2, 3, 7, 16, 61, 200] {
        let mut client = Raw::connect(&relay, "imaps");
        client.until("* OK");
        client.write_in_chunks(dialogue.as_bytes(), chunk);
        let said = client.until("9 ");
        assert!(said.contains("3 OK") && said.contains("* 1 EXISTS"), "cut every {chunk}:\n{said}");
        assert!(said.contains("* 1 FETCH (UID 1 FLAGS ())") || said.contains("* 1 FETCH (FLAGS () UID 1)"), "{said}");
        assert!(said.contains("8 OK") && said.contains("* LIST (\\HasNoChildren) \"/\" INBOX"), "{said}");
        transcripts.push((chunk, said));
    }
    for (chunk, said) in &transcripts[1..] {
        assert_eq!(said, &transcripts[0].1, "cut every {chunk} byte(s)");
    }
}

/// Two IMAP sessions on one mailbox hear of each other's flags and expunges; while a POP3
/// session holds the maildrop, SELECT is refused `NO [INUSE]`, and works again once it quit.
#[test]
fn sessions_on_one_mailbox_see_each_others_changes_and_pop3_keeps_imap_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    for subject in ["Premier", "Second"] {
        let message = compose(dir.path(), &[&alice, &bob], subject);
        assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &message)["data"]), 250);
    }
    let login = format!("a AUTHENTICATE PLAIN {}", plain(&bob, &bob_pw));
    let mut first = Raw::connect(&relay, "imaps");
    let mut second = Raw::connect(&relay, "imaps");
    for client in [&mut first, &mut second] {
        client.until("* OK");
        client.send(&login);
        client.until("a OK");
        client.send("b SELECT INBOX");
        assert!(client.until("b ").contains("* 2 EXISTS"));
    }
    second.send("c IDLE");
    second.until("+ ");
    first.send("c UID STORE 1 +FLAGS (\\Deleted \\Flagged)");
    first.until("c OK");
    let heard = second.until("* 1 FETCH");
    assert!(heard.contains("\\Deleted") && heard.contains("\\Flagged"), "told while idling: {heard}");
    first.send("d EXPUNGE");
    assert!(first.until("d OK").contains("* 1 EXPUNGE"));
    second.until("* 1 EXPUNGE");
    second.send("DONE");
    second.until("c OK");

    // POP3 takes the maildrop: IMAP's SELECT waits its turn.
    let mut pop3 = Raw::connect(&relay, "pop3s");
    pop3.until("+OK");
    pop3.send(&format!("USER {bob}"));
    pop3.until("+OK");
    pop3.send(&format!("PASS {bob_pw}"));
    pop3.until("+OK");
    second.send("e SELECT INBOX");
    assert!(second.until("e ").contains("e NO [INUSE]"), "refused while POP3 holds the maildrop");
    pop3.send("QUIT");
    pop3.until("+OK");
    second.send("f SELECT INBOX");
    assert!(second.until("f ").contains("* 1 EXISTS"), "one message left after the expunge");
    assert_eq!(relay.status()["stored_messages"], 1);
}
