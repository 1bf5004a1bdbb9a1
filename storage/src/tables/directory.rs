//! Each account's directory entry, and the directory snapshot: accounts, entries, states
//! and certificates read in one transaction, so the web page, the files and LDAP answer
//! from one consistent moment.

use heed::{RoTxn, RwTxn};

use super::{accounts, audit, monitor};
use crate::schema::{account_key, decode, Tables};
use crate::types::*;
use crate::{DirectoryEntry, StoreError};

/// An account's directory entry (the default one when none was written).
pub(crate) fn entry(t: &Tables, txn: &RoTxn<'_>, account: AccountId) -> Result<DirectoryEntry, StoreError> {
    Ok(super::get(t.directory, txn, &account_key(account))?.unwrap_or_default())
}

/// Every account with its directory entry, its monitor state and its certificates.
pub(crate) fn snapshot(t: &Tables, txn: &RoTxn<'_>) -> Result<Vec<DirectoryRecord>, StoreError> {
    let mut records = Vec::new();
    for item in t.accounts.iter(txn)? {
        let (key, bytes) = item?;
        let account: Account = decode(bytes)?;
        let entry = super::get(t.directory, txn, key)?.unwrap_or_default();
        let state = monitor::state(t, txn, account.id)?;
        let certificates = super::values_under(t.certificates, txn, key)?;
        records.push(DirectoryRecord { account, entry, state, certificates });
    }
    Ok(records)
}

/// Replaces an account's directory entry, with its audit entry.
pub(crate) fn put(
    t: &Tables,
    txn: &mut RwTxn,
    account: AccountId,
    entry: &DirectoryEntry,
    audit: &AuditDraft,
) -> Result<(), StoreError> {
    accounts::existing(t, txn, account)?;
    super::put(t.directory, txn, &account_key(account), entry)?;
    audit::append(t, txn, audit)
}
