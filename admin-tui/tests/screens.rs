//! Every screen drawn from a fixed status, at 80×24 and 120×40, compared with the snapshots
//! in `tests/snapshots/`; and what the keys send to the relay.

use caducee_console::{render, App, Screen};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::Terminal;
use serde_json::{json, Value};

fn status(accepted: u64) -> Value {
    json!({
        "running": true,
        "stored_messages": 1234,
        "stored_bytes": 9_876_543,
        "mailbox_count": 3,
        "quality": {
            "processing_ms": [
                { "minutes": 5, "count": 420, "mean": 2.1, "p50": 1.95, "p90": 3.2, "p99": 6.4, "max": 12.0 },
                { "minutes": 60, "count": 5000, "mean": 2.0, "p50": 1.9, "p90": 3.1, "p99": 6.0, "max": 20.0 }
            ],
            "collection_delay_s": [],
            "accepted_total": accepted,
            "collected_total": 4100,
            "load_average": [0.42, 0.38, 0.30],
            "store_file_bytes": 52_428_800,
            "store_free_bytes": 68_719_476_736u64
        },
        "notices_waiting": [ { "kind": "quota-95" } ],
        "open_alerts": open_alerts(),
        "last_drill": { "ok": true, "first_accept_seconds": 21.5 },
        "mailboxes": [
            { "address": "dr.martin@relay.test", "used_bytes": 1_048_576, "quota_bytes": 50_000_000, "messages": 12,
              "last_collection": 1_795_640_000_000u64,
              "state": { "disabled": null, "blocked": null, "quota_warned_percent": 0, "closed_at": null } },
            { "address": "labo.durand@relay.test", "used_bytes": 48_000_000, "quota_bytes": 50_000_000, "messages": 900,
              "state": { "disabled": null, "blocked": { "at": 1, "reason": "5 refusals in 24 hours" }, "quota_warned_percent": 95, "closed_at": null } },
            { "address": "cabinet.petit@relay.test", "used_bytes": 0, "quota_bytes": 50_000_000, "messages": 0,
              "state": { "disabled": ["inactivity", 1], "blocked": null, "quota_warned_percent": 0, "closed_at": null } }
        ]
    })
}

fn open_alerts() -> Value {
    json!([
        { "seq": 9, "kind": "blocked", "subject": "labo.durand@relay.test",
          "text": "blocked for mass mailing: labo.durand@relay.test (5 refusals in 24 hours)",
          "raised_at": 1_795_650_000_000u64, "repeats": 2, "last_raised_at": 1_795_650_600_000u64,
          "acknowledged_at": null, "acknowledged_by": null },
        { "seq": 7, "kind": "inactivity-disabled", "subject": "cabinet.petit@relay.test",
          "text": "reception disabled: cabinet.petit@relay.test has not collected for 60 days",
          "raised_at": 1_795_600_000_000u64, "repeats": 0, "last_raised_at": 1_795_600_000_000u64,
          "acknowledged_at": null, "acknowledged_by": null }
    ])
}

fn every_alert() -> Value {
    let mut alerts = open_alerts().as_array().cloned().unwrap_or_default();
    alerts.push(json!({ "seq": 4, "kind": "quota-full", "subject": "dr.martin@relay.test",
        "text": "mailbox full: new mail to dr.martin@relay.test is refused until it is collected",
        "raised_at": 1_795_500_000_000u64, "repeats": 0, "last_raised_at": 1_795_500_000_000u64,
        "acknowledged_at": 1_795_510_000_000u64, "acknowledged_by": "uid 0" }));
    Value::Array(alerts)
}

