//! Login throttling across sessions (SPEC §10): after too many failed logins for one
//! account, or from one address (five times as many: a hospital's practices may share one
//! address behind NAT), within a window, further attempts are refused at once —
//! without running the password hash, so a guessing client costs the relay nothing — until
//! the failures age out of the window. A session also ends after a few failures of its own
//! (the protocol machines count those).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use caducee_storage::Millis;

/// Distinct addresses and accounts remembered at most; beyond, the oldest are forgotten
/// first, so that a flood of addresses cannot grow memory without bound.
const TRACKED_MAX: usize = 100_000;

/// A source address may fail this many times more than one account before it is locked.
const SOURCE_FACTOR: usize = 5;

#[derive(Debug)]
pub struct LoginThrottle {
    failures_max: usize,
    window_millis: u64,
    by_source: Mutex<HashMap<String, VecDeque<Millis>>>,
    by_account: Mutex<HashMap<String, VecDeque<Millis>>>,
}

impl LoginThrottle {
    pub fn new(failures_max: u32, window_secs: u64) -> LoginThrottle {
        LoginThrottle {
            failures_max: failures_max.max(1) as usize,
            window_millis: window_secs.saturating_mul(1000),
            by_source: Mutex::new(HashMap::new()),
            by_account: Mutex::new(HashMap::new()),
        }
    }

    /// True while `source` or `account` has had too many recent failures.
    pub fn is_locked(&self, source: &str, account: &str, now: Millis) -> bool {
        let recent = |table: &Mutex<HashMap<String, VecDeque<Millis>>>, key: &str| {
            let mut table = lock(table);
            let Some(failures) = table.get_mut(key) else { return 0 };
            self.forget_old(failures, now);
            failures.len()
        };
        recent(&self.by_source, source) >= self.failures_max * SOURCE_FACTOR
            || recent(&self.by_account, &account.to_ascii_lowercase()) >= self.failures_max
    }

    /// Counts a failed login.
    pub fn failed(&self, source: &str, account: &str, now: Millis) {
        for (table, key) in [(&self.by_source, source.to_owned()), (&self.by_account, account.to_ascii_lowercase())] {
            let mut table = lock(table);
            if table.len() >= TRACKED_MAX && !table.contains_key(&key) {
                // Forget whoever failed longest ago.
                let oldest = table.iter().min_by_key(|(_, f)| f.back().copied()).map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    table.remove(&oldest);
                }
            }
            let failures = table.entry(key).or_default();
            self.forget_old(failures, now);
            failures.push_back(now);
        }
    }

    /// A successful login clears the account's failures (not the source's).
    pub fn succeeded(&self, account: &str) {
        lock(&self.by_account).remove(&account.to_ascii_lowercase());
    }

    fn forget_old(&self, failures: &mut VecDeque<Millis>, now: Millis) {
        while failures.front().is_some_and(|at| now.0.saturating_sub(at.0) >= self.window_millis) {
            failures.pop_front();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The tables hold plain timestamps: a panic while holding one leaves nothing unsafe.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_lock_a_source_or_an_account_until_they_age_out() {
        let throttle = LoginThrottle::new(3, 60);
        let at = |s: u64| Millis(s * 1000);
        for s in 0..3 {
            assert!(!throttle.is_locked("10.0.0.1", "a@relay.test", at(s)));
            throttle.failed("10.0.0.1", "a@relay.test", at(s));
        }
        assert!(throttle.is_locked("10.0.0.2", "A@relay.test", at(3)), "the account is locked from any source");
        assert!(!throttle.is_locked("10.0.0.1", "b@relay.test", at(3)), "others behind the same address go on");
        for s in 3..15 {
            throttle.failed("10.0.0.1", &format!("user{s}@relay.test"), at(s));
        }
        assert!(throttle.is_locked("10.0.0.1", "b@relay.test", at(15)), "15 failures lock the source for all");
        assert!(!throttle.is_locked("10.0.0.2", "b@relay.test", at(15)));
        assert!(!throttle.is_locked("10.0.0.1", "a@relay.test", at(76)), "failures age out of the window");
        throttle.failed("10.0.0.3", "c@relay.test", at(100));
        throttle.succeeded("c@relay.test");
        assert!(!throttle.is_locked("10.0.0.4", "c@relay.test", at(100)));
    }
}
