//! The monitor keeps the service's promises over time: no document rots in an abandoned
//! mailbox (30/60-day inactivity rule, SPEC R-MON-1), quotas warn before they refuse
//! (R-MON-2), and no sender floods practices (mass-mailing breaker, R-MON-3). Each state
//! change is written together with the notice that tells of it, and notices leave through
//! the outbound spool (`notices.rs`).
//!
//! The rules are plain functions of an account, its state, the time and the configuration
//! ([`inactivity_change`], [`quota_change`]), so they are tested with any clock. The actor
//! runs them periodically (a sweep), on events (after deliveries, for quotas), and keeps the
//! per-sender sliding windows of the breaker in memory.
//!
//! Messages: [`Sweep`], [`Delivered`], [`BlockSender`], [`RecipientRefused`],
//! [`QuotaRefused`], [`ForgetSender`], [`Collected`], [`Refused`], [`RenderMetrics`],
//! [`QualityNow`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use caducee_storage::{
    Account, AccountId, AccountState, Address, Alert, Blocked, DisabledReason, Millis, Notice, StateChange, Store,
    StoreError,
};
use serde::Serialize;

use crate::clock::Clock;
use crate::quality::{Quality, QualityReport};

const DAY_MILLIS: u64 = 24 * 60 * 60 * 1000;
const MINUTE_MILLIS: u64 = 60 * 1000;

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
}

/// What automatic key renewal needs: when to start, and what to write into the bundles.
#[derive(Debug, Clone)]
pub struct Renewal {
    /// Next year's keys are issued from this many days before the end of the year.
    pub days_before_year_end: u64,
    pub endpoints: crate::keyvault::Endpoints,
    /// The relay's CA certificate (PEM), for the bundles.
    pub ca_pem: String,
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
        }
    }
}

/// The inactivity rule for one account at `as_of`: the change to make, with its notice.
pub fn inactivity_change(
    account: &Account,
    state: &AccountState,
    as_of: Millis,
    config: &MonitorConfig,
) -> Option<(StateChange, Option<Notice>)> {
    if state.disabled.is_some() {
        return None; // already disabled (or suspended): nothing more to say
    }
    let since = account.last_collection.unwrap_or(account.created_at);
    let idle_days = as_of.0.saturating_sub(since.0) / DAY_MILLIS;
    if idle_days >= config.inactivity_disable_days {
        let notice = user_notice(
            account,
            "inactivity-disabled",
            as_of,
            &format!("Réception désactivée / Reception disabled — {}", account.address),
            &format!(
                "Votre boîte {address} n'a pas été relevée depuis {idle_days} jours : la réception de nouveaux \
                 messages est désactivée et les expéditeurs en sont avertis. Relevez votre boîte (POP3) pour la \
                 réactiver.\n\nYour mailbox {address} has not been collected for {idle_days} days: it no longer \
                 receives new messages and senders are told so. Collect your mail (POP3) to turn reception back on.\n",
                address = account.address
            ),
        );
        return Some((StateChange::Disable { reason: DisabledReason::Inactivity, at: as_of }, Some(notice)));
    }
    if idle_days >= config.inactivity_notice_days && state.inactivity_noticed_at.is_none() {
        let left = config.inactivity_disable_days - idle_days;
        let notice = user_notice(
            account,
            "inactivity-notice",
            as_of,
            &format!("Boîte non relevée / Mailbox not collected — {}", account.address),
            &format!(
                "Votre boîte {address} n'a pas été relevée depuis {idle_days} jours. Sans relève d'ici {left} jours, \
                 elle cessera de recevoir des messages.\n\nYour mailbox {address} has not been collected for \
                 {idle_days} days. Unless it is collected within {left} days, it will stop receiving messages.\n",
                address = account.address
            ),
        );
        return Some((StateChange::InactivityNoticed { at: as_of }, Some(notice)));
    }
    None
}

