//! The monitor's rules as plain functions of an account, its state and the time.

use caducee_actors::monitor::{inactivity_change, quota_change, Admission, Breaker, MonitorConfig};
use caducee_storage::{Account, AccountId, AccountState, Address, DisabledReason, Millis, StateChange, DAY_MILLIS};

fn account(created_day: u64, collected_day: Option<u64>, used: u64, quota: u64) -> Account {
    Account {
        id: AccountId(1),
        address: Address::parse("dr.martin@relay.test").expect("address"),
        first_name: "Anne".into(),
        last_name: "Martin".into(),
        contact_email: "anne@example.org".into(),
        password_hash: String::new(),
        created_at: Millis(created_day * DAY_MILLIS),
        quota_bytes: quota,
        used_bytes: used,
        message_count: 0,
        next_uid: 1,
        last_collection: collected_day.map(|d| Millis(d * DAY_MILLIS)),
        delete_on_retrieve: false,
    }
}

fn at(day: u64) -> Millis {
    Millis(day * DAY_MILLIS + 1)
}

#[test]
fn inactivity_counts_from_the_last_collection_or_from_creation() {
    let config = MonitorConfig::default();
    let fresh = AccountState::default();
    let never_collected = account(100, None, 0, 1);
    assert_eq!(inactivity_change(&never_collected, &fresh, at(129), &config), None);
    let (change, notice) = inactivity_change(&never_collected, &fresh, at(130), &config).expect("day 30");
    assert!(matches!(change, StateChange::InactivityNoticed { .. }));
    let notice = notice.expect("a notice");
    assert_eq!(notice.to, "anne@example.org");
    assert_eq!(notice.kind, "inactivity-notice");
    assert!(notice.body.contains("30") && notice.body.contains("dr.martin@relay.test"));

    // Told once: nothing more until day 60, then reception is disabled.
    let noticed = AccountState { inactivity_noticed_at: Some(at(130)), ..AccountState::default() };
    assert_eq!(inactivity_change(&never_collected, &noticed, at(159), &config), None);
    let (change, notice) = inactivity_change(&never_collected, &noticed, at(160), &config).expect("day 60");
    assert!(matches!(change, StateChange::Disable { reason: DisabledReason::Inactivity, .. }));
    assert_eq!(notice.expect("a notice").kind, "inactivity-disabled");

    // A collection on day 150 moves the count.
    let collected = account(100, Some(150), 0, 1);
    assert_eq!(inactivity_change(&collected, &fresh, at(179), &config), None);
    assert!(inactivity_change(&collected, &fresh, at(180), &config).is_some());

    // Already disabled (or suspended): nothing to add.
    let disabled = AccountState { disabled: Some((DisabledReason::Suspended, at(1))), ..AccountState::default() };
    assert_eq!(inactivity_change(&never_collected, &disabled, at(400), &config), None);
}

#[test]
fn quota_warns_once_per_level_and_resets_when_usage_falls() {
    let config = MonitorConfig { admin_email: Some("admin@example.org".into()), ..MonitorConfig::default() };
    let state = |warned: u8| AccountState { quota_warned_percent: warned, ..AccountState::default() };
    assert!(quota_change(&account(0, None, 790, 1000), &state(0), at(1), &config).is_none());
    let (change, notices) = quota_change(&account(0, None, 800, 1000), &state(0), at(1), &config).expect("80 %");
    assert_eq!(change, StateChange::QuotaWarned { percent: 80 });
    assert_eq!(notices.iter().map(|n| n.kind.as_str()).collect::<Vec<_>>(), ["quota-80"]);
    assert!(quota_change(&account(0, None, 900, 1000), &state(80), at(1), &config).is_none(), "80 % told once");
    let (change, _) = quota_change(&account(0, None, 960, 1000), &state(80), at(1), &config).expect("95 %");
    assert_eq!(change, StateChange::QuotaWarned { percent: 95 });
    let (change, notices) = quota_change(&account(0, None, 1000, 1000), &state(95), at(1), &config).expect("full");
    assert_eq!(change, StateChange::QuotaWarned { percent: 100 });
    let kinds: Vec<&str> = notices.iter().map(|n| n.kind.as_str()).collect();
    assert_eq!(kinds, ["quota-100", "quota-full-alert"]);
    assert_eq!(notices[1].to, "admin@example.org");
    // Collected: below 80 % again, the warnings start afresh (silently).
    let (change, notices) = quota_change(&account(0, None, 100, 1000), &state(100), at(1), &config).expect("reset");
    assert_eq!(change, StateChange::QuotaWarned { percent: 0 });
    assert!(notices.is_empty());
}

fn addresses(count: usize) -> Vec<Address> {
    (0..count).map(|n| Address::parse(&format!("dr.{n}@relay.test")).expect("address")).collect()
}

#[test]
fn recipients_are_judged_at_rcpt_without_counting_the_message() {
    let config = MonitorConfig { messages_per_minute: 2, recipients_per_message: 3, ..MonitorConfig::default() };
    let breaker = Breaker::new(&config);
    let (sender, now) = (AccountId(7), at(1));
    let to = addresses(4);
    // Judging recipients counts nothing: any number of transactions may be opened.
    for _ in 0..5 {
        assert_eq!(breaker.judge_recipients(sender, &to[..1], true, now), Admission::Admit);
    }
    // A fourth recipient is refused as one too many, never as a strike.
    for _ in 0..10 {
        assert!(matches!(breaker.judge_recipients(sender, &to, true, now), Admission::TooManyRecipients(_)));
    }
    assert_eq!(breaker.judge(sender, &to[..3], now), Admission::Admit);
    assert_eq!(breaker.judge(sender, &to[..3], now), Admission::Admit);
    // Two messages in the minute: the next recipient is refused before its data.
    let Admission::Throttle(why) = breaker.judge_recipients(sender, &to[..1], true, now) else {
        panic!("the minute is full");
    };
    assert!(why.contains("2 messages per minute"), "{why}");
}

#[test]
fn one_transaction_is_one_strike_however_many_recipients_it_names() {
    let config = MonitorConfig { messages_per_minute: 1, strikes_to_block: 2, ..MonitorConfig::default() };
    let breaker = Breaker::new(&config);
    let (sender, now) = (AccountId(7), at(1));
    let to = addresses(3);
    assert_eq!(breaker.judge(sender, &to[..1], now), Admission::Admit);
    // The first refused recipient of a transaction strikes; the others of that transaction
    // are refused without striking again.
    assert!(matches!(breaker.judge_recipients(sender, &to[..1], true, now), Admission::Throttle(_)));
    for count in 1..=3 {
        assert!(matches!(breaker.judge_recipients(sender, &to[..count], false, now), Admission::Throttle(_)));
    }
    // The next transaction's refusal is the second strike: blocked.
    assert!(matches!(breaker.judge_recipients(sender, &to[..1], true, now), Admission::Blocked(_)));
}
