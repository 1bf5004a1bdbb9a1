//! The mass-mailing breaker (SPEC R-MON-3): per-sender sliding windows over a minute and a
//! day, and the strikes that turn throttling into a block. A refusal says when the window
//! reopens; refusals within a minute of a strike are one burst (software retrying at once)
//! and make no new strike, so that only a sender who comes back over the limit again and
//! again — mass mailing, as the terms of use mean it — is blocked.

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
    /// Strikes of the last 24 hours: the first refusal of each burst.
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
    /// One recipient too many for one message (at `RCPT`: 452 4.5.3, the client sends the
    /// others in another message — ordinary behaviour, not a strike).
    TooManyRecipients(String),
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
        window.forget_before(now);
        let Some(why) = self.over_limit(window, recipients, now) else {
            window.count(recipients, now);
            return Admission::Admit;
        };
        self.strike(window, why, now)
    }

    /// Judges a transaction's recipients so far — at `RCPT`, before any byte of the body
    /// — without counting the message: it is counted by [`Breaker::judge`] once its data
    /// is in. `first_refusal` is false when this transaction was already refused once, so
    /// that one transaction makes one strike however many recipients it names.
    pub fn judge_recipients(
        &self,
        sender: AccountId,
        recipients: &[Address],
        first_refusal: bool,
        now: Millis,
    ) -> Admission {
        if recipients.len() as u32 > self.recipients_per_message {
            return Admission::TooManyRecipients(self.recipients_per_message_limit());
        }
        let mut senders = self.senders();
        let window = senders.entry(sender).or_default();
        window.forget_before(now);
        match self.over_limit(window, recipients, now) {
            None => Admission::Admit,
            Some(why) if first_refusal => self.strike(window, why, now),
            Some(why) => Admission::Throttle(why),
        }
    }

    /// Counts a refusal as a strike unless it belongs to the burst of the last strike;
    /// enough strikes in 24 hours block the sender.
    fn strike(&self, window: &mut SenderWindow, why: String, now: Millis) -> Admission {
        if window.strikes.back().is_some_and(|last| now.0.saturating_sub(last.0) < MINUTE_MILLIS) {
            return Admission::Throttle(why);
        }
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

    fn recipients_per_message_limit(&self) -> String {
        format!("at most {} recipients per message", self.recipients_per_message)
    }

    /// Which limit `recipients` would break, and when the window lets a message through
    /// again, the windows left as they are.
    fn over_limit(&self, window: &SenderWindow, recipients: &[Address], now: Millis) -> Option<String> {
        if recipients.len() as u32 > self.recipients_per_message {
            return Some(self.recipients_per_message_limit());
        }
        if window.minute.len() as u32 >= self.messages_per_minute {
            // The oldest message of the minute leaves it first.
            let reopens = window.minute.front().map_or(now.0, |oldest| oldest.0 + MINUTE_MILLIS);
            return Some(format!(
                "at most {} messages per minute; try again in {}",
                self.messages_per_minute,
                wait(reopens.saturating_sub(now.0))
            ));
        }
        let new = recipients.iter().filter(|r| !window.recipients.contains_key(*r)).count();
        if (window.recipients.len() + new) as u32 > self.distinct_recipients_per_day {
            // Room for a new recipient once the one written to longest ago leaves the day.
            let reopens = window.recipients.values().min().map_or(now.0, |oldest| oldest.0 + DAY_MILLIS);
            return Some(format!(
                "at most {} distinct recipients per day; a new recipient in {}, those of the last 24 hours at once",
                self.distinct_recipients_per_day,
                wait(reopens.saturating_sub(now.0))
            ));
        }
        None
    }
}

/// A wait as a person reads it: `12 s`, `4 min`, `3 h 20 min` (rounded up, at least 1 s).
fn wait(millis: u64) -> String {
    let seconds = millis.div_ceil(1000).max(1);
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s.div_ceil(60)),
        s => {
            let minutes = s.div_ceil(60);
            format!("{} h {} min", minutes / 60, minutes % 60)
        }
    }
}

impl SenderWindow {
    /// Lets go of what left the minute and day windows.
    fn forget_before(&mut self, now: Millis) {
        while self.minute.front().is_some_and(|t| now.0.saturating_sub(t.0) >= MINUTE_MILLIS) {
            self.minute.pop_front();
        }
        self.recipients.retain(|_, last| now.0.saturating_sub(last.0) < DAY_MILLIS);
    }

    /// Counts an admitted message.
    fn count(&mut self, recipients: &[Address], now: Millis) {
        self.minute.push_back(now);
        for recipient in recipients {
            self.recipients.insert(recipient.clone(), now);
        }
    }
}
