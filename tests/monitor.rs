//! The monitor end to end: the real relay, python's smtplib and poplib, gpg messages, and a
//! plain SMTP sink standing in for the smarthost that carries notices. Time moves with
//! `caducee monitor run --as-of`, never by waiting.

mod common;

use common::*;
use serde_json::Value;

/// A sweep as of the end of the day `days` after `from` (an account's [`Relay::created_day`]).
fn monitor_run(relay: &Relay, from: chrono::NaiveDate, days: u64) -> Value {
    let day = from + chrono::Days::new(days);
    let output = relay.cli(&["monitor", "run", "--as-of", &day.format("%Y-%m-%d").to_string(), "--json"]);
    assert!(output.status.success(), "monitor run: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("monitor JSON")
}

fn state_of<'a>(status: &'a Value, address: &str) -> &'a Value {
    let mailbox = status["mailboxes"].as_array().expect("mailboxes").iter().find(|m| m["address"] == address);
    &mailbox.unwrap_or_else(|| panic!("{address} in {status}"))["state"]
}

/// The kind of a notice the sink received (the X-Caducee-Notice header).
fn kind(data: &str) -> &str {
    data.lines().find_map(|l| l.strip_prefix("X-Caducee-Notice: ")).unwrap_or_else(|| panic!("no kind in {data}"))
}

fn notices_config(sink: &Sink) -> String {
    format!(
        "[notices]\nsmarthost = \"127.0.0.1:{}\"\nstarttls = false\nadmin = \"admin@example.org\"\n\
         from = \"notices@relay.test\"\nflush_interval_secs = 1\n",
        sink.port
    )
}

#[test]
fn inactivity_warns_at_30_days_disables_at_60_and_a_collection_brings_reception_back() {
    let sink = Sink::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), &notices_config(&sink));
    let (alice, alice_pw) = relay.add_user("alice", None);
    let start = relay.created_day(&alice);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");

    // Day 29: nothing yet.
    let report = monitor_run(&relay, start, 29);
    assert_eq!(report["inactivity_notices"], 0, "{report}");

    // Day 31: each user is told, at the contact e-mail, through the smarthost.
    let report = monitor_run(&relay, start, 31);
    assert_eq!(report["inactivity_notices"], 2, "{report}");
    let mut told = Vec::new();
    for _ in 0..2 {
        let (rcpt, data) = sink.next();
        assert_eq!(rcpt, ["<contact@example.org>"]);
        assert_eq!(kind(&data), "inactivity-notice", "{data}");
        assert!(data.contains("Auto-Submitted: auto-generated"));
        let parsed = mail_parser::MessageParser::default().parse(data.as_bytes()).expect("a message");
        assert!(parsed.date().is_some() && parsed.message_id().is_some(), "{data}");
        assert_eq!(parsed.from().and_then(|from| from.first()).and_then(|from| from.name()), Some("Caducée"), "{data}");
        assert!(data.is_ascii(), "headers RFC 2047-encoded: {data}");
        told.push(data);
    }
    assert!(told.iter().any(|d| d.contains(&bob)), "the notice names the mailbox");
    assert!(state_of(&relay.status(), &bob)["inactivity_noticed_at"].is_number());
    // Running again the same day sends nothing more.
    assert_eq!(monitor_run(&relay, start, 31)["inactivity_notices"], 0);

    // Day 61: reception is disabled, and the users are told.
    let report = monitor_run(&relay, start, 61);
    assert_eq!(report["disabled"], 2, "{report}");
    for _ in 0..2 {
        assert_eq!(kind(&sink.next().1), "inactivity-disabled");
    }
    let status = relay.status();
    assert_eq!(state_of(&status, &bob)["disabled"][0], "inactivity", "{status}");
    let mut disabled: Vec<&str> = status["open_alerts"]
        .as_array()
        .expect("open_alerts")
        .iter()
        .filter(|a| a["kind"] == "inactivity-disabled")
        .filter_map(|a| a["subject"].as_str())
        .collect();
    disabled.sort_unstable();
    assert_eq!(disabled, [alice.as_str(), bob.as_str()], "{status}");
    let text = String::from_utf8(relay.cli(&["status"]).stdout).expect("utf-8");
    assert!(text.contains("reception disabled (inactivity)"), "{text}");

    // A sender is refused 550 5.2.1 with the reason, and finds a DSN in its own mailbox.
    let refused = relay.send(&alice, &alice_pw, &bob, &message);
    assert_eq!(code(&refused["rcpt"][0]), 550, "{refused}");
    assert!(text_of(&refused["rcpt"][0]).starts_with("5.2.1"), "{refused}");
    assert!(text_of(&refused["rcpt"][0]).contains("inactive"), "{refused}");
    let again = relay.send(&alice, &alice_pw, &bob, &message);
    assert_eq!(code(&again["rcpt"][0]), 550, "{again}");
    // The DSN is stored by the monitor as the refusal happens; wait for it (bounded).
    let mut polls = 0;
    while relay.status()["mailboxes"][0]["messages"] == 0 && polls < 200 {
        polls += 1;
    }
    let alice_mail = fetch_text(&relay, &alice, &alice_pw);
    assert_eq!(alice_mail.len(), 1, "one delivery status notification a day, however many attempts");
    let dsn = &alice_mail[0];
    assert!(dsn.contains("multipart/report; report-type=\"delivery-status\""), "{dsn}");
    assert!(dsn.contains(&format!("Final-Recipient: rfc822; {bob}")), "{dsn}");
    assert!(dsn.contains("Status: 5.2.1"), "{dsn}");

    // Bob collects: reception is back, and Alice's message goes through.
    assert!(fetch_text(&relay, &bob, &bob_pw).is_empty());
    let status = relay.status();
    assert!(state_of(&status, &bob)["disabled"].is_null(), "{status}");
    let sent = relay.send(&alice, &alice_pw, &bob, &message);
    assert_eq!(code(&sent["data"]), 250, "{sent}");
}

