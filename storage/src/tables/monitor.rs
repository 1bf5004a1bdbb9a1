//! The monitor's view of each account (`account_state`): reception disabled, notices sent,
//! blocks, closure and legal hold. The default state is stored as no record at all. A
//! state change is written with the notice and the alert that tell of it.

use heed::{RoTxn, RwTxn};

use super::{accounts, alerts, notices};
use crate::counters::Counters;
use crate::schema::{account_key, Tables};
use crate::types::*;
use crate::StoreError;

pub(crate) fn state(t: &Tables, txn: &RoTxn<'_>, id: AccountId) -> Result<AccountState, StoreError> {
    Ok(super::get(t.account_state, txn, &account_key(id))?.unwrap_or_default())
}

/// The default state is stored as no record at all.
pub(crate) fn put_state(t: &Tables, txn: &mut RwTxn, id: AccountId, state: &AccountState) -> Result<(), StoreError> {
    if *state == AccountState::default() {
        t.account_state.delete(txn, &account_key(id))?;
        Ok(())
    } else {
        super::put(t.account_state, txn, &account_key(id), state)
    }
}

/// Changes an account's state, queueing the notice and filing the alert that tell of it.
pub(crate) fn update_state(
    t: &Tables,
    txn: &mut RwTxn,
    account: AccountId,
    change: &StateChange,
    notice: Option<&Notice>,
    alert: Option<&Alert>,
    counters: &mut Counters,
) -> Result<(), StoreError> {
    accounts::existing(t, txn, account)?;
    let mut state = state(t, txn, account)?;
    state.apply(change);
    put_state(t, txn, account, &state)?;
    if matches!(change, StateChange::Close { .. } | StateChange::Disable { reason: DisabledReason::Suspended, .. }) {
        // No login at any door from now on: an open web session ends in the same commit.
        super::portal::end_sessions(t, txn, account, None)?;
    }
    if let Some(notice) = notice {
        notices::queue(t, txn, notice, counters)?;
    }
    if let Some(alert) = alert {
        alerts::raise(t, txn, alert, counters)?;
    }
    Ok(())
}

/// A successful collection: recorded on the account, and it ends a spell of inactivity —
/// reception comes back in the same commit (an administrator's suspension stays).
pub(crate) fn record_collection(t: &Tables, txn: &mut RwTxn, account: AccountId, at: Millis) -> Result<(), StoreError> {
    let mut record = accounts::existing(t, txn, account)?;
    record.last_collection = Some(at);
    accounts::put(t, txn, &record)?;
    let mut state = state(t, txn, account)?;
    let before = state.clone();
    match state.disabled {
        Some((DisabledReason::Suspended, _)) => state.inactivity_noticed_at = None,
        _ => state.apply(&StateChange::Enable),
    }
    if state != before {
        put_state(t, txn, account, &state)?;
    }
    Ok(())
}
