//! The relay port between operators, dialogue by dialogue: no AUTH, STARTTLS before MAIL,
//! MAIL FROM's domain bound to the presented certificate through the trust list (the
//! driver's answer to `CheckOperator`), the sender's own `From:` carried, the relay's
//! control headers still refused.

use caducee_protocol::smtp::{self, OperatorVerdict, SmtpConfig};
use caducee_protocol::Machine;
use common::*;

mod common;

type SmtpServer = smtp::SmtpServer<Words>;
type Effect = smtp::Effect<Words>;

fn relay_port(tls: bool) -> SmtpServer {
    let config = SmtpConfig { hostname: "relay.test".into(), message_bytes_max: 100_000 };
    let mut machine = SmtpServer::new(config, tls).for_operators();
    machine.take_output();
    machine
}

/// Feeds `input`, answering the trust list with `verdict` and every recipient as local;
/// returns the replies and the other effects asked for.
fn feed(machine: &mut SmtpServer, input: &str, verdict: &OperatorVerdict) -> (String, Vec<Effect>) {
    let mut pending = input.as_bytes();
    let mut effects = Vec::new();
    loop {
        let (used, effect) = machine.receive(pending);
        pending = &pending[used..];
        match effect {
            Some(Effect::CheckOperator { sender }) => {
                effects.push(Effect::CheckOperator { sender });
                machine.operator_checked(verdict.clone());
            }
            Some(Effect::CheckRecipient { .. }) => {
                machine.recipient_checked(smtp::RecipientVerdict::Accept(AccountId(2)))
            }
            Some(other) => effects.push(other),
            None => break,
        }
    }
    (String::from_utf8(machine.take_output()).expect("replies are UTF-8"), effects)
}

fn relayed(header: &str) -> String {
    let stuffed = pgp_mime_with(header, ENCRYPTED_ASC);
    format!("MAIL FROM:<secretariat@peer.test>\r\nRCPT TO:<b@relay.test>\r\nDATA\r\n{stuffed}.\r\n")
}

#[test]
fn before_tls_an_operator_is_asked_for_starttls_and_never_offered_auth() {
    let mut machine = relay_port(false);
    let (replies, effects) = feed(
        &mut machine,
        "EHLO mx.peer.test\r\nAUTH PLAIN AGEAYg==\r\nMAIL FROM:<a@peer.test>\r\n",
        &OperatorVerdict::Bound,
    );
    assert!(replies.contains("250 STARTTLS") && !replies.contains("AUTH PLAIN"), "{replies}");
    assert!(replies.contains("503 5.5.1 No AUTH on the relay port"), "{replies}");
    assert!(replies.contains("530 5.7.0 Must issue a STARTTLS command first"), "{replies}");
    assert!(effects.is_empty(), "the trust list is not asked before TLS: {effects:?}");
    assert!(!machine.logged_in());
}

#[test]
fn a_bound_operator_relays_a_message_whose_from_is_its_own_users() {
    let mut machine = relay_port(true);
    let (greeting, _) = feed(&mut machine, "EHLO mx.peer.test\r\n", &OperatorVerdict::Bound);
    assert!(!greeting.contains("AUTH") && !greeting.contains("STARTTLS"), "{greeting}");
    let message = relayed("From: Secretariat <secretariat@peer.test>\r\n");
    let (replies, effects) = feed(&mut machine, &message, &OperatorVerdict::Bound);
    assert_eq!(effects[0], Effect::CheckOperator { sender: Some("secretariat@peer.test".into()) });
    assert!(replies.starts_with("250 2.1.0"), "{replies}");
    let Some(Effect::Deliver(delivery)) = effects.get(1) else { panic!("a delivery: {effects:?} {replies}") };
    assert_eq!(delivery.sender, "secretariat@peer.test");
    assert!(machine.logged_in(), "a bound operator is past the pre-login limits");
}

#[test]
fn the_relays_control_headers_are_refused_from_an_operator_too() {
    let mut machine = relay_port(true);
    let message = relayed("From: <secretariat@peer.test>\r\nX-Caducee-Keys: renewal\r\n");
    let (replies, effects) = feed(&mut machine, &format!("EHLO mx.peer.test\r\n{message}"), &OperatorVerdict::Bound);
    assert!(replies.contains("550 5.7.1 Message refused: the X-Caducee-Keys: header is reserved"), "{replies}");
    assert!(effects.contains(&Effect::ContentRefused));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Deliver(_))));
}

#[test]
fn an_operator_the_trust_list_does_not_bind_is_told_why() {
    let mut machine = relay_port(true);
    let why = "the certificate's subject is not bound to that domain in the trust list";
    let (replies, effects) =
        feed(&mut machine, &format!("EHLO x\r\n{}", relayed("")), &OperatorVerdict::Refused(why.into()));
    assert!(replies.contains(&format!("550 5.7.1 <secretariat@peer.test>: {why}")), "{replies}");
    assert!(replies.contains("503 5.5.1 Send MAIL first"), "no transaction was opened: {replies}");
    assert!(!effects.iter().any(|e| matches!(e, Effect::Deliver(_))));
    assert!(!machine.logged_in());

    let mut machine = relay_port(true);
    let (replies, _) = feed(&mut machine, "EHLO x\r\nMAIL FROM:<a@peer.test>\r\n", &OperatorVerdict::TryLater);
    assert!(replies.contains("451 4.3.0 The trust list cannot be read now"), "{replies}");
}
