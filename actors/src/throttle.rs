//! Login throttling across sessions and doors (SPEC §10). Failures are counted within a
//! window, three ways:
//!
//! - per account **and** source address: after `failures_max` failures, that address may
//!   not try that account again until the failures age out — refused at once, without
//!   running the password hash, so a guessing client costs the relay nothing;
//! - per source address, whatever the account: after [`SOURCE_FACTOR`] times as many
//!   (a hospital's practices may share one address behind NAT), the address is refused
//!   for every account;
//! - per account, from every source: never a lock — anyone who knows a published address
//!   could otherwise lock its practice out — but a delay before each password check,
//!   from the first failure beyond `failures_max`, doubling with each further one, capped at
//!   [`ACCOUNT_DELAY_MAX_MILLIS`], so that guessing from many addresses stays slow while the
//!   practice's own machine still logs in.
//!
//! An account is known by its address parsed and normalised as the store does it (case,
//! surrounding whitespace): the variants of one name share one count, and a name that is
//! no address counts against its source only. Every table is bounded
//! ([`TRACKED_MAX`] keys, the least recently failed forgotten first) and so is every key
//! (an address is at most 254 bytes, a source [`SOURCE_BYTES_MAX`]). A session also ends
//! after a few failures of its own (the protocol machines count those).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use caducee_storage::{Address, Millis};

use crate::remembered::RememberedLogins;

/// Keys each table remembers at most; beyond, the least recently failed is forgotten first,
/// so that a flood of addresses or names cannot grow memory without bound.
pub const TRACKED_MAX: usize = 100_000;

/// A source address may fail this many times more than `failures_max` (for any accounts)
/// before it is refused for all.
pub const SOURCE_FACTOR: usize = 5;

/// Longest source key kept (an IPv6 address in text is at most 45 bytes).
pub const SOURCE_BYTES_MAX: usize = 64;

/// The delay before each password check once an account has failed more than
/// `failures_max` times from all sources within the window; it doubles with each further
/// failure, up to [`ACCOUNT_DELAY_MAX_MILLIS`].
pub const ACCOUNT_DELAY_STEP_MILLIS: u64 = 250;

/// The longest delay an account's failures impose on a login.
pub const ACCOUNT_DELAY_MAX_MILLIS: u64 = 4_000;

/// What the throttle says about a login about to be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password, after this delay (zero unless the account is under attack).
    Check { delay: Duration },
    /// Refuse at once: this source failed too often, for this account or for all.
    Locked,
}

/// The relay-wide count of failed logins, shared by every door.
#[derive(Debug)]
pub struct LoginThrottle {
    failures_max: usize,
    window_millis: u64,
    by_source: Mutex<Recent<String>>,
    by_account_and_source: Mutex<Recent<(String, String)>>,
    by_account: Mutex<Recent<String>>,
    /// Refused logins since start, by door and why (`/metrics`).
    refused: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Passwords verified a moment ago ([`RememberedLogins`]): kept with the rest of the
    /// relay-wide login bookkeeping, which every door already shares.
    remembered: RememberedLogins,
}

impl LoginThrottle {
    pub fn new(failures_max: u32, window_secs: u64) -> LoginThrottle {
        LoginThrottle::with_capacity(failures_max, window_secs, TRACKED_MAX)
    }

    /// As [`LoginThrottle::new`], remembering at most `capacity` keys per table.
    pub fn with_capacity(failures_max: u32, window_secs: u64, capacity: usize) -> LoginThrottle {
        let failures_max = failures_max.max(1) as usize;
        // Past these counts nothing changes: older failures need not be kept.
        let account_kept = failures_max + (ACCOUNT_DELAY_MAX_MILLIS / ACCOUNT_DELAY_STEP_MILLIS).ilog2() as usize + 1;
        LoginThrottle {
            failures_max,
            window_millis: window_secs.saturating_mul(1000),
            by_source: Mutex::new(Recent::new(capacity, failures_max * SOURCE_FACTOR)),
            by_account_and_source: Mutex::new(Recent::new(capacity, failures_max)),
            by_account: Mutex::new(Recent::new(capacity, account_kept)),
            refused: Mutex::new(BTreeMap::new()),
            remembered: RememberedLogins::new(),
        }
    }

    /// The passwords verified a moment ago.
    pub fn remembered(&self) -> &RememberedLogins {
        &self.remembered
    }

    /// Counts a refused login at `door` (`smtp`, `pop3`, `ldap`, `web`): `reason` is
    /// `credentials` (a wrong name or password, or an account that may not log in) or
    /// `throttled`.
    pub fn count_refusal(&self, door: &'static str, reason: &'static str) {
        *lock(&self.refused).entry((door, reason)).or_insert(0) += 1;
    }

    /// The refused logins since start, by (door, reason).
    pub fn refusals(&self) -> Vec<((&'static str, &'static str), u64)> {
        lock(&self.refused).iter().map(|(key, count)| (*key, *count)).collect()
    }

