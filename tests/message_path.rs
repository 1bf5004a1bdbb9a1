//! The message path end to end: the real `caducee` binary on 127.0.0.1 (port 0), driven by
//! real clients — python's smtplib and poplib over TLS verified against the relay's CA, and
//! messages encrypted by gpg.

// An end-to-end scenario reads as one story, step after step: the 100-line rule is for the
// relay's own code.
#![allow(clippy::too_many_lines)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use base64::Engine as _;
use common::*;
use serde_json::Value;

#[test]
fn gpg_message_to_two_recipients_travels_over_both_tls_styles_and_is_erased_after_collection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start(&data, "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let (carol, carol_pw) = relay.add_user("carol", None);
    let message = compose(dir.path(), &[&alice, &bob, &carol], "Résultats biologiques");
    let message_path = message.to_str().expect("utf-8 path");
    let sent_bytes = std::fs::read(&message).expect("composed message");

    // STARTTLS on the submission port, to bob and carol.
    let sent = python(&[
        "send",
        "--port",
        &relay.port("submission"),
        "--tls",
        "starttls",
        "--ca",
        &relay.ca(),
        "--user",
        &alice,
        "--password",
        &alice_pw,
        "--sender",
        &alice,
        "--to",
        &format!("{bob},{carol}"),
        "--file",
        message_path,
    ]);
    assert_eq!(code(&sent["auth"]), 235, "{sent}");
    assert_eq!(code(&sent["data"]), 250, "{sent}");
    assert!(sent["ehlo"]["auth"].as_str().is_some_and(|m| m.contains("PLAIN")), "AUTH offered after TLS: {sent}");

    // Implicit TLS on the submissions port, to bob only.
    let sent = python(&[
        "send",
        "--port",
        &relay.port("submissions"),
        "--tls",
        "implicit",
        "--ca",
        &relay.ca(),
        "--user",
        &alice,
        "--password",
        &alice_pw,
        "--sender",
        &alice,
        "--to",
        &bob,
        "--file",
        message_path,
    ]);
    assert_eq!(code(&sent["data"]), 250, "{sent}");

    let status = relay.status();
    assert_eq!(status["stored_messages"], 2, "each message stored once: {status}");

    // bob collects over POP3 with STLS, carol over implicit TLS; both delete.
    let bob_fetch = python(&[
        "fetch",
        "--port",
        &relay.port("pop3"),
        "--tls",
        "stls",
        "--ca",
        &relay.ca(),
        "--user",
        &bob,
        "--password",
        &bob_pw,
        "--delete",
    ]);
    let carol_fetch = python(&[
        "fetch",
        "--port",
        &relay.port("pop3s"),
        "--tls",
        "implicit",
        "--ca",
        &relay.ca(),
        "--user",
        &carol,
        "--password",
        &carol_pw,
        "--delete",
    ]);
    assert_eq!(bob_fetch["stat"][0], 2, "{bob_fetch}");
    assert_eq!(carol_fetch["stat"][0], 1, "{carol_fetch}");
    for fetched in bob_fetch["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(carol_fetch["messages"].as_array().into_iter().flatten())
    {
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(fetched.as_str().expect("base64")).expect("base64");
        assert_eq!(without_trace_header(&bytes), sent_bytes.as_slice(), "byte-identical apart from the trace header");
    }
    let uidls: Vec<&str> = bob_fetch["uidl"].as_array().expect("uidl").iter().filter_map(Value::as_str).collect();
    assert_eq!(uidls, ["1", "2"]);

    let status = relay.status();
    assert_eq!(status["stored_messages"], 0, "erased once every recipient deleted: {status}");
    assert_eq!(status["stored_bytes"], 0);
    let bob_box =
        status["mailboxes"].as_array().expect("mailboxes").iter().find(|m| m["address"] == bob.as_str()).cloned();
    let bob_box = bob_box.expect("bob listed");
    assert_eq!(bob_box["used_bytes"], 0);
    assert!(bob_box["last_collection"].as_u64().is_some(), "collection recorded: {bob_box}");
    let fsck = relay.cli(&["fsck"]);
    assert!(fsck.status.success(), "fsck: {}", String::from_utf8_lossy(&fsck.stdout));

    // A graceful stop exits 0, and the store opens again with nothing lost.
    let exit = relay.stop();
    assert!(exit.success(), "SIGTERM gives a clean exit: {exit:?}");
    let fsck = caducee(&data, &["fsck"]);
    assert!(fsck.status.success(), "fsck after stop: {}", String::from_utf8_lossy(&fsck.stdout));
    let users = caducee(&data, &["user", "list", "--json"]);
    let users: Value = serde_json::from_slice(&users.stdout).expect("user list JSON");
    assert_eq!(users.as_array().map(Vec::len), Some(3));
}

#[test]
fn the_relay_refuses_what_it_must_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "message_bytes_max = 100000");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, _) = relay.add_user("bob", None);
    let (full, _) = relay.add_user("full", Some(0));
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    let message = message.to_str().expect("utf-8 path");
    let submission = relay.port("submission");
    let send = |to: &str, sender: &str, file: &str| {
        python(&[
            "send",
            "--port",
            &submission,
            "--tls",
            "starttls",
            "--ca",
            &relay.ca(),
            "--user",
            &alice,
            "--password",
            &alice_pw,
            "--sender",
            sender,
            "--to",
            to,
            "--file",
            file,
        ])
    };

    // Cleartext body: 554 5.7.1 with a sentence saying why.
    let clear = dir.path().join("clear.eml");
    std::fs::write(&clear, "From: alice@relay.test\r\nSubject: bilan\r\n\r\nPatient: Dupont, glycémie 1,2 g/L\r\n")
        .expect("write");
    let sent = send(&bob, &alice, clear.to_str().expect("utf-8 path"));
    assert_eq!(code(&sent["data"]), 554, "{sent}");
    assert!(text(&sent["data"]).starts_with("5.7.1") && text(&sent["data"]).contains("OpenPGP"), "{sent}");

    // An unknown recipient is refused; the known one still gets the message.
    let sent = send(&format!("{bob},nobody@relay.test"), &alice, message);
    assert_eq!(code(&sent["rcpt"][1]), 550, "unknown recipient: {sent}");
    assert!(text(&sent["rcpt"][1]).starts_with("5.1.1"), "{sent}");
    assert_eq!(code(&sent["data"]), 250, "the known recipient still gets it: {sent}");

    // MAIL FROM must be the authenticated account.
    let sent = send(&bob, &bob, message);
    assert_eq!(code(&sent["mail"]), 553, "{sent}");
    assert!(text(&sent["mail"]).starts_with("5.7.1"), "{sent}");

    // A mailbox with no room at all (quota 0): larger than its whole quota, 552 5.3.4 (a
    // mailbox filled up is 552 5.2.2: tests/monitor.rs).
    let sent = send(&full, &alice, message);
    assert_eq!(code(&sent["rcpt"][0]), 552, "{sent}");
    assert!(text(&sent["rcpt"][0]).starts_with("5.3.4"), "{sent}");
    assert!(text(&sent["rcpt"][0]).contains("larger than this mailbox's whole quota (0 MB)"), "{sent}");

    // Oversized message: refused after the data, session still usable.
    let big = dir.path().join("big.eml");
    let mut bytes = std::fs::read(message).expect("message");
    bytes.extend(
        std::iter::repeat_n(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n", 2000)
            .flatten(),
    );
    std::fs::write(&big, bytes).expect("write");
    let sent = send(&bob, &alice, big.to_str().expect("utf-8 path"));
    assert_eq!(code(&sent["data"]), 552, "{sent}");
    assert!(text(&sent["data"]).starts_with("5.3.4"), "{sent}");
    // The limit in terms of the document a practice sends.
    assert!(text(&sent["data"]).contains("of document once encrypted; send larger documents in parts"), "{sent}");

    // AUTH before TLS is refused; so is an over-long command line, without hanging.
    let raw = python(&[
        "raw",
        "--port",
        &submission,
        "--tls",
        "none",
        "--ca",
        &relay.ca(),
        "AUTH PLAIN AGFsaWNlQHJlbGF5LnRlc3QAd3Jvbmc=",
        &format!("NOOP {}", "x".repeat(13_000)),
        "NOOP",
    ]);
    let replies = raw["replies"].as_array().expect("replies");
    assert_eq!(code(&replies[0]), 538, "{raw}");
    assert_eq!(code(&replies[1]), 500, "{raw}");
    assert!(text(&replies[1]).contains("too long"), "{raw}");
    assert_eq!(code(&replies[2]), 250, "the session goes on: {raw}");

    // Only one message got through (to bob).
    assert_eq!(relay.status()["stored_messages"], 1);
}