fn fetch_text(relay: &Relay, user: &str, password: &str) -> Vec<String> {
    relay.fetch(user, password, true).iter().map(|m| String::from_utf8_lossy(m).into_owned()).collect()
}

fn text_of(v: &Value) -> &str {
    v["text"].as_str().unwrap_or_default()
}

#[test]
fn quota_warnings_at_80_and_95_percent_then_refusal_with_an_alert() {
    let sink = Sink::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), &notices_config(&sink));
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (carol, _) = relay.add_user("carol", Some(1)); // 1 MB
    let message = compose_padded(dir.path(), &[&alice, &carol], "Imagerie", 60_000);

    let mut accepted = 0;
    // smtplib declares no SIZE, so the refusal comes after the data rather than at RCPT.
    let refusal = loop {
        let sent = relay.send(&alice, &alice_pw, &carol, &message);
        let step = if code(&sent["rcpt"][0]) == 250 { &sent["data"] } else { &sent["rcpt"][0] };
        if code(step) != 250 {
            break step.clone();
        }
        accepted += 1;
        assert!(accepted < 40, "the 1 MB quota never filled");
    };
    assert_eq!(code(&refusal), 552, "{refusal}");
    assert!(text_of(&refusal).starts_with("5.2.2"), "{refusal}");
    assert!(accepted >= 10, "about 1 MB of 60 kB documents went in first ({accepted})");

    // In order: 80 %, 95 %, full (to the user) and the administrator's alert.
    let mut kinds = Vec::new();
    let mut to_admin = Vec::new();
    for _ in 0..4 {
        let (rcpt, data) = sink.next();
        kinds.push(kind(&data).to_owned());
        if rcpt == ["<admin@example.org>"] {
            to_admin.push(kind(&data).to_owned());
        }
    }
    kinds.sort();
    assert_eq!(kinds, ["quota-80", "quota-95", "quota-full", "quota-full-alert"], "{kinds:?}");
    assert_eq!(to_admin, ["quota-full-alert"]);
    let status = relay.status();
    assert_eq!(state_of(&status, &carol)["quota_warned_percent"], 100);
    // The alert waits in the console, once however many messages were refused.
    let open: Vec<(&str, &str)> = status["open_alerts"]
        .as_array()
        .expect("open_alerts")
        .iter()
        .map(|a| (a["kind"].as_str().unwrap_or_default(), a["subject"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(open, [("quota-full", carol.as_str())], "{status}");
}

#[test]
fn a_message_larger_than_the_whole_quota_is_refused_as_such_and_changes_no_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (carol, _) = relay.add_user("carol", Some(1)); // 1 MB, empty
    let message = compose_padded(dir.path(), &[&alice, &carol], "Imagerie", 1_200_000);
    let sent = relay.send(&alice, &alice_pw, &carol, &message);
    assert_eq!(code(&sent["data"]), 552, "{sent}");
    let text = text_of(&sent["data"]);
    assert!(text.starts_with("5.3.4") && text.contains("larger than this mailbox's whole quota (1 MB)"), "{sent}");
    // The mailbox is not full: no warning, no alert, no notice.
    let status = relay.status();
    assert_eq!(state_of(&status, &carol)["quota_warned_percent"], 0, "{status}");
    assert_eq!(status["open_alerts"].as_array().map(Vec::len), Some(0), "{status}");
    assert_eq!(status["notices_waiting"].as_array().map(Vec::len), Some(0), "{status}");
}

#[test]
fn a_laboratory_retrying_at_once_is_told_when_to_come_back_and_not_blocked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "[monitor]\nmessages_per_minute = 3\nstrikes_to_block = 2\n");
    let (lab, lab_pw) = relay.add_user("labo", None);
    let (bob, _) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&lab, &bob], "Résultats");
    for _ in 0..3 {
        assert_eq!(code(&relay.send(&lab, &lab_pw, &bob, &message)["data"]), 250);
    }
    // Over the limit, the recipient is refused before any byte of the body is sent, and
    // the reply says when to come back. Software retrying at once is one burst: five
    // refusals in a row are one strike, and two strikes would block.
    for _ in 0..5 {
        let throttled = relay.send(&lab, &lab_pw, &bob, &message);
        assert_eq!(code(&throttled["rcpt"][0]), 451, "{throttled}");
        let text = text_of(&throttled["rcpt"][0]);
        assert!(text.starts_with("4.7.1") && text.contains("at most 3 messages per minute; try again in "), "{text}");
        assert!(throttled.get("data").is_none(), "no data after a refused recipient: {throttled}");
    }
    let status = relay.status();
    assert!(state_of(&status, &lab)["blocked"].is_null(), "{status}");
    assert_eq!(status["open_alerts"].as_array().map(Vec::len), Some(0), "{status}");
    assert_eq!(status["stored_messages"], 3, "{status}");
}

