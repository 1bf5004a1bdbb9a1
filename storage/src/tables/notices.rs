//! The outbound spool: notices waiting to leave for a user's contact e-mail (or the
//! administrator) through the smarthost, in filing order.

use heed::{RoTxn, RwTxn};

use crate::counters::Counters;
use crate::schema::{be_u64, decode, seq_key, Tables};
use crate::types::*;
use crate::StoreError;

/// Every notice waiting, with its sequence number, oldest first.
pub(crate) fn all(t: &Tables, txn: &RoTxn<'_>) -> Result<Vec<(u64, Notice)>, StoreError> {
    let mut notices = Vec::new();
    for item in t.notices.iter(txn)? {
        let (key, bytes) = item?;
        notices.push((be_u64(key)?, decode(bytes)?));
    }
    Ok(notices)
}

pub(crate) fn queue(t: &Tables, txn: &mut RwTxn, notice: &Notice, counters: &mut Counters) -> Result<(), StoreError> {
    let seq = counters.take_filing();
    super::put(t.notices, txn, &seq_key(seq), notice)
}

/// A delivery attempt: `None` removes the notice (it left), `Some` reschedules it.
pub(crate) fn attempted(t: &Tables, txn: &mut RwTxn, seq: u64, retry: Option<&Notice>) -> Result<(), StoreError> {
    match retry {
        Some(notice) => super::put(t.notices, txn, &seq_key(seq), notice),
        None => {
            t.notices.delete(txn, &seq_key(seq))?;
            Ok(())
        }
    }
}
