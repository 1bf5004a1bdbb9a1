//! The trust list of the operators' trust space, one record in `meta`: the last list that
//! was read whole.

use heed::{RoTxn, RwTxn};

use super::audit;
use crate::schema::{Tables, META_TRUST_LIST};
use crate::types::{AuditDraft, TrustListRecord};
use crate::StoreError;

pub(crate) fn get(t: &Tables, txn: &RoTxn<'_>) -> Result<Option<TrustListRecord>, StoreError> {
    super::get(t.meta, txn, META_TRUST_LIST)
}

/// Puts a new list in force, with its audit entry.
pub(crate) fn set(t: &Tables, txn: &mut RwTxn, record: &TrustListRecord, audit: &AuditDraft) -> Result<(), StoreError> {
    super::put(t.meta, txn, META_TRUST_LIST, record)?;
    audit::append(t, txn, audit)
}
