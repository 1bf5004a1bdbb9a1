//! Who a submission says it is from, and the relay-wide budget of message bytes in memory,
//! end to end: the real `caducee` binary, python's smtplib and poplib over TLS, gpg.

mod common;

use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// The composed message with its `From:` line replaced by `from` and `extra` header lines
/// put in front, written beside it.
fn altered(message: &Path, from: &str, extra: &str, name: &str) -> std::path::PathBuf {
    let text = String::from_utf8(std::fs::read(message).expect("message")).expect("utf-8 message");
    let mut out = String::from(extra);
    for line in text.split_inclusive("\r\n") {
        if line.starts_with("From: ") {
            out.push_str(&format!("From: {from}\r\n"));
        } else {
            out.push_str(line);
        }
    }
    let path = message.with_file_name(name);
    std::fs::write(&path, out).expect("write");
    path
}

#[test]
fn a_forged_from_or_a_relay_control_header_is_refused_and_the_received_field_names_the_sender() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let (carol, _) = relay.add_user("carol", None);
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");

    // Another doctor in From: refused after the data, with the reason.
    let forged = altered(&message, &format!("Dr Carol <{carol}>"), "", "forged.eml");
    let sent = relay.send(&alice, &alice_pw, &bob, &forged);
    assert_eq!(code(&sent["data"]), 550, "{sent}");
    assert!(text(&sent["data"]).starts_with("5.7.1") && text(&sent["data"]).contains(&carol), "{sent}");

    // The relay's own key-renewal header, from the relay's name: refused.
    let renewal = altered(&message, &format!("Caducee <{alice}>"), "X-Caducee-Keys: renewal\r\n", "renewal.eml");
    let sent = relay.send(&alice, &alice_pw, &bob, &renewal);
    assert_eq!(code(&sent["data"]), 550, "{sent}");
    assert!(text(&sent["data"]).contains("X-Caducee-Keys"), "{sent}");
    assert_eq!(relay.status()["stored_messages"], 0, "nothing refused was stored");

    // The gpg-made message from the right account goes through; bob sees who sent it.
    let sent = relay.send(&alice, &alice_pw, &bob, &message);
    assert_eq!(code(&sent["data"]), 250, "{sent}");
    let fetched = relay.fetch(&bob, &bob_pw, true);
    assert_eq!(fetched.len(), 1);
    let stored = String::from_utf8_lossy(&fetched[0]);
    let trace = stored.split("\r\n\r\n").next().unwrap_or_default();
    assert!(trace.starts_with("Received: from practice.example"), "{trace}");
    assert!(trace.contains(&format!("(authenticated as {alice})")), "{trace}");
    assert_eq!(without_trace_header(&fetched[0]), std::fs::read(&message).expect("message").as_slice());
}

/// A python smtplib session that logs in, declares `size` bytes at MAIL and names `to`,
/// prints `held`, and sends `file` once a line arrives on its standard input.
const HELD_SESSION: &str = r#"
import json, smtplib, ssl, sys
port, ca, user, password, to, size, path = sys.argv[1:8]
ctx = ssl.create_default_context(cafile=ca)
client = smtplib.SMTP_SSL("127.0.0.1", int(port), context=ctx, timeout=60)
client.ehlo("practice.example")
client.login(user, password)
code, text = client.mail(user, ["SIZE=" + size])
assert code == 250, (code, text)
code, text = client.rcpt(to)
assert code == 250, (code, text)
print("held", flush=True)
sys.stdin.readline()
code, text = client.data(open(path, "rb").read())
print(json.dumps({"code": code, "text": text.decode()}), flush=True)
client.quit()
"#;

#[test]
fn with_the_memory_budget_used_a_second_message_is_answered_452_while_the_first_completes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "[limits]\nin_flight_mib = 1\n");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let small = dir.path().join("small.eml");
    std::fs::rename(compose(dir.path(), &[&alice, &bob], "Compte rendu"), &small).expect("rename");
    let large = compose_padded(dir.path(), &[&alice, &bob], "Imagerie", 200_000);

    // The first session holds 1,000,000 of the 1 MiB budget from MAIL on.
    let mut held = Command::new("python3")
        .args(["-c", HELD_SESSION, &relay.port("submissions"), &relay.ca(), &alice, &alice_pw, &bob, "1000000"])
        .arg(&small)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut lines = BufReader::new(held.stdout.take().expect("stdout")).lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("held"));

    // A second, large message without SIZE: read, then refused for now.
    let sent = relay.send(&alice, &alice_pw, &bob, &large);
    assert_eq!(code(&sent["data"]), 452, "{sent}");
    assert!(text(&sent["data"]).starts_with("4.3.1 Insufficient system storage"), "{sent}");

    // The first completes.
    writeln!(held.stdin.take().expect("stdin")).expect("go on");
    let first = lines.next().and_then(Result::ok).expect("first reply");
    assert!(first.contains("\"code\": 250"), "{first}");
    assert!(held.wait().expect("wait").success());

    // Its bytes were given back: the large message now goes through.
    let sent = relay.send(&alice, &alice_pw, &bob, &large);
    assert_eq!(code(&sent["data"]), 250, "{sent}");
    assert_eq!(relay.fetch(&bob, &bob_pw, true).len(), 2);
}
