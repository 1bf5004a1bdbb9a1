//! The writer's counters: the sequences it hands out (persisted in `meta` in every
//! transaction that moves them) and the room left for new messages (measured, not stored).
//!
//! ## Room in the map
//! LMDB copies every page it changes, so even a deletion needs free pages to commit: a map
//! filled to the last page would let nothing be deleted, and the store would stay full.
//! Two shares of the map keep room for the deletions that free it (a POP3 expunge, a
//! message's erasure, an account's removal, retention's purge) and the trails, audit
//! entries and notices that go with them:
//!
//! - **Messages** are refused once their footprint reaches [`ACCEPT_FILL_PERCENT_MAX`] of
//!   the map (counted in the writer as they are accepted and erased).
//! - **Writes a stranger can drive without logging in** — the connection log, above all:
//!   every TCP connection ends in a line — are dropped once the pages of all tables reach
//!   [`STRANGER_FILL_PERCENT_MAX`] of the map, and the records of authenticated sessions
//!   once they reach [`LOG_FILL_PERCENT_MAX`]. The pages are measured inside the write
//!   transaction (each table's B-tree statistics, this transaction's writes included), so a
//!   batch of records cannot overshoot the share. What stays above
//!   [`LOG_FILL_PERCENT_MAX`] is for deletions alone; connections go on being served (and
//!   traced in the process log) while their records are dropped.

use heed::{RoTxn, RwTxn};

use crate::schema::{self, Tables, META_NEXT_ACCOUNT, META_NEXT_LOG, META_NEXT_MESSAGE, META_NEXT_NOTICE};
use crate::types::MessageRecord;
use crate::StoreError;

/// Messages are refused once their footprint reaches this share of the map: the rest is
/// kept for what must never fail for lack of room — above all the deletions that free it
/// (LMDB copies pages on write, so even a delete needs free pages), and the trails,
/// logs and notices that go with them.
pub const ACCEPT_FILL_PERCENT_MAX: u64 = 80;

/// The records of sessions that never logged in (the connection log's tallies) are dropped
/// once the store's pages fill this share of the map: a stranger gets no more of it than
/// the practices' messages.
pub const STRANGER_FILL_PERCENT_MAX: u64 = ACCEPT_FILL_PERCENT_MAX;

/// The records of authenticated sessions are dropped once the store's pages fill this share
/// of the map. The rest — a tenth of the map, hundreds of pages even on a small store — is
/// kept for the deletions that free room (see the module documentation).
pub const LOG_FILL_PERCENT_MAX: u64 = 90;

/// What the store's tables take in the map, as seen by `txn` (its own writes included):
/// every B-tree's branch, leaf and overflow pages. Pages on LMDB's free list are not
/// counted: they are the room a deletion commits into.
pub(crate) fn map_used_bytes(tables: &Tables, txn: &RoTxn<'_>) -> Result<u64, StoreError> {
    let mut used = 0u64;
    for table in tables.all() {
        let stat = table.stat(txn)?;
        let pages = stat.branch_pages + stat.leaf_pages + stat.overflow_pages;
        used = used.saturating_add((pages as u64).saturating_mul(u64::from(stat.page_size)));
    }
    Ok(used)
}

/// What a message of `size` bytes takes in the store file: its sealed bytes in whole 4 KiB
/// overflow pages, with the nonce, tag and page header.
pub(crate) fn message_footprint(size: u64) -> u64 {
    (size + 64).div_ceil(4096) * 4096
}

/// Counters the writer hands out; persisted in every transaction that moves them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counters {
    pub next_account: u64,
    pub next_message: u64,
    pub next_log: u64,
    pub next_notice: u64,
    /// What the stored messages take in the store file (see [`message_footprint`]).
    pub message_pages_bytes: u64,
    /// Above this footprint, new messages are refused as if the store were full.
    pub accept_limit_bytes: u64,
    /// The map's size: the shares of [`STRANGER_FILL_PERCENT_MAX`] and
    /// [`LOG_FILL_PERCENT_MAX`] are taken of it.
    pub map_bytes: u64,
    /// Free space kept on the filesystem (not persisted: from the options).
    pub disk_reserve_bytes: u64,
    /// What new messages may still take on disk in this batch (not persisted: measured
    /// at the start of each batch by the writer).
    pub disk_room_bytes: u64,
}

impl Counters {
    /// Reads the sequences from `meta` and adds up the stored messages' footprint.
    pub fn load(
        tables: &Tables,
        txn: &RoTxn<'_>,
        map_bytes: usize,
        disk_reserve_bytes: u64,
    ) -> Result<Self, StoreError> {
        let mut message_pages_bytes = 0;
        for item in tables.messages.iter(txn)? {
            let (_, bytes) = item?;
            let record: MessageRecord = schema::decode(bytes)?;
            message_pages_bytes += message_footprint(record.size);
        }
        Ok(Counters {
            next_account: tables.sequence(txn, META_NEXT_ACCOUNT)?,
            next_message: tables.sequence(txn, META_NEXT_MESSAGE)?,
            next_log: tables.sequence(txn, META_NEXT_LOG)?,
            next_notice: tables.sequence(txn, META_NEXT_NOTICE)?,
            message_pages_bytes,
            accept_limit_bytes: (map_bytes as u64) / 100 * ACCEPT_FILL_PERCENT_MAX,
            map_bytes: map_bytes as u64,
            disk_reserve_bytes,
            disk_room_bytes: u64::MAX,
        })
    }

    /// Writes the sequences to `meta`, in the transaction that moved them.
    pub fn persist(&self, tables: &Tables, txn: &mut RwTxn) -> Result<(), StoreError> {
        tables.meta.put(txn, META_NEXT_ACCOUNT, &self.next_account.to_be_bytes())?;
        tables.meta.put(txn, META_NEXT_MESSAGE, &self.next_message.to_be_bytes())?;
        tables.meta.put(txn, META_NEXT_LOG, &self.next_log.to_be_bytes())?;
        tables.meta.put(txn, META_NEXT_NOTICE, &self.next_notice.to_be_bytes())?;
        Ok(())
    }

    /// Whether the map still has room for a connection log record: one of an authenticated
    /// session, or a tally of sessions that never logged in (see the module documentation).
    pub fn log_has_room(&self, tables: &Tables, txn: &RoTxn<'_>, authenticated: bool) -> Result<bool, StoreError> {
        let percent = if authenticated { LOG_FILL_PERCENT_MAX } else { STRANGER_FILL_PERCENT_MAX };
        Ok(map_used_bytes(tables, txn)? < self.map_bytes / 100 * percent)
    }

    /// The next number of the sequence shared by notices, data-protection requests and
    /// alerts: one sequence of filings.
    pub fn take_filing(&mut self) -> u64 {
        let seq = self.next_notice;
        self.next_notice += 1;
        seq
    }
}
