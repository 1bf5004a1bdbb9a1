//! Retention: what a purge removes, family by family, in one transaction.

use heed::RwTxn;

use super::{alerts, audit, connections, portal, trails};
use crate::schema::Tables;
use crate::types::Millis;
use crate::StoreError;

/// What retention removes: connection records ended before `connections_before`, trails of
/// erased messages accepted before `trails_before`, audit entries made before
/// `audit_before` (the chain keeps a checkpoint).
#[derive(Debug, Clone, Copy)]
pub struct Purge {
    pub connections_before: Millis,
    pub trails_before: Millis,
    pub audit_before: Millis,
    /// Alerts acknowledged before this go (open ones stay, however old).
    pub alerts_before: Millis,
    /// Web sessions ended at this time go (unused or past their lifetime; see
    /// [`portal::web_session_ended`]); live ones stay.
    pub sessions_ended_at: Millis,
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Purged {
    pub connections: u64,
    pub trails: u64,
    pub audit_entries: u64,
    pub alerts: u64,
    /// Ended web sessions of the personal space.
    #[serde(default)]
    pub sessions: u64,
}

pub(crate) fn purge(t: &Tables, txn: &mut RwTxn, purge: &Purge) -> Result<Purged, StoreError> {
    Ok(Purged {
        connections: connections::purge_before(t, txn, purge.connections_before)?,
        trails: trails::purge_before(t, txn, purge.trails_before)?,
        audit_entries: audit::purge_before(t, txn, purge.audit_before)?,
        alerts: alerts::purge_acknowledged_before(t, txn, purge.alerts_before)?,
        sessions: portal::purge_ended_sessions(t, txn, purge.sessions_ended_at)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Address, NewAccount, Store, StoreOptions, WebSession, DEFAULT_QUOTA_BYTES, WEB_SESSION_IDLE_MILLIS,
        WEB_SESSION_LIFETIME_MILLIS,
    };

    fn session(account: crate::AccountId, created_at: u64, last_seen: u64) -> WebSession {
        WebSession {
            account,
            created_at: Millis(created_at),
            last_seen: Millis(last_seen),
            csrf: "csrf".into(),
            second_factor_pending: false,
            source: "127.0.0.1".into(),
        }
    }

    #[tokio::test]
    async fn a_purge_removes_ended_web_sessions_and_keeps_live_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), &StoreOptions { map_bytes: 64 << 20, ..StoreOptions::default() })
            .expect("store opens");
        let account = store
            .create_account(NewAccount {
                address: Address::parse("anne@relay.test").expect("address"),
                first_name: "Anne".into(),
                last_name: "Martin".into(),
                contact_email: "anne@example.org".into(),
                password_hash: "not-a-real-hash".into(),
                quota_bytes: DEFAULT_QUOTA_BYTES,
                created_at: Millis(1),
                directory: None,
            })
            .await
            .expect("account");
        let now = 100 * WEB_SESSION_LIFETIME_MILLIS;
        let idle = [1; 32];
        let too_old = [2; 32];
        let live = [3; 32];
        store
            .put_session(
                idle,
                Some(session(account, now - 60_000 - WEB_SESSION_IDLE_MILLIS, now - 60_000 - WEB_SESSION_IDLE_MILLIS)),
            )
            .await
            .expect("put");
        store
            .put_session(too_old, Some(session(account, now - WEB_SESSION_LIFETIME_MILLIS - 1, now - 1)))
            .await
            .expect("put");
        store.put_session(live, Some(session(account, now - 60_000, now - 60_000))).await.expect("put");
        let far_past = Millis(0);
        let purged = store
            .purge(Purge {
                connections_before: far_past,
                trails_before: far_past,
                audit_before: far_past,
                alerts_before: far_past,
                sessions_ended_at: Millis(now),
            })
            .await
            .expect("purge");
        assert_eq!(purged.sessions, 2);
        assert_eq!(store.session(&idle).expect("read"), None, "unused too long");
        assert_eq!(store.session(&too_old).expect("read"), None, "past its lifetime");
        assert!(store.session(&live).expect("read").is_some(), "a live session stays");
    }
}
