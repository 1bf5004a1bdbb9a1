//! The store's consistency check: every invariant that ties the tables together, walked in
//! one read transaction — mailbox entries (folded and arrivals) and the messages they name, reference counts,
//! sealed bytes and their keys, each account's totals and address index, monitor states,
//! certificates and their fingerprint index. It reports problems; it repairs nothing.

use std::collections::HashMap;

use heed::RoTxn;

use crate::schema::{arrival_owner, be_u64, decode, key_owner, Tables};
use crate::seal::MasterKey;
use crate::shared::Shared;
use crate::types::*;
use crate::StoreError;

/// What the mailboxes hold, gathered by [`check_mailboxes`] for the later steps.
#[derive(Default)]
struct Holdings {
    /// message id → how many mailbox entries and outbound records name it
    references: HashMap<u64, u32>,
    /// account id → (bytes, entries, highest uid) of its mailbox
    per_account: HashMap<u64, (u64, u64, u32)>,
}

/// Checks every invariant of the store; returns the problems found (empty when sound).
pub(crate) fn check(shared: &Shared, txn: &RoTxn<'_>) -> Result<Vec<String>, StoreError> {
    let t = &shared.tables;
    let mut problems = Vec::new();
    let mut holdings = check_mailboxes(t, txn, &mut problems)?;
    check_flags(t, txn, &mut problems)?;
    check_outbound(t, txn, &mut holdings, &mut problems)?;
    check_messages(t, txn, &shared.master, &holdings.references, &mut problems)?;
    check_blobs(t, txn, &mut problems)?;
    check_accounts(t, txn, &mut holdings.per_account, &mut problems)?;
    for owner in holdings.per_account.keys() {
        problems.push(format!("mailbox entries for missing account {owner}"));
    }
    check_states(t, txn, &mut problems)?;
    check_certificates(t, txn, &mut problems)?;
    Ok(problems)
}

/// Each outbound record names a stored message, is unfinished, and counts as one of its
/// references.
fn check_outbound(
    t: &Tables,
    txn: &RoTxn<'_>,
    holdings: &mut Holdings,
    problems: &mut Vec<String>,
) -> Result<(), StoreError> {
    for item in t.outbound.iter(txn)? {
        let (key, bytes) = item?;
        let record: OutboundRecord = decode(bytes)?;
        let seq = crate::schema::be_u64(key)?;
        *holdings.references.entry(record.message.0).or_default() += 1;
        if t.messages.get(txn, &record.message.0.to_be_bytes())?.is_none() {
            problems.push(format!("outbound entry {seq} points to missing message {}", record.message.0));
        }
        if record.finished() {
            problems.push(format!("outbound entry {seq} is finished but still queued"));
        }
    }
    Ok(())
}

/// Flags are kept only on entries a mailbox still holds (folded: a mailbox is folded
/// before its flags are written).
fn check_flags(t: &Tables, txn: &RoTxn<'_>, problems: &mut Vec<String>) -> Result<(), StoreError> {
    for item in t.flags.iter(txn)? {
        let (key, _) = item?;
        if t.mailbox.get(txn, key)?.is_none() {
            problems.push(format!("flags kept for mailbox {} without its entry", key_owner(key)?));
        }
    }
    Ok(())
}

/// Each mailbox entry, folded or an arrival, names a message of its size; an account's
/// arrivals come after its folded entries; gathers what each mailbox holds.
fn check_mailboxes(t: &Tables, txn: &RoTxn<'_>, problems: &mut Vec<String>) -> Result<Holdings, StoreError> {
    let mut holdings = Holdings::default();
    for item in t.mailbox.iter(txn)? {
        let (key, bytes) = item?;
        let entry: MailboxEntry = decode(bytes)?;
        check_entry(t, txn, key_owner(key)?, &entry, &mut holdings, problems)?;
    }
    let folded_highest: HashMap<u64, u32> =
        holdings.per_account.iter().map(|(owner, totals)| (*owner, totals.2)).collect();
    for item in t.arrivals.iter(txn)? {
        let (key, bytes) = item?;
        let entry: MailboxEntry = decode(bytes)?;
        let owner = arrival_owner(key)?;
        if be_u64(&key[..8])? != entry.message.0 {
            problems.push(format!(
                "arrival of message {} for mailbox {owner} names message {}",
                be_u64(&key[..8])?,
                entry.message.0
            ));
        }
        if folded_highest.get(&owner).is_some_and(|highest| entry.uid.0 <= *highest) {
            problems
                .push(format!("mailbox {owner} uid {} arrived after a folded entry with a higher uid", entry.uid.0));
        }
        check_entry(t, txn, owner, &entry, &mut holdings, problems)?;
    }
    Ok(holdings)
}

