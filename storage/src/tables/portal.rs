//! The personal space: each account's portal record (second factor, recovery codes, terms
//! accepted), web sessions under the SHA-256 of their token, data-protection requests, and
//! the terms of use in force (in `meta`).

use heed::{RoTxn, RwTxn};

use super::{accounts, audit};
use crate::counters::Counters;
use crate::schema::{account_key, seq_key, Tables, META_TERMS};
use crate::types::*;
use crate::StoreError;

/// An account's personal-space record (the default one when none was written).
pub(crate) fn record(t: &Tables, txn: &RoTxn<'_>, account: AccountId) -> Result<PortalRecord, StoreError> {
    Ok(super::get(t.portal, txn, &account_key(account))?.unwrap_or_default())
}

/// Replaces an account's personal-space record, with its audit entry when given.
pub(crate) fn put_record(
    t: &Tables,
    txn: &mut RwTxn,
    account: AccountId,
    record: &PortalRecord,
    audit: Option<&AuditDraft>,
) -> Result<(), StoreError> {
    accounts::existing(t, txn, account)?;
    super::put(t.portal, txn, &account_key(account), record)?;
    match audit {
        Some(audit) => audit::append(t, txn, audit),
        None => Ok(()),
    }
}

pub(crate) fn session(t: &Tables, txn: &RoTxn<'_>, token_hash: &[u8; 32]) -> Result<Option<WebSession>, StoreError> {
    super::get(t.sessions, txn, token_hash)
}

/// Stores (or replaces) a web session; `None` ends it.
pub(crate) fn put_session(
    t: &Tables,
    txn: &mut RwTxn,
    token_hash: &[u8; 32],
    session: Option<&WebSession>,
) -> Result<(), StoreError> {
    match session {
        Some(session) => super::put(t.sessions, txn, token_hash, session),
        None => {
            t.sessions.delete(txn, token_hash)?;
            Ok(())
        }
    }
}

/// Every data-protection request, oldest first.
pub(crate) fn requests(t: &Tables, txn: &RoTxn<'_>) -> Result<Vec<RightsRequest>, StoreError> {
    super::values(t.requests, txn)
}

/// Files a data-protection request under the next filing number, with its audit entry.
pub(crate) fn file_request(
    t: &Tables,
    txn: &mut RwTxn,
    request: &RightsRequest,
    audit: &AuditDraft,
    counters: &mut Counters,
) -> Result<(), StoreError> {
    let seq = counters.take_filing();
    let mut request = request.clone();
    request.seq = seq;
    super::put(t.requests, txn, &seq_key(seq), &request)?;
    audit::append(t, txn, audit)
}

/// Marks a data-protection request as dealt with, with its audit entry.
pub(crate) fn close_request(
    t: &Tables,
    txn: &mut RwTxn,
    seq: u64,
    at: Millis,
    audit: &AuditDraft,
) -> Result<(), StoreError> {
    let Some(mut request) = super::get::<RightsRequest>(t.requests, txn, &seq_key(seq))? else {
        return Err(StoreError::Refused(format!("no data-protection request {seq}")));
    };
    if request.closed_at.is_some() {
        return Err(StoreError::Refused(format!("request {seq} is closed already")));
    }
    request.closed_at = Some(at);
    super::put(t.requests, txn, &seq_key(seq), &request)?;
    audit::append(t, txn, audit)
}

pub(crate) fn terms(t: &Tables, txn: &RoTxn<'_>) -> Result<Option<TermsOfUse>, StoreError> {
    super::get(t.meta, txn, META_TERMS)
}

/// Publishes new terms of use under the next version, with its audit entry.
pub(crate) fn publish_terms(
    t: &Tables,
    txn: &mut RwTxn,
    text: &str,
    at: Millis,
    audit: &AuditDraft,
) -> Result<(), StoreError> {
    let version = terms(t, txn)?.map_or(1, |terms| terms.version + 1);
    let terms = TermsOfUse { version, text: text.to_owned(), published_at: at };
    super::put(t.meta, txn, META_TERMS, &terms)?;
    audit::append(t, txn, audit)
}
