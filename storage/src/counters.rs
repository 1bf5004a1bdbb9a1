//! The writer's counters: the sequences it hands out (persisted in `meta` in every
//! transaction that moves them) and the room left for new messages (measured, not stored).

use heed::{RoTxn, RwTxn};

use crate::schema::{self, Tables, META_NEXT_ACCOUNT, META_NEXT_LOG, META_NEXT_MESSAGE, META_NEXT_NOTICE};
use crate::types::MessageRecord;
use crate::StoreError;

/// Messages are refused once their footprint reaches this share of the map: the rest is
/// kept for what must never fail for lack of room — above all the deletions that free it
/// (LMDB copies pages on write, so even a delete needs free pages), and the trails,
/// logs and notices that go with them.
pub const ACCEPT_FILL_PERCENT_MAX: u64 = 80;

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

    /// The next number of the sequence shared by notices, data-protection requests and
    /// alerts: one sequence of filings.
    pub fn take_filing(&mut self) -> u64 {
        let seq = self.next_notice;
        self.next_notice += 1;
        seq
    }
}
