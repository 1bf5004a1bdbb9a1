//! Delivery status notifications (RFC 3464) for senders whose recipient's reception is
//! disabled, stored in the sender's own mailbox.

use std::time::Duration;

use actix::prelude::*;
use caducee_storage::{AccountId, Address, Millis, DAY_MILLIS};

use super::Monitor;
use crate::keyvault::KeyVaultError;
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
            let sealed = store.seal(report);
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
/// from the relay, which a forged report cannot have. Its text is 8-bit UTF-8: the report
/// goes straight into a mailbox of this relay and leaves it byte for byte over POP3, so no
/// transport re-encodes the signed part.
pub fn failure_notification(
    domain: &str,
    failure: &Failure<'_>,
    relay: Option<&RelayKey>,
    at: Millis,
) -> Result<Vec<u8>, KeyVaultError> {
    let date = httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_millis(at.0));
    let headers = format!(
        "From: Caducée <postmaster@{domain}>\r\nTo: <{sender}>\r\nSubject: Non remis / Undelivered: <{recipient}>\r\n\
         Date: {date}\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n",
        sender = failure.sender,
        recipient = failure.recipient,
    );
    let report = report_entity(domain, failure, &date, at);
    let Some(relay) = relay else {
        return Ok(format!("{headers}{report}").into_bytes());
    };
    let signed_at = relay.signing_time(std::time::UNIX_EPOCH + Duration::from_secs(at.0 / 1000));
    // RFC 3156 5: the signature covers the first part exactly as sent, headers included,
    // without the line break that belongs to the boundary after it.
    let signed = report.strip_suffix("\r\n").unwrap_or(&report);
    let signature = relay.sign_detached(signed.as_bytes(), signed_at)?.replace('\n', "\r\n");
    let boundary = format!("caducee-signed-{}", at.0);
    Ok(format!(
        "{headers}Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; \
         boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n{signed}\r\n--{boundary}\r\n\
         Content-Type: application/pgp-signature; name=\"signature.asc\"\r\n\
         Content-Description: OpenPGP signature of Caducee\r\n\r\n{signature}\r\n--{boundary}--\r\n"
    )
    .into_bytes())
}

/// The report itself, as a MIME entity: its content headers, then its parts.
fn report_entity(domain: &str, failure: &Failure<'_>, date: &str, at: Millis) -> String {
    let boundary = format!("caducee-dsn-{}", at.0);
    format!(
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Votre message pour <{recipient}> n'a pas été remis : {reason}.\r\n\
         Your message to <{recipient}> was not delivered: {reason}.\r\n\r\n\
         --{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; {domain}\r\nArrival-Date: {date}\r\n\r\n\
         Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n\
         Diagnostic-Code: {diagnostic}\r\n\r\n\
         --{boundary}--\r\n",
        recipient = failure.recipient,
        reason = failure.reason,
        status = failure.status,
        diagnostic = failure.diagnostic,
    )
}