#[test]
fn a_mass_mailer_is_blocked_and_unblocking_restores_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No smarthost: the notices wait in the spool, where the status shows them. One strike
    // blocks here (the bursts of strikes are the breaker's unit tests).
    let relay = Relay::start(
        &dir.path().join("data"),
        "[monitor]\nmessages_per_minute = 3\nstrikes_to_block = 1\n[notices]\nadmin = \"admin@example.org\"\n",
    );
    let (alice, alice_pw) = relay.add_user("alice", None);
    let start = relay.created_day(&alice);
    let (bob, _) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");

    for _ in 0..3 {
        assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &message)["data"]), 250);
    }
    let blocked = relay.send(&alice, &alice_pw, &bob, &message);
    assert_eq!(code(&blocked["rcpt"][0]), 554, "{blocked}");
    assert!(text_of(&blocked["rcpt"][0]).starts_with("5.7.1"), "{blocked}");
    assert!(text_of(&blocked["rcpt"][0]).contains("blocked for mass mailing"), "{blocked}");
    let still = relay.send(&alice, &alice_pw, &bob, &message);
    assert_eq!(code(&still["rcpt"][0]), 554, "a blocked account stays blocked: {still}");

    let status = relay.status();
    assert!(state_of(&status, &alice)["blocked"]["reason"].is_string(), "{status}");
    let kinds: Vec<&str> =
        status["notices_waiting"].as_array().expect("notices").iter().filter_map(|n| n["kind"].as_str()).collect();
    assert!(kinds.contains(&"blocked") && kinds.contains(&"blocked-alert"), "{kinds:?}");
    assert_eq!(status["stored_messages"], 3, "nothing refused was stored");

    // The administrator's alert: one, open, about alice, until acknowledged.
    let open = status["open_alerts"].as_array().expect("open_alerts");
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["kind"], "blocked");
    assert_eq!(open[0]["subject"], alice.as_str());
    let seq = open[0]["seq"].as_u64().expect("seq").to_string();
    let ack = relay.cli(&["alerts", "--ack", &seq]);
    assert!(ack.status.success(), "{}", String::from_utf8_lossy(&ack.stderr));
    assert!(String::from_utf8_lossy(&ack.stdout).contains("acknowledged by uid"), "{ack:?}");
    let again = relay.cli(&["alerts", "--ack", &seq]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("acknowledged already"), "{again:?}");
    assert!(relay.status()["open_alerts"].as_array().expect("open_alerts").is_empty());
    let listed = relay.cli(&["alerts", "--json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("alerts --json");
    assert!(listed[0]["acknowledged_by"].as_str().is_some_and(|by| by.starts_with("uid ")), "{listed}");
    let audit = relay.cli(&["audit", "export", "--from", "2000-01-01", "--to", "2999-12-31"]);
    let audit = String::from_utf8(audit.stdout).expect("utf-8");
    assert!(audit.contains(&format!("alert {seq} acknowledged")), "the acknowledgement is audited");

    let unblocked = relay.cli(&["user", "unblock", "--address", &alice]);
    assert!(unblocked.status.success(), "{}", String::from_utf8_lossy(&unblocked.stderr));
    assert!(String::from_utf8_lossy(&unblocked.stdout).contains("receiving"));
    assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &message)["data"]), 250);

    // An acknowledged alert is kept for the log retention (365 days), then goes.
    let report = monitor_run(&relay, start, 400);
    assert_eq!(report["purged"]["alerts"], 1, "{report}");
    let listed: Value = serde_json::from_slice(&relay.cli(&["alerts", "--json"]).stdout).expect("alerts --json");
    assert!(listed.as_array().expect("alerts").iter().all(|a| a["seq"].as_u64() != seq.parse().ok()), "{listed}");
}