/// The quota rule for one account: a warning when usage crosses a level not yet warned of,
/// an alert at 100 %, and a reset once usage falls back below the first level.
pub fn quota_change(
    account: &Account,
    state: &AccountState,
    as_of: Millis,
    config: &MonitorConfig,
) -> Option<(StateChange, Vec<Notice>)> {
    let percent = account.used_bytes.saturating_mul(100).checked_div(account.quota_bytes).unwrap_or(100);
    let percent = u8::try_from(percent.min(100)).unwrap_or(100);
    let reached = config.quota_warn_percents.iter().copied().chain([100]).filter(|level| percent >= *level).max();
    match reached {
        Some(level) if level > state.quota_warned_percent => {
            let mut notices = vec![user_notice(
                account,
                &format!("quota-{level}"),
                as_of,
                &format!("Boîte remplie à {percent} % / Mailbox {percent} % full — {}", account.address),
                &format!(
                    "Votre boîte {address} est remplie à {percent} % ({used} octets sur {quota}). {fr}\n\n\
                     Your mailbox {address} is {percent} % full ({used} of {quota} bytes). {en}\n",
                    address = account.address,
                    used = account.used_bytes,
                    quota = account.quota_bytes,
                    fr = if level >= 100 {
                        "Les nouveaux messages sont refusés tant qu'elle n'est pas relevée."
                    } else {
                        "Relevez-la pour éviter que de nouveaux messages soient refusés."
                    },
                    en = if level >= 100 {
                        "New messages are refused until it is collected."
                    } else {
                        "Collect it to avoid new messages being refused."
                    },
                ),
            )];
            if level >= 100 {
                notices.extend(admin_notice(
                    config,
                    "quota-full-alert",
                    as_of,
                    &format!("Mailbox full: {}", account.address),
                    &format!("The mailbox {} has reached its quota; new mail to it is refused.\n", account.address),
                ));
            }
            Some((StateChange::QuotaWarned { percent: level }, notices))
        }
        None if state.quota_warned_percent > 0 => Some((StateChange::QuotaWarned { percent: 0 }, Vec::new())),
        _ => None,
    }
}

fn user_notice(account: &Account, kind: &str, at: Millis, subject: &str, body: &str) -> Notice {
    Notice::new(&account.contact_email, kind, subject, body, at)
}

fn admin_notice(config: &MonitorConfig, kind: &str, at: Millis, subject: &str, body: &str) -> Option<Notice> {
    Some(Notice::new(config.admin_email.as_deref()?, kind, subject, body, at))
}

/// What a sweep did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SweepReport {
    pub as_of: Millis,
    pub accounts: u64,
    pub inactivity_notices: u64,
    pub disabled: u64,
    pub quota_changes: u64,
    /// What retention removed.
    pub purged: caducee_storage::Purged,
    /// Closed accounts removed by retention.
    pub closed_accounts_removed: u64,
    /// Accounts whose next year's keys were issued and delivered to their mailbox.
    pub keys_renewed: u64,
}

