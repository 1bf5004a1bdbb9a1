//! The on-disk format in one place: the LMDB tables and their names, how each table's keys
//! are laid out, the `meta` keys, and the bincode encoding of every record.
//!
//! Every key is big-endian so that LMDB's byte order is the order that matters (uids within
//! a mailbox, editions within an account, arrival order for logs and trails). A change to
//! anything here is a change of [`FORMAT_VERSION`]: a store of another version is refused
//! at open, never guessed at.

use bincode::{Decode, Encode};
use heed::types::Bytes;
use heed::{Database, Env, RoTxn, RwTxn, WithoutTls};

use crate::types::{AccountId, MessageId, Millis, Protocol, Uid};
use crate::StoreError;

/// The on-disk format this build reads and writes; recorded in the `meta` table.
///
/// 2: new mailbox entries go to `arrivals` first (see [`arrival_key`]). A store of format 1
/// is upgraded when it is opened: it has no arrivals, so nothing moves; the version is
/// rewritten so that an older build refuses the store instead of missing its arrivals.
pub const FORMAT_VERSION: u32 = 2;
/// The earlier format this build upgrades at open.
const FORMAT_VERSION_UPGRADED: u32 = 1;
/// Most named tables in the environment (LMDB's `max_dbs`).
pub(crate) const TABLES_MAX: u32 = 32;

/// Every table maps bytes to bytes: keys are laid out by the functions below, values are
/// bincode records (or, for `blobs`, the sealed message itself).
pub(crate) type Table = Database<Bytes, Bytes>;

/// `meta` key of the format version (a big-endian `u32`).
pub(crate) const META_FORMAT_VERSION: &[u8] = b"format_version";
/// `meta` keys of the writer's sequences (big-endian `u64`, the next number to hand out).
pub(crate) const META_NEXT_ACCOUNT: &[u8] = b"next_account";
pub(crate) const META_NEXT_MESSAGE: &[u8] = b"next_message";
pub(crate) const META_NEXT_LOG: &[u8] = b"next_log";
/// One sequence shared by notices, data-protection requests and alerts.
pub(crate) const META_NEXT_NOTICE: &[u8] = b"next_notice";
/// `meta` key of the terms of use in force (a `TermsOfUse`).
pub(crate) const META_TERMS: &[u8] = b"terms";
/// `meta` key of the trust list in force (a `TrustListRecord`). Added without a format
/// change: a store without it has no trust list.
pub(crate) const META_TRUST_LIST: &[u8] = b"trust_list";
/// `meta` key of the audit chain's last entry (sequence and hash, an `AuditCheckpoint`).
pub(crate) const META_AUDIT_HEAD: &[u8] = b"audit_head";
/// `meta` key of the last purged audit entry (sequence and hash, an `AuditCheckpoint`).
pub(crate) const META_AUDIT_CHECKPOINT: &[u8] = b"audit_checkpoint";

/// The store's tables, opened (and created on first use) by [`Tables::create`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tables {
    /// The format version, the writer's sequences, the terms of use, the audit chain's ends.
    pub meta: Table,
    /// [`account_key`] → Account
    pub accounts: Table,
    /// address bytes → [`account_key`]
    pub by_address: Table,
    /// [`message_key`] → MessageRecord
    pub messages: Table,
    /// [`message_key`] → sealed bytes
    pub blobs: Table,
    /// [`entry_key`] → MailboxEntry: each mailbox an ordered index, of the entries folded
    /// from `arrivals`.
    pub mailbox: Table,
    /// [`arrival_key`] → MailboxEntry: the mailbox entries of the latest messages, in
    /// arrival order, until they are folded into `mailbox` (all of them once there are
    /// `ARRIVALS_FOLD_AT`, an account's before any write to its mailbox). A mailbox is
    /// its `mailbox` entries followed by its arrivals.
    pub arrivals: Table,
    /// [`seq_key`] → ConnectionRecord: one per authenticated session.
    pub connections: Table,
    /// [`tally_key`] → ConnectionTally: the sessions that never logged in, counted per
    /// minute, protocol and source address. Added without a format change: a store made
    /// before it gets the table, empty, when it is opened.
    pub connection_tallies: Table,
    /// [`account_key`] → AccountState (absent: the default state)
    pub account_state: Table,
    /// [`seq_key`] → Notice waiting for the smarthost
    pub notices: Table,
    /// [`message_key`] → MessageTrail (metadata only; outlives the message until retention)
    pub trails: Table,
    /// [`seq_key`] → AuditEntry, hash-chained
    pub audit: Table,
    /// [`certificate_key`] → CertificateRecord (public material only)
    pub certificates: Table,
    /// primary key fingerprint (raw bytes) → [`certificate_key`]
    pub certificates_by_fingerprint: Table,
    /// [`account_key`] → DirectoryEntry (absent: a personal mailbox with nothing more said)
    pub directory: Table,
    /// [`account_key`] → PortalRecord (second factor, terms accepted)
    pub portal: Table,
    /// SHA-256 of a session token → WebSession
    pub sessions: Table,
    /// [`seq_key`] → RightsRequest (data-protection requests)
    pub requests: Table,
    /// [`seq_key`] → Alert (for the administrator, until acknowledged)
    pub alerts: Table,
    /// [`seq_key`] → OutboundRecord: the federation's outbound queue, in filing order.
    /// Added without a format change: a store made before it gets the table, empty.
    pub outbound: Table,
    /// [`message_key`] → FederationTrail, beside the message's trail and purged with it.
    /// Added without a format change, as `outbound`.
    pub federation_trails: Table,
    /// [`entry_key`] → one byte, the recipient's flags on that mailbox entry
    /// (`MessageFlags`); absent when none is set, removed with the entry. Added without a
    /// format change, as `outbound`.
    pub flags: Table,
}

