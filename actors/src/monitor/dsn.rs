//! Delivery status notifications (RFC 3464) for senders whose recipient's reception is
//! disabled, stored in the sender's own mailbox.

use std::time::Duration;

use actix::prelude::*;
use caducee_storage::{AccountId, Address, Millis, DAY_MILLIS};

use super::Monitor;

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
        // One DSN per sender and refused recipient a day: a client retrying in a loop must not
        // fill its own mailbox with reports.
        self.dsn_sent.retain(|_, at| now.0.saturating_sub(at.0) < DAY_MILLIS);
        let key = (msg.sender, msg.recipient.clone());
        if self.dsn_sent.contains_key(&key) {
            return Box::pin(fut::ready(()));
        }
        self.dsn_sent.insert(key, now);
        Box::pin(async move {
            let report = delivery_status_notification(&domain, &msg, now);
            let postmaster = Address::parse(&format!("postmaster@{domain}"));
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

/// A multipart/report (RFC 3462) with a message/delivery-status part (RFC 3464). It holds
/// addresses and the reason only: the refused message's content never reached the relay.
pub fn delivery_status_notification(domain: &str, refused: &RecipientRefused, at: Millis) -> Vec<u8> {
    let date = httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_millis(at.0));
    let boundary = format!("caducee-dsn-{}", at.0);
    format!(
        "From: Caducée <postmaster@{domain}>\r\nTo: <{sender}>\r\nSubject: Non remis / Undelivered: <{recipient}>\r\n\
         Date: {date}\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Votre message pour <{recipient}> n'a pas été accepté : {reason}.\r\n\
         Your message to <{recipient}> was not accepted: {reason}.\r\n\r\n\
         --{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; {domain}\r\nArrival-Date: {date}\r\n\r\n\
         Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.2.1\r\n\
         Diagnostic-Code: smtp; 550 5.2.1 reception is disabled: {reason}\r\n\r\n\
         --{boundary}--\r\n",
        sender = refused.sender_address,
        recipient = refused.recipient,
        reason = refused.reason,
    )
    .into_bytes()
}