#[test]
fn every_message_acknowledged_before_kill_9_is_collected_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start(&data, "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "load");

    // 8 concurrent senders; the relay is killed once 60 messages have been acknowledged.
    let mut load = Command::new("python3")
        .arg(client_script())
        .args([
            "load",
            "--port",
            &relay.port("submission"),
            "--tls",
            "starttls",
            "--ca",
            &relay.ca(),
            "--user",
            &alice,
            "--password",
            &alice_pw,
            "--sender",
            &alice,
            "--to",
            &bob,
            "--file",
            message.to_str().expect("utf-8 path"),
            "--senders",
            "8",
            "--count",
            "100000",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start load");
    let mut lines = BufReader::new(load.stdout.take().expect("piped")).lines();
    let mut accepted = Vec::new();
    for line in lines.by_ref() {
        let line: Value = serde_json::from_str(&line.expect("line")).expect("JSON line");
        if let Some(subject) = line["accepted"].as_str() {
            accepted.push(subject.to_owned());
            if accepted.len() == 60 {
                break;
            }
        }
    }
    relay.kill_9();
    for line in lines {
        let line: Value = serde_json::from_str(&line.expect("line")).expect("JSON line");
        if let Some(subject) = line["accepted"].as_str() {
            accepted.push(subject.to_owned());
        }
    }
    assert!(load.wait().expect("load ends").success());
    assert!(accepted.len() >= 60);

    let fsck = caducee(&data, &["fsck"]);
    assert!(fsck.status.success(), "fsck after kill -9: {}", String::from_utf8_lossy(&fsck.stdout));
    let relay = Relay::start(&data, "");
    let fetched = python(&[
        "fetch",
        "--port",
        &relay.port("pop3s"),
        "--tls",
        "implicit",
        "--ca",
        &relay.ca(),
        "--user",
        &bob,
        "--password",
        &bob_pw,
        "--delete",
    ]);
    let mut subjects: HashMap<String, usize> = HashMap::new();
    for message in fetched["messages"].as_array().expect("messages") {
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(message.as_str().expect("base64")).expect("base64");
        let text = String::from_utf8_lossy(&bytes);
        let subject = text.lines().find_map(|l| l.strip_prefix("Subject: ")).expect("subject").trim().to_owned();
        *subjects.entry(subject).or_default() += 1;
    }
    for subject in &accepted {
        assert_eq!(
            subjects.get(subject),
            Some(&1),
            "{subject} was acknowledged: collected exactly once ({} acknowledged, {} collected: {fetched})",
            accepted.len(),
            subjects.len()
        );
    }
    assert!(subjects.values().all(|&n| n == 1), "no message collected twice");
    assert_eq!(relay.status()["stored_messages"], 0);
    assert!(relay.cli(&["fsck"]).status.success());
}

/// swaks, the SMTP test tool, as an administrator would use it to check a relay by hand.
fn swaks(args: &[&str]) -> (bool, String) {
    let output = Command::new("swaks").args(args).output().expect("run swaks (apt-get install swaks)");
    let transcript = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), transcript)
}

