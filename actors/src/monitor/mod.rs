//! The monitor keeps the service's promises over time: no document rots in an abandoned
//! mailbox (30/60-day inactivity rule, SPEC R-MON-1), quotas warn before they refuse
//! (R-MON-2), and no sender floods practices (mass-mailing breaker, R-MON-3). Each state
//! change is written together with the notice that tells of it, and notices leave through
//! the outbound spool (`notices.rs`).
//!
//! The rules are plain functions of an account, its state, the time and the configuration
//! ([`inactivity_change`], [`quota_change`] in `rules.rs`), so they are tested with any
//! clock. The actor (here) runs them periodically (`sweep.rs`), on events (after
//! deliveries, for quotas), and writes delivery status notifications (`dsn.rs`); the
//! breaker's per-sender sliding windows (`breaker.rs`) are judged on the sessions' threads.
//!
//! The monitor's mailbox is bounded ([`MONITOR_MAILBOX_CAPACITY`]). Producers go through a
//! [`MonitorHandle`] (`handle.rs`): events that only feed the quality figures
//! ([`Collected`], [`Refused`]) are dropped and counted when the mailbox is full; state
//! changes are never dropped, and their producer waits for room instead.
//!
//! Messages: [`Sweep`], [`Delivered`], [`BlockSender`], [`RecipientRefused`],
//! [`QuotaRefused`], [`ForgetSender`], [`Collected`], [`Refused`], [`RenderMetrics`],
//! [`QualityNow`].

mod breaker;
mod dsn;
mod handle;
mod rules;
mod sweep;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use caducee_storage::{AccountId, Address, Alert, AlertKind, Blocked, Millis, StateChange, Store, StoreError};

pub use self::breaker::{Admission, Breaker};
pub use self::dsn::{delivery_status_notification, failure_notification, Failure, RecipientRefused};
pub use self::handle::{MetricsEvent, MonitorHandle};
use self::rules::{admin_notice, user_notice};
pub use self::rules::{inactivity_change, quota_change, quota_state_changes};
use self::sweep::check_quota;
pub use self::sweep::{sweep, SweepReport};
use crate::clock::Clock;
use crate::quality::{Quality, QualityReport};

/// Messages the monitor's mailbox holds before producers feel it. Each message is a few
/// dozen bytes and takes the actor microseconds (store work runs beside it), so the
/// mailbox fills only when the monitor's thread is starved: then metrics-only events are
/// dropped (and counted) rather than queued without limit, and state changes wait.
pub const MONITOR_MAILBOX_CAPACITY: usize = 1024;

/// The monitor's rules, from the `[monitor]` and `[notices]` configuration.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    /// The relay's mail domain, named in notices.
    pub domain: String,
    /// Days without collection before the notice (SPEC: 30).
    pub inactivity_notice_days: u64,
    /// Days without collection before reception is disabled (SPEC: 60).
    pub inactivity_disable_days: u64,
    /// Quota levels that send a warning, in percent, ascending (SPEC: 80, 95).
    pub quota_warn_percents: Vec<u8>,
    /// Messages a sender may submit in any minute.
    pub messages_per_minute: u32,
    /// Recipients one message may have.
    pub recipients_per_message: u32,
    /// Distinct recipients a sender may write to in any 24 hours.
    pub distinct_recipients_per_day: u32,
    /// Refusals within 24 hours that turn throttling into a block.
    pub strikes_to_block: u32,
    /// Where administrator alerts go (quota reached, account blocked).
    pub admin_email: Option<String>,
    /// Time between sweeps.
    pub sweep_every: Duration,
    /// Connection records and trails of erased messages are kept this long (SPEC R-MON-5:
    /// 12 months).
    pub log_retention_days: u64,
    /// Audit entries are kept this long; the chain stays verifiable past a purge.
    pub audit_retention_days: u64,
    /// Closed accounts are removed this long after closing, unless under legal hold.
    pub closed_account_retention_days: u64,
    /// Automatic key renewal (SPEC R-KEY-3); `None`: renewal is left to the administrator.
    pub renewal: Option<Renewal>,
    /// The relay's own key: signs renewals and delivery status notifications, certifies
    /// renewed keys. `None` only in tests of other rules.
    pub relay_key: Option<std::sync::Arc<crate::relay_key::RelayKey>>,
}

/// What automatic key renewal needs: when to start, and what to write into the bundles.
#[derive(Debug, Clone)]
pub struct Renewal {
    /// Next year's keys are issued from this many days before the end of the year.
    pub days_before_year_end: u64,
    pub endpoints: crate::keyvault::Endpoints,
    /// The relay's CA certificate (PEM), for the bundles.
    pub ca_pem: String,
    /// The key issuer that makes the keys and the renewal message, so that the relay
    /// process never holds them (`[keys] issuer`); `None`: made here, on the blocking pool.
    pub issuer: Option<crate::keyvault::issuer::IssuerClient>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            domain: "caducee.localhost".into(),
            inactivity_notice_days: 30,
            inactivity_disable_days: 60,
            quota_warn_percents: vec![80, 95],
            messages_per_minute: 300,
            recipients_per_message: 50,
            distinct_recipients_per_day: 500,
            strikes_to_block: 5,
            admin_email: None,
            sweep_every: Duration::from_secs(3600),
            log_retention_days: 365,
            audit_retention_days: 5 * 365,
            closed_account_retention_days: 365,
            renewal: None,
            relay_key: None,
        }
    }
}

