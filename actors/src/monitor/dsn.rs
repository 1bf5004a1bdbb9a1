//! Delivery status notifications (RFC 3464) for senders whose recipient's reception is
//! disabled, stored in the sender's own mailbox.

use std::time::Duration;

use actix::prelude::*;
use caducee_storage::{AccountId, Address, Millis, DAY_MILLIS};
use mail_send::mail_builder::headers::content_type::ContentType;
use mail_send::mail_builder::headers::raw::Raw;
use mail_send::mail_builder::mime::MimePart;

use super::Monitor;
use crate::keyvault::KeyVaultError;
use crate::mail;
use crate::relay_key::RelayKey;

/// A recipient refused a sender's message because its reception is disabled: the sender
/// gets a delivery status notification (RFC 3464) in its own mailbox.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RecipientRefused {
    pub sender: AccountId,
    pub sender_address: Address,
    pub recipient: Address,
    pub reason: String,
}

impl Handler<RecipientRefused> for Monitor {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, msg: RecipientRefused, _: &mut Context<Self>) -> Self::Result {
        let (store, now, domain) = (self.store.clone(), self.clock.now(), self.config.domain.clone());
        let relay = self.config.relay_key.clone();
        // One DSN per sender and refused recipient a day: a client retrying in a loop must not
        // fill its own mailbox with reports.
        self.dsn_sent.retain(|_, at| now.0.saturating_sub(at.0) < DAY_MILLIS);
        let key = (msg.sender, msg.recipient.clone());
        if self.dsn_sent.contains_key(&key) {
            return Box::pin(fut::ready(()));
        }
        self.dsn_sent.insert(key, now);
        Box::pin(async move {
            let report = match delivery_status_notification(&domain, &msg, relay.as_deref(), now) {
                Ok(report) => report,
                Err(error) => {
                    tracing::warn!(%error, sender = %msg.sender_address, "the delivery status notification was not signed");
                    return;
                }
            };
            let postmaster = Address::parse(&format!("{}@{domain}", crate::relay_key::POSTMASTER_LOCAL_PART));
            let sealed = store.seal(&report);
            let stored = match (postmaster, sealed) {
                (Ok(postmaster), Ok(sealed)) => store.accept(postmaster, vec![msg.sender], sealed, now).await.map(drop),
                (Err(_), _) => Ok(()),
                (_, Err(e)) => Err(e),
            };
            if let Err(error) = stored {
                tracing::warn!(%error, sender = %msg.sender_address, "the delivery status notification was not stored");
            }
        })
    }
}

/// A recipient that did not get a sender's message, as its delivery status notification
/// tells it.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    pub sender: &'a Address,
    pub recipient: &'a Address,
    /// Why, in words for the practice (French and English follow it).
    pub reason: &'a str,
    /// The enhanced status code (RFC 3463), as `5.2.1`.
    pub status: &'a str,
    /// The Diagnostic-Code's text: the reply that refused it, as `smtp; 550 5.1.1 …`.
    pub diagnostic: &'a str,
}

/// The notification for a recipient whose reception is disabled.
pub fn delivery_status_notification(
    domain: &str,
    refused: &RecipientRefused,
    relay: Option<&RelayKey>,
    at: Millis,
) -> Result<Vec<u8>, KeyVaultError> {
    let diagnostic = format!("smtp; 550 5.2.1 reception is disabled: {}", refused.reason);
    let failure = Failure {
        sender: &refused.sender_address,
        recipient: &refused.recipient,
        reason: &refused.reason,
        status: "5.2.1",
        diagnostic: &diagnostic,
    };
    failure_notification(domain, &failure, relay, at)
}

