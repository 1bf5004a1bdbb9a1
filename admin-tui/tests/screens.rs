//! Every screen drawn from a fixed status, at 80×24 and 120×40, compared with the snapshots
//! in `tests/snapshots/`; and what the keys send to the relay.

mod fixtures;

use caducee_admin_protocol::{AlertAcknowledged, KeysAction, QueueActed, Request, TermsPublished, Transport};
use caducee_console::{render, App, Modal, Screen};
use caducee_storage::Millis;
use fixtures::{
    audit_entries, backup_done, backup_listing, drill_done, drill_finished, drill_running, every_alert, keys_report,
    outbound_queue, rights_requests, status, trust_list, user_created,
};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::Terminal;
use serde_json::{json, Value};

/// A reply as the relay sends it: the typed reply, serialised.
fn reply(value: impl serde::Serialize) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|e| e.to_string())
}

/// A request as it goes on the wire.
fn wire(request: &Request) -> Value {
    serde_json::to_value(request).expect("a request serialises")
}

#[test]
fn alerts_are_listed_and_acknowledged_with_who_did_it() {
    let mut app = app();
    let sent = std::cell::RefCell::new(Vec::<Value>::new());
    let mut api = |request: Request| -> Result<Value, String> {
        sent.borrow_mut().push(wire(&request));
        match request {
            Request::Status(_) => reply(status(5000)),
            Request::Alerts(_) => reply(every_alert()),
            Request::AlertAcknowledge(ack) => reply(AlertAcknowledged { acknowledged: ack.seq, by: "uid 0".into() }),
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
    assert!(matches!(app.modal, Some(Modal::Confirm(_))), "asked first, as every change");
    assert!(sent.borrow().iter().all(|r| r["command"] != "alert-acknowledge"));
    app.key(KeyEvent::from(KeyCode::Char('y')), &mut api);
    assert!(sent.borrow().iter().any(|r| *r == json!({ "command": "alert-acknowledge", "seq": 7 })));
    assert_eq!(app.message.as_deref(), Some("acknowledge alert 7: done"));
}

#[test]
fn without_a_backup_folder_b_says_so_and_asks_nothing() {
    let mut app = app();
    let mut listing = backup_listing();
    listing.folder = None;
    let mut api = |request: Request| -> Result<Value, String> {
        match request {
            Request::Status(_) => reply(status(5000)),
            Request::BackupList(_) => reply(&listing),
            Request::DrillStatus(_) => reply(drill_finished(None)),
            _ => Err("unexpected".into()),
        }
    };
    app.key(KeyEvent::from(KeyCode::Char('5')), &mut api);
    app.key(KeyEvent::from(KeyCode::Char('b')), &mut api);
    assert!(app.modal.is_none(), "no confirmation for a backup with nowhere to go");
    assert!(app.message.as_deref().is_some_and(|m| m.contains("set [backup] folder")), "{:?}", app.message);
}

#[test]
fn the_status_is_read_once_then_refreshed_without_a_new_audit_entry() {
    let mut app = App::new(false);
    let sent = std::cell::RefCell::new(Vec::<Value>::new());
    let mut api = |request: Request| -> Result<Value, String> {
        sent.borrow_mut().push(wire(&request));
        reply(status(5000))
    };
    app.refresh(&mut api);
    app.refresh(&mut api);
    assert_eq!(*sent.borrow(), [json!({ "command": "status" }), json!({ "command": "status", "refresh": true })]);
}

#[test]
fn the_peers_screen_shows_the_queue_and_the_trust_list_and_acts_on_an_entry() {
    let mut app = app();
    let sent = std::cell::RefCell::new(Vec::<Value>::new());
    let mut api = |request: Request| -> Result<Value, String> {
        sent.borrow_mut().push(wire(&request));
        match request {
            Request::Status(_) => reply(status(5000)),
            Request::QueueListing(_) => reply(outbound_queue()),
            Request::TrustListing(_) => reply(trust_list()),
            Request::QueueAct(_) => reply(QueueActed { entries: 1 }),
            _ => Err("unexpected".into()),
        }
    };
    app.key(KeyEvent::from(KeyCode::Char('8')), &mut api);
    assert_eq!(app.screen, Screen::Peers);
    insta::assert_snapshot!("peers_80x24", draw(&app, 80, 24));
    insta::assert_snapshot!("peers_120x40", draw(&app, 120, 40));

    // The second entry released, then the first deleted after its confirmation.
    app.key(KeyEvent::from(KeyCode::Char('j')), &mut api);
    app.key(KeyEvent::from(KeyCode::Char('u')), &mut api);
    assert!(sent.borrow().iter().any(|r| *r == json!({ "command": "queue-act", "id": 42, "action": "release" })));
    app.key(KeyEvent::from(KeyCode::Char('k')), &mut api);
    app.key(KeyEvent::from(KeyCode::Char('d')), &mut api);
    assert!(matches!(app.modal, Some(Modal::Confirm(_))), "a deletion asks first");
    assert!(sent.borrow().iter().all(|r| r["action"] != "delete"));
    app.key(KeyEvent::from(KeyCode::Char('y')), &mut api);
    assert!(sent.borrow().iter().any(|r| *r == json!({ "command": "queue-act", "id": 41, "action": "delete" })));
}

#[test]
fn user_texts_show_their_control_and_bidi_characters() {
    // A request text that would clear the screen and ring the bell, and reverse what
    // follows it on screen (an exe shown as a pdf); an alert quoting such a text.
    let hostile = "Effacez\u{1b}[2J mon compte\u{7} \u{202e}fdp.exe";
    let visible = "Effacez\\u{1b}[2J mon compte\\u{7} \\u{202e}fdp.exe";
    let mut requests = rights_requests();
    requests[0].text = hostile.to_owned();
    let mut alerts = every_alert();
    alerts[0].text = format!("blocked: {hostile}");
    let mut app = app();
    let mut api = |request: Request| -> Result<Value, String> {
        match request {
            Request::Status(_) => reply(status(5000)),
            Request::RightsRequests(_) => reply(&requests),
            Request::Alerts(_) => reply(&alerts),
            _ => Err("unexpected".into()),
        }
    };
    for (screen, key) in [(Screen::Requests, '4'), (Screen::Alerts, '7')] {
        app.key(KeyEvent::from(KeyCode::Char(key)), &mut api);
        assert_eq!(app.screen, screen);
        let drawn = draw(&app, 120, 40);
        assert!(drawn.contains(visible), "{screen:?} hides or obeys the text:\n{drawn}");
        let obeyed: Vec<char> =
            drawn.chars().filter(|c| (c.is_control() && *c != '\n') || ('\u{202a}'..='\u{202e}').contains(c)).collect();
        assert!(obeyed.is_empty(), "{screen:?} draws {obeyed:?}");
    }
}

#[test]
fn the_requests_table_shows_a_long_address_whole() {
    let long = "secretariat.cabinet.medical.durand@relay.test";
    let mut requests = rights_requests();
    requests[0].address = long.to_owned();
    let mut app = app();
    let mut api = |request: Request| -> Result<Value, String> {
        match request {
            Request::Status(_) => reply(status(5000)),
            Request::RightsRequests(_) => reply(&requests),
            _ => Err("unexpected".into()),
        }
    };
    app.key(KeyEvent::from(KeyCode::Char('4')), &mut api);
    let drawn = draw(&app, 120, 40);
    assert!(drawn.contains(long), "the address is cut:\n{drawn}");
    assert!(drawn.contains("Merci d'effacer mon compte."), "the text keeps a column:\n{drawn}");
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

fn no_relay(_: Request) -> Result<Value, String> {
    Err("not connected".into())
}

#[test]
fn dashboard() {
    let app = app();
    insta::assert_snapshot!("dashboard_80x24", draw(&app, 80, 24));
    insta::assert_snapshot!("dashboard_120x40", draw(&app, 120, 40));
}

#[test]
fn a_pair_members_dashboard_says_how_the_replication_is() {
    let mut app = App::new(false);
    let mut status = status(4000);
    status.pair = Some(degraded_pair());
    app.take_status(status);
    let screen = draw(&app, 80, 24);
    assert!(screen.contains("Pair: caducee-2 primary, DEGRADED (WFConnection, peer disk DUnknown)"), "{screen}");
    insta::assert_snapshot!("dashboard_pair_degraded_80x24", screen);
}

/// Member 2 serving after member 1's power cut: the peer away, the cluster with quorum
/// from the arbiter.
fn degraded_pair() -> caducee_admin_protocol::PairView {
    caducee_admin_protocol::PairView {
        member: Some("caducee-2".into()),
        service_address: Some("10.77.0.10/24".into()),
        connection: "WFConnection".into(),
        role: "Primary".into(),
        peer_role: "Unknown".into(),
        disk: "UpToDate".into(),
        peer_disk: "DUnknown".into(),
        sync_percent: None,
        problem: Some("the peer is away (WFConnection): writes reach one disk only".into()),
        cluster: Some(caducee_admin_protocol::PairCluster {
            quorate: true,
            designated_controller: Some("caducee-2".into()),
            members: vec![("caducee-1".into(), false), ("caducee-2".into(), true)],
            serving: Some("caducee-2".into()),
            last_start: Some(("caducee-2".into(), "Mon Nov 30 11:39:13 2026".into(), 4210)),
            failures: vec![],
        }),
    }
}

#[test]
fn a_pair_member_has_a_pair_screen_and_a_single_appliance_has_none() {
    let mut api = |request: Request| -> Result<Value, String> {
        match request {
            Request::Status(_) => reply(status(5000)),
            _ => Err("unexpected".into()),
        }
    };
    let mut single = app();
    single.key(KeyEvent::from(KeyCode::Char('9')), &mut api);
    assert_eq!(single.screen, Screen::Dashboard, "no pair, no ninth screen");
    single.key(KeyEvent::from(KeyCode::Char('8')), &mut api);
    single.key(KeyEvent::from(KeyCode::Tab), &mut api);
    assert_eq!(single.screen, Screen::Dashboard, "Tab from the last screen comes round");
    assert!(!draw(&single, 120, 40).contains("Pair"));

    let mut member = App::new(false);
    let mut report = status(4000);
    report.pair = Some(degraded_pair());
    member.take_status(report);
    member.key(KeyEvent::from(KeyCode::Char('9')), &mut api);
    assert_eq!(member.screen, Screen::Pair);
    let screen = draw(&member, 80, 24);
    for shown in [
        "caducee-2 (Primary; peer Unknown)",
        "DEGRADED",
        "the peer is away (WFConnection): writes reach one disk only",
        "Quorum           yes",
        "caducee-1 OFFLINE, caducee-2 online",
        "caducee-2 holds 10.77.0.10/24 and runs the relay",
        "the relay on caducee-2 at Mon Nov 30 11:39:13 2026, in 4.2 s",
    ] {
        assert!(screen.contains(shown), "{shown:?} not on\n{screen}");
    }
    // Nine tabs at 80 columns: the others by number, the one shown by name.
    assert!(screen.lines().next().is_some_and(|tabs| tabs.contains(" 9 Pair ") && tabs.contains("[8]")), "{screen}");
    insta::assert_snapshot!("pair_80x24", screen);
    insta::assert_snapshot!("pair_120x40", draw(&member, 120, 40));

    // Without the cluster's published state, the screen says where to look.
    let mut pair = degraded_pair();
    pair.cluster = None;
    let mut report = status(4000);
    report.pair = Some(pair);
    member.take_status(report);
    assert!(draw(&member, 120, 40).contains("not published (is caducee-pair-publish.service running?"));
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
    let mut elsewhere = self::app();
    for key in [KeyCode::Char('/'), KeyCode::Char('l'), KeyCode::Char('a'), KeyCode::Enter, KeyCode::Char('6')] {
        elsewhere.key(KeyEvent::from(key), &mut api);
    }
    assert_eq!(elsewhere.screen, Screen::Audit);
    assert!(elsewhere.search.is_empty(), "the mailboxes' search is no filter of the audit trail");
    insta::assert_snapshot!("search_80x24", draw(&app, 80, 24));
    app.key(KeyEvent::from(KeyCode::Char('u')), &mut api);
    insta::assert_snapshot!("confirm_80x24", draw(&app, 80, 24));
    app.key(KeyEvent::from(KeyCode::Char('n')), &mut api);
    assert!(app.modal.is_none());
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
    let mut api = |request: Request| {
        sent.borrow_mut().push(wire(&request));
        match request {
            Request::Status(_) => reply(status(5000)),
            Request::UserState(_) => reply(status(5000).mailboxes[1].clone()),
            _ => Err("unexpected".into()),
        }
    };
    app.key(KeyEvent::from(KeyCode::Char('j')), &mut api);
    app.key(KeyEvent::from(KeyCode::Char('u')), &mut api);
    assert!(matches!(app.modal, Some(Modal::Confirm(_))), "nothing is sent before the confirmation");
    app.key(KeyEvent::from(KeyCode::Char('y')), &mut api);
    let sent = sent.borrow().clone();
    assert_eq!(sent[0], json!({ "command": "user-state", "address": "labo.durand@relay.test", "action": "unblock" }));
    assert_eq!(sent[1], json!({ "command": "status", "refresh": true }));
    assert_eq!(app.message.as_deref(), Some("unblock labo.durand@relay.test: done"));
    app.key(KeyEvent::from(KeyCode::Char('q')), &mut api);
    assert!(app.quit);
}

#[test]
fn audit_viewer() {
    let mut app = app();
    let mut api = |request: Request| -> Result<Value, String> {
        match request {
            Request::Status(_) => reply(status(4100)),
            Request::AuditExport(_) => reply(audit_entries()),
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
    let mut api = |request: Request| -> Result<Value, String> {
        if let Request::AuditExport(_) = request {
            exports.set(exports.get() + 1);
            return reply(audit_entries());
        }
        reply(status(4100))
    };
    app.key(KeyEvent::from(KeyCode::Char('6')), &mut api);
    for _ in 0..5 {
        app.refresh(&mut api); // what the loop does every second
    }
    assert_eq!(exports.get(), 1, "reading the trail is an audited export: once per visit");
    app.key(KeyEvent::from(KeyCode::Char('r')), &mut api);
    assert_eq!(exports.get(), 2);
}

#[test]
fn accounts_keys_and_requests_from_the_console() {
    let mut app = app();
    app.screen = Screen::Mailboxes;
    let sent = std::cell::RefCell::new(Vec::<Value>::new());
    // The drill runs for two looks at its status (the confirmation's refresh, the screen's
    // reload), then reports at the third.
    let drill_looks = std::cell::Cell::new(0);
    let mut api = |request: Request| -> Result<Value, String> {
        sent.borrow_mut().push(wire(&request));
        match request {
            Request::Status(_) => reply(status(5000)),
            Request::DrillStart(_) => reply(drill_running(1, "restoring the backup into a scratch folder", 0.0)),
            Request::DrillStatus(_) if sent.borrow().iter().all(|r| r["command"] != "drill-start") => {
                reply(drill_finished(None))
            }
            Request::DrillStatus(_) => {
                drill_looks.set(drill_looks.get() + 1);
                if drill_looks.get() < 3 {
                    reply(drill_running(2, "starting a relay from it on spare local ports", 3.4))
                } else {
                    reply(drill_done())
                }
            }
            Request::UserAdd(_) => reply(user_created()),
            Request::Keys(keys) => reply(keys_report(keys.action != KeysAction::Show)),
            Request::BackupList(_) => reply(backup_listing()),
            Request::Backup(_) => reply(backup_done()),
            Request::RightsRequests(_) => reply(rights_requests()),
            _ => Err("unexpected".into()),
        }
    };
    fn key(app: &mut App, api: &mut impl Transport, code: KeyCode) {
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
    assert!(app.modal.is_none(), "shown once");

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
    assert!(matches!(&app.modal, Some(Modal::ShownOnce { text, .. }) if text.contains("caducee-20261126T030000Z.cbk")));
    key(&mut app, &mut api, KeyCode::Char('z'));

    // A restore drill from the newest backup: asked first, then its progress, then the result.
    key(&mut app, &mut api, KeyCode::Char('d'));
    assert!(matches!(&app.modal, Some(Modal::Confirm(c)) if c.address.ends_with("caducee-20261126T020000Z.cbk")));
    key(&mut app, &mut api, KeyCode::Char('y'));
    assert!(sent.borrow().iter().any(|r| *r == json!({ "command": "drill-start", "from": null })));
    insta::assert_snapshot!("backups_drill_running_80x24", draw(&app, 80, 24));
    app.refresh(&mut api);
    assert!(app.backups.drill.as_ref().is_some_and(|d| !d.running));
    assert_eq!(
        app.message.as_deref(),
        Some("restore drill passed: first message accepted 8.7 s after the restore began")
    );
}

#[test]
fn terms_and_announcements_are_published_from_text_files_after_a_confirmation() {
    let mut app = app();
    let sent = std::cell::RefCell::new(Vec::<Value>::new());
    let mut api = |request: Request| -> Result<Value, String> {
        sent.borrow_mut().push(wire(&request));
        match request {
            Request::Status(_) => reply(status(4100)),
            Request::TermsPublish(_) => reply(TermsPublished { version: 2, published_at: Millis(1_795_660_000_000) }),
            _ => Err("unexpected".into()),
        }
    };
    let file = std::env::temp_dir().join(format!("caducee-console-terms-{}.txt", std::process::id()));
    std::fs::write(&file, "Conditions, version 2.\n").expect("terms file");
    app.key(KeyEvent::from(KeyCode::Char('T')), &mut api);
    for c in file.to_str().expect("utf-8").chars() {
        app.key(KeyEvent::from(KeyCode::Char(c)), &mut api);
    }
    app.key(KeyEvent::from(KeyCode::Enter), &mut api);
    assert!(
        matches!(app.modal, Some(Modal::Confirm(_))) && sent.borrow().iter().all(|r| r["command"] != "terms-publish")
    );
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
    assert!(app.modal.is_none());
    let _ = std::fs::remove_file(file);
}

#[test]
fn an_account_is_edited_from_a_form_filled_with_what_it_has() {
    let mut app = app();
    app.screen = Screen::Mailboxes;
    let mut status_with_names = status(4100);
    status_with_names.mailboxes[0].first_name = "Anne".into();
    status_with_names.mailboxes[0].last_name = "Martin".into();
    status_with_names.mailboxes[0].contact_email = "anne@example.org".into();
    app.take_status(status_with_names.clone());
    let sent = std::cell::RefCell::new(Vec::<Value>::new());
    let mut api = |request: Request| -> Result<Value, String> {
        sent.borrow_mut().push(wire(&request));
        match request {
            Request::Status(_) => reply(status_with_names.clone()),
            Request::UserEdit(_) => reply(status_with_names.mailboxes[0].clone()),
            _ => Err("unexpected".into()),
        }
    };
    app.key(KeyEvent::from(KeyCode::Char('E')), &mut api);
    assert!(matches!(&app.modal, Some(Modal::EditAccount(e)) if e.values[0] == "Anne"));
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