impl Tables {
    /// Opens every table by its name, creating the missing ones in `txn`.
    pub fn create(env: &Env<WithoutTls>, txn: &mut RwTxn) -> Result<Tables, StoreError> {
        let mut table = |name: &str| env.create_database::<Bytes, Bytes>(txn, Some(name));
        Ok(Tables {
            meta: table("meta")?,
            accounts: table("accounts")?,
            by_address: table("accounts_by_address")?,
            messages: table("messages")?,
            blobs: table("blobs")?,
            mailbox: table("mailbox")?,
            arrivals: table("arrivals")?,
            connections: table("connections")?,
            connection_tallies: table("connection_tallies")?,
            account_state: table("account_state")?,
            notices: table("notices")?,
            trails: table("trails")?,
            audit: table("audit")?,
            certificates: table("certificates")?,
            certificates_by_fingerprint: table("certificates_by_fingerprint")?,
            directory: table("directory")?,
            portal: table("portal")?,
            sessions: table("sessions")?,
            requests: table("requests")?,
            alerts: table("alerts")?,
            outbound: table("outbound")?,
            federation_trails: table("federation_trails")?,
            flags: table("flags")?,
        })
    }

    /// Records the format version in a new store, upgrades a store of the earlier format,
    /// and refuses a store of any other version.
    pub fn check_format_version(&self, txn: &mut RwTxn) -> Result<(), StoreError> {
        match self.meta.get(txn, META_FORMAT_VERSION)? {
            None => self.meta.put(txn, META_FORMAT_VERSION, &FORMAT_VERSION.to_be_bytes())?,
            Some(bytes) => {
                let found =
                    u32::from_be_bytes(bytes.try_into().map_err(|_| StoreError::Corrupt("format version".into()))?);
                if found == FORMAT_VERSION_UPGRADED {
                    // Format 1 had no `arrivals` table: `create` has just made it, empty.
                    self.meta.put(txn, META_FORMAT_VERSION, &FORMAT_VERSION.to_be_bytes())?;
                } else if found != FORMAT_VERSION {
                    return Err(StoreError::FormatVersion { found, supported: FORMAT_VERSION });
                }
            }
        }
        Ok(())
    }

    /// Every table, to measure what they take in the map.
    pub fn all(&self) -> [Table; 23] {
        [
            self.meta,
            self.accounts,
            self.by_address,
            self.messages,
            self.blobs,
            self.mailbox,
            self.arrivals,
            self.connections,
            self.connection_tallies,
            self.account_state,
            self.notices,
            self.trails,
            self.audit,
            self.certificates,
            self.certificates_by_fingerprint,
            self.directory,
            self.portal,
            self.sessions,
            self.requests,
            self.alerts,
            self.outbound,
            self.federation_trails,
            self.flags,
        ]
    }

    /// A sequence kept in `meta` (1 when the store has not used it yet).
    pub fn sequence(&self, txn: &RoTxn<'_>, name: &[u8]) -> Result<u64, StoreError> {
        Ok(match self.meta.get(txn, name)? {
            Some(bytes) => u64::from_be_bytes(bytes.try_into().map_err(|_| StoreError::Corrupt("counter".into()))?),
            None => 1,
        })
    }
}

/// An account's records (accounts, state, directory entry, personal space) are keyed by its
/// id; its mailbox entries and certificates start with the same eight bytes.
pub(crate) fn account_key(id: AccountId) -> [u8; 8] {
    id.0.to_be_bytes()
}

/// A message's record, sealed bytes and trail share its id as key.
pub(crate) fn message_key(id: MessageId) -> [u8; 8] {
    id.0.to_be_bytes()
}

