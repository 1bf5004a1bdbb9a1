//! Logins, at every door of the relay: SMTP and POP3 sessions, LDAP binds and the
//! personal space log in through one [`DoorLogin`] — the throttle's verdict first
//! ([`LoginThrottle`], one for every door, so that guessing through one door is guessing
//! through all), then [`check_password`], then [`login_allowed`] — and the personal space
//! asks [`login_allowed`] again on every page of an open session.
//!
//! A password check runs argon2id on the blocking pool, one per permit of a semaphore
//! (each holds 19 MiB); an unknown name is checked against a dummy hash so that timing
//! does not tell which accounts exist. A password verified a moment ago is remembered
//! (memory only, as an HMAC: [`crate::remembered`]) so that a client logging in for every
//! message pays the hash once; a wrong one always pays it.

use std::sync::Arc;

use caducee_storage::{verify_password, Account, AccountId, Address, DisabledReason, Millis, Store};
use tokio::sync::Semaphore;

pub use crate::throttle::{LoginThrottle, Verdict};

/// An argon2id hash of a random string, verified against when the account does not exist.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2xHkqB1W0P4zsH6jTNwJ8sQ7QyN2cA2u0s4b3tC0rIQ";

/// Checks a password against an account's stored hash, or against a dummy one when there
/// is no such account, so that timing does not reveal which accounts exist. One check per
/// permit of `checks` at a time (each holds 19 MiB); waiting for a permit is the
/// back-pressure a burst of logins feels. Every login of the relay goes through here: SMTP,
/// POP3, LDAP binds, the personal space.
pub async fn check_password(checks: &Arc<Semaphore>, stored: Option<String>, password: String) -> bool {
    let hash = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
    // The semaphore is never closed, so a permit always comes.
    let Ok(permit) = checks.clone().acquire_owned().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let valid = verify_password(&password, &hash);
        drop(permit);
        valid
    })
    .await
    .unwrap_or(false)
}

/// Whether an account may log in at all, at any door: not once it is closed, nor while an
/// administrator has suspended it (until `enable`). A mailbox disabled for inactivity still
/// logs in — collecting is what re-enables it. When the state cannot be read, no.
pub fn login_allowed(store: &Store, account: AccountId) -> bool {
    match store.account_state(account) {
        Ok(state) => state.closed_at.is_none() && !matches!(state.disabled, Some((DisabledReason::Suspended, _))),
        Err(error) => {
            tracing::error!(%error, "reading an account's state for a login failed");
            false
        }
    }
}

/// How a login went.
#[derive(Debug)]
pub enum Login {
    /// The password is right and the account may log in.
    Ok(Account),
    /// A wrong name or password, or an account closed or suspended (told apart from
    /// neither).
    Failed,
    /// Refused without checking: too many recent failures from this source, for the
    /// account or for all. The lock lifts within this many minutes (the throttle's window).
    Throttled { retry_minutes: u64 },
}

impl Login {
    /// The account logged in, if any.
    pub fn account(self) -> Option<Account> {
        match self {
            Login::Ok(account) => Some(account),
            Login::Failed | Login::Throttled { .. } => None,
        }
    }
}

/// The login check every door shares: the store, the relay-wide throttle and the
/// password-check permits.
#[derive(Debug, Clone, Copy)]
pub struct DoorLogin<'a> {
    /// Which door (`smtp`, `pop3`, `ldap`, `web`), for the refused-login counts.
    pub door: &'static str,
    pub store: &'a Store,
    pub throttle: &'a LoginThrottle,
    pub password_checks: &'a Arc<Semaphore>,
}

impl DoorLogin<'_> {
    /// Logs `username` in from `source` (the client's address). A locked source is refused
    /// before the hash; an account under attack from elsewhere is checked after a delay.
    /// An account that may not log in ([`login_allowed`]) is refused like a wrong password,
    /// after the hash.
    pub async fn log_in(&self, source: &str, username: &str, password: String, now: Millis) -> Login {
        match self.throttle.verdict(source, username, now) {
            Verdict::Locked => {
                tracing::warn!(peer = %source, door = self.door, "login refused: too many recent failures");
                self.throttle.count_refusal(self.door, "throttled");
                return Login::Throttled { retry_minutes: self.throttle.window_minutes() };
            }
            Verdict::Check { delay } if !delay.is_zero() => {
                tracing::warn!(peer = %source, ?delay, "login slowed: the account failed often from elsewhere");
                tokio::time::sleep(delay).await;
            }
            Verdict::Check { .. } => {}
        }
        let account =
            Address::parse(username).ok().and_then(|address| self.store.account_by_address(&address).ok().flatten());
        let stored = account.as_ref().map(|a| a.password_hash.clone());
        let remembered = self.throttle.remembered();
        let now_instant = std::time::Instant::now();
        let valid = match &stored {
            Some(hash) if remembered.remembers(hash, &password, now_instant) => true,
            _ => {
                let valid = check_password(self.password_checks, stored.clone(), password.clone()).await;
                if let (true, Some(hash)) = (valid, &stored) {
                    remembered.remember(hash, &password, now_instant);
                }
                valid
            }
        };
        match account.filter(|a| valid && login_allowed(self.store, a.id)) {
            Some(account) => {
                self.throttle.succeeded(source, username);
                Login::Ok(account)
            }
            None => {
                self.throttle.failed(source, username, now);
                self.throttle.count_refusal(self.door, "credentials");
                Login::Failed
            }
        }
    }
}