/// Starts the monitor: a sweep now and every `config.sweep_every`, its mailbox bounded by
/// [`MONITOR_MAILBOX_CAPACITY`]. The breaker is shared with the sessions, which judge
/// submissions with it. Producers report through the returned handle.
pub fn start(store: Store, clock: Arc<dyn Clock>, config: MonitorConfig, breaker: Arc<Breaker>) -> MonitorHandle {
    let quality = Quality::new();
    let (dropped, accepted) = (quality.events_dropped(), quality.accepted_figures());
    let config = Arc::new(config);
    let monitor =
        Monitor { store, clock, config: config.clone(), breaker, quality, dsn_sent: HashMap::new(), sweeping: false };
    let mut context = Context::new();
    // Set before the address exists: no producer ever sees the default capacity.
    context.set_mailbox_capacity(MONITOR_MAILBOX_CAPACITY);
    MonitorHandle::new(context.run(monitor), dropped, accepted, config)
}

/// The monitor actor: runs the rules, records what sessions report, holds the quality
/// figures. Reached through a [`MonitorHandle`].
pub struct Monitor {
    store: Store,
    clock: Arc<dyn Clock>,
    /// Shared with the futures the handlers return (one per stored message): cloned as a
    /// pointer, not as its strings and certificates.
    config: Arc<MonitorConfig>,
    breaker: Arc<Breaker>,
    quality: Quality,
    /// When each (sender, refused recipient) last got a delivery status notification.
    dsn_sent: HashMap<(AccountId, Address), Millis>,
    sweeping: bool,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").field("quality", &self.quality).finish()
    }
}

impl Actor for Monitor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.notify(Sweep { as_of: None });
        ctx.run_interval(self.config.sweep_every, |_, ctx| ctx.notify(Sweep { as_of: None }));
    }
}

/// Why a sweep asked of the monitor did not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// Another sweep is running: two would judge the same accounts and send notices twice.
    #[error("a sweep is already running; try again in a moment")]
    AlreadyRunning,
    /// The store failed during the sweep; what was committed before stays.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs every rule on every account, as of now or of the given time.
#[derive(Debug, Message)]
#[rtype(result = "Result<SweepReport, SweepError>")]
pub struct Sweep {
    pub as_of: Option<Millis>,
}

impl Handler<Sweep> for Monitor {
    type Result = ResponseActFuture<Self, Result<SweepReport, SweepError>>;
    fn handle(&mut self, msg: Sweep, _: &mut Context<Self>) -> Self::Result {
        if self.sweeping {
            return Box::pin(fut::ready(Err(SweepError::AlreadyRunning)));
        }
        self.sweeping = true;
        let (store, config) = (self.store.clone(), self.config.clone());
        let now = self.clock.now();
        let as_of = msg.as_of.unwrap_or(now);
        let work = async move {
            let result = sweep(&store, &config, as_of, now).await.map_err(SweepError::from);
            if let Err(error) = &result {
                tracing::error!(%error, "monitor sweep failed");
            }
            result
        };
        Box::pin(work.into_actor(self).map(|result, actor, _| {
            actor.sweeping = false;
            result
        }))
    }
}

/// A message was stored for these accounts, whose quota state it may change: check their
/// quotas now. Sent by [`MonitorHandle::delivered`] for the recipients whose state the
/// message's session found changing; the monitor decides again.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Delivered {
    pub recipients: Vec<AccountId>,
}

impl Handler<Delivered> for Monitor {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, msg: Delivered, _: &mut Context<Self>) -> Self::Result {
        let (store, config, now) = (self.store.clone(), self.config.clone(), self.clock.now());
        Box::pin(async move {
            for id in msg.recipients {
                let checked = match store.account(id) {
                    Ok(Some(account)) => check_quota(&store, &config, &account, now).await,
                    Ok(None) => Ok(false),
                    Err(e) => Err(e),
                };
                if let Err(error) = checked {
                    tracing::error!(%error, "quota check failed");
                }
            }
        })
    }
}

/// The breaker blocked a sender: record it (with the notices to the user and the
/// administrator).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct BlockSender {
    pub sender: AccountId,
    pub sender_address: Address,
    pub reason: String,
}

