//! The personal space's writes that must be one store operation: a second-factor code spent
//! by a compare-and-set, and an account's web sessions ended with the state change that
//! closes or suspends it.

use caducee_storage::*;

fn new_account(address: &str) -> NewAccount {
    NewAccount {
        address: Address::parse(address).expect("valid address"),
        first_name: "Claire".into(),
        last_name: "Martin".into(),
        contact_email: "claire@example.org".into(),
        password_hash: "not-a-real-hash".into(),
        quota_bytes: DEFAULT_QUOTA_BYTES,
        created_at: Millis(1),
        directory: None,
    }
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, &StoreOptions { map_bytes: 64 << 20, ..StoreOptions::default() }).expect("store opens")
}

fn session(account: AccountId) -> WebSession {
    WebSession {
        account,
        created_at: Millis(1),
        last_seen: Millis(1),
        csrf: "csrf".into(),
        second_factor_pending: false,
        source: "127.0.0.1".into(),
    }
}

#[tokio::test]
async fn two_requests_spending_one_totp_code_at_once_pass_only_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let claire = store.create_account(new_account("claire@relay.test")).await.expect("create");
    let read = store.portal(claire).expect("record");
    let spent = PortalRecord { totp_last_step: 57_000_000, ..read.clone() };
    let (first, second) = tokio::join!(
        store.swap_portal(claire, read.clone(), spent.clone(), None),
        store.swap_portal(claire, read.clone(), spent.clone(), None),
    );
    let written = [first.expect("swap"), second.expect("swap")];
    assert_eq!(written.iter().filter(|w| **w).count(), 1, "one of two requests with one code passes: {written:?}");
    assert_eq!(store.portal(claire).expect("record").totp_last_step, 57_000_000);
    // Read before the code was spent: refused, nothing written.
    let again = PortalRecord { totp_last_step: 57_000_001, ..read.clone() };
    assert!(!store.swap_portal(claire, read, again, None).await.expect("swap"));
    assert_eq!(store.portal(claire).expect("record").totp_last_step, 57_000_000);
}

#[tokio::test]
async fn closing_or_suspending_an_account_ends_its_web_sessions_in_the_same_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let claire = store.create_account(new_account("claire@relay.test")).await.expect("create");
    let other = store.create_account(new_account("other@relay.test")).await.expect("create");
    store.put_session([1u8; 32], Some(session(claire))).await.expect("session");
    store.put_session([2u8; 32], Some(session(other))).await.expect("session");

    let suspend = StateChange::Disable { reason: DisabledReason::Suspended, at: Millis(2) };
    store.update_state(claire, suspend, None).await.expect("suspend");
    assert!(store.session(&[1u8; 32]).expect("read").is_none(), "suspended: the session ended");
    assert!(store.session(&[2u8; 32]).expect("read").is_some(), "another account's session is left alone");

    store.update_state(claire, StateChange::Enable, None).await.expect("enable");
    store.put_session([3u8; 32], Some(session(claire))).await.expect("session");
    let inactive = StateChange::Disable { reason: DisabledReason::Inactivity, at: Millis(3) };
    store.update_state(claire, inactive, None).await.expect("inactivity");
    assert!(store.session(&[3u8; 32]).expect("read").is_some(), "inactivity leaves the door open to collect");

    store.update_state(claire, StateChange::Close { at: Millis(4) }, None).await.expect("close");
    assert!(store.session(&[3u8; 32]).expect("read").is_none(), "closed: the session ended");
    assert!(store.session(&[2u8; 32]).expect("read").is_some());
}
