//! Logins, at every door of the relay: SMTP and POP3 sessions, LDAP binds and the
//! personal space check passwords with [`check_password`] and count failures in one
//! [`LoginThrottle`], so that guessing through one door is guessing through all.
//!
//! A password check runs argon2id on the blocking pool, one per permit of a semaphore
//! (each holds 19 MiB); an unknown name is checked against a dummy hash so that timing
//! does not tell which accounts exist.

use std::sync::Arc;

use caducee_storage::{verify_password, Account, Address, Millis, Store};
use tokio::sync::Semaphore;

pub use crate::throttle::LoginThrottle;

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

/// How a login went.
#[derive(Debug)]
pub enum Login {
    /// The password is right and the account open.
    Ok(Account),
    /// A wrong name or password, or a closed account (told apart from neither).
    Failed,
    /// Refused without checking: too many recent failures from the source or for the account.
    Throttled,
}

impl Login {
    /// The account logged in, if any.
    pub fn account(self) -> Option<Account> {
        match self {
            Login::Ok(account) => Some(account),
            Login::Failed | Login::Throttled => None,
        }
    }
}

/// A mail door's login check: the store, the relay-wide throttle and the password-check
/// permits.
#[derive(Debug, Clone, Copy)]
pub struct MailLogin<'a> {
    pub store: &'a Store,
    pub throttle: &'a LoginThrottle,
    pub password_checks: &'a Arc<Semaphore>,
}

impl MailLogin<'_> {
    /// Logs `username` in from `source` (the client's address). A closed account cannot
    /// log in; it is refused like a wrong password, after the hash.
    pub async fn log_in(&self, source: &str, username: &str, password: String, now: Millis) -> Login {
        if self.throttle.is_locked(source, username, now) {
            tracing::warn!(peer = %source, "login refused: too many recent failures");
            return Login::Throttled;
        }
        let Ok(address) = Address::parse(username) else {
            self.throttle.failed(source, username, now);
            return Login::Failed;
        };
        let account = self.store.account_by_address(&address).ok().flatten();
        let closed =
            account.as_ref().is_some_and(|a| self.store.account_state(a.id).is_ok_and(|s| s.closed_at.is_some()));
        let stored = account.as_ref().map(|a| a.password_hash.clone());
        let valid = check_password(self.password_checks, stored, password).await;
        match account.filter(|_| valid && !closed) {
            Some(account) => {
                self.throttle.succeeded(username);
                Login::Ok(account)
            }
            None => {
                self.throttle.failed(source, username, now);
                Login::Failed
            }
        }
    }
}
