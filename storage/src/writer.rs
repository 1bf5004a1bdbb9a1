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

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;

use heed::RwTxn;
use tokio::sync::oneshot;

use crate::store::{entry_key, Inner};
use crate::types::*;
use crate::{DirectoryEntry, StoreError};

/// Most writes in one transaction.
pub const BATCH_OPS_MAX: usize = 1024;
/// Most message bytes in one transaction; larger batches only delay the first caller.
pub const BATCH_BYTES_MAX: usize = 64 * 1024 * 1024;
/// How many of the newest alerts a new one is compared with before it is filed as new.
const ALERTS_SCANNED_MAX: usize = 1000;

/// A write the store can make.
#[derive(Debug)]
pub(crate) enum WriteOp {
    CreateAccount(Box<NewAccount>),
    Accept {
        sender: Address,
        recipients: Vec<AccountId>,
        message: SealedMessage,
        at: Millis,
    },
    RecordCollection {
        account: AccountId,
        at: Millis,
    },
    Expunge {
        account: AccountId,
        uids: Vec<Uid>,
        at: Millis,
    },
    SetQuota {
        account: AccountId,
        quota_bytes: u64,
    },
    SetDeleteOnRetrieve {
        account: AccountId,
        enabled: bool,
    },
    LogConnection(ConnectionRecord),
    /// Changes an account's monitor state and queues the notice that tells of it, and the
    /// administrator's alert when it needs one, together.
    UpdateState {
        account: AccountId,
        change: StateChange,
        notice: Option<Notice>,
        alert: Option<Box<Alert>>,
    },
    QueueNotice(Notice),
    /// A notice left (`None`: delete it) or must be retried later.
    NoticeAttempted {
        seq: u64,
        retry: Option<Notice>,
    },
    /// Removes a closed account (not under legal hold) with its mailbox.
    DeleteAccount {
        account: AccountId,
        at: Millis,
        /// Written in the same transaction: no removal without its trace.
        audit: AuditDraft,
    },
    /// Appends an entry to the audit trail's hash chain.
    Audit(AuditDraft),
    /// Replaces an account's directory entry, with its audit entry.
    PutDirectory {
        account: AccountId,
        entry: Box<DirectoryEntry>,
        audit: AuditDraft,
    },
    /// Replaces an account's personal-space record, with its audit entry when given.
    PutPortal {
        account: AccountId,
        record: Box<PortalRecord>,
        audit: Option<AuditDraft>,
    },
    /// New names and contact e-mail for an account, with the audit entry.
    EditAccount(Box<AccountEdit>),
    /// A new password hash, with its audit entry.
    SetPassword {
        account: AccountId,
        password_hash: String,
        /// The personal-space session that made the change, kept; every other session of
        /// the account ends with the old password.
        keep_session: Option<Box<[u8; 32]>>,
        audit: AuditDraft,
    },
    /// Stores (or replaces) a web session under the hash of its token; `None` ends it.
    PutSession {
        token_hash: [u8; 32],
        session: Option<WebSession>,
    },
    /// Files a data-protection request, with its audit entry.
    FileRequest {
        request: Box<RightsRequest>,
        audit: AuditDraft,
    },
    /// Marks a data-protection request as dealt with, with its audit entry.
    CloseRequest {
        seq: u64,
        at: Millis,
        audit: AuditDraft,
    },
    /// Raises an alert for the administrator (or counts a repeat of an open one).
    RaiseAlert {
        alert: Box<Alert>,
    },
    /// Acknowledges an alert, with its audit entry.
    AcknowledgeAlert {
        seq: u64,
        by: String,
        audit: AuditDraft,
    },
    /// Publishes new terms of use (the version is the next one), with its audit entry.
    PublishTerms {
        text: String,
        at: Millis,
        audit: AuditDraft,
    },
    /// Publishes (or replaces) a certificate edition, with its audit entry.
    PutCertificate {
        record: Box<CertificateRecord>,
        audit: AuditDraft,
    },
    /// Retention: removes what is older than each limit (see [`Purge`]).
    Purge(Purge),
}

/// New names and contact e-mail for an account.
#[derive(Debug)]
pub(crate) struct AccountEdit {
    pub account: AccountId,
    pub first_name: String,
    pub last_name: String,
    pub contact_email: String,
    pub audit: AuditDraft,
}

