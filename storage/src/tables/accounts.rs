//! Accounts and their address index: reading an account by id or address, and the writes
//! that create, edit and remove one. Removing an account reaches into every family that
//! keeps something of it (mailbox, state, directory entry, personal space, certificates),
//! in one transaction with its audit entry.

use std::ops::Bound;

use heed::{RoTxn, RwTxn};

use super::{audit, certificates, messages};
use crate::counters::Counters;
use crate::schema::{account_key, be_u64, decode, decode_in_place, encode, Tables};
use crate::types::*;
use crate::StoreError;

/// New names and contact e-mail for an account.
#[derive(Debug)]
pub(crate) struct AccountEdit {
    pub account: AccountId,
    pub first_name: String,
    pub last_name: String,
    pub contact_email: String,
    pub audit: AuditDraft,
}

pub(crate) fn get(t: &Tables, txn: &RoTxn<'_>, id: AccountId) -> Result<Option<Account>, StoreError> {
    super::get(t.accounts, txn, &account_key(id))
}

/// The account, or [`StoreError::NoSuchAccount`].
pub(crate) fn existing(t: &Tables, txn: &RoTxn<'_>, id: AccountId) -> Result<Account, StoreError> {
    get(t, txn, id)?.ok_or(StoreError::NoSuchAccount)
}

pub(crate) fn by_address(t: &Tables, txn: &RoTxn<'_>, address: &Address) -> Result<Option<Account>, StoreError> {
    match id_by_address(t, txn, address)? {
        Some(id) => get(t, txn, id),
        None => Ok(None),
    }
}

/// The account's mailbox figures (read in place) and its monitor state: what a recipient
/// check needs.
pub(crate) fn figures_with_state(
    t: &Tables,
    txn: &RoTxn<'_>,
    id: AccountId,
) -> Result<Option<(MailboxFigures, AccountState)>, StoreError> {
    match figures(t, txn, id)? {
        Some(figures) => Ok(Some((figures, super::monitor::state(t, txn, id)?))),
        None => Ok(None),
    }
}

/// The id of the account at this address, from the address index.
pub(crate) fn id_by_address(t: &Tables, txn: &RoTxn<'_>, address: &Address) -> Result<Option<AccountId>, StoreError> {
    match t.by_address.get(txn, address.as_str().as_bytes())? {
        Some(bytes) => Ok(Some(AccountId(be_u64(bytes)?))),
        None => Ok(None),
    }
}

