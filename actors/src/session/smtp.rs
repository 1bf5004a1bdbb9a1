//! The submission session: performs what the SMTP machine asks — logins, recipient checks,
//! deliveries — through the mailbox actors, the mass-mailing breaker, the key checks and
//! the store, and tells the monitor of every delivery and refusal.

use std::sync::atomic::Ordering;
use std::time::Duration;

use caducee_storage::{
    AcceptedMessage, AccountId, AccountState, Address, ConnectionRecord, ImapEntry, Millis, SealedMessage, StoreError,
};

use rustls::pki_types::CertificateDer;

use super::driver::{Flow, Protocol};
use super::{OperatorCheck, SessionContext, NEXT_SESSION};
use crate::keyvault;
use crate::login::Login;
use crate::mailbox;
use crate::monitor::{Admission, BlockSender, QuotaRefused, RecipientRefused, Refused};
use crate::smtp::{self, Authenticated, DeliveryVerdict, OperatorVerdict, RecipientVerdict, SmtpServer};
use crate::vocabulary::Destination;

/// Messages larger than this are sealed on the blocking pool, not on the event loop.
const SEAL_INLINE_BYTES_MAX: usize = 256 * 1024;

/// One SMTP session's part of the relay: a practice's submission, or another operator's
/// relaying on the relay port.
pub(super) struct Submission {
    context: SessionContext,
    /// The authenticated account, for the monitor and the breaker.
    sender: Option<(AccountId, Address)>,
    /// On the relay port: the certificates the client presented, end entity first.
    peer_certificates: Vec<CertificateDer<'static>>,
    /// On the relay port: the operator the trust list bound to a sender of this session.
    operator: Option<String>,
}

impl Submission {
    pub(super) fn new(context: SessionContext) -> Self {
        Submission { context, sender: None, peer_certificates: Vec::new(), operator: None }
    }

    /// Asks the relay whether the presented certificates may send for `sender`'s domain.
    fn check_operator(&mut self, sender: Option<&Address>, record: &mut ConnectionRecord) -> OperatorVerdict {
        let Some(operators) = &self.context.operators else {
            return OperatorVerdict::Refused(
                "this relay has not joined the operators' trust space yet (no CA bundle is configured)".into(),
            );
        };
        match operators.check(&self.peer_certificates, sender) {
            OperatorCheck::Bound { operator, domain } => {
                record.account = Some(format!("operator {operator}"));
                self.operator = Some(operator);
                match sender {
                    Some(_) => OperatorVerdict::Bound,
                    None => OperatorVerdict::BoundNull(format!("mailer-daemon@{domain}")),
                }
            }
            OperatorCheck::Refused(why) => {
                let sender = sender.map(ToString::to_string).unwrap_or_else(|| "<>".into());
                tracing::warn!(%sender, %why, "relayed mail refused");
                self.context.monitor.record(Refused { reason: "operator" });
                OperatorVerdict::Refused(why)
            }
            OperatorCheck::TryLater => OperatorVerdict::TryLater,
        }
    }
}

impl Protocol for Submission {
    type Machine = SmtpServer;
    type Event = std::convert::Infallible;

    async fn event(&mut self) -> Self::Event {
        std::future::pending().await
    }

    fn heard(&mut self, event: Self::Event, _: &mut SmtpServer) {
        match event {}
    }

    async fn perform(
        &mut self,
        effect: smtp::Effect,
        machine: &mut SmtpServer,
        record: &mut ConnectionRecord,
    ) -> Flow<smtp::Effect> {
        match effect {
            smtp::Effect::Authenticate { username, password } => {
                match self.context.log_in("smtp", &record.peer, &username, password).await {
                    Login::Throttled { retry_minutes } => machine.login_throttled(retry_minutes),
                    login => {
                        let account = login.account();
                        record.account = account.as_ref().map(|a| a.address.to_string());
                        self.sender = account.as_ref().map(|a| (a.id, a.address.clone()));
                        machine.authenticated(account.map(|a| Authenticated { account: a.id, address: a.address }));
                    }
                }
            }
            smtp::Effect::CheckRecipient { address, declared_bytes, mut accepted, refused_before } => {
                let mut verdict = self.check_recipient(address.clone(), declared_bytes).await;
                if matches!(verdict, RecipientVerdict::Accept(_)) {
                    accepted.push(address);
                    if let Err(refusal) = self.limit_recipients(&accepted, refused_before).await {
                        verdict = refusal;
                    }
                }
                machine.recipient_checked(verdict);
            }
            smtp::Effect::Deliver(delivery) => {
                let verdict = self.deliver(machine, &record.peer, delivery).await;
                if matches!(verdict, DeliveryVerdict::Stored(_)) {
                    record.messages += 1;
                }
                machine.delivered(verdict);
            }
            smtp::Effect::ContentRefused => {
                self.context.monitor.record(Refused { reason: machine.content_refusal() });
            }
            smtp::Effect::CheckOperator { sender } => {
                let verdict = self.check_operator(sender.as_ref(), record);
                machine.operator_checked(verdict);
            }
            smtp::Effect::StartTls => return Flow::StartTls,
            smtp::Effect::Close => return Flow::Close(if machine.user().is_some() { "ok" } else { "closed" }),
        }
        Flow::Continue
    }