/// What retention removes: connection records ended before `connections_before`, trails of
/// erased messages accepted before `trails_before`, audit entries made before
/// `audit_before` (the chain keeps a checkpoint).
#[derive(Debug, Clone, Copy)]
pub struct Purge {
    pub connections_before: Millis,
    pub trails_before: Millis,
    pub audit_before: Millis,
    /// Alerts acknowledged before this go (open ones stay, however old).
    pub alerts_before: Millis,
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Purged {
    pub connections: u64,
    pub trails: u64,
    pub audit_entries: u64,
    pub alerts: u64,
}

impl WriteOp {
    /// Whether this write can change what the directory shows (names, entries,
    /// preferences, certificates, an account closed or removed).
    fn touches_directory(&self) -> bool {
        matches!(
            self,
            WriteOp::CreateAccount(_)
                | WriteOp::PutDirectory { .. }
                | WriteOp::EditAccount(_)
                | WriteOp::PutCertificate { .. }
                | WriteOp::DeleteAccount { .. }
                | WriteOp::UpdateState { .. }
        )
    }

    fn weight(&self) -> usize {
        match self {
            WriteOp::Accept { message, .. } => message.ciphertext.len(),
            _ => 256,
        }
    }
}

/// What a write produced.
#[derive(Debug)]
pub(crate) enum WriteOutcome {
    AccountCreated(AccountId),
    Accepted {
        message: MessageId,
        uids: Vec<Uid>,
    },
    /// Messages erased for good by an expunge.
    Expunged {
        erased: u32,
        /// When each removed copy's message was accepted (for collection delays).
        accepted_at: Vec<Millis>,
    },
    Purged(Purged),
    Done,
}

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
    /// at the start of each batch by [`disk_room`]).
    pub disk_room_bytes: u64,
}

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

pub(crate) fn run(inner: Arc<Inner>, requests: Receiver<Request>, mut counters: Counters) {
    let mut pending: VecDeque<Job> = VecDeque::new();
    let mut stopping = false;
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
        if inner.poisoned.load(Ordering::Acquire) {
            for job in pending.drain(..) {
                let _ = job.reply.send(Err(StoreError::Poisoned));
            }
            continue;
        }
        let batch: Vec<Job> = pending.drain(..).collect();
        commit_batch(&inner, batch, &mut counters, &mut pending);
    }
}

/// Below this much free space on the filesystem, the store file's own free pages are
/// counted too (walking the databases' statistics costs a few microseconds: not worth it
/// while the disk has room).
const DISK_LOW_BYTES: u64 = 1 << 30;

/// What new messages may take on disk: the filesystem's free space, plus — when that runs
/// low — the pages free inside the store file (collected messages leave them, and LMDB
/// reuses them before growing the file), less the reserve. Measured before each batch.
///
/// Without it a full filesystem meets LMDB halfway through writing a commit's pages: the
/// write comes back short and LMDB reports EIO, which is only taken for a full disk when the
/// filesystem has next to nothing left (see [`is_short_write_on_full_disk`]). Free pages
/// inside the file are counted as room although LMDB may not reuse them at once (freed by
/// the last commit, or held by a reader): that case ends in such a short write, and a 452.
fn disk_room(inner: &Inner, reserve: u64) -> u64 {
    let Ok(stat) = rustix::fs::statvfs(inner.env.path()) else {
        return u64::MAX; // unknown: let LMDB's own errors decide
    };
    let mut free = stat.f_bavail.saturating_mul(stat.f_frsize);
    if free < DISK_LOW_BYTES.saturating_add(reserve) {
        let file = std::fs::metadata(inner.env.path().join("data.mdb")).map(|m| m.len()).unwrap_or(0);
        if let Ok(used) = inner.env.non_free_pages_size() {
            free = free.saturating_add(file.saturating_sub(used));
        }
    }
    free.saturating_sub(reserve)
}