/// Tables in arrival order (connections, notices, audit, requests, alerts) are keyed by a
/// sequence number.
pub(crate) fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Big-endian minute first, so that LMDB's byte order is time order (retention stops at
/// the first minute it keeps); then the protocol and the source address, so that one
/// minute's sessions from one address and protocol share one key.
pub(crate) fn tally_key(minute: Millis, protocol: Protocol, peer: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(9 + peer.len());
    key.extend_from_slice(&minute.0.to_be_bytes());
    key.push(match protocol {
        Protocol::Smtp => 0,
        Protocol::Pop3 => 1,
        Protocol::Web => 2,
        Protocol::Imap => 3,
    });
    key.extend_from_slice(peer.as_bytes());
    key
}

/// Big-endian so that LMDB's byte order is uid order within each mailbox.
pub(crate) fn entry_key(account: AccountId, uid: Uid) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..8].copy_from_slice(&account.0.to_be_bytes());
    key[8..].copy_from_slice(&uid.0.to_be_bytes());
    key
}

/// The message first, so that a commit's new entries go together at the end of the table
/// (one leaf written, where keying them by account wrote one leaf per recipient); then
/// the account. Big-endian: arrival order, and an account's arrivals in uid order.
pub(crate) fn arrival_key(message: MessageId, account: AccountId) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&message.0.to_be_bytes());
    key[8..].copy_from_slice(&account.0.to_be_bytes());
    key
}

/// The account an arrival's key belongs to.
pub(crate) fn arrival_owner(key: &[u8]) -> Result<u64, StoreError> {
    be_u64(key.get(8..16).ok_or_else(|| StoreError::Corrupt("arrival key length".into()))?)
}

/// Big-endian so that an account's editions are in order.
pub(crate) fn certificate_key(account: AccountId, edition: u32) -> [u8; 12] {
    let mut key = [0; 12];
    key[..8].copy_from_slice(&account.0.to_be_bytes());
    key[8..].copy_from_slice(&edition.to_be_bytes());
    key
}

/// The account a mailbox entry's or a certificate's key belongs to.
pub(crate) fn key_owner(key: &[u8]) -> Result<u64, StoreError> {
    be_u64(key.get(..8).ok_or_else(|| StoreError::Corrupt("key length".into()))?)
}

/// Decodes an eight-byte key or value (an id or a sequence number).
pub(crate) fn be_u64(bytes: &[u8]) -> Result<u64, StoreError> {
    Ok(u64::from_be_bytes(bytes.try_into().map_err(|_| StoreError::Corrupt("key length".into()))?))
}

/// bincode's standard configuration: variable-length integers, little-endian.
fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// A record as stored.
pub(crate) fn encode<T: Encode>(value: &T) -> Result<Vec<u8>, StoreError> {
    bincode::encode_to_vec(value, config()).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A record from its stored bytes; one that does not decode is corrupt.
pub(crate) fn decode<T: Decode<()>>(bytes: &[u8]) -> Result<T, StoreError> {
    bincode::decode_from_slice(bytes, config()).map(|(value, _)| value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A record read in place from its stored bytes, borrowing them (see
/// [`crate::types::AccountInPlace`]); one that does not decode is corrupt.
pub(crate) fn decode_in_place<'a, T: bincode::BorrowDecode<'a, ()>>(bytes: &'a [u8]) -> Result<T, StoreError> {
    bincode::borrow_decode_from_slice(bytes, config())
        .map(|(value, _)| value)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(tables: &Tables, txn: &RoTxn<'_>) -> u32 {
        let bytes = tables.meta.get(txn, META_FORMAT_VERSION).expect("read").expect("recorded");
        u32::from_be_bytes(bytes.try_into().expect("four bytes"))
    }

    #[test]
    fn a_store_of_the_earlier_format_is_upgraded_and_any_other_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = crate::store::open_env(dir.path(), 1 << 20).expect("env");
        let mut txn = env.write_txn().expect("txn");
        let tables = Tables::create(&env, &mut txn).expect("tables");
        tables.check_format_version(&mut txn).expect("a new store");
        assert_eq!(version(&tables, &txn), FORMAT_VERSION);

        tables.meta.put(&mut txn, META_FORMAT_VERSION, &FORMAT_VERSION_UPGRADED.to_be_bytes()).expect("put");
        tables.check_format_version(&mut txn).expect("format 1 is upgraded");
        assert_eq!(version(&tables, &txn), FORMAT_VERSION, "and says so, for older builds to refuse it");

        tables.meta.put(&mut txn, META_FORMAT_VERSION, &(FORMAT_VERSION + 1).to_be_bytes()).expect("put");
        match tables.check_format_version(&mut txn) {
            Err(StoreError::FormatVersion { found, supported }) => {
                assert_eq!((found, supported), (FORMAT_VERSION + 1, FORMAT_VERSION))
            }
            other => panic!("a newer store must be refused, got {other:?}"),
        }
    }
}
