//! Traces end to end: the per-message trail, the hash-chained audit trail (and what an
//! edit of the store file does to it), retention, and logs that never carry secrets.

mod common;

use base64::Engine as _;
use common::*;
use serde_json::Value;

fn cli_json(relay: &Relay, args: &[&str]) -> Value {
    let output = relay.cli(args);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// `YYYY-MM-DD`, `days` after `from` (an account's [`Relay::created_day`]).
fn day(from: chrono::NaiveDate, days: u64) -> String {
    (from + chrono::Days::new(days)).format("%Y-%m-%d").to_string()
}

#[test]
fn a_message_trail_follows_it_to_its_erasure_and_retention_removes_it_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let start = relay.created_day(&alice);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let (carol, carol_pw) = relay.add_user("carol", None);
    let message = compose(dir.path(), &[&alice, &bob, &carol], "Compte rendu");
    let sent = relay.send(&alice, &alice_pw, &format!("{bob},{carol}"), &message);
    let queue_id = text(&sent["data"]).rsplit(' ').next().expect("queue id").to_owned();
    let id = queue_id.split('.').next().expect("message number").to_owned();

    let trail = cli_json(&relay, &["trail", "--message-id", &id, "--json"]);
    assert_eq!(trail["sender"], alice.as_str());
    assert!(trail["size"].as_u64().expect("size") > 0);
    assert_eq!(trail["recipients"].as_array().map(Vec::len), Some(2));
    assert!(trail["recipients"].as_array().expect("recipients").iter().all(|r| r["collected_at"].is_null()));
    assert!(trail["erased_at"].is_null());
    assert!(!trail.to_string().contains("BEGIN PGP"), "metadata only");

    relay.fetch(&bob, &bob_pw, true);
    let trail = cli_json(&relay, &["trail", "--message-id", &id, "--json"]);
    let collected = |t: &Value, who: &str| {
        t["recipients"].as_array().expect("recipients").iter().find(|r| r["address"] == who).expect("recipient")
            ["collected_at"]
            .is_number()
    };
    assert!(collected(&trail, &bob) && !collected(&trail, &carol), "{trail}");
    assert!(trail["erased_at"].is_null(), "carol still holds it");
    relay.fetch(&carol, &carol_pw, true);
    let trail = cli_json(&relay, &["trail", "--message-id", &id, "--json"]);
    assert!(trail["erased_at"].is_number(), "erased with the last copy: {trail}");

    // Thirteen months on, retention has removed the trail and the connection records.
    let report = cli_json(&relay, &["monitor", "run", "--as-of", &day(start, 400), "--json"]);
    assert_eq!(report["purged"]["trails"], 1, "{report}");
    assert!(report["purged"]["connections"].as_u64().expect("count") >= 3, "{report}");
    let gone = relay.cli(&["trail", "--message-id", &id]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("past retention"));
}

#[test]
fn the_audit_trail_records_who_touched_personal_data_and_an_edit_of_the_store_is_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start(&data, "");
    let (alice, _) = relay.add_user("alice", None);
    let start = relay.created_day(&alice);
    relay.add_user("bob", None);
    cli_json(&relay, &["user", "list", "--json"]);
    assert!(relay.cli(&["user", "suspend", "--address", &alice]).status.success());

    let verified = cli_json(&relay, &["audit", "verify", "--json"]);
    assert_eq!(verified["ok"], true, "{verified}");
    assert!(verified["entries_checked"].as_u64().expect("count") >= 4, "{verified}");

    let export = relay.cli(&["audit", "export", "--from", &day(start, 0), "--to", &day(start, 1)]);
    assert!(export.status.success());
    let entries: Vec<Value> = String::from_utf8(export.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let create = entries.iter().find(|e| e["entry"]["object"] == format!("account {alice}")).expect("creation");
    assert_eq!(create["entry"]["action"], "create");
    assert!(create["entry"]["actor"].as_str().expect("actor").starts_with("uid "));
    assert_eq!(create["entry"]["source"], "admin socket");
    assert!(entries.iter().any(|e| e["entry"]["action"] == "read" && e["entry"]["object"] == "account list"));
    assert!(entries.iter().any(|e| e["entry"]["action"] == "update" && e["entry"]["detail"] == "suspend"));
    let export_lines = entries.len();

    // Someone edits one entry in the store file: the chain names it.
    assert!(relay.stop().success());
    let store_file = data.join("store/data.mdb");
    let mut bytes = std::fs::read(&store_file).expect("store");
    let needle = b"account bob@relay.test";
    // Every copy: LMDB copies pages on write, so stale copies of the entry may sit in free
    // pages beside the live one.
    let copies: Vec<usize> =
        (0..bytes.len() - needle.len()).filter(|&i| &bytes[i..i + needle.len()] == needle).collect();
    assert!(!copies.is_empty(), "the audit entry is in the file");
    for at in copies {
        bytes[at + needle.len() - 1] = b'T';
    }
    std::fs::write(&store_file, &bytes).expect("tamper");
    let output = caducee(&data, &["audit", "verify"]);
    assert!(!output.status.success(), "an edited entry fails verification");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("was altered"), "{said}");
    let named: u64 = said
        .split("audit entry ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the entry is named");
    assert!(named >= 1 && named as usize <= export_lines, "{said}");
}