#[test]
fn alerts_are_listed_and_acknowledged_with_who_did_it() {
    let mut app = app();
    let sent = std::cell::RefCell::new(Vec::<Value>::new());
    let mut api = |request: Value| -> Result<Value, String> {
        sent.borrow_mut().push(request.clone());
        match request["command"].as_str() {
            Some("status") => Ok(status(5000)),
            Some("alerts") => Ok(every_alert()),
            Some("alert-acknowledge") => Ok(json!({ "acknowledged": request["seq"], "by": "uid 0" })),
            _ => Err("unexpected".into()),
        }
    };
    app.key(KeyEvent::from(KeyCode::Char('7')), &mut api);
    assert_eq!(app.screen, Screen::Alerts);
    insta::assert_snapshot!("alerts_80x24", draw(&app, 80, 24));
    insta::assert_snapshot!("alerts_120x40", draw(&app, 120, 40));

    // The acknowledged one (third) is left alone; the selected open one is acknowledged.
    for _ in 0..2 {
        app.key(KeyEvent::from(KeyCode::Char('j')), &mut api);
    }
    app.key(KeyEvent::from(KeyCode::Char('a')), &mut api);
    assert!(sent.borrow().iter().all(|r| r["command"] != "alert-acknowledge"));
    assert!(app.message.as_deref().is_some_and(|m| m.contains("acknowledged already")));
    app.key(KeyEvent::from(KeyCode::Char('k')), &mut api);
    app.key(KeyEvent::from(KeyCode::Char('a')), &mut api);
    assert!(sent.borrow().iter().any(|r| *r == json!({ "command": "alert-acknowledge", "seq": 7 })));
    assert_eq!(app.message.as_deref(), Some("alert 7 acknowledged"));
}

fn app() -> App {
    let mut app = App::new(false);
    for accepted in [4000, 4012, 4030, 4031, 4060] {
        app.take_status(status(accepted));
    }
    app
}

fn draw(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal.draw(|frame| render(app, frame)).expect("draw");
    terminal.backend().to_string()
}

fn no_relay(_: Value) -> Result<Value, String> {
    Err("not connected".into())
}

#[test]
fn dashboard() {
    let app = app();
    insta::assert_snapshot!("dashboard_80x24", draw(&app, 80, 24));
    insta::assert_snapshot!("dashboard_120x40", draw(&app, 120, 40));
}

#[test]
fn mailboxes() {
    let mut app = app();
    app.screen = Screen::Mailboxes;
    app.selected = 1;
    insta::assert_snapshot!("mailboxes_80x24", draw(&app, 80, 24));
    insta::assert_snapshot!("mailboxes_120x40", draw(&app, 120, 40));
}

#[test]
fn search_confirmation_help_and_a_lost_connection() {
    let mut app = app();
    let mut api = no_relay;
    for key in [KeyCode::Char('/'), KeyCode::Char('l'), KeyCode::Char('a'), KeyCode::Char('b'), KeyCode::Enter] {
        app.key(KeyEvent::from(key), &mut api);
    }
    assert_eq!(app.mailboxes().len(), 1, "search narrows the list");
    insta::assert_snapshot!("search_80x24", draw(&app, 80, 24));
    app.key(KeyEvent::from(KeyCode::Char('u')), &mut api);
    insta::assert_snapshot!("confirm_80x24", draw(&app, 80, 24));
    app.key(KeyEvent::from(KeyCode::Char('n')), &mut api);
    assert!(app.confirm.is_none());
    app.key(KeyEvent::from(KeyCode::Char('?')), &mut api);
    insta::assert_snapshot!("help_80x24", draw(&app, 80, 24));
    app.key(KeyEvent::from(KeyCode::Char('x')), &mut api);
    app.refresh(&mut api);
    insta::assert_snapshot!("connection_lost_80x24", draw(&app, 80, 24));
}