/// Applies and commits one batch. Jobs that must be retried (their batch hit a map-full
/// error caused by another job) are pushed back onto `retry`.
fn commit_batch(inner: &Inner, batch: Vec<Job>, counters: &mut Counters, retry: &mut VecDeque<Job>) {
    if batch.iter().any(|job| matches!(job.op, WriteOp::Accept { .. })) {
        counters.disk_room_bytes = disk_room(inner, counters.disk_reserve_bytes);
    }
    let mut txn = match inner.env.write_txn() {
        Ok(txn) => txn,
        Err(e) => return poison(inner, batch, e),
    };
    let start_counters = *counters;
    let mut results: Vec<(Job, Result<WriteOutcome, StoreError>)> = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        match apply(inner, &mut txn, &job.op, counters) {
            // Every refusal (quota, unknown account, full, …) is decided before a write
            // changes anything, so it leaves the shared transaction clean. An LMDB error or a
            // record that does not decode can come halfway through a write: drop the whole
            // transaction, refuse this write and retry the rest in a fresh one, so that no
            // half-applied write is ever committed.
            Err(error @ (StoreError::Lmdb(_) | StoreError::Corrupt(_) | StoreError::Crypto)) => {
                drop(txn);
                *counters = start_counters;
                let error = match error {
                    StoreError::Lmdb(heed::Error::Mdb(heed::MdbError::MapFull)) => StoreError::Full,
                    StoreError::Lmdb(heed::Error::Io(e)) if e.raw_os_error() == Some(libc_enospc()) => StoreError::Full,
                    other => other,
                };
                tracing::error!(%error, "store write refused; retrying the rest of its batch");
                let _ = job.reply.send(Err(error));
                retry.extend(results.into_iter().map(|(job, _)| job));
                retry.extend(jobs);
                return;
            }
            outcome => results.push((job, outcome)),
        }
    }
    match persist_counters(inner, &mut txn, counters).and_then(|()| txn.commit().map_err(StoreError::from)) {
        Ok(()) => {}
        Err(error) if is_full(&error) || is_short_write_on_full_disk(inner, &error, counters.disk_reserve_bytes) => {
            // The batch fits no more at commit time (LMDB needs pages for its own free list
            // too). LMDB aborted the transaction: nothing of it is on disk and the store is
            // as it was, so this is a full store, not an unknown state. Refuse the heaviest
            // write — an accept, normally — and retry the others.
            *counters = start_counters;
            let mut jobs: Vec<Job> = results.into_iter().map(|(job, _)| job).collect();
            let heaviest = (0..jobs.len()).max_by_key(|&i| jobs[i].op.weight());
            if let Some(heaviest) = heaviest {
                let job = jobs.remove(heaviest);
                tracing::error!("the store is full: a write is refused; retrying the rest of its batch");
                let _ = job.reply.send(Err(StoreError::Full));
            }
            retry.extend(jobs);
            return;
        }
        Err(e) => {
            let jobs: Vec<Job> = results.into_iter().map(|(job, _)| job).collect();
            return poison(inner, jobs, e);
        }
    }
    inner.commits.fetch_add(1, Ordering::Relaxed);
    inner.committed_writes.fetch_add(results.len() as u64, Ordering::Relaxed);
    if results.iter().any(|(job, outcome)| outcome.is_ok() && job.op.touches_directory()) {
        // Before anyone hears of the write: whoever then reads the directory rebuilds it.
        inner.directory_generation.fetch_add(1, Ordering::Release);
    }
    for (job, outcome) in results {
        let _ = job.reply.send(outcome);
    }
}

/// A commit that failed with EIO on a filesystem with next to no space left. LMDB writes the
/// pages that grow the file with write/writev; a write the filesystem can take only in part
/// comes back short, which LMDB reports as EIO. That is before the meta page that would
/// publish the transaction (the meta pages sit at the file's start, their blocks allocated
/// long ago), and LMDB aborts the transaction: the store is as it was — a full disk, not a
/// failing one. An EIO with space to spare is a failing disk, and stops the store.
///
/// The room measured before each batch normally keeps commits from meeting the disk's end;
/// this covers what it cannot see: pages freed inside the store file that LMDB may not reuse
/// yet (freed by the last commit, or held by a reader such as a running backup), and other
/// programs filling the disk.
fn is_short_write_on_full_disk(inner: &Inner, error: &StoreError, reserve: u64) -> bool {
    let eio = match error {
        StoreError::Lmdb(heed::Error::Io(e)) | StoreError::Io(e) => e.raw_os_error() == Some(libc_eio()),
        _ => false,
    };
    eio && rustix::fs::statvfs(inner.env.path())
        .is_ok_and(|stat| stat.f_bavail.saturating_mul(stat.f_frsize) < reserve.max(DISK_NEARLY_FULL_BYTES))
}

/// What counts as no space left when a commit fails with EIO (see above).
const DISK_NEARLY_FULL_BYTES: u64 = 1 << 20;

const fn libc_eio() -> i32 {
    5 // EIO on Linux
}

/// A map or disk that is full: LMDB aborted the transaction and nothing of it is on disk
/// (a write that cannot grow the file fails before the meta page that would publish it).
fn is_full(error: &StoreError) -> bool {
    match error {
        StoreError::Lmdb(heed::Error::Mdb(heed::MdbError::MapFull)) => true,
        StoreError::Lmdb(heed::Error::Io(e)) | StoreError::Io(e) => e.raw_os_error() == Some(libc_enospc()),
        _ => false,
    }
}