#[test]
fn purging_old_audit_entries_keeps_the_chain_verifiable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "[monitor]\naudit_retention_days = 30\n");
    let (alice, _) = relay.add_user("alice", None);
    let start = relay.created_day(&alice);
    relay.add_user("bob", None);
    // Each account's creation and the issue of its keys.
    let before = cli_json(&relay, &["audit", "verify", "--json"]);
    assert_eq!(before["entries_checked"], 4);
    let report = cli_json(&relay, &["monitor", "run", "--as-of", &day(start, 40), "--json"]);
    assert_eq!(report["purged"]["audit_entries"], 4, "{report}");
    cli_json(&relay, &["user", "list", "--json"]);
    let after = cli_json(&relay, &["audit", "verify", "--json"]);
    assert_eq!(after["ok"], true, "the chain goes on from its checkpoint: {after}");
    assert_eq!(after["entries_checked"], 1);
}

#[test]
fn no_log_line_carries_a_password_a_key_or_message_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let log = dir.path().join("relay.log");
    let relay = Relay::start_logged(&data, "", &log);
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &message)["data"]), 250);
    // A wrong password too: failures must not echo what was typed.
    let wrong = python(&[
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
        "Tr0ub4dor&3-wrong",
        "--sender",
        &alice,
        "--to",
        &bob,
        "--file",
        message.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code(&wrong["auth"]), 535, "{wrong}");
    relay.fetch(&bob, &bob_pw, true);
    let backup_key = dir.path().join("backup.key");
    cli_json(&relay, &["backup", "--to", dir.path().join("b.cbk").to_str().expect("utf-8"), "--json"]);
    assert!(relay.cli(&["backup", "key", "--export", backup_key.to_str().expect("utf-8")]).status.success());
    assert!(relay.stop().success());

    let log = std::fs::read_to_string(&log).expect("log");
    assert!(log.contains("session ended"), "the log was captured: {log}");
    let sent = std::fs::read_to_string(&message).expect("message");
    let armour_line = sent.lines().find(|l| l.len() > 40 && !l.contains(':')).expect("a line of the armoured body");
    let master_key = std::fs::read(data.join("keys/master.key")).expect("master key");
    let backup_key_text = std::fs::read_to_string(&backup_key).expect("backup key");
    let secrets = [
        alice_pw.as_str(),
        bob_pw.as_str(),
        "Tr0ub4dor&3-wrong",
        armour_line,
        "hémoglobine",
        backup_key_text.trim().rsplit(':').next().expect("key"),
    ];
    for secret in secrets {
        assert!(!log.contains(secret), "the log carries {secret:?}");
    }
    let master_hex: String = master_key.iter().map(|b| format!("{b:02x}")).collect();
    let master_b64 = base64::engine::general_purpose::STANDARD.encode(&master_key);
    assert!(!log.contains(&master_hex) && !log.contains(&master_b64), "the log carries the master key");
    let server_key = std::fs::read_to_string(data.join("tls/server.key")).expect("TLS key");
    let key_line = server_key.lines().nth(1).expect("a line of the TLS key");
    assert!(!log.contains(key_line), "the log carries the TLS key");
}