#[test]
fn a_confirmed_action_is_sent_to_the_relay_and_the_screen_refreshes() {
    let mut app = app();
    app.screen = Screen::Mailboxes;
    let sent = std::cell::RefCell::new(Vec::new());
    let mut api = |request: Value| {
        sent.borrow_mut().push(request.clone());
        Ok(if request["command"] == "status" { status(5000) } else { json!({}) })
    };
    app.key(KeyEvent::from(KeyCode::Char('j')), &mut api);
    app.key(KeyEvent::from(KeyCode::Char('u')), &mut api);
    assert!(app.confirm.is_some(), "nothing is sent before the confirmation");
    app.key(KeyEvent::from(KeyCode::Char('y')), &mut api);
    let sent = sent.borrow().clone();
    assert_eq!(sent[0], json!({ "command": "user-state", "address": "labo.durand@relay.test", "action": "unblock" }));
    assert_eq!(sent[1], json!({ "command": "status" }));
    assert_eq!(app.message.as_deref(), Some("unblock labo.durand@relay.test: done"));
    app.key(KeyEvent::from(KeyCode::Char('q')), &mut api);
    assert!(app.quit);
}

fn audit_entries() -> Value {
    let entry = |seq: u64, at: u64, actor: &str, action: &str, object: &str, detail: &str| {
        json!({ "seq": seq, "hash": "…", "entry": {
            "at": at, "actor": actor, "source": "admin socket", "action": action, "object": object, "detail": detail
        }})
    };
    json!([
        entry(
            1,
            1_795_650_000_000,
            "uid 0",
            "create",
            "account dr.martin@relay.test",
            "names, contact e-mail, quota 50 MB"
        ),
        entry(2, 1_795_650_060_000, "uid 0", "read", "account list", "status"),
        entry(3, 1_795_650_120_000, "uid 1000", "update", "account labo.durand@relay.test", "unblock"),
        entry(4, 1_795_660_000_000, "monitor", "delete", "account cabinet.petit@relay.test", "closed 365 days ago"),
    ])
}

#[test]
fn audit_viewer() {
    let mut app = app();
    let mut api = |request: Value| -> Result<Value, String> {
        match request["command"].as_str() {
            Some("status") => Ok(status(4100)),
            Some("audit-export") => Ok(audit_entries()),
            _ => Err("unexpected".into()),
        }
    };
    app.key(KeyEvent::from(KeyCode::Char('6')), &mut api);
    assert_eq!(app.screen, Screen::Audit);
    assert_eq!(app.audit_entries().len(), 4);
    insta::assert_snapshot!("audit_80x24", draw(&app, 80, 24));
    insta::assert_snapshot!("audit_120x40", draw(&app, 120, 40));
    for key in [KeyCode::Char('/'), KeyCode::Char('m'), KeyCode::Char('o'), KeyCode::Char('n'), KeyCode::Enter] {
        app.key(KeyEvent::from(key), &mut api);
    }
    assert_eq!(app.audit_entries().len(), 1, "the filter keeps the monitor's entry");
    assert_eq!(app.screen, Screen::Audit, "searching stays on the audit screen");
}

#[test]
fn the_audit_trail_is_read_on_demand_not_polled() {
    let mut app = app();
    let exports = std::cell::Cell::new(0);
    let mut api = |request: Value| -> Result<Value, String> {
        if request["command"] == "audit-export" {
            exports.set(exports.get() + 1);
            return Ok(audit_entries());
        }
        Ok(status(4100))
    };
    app.key(KeyEvent::from(KeyCode::Char('6')), &mut api);
    for _ in 0..5 {
        app.refresh(&mut api); // what the loop does every second
    }
    assert_eq!(exports.get(), 1, "reading the trail is an audited export: once per visit");
    app.key(KeyEvent::from(KeyCode::Char('r')), &mut api);
    assert_eq!(exports.get(), 2);
}