fn poison(inner: &Inner, jobs: Vec<Job>, error: impl Into<StoreError>) {
    let error = error.into();
    tracing::error!(%error, "store commit failed: the store is poisoned and refuses writes until restart");
    inner.poisoned.store(true, Ordering::Release);
    let full = matches!(&error, StoreError::Full)
        || matches!(&error, StoreError::Io(e) if e.raw_os_error() == Some(libc_enospc()));
    for job in jobs {
        let _ = job.reply.send(Err(if full { StoreError::Full } else { StoreError::Poisoned }));
    }
}

const fn libc_enospc() -> i32 {
    28 // ENOSPC on Linux
}

/// The audit chain's last entry (sequence and hash), in `meta`.
pub(crate) const AUDIT_HEAD: &[u8] = b"audit_head";
/// The last purged audit entry (sequence and hash), in `meta`.
pub(crate) const AUDIT_CHECKPOINT: &[u8] = b"audit_checkpoint";

fn append_audit(inner: &Inner, txn: &mut RwTxn, draft: &AuditDraft) -> Result<(), StoreError> {
    let head: AuditCheckpoint = match inner.meta.get(txn, AUDIT_HEAD)? {
        Some(bytes) => crate::store::decode(bytes)?,
        None => AuditCheckpoint::default(),
    };
    let seq = head.seq + 1;
    let hash = crate::audit::chain_hash(&head.hash, seq, draft);
    let entry = AuditEntry { seq, entry: draft.clone(), hash: hash.clone() };
    inner.audit.put(txn, &seq.to_be_bytes(), &crate::store::encode(&entry)?)?;
    inner.meta.put(txn, AUDIT_HEAD, &crate::store::encode(&AuditCheckpoint { seq, hash })?)?;
    Ok(())
}

fn purge_old(inner: &Inner, txn: &mut RwTxn, purge: &Purge) -> Result<Purged, StoreError> {
    let mut purged = Purged::default();
    let mut doomed = Vec::new();
    // Both tables are keyed in arrival order: stop at the first record still kept.
    for item in inner.connections.iter(txn)? {
        let (key, bytes) = item?;
        let record: ConnectionRecord = crate::store::decode(bytes)?;
        // Records are written as sessions end, so their end times follow the keys.
        if record.ended_at >= purge.connections_before {
            break;
        }
        doomed.push(key.to_vec());
    }
    for key in doomed.drain(..) {
        inner.connections.delete(txn, &key)?;
        purged.connections += 1;
    }
    for item in inner.trails.iter(txn)? {
        let (key, bytes) = item?;
        let trail: MessageTrail = crate::store::decode(bytes)?;
        if trail.accepted_at >= purge.trails_before {
            break;
        }
        if trail.erased_at.is_some() {
            doomed.push(key.to_vec());
        }
    }
    for key in doomed.drain(..) {
        inner.trails.delete(txn, &key)?;
        purged.trails += 1;
    }
    // Audit entries go oldest first, and only from the start of the chain: the last one
    // purged becomes the checkpoint the rest is verified from.
    let mut checkpoint = None;
    for item in inner.audit.iter(txn)? {
        let (key, bytes) = item?;
        let entry: AuditEntry = crate::store::decode(bytes)?;
        if entry.entry.at >= purge.audit_before {
            break;
        }
        doomed.push(key.to_vec());
        checkpoint = Some(AuditCheckpoint { seq: entry.seq, hash: entry.hash });
    }
    for key in doomed.drain(..) {
        inner.audit.delete(txn, &key)?;
        purged.audit_entries += 1;
    }
    if let Some(checkpoint) = checkpoint {
        inner.meta.put(txn, AUDIT_CHECKPOINT, &crate::store::encode(&checkpoint)?)?;
    }
    // Alerts are few; acknowledged ones are kept for the retention period, then go.
    for item in inner.alerts.iter(txn)? {
        let (key, bytes) = item?;
        let alert: Alert = crate::store::decode(bytes)?;
        if alert.acknowledged_at.is_some_and(|at| at < purge.alerts_before) {
            doomed.push(key.to_vec());
        }
    }
    for key in doomed.drain(..) {
        inner.alerts.delete(txn, &key)?;
        purged.alerts += 1;
    }
    Ok(purged)
}

