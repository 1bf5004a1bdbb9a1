//! A peer operator's delivery status notifications (RFC 3464) on the relay port: the null
//! sender is taken from an operator of the trust list, recorded as its `mailer-daemon`, and
//! the message must be a report — its text, its status, at most the returned headers or the
//! returned message, which must itself be encrypted. Nothing else travels from `<>`.

mod common;

use caducee_protocol::content::{check_delivery_report, ContentError};
use caducee_protocol::smtp::{self, OperatorVerdict, SmtpConfig};
use common::*;

type SmtpServer = smtp::SmtpServer<Words>;
type Effect = smtp::Effect<Words>;

/// A report in Postfix's shape: `returned` is the third part, whole (empty: none).
fn report(returned: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.peer.test (Mail Delivery System)\r\nTo: a@relay.test\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"r1\"\r\n\r\n\
         This is a MIME-encapsulated message.\r\n\r\n\
         --r1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n\
         --r1\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; mx.peer.test\r\n\r\nFinal-Recipient: rfc822; gone@peer.test\r\n\
         Action: failed\r\nStatus: 5.1.1\r\n\r\n\
         {returned}--r1--\r\n"
    )
}

fn returned_message(message: &str) -> String {
    format!("--r1\r\nContent-Type: message/rfc822\r\n\r\n{message}\r\n")
}

#[test]
fn a_report_is_its_text_its_status_and_at_most_an_encrypted_returned_copy() {
    assert!(check_delivery_report(report("").as_bytes()).is_ok());
    let headers = "--r1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: a@relay.test\r\nSubject: x\r\n\r\n";
    assert!(check_delivery_report(report(headers).as_bytes()).is_ok());
    let encrypted = check_delivery_report(report(&returned_message(&pgp_mime(ENCRYPTED_ASC))).as_bytes());
    assert_eq!(encrypted.expect("an encrypted returned copy").encrypted_parts, 1);

    let clear = "From: a@relay.test\r\nSubject: Compte rendu\r\n\r\nHemoglobine 14,2 g/dL\r\n";
    let refused = check_delivery_report(report(&returned_message(clear)).as_bytes());
    assert_eq!(refused, Err(ContentError::NotAReport("the returned message is not OpenPGP-encrypted")));
    let extra = "--r1\r\nContent-Type: text/plain\r\n\r\nResultats en clair\r\n";
    assert!(matches!(check_delivery_report(report(extra).as_bytes()), Err(ContentError::NotAReport(_))));
    let plain = "From: MAILER-DAEMON@mx.peer.test\r\nSubject: x\r\n\r\nYour message was not delivered\r\n";
    assert!(matches!(check_delivery_report(plain.as_bytes()), Err(ContentError::NotAReport(_))));
}

/// Feeds `input` to an operator's session (TLS up), answering the trust list with `verdict`
/// and every recipient as local; the replies and what was delivered.
fn feed(input: &str, verdict: &OperatorVerdict) -> (String, Vec<smtp::Delivery<Words>>, Vec<Option<String>>) {
    let config = SmtpConfig { hostname: "relay.test".into(), message_bytes_max: 100_000 };
    let mut machine = SmtpServer::new(config, true).for_operators();
    machine.take_output();
    let (mut pending, mut delivered, mut asked) = (input.as_bytes(), Vec::new(), Vec::new());
    loop {
        let (used, effect) = machine.receive(pending);
        pending = &pending[used..];
        match effect {
            Some(Effect::CheckOperator { sender }) => {
                asked.push(sender);
                machine.operator_checked(verdict.clone());
            }
            Some(Effect::CheckRecipient { .. }) => {
                machine.recipient_checked(smtp::RecipientVerdict::Accept(AccountId(2)))
            }
            Some(Effect::Deliver(delivery)) => {
                delivered.push(delivery);
                machine.delivered(smtp::DeliveryVerdict::Stored("1.x".into()));
            }
            Some(_) => {}
            None => break,
        }
    }
    (String::from_utf8(machine.take_output()).expect("replies are UTF-8"), delivered, asked)
}

#[test]
fn the_null_sender_is_taken_from_an_operator_as_its_mailer_daemon_for_a_report_only() {
    let bound = OperatorVerdict::BoundNull("mailer-daemon@peer.test".into());
    let session =
        |body: &str| format!("EHLO mx.peer.test\r\nMAIL FROM:<>\r\nRCPT TO:<a@relay.test>\r\nDATA\r\n{body}.\r\n");
    let (replies, delivered, asked) = feed(&session(&report("")), &bound);
    assert_eq!(asked, [None], "the relay is asked about the null sender");
    assert!(replies.contains("250 2.0.0"), "{replies}");
    assert_eq!(delivered[0].sender, "mailer-daemon@peer.test");
    assert!(delivered[0].report, "a report is addressed to no key");

    let (replies, delivered, _) = feed(&session("Subject: x\r\n\r\nResultats en clair\r\n"), &bound);
    assert!(replies.contains("554 5.7.1 Message refused: a message from the null sender must be"), "{replies}");
    assert!(delivered.is_empty());
    let (replies, _, _) = feed(&session(&report("")), &OperatorVerdict::Refused("not in the list".into()));
    assert!(replies.contains("550 5.7.1 <>: not in the list"), "{replies}");
}
