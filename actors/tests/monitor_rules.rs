//! The monitor's rules as plain functions of an account, its state and the time.

use caducee_actors::monitor::{
    inactivity_change, quota_change, quota_state_changes, Admission, Breaker, MonitorConfig,
};
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

/// The delivery path asks from the mailbox's figures alone whether its quota state changes;
/// the monitor then judges it with [`quota_change`]. They must agree, or a crossing goes
/// unnoticed.
#[test]
fn the_figures_alone_tell_whether_the_quota_state_changes() {
    let config = MonitorConfig::default();
    for warned in [0, 50, 80, 95, 100] {
        let state = AccountState { quota_warned_percent: warned, ..AccountState::default() };
        for used in (0..=1_100).step_by(10) {
            let judged = quota_change(&account(0, None, used, 1000), &state, at(1), &config).is_some();
            assert_eq!(
                quota_state_changes(used, 1000, &state, &config),
                judged,
                "{used} of 1000 bytes, warned at {warned} %"
            );
        }
    }
    assert!(quota_state_changes(1, 0, &AccountState::default(), &config), "no quota: full");
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
    // Another transaction refused in the same minute is the same burst: no new strike.
    assert!(matches!(breaker.judge_recipients(sender, &to[..1], true, now), Admission::Throttle(_)));
    // A minute later the window reopens; over the limit again, the second strike blocks.
    let later = Millis(now.0 + 61_000);
    assert_eq!(breaker.judge(sender, &to[..1], later), Admission::Admit);
    assert!(matches!(breaker.judge_recipients(sender, &to[..1], true, later), Admission::Blocked(_)));
}

#[test]
fn a_laboratory_retrying_at_once_makes_one_strike_and_is_told_when_to_come_back() {
    let config = MonitorConfig { messages_per_minute: 2, strikes_to_block: 2, ..MonitorConfig::default() };
    let breaker = Breaker::new(&config);
    let (sender, start) = (AccountId(9), at(1));
    let to = addresses(1);
    let after = |millis: u64| Millis(start.0 + millis);
    assert_eq!(breaker.judge(sender, &to, start), Admission::Admit);
    assert_eq!(breaker.judge(sender, &to, after(1_000)), Admission::Admit);
    // Software retries at once, many times within the minute: refused each time, saying
    // when the first message leaves the minute — and never blocked for it.
    for retry in 0..20 {
        let now = after(1_500 + retry * 100);
        let Admission::Throttle(why) = breaker.judge_recipients(sender, &to, true, now) else {
            panic!("retry {retry} is one burst, not a block");
        };
        let left = (60_000 - (1_500 + retry * 100)).div_ceil(1000);
        assert!(why.contains(&format!("at most 2 messages per minute; try again in {left} s")), "{why}");
    }
    // Told when, it comes back then: accepted.
    assert_eq!(breaker.judge(sender, &to, after(60_000)), Admission::Admit);
}

#[test]
fn the_daily_recipient_limit_says_when_a_new_recipient_may_be_written_to() {
    let config = MonitorConfig { distinct_recipients_per_day: 2, ..MonitorConfig::default() };
    let breaker = Breaker::new(&config);
    let (sender, start) = (AccountId(3), at(1));
    let to = addresses(3);
    assert_eq!(breaker.judge(sender, &to[..1], start), Admission::Admit);
    assert_eq!(breaker.judge(sender, &to[1..2], Millis(start.0 + 3_600_000)), Admission::Admit);
    let now = Millis(start.0 + 4 * 3_600_000);
    let Admission::Throttle(why) = breaker.judge_recipients(sender, &to[2..], true, now) else {
        panic!("a third recipient in the day");
    };
    assert!(why.contains("a new recipient in 20 h 0 min"), "{why}");
    // Those already written to today are not refused.
    assert_eq!(breaker.judge(sender, &to[..1], now), Admission::Admit);
}
