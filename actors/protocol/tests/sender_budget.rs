//! The SMTP machine's rules on who a message says it is from, and the relay-wide budget of
//! message bytes in memory, dialogue by dialogue.

use caducee_protocol::smtp::{self, may_send_as, InFlight, SmtpConfig};
use caducee_protocol::Vocabulary;
use common::*;

mod common;

type SmtpServer = smtp::SmtpServer<Words>;
type Effect = smtp::Effect<Words>;

/// A PGP/MIME message with the given header lines in front of the usual ones.
fn message(header: &str) -> String {
    pgp_mime_with(header, ENCRYPTED_ASC)
}

/// A session logged in as a@relay.test, sharing `budget`.
fn logged_in(budget: &InFlight) -> SmtpServer {
    let config = SmtpConfig { hostname: "relay.test".into(), message_bytes_max: 100_000 };
    let mut machine = SmtpServer::new(config, true).with_in_flight(budget.clone());
    let token = base64_plain("a@relay.test", "secret");
    let (replies, _) = feed(&mut machine, &format!("EHLO client\r\nAUTH PLAIN {token}\r\n"));
    assert!(replies.contains("235 "), "logged in: {replies}");
    machine
}

/// Feeds `input`, answering logins and recipient checks; returns the replies and the
/// deliveries and refusals asked for. Deliveries are left unanswered: their effects, and
/// so their share of the budget, are the caller's.
fn feed(machine: &mut SmtpServer, input: &str) -> (String, Vec<Effect>) {
    let mut pending = input.as_bytes();
    let mut effects = Vec::new();
    loop {
        let (used, effect) = machine.receive(pending);
        pending = &pending[used..];
        match effect {
            Some(Effect::Authenticate { username, .. }) => machine.authenticated(Some(smtp::Authenticated {
                account: AccountId(1),
                address: Words::parse_address(&username).expect("address"),
            })),
            Some(Effect::CheckRecipient { .. }) => {
                machine.recipient_checked(smtp::RecipientVerdict::Accept(AccountId(2)))
            }
            Some(other) => effects.push(other),
            None => break,
        }
    }
    (String::from_utf8(machine.take_output()).expect("replies are UTF-8"), effects)
}

fn submit(machine: &mut SmtpServer, body: &str) -> (String, Vec<Effect>) {
    let stuffed: String = body
        .split_inclusive("\r\n")
        .map(|line| if line.starts_with('.') { format!(".{line}") } else { line.to_owned() })
        .collect();
    feed(machine, &format!("MAIL FROM:<a@relay.test>\r\nRCPT TO:<b@relay.test>\r\nDATA\r\n{stuffed}.\r\n"))
}

fn delivered(effects: &[Effect]) -> bool {
    effects.iter().any(|effect| matches!(effect, Effect::Deliver(_)))
}

#[test]
fn a_from_header_naming_another_account_is_refused() {
    let budget = InFlight::unlimited();
    let mut machine = logged_in(&budget);
    let (replies, effects) = submit(&mut machine, &message("From: Dr Martin <martin@relay.test>\r\n"));
    assert!(replies.contains("550 5.7.1 Message refused: the From: header names <martin@relay.test>"), "{replies}");
    assert!(!delivered(&effects));
    assert!(effects.contains(&Effect::ContentRefused));
    assert_eq!(machine.content_refusal(), "forged-sender");
}

#[test]
fn a_sender_header_or_a_second_from_address_must_also_be_the_account() {
    let budget = InFlight::unlimited();
    let mut machine = logged_in(&budget);
    let (replies, effects) = submit(&mut machine, &message("From: a@relay.test\r\nSender: secretariat@relay.test\r\n"));
    assert!(replies.contains("550 5.7.1 Message refused: the Sender: header names"), "{replies}");
    assert!(!delivered(&effects));
    let (replies, _) = submit(&mut machine, &message("From: a@relay.test, keys@relay.test\r\n"));
    assert!(replies.contains("550 5.7.1"), "{replies}");
    let (replies, _) = submit(&mut machine, &message("From: not an address\r\n"));
    assert!(replies.contains("550 5.7.1 Message refused: the From: header holds no valid address"), "{replies}");
}