#[test]
fn a_recipient_beyond_the_per_message_limit_is_refused_at_rcpt_and_the_others_receive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "[monitor]\nrecipients_per_message = 2\n");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let (carol, _) = relay.add_user("carol", None);
    let (dave, _) = relay.add_user("dave", None);
    let message = compose(dir.path(), &[&alice, &bob, &carol, &dave], "Compte rendu");

    let sent = relay.send(&alice, &alice_pw, &format!("{bob},{carol},{dave}"), &message);
    let codes: Vec<i64> = sent["rcpt"].as_array().expect("rcpt").iter().map(code).collect();
    assert_eq!(codes, [250, 250, 452], "{sent}");
    let third = text_of(&sent["rcpt"][2]);
    assert!(third.starts_with("4.5.3") && third.contains("at most 2 recipients per message"), "{sent}");
    assert_eq!(code(&sent["data"]), 250, "the first two recipients get the message: {sent}");
    assert_eq!(relay.fetch(&bob, &bob_pw, false).len(), 1);
    // Sending the others in another message, as clients do, is no strike.
    for _ in 0..5 {
        assert_eq!(code(&relay.send(&alice, &alice_pw, &format!("{bob},{carol},{dave}"), &message)["data"]), 250);
    }
}

#[test]
fn an_administrator_suspends_and_re_enables_reception() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    assert!(relay.cli(&["user", "suspend", "--address", &bob]).status.success());
    let refused = relay.send(&alice, &alice_pw, &bob, &message);
    assert_eq!(code(&refused["rcpt"][0]), 550, "{refused}");
    assert!(text_of(&refused["rcpt"][0]).contains("suspended"), "{refused}");
    // A suspension is the administrator's: the mailbox cannot log in to collect, and
    // nothing but `enable` lifts it.
    let (port, ca) = (relay.port("pop3s"), relay.ca());
    let login =
        python(&["fetch", "--port", &port, "--tls", "implicit", "--ca", &ca, "--user", &bob, "--password", &bob_pw]);
    assert!(login["login_error"].is_string(), "a suspended account cannot log in: {login}");
    assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &message)["rcpt"][0]), 550);
    assert!(relay.cli(&["user", "enable", "--address", &bob]).status.success());
    assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &message)["data"]), 250);
    assert_eq!(fetch_text(&relay, &bob, &bob_pw).len(), 1, "enabled again, the mailbox collects");
}

