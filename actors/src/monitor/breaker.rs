//! The mass-mailing breaker (SPEC R-MON-3): per-sender sliding windows over a minute and a
//! day, and the strikes that turn throttling into a block.

use std::collections::{HashMap, VecDeque};

use caducee_storage::{AccountId, Address, Millis, DAY_MILLIS};

use super::MonitorConfig;

const MINUTE_MILLIS: u64 = 60 * 1000;

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
