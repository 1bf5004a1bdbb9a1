//! The audit trail, a hash chain: each entry's hash covers the previous entry's hash and
//! its own fields, so an edited, inserted or deleted entry breaks every hash after it.
//! Purging old entries keeps the chain verifiable: the last purged entry's hash becomes the
//! checkpoint (in `meta`) the remaining chain starts from; the head (also in `meta`) shows
//! entries deleted from the end.

use heed::{RoTxn, RwTxn};
use ring::digest::{Context, SHA256};

use crate::schema::{be_u64, decode, seq_key, Tables, META_AUDIT_CHECKPOINT, META_AUDIT_HEAD};
use crate::types::*;
use crate::StoreError;

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

fn anchor(t: &Tables, txn: &RoTxn<'_>, key: &[u8]) -> Result<AuditCheckpoint, StoreError> {
    Ok(super::get(t.meta, txn, key)?.unwrap_or_default())
}

/// Appends an entry to the chain.
pub(crate) fn append(t: &Tables, txn: &mut RwTxn, draft: &AuditDraft) -> Result<(), StoreError> {
    let head = anchor(t, txn, META_AUDIT_HEAD)?;
    let seq = head.seq + 1;
    let hash = chain_hash(&head.hash, seq, draft);
    let entry = AuditEntry { seq, entry: draft.clone(), hash: hash.clone() };
    super::put(t.audit, txn, &seq_key(seq), &entry)?;
    super::put(t.meta, txn, META_AUDIT_HEAD, &AuditCheckpoint { seq, hash })
}

/// Entries made in `[from, to)`, oldest first.
pub(crate) fn entries(t: &Tables, txn: &RoTxn<'_>, from: Millis, to: Millis) -> Result<Vec<AuditEntry>, StoreError> {
    let mut entries = Vec::new();
    for item in t.audit.iter(txn)? {
        let (_, bytes) = item?;
        let entry: AuditEntry = decode(bytes)?;
        if entry.entry.at >= from && entry.entry.at < to {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// Walks the chain from its checkpoint; returns how many entries were checked and what is
/// wrong (empty when intact).
pub(crate) fn verify(t: &Tables, txn: &RoTxn<'_>) -> Result<(u64, Vec<String>), StoreError> {
    let checkpoint = anchor(t, txn, META_AUDIT_CHECKPOINT)?;
    let head = anchor(t, txn, META_AUDIT_HEAD)?;
    let mut problems = Vec::new();
    let (mut seq, mut hash) = (checkpoint.seq, checkpoint.hash);
    let mut checked = 0;
    for item in t.audit.iter(txn)? {
        let (key, bytes) = item?;
        let key = be_u64(key)?;
        let Ok(entry) = decode::<AuditEntry>(bytes) else {
            problems.push(format!("audit entry {key} does not decode: it was altered"));
            break;
        };
        checked += 1;
        if entry.seq != key || key != seq + 1 {
            problems.push(format!("audit entries {} to {} are missing", seq + 1, key.saturating_sub(1).max(seq + 1)));
            break;
        }
        if chain_hash(&hash, entry.seq, &entry.entry) != entry.hash {
            problems.push(format!("audit entry {key} was altered (its hash does not match its content and chain)"));
            break;
        }
        seq = entry.seq;
        hash = entry.hash;
    }
    if problems.is_empty() && (seq, hash.as_str()) != (head.seq, head.hash.as_str()) {
        problems.push(format!("audit entries after {seq} were deleted (the chain's head is entry {})", head.seq));
    }
    Ok((checked, problems))
}

/// Removes entries made before `before`, oldest first and only from the start of the
/// chain: the last one purged becomes the checkpoint the rest is verified from.
pub(crate) fn purge_before(t: &Tables, txn: &mut RwTxn, before: Millis) -> Result<u64, StoreError> {
    let mut doomed = Vec::new();
    let mut checkpoint = None;
    for item in t.audit.iter(txn)? {
        let (key, bytes) = item?;
        let entry: AuditEntry = decode(bytes)?;
        if entry.entry.at >= before {
            break;
        }
        doomed.push(key.to_vec());
        checkpoint = Some(AuditCheckpoint { seq: entry.seq, hash: entry.hash });
    }
    for key in &doomed {
        t.audit.delete(txn, key)?;
    }
    if let Some(checkpoint) = checkpoint {
        super::put(t.meta, txn, META_AUDIT_CHECKPOINT, &checkpoint)?;
    }
    Ok(doomed.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain is on disk: the hash of a given entry must never change.
    #[test]
    fn the_chain_hash_of_an_entry_is_stable() {
        let draft = AuditDraft::new(
            Millis(1_795_993_502_250),
            "uid 1000 (admin socket)",
            "admin socket",
            AuditAction::Update,
            "account dr.martin@relay.example",
            "quota 50 MB → 100 MB",
        );
        assert_eq!(draft.action, "update");
        assert_eq!(chain_hash("", 1, &draft), "261211b048196773c1c3d78c5503cf0072335ffcedcaac286096f58e95fcd35e");
    }
}
