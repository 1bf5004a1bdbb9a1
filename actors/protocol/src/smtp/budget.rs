//! The relay-wide budget for message content held in memory.
//!
//! Every session keeps the message it is receiving in memory until the store has it on
//! disk, and a message is copied a few times on the way (received, traced, sealed). One
//! [`InFlight`] is shared by every session: a transaction reserves its bytes as they
//! arrive (or the whole declared `SIZE` at `MAIL`), and a [`Reservation`] gives them back
//! when it is dropped — once the message is committed, refused, reset or the session ends.
//! When the budget is used up, the machine answers `452 4.3.1` and the client tries later.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes of message content held in memory by every session together, bounded. Cloning
/// shares the same budget.
#[derive(Debug, Clone)]
pub struct InFlight {
    shared: Arc<Budget>,
}

#[derive(Debug)]
struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl InFlight {
    /// A budget of `limit_bytes` shared by every clone.
    pub fn new(limit_bytes: u64) -> Self {
        InFlight { shared: Arc::new(Budget { limit: limit_bytes, used: AtomicU64::new(0) }) }
    }

    /// A budget that never runs out (a machine used on its own, in tests and benches).
    pub fn unlimited() -> Self {
        InFlight::new(u64::MAX)
    }

    /// The budget's size in bytes.
    pub fn limit(&self) -> u64 {
        self.shared.limit
    }

    /// Bytes reserved now, by every session together.
    pub fn used(&self) -> u64 {
        self.shared.used.load(Ordering::Acquire)
    }

    /// Reserves `bytes`, or `None` when the budget has not that much room left.
    pub fn reserve(&self, bytes: u64) -> Option<Reservation> {
        let mut reservation = Reservation { budget: self.clone(), bytes: 0 };
        reservation.grow_to(bytes).then_some(reservation)
    }

    fn take(&self, bytes: u64) -> bool {
        let limit = self.shared.limit;
        self.shared
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= limit)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: u64) {
        self.shared.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// Bytes one transaction holds of an [`InFlight`] budget; given back on drop.
pub struct Reservation {
    budget: InFlight,
    bytes: u64,
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Holds at least `total` bytes: takes the difference from the budget. False, and
    /// nothing changed, when the budget has not that much room left.
    pub fn grow_to(&mut self, total: u64) -> bool {
        if total <= self.bytes {
            return true;
        }
        let more = total - self.bytes;
        if !self.budget.take(more) {
            return false;
        }
        self.bytes = total;
        true
    }

    /// Gives every byte held back to the budget (the content was dropped).
    pub fn release(&mut self) {
        self.budget.give_back(std::mem::take(&mut self.bytes));
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.release();
    }
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation").field("bytes", &self.bytes).finish()
    }
}

/// Two reservations are alike when they hold as many bytes (for comparing effects).
impl PartialEq for Reservation {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::InFlight;

    #[test]
    fn reservations_are_bounded_and_given_back() {
        let budget = InFlight::new(100);
        let mut first = budget.reserve(60).expect("room for 60");
        assert!(budget.reserve(50).is_none(), "60 + 50 is over 100");
        assert!(!first.grow_to(101));
        assert_eq!(first.bytes(), 60, "a failed growth changes nothing");
        assert!(first.grow_to(100));
        assert_eq!(budget.used(), 100);
        drop(first);
        assert_eq!(budget.used(), 0);
        let mut second = budget.reserve(40).expect("room again");
        second.release();
        assert_eq!(budget.used(), 0);
        assert!(budget.reserve(100).is_some());
    }
}
