//! What a connection must get past before it is served: a slot, and the rate of its
//! address.
//!
//! **Slots.** Each pool (mail, and LDAP apart) bounds the connections open at once, per
//! source address and in all. Of the mail pool's `total_max` slots, `reserved` are kept for
//! sessions that logged in: connections that have not logged in hold at most
//! `total_max − reserved` slots between them, and a session leaves that share for the
//! reserved one when it logs in (it keeps its slot; only the count it belongs to changes).
//! Clients that connect and never log in therefore cannot crowd out sessions at work; the
//! session's lifetime and command budget before login (`caducee_actors::session`) bound
//! how long each of them holds its slot.
//!
//! **Rate.** [`ConnectionRate`] lets each source address open `per_minute` connections a
//! minute, with bursts of as many: a token bucket per address, in a map of at most
//! [`RATE_ADDRESSES_MAX`] addresses. When the map is full, the addresses whose bucket has
//! refilled are forgotten; an address that still finds no room is let through untracked
//! (the slots still bound it) rather than refused for others' traffic.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its address holds as many connections as it may.
    Address,
    /// The pool is full (for sessions not logged in, or in all).
    Busy,
    /// Its address opened too many connections lately; a token comes back after this long.
    Rate(Duration),
}

/// Connection slots: a bound per source address, one for sessions not logged in, and one
/// overall.
#[derive(Debug)]
pub(super) struct Slots {
    per_ip_max: usize,
    total_max: usize,
    /// Slots only sessions that logged in may hold.
    reserved: usize,
    used: Mutex<Used>,
}

#[derive(Debug, Default)]
struct Used {
    total: usize,
    before_login: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// A taken slot; frees itself on drop.
#[derive(Debug)]
pub(super) struct Slot {
    ip: IpAddr,
    slots: Arc<Slots>,
    before_login: bool,
}

impl Slots {
    /// `reserved` is capped so that at least one slot is open to new connections.
    pub(super) fn new(per_ip_max: usize, total_max: usize, reserved: usize) -> Self {
        let reserved = reserved.min(total_max.saturating_sub(1));
        Slots { per_ip_max, total_max, reserved, used: Mutex::new(Used::default()) }
    }

    /// Takes a slot for a new connection from `ip`, which has not logged in.
    pub(super) fn take(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        let mut used = self.used.lock().map_err(|_| Refusal::Busy)?;
        let Used { total, before_login, per_ip } = &mut *used;
        if *total >= self.total_max || *before_login >= self.total_max - self.reserved {
            return Err(Refusal::Busy);
        }
        let count = per_ip.entry(ip).or_default();
        if *count >= self.per_ip_max {
            return Err(Refusal::Address);
        }
        *count += 1;
        *total += 1;
        *before_login += 1;
        Ok(Slot { ip, slots: self.clone(), before_login: true })
    }
}

impl Slot {
    /// The session logged in: its slot now counts among the reserved share.
    pub(super) fn logged_in(&mut self) {
        if !self.before_login {
            return;
        }
        self.before_login = false;
        if let Ok(mut used) = self.slots.used.lock() {
            used.before_login -= 1;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut used) = self.slots.used.lock() {
            let Used { total, before_login, per_ip } = &mut *used;
            *total -= 1;
            if self.before_login {
                *before_login -= 1;
            }
            if let Some(count) = per_ip.get_mut(&self.ip) {
                *count -= 1;
                if *count == 0 {
                    per_ip.remove(&self.ip);
                }
            }
        }
    }
}

/// Source addresses whose connection rate is tracked at once.
pub(super) const RATE_ADDRESSES_MAX: usize = 65_536;

/// New connections per source address: a token bucket each.
#[derive(Debug)]
pub(crate) struct ConnectionRate {
    /// Connections a minute, and the burst allowed; 0 turns the limit off.
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl ConnectionRate {
    pub(crate) fn new(per_minute: u32) -> Self {
        ConnectionRate { per_minute, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a token for a new connection from `ip` at `now`, or says when one comes back.
    pub(crate) fn admit(&self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= RATE_ADDRESSES_MAX && !buckets.contains_key(&ip) {
            buckets.retain(|_, bucket| refilled(*bucket, now, per_second, capacity) < capacity);
            if buckets.len() >= RATE_ADDRESSES_MAX {
                return Ok(());
            }
        }
        let bucket = buckets.entry(ip).or_insert(Bucket { tokens: capacity, at: now });
        let tokens = refilled(*bucket, now, per_second, capacity);
        if tokens < 1.0 {
            *bucket = Bucket { tokens, at: now };
            return Err(Refusal::Rate(Duration::from_secs_f64((1.0 - tokens) / per_second)));
        }
        *bucket = Bucket { tokens: tokens - 1.0, at: now };
        Ok(())
    }
}

/// The bucket's tokens at `now`.
fn refilled(bucket: Bucket, now: Instant, per_second: f64, capacity: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * per_second).min(capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn sessions_not_logged_in_leave_the_reserved_slots_free() {
        let slots = Arc::new(Slots::new(8, 3, 1));
        let mut first = slots.take(A).expect("first");
        let second = slots.take(B).expect("second");
        assert_eq!(
            slots.take(B).expect_err("full before login"),
            Refusal::Busy,
            "two slots for sessions not logged in"
        );
        first.logged_in();
        let _third = slots.take(A).expect("the login freed a slot before login");
        assert_eq!(slots.take(A).expect_err("full"), Refusal::Busy, "three in all");
        drop(first);
        assert_eq!(slots.take(A).expect_err("still two before login"), Refusal::Busy);
        drop(second);
        let _fourth = slots.take(A).expect("a slot freed on drop");
    }

    #[test]
    fn one_address_holds_at_most_its_share() {
        let slots = Arc::new(Slots::new(1, 10, 0));
        let held = slots.take(A).expect("first");
        assert_eq!(slots.take(A).expect_err("the address is full"), Refusal::Address);
        let _other = slots.take(B).expect("another address");
        drop(held);
        let _again = slots.take(A).expect("freed");
    }

    #[test]
    fn the_rate_refuses_past_the_burst_and_refills() {
        let rate = ConnectionRate::new(3);
        let start = Instant::now();
        for _ in 0..3 {
            rate.admit(A, start).expect("within the burst");
        }
        let Err(Refusal::Rate(wait)) = rate.admit(A, start) else { panic!("the fourth is refused") };
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20), "{wait:?}");
        rate.admit(B, start).expect("another address has its own bucket");
        rate.admit(A, start + Duration::from_secs(20)).expect("a token came back");
        assert!(ConnectionRate::new(0).admit(A, start).is_ok(), "0 turns the limit off");
    }
}
