//! The single writer: one thread owns every LMDB write transaction.
//!
//! Group commit: the thread takes the first waiting write, then everything else already
//! queued (up to [`BATCH_OPS_MAX`] writes or [`BATCH_BYTES_MAX`] bytes), applies them all in
//! one transaction and commits once. Only after that commit is durable does each caller get
//! its answer. So N concurrent accepts cost one fsync, not N.
//!
//! Each write checks everything that can refuse it *before* it changes anything, so a
//! refused write leaves the shared transaction untouched. A write that fails inside LMDB
//! (map full) aborts the batch; the others are retried without it. A failed commit poisons
//! the store: every later write is refused until the process restarts.
//!
//! Once a batch is answered, the writer folds the mailbox arrivals into the mailboxes when
//! there are enough of them (`tables/messages.rs`), in a transaction of its own: no caller
//! waits for it, and a fold that fails (a full store) refuses no one's write.
//!
//! `op.rs` lists the writes and hands each to its table family's applier; `room.rs`
//! measures the room left on disk and tells a full disk from a failing one.

mod op;
mod room;

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;

use heed::RwTxn;
use tokio::sync::oneshot;

pub(crate) use self::op::{WriteOp, WriteOutcome};
use self::room::{disk_room, is_full, is_short_write_on_full_disk, libc_enospc};
use crate::counters::Counters;
use crate::shared::Shared;
use crate::tables::messages::{self, ARRIVALS_FOLD_AT};
use crate::StoreError;

/// Most writes in one transaction.
pub const BATCH_OPS_MAX: usize = 1024;
/// Most message bytes in one transaction; larger batches only delay the first caller.
pub const BATCH_BYTES_MAX: usize = 64 * 1024 * 1024;

pub(crate) struct Job {
    pub op: WriteOp,
    pub reply: oneshot::Sender<Result<WriteOutcome, StoreError>>,
}

/// What the writer thread receives.
pub(crate) enum Request {
    Write(Job),
    /// Commit what is queued before this, then end the thread.
    Stop,
}