#[test]
fn metrics_count_what_was_accepted_and_collected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    for _ in 0..3 {
        assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &message)["data"]), 250);
    }
    let unknown = relay.send(&alice, &alice_pw, "nobody@relay.test", &message);
    assert_eq!(code(&unknown["rcpt"][0]), 550);
    let clear = dir.path().join("clear.eml");
    std::fs::write(&clear, "Subject: résultats\r\n\r\nHémoglobine 14,2 g/dL\r\n").expect("write");
    assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &clear)["data"]), 554);
    assert_eq!(fetch_text(&relay, &bob, &bob_pw).len(), 3);

    let scrape = |relay: &Relay| {
        let port = relay.port("metrics");
        let output = std::process::Command::new("python3")
            .args(["-c", "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())"])
            .arg(format!("http://127.0.0.1:{port}/metrics"))
            .output()
            .expect("python3");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("utf-8")
    };
    // The collection is reported to the monitor as the POP3 session ends: scrape until it
    // shows (bounded), as a Prometheus server would.
    let mut text = scrape(&relay);
    for _ in 0..50 {
        if text.contains("caducee_messages_collected_total 3") {
            break;
        }
        text = scrape(&relay);
    }
    assert!(text.contains("caducee_messages_accepted_total 3"), "{text}");
    assert!(text.contains("caducee_messages_collected_total 3"), "{text}");
    assert!(text.contains("caducee_processing_seconds_count 3"), "{text}");
    assert!(text.contains("caducee_processing_seconds_bucket{le=\"+Inf\"} 3"), "{text}");
    assert!(text.contains("caducee_collection_delay_seconds_count 3"), "{text}");
    assert!(text.contains("caducee_submissions_refused_total{reason=\"unknown-recipient\"} 1"), "{text}");
    assert!(text.contains("caducee_submissions_refused_total{reason=\"not-encrypted\"} 1"), "{text}");
    assert!(text.contains("caducee_store_free_bytes"), "{text}");
    assert!(text.contains("caducee_load_average{minutes=\"1\"}"), "{text}");

    let status = relay.status();
    let processing = &status["quality"]["processing_ms"][0];
    assert_eq!(processing["minutes"], 5);
    assert_eq!(processing["count"], 3, "{status}");
    assert!(processing["p99"].as_f64().expect("p99") > 0.0);
    assert_eq!(status["quality"]["collected_total"], 3);
}

#[test]
fn an_announcement_reaches_every_contact_address_once() {
    let sink = Sink::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), &notices_config(&sink));
    relay.add_user("alice", None);
    relay.add_user("bob", None); // the same contact address as alice's
    let text = dir.path().join("maintenance.txt");
    std::fs::write(&text, "Maintenance le 3 décembre de 22 h à 23 h.\nMaintenance on 3 December, 10-11 pm.\n")
        .expect("write");
    let output = relay.cli(&["announce", "--subject", "Maintenance", "--file", text.to_str().expect("utf-8")]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("queued for 1 contact"));
    let (rcpt, data) = sink.next();
    assert_eq!(rcpt, ["<contact@example.org>"]);
    assert_eq!(kind(&data), "announcement");
    assert!(data.contains("Subject: Maintenance"), "{data}");
    let empty = relay.cli(&["announce", "--subject", " ", "--file", text.to_str().expect("utf-8")]);
    assert!(!empty.status.success(), "an empty subject is refused");
}