/// One mailbox entry of `owner`: counted, and checked against the message it names.
fn check_entry(
    t: &Tables,
    txn: &RoTxn<'_>,
    owner: u64,
    entry: &MailboxEntry,
    holdings: &mut Holdings,
    problems: &mut Vec<String>,
) -> Result<(), StoreError> {
    *holdings.references.entry(entry.message.0).or_default() += 1;
    let totals = holdings.per_account.entry(owner).or_default();
    totals.0 += entry.size;
    totals.1 += 1;
    totals.2 = totals.2.max(entry.uid.0);
    match t.messages.get(txn, &entry.message.0.to_be_bytes())? {
        None => {
            problems.push(format!("mailbox {owner} uid {} points to missing message {}", entry.uid.0, entry.message.0))
        }
        Some(bytes) => {
            let record: MessageRecord = decode(bytes)?;
            if record.size != entry.size {
                problems.push(format!(
                    "message {} size {} differs from its mailbox entry {}",
                    entry.message.0, record.size, entry.size
                ));
            }
        }
    }
    Ok(())
}

/// Each message counts the mailboxes that hold it, has its sealed bytes, and a key the
/// master key unwraps.
fn check_messages(
    t: &Tables,
    txn: &RoTxn<'_>,
    master: &MasterKey,
    references: &HashMap<u64, u32>,
    problems: &mut Vec<String>,
) -> Result<(), StoreError> {
    for item in t.messages.iter(txn)? {
        let (key, bytes) = item?;
        let id = be_u64(key)?;
        let record: MessageRecord = decode(bytes)?;
        let held = references.get(&id).copied().unwrap_or(0);
        if held != record.references {
            problems.push(format!(
                "message {id} counts {} references but {held} mailboxes and outbound entries hold it",
                record.references
            ));
        }
        if t.blobs.get(txn, key)?.is_none() {
            problems.push(format!("message {id} has no sealed bytes"));
        }
        if !master.unwraps(&record.wrapped_key) {
            problems.push(format!("message {id} has a key the master key cannot unwrap"));
        }
    }
    Ok(())
}

/// No sealed bytes without their message.
fn check_blobs(t: &Tables, txn: &RoTxn<'_>, problems: &mut Vec<String>) -> Result<(), StoreError> {
    for item in t.blobs.iter(txn)? {
        let (key, _) = item?;
        if t.messages.get(txn, key)?.is_none() {
            problems.push(format!("orphan sealed bytes for message {}", be_u64(key)?));
        }
    }
    Ok(())
}

/// Each account's totals match its mailbox, its next uid is unused, and the address index
/// names it. The mailboxes checked are taken out of `per_account`: what remains has no
/// account.
fn check_accounts(
    t: &Tables,
    txn: &RoTxn<'_>,
    per_account: &mut HashMap<u64, (u64, u64, u32)>,
    problems: &mut Vec<String>,
) -> Result<(), StoreError> {
    for item in t.accounts.iter(txn)? {
        let (_, bytes) = item?;
        let account: Account = decode(bytes)?;
        let (used, count, max_uid) = per_account.remove(&account.id.0).unwrap_or_default();
        if account.used_bytes != used {
            problems.push(format!("{} counts {} bytes but holds {used}", account.address, account.used_bytes));
        }
        if account.message_count != count {
            problems.push(format!("{} counts {} messages but holds {count}", account.address, account.message_count));
        }
        if account.next_uid <= max_uid {
            problems.push(format!("{} would reuse uid {}", account.address, account.next_uid));
        }
        match t.by_address.get(txn, account.address.as_str().as_bytes())? {
            Some(id) if be_u64(id)? == account.id.0 => {}
            _ => problems.push(format!("{} is missing from the address index", account.address)),
        }
    }
    Ok(())
}

/// Each monitor state belongs to an account and decodes.
fn check_states(t: &Tables, txn: &RoTxn<'_>, problems: &mut Vec<String>) -> Result<(), StoreError> {
    for item in t.account_state.iter(txn)? {
        let (key, bytes) = item?;
        let id = be_u64(key)?;
        if t.accounts.get(txn, key)?.is_none() {
            problems.push(format!("monitor state for missing account {id}"));
        }
        if decode::<AccountState>(bytes).is_err() {
            problems.push(format!("monitor state of account {id} does not decode"));
        }
    }
    Ok(())
}

/// Each fingerprint index entry names a certificate with that fingerprint, each
/// certificate belongs to an account, and both tables count the same.
fn check_certificates(t: &Tables, txn: &RoTxn<'_>, problems: &mut Vec<String>) -> Result<(), StoreError> {
    let mut indexed = 0u64;
    for item in t.certificates_by_fingerprint.iter(txn)? {
        let (fingerprint, key) = item?;
        indexed += 1;
        match t.certificates.get(txn, key)? {
            None => problems.push(format!("fingerprint index names a missing certificate {key:02x?}")),
            Some(bytes) => {
                let record: CertificateRecord = decode(bytes)?;
                let hex = Fingerprint::from_bytes(fingerprint);
                if record.fingerprint != hex {
                    problems.push(format!("fingerprint index entry {hex} names certificate {}", record.fingerprint));
                }
            }
        }
    }
    let mut certificates = 0u64;
    for item in t.certificates.iter(txn)? {
        let (key, _) = item?;
        certificates += 1;
        let owner = key_owner(key)?;
        if t.accounts.get(txn, &owner.to_be_bytes())?.is_none() {
            problems.push(format!("certificate of missing account {owner}"));
        }
    }
    if indexed != certificates {
        problems.push(format!("{certificates} certificates but {indexed} fingerprint index entries"));
    }
    Ok(())
}