/// Runs every rule on every account as of `as_of`.
pub async fn sweep(store: &Store, config: &MonitorConfig, as_of: Millis) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport { as_of, ..SweepReport::default() };
    for account in store.accounts()? {
        report.accounts += 1;
        let state = store.account_state(account.id)?;
        if let Some(closed_at) = state.closed_at {
            let days = as_of.0.saturating_sub(closed_at.0) / DAY_MILLIS;
            if days >= config.closed_account_retention_days && !state.legal_hold {
                let audit = caducee_storage::AuditDraft {
                    at: as_of,
                    actor: "monitor".into(),
                    source: "retention".into(),
                    action: "delete".into(),
                    object: format!("account {}", account.address),
                    detail: format!("closed {days} days ago"),
                };
                match store.delete_account(account.id, as_of, audit).await {
                    Ok(_) => {}
                    // Reopened or put under hold since the snapshot: nothing to do.
                    Err(StoreError::Refused(why)) => {
                        tracing::info!(address = %account.address, %why, "closed account kept");
                        continue;
                    }
                    Err(error) => return Err(error),
                }
                tracing::info!(address = %account.address, days, "closed account removed by retention");
                report.closed_accounts_removed += 1;
            }
            continue; // a closed account gets no notices
        }
        if let Some((change, notice)) = inactivity_change(&account, &state, as_of, config) {
            if matches!(change, StateChange::Disable { .. }) {
                report.disabled += 1;
            } else {
                report.inactivity_notices += 1;
            }
            tracing::info!(address = %account.address, ?change, "inactivity rule");
            let updated = if matches!(change, StateChange::Disable { .. }) {
                let text = format!(
                    "reception disabled: {} has not collected for {} days",
                    account.address, config.inactivity_disable_days
                );
                let alert = Alert::new("inactivity-disabled", account.address.as_str(), &text, as_of);
                store.update_state_with_alert(account.id, change, notice, alert).await
            } else {
                store.update_state(account.id, change, notice).await
            };
            match updated {
                Err(StoreError::NoSuchAccount) => continue, // removed since the snapshot
                other => other?,
            }
        }
        match check_quota(store, config, &account, as_of).await {
            Ok(true) => report.quota_changes += 1,
            Ok(false) | Err(StoreError::NoSuchAccount) => {}
            Err(error) => return Err(error),
        }
        if let Some(renewal) = &config.renewal {
            match renew_if_due(store, renewal, &config.domain, &account, as_of).await {
                Ok(true) => report.keys_renewed += 1,
                Ok(false) => {}
                // Tried again at the next sweep: nothing was published.
                Err(error) => tracing::error!(address = %account.address, %error, "key renewal failed"),
            }
        }
    }
    let days_before = |days: u64| Millis(as_of.0.saturating_sub(days.saturating_mul(DAY_MILLIS)));
    report.purged = store
        .purge(caducee_storage::Purge {
            connections_before: days_before(config.log_retention_days),
            trails_before: days_before(config.log_retention_days),
            audit_before: days_before(config.audit_retention_days),
            alerts_before: days_before(config.log_retention_days),
        })
        .await?;
    Ok(report)
}

/// Issues next year's keys for an account whose current keys expire at the end of this
/// year, once within `days_before_year_end` of it, and delivers them to its mailbox
/// encrypted to the current keys. The certificate is published only after the delivery, so
/// a failed delivery is simply retried at the next sweep.
async fn renew_if_due(
    store: &Store,
    renewal: &Renewal,
    domain: &str,
    account: &Account,
    as_of: Millis,
) -> Result<bool, String> {
    use crate::keyvault;
    use caducee_storage::CertificateStatus;

    let editions = store.certificates(account.id).map_err(|e| e.to_string())?;
    let year_end = keyvault::end_of_year(as_of);
    let due = Millis(year_end.0.saturating_sub(renewal.days_before_year_end.saturating_mul(DAY_MILLIS)));
    let current: Vec<_> = editions.iter().filter(|c| c.status(as_of) == CertificateStatus::Valid).collect();
    let Some(newest) = current.iter().max_by_key(|c| c.expires_at) else {
        return Ok(false); // no valid keys to deliver to: the administrator re-issues
    };
    if as_of < due || newest.expires_at > year_end {
        return Ok(false); // not yet, or already renewed
    }
    let request = keyvault::IssueRequest {
        account: account.id,
        address: account.address.clone(),
        edition: editions.iter().map(|c| c.edition).max().unwrap_or(0) + 1,
        at: as_of,
        expires_at: keyvault::next_edition_expiry(year_end),
        endpoints: renewal.endpoints.clone(),
        ca_pem: renewal.ca_pem.clone(),
    };
    let issued = tokio::task::spawn_blocking(move || keyvault::issue(&request))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let from = format!("keys@{domain}");
    let message =
        keyvault::renewal_message(newest, &issued, &from, &account.address, as_of).map_err(|e| e.to_string())?;
    let sender = Address::parse(&from).map_err(|e| e.to_string())?;
    let sealed = store.seal(message).map_err(|e| e.to_string())?;
    store.accept(sender, vec![account.id], sealed, as_of).await.map_err(|e| format!("delivering the new keys: {e}"))?;
    let audit = caducee_storage::AuditDraft {
        at: as_of,
        actor: "monitor".into(),
        source: "renewal".into(),
        action: "issue".into(),
        object: format!("keys of {}", account.address),
        detail: format!(
            "edition {}, {} (automatic renewal, delivered encrypted to {}), valid until {}",
            issued.record.edition,
            issued.record.fingerprint,
            newest.fingerprint,
            keyvault::iso_date(issued.record.expires_at)
        ),
    };
    let (edition, fingerprint) = (issued.record.edition, issued.record.fingerprint.clone());
    store.put_certificate(issued.record, audit).await.map_err(|e| e.to_string())?;
    tracing::info!(address = %account.address, edition, %fingerprint, "next year's keys issued and delivered");
    Ok(true)
}