/// The account's mailbox figures, read in place.
pub(crate) fn figures(t: &Tables, txn: &RoTxn<'_>, id: AccountId) -> Result<Option<MailboxFigures>, StoreError> {
    match t.accounts.get(txn, &account_key(id))? {
        Some(bytes) => Ok(Some(decode_in_place::<AccountInPlace<'_>>(bytes)?.figures())),
        None => Ok(None),
    }
}

pub(crate) fn all(t: &Tables, txn: &RoTxn<'_>) -> Result<Vec<Account>, StoreError> {
    super::values(t.accounts, txn)
}

/// Up to `limit` accounts in id order, after `after` (from the first when `None`).
pub(crate) fn page(
    t: &Tables,
    txn: &RoTxn<'_>,
    after: Option<AccountId>,
    limit: usize,
) -> Result<Vec<Account>, StoreError> {
    let after = after.map(account_key);
    let range: (Bound<&[u8]>, Bound<&[u8]>) = match &after {
        Some(key) => (Bound::Excluded(&key[..]), Bound::Unbounded),
        None => (Bound::Unbounded, Bound::Unbounded),
    };
    let mut page = Vec::with_capacity(limit.min(1024));
    for item in t.accounts.range(txn, &range)?.take(limit) {
        let (_, bytes) = item?;
        page.push(decode(bytes)?);
    }
    Ok(page)
}

pub(crate) fn put(t: &Tables, txn: &mut RwTxn, account: &Account) -> Result<(), StoreError> {
    super::put(t.accounts, txn, &account_key(account.id), account)
}

/// Creates the account (with its directory entry when given) under the next id.
pub(crate) fn create(
    t: &Tables,
    txn: &mut RwTxn,
    new: &NewAccount,
    counters: &mut Counters,
) -> Result<AccountId, StoreError> {
    if t.by_address.get(txn, new.address.as_str().as_bytes())?.is_some() {
        return Err(StoreError::AccountExists(new.address.clone()));
    }
    let id = AccountId(counters.next_account);
    counters.next_account += 1;
    let account = Account {
        id,
        address: new.address.clone(),
        first_name: new.first_name.clone(),
        last_name: new.last_name.clone(),
        contact_email: new.contact_email.clone(),
        password_hash: new.password_hash.clone(),
        created_at: new.created_at,
        quota_bytes: new.quota_bytes,
        used_bytes: 0,
        message_count: 0,
        next_uid: 1,
        last_collection: None,
        delete_on_retrieve: false,
    };
    put(t, txn, &account)?;
    t.by_address.put(txn, new.address.as_str().as_bytes(), &id.0.to_be_bytes())?;
    if let Some(entry) = &new.directory {
        t.directory.put(txn, &account_key(id), &encode(entry)?)?;
    }
    Ok(id)
}

pub(crate) fn set_quota(t: &Tables, txn: &mut RwTxn, account: AccountId, quota_bytes: u64) -> Result<(), StoreError> {
    let mut record = existing(t, txn, account)?;
    record.quota_bytes = quota_bytes;
    put(t, txn, &record)
}

pub(crate) fn set_delete_on_retrieve(
    t: &Tables,
    txn: &mut RwTxn,
    account: AccountId,
    enabled: bool,
) -> Result<(), StoreError> {
    let mut record = existing(t, txn, account)?;
    record.delete_on_retrieve = enabled;
    put(t, txn, &record)
}

pub(crate) fn edit(t: &Tables, txn: &mut RwTxn, edit: &AccountEdit) -> Result<(), StoreError> {
    let mut record = existing(t, txn, edit.account)?;
    record.first_name = edit.first_name.clone();
    record.last_name = edit.last_name.clone();
    record.contact_email = edit.contact_email.clone();
    put(t, txn, &record)?;
    audit::append(t, txn, &edit.audit)
}

/// A new password hash; every personal-space session of the account ends, but
/// `keep_session` (the one that made the change).
pub(crate) fn set_password(
    t: &Tables,
    txn: &mut RwTxn,
    account: AccountId,
    password_hash: &str,
    keep_session: Option<&[u8; 32]>,
    audit: &AuditDraft,
) -> Result<(), StoreError> {
    let mut record = existing(t, txn, account)?;
    record.password_hash = password_hash.to_owned();
    put(t, txn, &record)?;
    super::portal::end_sessions(t, txn, account, keep_session)?;
    audit::append(t, txn, audit)
}

/// Removes a closed account (not under legal hold) with its mailbox, its state, directory
/// entry, personal-space record and certificates; returns how many messages were erased.
pub(crate) fn delete(
    t: &Tables,
    txn: &mut RwTxn,
    account: AccountId,
    at: Millis,
    audit: &AuditDraft,
    counters: &mut Counters,
) -> Result<u32, StoreError> {
    let mut record = existing(t, txn, account)?;
    let state = super::monitor::state(t, txn, account)?;
    if state.closed_at.is_none() {
        return Err(StoreError::Refused(format!("{} is not closed", record.address)));
    }
    if state.legal_hold {
        return Err(StoreError::Refused(format!("{} is under legal hold", record.address)));
    }
    messages::fold_account(t, txn, account)?;
    let uids: Vec<Uid> = messages::mailbox(t, txn, account)?.iter().map(|entry| entry.uid).collect();
    let (erased, _) = messages::remove_entries(t, txn, &mut record, &uids, at, false, counters)?;
    let key = account_key(account);
    t.accounts.delete(txn, &key)?;
    t.by_address.delete(txn, record.address.as_str().as_bytes())?;
    t.account_state.delete(txn, &key)?;
    t.directory.delete(txn, &key)?;
    t.portal.delete(txn, &key)?;
    certificates::delete_all_of(t, txn, account)?;
    audit::append(t, txn, audit)?;
    Ok(erased)
}
