//! One module per family of tables. Each holds the family's reads (functions over a read
//! transaction, which [`Store`](crate::Store) wraps) and its write appliers (the functions
//! the writer calls inside its transaction for the family's operations).
//!
//! An applier checks everything that can refuse its write *before* it changes anything, so
//! a refused write leaves the writer's shared transaction untouched.

pub(crate) mod accounts;
pub(crate) mod alerts;
pub(crate) mod audit;
pub(crate) mod certificates;
pub(crate) mod connections;
pub(crate) mod directory;
pub(crate) mod messages;
pub(crate) mod monitor;
pub(crate) mod notices;
pub(crate) mod outbound;
pub(crate) mod portal;
pub(crate) mod retention;
pub(crate) mod trails;
pub(crate) mod trust;

use bincode::{Decode, Encode};
use heed::{RoTxn, RwTxn};

use crate::schema::{decode, encode, Table};
use crate::StoreError;

/// The record under `key`, if any.
pub(crate) fn get<T: Decode<()>>(table: Table, txn: &RoTxn<'_>, key: &[u8]) -> Result<Option<T>, StoreError> {
    match table.get(txn, key)? {
        Some(bytes) => Ok(Some(decode(bytes)?)),
        None => Ok(None),
    }
}

/// Writes (or replaces) the record under `key`.
pub(crate) fn put<T: Encode>(table: Table, txn: &mut RwTxn, key: &[u8], value: &T) -> Result<(), StoreError> {
    table.put(txn, key, &encode(value)?)?;
    Ok(())
}

/// Every record of the table, in key order.
pub(crate) fn values<T: Decode<()>>(table: Table, txn: &RoTxn<'_>) -> Result<Vec<T>, StoreError> {
    let mut all = Vec::new();
    for item in table.iter(txn)? {
        let (_, bytes) = item?;
        all.push(decode(bytes)?);
    }
    Ok(all)
}

/// Every record whose key starts with `prefix`, in key order.
pub(crate) fn values_under<T: Decode<()>>(table: Table, txn: &RoTxn<'_>, prefix: &[u8]) -> Result<Vec<T>, StoreError> {
    let mut all = Vec::new();
    for item in table.prefix_iter(txn, prefix)? {
        let (_, bytes) = item?;
        all.push(decode(bytes)?);
    }
    Ok(all)
}

/// The newest records (highest keys) that `keep` accepts, newest first, at most `limit`
/// (a `limit` of 0 does not stop the scan).
pub(crate) fn newest_matching<T: Decode<()>>(
    table: Table,
    txn: &RoTxn<'_>,
    limit: usize,
    keep: impl Fn(&T) -> bool,
) -> Result<Vec<T>, StoreError> {
    let mut found = Vec::new();
    for item in table.rev_iter(txn)? {
        let (_, bytes) = item?;
        let record: T = decode(bytes)?;
        if keep(&record) {
            found.push(record);
            if found.len() == limit {
                break;
            }
        }
    }
    Ok(found)
}