async fn check_quota(
    store: &Store,
    config: &MonitorConfig,
    account: &Account,
    as_of: Millis,
) -> Result<bool, StoreError> {
    let state = store.account_state(account.id)?;
    let Some((change, notices)) = quota_change(account, &state, as_of, config) else {
        return Ok(false);
    };
    tracing::info!(address = %account.address, ?change, "quota rule");
    let mut notices = notices.into_iter();
    if matches!(change, StateChange::QuotaWarned { percent } if percent >= 100) {
        let text = format!("mailbox full: new mail to {} is refused until it is collected", account.address);
        let alert = Alert::new("quota-full", account.address.as_str(), &text, as_of);
        store.update_state_with_alert(account.id, change, notices.next(), alert).await?;
    } else {
        store.update_state(account.id, change, notices.next()).await?;
    }
    for notice in notices {
        store.queue_notice(notice).await?;
    }
    Ok(true)
}

/// The mass-mailing breaker's view of one sender.
#[derive(Debug, Default)]
struct SenderWindow {
    /// When each message of the last minute was admitted.
    minute: VecDeque<Millis>,
    /// Recipients written to in the last 24 hours, with the last time.
    recipients: HashMap<Address, Millis>,
    /// Refusals of the last 24 hours.
    strikes: VecDeque<Millis>,
}

/// Starts the monitor: a sweep now and every `config.sweep_every`. The breaker is shared
/// with the sessions, which judge submissions with it.
pub fn start(store: Store, clock: Arc<dyn Clock>, config: MonitorConfig, breaker: Arc<Breaker>) -> Addr<Monitor> {
    Monitor { store, clock, config, breaker, quality: Quality::new(), dsn_sent: HashMap::new(), sweeping: false }
        .start()
}