/// Files an alert, or counts a repeat of the same kind and subject while one is open. Open
/// alerts are few (the administrator acknowledges them): the newest are looked at first.
fn file_alert(inner: &Inner, txn: &mut RwTxn, alert: &Alert, counters: &mut Counters) -> Result<(), StoreError> {
    let mut open = None;
    for item in inner.alerts.rev_iter(txn)?.take(ALERTS_SCANNED_MAX) {
        let (key, bytes) = item?;
        let existing: Alert = crate::store::decode(bytes)?;
        if existing.acknowledged_at.is_none() && existing.kind == alert.kind && existing.subject == alert.subject {
            open = Some((key.to_vec(), existing));
            break;
        }
    }
    match open {
        Some((key, mut existing)) => {
            existing.repeats = existing.repeats.saturating_add(1);
            existing.last_raised_at = alert.raised_at;
            existing.text.clone_from(&alert.text);
            inner.alerts.put(txn, &key, &crate::store::encode(&existing)?)?;
        }
        None => {
            let seq = counters.next_notice; // one sequence of filings, as requests
            counters.next_notice += 1;
            let mut alert = alert.clone();
            alert.seq = seq;
            inner.alerts.put(txn, &seq.to_be_bytes(), &crate::store::encode(&alert)?)?;
        }
    }
    Ok(())
}

/// Removes mailbox entries of `record`, erasing (with their keys) the messages no mailbox
/// holds any more. `collected`: the recipient took them (the trail records it), rather than
/// the account being deleted.
fn remove_entries(
    inner: &Inner,
    txn: &mut RwTxn,
    record: &mut Account,
    uids: &[Uid],
    at: Millis,
    collected: bool,
    counters: &mut Counters,
) -> Result<(u32, Vec<Millis>), StoreError> {
    let mut erased = 0;
    let mut accepted_at = Vec::with_capacity(uids.len());
    for uid in uids {
        let key = entry_key(record.id, *uid);
        let Some(bytes) = inner.mailbox.get(txn, &key)? else {
            continue;
        };
        let entry: MailboxEntry = crate::store::decode(bytes)?;
        inner.mailbox.delete(txn, &key)?;
        record.used_bytes -= entry.size;
        record.message_count -= 1;
        let message_key = entry.message.0.to_be_bytes();
        let mut message: MessageRecord = match inner.messages.get(txn, &message_key)? {
            Some(bytes) => crate::store::decode(bytes)?,
            None => {
                return Err(StoreError::Corrupt(format!("mailbox entry points to missing message {}", entry.message.0)))
            }
        };
        message.references -= 1;
        accepted_at.push(message.accepted_at);
        let erased_now = message.references == 0;
        if let Some(bytes) = inner.trails.get(txn, &message_key)? {
            let mut trail: MessageTrail = crate::store::decode(bytes)?;
            if collected {
                for copy in trail.recipients.iter_mut().filter(|r| r.address == record.address) {
                    copy.collected_at.get_or_insert(at);
                }
            }
            if erased_now {
                trail.erased_at = Some(at);
            }
            inner.trails.put(txn, &message_key, &crate::store::encode(&trail)?)?;
        }
        if erased_now {
            counters.message_pages_bytes = counters.message_pages_bytes.saturating_sub(message_footprint(message.size));
            // Crypto-shredding: the wrapped key and the sealed bytes go in this commit.
            inner.messages.delete(txn, &message_key)?;
            inner.blobs.delete(txn, &message_key)?;
            erased += 1;
        } else {
            inner.messages.put(txn, &message_key, &crate::store::encode(&message)?)?;
        }
    }
    Ok((erased, accepted_at))
}

fn queue_notice(inner: &Inner, txn: &mut RwTxn, notice: &Notice, counters: &mut Counters) -> Result<(), StoreError> {
    let seq = counters.next_notice;
    counters.next_notice += 1;
    inner.notices.put(txn, &seq.to_be_bytes(), &crate::store::encode(notice)?)?;
    Ok(())
}

fn persist_counters(inner: &Inner, txn: &mut RwTxn, c: &Counters) -> Result<(), StoreError> {
    inner.meta.put(txn, b"next_account", &c.next_account.to_be_bytes())?;
    inner.meta.put(txn, b"next_message", &c.next_message.to_be_bytes())?;
    inner.meta.put(txn, b"next_log", &c.next_log.to_be_bytes())?;
    inner.meta.put(txn, b"next_notice", &c.next_notice.to_be_bytes())?;
    Ok(())
}

