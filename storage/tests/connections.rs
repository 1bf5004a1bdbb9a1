//! The connection log's promises: sessions that never log in are tallied per minute and
//! address, not logged one by one, and no connection record takes the room a deletion needs.

use caducee_storage::*;
use tokio::task::JoinSet;

const MINUTE: u64 = 60_000;

fn open(dir: &std::path::Path, map_bytes: usize) -> Store {
    Store::open(dir, &StoreOptions { map_bytes, ..StoreOptions::default() }).expect("store opens")
}

fn session(peer: &str, account: Option<&str>, ended_at: u64, outcome: &str) -> ConnectionRecord {
    ConnectionRecord {
        started_at: Millis(ended_at.saturating_sub(5)),
        ended_at: Millis(ended_at),
        protocol: Protocol::Smtp,
        peer: peer.into(),
        account: account.map(str::to_owned),
        outcome: outcome.into(),
        messages: 0,
    }
}

/// Logs every record at once, so that the writer batches them; the refusals, counted.
async fn log_all(store: &Store, records: Vec<ConnectionRecord>) -> usize {
    let mut logging = JoinSet::new();
    for record in records {
        let store = store.clone();
        logging.spawn(async move { store.log_connection(record).await });
    }
    let mut refused = 0;
    while let Some(result) = logging.join_next().await {
        match result.expect("task") {
            Ok(()) => {}
            Err(StoreError::Full) => refused += 1,
            Err(other) => panic!("unexpected refusal: {other}"),
        }
    }
    refused
}

#[tokio::test]
async fn unauthenticated_sessions_from_one_address_in_one_minute_make_one_tally() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 64 << 20);
    let minute = 29_000_000 * MINUTE;
    let n = 1500u64;
    let outcome = |i: u64| if i.is_multiple_of(3) { "timeout" } else { "closed" };
    let silent = (0..n).map(|i| session("192.0.2.7", None, minute + i * 59_999 / n, outcome(i)));
    assert_eq!(log_all(&store, silent.collect()).await, 0);

    let tallies = store.connection_tallies(10).expect("tallies");
    assert_eq!(tallies.len(), 1, "{tallies:?}");
    let tally = &tallies[0];
    assert_eq!((tally.minute, tally.peer.as_str(), tally.sessions), (Millis(minute), "192.0.2.7", n as u32));
    let mut outcomes = tally.outcomes.clone();
    outcomes.sort();
    assert_eq!(outcomes, vec![("closed".to_owned(), 1000), ("timeout".to_owned(), 500)]);
    assert_eq!(store.stats().expect("stats").connection_log_lines, 1);

    // Another address, the next minute and an authenticated session each have a line.
    store.log_connection(session("192.0.2.8", None, minute + 1, "closed")).await.expect("log");
    store.log_connection(session("192.0.2.7", None, minute + MINUTE, "closed")).await.expect("log");
    store.log_connection(session("192.0.2.7", Some("a@relay.test"), minute + 2, "ok")).await.expect("log");
    assert_eq!(store.connection_tallies(10).expect("tallies").len(), 3);
    assert_eq!(store.connections_of("a@relay.test", Millis(0), 10).expect("records").len(), 1);
    let later = Millis(minute + 3);
    assert!(
        store.connections_of("a@relay.test", later, 10).expect("records").is_empty(),
        "an earlier holder's session"
    );
    assert_eq!(store.stats().expect("stats").connection_log_lines, 4);

    // Retention purges tallies like records: the first minute goes, the next stays.
    let purge = Purge {
        connections_before: Millis(minute + MINUTE),
        trails_before: Millis(0),
        audit_before: Millis(0),
        alerts_before: Millis(0),
        sessions_ended_at: Millis(0),
    };
    assert_eq!(store.purge(purge).await.expect("purge").connections, 3);
    let kept = store.connection_tallies(10).expect("tallies");
    assert_eq!(kept.iter().map(|t| t.minute).collect::<Vec<_>>(), vec![Millis(minute + MINUTE)]);
    assert_eq!(store.stats().expect("stats").connection_log_lines, 1);
}

#[tokio::test]
async fn past_the_reserve_connection_records_are_refused_and_an_expunge_still_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 2 MiB: messages fill their share after a few hundred small ones.
    let store = open(dir.path(), 2 << 20);
    let account = NewAccount {
        address: Address::parse("a@relay.test").expect("address"),
        first_name: "Claire".into(),
        last_name: "Martin".into(),
        contact_email: "claire@example.org".into(),
        password_hash: "not-a-real-hash".into(),
        quota_bytes: u64::MAX / 2,
        created_at: Millis(1),
        directory: None,
    };
    let a = store.create_account(account).await.expect("create");
    let sender = Address::parse("b@relay.test").expect("address");
    let mut uids = Vec::new();
    while let Ok((_, accepted)) =
        store.accept(sender.clone(), vec![a], store.seal(vec![b'x'; 3000]).expect("seal"), Millis(2)).await
    {
        uids.extend(accepted);
        assert!(uids.len() < 10_000, "the store never filled");
    }

    // Strangers, each from an address of its own (a tally each), then practices, until the
    // connection log is refused: that happens before the map is full.
    let strangers = (0..2000).map(|i| session(&format!("198.51.{}.{}", i / 250, i % 250), None, 3, "closed"));
    assert!(log_all(&store, strangers.collect()).await > 0, "strangers' tallies are refused past the reserve");
    let practices = || (0..500).map(|_| session("192.0.2.9", Some("a@relay.test"), 4, "ok")).collect();
    let mut rounds = 0;
    while log_all(&store, practices()).await == 0 {
        rounds += 1;
        assert!(rounds < 50, "the connection log was never refused");
    }
    assert!(!store.is_poisoned(), "a refused record is not a failed commit");

    // Every message can still be deleted, one expunge at a time, trails written.
    for uid in &uids {
        store.expunge(a, vec![*uid], Millis(5)).await.expect("an expunge always has room");
    }
    assert_eq!(store.stats().expect("stats").messages, 0);
    store.log_connection(session("192.0.2.9", Some("a@relay.test"), 6, "ok")).await.expect("room again");
    assert!(store.fsck().expect("fsck").is_empty());
}