pub struct Monitor {
    store: Store,
    clock: Arc<dyn Clock>,
    config: MonitorConfig,
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

/// Runs every rule on every account, as of now or of the given time.
#[derive(Debug, Message)]
#[rtype(result = "Result<SweepReport, String>")]
pub struct Sweep {
    pub as_of: Option<Millis>,
}

impl Handler<Sweep> for Monitor {
    type Result = ResponseActFuture<Self, Result<SweepReport, String>>;
    fn handle(&mut self, msg: Sweep, _: &mut Context<Self>) -> Self::Result {
        // One sweep at a time: two would judge the same accounts and send notices twice.
        if self.sweeping {
            return Box::pin(fut::ready(Err("a sweep is already running; try again in a moment".to_owned())));
        }
        self.sweeping = true;
        let (store, config) = (self.store.clone(), self.config.clone());
        let as_of = msg.as_of.unwrap_or_else(|| self.clock.now());
        let work = async move {
            let result = sweep(&store, &config, as_of).await.map_err(|e| e.to_string());
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

/// A message was stored for these accounts, `processing` after the end of its data: count
/// it, and check their quotas now.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Delivered {
    pub recipients: Vec<AccountId>,
    pub processing: Duration,
}

impl Handler<Delivered> for Monitor {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, msg: Delivered, _: &mut Context<Self>) -> Self::Result {
        let (store, config, now) = (self.store.clone(), self.config.clone(), self.clock.now());
        self.quality.accepted(now, msg.processing);
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

/// The mass-mailing breaker (SPEC R-MON-3): per-sender sliding windows, judged on the
/// session's own thread — every submission passes here, so it costs a lock, not an actor
/// round trip. Only a block, which is rare, goes to the monitor (`BlockSender`).
#[derive(Debug)]
pub struct Breaker {
    messages_per_minute: u32,
    recipients_per_message: u32,
    distinct_recipients_per_day: u32,
    strikes_to_block: u32,
    senders: std::sync::Mutex<HashMap<AccountId, SenderWindow>>,
}

/// The breaker's verdict on one submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Admit,
    /// Over a limit: refuse for now (451 4.7.1), saying which.
    Throttle(String),
    /// Blocked for mass mailing (554 5.7.1). Fresh blocks must be recorded with
    /// [`BlockSender`].
    Blocked(String),
}

impl Breaker {
    pub fn new(config: &MonitorConfig) -> Breaker {
        Breaker {
            messages_per_minute: config.messages_per_minute,
            recipients_per_message: config.recipients_per_message,
            distinct_recipients_per_day: config.distinct_recipients_per_day,
            strikes_to_block: config.strikes_to_block,
            senders: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn senders(&self) -> std::sync::MutexGuard<'_, HashMap<AccountId, SenderWindow>> {
        // The windows are plain counters: a panic while holding them leaves nothing unsafe.
        self.senders.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Judges a submission and, if admitted, counts it in the sender's windows.
    pub fn judge(&self, sender: AccountId, recipients: &[Address], now: Millis) -> Admission {
        let mut senders = self.senders();
        let window = senders.entry(sender).or_default();
        let Some(why) = self.over_limit(window, recipients, now) else {
            return Admission::Admit;
        };
        window.strikes.push_back(now);
        while window.strikes.front().is_some_and(|t| now.0.saturating_sub(t.0) >= DAY_MILLIS) {
            window.strikes.pop_front();
        }
        if (window.strikes.len() as u32) < self.strikes_to_block {
            return Admission::Throttle(why);
        }
        let reason = format!("{} refusals in 24 hours, the last for {why}", window.strikes.len());
        window.strikes.clear();
        Admission::Blocked(reason)
    }

    /// Forgets a sender's windows (an administrator unblocked it: it starts afresh).
    pub fn forget(&self, sender: AccountId) {
        self.senders().remove(&sender);
    }

    fn over_limit(&self, window: &mut SenderWindow, recipients: &[Address], now: Millis) -> Option<String> {
        if recipients.len() as u32 > self.recipients_per_message {
            return Some(format!("at most {} recipients per message", self.recipients_per_message));
        }
        while window.minute.front().is_some_and(|t| now.0.saturating_sub(t.0) >= MINUTE_MILLIS) {
            window.minute.pop_front();
        }
        window.recipients.retain(|_, last| now.0.saturating_sub(last.0) < DAY_MILLIS);
        if window.minute.len() as u32 >= self.messages_per_minute {
            return Some(format!("at most {} messages per minute", self.messages_per_minute));
        }
        let new = recipients.iter().filter(|r| !window.recipients.contains_key(*r)).count();
        if (window.recipients.len() + new) as u32 > self.distinct_recipients_per_day {
            return Some(format!("at most {} distinct recipients per day", self.distinct_recipients_per_day));
        }
        window.minute.push_back(now);
        for recipient in recipients {
            window.recipients.insert(recipient.clone(), now);
        }
        None
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
            let alert = Alert::new("blocked", msg.sender_address.as_str(), &text, now);
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
            let alert = Alert::new("quota-full", account.address.as_str(), &text, now);
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