    fn closed_outcome(&self) -> &'static str {
        "closed"
    }

    fn tls_started(&mut self, peer_certificates: Vec<CertificateDer<'static>>) {
        self.peer_certificates = peer_certificates;
    }
}

impl Submission {
    /// Whether the recipient's mailbox receives, read from the store; tells the monitor of a
    /// refusal.
    async fn check_recipient(&self, address: Address, declared_bytes: Option<u64>) -> RecipientVerdict {
        let verdict = match self.context.store.recipient_figures(&address) {
            Ok(Some((figures, state))) => mailbox::check_recipient(&figures, &state, declared_bytes),
            Ok(None) => self.route_elsewhere(&address),
            Err(error) => {
                tracing::error!(%error, "recipient lookup failed");
                RecipientVerdict::TryLater
            }
        };
        match &verdict {
            RecipientVerdict::Unknown => self.context.monitor.record(Refused { reason: "unknown-recipient" }),
            RecipientVerdict::Unreachable(_) => self.context.monitor.record(Refused { reason: "unreachable-domain" }),
            RecipientVerdict::Disabled(reason) => {
                self.context.monitor.record(Refused { reason: "reception-disabled" });
                // The sender hears of a mailbox that no longer receives (SPEC R-MSG-7).
                if let Some((id, from)) = &self.sender {
                    self.context
                        .monitor
                        .tell(RecipientRefused {
                            sender: *id,
                            sender_address: from.clone(),
                            recipient: address,
                            reason: reason.to_string(),
                        })
                        .await;
                }
            }
            RecipientVerdict::OverQuota => {
                self.context.monitor.record(Refused { reason: "over-quota" });
                self.context.monitor.tell(QuotaRefused { recipient: address.clone() }).await;
            }
            RecipientVerdict::Accept(_)
            | RecipientVerdict::TryLater
            | RecipientVerdict::Throttled(_)
            | RecipientVerdict::Blocked(_)
            | RecipientVerdict::TooManyRecipients(_) => {}
            RecipientVerdict::LargerThanQuota(_) => {
                self.context.monitor.record(Refused { reason: "larger-than-quota" })
            }
        }
        verdict
    }

    /// A recipient with no mailbox here: nobody in the relay's own domain; in another
    /// domain, a peer operator's when a practice sends to a domain of the trust list. An
    /// operator's mail on the relay port goes to mailboxes here only: operators do not
    /// relay for each other.
    fn route_elsewhere(&self, address: &Address) -> RecipientVerdict {
        let domain = address.domain();
        if domain.eq_ignore_ascii_case(&self.context.domain) {
            return RecipientVerdict::Unknown;
        }
        let Some(peers) = &self.context.peers else {
            return RecipientVerdict::Unknown;
        };
        if self.sender.is_none() {
            return RecipientVerdict::Unreachable(format!(
                "{domain} is not a domain of this relay; operators deliver to each other's own domains only"
            ));
        }
        match peers.relays_to(domain) {
            Ok(()) => RecipientVerdict::Accept(Destination::Operator),
            Err(why) => RecipientVerdict::Unreachable(why),
        }
    }