/// A multipart/report (RFC 3462) with a message/delivery-status part (RFC 3464). It holds
/// addresses and the reason only, never the message's content.
/// With the relay's key it is PGP/MIME signed (RFC 3156 `multipart/signed`, the report as
/// its first part): the sender's mail program and the practice client show a good signature
/// from the relay, which a forged report cannot have. The signed part is 7-bit (its French
/// text quoted-printable), so no transport can alter what the signature covers.
pub fn failure_notification(
    domain: &str,
    failure: &Failure<'_>,
    relay: Option<&RelayKey>,
    at: Millis,
) -> Result<Vec<u8>, KeyVaultError> {
    let postmaster = format!("postmaster@{domain}");
    let subject = format!("Non remis / Undelivered: <{}>", failure.recipient);
    let headers = mail::Headers {
        from: (Some(mail::RELAY_NAME), &postmaster),
        to: vec![failure.sender.as_str()],
        subject: &subject,
        at: at.0,
    };
    let message = headers.builder().header("Auto-Submitted", Raw::new("auto-replied"));
    let report = report_entity(domain, failure, at);
    let Some(relay) = relay else {
        return Ok(mail::write(message.body(report)));
    };
    let entity = mail::entity(report);
    // RFC 3156 5: the signature covers the first part exactly as sent, headers included,
    // without the line break that belongs to the boundary after it.
    let signed = entity.strip_suffix(b"\r\n").map(<[u8]>::to_vec).unwrap_or(entity);
    let signed_at = relay.signing_time(std::time::UNIX_EPOCH + Duration::from_secs(at.0 / 1000));
    let signature = relay.sign_detached(&signed, signed_at)?.replace('\n', "\r\n");
    let signature = signature.strip_suffix("\r\n").unwrap_or(&signature).to_owned();
    let body = MimePart::new(
        ContentType::new("multipart/signed")
            .attribute("micalg", "pgp-sha256")
            .attribute("protocol", "application/pgp-signature")
            .attribute("boundary", format!("caducee-signed-{}", at.0)),
        vec![
            mail::verbatim(signed),
            mail::seven_bit(
                ContentType::new("application/pgp-signature").attribute("name", "signature.asc"),
                signature,
            )
            .header("Content-Description", Raw::new("OpenPGP signature of Caducee")),
        ],
    );
    Ok(mail::write(message.body(body)))
}

/// The report itself, as a MIME entity: its content headers, then its parts.
fn report_entity(domain: &str, failure: &Failure<'_>, at: Millis) -> MimePart<'static> {
    let date = httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_millis(at.0));
    let words = format!(
        "Votre message pour <{recipient}> n'a pas été remis : {reason}.\r\n\
         Your message to <{recipient}> was not delivered: {reason}.\r\n",
        recipient = failure.recipient,
        reason = failure.reason,
    );
    let status = format!(
        "Reporting-MTA: dns; {domain}\r\nArrival-Date: {date}\r\n\r\n\
         Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n\
         Diagnostic-Code: {diagnostic}\r\n",
        recipient = failure.recipient,
        status = failure.status,
        diagnostic = failure.diagnostic,
    );
    MimePart::new(
        ContentType::new("multipart/report")
            .attribute("report-type", "delivery-status")
            .attribute("boundary", format!("caducee-dsn-{}", at.0)),
        vec![
            MimePart::new(ContentType::new("text/plain").attribute("charset", "utf-8"), words),
            mail::seven_bit("message/delivery-status", status),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_dated_identified_ascii_and_of_the_shape_peers_accept() {
        let (sender, recipient) =
            (Address::parse("a@relay.test").expect("a"), Address::parse("b@peer.test").expect("b"));
        let failure = Failure {
            sender: &sender,
            recipient: &recipient,
            reason: "boîte inactive",
            status: "5.2.1",
            diagnostic: "smtp; 550 5.2.1 reception is disabled",
        };
        let raw = failure_notification("relay.test", &failure, None, Millis(1_803_859_200_000)).expect("a report");
        assert!(raw.is_ascii(), "{}", String::from_utf8_lossy(&raw));
        assert_eq!(caducee_protocol::content::check_delivery_report(&raw).map(|c| c.encrypted_parts), Ok(0));
        let parsed = mail_parser::MessageParser::default().parse(&raw).expect("a message");
        assert_eq!(parsed.date().map(|d| d.to_rfc3339()), Some("2027-03-01T00:00:00Z".to_owned()));
        assert!(parsed.message_id().is_some_and(|id| id.ends_with("@relay.test")));
        assert!(parsed.body_text(0).is_some_and(|text| text.contains("boîte inactive")));
    }
}