fn keys_report(revoked: bool) -> Value {
    let edition = |n: u64, fingerprint: &str, status: &str, expires: u64| {
        json!({ "edition": n, "fingerprint": fingerprint, "status": status, "created_at": 1_795_650_000_000u64,
                "expires_at": expires, "revoked": null, "revocation_published": status == "revoked", "subkeys": [] })
    };
    let mut certificates = vec![edition(
        1,
        "3EA06FE6EF1D9F2A3FD68547BD02B7ADE8B6FBC5",
        if revoked { "revoked" } else { "valid" },
        1_798_761_600_000,
    )];
    let mut report = json!({ "address": "dr.martin@relay.test" });
    if revoked {
        certificates.push(edition(2, "77A25BC02981E16EA0DF318AF26D5DDB584244FC", "valid", 1_798_761_600_000));
        report["revoked"] = json!(["3EA06FE6EF1D9F2A3FD68547BD02B7ADE8B6FBC5"]);
        report["issued"] = json!({ "edition": 2, "fingerprint": "77A25BC02981E16EA0DF318AF26D5DDB584244FC",
            "installation_code": "K7Q2M-4HX9P-TT3VW-81RZE", "bundle": "/data/bundles/dr.martin@relay.test.2.584244FC.caducee-bundle",
            "expires_at": 1_798_761_600_000u64, "certificate": "…" });
    }
    report["certificates"] = json!(certificates);
    report
}

