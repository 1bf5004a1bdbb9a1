//! Messages, their sealed bytes, the mailboxes that index them and expunge: a message is
//! stored once however many mailboxes hold it, counts its references, and is erased with
//! its key (crypto-shredding) in the commit that removes its last copy.
//!
//! A new message's mailbox entries go to `arrivals`, keyed by message then account, so
//! that a commit's entries lie together at the table's end: keyed by account, each
//! recipient's entry dirtied the last leaf of its own mailbox, one page written alone per
//! recipient per commit, and on a disk that charges for every scattered page that bounded
//! the accept rate (docs/benchmarks.md). The arrivals are folded into `mailbox`, whole
//! mailboxes at a time: all of them once there are [`ARRIVALS_FOLD_AT`] (by the writer, in
//! a transaction of its own: [`fold_arrivals`]), and an account's before any write to its
//! mailbox (expunge, flags, deletion), so that those only ever see `mailbox`. Readers see
//! a mailbox as its folded entries followed by its arrivals, whose uids are all higher.

use heed::{RoTxn, RwTxn};

use super::accounts;
use crate::counters::{message_footprint, Counters};
use crate::schema::{account_key, arrival_key, arrival_owner, decode, entry_key, message_key, Tables};
use crate::types::*;
use crate::StoreError;

/// The arrivals that make the writer fold them all into `mailbox`: large enough that each
/// mailbox's last leaf is written once for many messages, small enough that a reader's
/// scan of the arrivals (a few pages) stays cheap.
pub const ARRIVALS_FOLD_AT: u64 = 512;

/// The mailbox's messages in uid order: its folded entries, then its arrivals.
pub(crate) fn mailbox(t: &Tables, txn: &RoTxn<'_>, account: AccountId) -> Result<Vec<MailboxEntry>, StoreError> {
    let mut entries: Vec<MailboxEntry> = super::values_under(t.mailbox, txn, &account_key(account))?;
    entries.extend(arrivals_of(t, txn, account)?.into_iter().map(|(_, entry)| entry));
    Ok(entries)
}

/// The account's arrivals in arrival (so uid) order, with their keys. The table holds
/// fewer than [`ARRIVALS_FOLD_AT`] and a batch's entries of every account: scanned whole.
fn arrivals_of(t: &Tables, txn: &RoTxn<'_>, account: AccountId) -> Result<Vec<([u8; 16], MailboxEntry)>, StoreError> {
    let owner = account_key(account);
    let mut found = Vec::new();
    for item in t.arrivals.iter(txn)? {
        let (key, bytes) = item?;
        if key.get(8..) == Some(&owner[..]) {
            let key = key.try_into().map_err(|_| StoreError::Corrupt("arrival key length".into()))?;
            found.push((key, decode(bytes)?));
        }
    }
    Ok(found)
}

/// Moves the account's arrivals into `mailbox`: what a write to a mailbox does first, so
/// that it finds every entry there.
pub(crate) fn fold_account(t: &Tables, txn: &mut RwTxn, account: AccountId) -> Result<(), StoreError> {
    if t.arrivals.is_empty(txn)? {
        return Ok(());
    }
    for (key, entry) in arrivals_of(t, txn, account)? {
        t.arrivals.delete(txn, &key)?;
        super::put(t.mailbox, txn, &entry_key(account, entry.uid), &entry)?;
    }
    Ok(())
}

/// Folds every arrival into `mailbox`; the writer calls it, in a transaction of its own,
/// once there are [`ARRIVALS_FOLD_AT`].
pub(crate) fn fold_arrivals(t: &Tables, txn: &mut RwTxn) -> Result<(), StoreError> {
    let mut found: Vec<(u64, MailboxEntry)> = Vec::new();
    for item in t.arrivals.iter(txn)? {
        let (key, bytes) = item?;
        found.push((arrival_owner(key)?, decode(bytes)?));
    }
    t.arrivals.clear(txn)?;
    // In key order, so that each mailbox's leaf is filled in one go.
    found.sort_unstable_by_key(|(owner, entry)| (*owner, entry.uid.0));
    for (owner, entry) in &found {
        super::put(t.mailbox, txn, &entry_key(AccountId(*owner), entry.uid), entry)?;
    }
    Ok(())
}

/// The mailbox's messages in uid order, with when each was accepted and the recipient's
/// flags on it.
pub(crate) fn imap_mailbox(t: &Tables, txn: &RoTxn<'_>, account: AccountId) -> Result<Vec<ImapEntry>, StoreError> {
    let entries = mailbox(t, txn, account)?;
    let mut shown = Vec::with_capacity(entries.len());
    for entry in entries {
        let record: MessageRecord =
            super::get(t.messages, txn, &message_key(entry.message))?.ok_or(StoreError::NoSuchMessage)?;
        let flags = t.flags.get(txn, &entry_key(account, entry.uid))?.and_then(|bytes| bytes.first().copied());
        shown.push(ImapEntry {
            uid: entry.uid,
            message: entry.message,
            size: entry.size,
            accepted_at: record.accepted_at,
            flags: MessageFlags::from_byte(flags.unwrap_or(0)),
        });
    }
    Ok(shown)
}

