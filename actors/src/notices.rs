//! The outbound spool: notices to users' contact e-mails and to the administrator leave
//! through a smarthost (SMTP with STARTTLS; mail-send). Notices are written by the relay,
//! never by users, and carry no health data.
//!
//! A notice stays in the store until the smarthost accepts it; a failed attempt is retried
//! with a growing delay (1 min, 2, 4 … up to 6 h) and given up after [`ATTEMPTS_MAX`].
//! Without a configured smarthost notices wait, visible in `caducee status`.
//!
//! Its mailbox is bounded ([`NOTIFIER_MAILBOX_CAPACITY`]): a flush sends every notice
//! that is due, so producers ask for one with [`request_flush`], which never waits and is
//! dropped while flushes already wait.
//!
//! Messages: [`Flush`].

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use caducee_storage::{Millis, Notice, Store};
use mail_send::mail_builder::headers::raw::Raw;
use mail_send::SmtpClientBuilder;

use crate::clock::Clock;
use crate::mail;

/// Attempts before a notice is given up (about four days with the delays below).
pub const ATTEMPTS_MAX: u32 = 24;
/// Flush requests the notifier's mailbox holds; beyond them a request adds nothing, since a
/// flush waiting already sends every notice that is due by the time it runs.
pub const NOTIFIER_MAILBOX_CAPACITY: usize = 4;
const RETRY_DELAY_MAX_MILLIS: u64 = 6 * 60 * 60 * 1000;
/// Longest a smarthost conversation may take.
const SMARTHOST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct NoticesConfig {
    /// `host:port`; `None` keeps notices waiting.
    pub smarthost: Option<(String, u16)>,
    pub starttls: bool,
    /// The notices' From address.
    pub from: String,
    /// Time between looks at the spool.
    pub every: Duration,
}

/// The notifier actor: the only sender of the outbound spool.
pub struct Notifier {
    store: Store,
    clock: Arc<dyn Clock>,
    config: NoticesConfig,
    busy: bool,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("smarthost", &self.config.smarthost).finish()
    }
}

/// Starts the notifier, with its mailbox bounded by [`NOTIFIER_MAILBOX_CAPACITY`]: a look at
/// the spool every `config.every`, and one whenever a [`Flush`] is asked for.
pub fn start(store: Store, clock: Arc<dyn Clock>, config: NoticesConfig) -> Addr<Notifier> {
    let mut context = Context::new();
    // Set before the address exists: no producer ever sees the default capacity.
    context.set_mailbox_capacity(NOTIFIER_MAILBOX_CAPACITY);
    context.run(Notifier { store, clock, config, busy: false })
}

/// Asks for the notices that are due to leave now rather than at the next look, without
/// waiting. Dropped when the mailbox is full: the flushes already waiting send them.
pub fn request_flush(notifier: &Addr<Notifier>) {
    // Full or closed (the relay is stopping): either way there is nothing to add.
    let _ = notifier.try_send(Flush);
}

impl Actor for Notifier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.config.every, |_, ctx| ctx.notify(Flush));
    }
}

/// Sends every notice that is due now.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Flush;

impl Handler<Flush> for Notifier {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        if self.busy || self.config.smarthost.is_none() {
            return Box::pin(fut::ready(()));
        }
        self.busy = true;
        let (store, config, now) = (self.store.clone(), self.config.clone(), self.clock.now());
        let work = async move {
            let due = match store.notices() {
                Ok(notices) => notices.into_iter().filter(|(_, n)| n.next_attempt_at <= now),
                Err(error) => {
                    tracing::error!(%error, "reading the notice spool failed");
                    return;
                }
            };
            for (seq, notice) in due {
                let outcome = send(&config, &notice, now).await;
                let retry = match outcome {
                    Ok(()) => {
                        tracing::info!(kind = %notice.kind, to = %notice.to, "notice sent");
                        None
                    }
                    Err(error) => reschedule(notice, error, now),
                };
                if let Err(error) = store.notice_attempted(seq, retry).await {
                    tracing::error!(%error, "recording a notice attempt failed");
                }
            }
        };
        Box::pin(work.into_actor(self).map(|(), actor, _| actor.busy = false))
    }
}

/// The notice after a failed attempt: later, or given up (`None`).
fn reschedule(mut notice: Notice, error: String, now: Millis) -> Option<Notice> {
    notice.attempts += 1;
    if notice.attempts >= ATTEMPTS_MAX {
        tracing::error!(kind = %notice.kind, to = %notice.to, %error, "notice given up");
        return None;
    }
    let delay = (60_000u64 << notice.attempts.min(20)).min(RETRY_DELAY_MAX_MILLIS);
    tracing::warn!(kind = %notice.kind, to = %notice.to, %error, retry_in_secs = delay / 1000, "notice not sent");
    notice.next_attempt_at = Millis(now.0 + delay);
    notice.last_error = Some(error);
    Some(notice)
}

async fn send(config: &NoticesConfig, notice: &Notice, now: Millis) -> Result<(), String> {
    let Some((host, port)) = &config.smarthost else {
        return Err("no smarthost configured".into());
    };
    let headers = mail::Headers {
        from: (Some(mail::RELAY_NAME), config.from.as_str()),
        to: vec![notice.to.as_str()],
        subject: notice.subject.as_str(),
        at: now.0,
    };
    let message = headers
        .builder()
        .header("Auto-Submitted", Raw::new("auto-generated"))
        // Lets practice software and tests sort notices without parsing their text.
        .header("X-Caducee-Notice", Raw::new(notice.kind.as_str()))
        .text_body(notice.body.as_str());
    let builder = SmtpClientBuilder::new(host.as_str(), *port)
        .map_err(|e| format!("smarthost {host}:{port}: {e}"))?
        .implicit_tls(false)
        .helo_host(config.from.rsplit('@').next().unwrap_or("caducee"))
        .timeout(SMARTHOST_TIMEOUT);
    let sent = if config.starttls {
        match builder.connect().await {
            Ok(mut client) => client.send(message).await,
            Err(e) => Err(e),
        }
    } else {
        match builder.connect_plain().await {
            Ok(mut client) => client.send(message).await,
            Err(e) => Err(e),
        }
    };
    sent.map_err(|e| format!("smarthost {host}:{port}: {e}"))
}
