//! Retention: what a purge removes, family by family, in one transaction.

use heed::RwTxn;

use super::{alerts, audit, connections, trails};
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
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Purged {
    pub connections: u64,
    pub trails: u64,
    pub audit_entries: u64,
    pub alerts: u64,
}

pub(crate) fn purge(t: &Tables, txn: &mut RwTxn, purge: &Purge) -> Result<Purged, StoreError> {
    Ok(Purged {
        connections: connections::purge_before(t, txn, purge.connections_before)?,
        trails: trails::purge_before(t, txn, purge.trails_before)?,
        audit_entries: audit::purge_before(t, txn, purge.audit_before)?,
        alerts: alerts::purge_acknowledged_before(t, txn, purge.alerts_before)?,
    })
}