    /// Admits, checks, traces, seals and stores a message the machine accepted.
    async fn deliver(&self, machine: &SmtpServer, peer: &str, delivery: smtp::Delivery) -> DeliveryVerdict {
        let started = std::time::Instant::now();
        let now = self.context.clock.now();
        // Who handed the message over, for the trace field: an account (whose sending the
        // mass-mailing limits judge) or a peer operator.
        let who = match (&self.sender, &self.operator) {
            (Some((sender_id, sender_address)), _) => {
                if let Err(refusal) = self.admit(*sender_id, sender_address, &delivery, now).await {
                    return refusal;
                }
                format!("authenticated as {sender_address}")
            }
            (None, Some(operator)) => format!("operator {operator}"),
            (None, None) => return DeliveryVerdict::Failed, // the machine delivers only after a login
        };
        if let Err(refusal) = self.check_recipient_keys(&delivery, now) {
            return refusal;
        }
        let trace_id = format!("{:x}", now.0 ^ NEXT_SESSION.fetch_add(1, Ordering::Relaxed).rotate_left(40));
        let date = httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_millis(now.0));
        let hostname = &self.context.hostname;
        let with = smtp::with_protocol(machine.is_tls(), self.sender.is_some());
        let header = smtp::received_header(peer, machine.helo(), hostname, with, &trace_id, &who, &date);
        // The body's share of the in-flight budget is held until the commit answered.
        let smtp::Delivery { sender, recipients, body, content: _, report: _, reservation } = delivery;
        let Some(sealed) = self.seal(header, body).await else {
            return DeliveryVerdict::Failed;
        };
        let size = sealed.size;
        let mut local: Vec<AccountId> = Vec::with_capacity(recipients.len());
        let mut remote: Vec<Address> = Vec::new();
        for (destination, address) in recipients {
            match destination {
                // The store holds one entry per mailbox and message.
                Destination::Mailbox(id) if local.contains(&id) => {}
                Destination::Mailbox(id) => local.push(id),
                Destination::Operator => remote.push(address),
            }
        }
        let queued = !remote.is_empty();
        let operator = self.operator.clone();
        let stored = self.context.store.accept_relaying(sender, local.clone(), remote, operator, sealed, now).await;
        drop(reservation);
        match stored {
            Ok(AcceptedMessage { message, uids, mailboxes }) => {
                // Sessions idling on a recipient's INBOX hear of it now (IDLE push): only an
                // open mailbox has sessions to tell.
                let open = self.context.open_mailboxes.among(&local);
                if !open.is_empty() {
                    let flags = caducee_storage::MessageFlags::default();
                    let arrivals = local
                        .iter()
                        .zip(uids)
                        .filter(|(account, _)| open.contains(account))
                        .map(|(&account, uid)| (account, ImapEntry { uid, message, size, accepted_at: now, flags }))
                        .collect();
                    self.context.mailboxes.do_send(mailbox::TellArrived(arrivals));
                }
                if let (true, Some(peers)) = (queued, &self.context.peers) {
                    peers.queued();
                }
                let stored_at = self.context.clock.now();
                self.context.monitor.delivered(&mailboxes, started.elapsed(), stored_at).await;
                DeliveryVerdict::Stored(format!("{}.{trace_id}", message.0))
            }
            // Not a full mailbox: no monitor state, alert or notice changes for it.
            Err(StoreError::LargerThanQuota(address, quota)) => DeliveryVerdict::LargerThanQuota(address, quota),
            Err(StoreError::QuotaExceeded(address)) => {
                self.context.monitor.tell(QuotaRefused { recipient: address.clone() }).await;
                DeliveryVerdict::QuotaExceeded(address)
            }
            Err(StoreError::Full) => DeliveryVerdict::StoreFull,
            Err(error) => {
                tracing::error!(%error, "storing an accepted message failed");
                DeliveryVerdict::Failed
            }
        }
    }

    /// Refuses a blocked sender, and judges the transaction's recipients so far against
    /// the mass-mailing limits: a sender over a limit is refused at `RCPT`, before sending
    /// a body that would be refused (the message is counted once its data is in).
    async fn limit_recipients(&self, recipients: &[Address], refused_before: bool) -> Result<(), RecipientVerdict> {
        let Some((sender_id, sender_address)) = &self.sender else {
            return Ok(()); // the machine takes recipients only after AUTH
        };
        if let Some(reason) = self.blocked(*sender_id) {
            return Err(RecipientVerdict::Blocked(reason));
        }
        let now = self.context.clock.now();
        let admission = self.context.breaker.judge_recipients(*sender_id, recipients, !refused_before, now);
        self.admission(*sender_id, sender_address, admission).await.map_err(|refusal| match refusal {
            Refusal::Throttled(why) => RecipientVerdict::Throttled(why),
            Refusal::Blocked(why) => RecipientVerdict::Blocked(why),
            Refusal::TooManyRecipients(why) => RecipientVerdict::TooManyRecipients(why),
        })
    }

    /// Refuses a blocked sender, and judges the message against the mass-mailing limits.
    async fn admit(
        &self,
        sender_id: AccountId,
        sender_address: &Address,
        delivery: &smtp::Delivery,
        now: Millis,
    ) -> Result<(), DeliveryVerdict> {
        if let Some(reason) = self.blocked(sender_id) {
            return Err(DeliveryVerdict::Blocked(reason));
        }
        let recipients: Vec<Address> = delivery.recipients.iter().map(|(_, address)| address.clone()).collect();
        let admission = self.context.breaker.judge(sender_id, &recipients, now);
        self.admission(sender_id, sender_address, admission).await.map_err(|refusal| match refusal {
            Refusal::Throttled(why) => DeliveryVerdict::Throttled(why),
            Refusal::Blocked(why) => DeliveryVerdict::Blocked(why),
            Refusal::TooManyRecipients(why) => {
                DeliveryVerdict::Throttled(format!("{why}; send to the others in another message"))
            }
        })
    }

    /// Why the sender is blocked for mass mailing, if it is.
    fn blocked(&self, sender_id: AccountId) -> Option<String> {
        let Ok(AccountState { blocked: Some(blocked), .. }) = self.context.store.account_state(sender_id) else {
            return None;
        };
        self.context.monitor.record(Refused { reason: "blocked" });
        Some(blocked.reason)
    }

    /// Counts the breaker's refusal, and records a fresh block with the monitor.
    async fn admission(
        &self,
        sender_id: AccountId,
        sender_address: &Address,
        admission: Admission,
    ) -> Result<(), Refusal> {
        match admission {
            Admission::Admit => Ok(()),
            Admission::TooManyRecipients(why) => Err(Refusal::TooManyRecipients(why)),
            Admission::Throttle(why) => {
                tracing::warn!(sender = %sender_address, %why, "submission throttled");
                self.context.monitor.record(Refused { reason: "throttled" });
                Err(Refusal::Throttled(why))
            }
            Admission::Blocked(reason) => {
                self.context.monitor.record(Refused { reason: "throttled" });
                let block = BlockSender { sender: sender_id, sender_address: sender_address.clone(), reason };
                let reason = block.reason.clone();
                let _ = self.context.monitor.ask(block).await;
                Err(Refusal::Blocked(reason))
            }
        }
    }

    /// SPEC R-MSG-3: a recipient with a current certificate gets only what is encrypted to
    /// it. Read per message: a revocation counts from the next submission on.
    fn check_recipient_keys(&self, delivery: &smtp::Delivery, now: Millis) -> Result<(), DeliveryVerdict> {
        if delivery.report {
            return Ok(()); // a peer's delivery status notification is encrypted to no one
        }
        // A recipient in a peer operator's domain has its keys there: its operator checks.
        let local = delivery.recipients.iter().filter_map(|(destination, address)| match destination {
            Destination::Mailbox(id) => Some((id, address)),
            Destination::Operator => None,
        });
        for (id, address) in local {
            let certificates = match self.context.store.certificate_keys(*id) {
                Ok(certificates) => certificates,
                Err(error) => {
                    tracing::error!(%error, "reading a recipient's certificates failed");
                    return Err(DeliveryVerdict::Failed);
                }
            };
            if let Err(why) = keyvault::check_recipient_keys(&certificates, &delivery.content.recipients, now) {
                self.context.monitor.record(Refused { reason: "wrong-key" });
                return Err(DeliveryVerdict::WrongKey { recipient: address.clone(), why });
            }
        }
        Ok(())
    }

    /// Seals the trace header and the body for storage; large messages on the blocking
    /// pool. `None` when sealing failed.
    async fn seal(&self, header: String, body: Vec<u8>) -> Option<SealedMessage> {
        let store = &self.context.store;
        let sealed = if header.len() + body.len() <= SEAL_INLINE_BYTES_MAX {
            store.seal_parts(&[header.as_bytes(), &body])
        } else {
            let sealer = store.clone();
            tokio::task::spawn_blocking(move || sealer.seal_parts(&[header.as_bytes(), &body])).await.ok()?
        };
        sealed.ok()
    }
}

/// Why the mass-mailing breaker refused a recipient or a message.
enum Refusal {
    Throttled(String),
    Blocked(String),
    TooManyRecipients(String),
}
