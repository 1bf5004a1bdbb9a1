//! The monitor's rules as plain functions of an account, its state, the time and the
//! configuration: what to change and which notices tell of it. Nothing here writes; the
//! sweep and the event handlers commit what these functions decide.

use caducee_storage::{Account, AccountState, DisabledReason, Millis, Notice, StateChange, DAY_MILLIS};

use super::MonitorConfig;

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
    let (percent, reached) = quota_level(account.used_bytes, account.quota_bytes, config);
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

/// Whether a mailbox's usage changes its quota state (a warning level not yet warned of
/// reached, or usage back below the first level): the test [`quota_change`] makes, from the
/// figures alone.
pub fn quota_state_changes(used_bytes: u64, quota_bytes: u64, state: &AccountState, config: &MonitorConfig) -> bool {
    match quota_level(used_bytes, quota_bytes, config).1 {
        Some(level) => level > state.quota_warned_percent,
        None => state.quota_warned_percent > 0,
    }
}

/// The mailbox's usage in percent (at most 100), and the highest warning level (or 100,
/// full) it reached.
fn quota_level(used_bytes: u64, quota_bytes: u64, config: &MonitorConfig) -> (u8, Option<u8>) {
    let percent = used_bytes.saturating_mul(100).checked_div(quota_bytes).unwrap_or(100);
    let percent = u8::try_from(percent.min(100)).unwrap_or(100);
    (percent, config.quota_warn_percents.iter().copied().chain([100]).filter(|level| percent >= *level).max())
}

pub(super) fn user_notice(account: &Account, kind: &str, at: Millis, subject: &str, body: &str) -> Notice {
    Notice::new(&account.contact_email, kind, subject, body, at)
}

pub(super) fn admin_notice(
    config: &MonitorConfig,
    kind: &str,
    at: Millis,
    subject: &str,
    body: &str,
) -> Option<Notice> {
    Some(Notice::new(config.admin_email.as_deref()?, kind, subject, body, at))
}
