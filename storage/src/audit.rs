//! The audit trail's hash chain: each entry's hash covers the previous entry's hash and its
//! own fields, so an edited, inserted or deleted entry breaks every hash after it. Purging
//! old entries keeps the chain verifiable: the last purged entry's hash becomes the
//! checkpoint the remaining chain starts from.

use ring::digest::{Context, SHA256};

use crate::types::AuditDraft;

/// The hash of `entry` at `seq`, chained to `previous` (hex; empty for the first entry).
pub(crate) fn chain_hash(previous: &str, seq: u64, entry: &AuditDraft) -> String {
    let mut digest = Context::new(&SHA256);
    // Length-prefixed fields: no two different entries hash the same bytes.
    for field in [
        previous.as_bytes(),
        &seq.to_be_bytes(),
        &entry.at.0.to_be_bytes(),
        entry.actor.as_bytes(),
        entry.source.as_bytes(),
        entry.action.as_bytes(),
        entry.object.as_bytes(),
        entry.detail.as_bytes(),
    ] {
        digest.update(&(field.len() as u64).to_be_bytes());
        digest.update(field);
    }
    digest.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