    /// Whether a login of `name` from `source` may be checked now, and after what delay.
    pub fn verdict(&self, source: &str, name: &str, now: Millis) -> Verdict {
        let source = source_key(source);
        let window = self.window_millis;
        if lock(&self.by_source).recent(&source, now, window) >= self.failures_max * SOURCE_FACTOR {
            return Verdict::Locked;
        }
        let Some(account) = account_key(name) else {
            return Verdict::Check { delay: Duration::ZERO };
        };
        let pair = (account, source);
        if lock(&self.by_account_and_source).recent(&pair, now, window) >= self.failures_max {
            return Verdict::Locked;
        }
        let failures = lock(&self.by_account).recent(&pair.0, now, window);
        Verdict::Check { delay: self.delay_after(failures) }
    }

    /// The window, in whole minutes: a lock lifts within it, as the failures age out.
    pub fn window_minutes(&self) -> u64 {
        self.window_millis.div_ceil(60_000).max(1)
    }

    /// True while `source` may not try `name` (see [`LoginThrottle::verdict`]).
    pub fn is_locked(&self, source: &str, name: &str, now: Millis) -> bool {
        self.verdict(source, name, now) == Verdict::Locked
    }

    /// Counts a failed login of `name` from `source`.
    pub fn failed(&self, source: &str, name: &str, now: Millis) {
        let source = source_key(source);
        let window = self.window_millis;
        if let Some(account) = account_key(name) {
            lock(&self.by_account).failed(account.clone(), now, window);
            lock(&self.by_account_and_source).failed((account, source.clone()), now, window);
        }
        lock(&self.by_source).failed(source, now, window);
    }

    /// A successful login clears the failures of that account from that source (not the
    /// source's, nor the account's delay: those age out).
    pub fn succeeded(&self, source: &str, name: &str) {
        if let Some(account) = account_key(name) {
            lock(&self.by_account_and_source).forget(&(account, source_key(source)));
        }
    }

    /// The delay an account's `failures` (from all sources) impose on each login.
    fn delay_after(&self, failures: usize) -> Duration {
        let Some(doublings) = failures.checked_sub(self.failures_max + 1) else {
            return Duration::ZERO;
        };
        let millis = ACCOUNT_DELAY_STEP_MILLIS.saturating_mul(1u64 << doublings.min(32));
        Duration::from_millis(millis.min(ACCOUNT_DELAY_MAX_MILLIS))
    }
}

/// The account a login names: its address parsed and normalised as the store does, or
/// `None` when the name is no address (no account can have it).
fn account_key(name: &str) -> Option<String> {
    Address::parse(name).ok().map(|address| address.as_str().to_owned())
}

fn source_key(source: &str) -> String {
    let mut end = source.len().min(SOURCE_BYTES_MAX);
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    source[..end].to_owned()
}

/// Recent failures per key, at most `capacity` keys (the least recently failed forgotten
/// first) and at most `kept` failures per key (a count beyond changes nothing).
#[derive(Debug)]
struct Recent<K> {
    entries: HashMap<K, Failures>,
    /// Each key by the stamp of its last failure: the first is the least recent.
    order: BTreeMap<u64, K>,
    next_stamp: u64,
    capacity: usize,
    kept: usize,
}

#[derive(Debug)]
struct Failures {
    stamp: u64,
    at: VecDeque<Millis>,
}

impl<K: Hash + Eq + Clone> Recent<K> {
    fn new(capacity: usize, kept: usize) -> Recent<K> {
        Recent { entries: HashMap::new(), order: BTreeMap::new(), next_stamp: 0, capacity: capacity.max(1), kept }
    }

    /// The failures of `key` within the window before `now`.
    fn recent(&mut self, key: &K, now: Millis, window_millis: u64) -> usize {
        let Some(failures) = self.entries.get_mut(key) else { return 0 };
        age_out(&mut failures.at, now, window_millis);
        failures.at.len()
    }

    fn failed(&mut self, key: K, now: Millis, window_millis: u64) {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        if let Some(failures) = self.entries.get_mut(&key) {
            self.order.remove(&failures.stamp);
            failures.stamp = stamp;
        } else {
            if self.entries.len() >= self.capacity {
                if let Some((_, oldest)) = self.order.pop_first() {
                    self.entries.remove(&oldest);
                }
            }
            self.entries.insert(key.clone(), Failures { stamp, at: VecDeque::new() });
        }
        self.order.insert(stamp, key.clone());
        // Invariant: the entry was found or inserted just above.
        if let Some(failures) = self.entries.get_mut(&key) {
            age_out(&mut failures.at, now, window_millis);
            if failures.at.len() >= self.kept {
                failures.at.pop_front();
            }
            failures.at.push_back(now);
        }
    }

    fn forget(&mut self, key: &K) {
        if let Some(failures) = self.entries.remove(key) {
            self.order.remove(&failures.stamp);
        }
    }
}

fn age_out(failures: &mut VecDeque<Millis>, now: Millis, window_millis: u64) {
    while failures.front().is_some_and(|at| now.0.saturating_sub(at.0) >= window_millis) {
        failures.pop_front();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The tables hold plain timestamps: a panic while holding one leaves nothing unsafe.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
