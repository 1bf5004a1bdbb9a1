//! Passwords verified a moment ago, remembered for a few minutes so that a client that logs
//! in for every message — practice software often does — pays argon2id (about 17 ms of CPU
//! and 19 MiB) once, not at every connection.
//!
//! Memory only, never written anywhere. An entry is an HMAC-SHA256, under a key made at
//! start, of the account's stored password hash and the password: nothing here turns back
//! into a password, and a changed password (a new stored hash) can never meet an old entry.
//! Only successes are remembered — a wrong password always runs the full check, and the
//! throttle is asked before either — and whether the account may log in (closed,
//! suspended) is still read from the store at every login ([`crate::login::login_allowed`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ring::hmac;

/// How long a verified password is remembered.
pub const REMEMBERED_FOR: Duration = Duration::from_secs(300);
/// Most entries kept; past it, the expired ones go, then the oldest.
const CAPACITY: usize = 16_384;

/// The remembered verifications.
pub struct RememberedLogins {
    key: hmac::Key,
    /// Entry → when it was verified.
    entries: Mutex<HashMap<[u8; 32], Instant>>,
}

impl std::fmt::Debug for RememberedLogins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RememberedLogins").field("entries", &self.lock().len()).finish()
    }
}

impl Default for RememberedLogins {
    fn default() -> Self {
        Self::new()
    }
}

impl RememberedLogins {
    pub fn new() -> RememberedLogins {
        use ring::rand::SecureRandom as _;
        let mut secret = [0u8; 32];
        // A failing system generator leaves a key of zeros: entries are then guessable only
        // by someone who already holds both the stored hash and the password.
        let _ = ring::rand::SystemRandom::new().fill(&mut secret);
        RememberedLogins { key: hmac::Key::new(hmac::HMAC_SHA256, &secret), entries: Mutex::new(HashMap::new()) }
    }

    fn entry(&self, stored_hash: &str, password: &str) -> [u8; 32] {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(stored_hash.as_bytes());
        context.update(&[0]);
        context.update(password.as_bytes());
        let mut entry = [0u8; 32];
        entry.copy_from_slice(context.sign().as_ref());
        entry
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Instant>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `password` was verified against `stored_hash` within [`REMEMBERED_FOR`].
    pub fn remembers(&self, stored_hash: &str, password: &str, now: Instant) -> bool {
        let entry = self.entry(stored_hash, password);
        self.lock().get(&entry).is_some_and(|at| now.saturating_duration_since(*at) < REMEMBERED_FOR)
    }

    /// Remembers that `password` matched `stored_hash` at `now`.
    pub fn remember(&self, stored_hash: &str, password: &str, now: Instant) {
        let entry = self.entry(stored_hash, password);
        let mut entries = self.lock();
        if entries.len() >= CAPACITY && !entries.contains_key(&entry) {
            entries.retain(|_, at| now.saturating_duration_since(*at) < REMEMBERED_FOR);
            if entries.len() >= CAPACITY {
                if let Some(oldest) = entries.iter().min_by_key(|(_, at)| **at).map(|(e, _)| *e) {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(entry, now);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_password_is_remembered_for_minutes_and_only_with_its_stored_hash() {
        let remembered = RememberedLogins::new();
        let start = Instant::now();
        assert!(!remembered.remembers("$argon2id$one", "secret", start));
        remembered.remember("$argon2id$one", "secret", start);
        assert!(remembered.remembers("$argon2id$one", "secret", start + Duration::from_secs(299)));
        assert!(!remembered.remembers("$argon2id$one", "Secret", start), "another password");
        assert!(!remembered.remembers("$argon2id$two", "secret", start), "the password was changed");
        assert!(!remembered.remembers("$argon2id$one", "secret", start + REMEMBERED_FOR), "forgotten");
        // The separator keeps hash and password apart: "ab" + "c" is not "a" + "bc".
        remembered.remember("ab", "c", start);
        assert!(!remembered.remembers("a", "bc", start));
    }

    #[test]
    fn past_its_capacity_the_expired_then_the_oldest_go() {
        let remembered = RememberedLogins::new();
        let start = Instant::now();
        for i in 0..CAPACITY {
            remembered.remember("hash", &i.to_string(), start + Duration::from_millis(i as u64));
        }
        let later = start + Duration::from_millis(CAPACITY as u64);
        remembered.remember("hash", "new", later);
        assert_eq!(remembered.len(), CAPACITY);
        assert!(!remembered.remembers("hash", "0", later), "the oldest went");
        assert!(remembered.remembers("hash", "1", later) && remembered.remembers("hash", "new", later));
    }
}