#[test]
fn accounts_keys_and_requests_from_the_console() {
    let mut app = app();
    app.screen = Screen::Mailboxes;
    let sent = std::cell::RefCell::new(Vec::<Value>::new());
    // The drill runs for two looks at its status (the confirmation's refresh, the screen's
    // reload), then reports at the third.
    let drill_looks = std::cell::Cell::new(0);
    let mut api = |request: Value| -> Result<Value, String> {
        sent.borrow_mut().push(request.clone());
        match request["command"].as_str() {
            Some("status") => Ok(status(5000)),
            Some("drill-start") => Ok(json!({ "running": true, "step": 1, "steps": 5,
                "label": "restoring the backup into a scratch folder", "elapsed_seconds": 0.0 })),
            Some("drill-status") if sent.borrow().iter().all(|r| r["command"] != "drill-start") => Ok(
                json!({ "running": false, "step": 0, "steps": 0, "label": "", "elapsed_seconds": 0.0, "report": null }),
            ),
            Some("drill-status") => {
                drill_looks.set(drill_looks.get() + 1);
                Ok(if drill_looks.get() < 3 {
                    json!({ "running": true, "step": 2, "steps": 5,
                        "label": "starting a relay from it on spare local ports", "elapsed_seconds": 3.4 })
                } else {
                    json!({ "running": false, "step": 5, "steps": 5, "label": "collecting it over POP3",
                        "elapsed_seconds": 9.8, "report": { "ok": true, "first_accept_seconds": 8.7 } })
                })
            }
            Some("user-add") => Ok(json!({ "address": "nina.one@relay.test", "password": "s3cret-Pass-word",
                "edition": 1, "fingerprint": "0A1B2C3D4E5F60718293A4B5C6D7E8F901234567",
                "installation_code": "AB12C-DE34F-GH56J-KM78N",
                "bundle": "/data/bundles/nina.one@relay.test.1.01234567.caducee-bundle" })),
            Some("keys") => Ok(keys_report(request["action"] != "show")),
            Some("backup-list") => Ok(json!({ "folder": "/mnt/backups", "keep_daily": 7, "keep_weekly": 4,
                "last_drill": { "ok": true, "started_at": 1_795_650_000_000u64, "first_accept_seconds": 21.5 },
                "backups": [{ "file": "/mnt/backups/caducee-20261126T020000Z.cbk", "at": 1_795_650_000_000u64, "bytes": 52_428_800u64 }] })),
            Some("backup") => {
                Ok(json!({ "file": "/mnt/backups/caducee-20261126T030000Z.cbk", "file_bytes": 52_428_900u64,
                "seconds": 0.4, "manifest": {}, "rotated_out": [] }))
            }
            Some("rights-requests") => Ok(json!([{ "seq": 3, "account": 1, "address": "dr.martin@relay.test",
                "kind": "erasure", "text": "Merci d'effacer mon compte.", "at": 1_795_650_000_000u64, "closed_at": null }])),
            _ => Err("unexpected".into()),
        }
    };
    fn key(app: &mut App, api: &mut impl caducee_console::AdminApi, code: KeyCode) {
        app.key(KeyEvent::from(code), api);
    }

    // A new account: four fields, then the password and installation code, shown once.
    key(&mut app, &mut api, KeyCode::Char('a'));
    for (i, field) in ["nina.one@relay.test", "Nina", "One", "nina@example.org"].iter().enumerate() {
        for c in field.chars() {
            key(&mut app, &mut api, KeyCode::Char(c));
        }
        if i == 3 {
            insta::assert_snapshot!("new_account_80x24", draw(&app, 80, 24));
        }
        key(&mut app, &mut api, KeyCode::Enter);
    }
    let add = sent.borrow().iter().find(|r| r["command"] == "user-add").cloned().expect("user-add sent");
    assert_eq!(add["address"], "nina.one@relay.test");
    assert_eq!(add["contact_email"], "nina@example.org");
    insta::assert_snapshot!("account_created_80x24", draw(&app, 80, 24));
    key(&mut app, &mut api, KeyCode::Char('z'));
    assert!(app.shown.is_none(), "shown once");

    // The selected account's keys; a revocation asks first, then shows the new code.
    app.selected = 0;
    key(&mut app, &mut api, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Keys);
    insta::assert_snapshot!("keys_80x24", draw(&app, 80, 24));
    insta::assert_snapshot!("keys_120x40", draw(&app, 120, 40));
    key(&mut app, &mut api, KeyCode::Char('x'));
    assert!(sent.borrow().iter().all(|r| r["action"] != json!({ "revoke": { "reason": "compromised" } })));
    key(&mut app, &mut api, KeyCode::Char('y'));
    assert!(sent.borrow().iter().any(|r| r["action"] == json!({ "revoke": { "reason": "compromised" } })));
    insta::assert_snapshot!("keys_revoked_80x24", draw(&app, 80, 24));
    key(&mut app, &mut api, KeyCode::Char('z'));

    // Data-protection requests.
    key(&mut app, &mut api, KeyCode::Char('4'));
    assert_eq!(app.screen, Screen::Requests);
    insta::assert_snapshot!("requests_80x24", draw(&app, 80, 24));
    insta::assert_snapshot!("requests_120x40", draw(&app, 120, 40));
    key(&mut app, &mut api, KeyCode::Char('c'));
    key(&mut app, &mut api, KeyCode::Char('y'));
    assert!(sent.borrow().iter().any(|r| *r == json!({ "command": "rights-request-close", "seq": 3 })));

    // Backups: the folder, the last drill, the backups; `b` takes one after a `y`.
    key(&mut app, &mut api, KeyCode::Char('5'));
    assert_eq!(app.screen, Screen::Backups);
    insta::assert_snapshot!("backups_80x24", draw(&app, 80, 24));
    insta::assert_snapshot!("backups_120x40", draw(&app, 120, 40));
    key(&mut app, &mut api, KeyCode::Char('b'));
    key(&mut app, &mut api, KeyCode::Char('y'));
    assert!(sent.borrow().iter().any(|r| r["command"] == "backup"));
    assert!(app.shown.as_ref().is_some_and(|(_, text)| text.contains("caducee-20261126T030000Z.cbk")));
    key(&mut app, &mut api, KeyCode::Char('z'));

    // A restore drill from the newest backup: asked first, then its progress, then the result.
    key(&mut app, &mut api, KeyCode::Char('d'));
    assert!(app.confirm.as_ref().is_some_and(|c| c.address.ends_with("caducee-20261126T020000Z.cbk")));
    key(&mut app, &mut api, KeyCode::Char('y'));
    assert!(sent.borrow().iter().any(|r| *r == json!({ "command": "drill-start", "from": null })));
    insta::assert_snapshot!("backups_drill_running_80x24", draw(&app, 80, 24));
    app.refresh(&mut api);
    assert!(app.drill.as_ref().is_some_and(|d| d["running"] == false));
    assert_eq!(
        app.message.as_deref(),
        Some("restore drill passed: first message accepted 8.7 s after the restore began")
    );
}

