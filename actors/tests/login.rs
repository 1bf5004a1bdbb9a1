//! The login throttle every door shares: one count per account whatever the spelling of
//! its name, a lock per account and source address (a stranger cannot lock the practice
//! out), a capped slow-down for the account as a whole, and bounded tables.

use std::time::Duration;

use caducee_actors::throttle::{LoginThrottle, Verdict, ACCOUNT_DELAY_MAX_MILLIS, ACCOUNT_DELAY_STEP_MILLIS};
use caducee_storage::Millis;

fn at(seconds: u64) -> Millis {
    Millis(seconds * 1000)
}

#[test]
fn variants_of_one_name_share_one_count() {
    let throttle = LoginThrottle::new(10, 900);
    let variants =
        [" alice@relay.test", "alice@relay.test\t", "ALICE@relay.test", "Alice@Relay.Test ", "\talice@RELAY.test"];
    for (n, name) in variants.iter().cycle().take(10).enumerate() {
        assert!(!throttle.is_locked("10.0.0.9", "alice@relay.test", at(n as u64)), "locked after {n}");
        throttle.failed("10.0.0.9", name, at(n as u64));
    }
    assert!(throttle.is_locked("10.0.0.9", "alice@relay.test", at(10)), "10 failures under 5 spellings lock");
    assert!(throttle.is_locked("10.0.0.9", " ALICE@relay.test ", at(10)));
}

#[test]
fn a_stranger_locks_only_himself_out_and_the_account_is_slowed_not_locked() {
    let throttle = LoginThrottle::new(10, 900);
    for s in 0..30 {
        throttle.failed("203.0.113.7", "cabinet@relay.test", at(s));
    }
    assert_eq!(throttle.verdict("203.0.113.7", "cabinet@relay.test", at(30)), Verdict::Locked);
    match throttle.verdict("192.0.2.10", "cabinet@relay.test", at(30)) {
        Verdict::Check { delay } => {
            assert!(delay > Duration::ZERO, "the account as a whole is slowed");
            assert!(delay <= Duration::from_millis(ACCOUNT_DELAY_MAX_MILLIS), "capped: {delay:?}");
        }
        Verdict::Locked => panic!("the practice's own machine is locked out by a stranger"),
    }
    // The stranger's source is not locked for other accounts before five times as many.
    assert!(!throttle.is_locked("203.0.113.7", "other@relay.test", at(30)));
}

#[test]
fn the_account_delay_grows_with_failures_from_all_sources_and_is_capped() {
    let throttle = LoginThrottle::new(3, 900);
    let delay = |now| match throttle.verdict("192.0.2.10", "cabinet@relay.test", now) {
        Verdict::Check { delay } => delay,
        Verdict::Locked => panic!("locked"),
    };
    for s in 0..3 {
        throttle.failed(&format!("203.0.113.{s}"), "cabinet@relay.test", at(s));
    }
    assert_eq!(delay(at(3)), Duration::ZERO, "failures_max failures cost nothing yet");
    throttle.failed("203.0.113.50", "cabinet@relay.test", at(3));
    assert_eq!(delay(at(4)), Duration::from_millis(ACCOUNT_DELAY_STEP_MILLIS));
    for s in 4..40 {
        throttle.failed(&format!("198.51.100.{s}"), "cabinet@relay.test", at(s));
    }
    assert_eq!(delay(at(40)), Duration::from_millis(ACCOUNT_DELAY_MAX_MILLIS));
    assert_eq!(delay(at(40 + 900)), Duration::ZERO, "failures age out of the window");
}

#[test]
fn a_source_is_locked_for_all_after_five_times_as_many_failures() {
    let throttle = LoginThrottle::new(3, 60);
    for s in 0..15 {
        throttle.failed("10.0.0.1", &format!("user{s}@relay.test"), at(s));
    }
    assert!(throttle.is_locked("10.0.0.1", "b@relay.test", at(15)), "15 failures lock the source for all");
    assert!(!throttle.is_locked("10.0.0.2", "b@relay.test", at(15)));
    assert!(!throttle.is_locked("10.0.0.1", "b@relay.test", at(15 + 60)), "failures age out");
}

#[test]
fn a_success_clears_that_source_s_failures_for_the_account() {
    let throttle = LoginThrottle::new(3, 60);
    for s in 0..3 {
        throttle.failed("10.0.0.3", "c@relay.test", at(s));
    }
    assert!(throttle.is_locked("10.0.0.3", "c@relay.test", at(3)));
    throttle.succeeded("10.0.0.3", "C@relay.test ");
    assert!(!throttle.is_locked("10.0.0.3", "c@relay.test", at(3)));
}

#[test]
fn names_that_are_no_address_count_against_their_source_only_and_keys_stay_small() {
    let throttle = LoginThrottle::new(2, 60);
    let huge = format!("cn={},ou=directory", "x".repeat(64 * 1024));
    throttle.failed("10.0.0.4", &huge, at(0));
    throttle.failed("10.0.0.4", &huge, at(1));
    assert!(!throttle.is_locked("10.0.0.4", &huge, at(2)), "no account behind the name: nothing to lock");
    for s in 2..10 {
        throttle.failed("10.0.0.4", &huge, at(s));
    }
    assert!(throttle.is_locked("10.0.0.4", "d@relay.test", at(10)), "the source pays for them");
    let long_source = "f".repeat(100_000);
    throttle.failed(&long_source, "d@relay.test", at(10));
    throttle.failed(&long_source, "d@relay.test", at(11));
    assert!(throttle.is_locked(&long_source[..64], "d@relay.test", at(12)), "a source key is cut to its bound");
}

#[test]
fn the_tables_forget_the_least_recently_failed_beyond_their_capacity() {
    let throttle = LoginThrottle::with_capacity(2, 900, 3);
    throttle.failed("10.0.0.1", "a@relay.test", at(0));
    throttle.failed("10.0.0.1", "a@relay.test", at(1));
    assert!(throttle.is_locked("10.0.0.1", "a@relay.test", at(2)));
    // Three other pairs fail after it: the least recently failed, (a, 10.0.0.1), goes.
    for (n, name) in ["b@relay.test", "c@relay.test", "d@relay.test"].iter().enumerate() {
        throttle.failed(&format!("10.0.1.{n}"), name, at(3 + n as u64));
    }
    assert!(!throttle.is_locked("10.0.0.1", "a@relay.test", at(6)), "forgotten beyond the capacity");
    // Touched again, a key moves to the back and stays while newer ones come and go.
    throttle.failed("10.0.0.5", "e@relay.test", at(7));
    throttle.failed("10.0.0.5", "e@relay.test", at(8));
    throttle.failed("10.0.0.6", "f@relay.test", at(9));
    throttle.failed("10.0.0.5", "e@relay.test", at(10));
    throttle.failed("10.0.0.7", "g@relay.test", at(11));
    throttle.failed("10.0.0.8", "h@relay.test", at(12));
    assert!(throttle.is_locked("10.0.0.5", "e@relay.test", at(13)), "e failed more recently than f");
}
