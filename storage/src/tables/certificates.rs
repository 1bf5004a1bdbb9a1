//! Each account's OpenPGP certificate editions (public material and prepared revocations
//! only, never a secret key), and the index from a primary key's fingerprint to its edition.

use heed::{RoTxn, RwTxn};

use super::{accounts, audit};
use crate::schema::{account_key, certificate_key, decode, Tables};
use crate::types::*;
use crate::StoreError;

/// Every certificate edition of an account, oldest first.
pub(crate) fn of(t: &Tables, txn: &RoTxn<'_>, account: AccountId) -> Result<Vec<CertificateRecord>, StoreError> {
    super::values_under(t.certificates, txn, &account_key(account))
}

/// What the key check needs of every edition of an account, oldest first: each record's
/// leading fields, its public key and prepared revocations left unread.
pub(crate) fn keys_of(t: &Tables, txn: &RoTxn<'_>, account: AccountId) -> Result<Vec<CertificateKeys>, StoreError> {
    super::values_under(t.certificates, txn, &account_key(account))
}

/// The certificate edition whose primary key has this fingerprint (raw bytes).
pub(crate) fn by_fingerprint(
    t: &Tables,
    txn: &RoTxn<'_>,
    fingerprint: &[u8],
) -> Result<Option<CertificateRecord>, StoreError> {
    let Some(key) = t.certificates_by_fingerprint.get(txn, fingerprint)? else {
        return Ok(None);
    };
    match super::get(t.certificates, txn, key)? {
        Some(record) => Ok(Some(record)),
        None => Err(StoreError::Corrupt(format!("fingerprint index names a missing certificate {key:02x?}"))),
    }
}

/// The primary fingerprints (raw bytes) of every published certificate.
pub(crate) fn fingerprints(t: &Tables, txn: &RoTxn<'_>) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut fingerprints = Vec::new();
    for item in t.certificates_by_fingerprint.iter(txn)? {
        let (fingerprint, _) = item?;
        fingerprints.push(fingerprint.to_vec());
    }
    Ok(fingerprints)
}

/// Publishes (or replaces) a certificate edition and indexes its fingerprint.
pub(crate) fn put(
    t: &Tables,
    txn: &mut RwTxn,
    record: &CertificateRecord,
    audit: &AuditDraft,
) -> Result<(), StoreError> {
    accounts::existing(t, txn, record.account)?;
    let key = certificate_key(record.account, record.edition);
    super::put(t.certificates, txn, &key, record)?;
    t.certificates_by_fingerprint.put(txn, &record.fingerprint.to_bytes(), &key)?;
    audit::append(t, txn, audit)
}

/// Removes every edition of an account, with its index entries.
pub(crate) fn delete_all_of(t: &Tables, txn: &mut RwTxn, account: AccountId) -> Result<(), StoreError> {
    let mut editions = Vec::new();
    for item in t.certificates.prefix_iter(txn, &account_key(account))? {
        let (key, bytes) = item?;
        let certificate: CertificateRecord = decode(bytes)?;
        editions.push((key.to_vec(), certificate.fingerprint));
    }
    for (key, fingerprint) in editions {
        t.certificates.delete(txn, &key)?;
        t.certificates_by_fingerprint.delete(txn, &fingerprint.to_bytes())?;
    }
    Ok(())
}