#[test]
fn terms_and_announcements_are_published_from_text_files_after_a_confirmation() {
    let mut app = app();
    let sent = std::cell::RefCell::new(Vec::<Value>::new());
    let mut api = |request: Value| -> Result<Value, String> {
        sent.borrow_mut().push(request.clone());
        Ok(if request["command"] == "status" { status(4100) } else { json!({ "version": 2 }) })
    };
    let file = std::env::temp_dir().join(format!("caducee-console-terms-{}.txt", std::process::id()));
    std::fs::write(&file, "Conditions, version 2.\n").expect("terms file");
    app.key(KeyEvent::from(KeyCode::Char('T')), &mut api);
    for c in file.to_str().expect("utf-8").chars() {
        app.key(KeyEvent::from(KeyCode::Char(c)), &mut api);
    }
    app.key(KeyEvent::from(KeyCode::Enter), &mut api);
    assert!(app.confirm.is_some() && sent.borrow().iter().all(|r| r["command"] != "terms-publish"));
    app.key(KeyEvent::from(KeyCode::Char('y')), &mut api);
    assert!(sent
        .borrow()
        .iter()
        .any(|r| *r == json!({ "command": "terms-publish", "text": "Conditions, version 2.\n" })));

    app.key(KeyEvent::from(KeyCode::Char('A')), &mut api);
    for c in "Maintenance".chars() {
        app.key(KeyEvent::from(KeyCode::Char(c)), &mut api);
    }
    app.key(KeyEvent::from(KeyCode::Enter), &mut api);
    for c in "/no/such/file".chars() {
        app.key(KeyEvent::from(KeyCode::Char(c)), &mut api);
    }
    app.key(KeyEvent::from(KeyCode::Enter), &mut api);
    assert!(app.message.as_deref().is_some_and(|m| m.starts_with("cannot read /no/such/file")), "{:?}", app.message);
    assert!(app.confirm.is_none());
    let _ = std::fs::remove_file(file);
}

#[test]
fn an_account_is_edited_from_a_form_filled_with_what_it_has() {
    let mut app = app();
    app.screen = Screen::Mailboxes;
    let mut status_with_names = status(4100);
    status_with_names["mailboxes"][0]["first_name"] = json!("Anne");
    status_with_names["mailboxes"][0]["last_name"] = json!("Martin");
    status_with_names["mailboxes"][0]["contact_email"] = json!("anne@example.org");
    app.take_status(status_with_names.clone());
    let sent = std::cell::RefCell::new(Vec::<Value>::new());
    let mut api = |request: Value| -> Result<Value, String> {
        sent.borrow_mut().push(request.clone());
        Ok(if request["command"] == "status" { status_with_names.clone() } else { json!({}) })
    };
    app.key(KeyEvent::from(KeyCode::Char('E')), &mut api);
    assert_eq!(app.edit.as_ref().map(|e| e.values[0].as_str()), Some("Anne"));
    for _ in 0..5 {
        app.key(KeyEvent::from(KeyCode::Backspace), &mut api);
    }
    for c in "Anne-Marie".chars() {
        app.key(KeyEvent::from(KeyCode::Char(c)), &mut api);
    }
    for _ in 0..3 {
        app.key(KeyEvent::from(KeyCode::Enter), &mut api);
    }
    let edit = sent.borrow().iter().find(|r| r["command"] == "user-edit").cloned().expect("user-edit sent");
    assert_eq!(edit["first_name"], "Anne-Marie");
    assert_eq!(
        (edit["last_name"].as_str(), edit["contact_email"].as_str()),
        (Some("Martin"), Some("anne@example.org"))
    );
}