pub(crate) fn run(shared: Arc<Shared>, requests: Receiver<Request>, mut counters: Counters) {
    let mut pending: VecDeque<Job> = VecDeque::new();
    let mut stopping = false;
    let mut fold_at = ARRIVALS_FOLD_AT;
    loop {
        if pending.is_empty() {
            if stopping {
                return;
            }
            match requests.recv() {
                Ok(Request::Write(job)) => pending.push_back(job),
                Ok(Request::Stop) | Err(_) => return, // stopped, or every Store handle is gone
            }
        }
        // Gather what is already waiting: this is the group commit.
        let mut weight: usize = pending.iter().map(|j| j.op.weight()).sum();
        while !stopping && pending.len() < BATCH_OPS_MAX && weight < BATCH_BYTES_MAX {
            match requests.try_recv() {
                Ok(Request::Write(job)) => {
                    weight += job.op.weight();
                    pending.push_back(job);
                }
                Ok(Request::Stop) => stopping = true,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if shared.poisoned.load(Ordering::Acquire) {
            for job in pending.drain(..) {
                let _ = job.reply.send(Err(StoreError::Poisoned));
            }
            continue;
        }
        let batch: Vec<Job> = pending.drain(..).collect();
        match commit_batch(&shared, batch, &mut counters, &mut pending) {
            Some(arrivals) if arrivals >= fold_at => fold_at = fold_arrivals(&shared, arrivals),
            _ => {}
        }
    }
}

/// Folds every mailbox arrival into the mailboxes in a transaction of its own; returns the
/// count of arrivals at which to fold next. A fold that fails leaves the arrivals where
/// they are, readable as before, and is tried again once as many more have arrived (a full
/// store frees room as recipients collect; a record that does not decode is fsck's to
/// report). Nothing was promised to a caller, so nothing is poisoned: a failing disk
/// fails the next batch's commit.
fn fold_arrivals(shared: &Shared, arrivals: u64) -> u64 {
    let folded = shared.env.write_txn().map_err(StoreError::from).and_then(|mut txn| {
        messages::fold_arrivals(&shared.tables, &mut txn)?;
        txn.commit().map_err(StoreError::from)
    });
    match folded {
        Ok(()) => {
            shared.commits.fetch_add(1, Ordering::Relaxed);
            ARRIVALS_FOLD_AT
        }
        Err(error) => {
            tracing::warn!(%error, arrivals, "the mailbox arrivals were not folded; trying again later");
            arrivals.saturating_add(ARRIVALS_FOLD_AT)
        }
    }
}

/// A job and what applying it produced.
type Applied = (Job, Result<WriteOutcome, StoreError>);

/// Applies and commits one batch. Jobs that must be retried (their batch hit a map-full
/// error caused by another job) are pushed back onto `retry`.
/// Returns, when the batch was committed, the mailbox arrivals it left (LMDB counts a
/// table's entries).
fn commit_batch(shared: &Shared, batch: Vec<Job>, counters: &mut Counters, retry: &mut VecDeque<Job>) -> Option<u64> {
    if batch.iter().any(|job| matches!(job.op, WriteOp::Accept { .. })) {
        counters.disk_room_bytes = disk_room(shared, counters.disk_reserve_bytes);
    }
    let txn = match shared.env.write_txn() {
        Ok(txn) => txn,
        Err(e) => {
            poison(shared, batch, e);
            return None;
        }
    };
    let start_counters = *counters;
    let Some((mut txn, results)) = apply_all(shared, txn, batch, counters, retry) else {
        *counters = start_counters;
        return None;
    };
    let committed = counters.persist(&shared.tables, &mut txn).and_then(|()| {
        let arrivals = shared.tables.arrivals.len(&txn)?;
        txn.commit()?;
        Ok(arrivals)
    });
    match committed {
        Ok(arrivals) => {
            answer(shared, results);
            return Some(arrivals);
        }
        Err(error) if is_full(&error) || is_short_write_on_full_disk(shared, &error, counters.disk_reserve_bytes) => {
            // The batch fits no more at commit time (LMDB needs pages for its own free list
            // too). LMDB aborted the transaction: nothing of it is on disk and the store is
            // as it was, so this is a full store, not an unknown state.
            *counters = start_counters;
            refuse_heaviest(results, retry);
        }
        Err(e) => poison(shared, results.into_iter().map(|(job, _)| job).collect(), e),
    }
    None
}

/// Applies each job of the batch in `txn`. When one fails in a way that may have left
/// part of it written, the transaction is dropped, that job refused and the others pushed
/// back onto `retry` (`None`).
fn apply_all<'e>(
    shared: &'e Shared,
    mut txn: RwTxn<'e>,
    batch: Vec<Job>,
    counters: &mut Counters,
    retry: &mut VecDeque<Job>,
) -> Option<(RwTxn<'e>, Vec<Applied>)> {
    let mut results: Vec<Applied> = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        match op::apply(&shared.tables, &mut txn, &job.op, counters) {
            // Every refusal (quota, unknown account, full, …) is decided before a write
            // changes anything, so it leaves the shared transaction clean. An LMDB error or a
            // record that does not decode can come halfway through a write: drop the whole
            // transaction, refuse this write and retry the rest in a fresh one, so that no
            // half-applied write is ever committed.
            Err(error @ (StoreError::Lmdb(_) | StoreError::Corrupt(_) | StoreError::Crypto)) => {
                drop(txn);
                let error = match error {
                    StoreError::Lmdb(heed::Error::Mdb(heed::MdbError::MapFull)) => StoreError::Full,
                    StoreError::Lmdb(heed::Error::Io(e)) if e.raw_os_error() == Some(libc_enospc()) => StoreError::Full,
                    other => other,
                };
                tracing::error!(%error, "store write refused; retrying the rest of its batch");
                let _ = job.reply.send(Err(error));
                retry.extend(results.into_iter().map(|(job, _)| job));
                retry.extend(jobs);
                return None;
            }
            outcome => results.push((job, outcome)),
        }
    }
    Some((txn, results))
}

/// The batch did not fit at commit time: refuses the heaviest write — an accept, normally —
/// and pushes the others back onto `retry`.
fn refuse_heaviest(results: Vec<Applied>, retry: &mut VecDeque<Job>) {
    let mut jobs: Vec<Job> = results.into_iter().map(|(job, _)| job).collect();
    let heaviest = (0..jobs.len()).max_by_key(|&i| jobs[i].op.weight());
    if let Some(heaviest) = heaviest {
        let job = jobs.remove(heaviest);
        tracing::error!("the store is full: a write is refused; retrying the rest of its batch");
        let _ = job.reply.send(Err(StoreError::Full));
    }
    retry.extend(jobs);
}

/// The batch is durable: counts it, moves the directory generation when it may have
/// changed what the directory shows, and answers each caller.
fn answer(shared: &Shared, results: Vec<Applied>) {
    shared.commits.fetch_add(1, Ordering::Relaxed);
    shared.committed_writes.fetch_add(results.len() as u64, Ordering::Relaxed);
    if results.iter().any(|(job, outcome)| outcome.is_ok() && job.op.touches_directory()) {
        // Before anyone hears of the write: whoever then reads the directory rebuilds it.
        shared.directory_generation.fetch_add(1, Ordering::Release);
    }
    for (job, outcome) in results {
        let _ = job.reply.send(outcome);
    }
}

fn poison(shared: &Shared, jobs: Vec<Job>, error: impl Into<StoreError>) {
    let error = error.into();
    tracing::error!(%error, "store commit failed: the store is poisoned and refuses writes until restart");
    shared.poisoned.store(true, Ordering::Release);
    let full = matches!(&error, StoreError::Full)
        || matches!(&error, StoreError::Io(e) if e.raw_os_error() == Some(libc_enospc()));
    for job in jobs {
        let _ = job.reply.send(Err(if full { StoreError::Full } else { StoreError::Poisoned }));
    }
}
