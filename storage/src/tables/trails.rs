//! Message trails: each message's life in metadata only (sender, recipients, when each
//! copy was collected, when the message was erased), kept past its erasure until retention.

use heed::{RoTxn, RwTxn};

use crate::schema::{decode, message_key, Tables};
use crate::types::*;
use crate::StoreError;

pub(crate) fn get(t: &Tables, txn: &RoTxn<'_>, message: MessageId) -> Result<Option<MessageTrail>, StoreError> {
    super::get(t.trails, txn, &message_key(message))
}

/// The trails of the messages an address sent or received, at most `limit`, newest first.
pub(crate) fn involving(
    t: &Tables,
    txn: &RoTxn<'_>,
    address: &str,
    since: Millis,
    limit: usize,
) -> Result<Vec<MessageTrail>, StoreError> {
    super::newest_matching(t.trails, txn, limit, |trail: &MessageTrail| {
        trail.accepted_at >= since
            && (trail.sender.as_str() == address || trail.recipients.iter().any(|r| r.address.as_str() == address))
    })
}

/// Records that a copy of `message` left a mailbox: collected by `collected_by` (not when
/// its account was deleted), and the message erased with it when it was the last copy.
pub(crate) fn copy_removed(
    t: &Tables,
    txn: &mut RwTxn,
    message: MessageId,
    collected_by: Option<&Address>,
    erased: bool,
    at: Millis,
) -> Result<(), StoreError> {
    let key = message_key(message);
    let Some(mut trail) = super::get::<MessageTrail>(t.trails, txn, &key)? else {
        return Ok(());
    };
    if let Some(address) = collected_by {
        for copy in trail.recipients.iter_mut().filter(|r| r.address == *address) {
            copy.collected_at.get_or_insert(at);
        }
    }
    if erased {
        trail.erased_at = Some(at);
    }
    super::put(t.trails, txn, &key, &trail)
}

/// Records that `address`, a recipient in another operator's domain, was handed over:
/// for the trail, its copy left this relay.
pub(crate) fn mark_collected(
    t: &Tables,
    txn: &mut RwTxn,
    message: MessageId,
    address: &Address,
    at: Millis,
) -> Result<(), StoreError> {
    let key = message_key(message);
    let Some(mut trail) = super::get::<MessageTrail>(t.trails, txn, &key)? else {
        return Ok(());
    };
    for copy in trail.recipients.iter_mut().filter(|r| r.address == *address) {
        copy.collected_at.get_or_insert(at);
    }
    super::put(t.trails, txn, &key, &trail)
}

/// Removes the trails of erased messages accepted before `before`; returns how many.
pub(crate) fn purge_before(t: &Tables, txn: &mut RwTxn, before: Millis) -> Result<u64, StoreError> {
    let mut doomed = Vec::new();
    // Keyed in arrival order: stop at the first trail still kept.
    for item in t.trails.iter(txn)? {
        let (key, bytes) = item?;
        let trail: MessageTrail = decode(bytes)?;
        if trail.accepted_at >= before {
            break;
        }
        if trail.erased_at.is_some() {
            doomed.push(key.to_vec());
        }
    }
    for key in &doomed {
        t.trails.delete(txn, key)?;
        // What federation added to the trail goes with it.
        t.federation_trails.delete(txn, key)?;
    }
    Ok(doomed.len() as u64)
}
