//! End to end: clear text slipped beside a real gpg-encrypted PGP/MIME message — in the
//! control part, the preamble, the epilogue, after the armour, in an armour header — is
//! refused over SMTP with a reply that says where, and nothing of it is stored; the same
//! message without the additions goes through.

mod common;

use common::{code, compose, text, without_trace_header, Relay};
use serde_json::Value;

/// One way of slipping clear text in, and the words the refusal must use.
struct Bypass {
    name: &'static str,
    edit: fn(&str) -> String,
    refusal: &'static str,
}

/// Each bypass the content check closes, applied to the message the practice client wrote.
const BYPASSES: &[Bypass] = &[
    Bypass {
        name: "text in the PGP/MIME control part",
        edit: |m| {
            m.replacen("\r\n\r\nVersion: 1\r\n", "\r\n\r\nVersion: 1\r\nPatient: Dupont Jean, HbA1c 9.1 %\r\n", 1)
        },
        refusal: "control part",
    },
    Bypass {
        name: "text in the multipart preamble",
        edit: |m| m.replacen("\r\n\r\n", "\r\n\r\nPatient Dupont Jean, ne le 01/02/1960\r\n", 1),
        refusal: "preamble",
    },
    Bypass {
        name: "text in the multipart epilogue",
        edit: |m| format!("{m}Resultats: HIV positif\r\n"),
        refusal: "epilogue",
    },
    Bypass {
        name: "text after the armour's END line",
        edit: |m| {
            m.replacen(
                "-----END PGP MESSAGE-----",
                "-----END PGP MESSAGE-----\r\nPatient Dupont, HbA1c 9.1 %\r\n-----END PGP MESSAGE-----",
                1,
            )
        },
        refusal: "end of the OpenPGP armour",
    },
    Bypass {
        name: "an unknown armour header",
        edit: |m| {
            m.replacen("-----BEGIN PGP MESSAGE-----\r\n", "-----BEGIN PGP MESSAGE-----\r\nPatient: Dupont Jean\r\n", 1)
        },
        refusal: "armour header",
    },
    Bypass {
        name: "a long armour comment",
        edit: |m| {
            let comment =
                format!("Comment: {}\r\n", "Dupont Jean, diabete de type 2, HbA1c 9.1 %, sous insuline ".repeat(2));
            m.replacen("-----BEGIN PGP MESSAGE-----\r\n", &format!("-----BEGIN PGP MESSAGE-----\r\n{comment}"), 1)
        },
        refusal: "armour header",
    },
];

fn stored_messages(relay: &Relay) -> Value {
    let status: Value = serde_json::from_slice(&relay.cli(&["status", "--json"]).stdout).expect("status JSON");
    status["stored_messages"].clone()
}

#[test]
fn clear_text_beside_encrypted_data_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let composed = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    let original = String::from_utf8(std::fs::read(&composed).expect("composed message")).expect("ASCII message");
    let original = original.replace("\r\n", "\n").replace('\n', "\r\n");

    for bypass in BYPASSES {
        let edited = (bypass.edit)(&original);
        assert_ne!(edited, original, "{}: the edit applies to the client's message", bypass.name);
        let path = dir.path().join("edited.eml");
        std::fs::write(&path, &edited).expect("write message");
        let sent = relay.send(&alice, &alice_pw, &bob, &path);
        assert_eq!(code(&sent["data"]), 554, "{}: {sent}", bypass.name);
        let reply = text(&sent["data"]);
        assert!(reply.starts_with("5.7.1 Message refused"), "{}: {reply}", bypass.name);
        assert!(reply.contains(bypass.refusal), "{}: the refusal says what: {reply}", bypass.name);
        assert!(!reply.contains("Dupont") && !reply.contains("HIV"), "the refusal repeats no clear text: {reply}");
    }
    assert_eq!(stored_messages(&relay), 0, "nothing refused was stored");
    assert!(relay.fetch(&bob, &bob_pw, false).is_empty(), "bob's mailbox is empty");

    // The client's own message, untouched, goes through and arrives as sent.
    let sent = relay.send(&alice, &alice_pw, &bob, &composed);
    assert_eq!(code(&sent["data"]), 250, "{sent}");
    assert_eq!(stored_messages(&relay), 1);
    let fetched = relay.fetch(&bob, &bob_pw, true);
    assert_eq!(fetched.len(), 1);
    assert_eq!(without_trace_header(&fetched[0]), original.as_bytes());
}
