//! Messages, their sealed bytes, the mailboxes that index them and expunge: a message is
//! stored once however many mailboxes hold it, counts its references, and is erased with
//! its key (crypto-shredding) in the commit that removes its last copy.

use heed::{RoTxn, RwTxn};

use super::accounts;
use crate::counters::{message_footprint, Counters};
use crate::schema::{account_key, decode, entry_key, message_key, Tables};
use crate::types::*;
use crate::StoreError;

/// The mailbox's messages in uid order.
pub(crate) fn mailbox(t: &Tables, txn: &RoTxn<'_>, account: AccountId) -> Result<Vec<MailboxEntry>, StoreError> {
    super::values_under(t.mailbox, txn, &account_key(account))
}

/// A stored message's record and its sealed bytes.
pub(crate) fn sealed<'t>(
    t: &Tables,
    txn: &'t RoTxn<'_>,
    id: MessageId,
) -> Result<(MessageRecord, &'t [u8]), StoreError> {
    let key = message_key(id);
    let record: MessageRecord = super::get(t.messages, txn, &key)?.ok_or(StoreError::NoSuchMessage)?;
    let sealed = t.blobs.get(txn, &key)?.ok_or(StoreError::NoSuchMessage)?;
    Ok((record, sealed))
}

/// The stored size of every message, added up.
pub(crate) fn bytes_total(t: &Tables, txn: &RoTxn<'_>) -> Result<u64, StoreError> {
    let mut total = 0;
    for item in t.messages.iter(txn)? {
        let (_, bytes) = item?;
        let record: MessageRecord = decode(bytes)?;
        total += record.size;
    }
    Ok(total)
}

/// Stores one sealed message once, with its trail, and indexes it in every recipient's
/// mailbox. Refused whole if any recipient would exceed its quota or the store has no room.
pub(crate) fn accept(
    t: &Tables,
    txn: &mut RwTxn,
    sender: &Address,
    recipients: &[AccountId],
    message: &SealedMessage,
    at: Millis,
    counters: &mut Counters,
) -> Result<(MessageId, Vec<Uid>), StoreError> {
    // Check every recipient before touching anything.
    let mut accounts = Vec::with_capacity(recipients.len());
    for id in recipients {
        let account = accounts::existing(t, txn, *id)?;
        if account.used_bytes.saturating_add(message.size) > account.quota_bytes {
            return Err(StoreError::QuotaExceeded(account.address));
        }
        accounts.push(account);
    }
    take_room(message.size, counters)?;
    let id = MessageId(counters.next_message);
    counters.next_message += 1;
    store_message(t, txn, id, sender, &accounts, message, at)?;
    let mut uids = Vec::with_capacity(accounts.len());
    for mut account in accounts {
        let uid = Uid(account.next_uid);
        account.next_uid += 1;
        account.used_bytes += message.size;
        account.message_count += 1;
        let entry = MailboxEntry { uid, message: id, size: message.size };
        super::put(t.mailbox, txn, &entry_key(account.id, uid), &entry)?;
        accounts::put(t, txn, &account)?;
        uids.push(uid);
    }
    Ok((id, uids))
}

/// Counts the message's footprint against the map's and the disk's room, or refuses it.
fn take_room(size: u64, counters: &mut Counters) -> Result<(), StoreError> {
    let footprint = message_footprint(size);
    if counters.message_pages_bytes + footprint > counters.accept_limit_bytes || footprint > counters.disk_room_bytes {
        return Err(StoreError::Full);
    }
    counters.message_pages_bytes += footprint;
    counters.disk_room_bytes -= footprint;
    Ok(())
}

/// Writes the message's record, its sealed bytes and its trail.
fn store_message(
    t: &Tables,
    txn: &mut RwTxn,
    id: MessageId,
    sender: &Address,
    recipients: &[Account],
    message: &SealedMessage,
    at: Millis,
) -> Result<(), StoreError> {
    let record = MessageRecord {
        size: message.size,
        references: recipients.len() as u32,
        wrapped_key: message.wrapped_key.clone(),
        accepted_at: at,
        sender: sender.clone(),
    };
    let key = message_key(id);
    super::put(t.messages, txn, &key, &record)?;
    t.blobs.put(txn, &key, &message.ciphertext)?;
    let trail = MessageTrail {
        message: id,
        sender: sender.clone(),
        accepted_at: at,
        size: message.size,
        recipients: recipients
            .iter()
            .map(|a| RecipientTrail { address: a.address.clone(), collected_at: None })
            .collect(),
        erased_at: None,
    };
    super::put(t.trails, txn, &key, &trail)
}

/// Removes messages from a mailbox (the recipient collected them); returns how many were
/// erased for good and when each removed copy's message was accepted.
pub(crate) fn expunge(
    t: &Tables,
    txn: &mut RwTxn,
    account: AccountId,
    uids: &[Uid],
    at: Millis,
    counters: &mut Counters,
) -> Result<(u32, Vec<Millis>), StoreError> {
    let mut record = accounts::existing(t, txn, account)?;
    let removed = remove_entries(t, txn, &mut record, uids, at, true, counters)?;
    accounts::put(t, txn, &record)?;
    Ok(removed)
}

/// Removes mailbox entries of `record`, erasing (with their keys) the messages no mailbox
/// holds any more. `collected`: the recipient took them (the trail records it), rather than
/// the account being deleted.
pub(crate) fn remove_entries(
    t: &Tables,
    txn: &mut RwTxn,
    record: &mut Account,
    uids: &[Uid],
    at: Millis,
    collected: bool,
    counters: &mut Counters,
) -> Result<(u32, Vec<Millis>), StoreError> {
    let mut erased = 0;
    let mut accepted_at = Vec::with_capacity(uids.len());
    for uid in uids {
        let key = entry_key(record.id, *uid);
        let Some(entry) = super::get::<MailboxEntry>(t.mailbox, txn, &key)? else {
            continue;
        };
        t.mailbox.delete(txn, &key)?;
        record.used_bytes -= entry.size;
        record.message_count -= 1;
        let message_key = message_key(entry.message);
        let Some(mut message) = super::get::<MessageRecord>(t.messages, txn, &message_key)? else {
            return Err(StoreError::Corrupt(format!("mailbox entry points to missing message {}", entry.message.0)));
        };
        message.references -= 1;
        accepted_at.push(message.accepted_at);
        let erased_now = message.references == 0;
        let collected_by = collected.then_some(&record.address);
        super::trails::copy_removed(t, txn, entry.message, collected_by, erased_now, at)?;
        if erased_now {
            counters.message_pages_bytes = counters.message_pages_bytes.saturating_sub(message_footprint(message.size));
            // Crypto-shredding: the wrapped key and the sealed bytes go in this commit.
            t.messages.delete(txn, &message_key)?;
            t.blobs.delete(txn, &message_key)?;
            erased += 1;
        } else {
            super::put(t.messages, txn, &message_key, &message)?;
        }
    }
    Ok((erased, accepted_at))
}
