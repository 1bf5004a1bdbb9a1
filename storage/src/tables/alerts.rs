//! Alerts for the administrator: filed with the state change they report (or by the relay
//! for a failed backup or drill), counted as repeats while open, acknowledged with who did
//! it, and purged after retention once acknowledged.

use heed::{RoTxn, RwTxn};

use super::audit;
use crate::counters::Counters;
use crate::schema::{decode, seq_key, Tables};
use crate::types::*;
use crate::StoreError;

/// How many of the newest alerts a new one is compared with before it is filed as new.
const ALERTS_SCANNED_MAX: usize = 1000;

/// Every alert, oldest first.
pub(crate) fn all(t: &Tables, txn: &RoTxn<'_>) -> Result<Vec<Alert>, StoreError> {
    super::values(t.alerts, txn)
}

/// Files an alert, or counts a repeat of the same kind and subject while one is open. Open
/// alerts are few (the administrator acknowledges them): the newest are looked at first.
pub(crate) fn raise(t: &Tables, txn: &mut RwTxn, alert: &Alert, counters: &mut Counters) -> Result<(), StoreError> {
    let mut open = None;
    for item in t.alerts.rev_iter(txn)?.take(ALERTS_SCANNED_MAX) {
        let (key, bytes) = item?;
        let existing: Alert = decode(bytes)?;
        if existing.acknowledged_at.is_none() && existing.kind == alert.kind && existing.subject == alert.subject {
            open = Some((key.to_vec(), existing));
            break;
        }
    }
    match open {
        Some((key, mut existing)) => {
            existing.repeats = existing.repeats.saturating_add(1);
            existing.last_raised_at = alert.raised_at;
            existing.text.clone_from(&alert.text);
            super::put(t.alerts, txn, &key, &existing)
        }
        None => {
            let seq = counters.take_filing();
            let mut alert = alert.clone();
            alert.seq = seq;
            super::put(t.alerts, txn, &seq_key(seq), &alert)
        }
    }
}

/// Acknowledges an open alert, by `by`, at the audit entry's time.
pub(crate) fn acknowledge(
    t: &Tables,
    txn: &mut RwTxn,
    seq: u64,
    by: &str,
    audit: &AuditDraft,
) -> Result<(), StoreError> {
    let Some(mut alert) = super::get::<Alert>(t.alerts, txn, &seq_key(seq))? else {
        return Err(StoreError::Refused(format!("no alert {seq}")));
    };
    if alert.acknowledged_at.is_some() {
        return Err(StoreError::Refused(format!("alert {seq} is acknowledged already")));
    }
    alert.acknowledged_at = Some(audit.at);
    alert.acknowledged_by = Some(by.to_owned());
    super::put(t.alerts, txn, &seq_key(seq), &alert)?;
    audit::append(t, txn, audit)
}

/// Removes alerts acknowledged before `before` (open ones stay, however old); returns how
/// many. Alerts are few: a scan.
pub(crate) fn purge_acknowledged_before(t: &Tables, txn: &mut RwTxn, before: Millis) -> Result<u64, StoreError> {
    let mut doomed = Vec::new();
    for item in t.alerts.iter(txn)? {
        let (key, bytes) = item?;
        let alert: Alert = decode(bytes)?;
        if alert.acknowledged_at.is_some_and(|at| at < before) {
            doomed.push(key.to_vec());
        }
    }
    for key in &doomed {
        t.alerts.delete(txn, key)?;
    }
    Ok(doomed.len() as u64)
}