#[test]
fn the_relays_control_headers_are_refused_in_a_submission() {
    let budget = InFlight::unlimited();
    let mut machine = logged_in(&budget);
    let (replies, effects) =
        submit(&mut machine, &message("From: Caducee <a@relay.test>\r\nX-Caducee-Keys: renewal\r\n"));
    assert!(replies.contains("550 5.7.1 Message refused: the X-Caducee-Keys: header is reserved"), "{replies}");
    assert!(!delivered(&effects));
    assert_eq!(machine.content_refusal(), "control-header");
    let (replies, _) = submit(&mut machine, &message("From: a@relay.test\r\nx-caducee-notice: terms\r\n"));
    assert!(replies.contains("550 5.7.1"), "{replies}");
}

#[test]
fn the_own_address_in_any_spelling_is_delivered() {
    let budget = InFlight::unlimited();
    let mut machine = logged_in(&budget);
    let (replies, effects) =
        submit(&mut machine, &message("From: \"Dr A\" <A@Relay.Test>\r\nSender: a@relay.test\r\n"));
    assert!(delivered(&effects), "{replies}");
    assert!(may_send_as::<Words>(&"a@relay.test".to_owned(), &"a@relay.test".to_owned()));
    assert!(!may_send_as::<Words>(&"a@relay.test".to_owned(), &"b@relay.test".to_owned()));
}

#[test]
fn a_declared_size_over_the_budget_is_answered_452_at_mail() {
    let budget = InFlight::new(10_000);
    let mut first = logged_in(&budget);
    let mut second = logged_in(&budget);
    let (replies, _) = feed(&mut first, "MAIL FROM:<a@relay.test> SIZE=8000\r\n");
    assert!(replies.starts_with("250 "), "{replies}");
    let (replies, _) = feed(&mut second, "MAIL FROM:<a@relay.test> SIZE=3000\r\n");
    assert!(replies.starts_with("452 4.3.1 Insufficient system storage, try again later"), "{replies}");
    let (replies, _) = feed(&mut first, "RSET\r\n");
    assert!(replies.starts_with("250 "), "{replies}");
    assert_eq!(budget.used(), 0, "a reset gives the bytes back");
    let (replies, _) = feed(&mut second, "MAIL FROM:<a@relay.test> SIZE=3000\r\n");
    assert!(replies.starts_with("250 "), "{replies}");
}

#[test]
fn data_over_the_budget_is_answered_452_while_the_first_message_completes() {
    let body = message("From: a@relay.test\r\n");
    let budget = InFlight::new(body.len() as u64 + 500);
    let mut first = logged_in(&budget);
    let mut second = logged_in(&budget);
    let declared = format!("MAIL FROM:<a@relay.test> SIZE={}\r\n", body.len());
    assert!(feed(&mut first, &declared).0.starts_with("250 "));
    let (replies, effects) = submit(&mut second, &body);
    assert!(replies.ends_with("452 4.3.1 Insufficient system storage, try again later: the relay is receiving too many messages at once\r\n"), "{replies}");
    assert!(effects.is_empty());
    let (replies, effects) = feed(&mut first, &format!("RCPT TO:<b@relay.test>\r\nDATA\r\n{body}.\r\n"));
    assert!(delivered(&effects), "{replies}");
    assert!(budget.used() >= body.len() as u64, "the delivery holds its bytes until stored");
    drop(effects);
    assert_eq!(budget.used(), 0, "stored or dropped, the bytes are given back");
    assert!(delivered(&submit(&mut second, &body).1), "room again");
}

#[test]
fn a_bdat_chunk_over_the_budget_is_answered_452() {
    let budget = InFlight::new(1000);
    let mut machine = logged_in(&budget);
    let chunk = "x".repeat(600);
    let input =
        format!("MAIL FROM:<a@relay.test>\r\nRCPT TO:<b@relay.test>\r\nBDAT 600\r\n{chunk}BDAT 600 LAST\r\n{chunk}");
    let (replies, effects) = feed(&mut machine, &input);
    assert!(replies.contains("250 2.0.0 600 octets received"), "{replies}");
    assert!(replies.ends_with("452 4.3.1 Insufficient system storage, try again later: the relay is receiving too many messages at once\r\n"), "{replies}");
    assert!(effects.is_empty());
    assert_eq!(budget.used(), 0);
}