#[test]
fn swaks_over_starttls_and_implicit_tls_delivers_encrypted_mail_and_gets_clear_text_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, _) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    let ca = relay.ca();
    let submission = relay.port("submission");
    let submissions = relay.port("submissions");
    let common = [
        "--from",
        &alice,
        "--to",
        &bob,
        "--auth",
        "PLAIN",
        "--auth-user",
        &alice,
        "--auth-password",
        &alice_pw,
        "--tls-verify",
        "--tls-ca-path",
        &ca,
        "--server",
        "127.0.0.1",
    ];

    let (ok, transcript) = swaks(
        &[&common[..], &["--port", &submission, "--tls", "--body", "Patient: Dupont, résultat 14,2 g/dL"]].concat(),
    );
    assert!(!ok, "swaks reports the refusal: {transcript}");
    assert!(transcript.contains("554 5.7.1 Message refused"), "{transcript}");
    assert!(transcript.contains("OpenPGP-encrypted"), "the refusal says why: {transcript}");

    let message = message.to_str().expect("utf-8 path");
    for tls in [["--port", submission.as_str(), "--tls"], ["--port", submissions.as_str(), "--tls-on-connect"]] {
        let (ok, transcript) = swaks(&[&common[..], &tls, &["--data", message]].concat());
        assert!(ok, "{transcript}");
        assert!(transcript.contains("250 2.0.0 Message accepted"), "{transcript}");
    }

    let status: Value = serde_json::from_slice(&relay.cli(&["status", "--json"]).stdout).expect("status JSON");
    assert_eq!(status["stored_messages"], 2, "the two encrypted messages, not the clear one: {status}");
}

#[test]
fn repeated_failed_logins_are_throttled_across_sessions_for_smtp_and_pop3() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay =
        Relay::start(&dir.path().join("data"), "[limits]\nlogin_failures_max = 4\nlogin_failure_window_secs = 3600\n");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    // Wrong passwords for alice in two sessions: smtplib tries AUTH PLAIN, then LOGIN, so
    // that is four failures.
    for _ in 0..2 {
        let wrong = relay.send(&alice, "not-the-password", &bob, &message);
        assert_eq!(code(&wrong["auth"]), 535, "{wrong}");
    }
    // Now even the right password is refused for a while, with a temporary code…
    let refused = relay.send(&alice, &alice_pw, &bob, &message);
    assert_eq!(code(&refused["auth"]), 454, "{refused}");
    assert!(text(&refused["auth"]).starts_with("4.7.0"), "{refused}");
    // …saying how long: within the throttle's window (an hour here).
    assert!(text(&refused["auth"]).ends_with("try again in 60 minutes"), "{refused}");
    // …over POP3 too, with RFC 2449's LOGIN-DELAY…
    let (port, ca) = (relay.port("pop3s"), relay.ca());
    let pop = python(&[
        "fetch",
        "--port",
        &port,
        "--tls",
        "implicit",
        "--ca",
        &ca,
        "--user",
        &alice,
        "--password",
        &alice_pw,
    ]);
    assert!(
        pop["login_error"].as_str().is_some_and(|e| e.contains("LOGIN-DELAY") && e.contains("60 minutes")),
        "{pop}"
    );
    // …while another practice behind the same address goes on.
    assert!(relay.fetch(&bob, &bob_pw, false).is_empty());
    let status = relay.status();
    assert_eq!(status["stored_messages"], 0, "nothing went through: {status}");
}
