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

/// A web session unused this long has ended.
pub const WEB_SESSION_IDLE_MILLIS: u64 = 30 * 60 * 1000;
/// A web session has ended this long after its login, used or not.
pub const WEB_SESSION_LIFETIME_MILLIS: u64 = 12 * 60 * 60 * 1000;

/// Whether a web session has ended at `now`: unused too long, or past its lifetime.
pub fn web_session_ended(session: &WebSession, now: Millis) -> bool {
    now.0.saturating_sub(session.last_seen.0) > WEB_SESSION_IDLE_MILLIS
        || now.0.saturating_sub(session.created_at.0) > WEB_SESSION_LIFETIME_MILLIS
}

/// Removes every web session ended at `now` (a browser that never came back leaves its
/// session behind); the number removed.
pub(crate) fn purge_ended_sessions(t: &Tables, txn: &mut RwTxn, now: Millis) -> Result<u64, StoreError> {
    let mut ended = Vec::new();
    for item in t.sessions.iter(txn)? {
        let (key, bytes) = item?;
        let session: WebSession = crate::schema::decode(bytes)?;
        if web_session_ended(&session, now) {
            ended.push(key.to_vec());
        }
    }
    for key in &ended {
        t.sessions.delete(txn, key)?;
    }
    Ok(ended.len() as u64)
}

/// Replaces an account's personal-space record only if it is still `expected` (a
/// compare-and-set: of two requests that read the same record, one writes, the other is
/// told); with its audit entry when given. Whether it was written.
pub(crate) fn swap_record(
    t: &Tables,
    txn: &mut RwTxn,
    account: AccountId,
    expected: &PortalRecord,
    record: &PortalRecord,
    audit: Option<&AuditDraft>,
) -> Result<bool, StoreError> {
    if self::record(t, txn, account)? != *expected {
        return Ok(false);
    }
    put_record(t, txn, account, record, audit)?;
    Ok(true)
}

/// Ends every web session of `account` but `keep` (a scan: sessions are few, one per
/// signed-in browser, ended after hours).
pub(crate) fn end_sessions(
    t: &Tables,
    txn: &mut RwTxn,
    account: AccountId,
    keep: Option<&[u8; 32]>,
) -> Result<(), StoreError> {
    let mut ended = Vec::new();
    for item in t.sessions.iter(txn)? {
        let (key, bytes) = item?;
        let session: WebSession = crate::schema::decode(bytes)?;
        if session.account == account && keep.is_none_or(|keep| keep[..] != *key) {
            ended.push(key.to_vec());
        }
    }
    for key in ended {
        t.sessions.delete(txn, &key)?;
    }
    Ok(())
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
