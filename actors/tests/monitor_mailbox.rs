//! The monitor's bounded mailbox: under a flood its producers drop and count metrics
//! events, while a state change still lands.

use std::sync::Arc;

use caducee_actors::clock::ManualClock;
use caducee_actors::monitor::{self, Breaker, MonitorConfig, QuotaRefused, Refused, RenderMetrics};
use caducee_storage::{Address, Millis, NewAccount, Store, StoreOptions};

#[actix_rt::test]
async fn a_full_mailbox_drops_and_counts_metrics_events_but_never_a_state_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Store::open(dir.path(), &StoreOptions { map_bytes: 64 << 20, ..StoreOptions::default() }).expect("store opens");
    let address = Address::parse("dr.martin@relay.test").expect("address");
    let account = store
        .create_account(NewAccount {
            address: address.clone(),
            first_name: "Anne".into(),
            last_name: "Martin".into(),
            contact_email: "anne@example.org".into(),
            password_hash: "not-a-real-hash".into(),
            quota_bytes: 1000,
            created_at: Millis(1),
            directory: None,
        })
        .await
        .expect("account");
    let config = MonitorConfig::default();
    let breaker = Arc::new(Breaker::new(&config));
    let monitor = monitor::start(store.clone(), Arc::new(ManualClock::new(Millis(2))), config, breaker);

    // The monitor shares this thread and the loop never yields: nothing leaves its mailbox,
    // so everything past its capacity finds it full.
    let flood = monitor::MONITOR_MAILBOX_CAPACITY + 100;
    for _ in 0..flood {
        monitor.record(Refused { reason: "flood" });
    }
    assert_eq!(monitor.events_dropped(), 100);

    // A state change meets the same full mailbox: it waits for room instead, and lands.
    monitor.tell(QuotaRefused { recipient: address.clone() }).await;
    assert_eq!(store.account_state(account).expect("state").quota_warned_percent, 100);
    let alerts = store.alerts().expect("alerts");
    assert!(alerts.iter().any(|alert| alert.kind == "quota-full" && alert.subject == address.as_str()), "{alerts:?}");

    // What found room was counted; what did not is on /metrics.
    let metrics = monitor.addr().send(RenderMetrics).await.expect("metrics");
    let refused =
        format!("caducee_submissions_refused_total{{reason=\"flood\"}} {}", monitor::MONITOR_MAILBOX_CAPACITY);
    assert!(metrics.contains(&refused), "{metrics}");
    assert!(metrics.contains("caducee_monitor_events_dropped_total 100"), "{metrics}");
}