fn apply(inner: &Inner, txn: &mut RwTxn, op: &WriteOp, counters: &mut Counters) -> Result<WriteOutcome, StoreError> {
    match op {
        WriteOp::CreateAccount(new) => {
            if inner.by_address.get(txn, new.address.as_str().as_bytes())?.is_some() {
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
            inner.put_account(txn, &account)?;
            inner.by_address.put(txn, new.address.as_str().as_bytes(), &id.0.to_be_bytes())?;
            if let Some(entry) = &new.directory {
                inner.directory.put(txn, &crate::store::account_key(id), &crate::store::encode(entry)?)?;
            }
            Ok(WriteOutcome::AccountCreated(id))
        }
        WriteOp::Accept { sender, recipients, message, at } => {
            // Check every recipient before touching anything.
            let mut accounts = Vec::with_capacity(recipients.len());
            for id in recipients {
                let account = inner.account_in(txn, *id)?.ok_or(StoreError::NoSuchAccount)?;
                if account.used_bytes.saturating_add(message.size) > account.quota_bytes {
                    return Err(StoreError::QuotaExceeded(account.address));
                }
                accounts.push(account);
            }
            let footprint = message_footprint(message.size);
            if counters.message_pages_bytes + footprint > counters.accept_limit_bytes
                || footprint > counters.disk_room_bytes
            {
                return Err(StoreError::Full);
            }
            counters.message_pages_bytes += footprint;
            counters.disk_room_bytes -= footprint;
            let id = MessageId(counters.next_message);
            counters.next_message += 1;
            let record = MessageRecord {
                size: message.size,
                references: accounts.len() as u32,
                wrapped_key: message.wrapped_key.clone(),
                accepted_at: *at,
                sender: sender.clone(),
            };
            inner.messages.put(txn, &id.0.to_be_bytes(), &crate::store::encode(&record)?)?;
            inner.blobs.put(txn, &id.0.to_be_bytes(), &message.ciphertext)?;
            let trail = MessageTrail {
                message: id,
                sender: sender.clone(),
                accepted_at: *at,
                size: message.size,
                recipients: accounts
                    .iter()
                    .map(|a| RecipientTrail { address: a.address.clone(), collected_at: None })
                    .collect(),
                erased_at: None,
            };
            inner.trails.put(txn, &id.0.to_be_bytes(), &crate::store::encode(&trail)?)?;
            let mut uids = Vec::with_capacity(accounts.len());
            for mut account in accounts {
                let uid = Uid(account.next_uid);
                account.next_uid += 1;
                account.used_bytes += message.size;
                account.message_count += 1;
                let entry = MailboxEntry { uid, message: id, size: message.size };
                inner.mailbox.put(txn, &entry_key(account.id, uid), &crate::store::encode(&entry)?)?;
                inner.put_account(txn, &account)?;
                uids.push(uid);
            }
            Ok(WriteOutcome::Accepted { message: id, uids })
        }
        WriteOp::RecordCollection { account, at } => {
            let mut record = inner.account_in(txn, *account)?.ok_or(StoreError::NoSuchAccount)?;
            record.last_collection = Some(*at);
            inner.put_account(txn, &record)?;
            // A collection ends a spell of inactivity: reception comes back in the same commit
            // (an administrator's suspension stays).
            let mut state = inner.state_in(txn, *account)?;
            let before = state.clone();
            match state.disabled {
                Some((DisabledReason::Suspended, _)) => state.inactivity_noticed_at = None,
                _ => state.apply(&StateChange::Enable),
            }
            if state != before {
                inner.put_state(txn, *account, &state)?;
            }
            Ok(WriteOutcome::Done)
        }
        WriteOp::UpdateState { account, change, notice, alert } => {
            inner.account_in(txn, *account)?.ok_or(StoreError::NoSuchAccount)?;
            let mut state = inner.state_in(txn, *account)?;
            state.apply(change);
            inner.put_state(txn, *account, &state)?;
            if let Some(notice) = notice {
                queue_notice(inner, txn, notice, counters)?;
            }
            if let Some(alert) = alert {
                file_alert(inner, txn, alert, counters)?;
            }
            Ok(WriteOutcome::Done)
        }
        WriteOp::Audit(draft) => {
            append_audit(inner, txn, draft)?;
            Ok(WriteOutcome::Done)
        }
        WriteOp::Purge(purge) => Ok(WriteOutcome::Purged(purge_old(inner, txn, purge)?)),
        WriteOp::QueueNotice(notice) => {
            queue_notice(inner, txn, notice, counters)?;
            Ok(WriteOutcome::Done)
        }
        WriteOp::NoticeAttempted { seq, retry } => {
            match retry {
                Some(notice) => inner.notices.put(txn, &seq.to_be_bytes(), &crate::store::encode(notice)?)?,
                None => {
                    inner.notices.delete(txn, &seq.to_be_bytes())?;
                }
            }
            Ok(WriteOutcome::Done)
        }
        WriteOp::Expunge { account, uids, at } => {
            let mut record = inner.account_in(txn, *account)?.ok_or(StoreError::NoSuchAccount)?;
            let (erased, accepted_at) = remove_entries(inner, txn, &mut record, uids, *at, true, counters)?;
            inner.put_account(txn, &record)?;
            Ok(WriteOutcome::Expunged { erased, accepted_at })
        }
        WriteOp::DeleteAccount { account, at, audit } => {
            let mut record = inner.account_in(txn, *account)?.ok_or(StoreError::NoSuchAccount)?;
            let state = inner.state_in(txn, *account)?;
            if state.closed_at.is_none() {
                return Err(StoreError::Refused(format!("{} is not closed", record.address)));
            }
            if state.legal_hold {
                return Err(StoreError::Refused(format!("{} is under legal hold", record.address)));
            }
            let mut uids = Vec::new();
            for item in inner.mailbox.prefix_iter(txn, &account.0.to_be_bytes())? {
                let (_, bytes) = item?;
                let entry: MailboxEntry = crate::store::decode(bytes)?;
                uids.push(entry.uid);
            }
            let (erased, _) = remove_entries(inner, txn, &mut record, &uids, *at, false, counters)?;
            inner.accounts.delete(txn, &crate::store::account_key(*account))?;
            inner.by_address.delete(txn, record.address.as_str().as_bytes())?;
            inner.account_state.delete(txn, &crate::store::account_key(*account))?;
            inner.directory.delete(txn, &crate::store::account_key(*account))?;
            inner.portal.delete(txn, &crate::store::account_key(*account))?;
            let mut editions = Vec::new();
            for item in inner.certificates.prefix_iter(txn, &crate::store::account_key(*account))? {
                let (key, bytes) = item?;
                let certificate: CertificateRecord = crate::store::decode(bytes)?;
                editions.push((key.to_vec(), certificate.fingerprint));
            }
            for (key, fingerprint) in editions {
                inner.certificates.delete(txn, &key)?;
                inner.certificates_by_fingerprint.delete(txn, &hex_decode(&fingerprint))?;
            }
            append_audit(inner, txn, audit)?;
            Ok(WriteOutcome::Expunged { erased, accepted_at: Vec::new() })
        }
        WriteOp::PutDirectory { account, entry, audit } => {
            if inner.account_in(txn, *account)?.is_none() {
                return Err(StoreError::NoSuchAccount);
            }
            inner.directory.put(txn, &crate::store::account_key(*account), &crate::store::encode(entry.as_ref())?)?;
            append_audit(inner, txn, audit)?;
            Ok(WriteOutcome::Done)
        }
        WriteOp::PutPortal { account, record, audit } => {
            if inner.account_in(txn, *account)?.is_none() {
                return Err(StoreError::NoSuchAccount);
            }
            inner.portal.put(txn, &crate::store::account_key(*account), &crate::store::encode(record.as_ref())?)?;
            if let Some(audit) = audit {
                append_audit(inner, txn, audit)?;
            }
            Ok(WriteOutcome::Done)
        }
        WriteOp::EditAccount(edit) => {
            let mut record = inner.account_in(txn, edit.account)?.ok_or(StoreError::NoSuchAccount)?;
            record.first_name = edit.first_name.clone();
            record.last_name = edit.last_name.clone();
            record.contact_email = edit.contact_email.clone();
            inner.put_account(txn, &record)?;
            append_audit(inner, txn, &edit.audit)?;
            Ok(WriteOutcome::Done)
        }
        WriteOp::SetPassword { account, password_hash, keep_session, audit } => {
            let mut record = inner.account_in(txn, *account)?.ok_or(StoreError::NoSuchAccount)?;
            record.password_hash = password_hash.clone();
            inner.put_account(txn, &record)?;
            // Sessions are few (one per signed-in browser, ended after hours): a scan.
            let mut ended = Vec::new();
            for item in inner.sessions.iter(txn)? {
                let (key, bytes) = item?;
                let session: WebSession = crate::store::decode(bytes)?;
                if session.account == *account && keep_session.as_ref().is_none_or(|keep| keep[..] != *key) {
                    ended.push(key.to_vec());
                }
            }
            for key in ended {
                inner.sessions.delete(txn, &key)?;
            }
            append_audit(inner, txn, audit)?;
            Ok(WriteOutcome::Done)
        }
        WriteOp::PutSession { token_hash, session } => {
            match session {
                Some(session) => inner.sessions.put(txn, token_hash, &crate::store::encode(session)?)?,
                None => {
                    inner.sessions.delete(txn, token_hash)?;
                }
            }
            Ok(WriteOutcome::Done)
        }
        WriteOp::FileRequest { request, audit } => {
            let seq = counters.next_notice; // shares the notice counter: one sequence of filings
            counters.next_notice += 1;
            let mut request = request.as_ref().clone();
            request.seq = seq;
            inner.requests.put(txn, &seq.to_be_bytes(), &crate::store::encode(&request)?)?;
            append_audit(inner, txn, audit)?;
            Ok(WriteOutcome::Done)
        }
        WriteOp::CloseRequest { seq, at, audit } => {
            let Some(bytes) = inner.requests.get(txn, &seq.to_be_bytes())? else {
                return Err(StoreError::Refused(format!("no data-protection request {seq}")));
            };
            let mut request: RightsRequest = crate::store::decode(bytes)?;
            if request.closed_at.is_some() {
                return Err(StoreError::Refused(format!("request {seq} is closed already")));
            }
            request.closed_at = Some(*at);
            inner.requests.put(txn, &seq.to_be_bytes(), &crate::store::encode(&request)?)?;
            append_audit(inner, txn, audit)?;
            Ok(WriteOutcome::Done)
        }
        WriteOp::RaiseAlert { alert } => {
            file_alert(inner, txn, alert, counters)?;
            Ok(WriteOutcome::Done)
        }
        WriteOp::AcknowledgeAlert { seq, by, audit } => {
            let Some(bytes) = inner.alerts.get(txn, &seq.to_be_bytes())? else {
                return Err(StoreError::Refused(format!("no alert {seq}")));
            };
            let mut alert: Alert = crate::store::decode(bytes)?;
            if alert.acknowledged_at.is_some() {
                return Err(StoreError::Refused(format!("alert {seq} is acknowledged already")));
            }
            alert.acknowledged_at = Some(audit.at);
            alert.acknowledged_by = Some(by.clone());
            inner.alerts.put(txn, &seq.to_be_bytes(), &crate::store::encode(&alert)?)?;
            append_audit(inner, txn, audit)?;
            Ok(WriteOutcome::Done)
        }
        WriteOp::PublishTerms { text, at, audit } => {
            let version = match inner.meta.get(txn, b"terms")? {
                Some(bytes) => crate::store::decode::<TermsOfUse>(bytes)?.version + 1,
                None => 1,
            };
            let terms = TermsOfUse { version, text: text.clone(), published_at: *at };
            inner.meta.put(txn, b"terms", &crate::store::encode(&terms)?)?;
            append_audit(inner, txn, audit)?;
            Ok(WriteOutcome::Done)
        }
        WriteOp::PutCertificate { record, audit } => {
            if inner.account_in(txn, record.account)?.is_none() {
                return Err(StoreError::NoSuchAccount);
            }
            let key = crate::store::certificate_key(record.account, record.edition);
            inner.certificates.put(txn, &key, &crate::store::encode(record.as_ref())?)?;
            inner.certificates_by_fingerprint.put(txn, &hex_decode(&record.fingerprint), &key)?;
            append_audit(inner, txn, audit)?;
            Ok(WriteOutcome::Done)
        }
        WriteOp::SetQuota { account, quota_bytes } => {
            let mut record = inner.account_in(txn, *account)?.ok_or(StoreError::NoSuchAccount)?;
            record.quota_bytes = *quota_bytes;
            inner.put_account(txn, &record)?;
            Ok(WriteOutcome::Done)
        }
        WriteOp::SetDeleteOnRetrieve { account, enabled } => {
            let mut record = inner.account_in(txn, *account)?.ok_or(StoreError::NoSuchAccount)?;
            record.delete_on_retrieve = *enabled;
            inner.put_account(txn, &record)?;
            Ok(WriteOutcome::Done)
        }
        WriteOp::LogConnection(line) => {
            let seq = counters.next_log;
            counters.next_log += 1;
            inner.connections.put(txn, &seq.to_be_bytes(), &crate::store::encode(line)?)?;
            Ok(WriteOutcome::Done)
        }
    }
}

/// Upper- or lower-case hex to bytes; anything else is dropped (fingerprints are made by
/// the key vault, never typed into the store).
fn hex_decode(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex.bytes().filter_map(|b| (b as char).to_digit(16).map(|d| d as u8)).collect();
    digits.chunks_exact(2).map(|pair| pair[0] << 4 | pair[1]).collect()
}