/// Keeps the recipient's flags on entries of its mailbox; an entry no longer there (another
/// session expunged it) is passed over.
pub(crate) fn set_flags(
    t: &Tables,
    txn: &mut RwTxn,
    account: AccountId,
    changes: &[(Uid, MessageFlags)],
) -> Result<(), StoreError> {
    fold_account(t, txn, account)?;
    for (uid, flags) in changes {
        let key = entry_key(account, *uid);
        if t.mailbox.get(txn, &key)?.is_none() {
            continue;
        }
        if flags.is_empty() {
            t.flags.delete(txn, &key)?;
        } else {
            t.flags.put(txn, &key, &[flags.to_byte()])?;
        }
    }
    Ok(())
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

/// Stores one sealed message once, with its trail, indexes it in every local recipient's
/// mailbox and queues it for the recipients in peer operators' domains (`remote`: one
/// outbound record, and one reference, per domain). Refused whole if any recipient would
/// exceed its quota or the store has no room. Each local mailbox's figures and monitor
/// state come back as the delivery left them.
pub(crate) fn accept(
    t: &Tables,
    txn: &mut RwTxn,
    envelope: &Envelope<'_>,
    message: &SealedMessage,
    at: Millis,
    counters: &mut Counters,
) -> Result<AcceptedMessage, StoreError> {
    let Envelope { sender, recipients, remote } = *envelope;
    // Check every recipient before touching anything.
    let mut accounts: Vec<Account> = Vec::with_capacity(recipients.len());
    for id in recipients {
        if accounts.iter().any(|account| account.id == *id) {
            // One mailbox entry per recipient and message: the arrival's key.
            return Err(StoreError::Refused(format!("mailbox {} named twice as a recipient", id.0)));
        }
        let account = accounts::existing(t, txn, *id)?;
        if message.size > account.quota_bytes {
            return Err(StoreError::LargerThanQuota(account.address, account.quota_bytes));
        }
        if account.used_bytes.saturating_add(message.size) > account.quota_bytes {
            return Err(StoreError::QuotaExceeded(account.address));
        }
        accounts.push(account);
    }
    take_room(message.size, counters)?;
    let id = MessageId(counters.next_message);
    counters.next_message += 1;
    let domains = super::outbound::by_domain(remote).len() as u32;
    let addresses: Vec<Address> = accounts.iter().map(|a| a.address.clone()).chain(remote.iter().cloned()).collect();
    store_message(t, txn, id, sender, &addresses, accounts.len() as u32 + domains, message, at)?;
    super::outbound::queue(t, txn, id, envelope, message.size, at, counters)?;
    let mut uids = Vec::with_capacity(accounts.len());
    let mut mailboxes = Vec::with_capacity(accounts.len());
    for mut account in accounts {
        let uid = Uid(account.next_uid);
        account.next_uid += 1;
        account.used_bytes += message.size;
        account.message_count += 1;
        let entry = MailboxEntry { uid, message: id, size: message.size };
        super::put(t.arrivals, txn, &arrival_key(id, account.id), &entry)?;
        accounts::put(t, txn, &account)?;
        uids.push(uid);
        mailboxes.push((account.figures(), super::monitor::state(t, txn, account.id)?));
    }
    Ok(AcceptedMessage { message: id, uids, mailboxes })
}

/// Who sent a message and who it is for: mailboxes here, and recipients in peer
/// operators' domains.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Envelope<'a> {
    pub sender: &'a Address,
    pub recipients: &'a [AccountId],
    pub remote: &'a [Address],
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
#[allow(clippy::too_many_arguments)] // one record's fields, each from the accepting write
fn store_message(
    t: &Tables,
    txn: &mut RwTxn,
    id: MessageId,
    sender: &Address,
    recipients: &[Address],
    references: u32,
    message: &SealedMessage,
    at: Millis,
) -> Result<(), StoreError> {
    let record = MessageRecord {
        size: message.size,
        references,
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
            .map(|address| RecipientTrail { address: address.clone(), collected_at: None })
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
    fold_account(t, txn, account)?;
    let removed = remove_entries(t, txn, &mut record, uids, at, true, counters)?;
    accounts::put(t, txn, &record)?;
    Ok(removed)
}

/// Removes mailbox entries of `record` (folded first: see [`fold_account`]), erasing (with
/// their keys) the messages no mailbox holds any more. `collected`: the recipient took
/// them (the trail records it), rather than the account being deleted.
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
        t.flags.delete(txn, &key)?;
        record.used_bytes -= entry.size;
        record.message_count -= 1;
        let (message, erased_now) = drop_reference(t, txn, entry.message, counters)?;
        accepted_at.push(message.accepted_at);
        let collected_by = collected.then_some(&record.address);
        super::trails::copy_removed(t, txn, entry.message, collected_by, erased_now, at)?;
        erased += u32::from(erased_now);
    }
    Ok((erased, accepted_at))
}

/// Releases the reference an outbound record held; the trail records the erasure when it
/// was the last. Returns whether the message was erased.
pub(crate) fn release(
    t: &Tables,
    txn: &mut RwTxn,
    id: MessageId,
    at: Millis,
    counters: &mut Counters,
) -> Result<bool, StoreError> {
    let (_, erased) = drop_reference(t, txn, id, counters)?;
    super::trails::copy_removed(t, txn, id, None, erased, at)?;
    Ok(erased)
}

/// Drops one reference to a stored message, erasing it with its key (crypto-shredding: the
/// wrapped key and the sealed bytes go in this commit) when it was the last.
fn drop_reference(
    t: &Tables,
    txn: &mut RwTxn,
    id: MessageId,
    counters: &mut Counters,
) -> Result<(MessageRecord, bool), StoreError> {
    let key = message_key(id);
    let Some(mut message) = super::get::<MessageRecord>(t.messages, txn, &key)? else {
        return Err(StoreError::Corrupt(format!("a reference to missing message {}", id.0)));
    };
    message.references -= 1;
    if message.references > 0 {
        super::put(t.messages, txn, &key, &message)?;
        return Ok((message, false));
    }
    counters.message_pages_bytes = counters.message_pages_bytes.saturating_sub(message_footprint(message.size));
    t.messages.delete(txn, &key)?;
    t.blobs.delete(txn, &key)?;
    Ok((message, true))
}
