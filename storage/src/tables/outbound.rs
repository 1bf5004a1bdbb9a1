//! The federation's outbound queue: a message accepted for recipients in peer operators'
//! domains waits here, one record per destination domain, each holding one reference to
//! the stored message. A record leaves when every recipient in it has an outcome (the peer
//! accepted it, or it failed for good); the message is erased when its last reference, a
//! local mailbox copy or an outbound record, goes. The outcomes are written into the
//! message's federation trail as they come.

use std::collections::BTreeMap;

use heed::{RoTxn, RwTxn};

use super::messages;
use crate::counters::Counters;
use crate::schema::{be_u64, message_key, seq_key, Tables};
use crate::types::*;
use crate::StoreError;

/// Every record waiting, with its sequence number, oldest first.
pub(crate) fn all(t: &Tables, txn: &RoTxn<'_>) -> Result<Vec<(u64, OutboundRecord)>, StoreError> {
    let mut queue = Vec::new();
    for item in t.outbound.iter(txn)? {
        let (key, bytes) = item?;
        queue.push((be_u64(key)?, crate::schema::decode(bytes)?));
    }
    Ok(queue)
}

/// One record, if it is still waiting.
pub(crate) fn get(t: &Tables, txn: &RoTxn<'_>, seq: u64) -> Result<Option<OutboundRecord>, StoreError> {
    super::get(t.outbound, txn, &seq_key(seq))
}

/// The domains of `remote`, each with its recipients, in a stable order.
pub(crate) fn by_domain(remote: &[Address]) -> BTreeMap<String, Vec<Address>> {
    let mut domains: BTreeMap<String, Vec<Address>> = BTreeMap::new();
    for address in remote {
        domains.entry(address.domain().to_ascii_lowercase()).or_default().push(address.clone());
    }
    domains
}

/// Queues a message just stored for its recipients in other domains: one record per
/// domain, due at once. The message's references already count them.
pub(crate) fn queue(
    t: &Tables,
    txn: &mut RwTxn,
    message: MessageId,
    envelope: &messages::Envelope<'_>,
    size: u64,
    at: Millis,
    counters: &mut Counters,
) -> Result<(), StoreError> {
    let sender = envelope.sender;
    for (domain, recipients) in by_domain(envelope.remote) {
        let record = OutboundRecord {
            message,
            sender: sender.clone(),
            domain,
            recipients: recipients.into_iter().map(|address| OutboundRecipient { address, outcome: None }).collect(),
            size,
            queued_at: at,
            next_attempt_at: at,
            attempts: 0,
            last_error: None,
            held: false,
        };
        super::put(t.outbound, txn, &seq_key(counters.take_filing()), &record)?;
    }
    Ok(())
}

/// Records an attempt (or an administrator's change: hold, release, retry now): the new
/// outcomes go into the trail; a finished record leaves the queue and releases its
/// reference to the message. Returns whether the message was erased with it.
pub(crate) fn update(
    t: &Tables,
    txn: &mut RwTxn,
    seq: u64,
    record: &OutboundRecord,
    counters: &mut Counters,
) -> Result<bool, StoreError> {
    let key = seq_key(seq);
    let Some(before) = get(t, txn, seq)? else {
        return Err(StoreError::NotFound(format!("outbound queue entry {seq}")));
    };
    // A hold the administrator set while an attempt ran stays.
    let mut record = record.clone();
    record.held = before.held;
    let record = &record;
    let newly: Vec<RelayedRecipient> = record
        .recipients
        .iter()
        .zip(&before.recipients)
        .filter(|(now, was)| was.outcome.is_none() && now.outcome.is_some())
        .filter_map(|(now, _)| {
            now.outcome.clone().map(|outcome| RelayedRecipient { address: now.address.clone(), outcome })
        })
        .collect();
    if !newly.is_empty() {
        record_outcomes(t, txn, record.message, &newly)?;
    }
    if !record.finished() {
        super::put(t.outbound, txn, &key, record)?;
        return Ok(false);
    }
    t.outbound.delete(txn, &key)?;
    let at = newly.iter().map(|r| r.outcome.at).max().unwrap_or(record.queued_at);
    messages::release(t, txn, record.message, at, counters)
}

/// The administrator's change of when a record is tried (`next_attempt_at`) and whether it
/// is held, made on the record as it stands in this transaction (an attempt may have moved
/// it since it was listed).
pub(crate) fn schedule(
    t: &Tables,
    txn: &mut RwTxn,
    seq: u64,
    held: Option<bool>,
    next_attempt_at: Option<Millis>,
) -> Result<(), StoreError> {
    let Some(mut record) = get(t, txn, seq)? else {
        return Err(StoreError::NotFound(format!("outbound queue entry {seq}")));
    };
    if let Some(held) = held {
        record.held = held;
    }
    if let Some(at) = next_attempt_at {
        record.next_attempt_at = at;
    }
    super::put(t.outbound, txn, &seq_key(seq), &record)
}

/// Removes a record whatever its recipients' state (the administrator's delete): those
/// without an outcome are recorded as given up, with `reason`. Returns the record.
pub(crate) fn delete(
    t: &Tables,
    txn: &mut RwTxn,
    seq: u64,
    reason: &str,
    at: Millis,
    counters: &mut Counters,
) -> Result<OutboundRecord, StoreError> {
    let Some(mut record) = get(t, txn, seq)? else {
        return Err(StoreError::NotFound(format!("outbound queue entry {seq}")));
    };
    for recipient in record.recipients.iter_mut().filter(|r| r.outcome.is_none()) {
        recipient.outcome = Some(RelayOutcome { at, delivered: false, reply: reason.to_owned(), operator: None });
    }
    update(t, txn, seq, &record, counters)?;
    Ok(record)
}

/// A message's federation trail, if it has one.
pub(crate) fn trail(t: &Tables, txn: &RoTxn<'_>, message: MessageId) -> Result<Option<FederationTrail>, StoreError> {
    super::get(t.federation_trails, txn, &message_key(message))
}

/// Records the operator a message came from, beside its trail.
pub(crate) fn record_received_from(
    t: &Tables,
    txn: &mut RwTxn,
    message: MessageId,
    operator: &str,
) -> Result<(), StoreError> {
    let key = message_key(message);
    let mut trail: FederationTrail = super::get(t.federation_trails, txn, &key)?.unwrap_or_default();
    trail.received_from = Some(operator.to_owned());
    super::put(t.federation_trails, txn, &key, &trail)
}

fn record_outcomes(
    t: &Tables,
    txn: &mut RwTxn,
    message: MessageId,
    outcomes: &[RelayedRecipient],
) -> Result<(), StoreError> {
    let key = message_key(message);
    let mut trail: FederationTrail = super::get(t.federation_trails, txn, &key)?.unwrap_or_default();
    trail.relayed.extend_from_slice(outcomes);
    super::put(t.federation_trails, txn, &key, &trail)?;
    // The message's own trail counts a recipient accepted by its operator as collected.
    for relayed in outcomes.iter().filter(|r| r.outcome.delivered) {
        super::trails::mark_collected(t, txn, message, &relayed.address, relayed.outcome.at)?;
    }
    Ok(())
}
