//! Caducée's durable store: accounts, mailboxes, sealed messages and the connection log in
//! one LMDB environment.
//!
//! Only this crate touches LMDB. Every write goes through one writer thread that batches
//! concurrent writes into a single transaction (group commit) and answers each caller only
//! once its commit is on disk. Each message is stored once however many mailboxes hold it,
//! sealed with its own key; erasing it removes that key in the same commit.
//!
//! The floor plan: `schema.rs` is the on-disk format in one place (tables, key layouts,
//! record encodings, `FORMAT_VERSION`); `tables/` holds one module per family of tables,
//! each with its reads and the appliers the writer runs for its writes; `store.rs` is the
//! handle (open, reads, writes, stats), `writer/` the writer thread, `fsck.rs` the
//! consistency check, `seal.rs` at-rest sealing and `types.rs` the records and newtypes.
//!
//! This crate must never hold a message in clear on disk, never log message bytes, and
//! never read a clock: time comes from its callers.

mod counters;
mod directory;
mod fingerprint;
mod fsck;
mod password;
mod schema;
mod seal;
mod shared;
mod store;
mod tables;
mod time;
mod types;
mod writer;

pub use directory::*;
pub use password::{hash_password, verify_password, PasswordError};
pub use schema::FORMAT_VERSION;
pub use seal::MasterKey;
pub use store::{
    CommitStats, Expunged, MapUsage, Store, StoreOptions, StoreStats, DEFAULT_DISK_RESERVE_BYTES, DEFAULT_MAP_BYTES,
};
pub use tables::connections::ConnectionTally;
pub use tables::messages::ARRIVALS_FOLD_AT;
pub use tables::portal::{web_session_ended, WEB_SESSION_IDLE_MILLIS, WEB_SESSION_LIFETIME_MILLIS};
pub use tables::retention::{Purge, Purged};
pub use types::*;
pub use writer::{BATCH_BYTES_MAX, BATCH_OPS_MAX};

/// Everything the store can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// LMDB reported an error (other than a full map, which is [`StoreError::Full`]).
    #[error("store error: {0}")]
    Lmdb(#[from] heed::Error),
    /// A file of the data folder could not be read or written.
    #[error("store file error: {0}")]
    Io(#[from] std::io::Error),
    /// The store file or the disk is full; nothing was written.
    #[error("the store is full")]
    Full,
    /// An earlier commit failed; the store refuses writes until the process restarts.
    #[error("the store refuses writes after a failed commit; restart the relay")]
    Poisoned,
    /// The writer thread is gone (the process is shutting down).
    #[error("the store is closed")]
    Closed,
    /// A record does not decode, or an invariant does not hold.
    #[error("store corrupt: {0}")]
    Corrupt(String),
    /// The store was written by a build with another on-disk format.
    #[error("store format {found} is not the supported format {supported}")]
    FormatVersion { found: u32, supported: u32 },
    /// The master key file does not hold a usable key.
    #[error("the master key file is not a 256-bit key")]
    MasterKey,
    /// Sealing or unsealing failed (tampered or mismatched data).
    #[error("a sealed record does not open")]
    Crypto,
    /// An account with this address exists already.
    #[error("an account for {0} already exists")]
    AccountExists(Address),
    #[error("no such account")]
    NoSuchAccount,
    /// The write contradicts the account's state (deleting an open or held account).
    #[error("{0}")]
    Refused(String),
    #[error("no such message")]
    NoSuchMessage,
    /// A record the write names is not (or no longer) in the store.
    #[error("no {0} in the store")]
    NotFound(String),
    /// Accepting the message would take this mailbox past its quota.
    #[error("the mailbox of {0} is full")]
    QuotaExceeded(Address),
    /// The message is larger than this mailbox's whole quota (bytes): no collection would
    /// make room for it.
    #[error("the message is larger than the whole quota of {0} ({1} bytes)")]
    LargerThanQuota(Address, u64),
}
