//! The wire shapes the CLI's `--json` output and the console rely on.

use super::*;

#[test]
fn a_request_without_fields_is_its_command_alone() {
    let line = serde_json::to_string(&Envelope { version: 1, request: UserList {}.into() }).expect("well-formed");
    assert_eq!(line, r#"{"version":1,"request":{"command":"user-list"}}"#);
    let back: Envelope =
        serde_json::from_str(r#"{"version":1,"request":{"command":"drill-status"}}"#).expect("well-formed");
    assert!(matches!(back.request, Request::DrillStatus(DrillStatus {})));
}

#[test]
fn fields_sit_beside_the_command() {
    let request: Request = Keys { address: "a@b.fr".into(), action: KeysAction::Renew }.into();
    assert_eq!(
        serde_json::to_value(&request).expect("well-formed"),
        serde_json::json!({ "command": "keys", "address": "a@b.fr", "action": "renew" })
    );
    let request: Request =
        serde_json::from_value(serde_json::json!({ "command": "monitor-run", "as_of": null })).expect("well-formed");
    assert!(matches!(request, Request::MonitorRun(MonitorRun { as_of: None })));
}

#[test]
fn a_drill_outcome_reads_both_shapes() {
    let failed: DrillOutcome = serde_json::from_str(r#"{"ok":false,"error":"no backup"}"#).expect("well-formed");
    assert!(!failed.ok());
    assert_eq!(failed.error(), Some("no backup"));
    let report = r#"{"ok":true,"backup":"/b","backup_created_at":null,"started_at":5,"restore_seconds":1.5,"ready_seconds":null,"first_accept_seconds":null,"collected":true,"messages_restored":3,"mailboxes_restored":1,"notices_held":2,"error":null}"#;
    let outcome: DrillOutcome = serde_json::from_str(report).expect("well-formed");
    assert!(outcome.ok());
    assert_eq!(serde_json::to_string(&outcome).expect("well-formed"), report);
    // A report written before drills counted the notices they held still reads.
    let older = report.replace(r#""notices_held":2,"#, "");
    let outcome: DrillOutcome = serde_json::from_str(&older).expect("an older report");
    assert_eq!(outcome.report().and_then(|r| r.notices_held), None);
}

#[test]
fn a_typed_call_reads_its_reply_and_says_when_the_shape_is_wrong() {
    let mut transport = |request: Request| -> Result<serde_json::Value, String> {
        match request {
            Request::RightsRequestClose(RightsRequestClose { seq }) => Ok(serde_json::json!({ "closed": seq })),
            _ => Ok(serde_json::json!({ "unexpected": true })),
        }
    };
    assert_eq!(call(&mut transport, RightsRequestClose { seq: 4 }).expect("well-formed").closed, 4);
    let error = call(&mut transport, AlertAcknowledge { seq: 1 }).expect_err("refused");
    assert!(error.contains("unexpected shape"), "{error}");
}
