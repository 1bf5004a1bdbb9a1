//! The connection log: one record per SMTP or POP3 session, in the order sessions ended;
//! never content or secrets.

use heed::{RoTxn, RwTxn};

use crate::counters::Counters;
use crate::schema::{decode, seq_key, Tables};
use crate::types::*;
use crate::StoreError;

/// The connection log, oldest first, at most `limit` lines from the end.
pub(crate) fn tail(t: &Tables, txn: &RoTxn<'_>, limit: usize) -> Result<Vec<ConnectionRecord>, StoreError> {
    let mut lines = Vec::new();
    for item in t.connections.rev_iter(txn)?.take(limit) {
        let (_, bytes) = item?;
        lines.push(decode(bytes)?);
    }
    lines.reverse();
    Ok(lines)
}

/// One account's records, newest first, at most `limit`.
pub(crate) fn of(
    t: &Tables,
    txn: &RoTxn<'_>,
    address: &str,
    limit: usize,
) -> Result<Vec<ConnectionRecord>, StoreError> {
    super::newest_matching(t.connections, txn, limit, |record: &ConnectionRecord| {
        record.account.as_deref() == Some(address)
    })
}

pub(crate) fn log(
    t: &Tables,
    txn: &mut RwTxn,
    record: &ConnectionRecord,
    counters: &mut Counters,
) -> Result<(), StoreError> {
    let seq = counters.next_log;
    counters.next_log += 1;
    super::put(t.connections, txn, &seq_key(seq), record)
}

/// Removes the records of sessions ended before `before`; returns how many.
pub(crate) fn purge_before(t: &Tables, txn: &mut RwTxn, before: Millis) -> Result<u64, StoreError> {
    let mut doomed = Vec::new();
    for item in t.connections.iter(txn)? {
        let (key, bytes) = item?;
        let record: ConnectionRecord = decode(bytes)?;
        // Records are written as sessions end, so their end times follow the keys: stop at
        // the first record still kept.
        if record.ended_at >= before {
            break;
        }
        doomed.push(key.to_vec());
    }
    for key in &doomed {
        t.connections.delete(txn, key)?;
    }
    Ok(doomed.len() as u64)
}