impl Handler<BlockSender> for Monitor {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, msg: BlockSender, _: &mut Context<Self>) -> Self::Result {
        let (store, config, now) = (self.store.clone(), self.config.clone(), self.clock.now());
        let reason = msg.reason;
        tracing::warn!(sender = %msg.sender_address, %reason, "account blocked for mass mailing");
        Box::pin(async move {
            let blocked = Blocked { at: now, reason: reason.clone() };
            let notice = store.account(msg.sender).ok().flatten().map(|account| {
                user_notice(
                    &account,
                    "blocked",
                    now,
                    &format!("Compte bloqué / Account blocked — {}", account.address),
                    &format!(
                        "L'envoi depuis {address} est bloqué pour envoi en masse ({reason}). Contactez \
                         l'administrateur du relais.\n\nSending from {address} is blocked for mass mailing \
                         ({reason}). Contact the relay's administrator.\n",
                        address = account.address
                    ),
                )
            });
            let text = format!("blocked for mass mailing: {} ({reason})", msg.sender_address);
            let alert = Alert::new(AlertKind::Blocked, msg.sender_address.as_str(), &text, now);
            if let Err(error) =
                store.update_state_with_alert(msg.sender, StateChange::Block(blocked), notice, alert).await
            {
                tracing::error!(%error, "recording a block failed");
            }
            if let Some(alert) = admin_notice(
                &config,
                "blocked-alert",
                now,
                &format!("Account blocked for mass mailing: {}", msg.sender_address),
                &format!("{} was blocked: {reason}. Unblock with `caducee user unblock`.\n", msg.sender_address),
            ) {
                let _ = store.queue_notice(alert).await;
            }
        })
    }
}

/// A message was refused because the recipient's mailbox is full (552 5.2.2): the user and
/// the administrator hear of it once, until usage falls back.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct QuotaRefused {
    pub recipient: Address,
}

impl Handler<QuotaRefused> for Monitor {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, msg: QuotaRefused, _: &mut Context<Self>) -> Self::Result {
        let (store, config, now) = (self.store.clone(), self.config.clone(), self.clock.now());
        Box::pin(async move {
            let Ok(Some(account)) = store.account_by_address(&msg.recipient) else { return };
            let state = store.account_state(account.id).unwrap_or_default();
            if state.quota_warned_percent >= 100 {
                return;
            }
            let notice = user_notice(
                &account,
                "quota-full",
                now,
                &format!("Boîte pleine / Mailbox full — {}", account.address),
                &format!(
                    "Votre boîte {address} est pleine : les nouveaux messages sont refusés tant qu'elle n'est pas \
                     relevée.\n\nYour mailbox {address} is full: new messages are refused until it is collected.\n",
                    address = account.address
                ),
            );
            let text = format!("mailbox full: new mail to {} is refused until it is collected", account.address);
            let alert = Alert::new(AlertKind::QuotaFull, account.address.as_str(), &text, now);
            let stored = store
                .update_state_with_alert(account.id, StateChange::QuotaWarned { percent: 100 }, Some(notice), alert)
                .await;
            if let Some(alert) = admin_notice(
                &config,
                "quota-full-alert",
                now,
                &format!("Mailbox full: {}", account.address),
                &format!("The mailbox {} is full; mail to it is refused.\n", account.address),
            ) {
                let _ = store.queue_notice(alert).await;
            }
            if let Err(error) = stored {
                tracing::error!(%error, "recording a full mailbox failed");
            }
        })
    }
}

/// Forgets a sender's sliding windows (an administrator unblocked it: it starts afresh).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ForgetSender {
    pub sender: AccountId,
}

impl Handler<ForgetSender> for Monitor {
    type Result = ();
    fn handle(&mut self, msg: ForgetSender, _: &mut Context<Self>) {
        self.breaker.forget(msg.sender);
    }
}

/// Copies of messages accepted at these times were collected (deleted by their recipient).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Collected {
    pub at: Millis,
    pub accepted_at: Vec<Millis>,
}

impl Handler<Collected> for Monitor {
    type Result = ();
    fn handle(&mut self, msg: Collected, _: &mut Context<Self>) {
        for accepted in msg.accepted_at {
            self.quality.collected(msg.at, accepted);
        }
    }
}

/// A submission or a recipient was refused, for the counters.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Refused {
    pub reason: &'static str,
}

impl Handler<Refused> for Monitor {
    type Result = ();
    fn handle(&mut self, msg: Refused, _: &mut Context<Self>) {
        self.quality.refused(msg.reason);
    }
}

/// Every metric in the Prometheus text format.
#[derive(Debug, Message)]
#[rtype(result = "String")]
pub struct RenderMetrics;

impl Handler<RenderMetrics> for Monitor {
    type Result = String;
    fn handle(&mut self, _: RenderMetrics, _: &mut Context<Self>) -> String {
        self.quality.render(&self.store.path())
    }
}

/// The quality figures over the last 5 and 60 minutes.
#[derive(Debug, Message)]
#[rtype(result = "QualityReport")]
pub struct QualityNow;

impl Handler<QualityNow> for Monitor {
    type Result = MessageResult<QualityNow>;
    fn handle(&mut self, _: QualityNow, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.quality.report(self.clock.now(), &self.store.path()))
    }
}