#[test]
fn a_closed_account_stops_and_is_removed_after_retention_unless_held() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let start = relay.created_day(&alice);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &message)["data"]), 250);

    let closed = relay.cli(&["user", "close", "--address", &bob]);
    assert!(String::from_utf8_lossy(&closed.stdout).contains("CLOSED"), "{closed:?}");
    let refused = relay.send(&alice, &alice_pw, &bob, &message);
    assert_eq!(code(&refused["rcpt"][0]), 550, "{refused}");
    assert!(text_of(&refused["rcpt"][0]).contains("closed"), "{refused}");
    let (port, ca) = (relay.port("pop3s"), relay.ca());
    let login =
        python(&["fetch", "--port", &port, "--tls", "implicit", "--ca", &ca, "--user", &bob, "--password", &bob_pw]);
    assert!(login["login_error"].is_string(), "a closed account cannot log in: {login}");

    // Under legal hold, retention keeps it; released, the next sweep removes it.
    assert!(relay.cli(&["user", "hold", "--address", &bob]).status.success());
    assert_eq!(monitor_run(&relay, start, 400)["closed_accounts_removed"], 0);
    assert!(relay.cli(&["user", "release", "--address", &bob]).status.success());
    assert_eq!(monitor_run(&relay, start, 400)["closed_accounts_removed"], 1);
    let status = relay.status();
    assert_eq!(status["mailbox_count"], 1, "{status}");
    // What is left is the delivery status notification in alice's mailbox: bob's message
    // went with his.
    assert_eq!(status["stored_messages"], 1, "{status}");
    assert_eq!(status["mailboxes"][0]["address"], alice.as_str());
    assert_eq!(status["mailboxes"][0]["messages"], 1);
    assert!(relay.cli(&["fsck"]).status.success());
    let export = relay.cli(&["audit", "export", "--from", "2000-01-01", "--to", "2100-01-01"]);
    let text = String::from_utf8_lossy(&export.stdout);
    assert!(text.contains("\"actor\":\"monitor\"") && text.contains(&format!("account {bob}")), "{text}");
    assert!(relay.cli(&["audit", "verify"]).status.success());

    // The address is free again: a new account gets it, and it receives and collects.
    let (again, again_pw) = relay.add_user("bob", None);
    assert_eq!(again, bob);
    // The new bob has new keys: what was encrypted to the old ones is refused.
    let stale = relay.send(&alice, &alice_pw, &bob, &message);
    assert_eq!(code(&stale["data"]), 554, "{stale}");
    assert!(text_of(&stale["data"]).contains("unknown key"), "{stale}");
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &message)["data"]), 250);
    assert_eq!(relay.fetch(&bob, &again_pw, true).len(), 1);
}

#[test]
fn an_address_given_again_does_not_show_its_previous_holders_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "[monitor]\nclosed_account_retention_days = 1\n");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let start = relay.created_day(&alice);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &message)["data"]), 250);
    assert_eq!(relay.fetch(&bob, &bob_pw, true).len(), 1, "the first bob collects, leaving a trail and a session");
    assert!(relay.cli(&["user", "close", "--address", &bob]).status.success());
    assert_eq!(monitor_run(&relay, start, 3)["closed_accounts_removed"], 1);

    // The address goes to someone else, whose personal data shows only their own history.
    let (again, again_pw) = relay.add_user("bob", None);
    assert_eq!(again, bob);
    assert!(relay.fetch(&bob, &again_pw, true).is_empty());
    let jar = dir.path().join("bob.cookies");
    let login = browser(&relay, &jar, &["login", "--address", &bob, "--password", &again_pw]);
    assert_eq!(login["second_factor"]["status"], 200, "{login}");
    let export = browser(&relay, &jar, &["get", "/account/data.json"]);
    let data: Value = serde_json::from_str(export["body"].as_str().unwrap_or_default()).expect("JSON export");
    let created = data["account"]["created_at"].as_u64().expect("created_at");
    let connections = data["connections"].as_array().expect("connections");
    // The new holder's own: the collection above and this login to the personal space.
    let protocols: Vec<&str> = connections.iter().filter_map(|c| c["protocol"].as_str()).collect();
    assert_eq!(protocols, ["web", "pop3"], "the new holder's own connections only: {connections:?}");
    assert!(connections.iter().all(|c| c["started_at"].as_u64().expect("started_at") >= created), "{connections:?}");
    assert_eq!(data["message_trails"], serde_json::json!([]), "the previous holder's message is not shown");
}
