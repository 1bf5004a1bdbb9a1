//! The store: an LMDB environment in `<data>/store/`, the master key in `<data>/keys/`, and
//! the writer thread. Reads run on the caller's thread in short read transactions; writes
//! go through the writer (see `writer.rs`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use bincode::{Decode, Encode};
use heed::types::Bytes;
use heed::{Database, Env, EnvOpenOptions, RoTxn, RwTxn, WithoutTls};
use tokio::sync::oneshot;

use crate::seal::MasterKey;
use crate::types::*;
use crate::writer::{self, Counters, Job, Request, WriteOp, WriteOutcome};
use crate::{DirectoryEntry, Purge, Purged, StoreError};

/// The on-disk format this build reads and writes; recorded in the `meta` table.
pub const FORMAT_VERSION: u32 = 1;
/// Default LMDB map size: the most the store file may grow to (it grows as used).
pub const DEFAULT_MAP_BYTES: usize = 16 << 30;
const TABLES_MAX: u32 = 32;

type Table = Database<Bytes, Bytes>;

pub(crate) struct Inner {
    pub env: Env<WithoutTls>,
    pub meta: Table,
    /// AccountId → Account
    pub accounts: Table,
    /// address → AccountId
    pub by_address: Table,
    /// MessageId → MessageRecord
    pub messages: Table,
    /// MessageId → sealed bytes
    pub blobs: Table,
    /// AccountId ‖ Uid → MailboxEntry: each mailbox an ordered index.
    pub mailbox: Table,
    /// sequence → ConnectionRecord
    pub connections: Table,
    /// AccountId → AccountState (absent: the default state)
    pub account_state: Table,
    /// sequence → Notice waiting for the smarthost
    pub notices: Table,
    /// MessageId → MessageTrail (metadata only; outlives the message until retention)
    pub trails: Table,
    /// sequence → AuditEntry, hash-chained
    pub audit: Table,
    /// AccountId ‖ edition → CertificateRecord (public material only)
    pub certificates: Table,
    /// primary key fingerprint → AccountId ‖ edition
    pub certificates_by_fingerprint: Table,
    /// AccountId → DirectoryEntry (absent: a personal mailbox with nothing more said)
    pub directory: Table,
    /// AccountId → PortalRecord (second factor, terms accepted)
    pub portal: Table,
    /// SHA-256 of a session token → WebSession
    pub sessions: Table,
    /// sequence → RightsRequest (data-protection requests)
    pub requests: Table,
    /// sequence → Alert (for the administrator, until acknowledged)
    pub alerts: Table,
    /// Moves on every commit that may change what the directory shows.
    pub directory_generation: AtomicU64,
    pub master: MasterKey,
    pub poisoned: AtomicBool,
    pub commits: AtomicU64,
    pub committed_writes: AtomicU64,
}

/// A handle on the store; cheap to clone and shared by every actor.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    writes: mpsc::Sender<Request>,
    writer: Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.inner.env.path()).finish()
    }
}

/// Options for [`Store::open`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub map_bytes: usize,
    /// Free space kept on the store's filesystem: messages are refused (452) when one
    /// would leave less, so that deletions, logs and trails — which need pages too — still
    /// fit, and the store never meets the filesystem's end halfway through a commit.
    pub disk_reserve_bytes: u64,
}

/// 64 MiB kept free under the store by default.
pub const DEFAULT_DISK_RESERVE_BYTES: u64 = 64 << 20;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { map_bytes: DEFAULT_MAP_BYTES, disk_reserve_bytes: DEFAULT_DISK_RESERVE_BYTES }
    }
}

/// What an expunge did.
#[derive(Debug, Clone, Default)]
pub struct Expunged {
    /// Messages erased for good (no mailbox held them any more).
    pub erased: u32,
    /// When each removed copy's message was accepted.
    pub accepted_at: Vec<Millis>,
}

/// Group-commit figures since the store was opened.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct CommitStats {
    pub commits: u64,
    pub writes: u64,
}

/// Totals over the whole store.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoreStats {
    pub messages: u64,
    pub message_bytes: u64,
    pub mailboxes: u64,
    pub connection_log_lines: u64,
    pub file_bytes: u64,
}

impl Store {
    /// Opens (creating on first use) the store under `data_dir`.
    pub fn open(data_dir: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        let dir = data_dir.join("store");
        fs::create_dir_all(&dir)?;
        let master = MasterKey::load_or_create(&data_dir.join("keys").join("master.key"))?;
        let mut open = EnvOpenOptions::new().read_txn_without_tls();
        open.map_size(options.map_bytes).max_dbs(TABLES_MAX);
        // SAFETY: heed marks `open` unsafe because LMDB must not be opened twice in one
        // process and the file must not be changed behind its back. The appliance opens the
        // store once per process and takes `caducee.lock` in the data folder first.
        #[allow(unsafe_code)]
        let env = unsafe { open.open(&dir)? };
        let mut txn = env.write_txn()?;
        let table = |txn: &mut RwTxn, name: &str| env.create_database::<Bytes, Bytes>(txn, Some(name));
        let meta = table(&mut txn, "meta")?;
        let accounts = table(&mut txn, "accounts")?;
        let by_address = table(&mut txn, "accounts_by_address")?;
        let messages = table(&mut txn, "messages")?;
        let blobs = table(&mut txn, "blobs")?;
        let mailbox = table(&mut txn, "mailbox")?;
        let connections = table(&mut txn, "connections")?;
        let account_state = table(&mut txn, "account_state")?;
        let notices = table(&mut txn, "notices")?;
        let trails = table(&mut txn, "trails")?;
        let audit = table(&mut txn, "audit")?;
        let certificates = table(&mut txn, "certificates")?;
        let certificates_by_fingerprint = table(&mut txn, "certificates_by_fingerprint")?;
        let directory = table(&mut txn, "directory")?;
        let portal = table(&mut txn, "portal")?;
        let sessions = table(&mut txn, "sessions")?;
        let requests = table(&mut txn, "requests")?;
        let alerts = table(&mut txn, "alerts")?;
        match meta.get(&txn, b"format_version")? {
            None => meta.put(&mut txn, b"format_version", &FORMAT_VERSION.to_be_bytes())?,
            Some(bytes) => {
                let found =
                    u32::from_be_bytes(bytes.try_into().map_err(|_| StoreError::Corrupt("format version".into()))?);
                if found != FORMAT_VERSION {
                    return Err(StoreError::FormatVersion { found, supported: FORMAT_VERSION });
                }
            }
        }
        let counter = |txn: &RwTxn, name: &[u8]| -> Result<u64, StoreError> {
            Ok(match meta.get(txn, name)? {
                Some(bytes) => u64::from_be_bytes(bytes.try_into().map_err(|_| StoreError::Corrupt("counter".into()))?),
                None => 1,
            })
        };
        let mut message_pages_bytes = 0;
        for item in messages.iter(&txn)? {
            let (_, bytes) = item?;
            let record: MessageRecord = decode(bytes)?;
            message_pages_bytes += crate::writer::message_footprint(record.size);
        }
        let counters = Counters {
            next_account: counter(&txn, b"next_account")?,
            next_message: counter(&txn, b"next_message")?,
            next_log: counter(&txn, b"next_log")?,
            next_notice: counter(&txn, b"next_notice")?,
            message_pages_bytes,
            accept_limit_bytes: (options.map_bytes as u64) / 100 * crate::writer::ACCEPT_FILL_PERCENT_MAX,
            disk_reserve_bytes: options.disk_reserve_bytes,
            disk_room_bytes: u64::MAX,
        };
        txn.commit()?;

        let inner = Arc::new(Inner {
            env,
            meta,
            accounts,
            by_address,
            messages,
            blobs,
            mailbox,
            connections,
            account_state,
            notices,
            trails,
            audit,
            certificates,
            certificates_by_fingerprint,
            directory,
            portal,
            sessions,
            requests,
            alerts,
            directory_generation: AtomicU64::new(0),
            master,
            poisoned: AtomicBool::new(false),
            commits: AtomicU64::new(0),
            committed_writes: AtomicU64::new(0),
        });
        let (writes, requests) = mpsc::channel();
        let writer_inner = Arc::clone(&inner);
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer::run(writer_inner, requests, counters))?;
        Ok(Store { inner, writes, writer: Arc::new(std::sync::Mutex::new(Some(writer))) })
    }

    /// Commits every write queued so far, stops the writer and waits for it. Writes sent
    /// afterwards are refused with [`StoreError::Closed`]. The LMDB environment itself
    /// closes when the last handle is dropped.
    pub fn close(&self) {
        let _ = self.writes.send(Request::Stop);
        let handle = self.writer.lock().map(|mut slot| slot.take()).unwrap_or(None);
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    pub fn path(&self) -> PathBuf {
        self.inner.env.path().to_path_buf()
    }

    /// True once a commit has failed; the process must restart.
    pub fn is_poisoned(&self) -> bool {
        self.inner.poisoned.load(Ordering::Acquire)
    }

    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            commits: self.inner.commits.load(Ordering::Relaxed),
            writes: self.inner.committed_writes.load(Ordering::Relaxed),
        }
    }

    /// Seals a message body with its own key. CPU work: run it off the writer thread.
    pub fn seal(&self, body: Vec<u8>) -> Result<SealedMessage, StoreError> {
        self.inner.master.seal_message(body)
    }

    // ---- writes: each returns once its commit is durable ----

    async fn write(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writes.send(Request::Write(Job { op, reply })).map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    fn write_blocking(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writes.send(Request::Write(Job { op, reply })).map_err(|_| StoreError::Closed)?;
        answer.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    pub async fn create_account(&self, new: NewAccount) -> Result<AccountId, StoreError> {
        match self.write(WriteOp::CreateAccount(Box::new(new))).await? {
            WriteOutcome::AccountCreated(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    /// For command-line tools that run without an async runtime.
    pub fn create_account_blocking(&self, new: NewAccount) -> Result<AccountId, StoreError> {
        match self.write_blocking(WriteOp::CreateAccount(Box::new(new)))? {
            WriteOutcome::AccountCreated(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    /// Stores one sealed message once and indexes it in every recipient's mailbox, in one
    /// durable commit. Refused whole if any recipient would exceed its quota.
    pub async fn accept(
        &self,
        sender: Address,
        recipients: Vec<AccountId>,
        message: SealedMessage,
        at: Millis,
    ) -> Result<(MessageId, Vec<Uid>), StoreError> {
        match self.write(WriteOp::Accept { sender, recipients, message, at }).await? {
            WriteOutcome::Accepted { message, uids } => Ok((message, uids)),
            other => Err(unexpected(other)),
        }
    }

    pub async fn record_collection(&self, account: AccountId, at: Millis) -> Result<(), StoreError> {
        self.write(WriteOp::RecordCollection { account, at }).await.map(drop)
    }

    /// Changes an account's monitor state, queueing `notice` in the same commit.
    pub async fn update_state(
        &self,
        account: AccountId,
        change: StateChange,
        notice: Option<Notice>,
    ) -> Result<(), StoreError> {
        self.write(WriteOp::UpdateState { account, change, notice, alert: None }).await.map(drop)
    }

    /// As [`Store::update_state`], filing the administrator's alert in the same commit: a
    /// state change that needs one never lands without it.
    pub async fn update_state_with_alert(
        &self,
        account: AccountId,
        change: StateChange,
        notice: Option<Notice>,
        alert: Alert,
    ) -> Result<(), StoreError> {
        let alert = Some(Box::new(alert));
        self.write(WriteOp::UpdateState { account, change, notice, alert }).await.map(drop)
    }

    pub async fn queue_notice(&self, notice: Notice) -> Result<(), StoreError> {
        self.write(WriteOp::QueueNotice(notice)).await.map(drop)
    }

    /// Records a delivery attempt: `None` removes the notice (it left), `Some` reschedules it.
    pub async fn notice_attempted(&self, seq: u64, retry: Option<Notice>) -> Result<(), StoreError> {
        self.write(WriteOp::NoticeAttempted { seq, retry }).await.map(drop)
    }

    /// Removes a closed account and its mailbox (messages no other mailbox holds are
    /// erased), with its audit entry in the same commit. Refused for an open account or one
    /// under legal hold.
    pub async fn delete_account(&self, account: AccountId, at: Millis, audit: AuditDraft) -> Result<u32, StoreError> {
        match self.write(WriteOp::DeleteAccount { account, at, audit }).await? {
            WriteOutcome::Expunged { erased, .. } => Ok(erased),
            other => Err(unexpected(other)),
        }
    }

    /// Publishes a certificate edition, or replaces it (a revocation), with its audit
    /// entry in the same commit.
    pub async fn put_certificate(&self, record: CertificateRecord, audit: AuditDraft) -> Result<(), StoreError> {
        self.write(WriteOp::PutCertificate { record: Box::new(record), audit }).await.map(drop)
    }

    // ---- the personal space ----

    pub async fn put_portal(
        &self,
        account: AccountId,
        record: PortalRecord,
        audit: Option<AuditDraft>,
    ) -> Result<(), StoreError> {
        self.write(WriteOp::PutPortal { account, record: Box::new(record), audit }).await.map(drop)
    }

    pub fn portal(&self, account: AccountId) -> Result<PortalRecord, StoreError> {
        let txn = self.read()?;
        match self.inner.portal.get(&txn, &account_key(account))? {
            Some(bytes) => decode(bytes),
            None => Ok(PortalRecord::default()),
        }
    }

    pub async fn edit_account(
        &self,
        account: AccountId,
        first_name: String,
        last_name: String,
        contact_email: String,
        audit: AuditDraft,
    ) -> Result<(), StoreError> {
        let edit = crate::writer::AccountEdit { account, first_name, last_name, contact_email, audit };
        self.write(WriteOp::EditAccount(Box::new(edit))).await.map(drop)
    }

    /// A new password; every personal-space session of the account ends with the old one,
    /// but `keep_session` (the session that made the change).
    pub async fn set_password(
        &self,
        account: AccountId,
        password_hash: String,
        keep_session: Option<[u8; 32]>,
        audit: AuditDraft,
    ) -> Result<(), StoreError> {
        let keep_session = keep_session.map(Box::new);
        self.write(WriteOp::SetPassword { account, password_hash, keep_session, audit }).await.map(drop)
    }

    pub async fn put_session(&self, token_hash: [u8; 32], session: Option<WebSession>) -> Result<(), StoreError> {
        self.write(WriteOp::PutSession { token_hash, session }).await.map(drop)
    }

    pub fn session(&self, token_hash: &[u8; 32]) -> Result<Option<WebSession>, StoreError> {
        let txn = self.read()?;
        match self.inner.sessions.get(&txn, token_hash)? {
            Some(bytes) => Ok(Some(decode(bytes)?)),
            None => Ok(None),
        }
    }

    pub async fn file_request(&self, request: RightsRequest, audit: AuditDraft) -> Result<(), StoreError> {
        self.write(WriteOp::FileRequest { request: Box::new(request), audit }).await.map(drop)
    }

    pub async fn close_request(&self, seq: u64, at: Millis, audit: AuditDraft) -> Result<(), StoreError> {
        self.write(WriteOp::CloseRequest { seq, at, audit }).await.map(drop)
    }

    /// Every data-protection request, oldest first.
    pub fn requests(&self) -> Result<Vec<RightsRequest>, StoreError> {
        let txn = self.read()?;
        let mut requests = Vec::new();
        for item in self.inner.requests.iter(&txn)? {
            let (_, bytes) = item?;
            requests.push(decode(bytes)?);
        }
        Ok(requests)
    }

    /// Raises an alert; one already raised for the same kind and subject and not yet
    /// acknowledged is counted as a repeat instead.
    pub async fn raise_alert(&self, alert: Alert) -> Result<(), StoreError> {
        self.write(WriteOp::RaiseAlert { alert: Box::new(alert) }).await.map(drop)
    }

    pub async fn acknowledge_alert(&self, seq: u64, by: String, audit: AuditDraft) -> Result<(), StoreError> {
        self.write(WriteOp::AcknowledgeAlert { seq, by, audit }).await.map(drop)
    }

    /// Every alert, oldest first.
    pub fn alerts(&self) -> Result<Vec<Alert>, StoreError> {
        let txn = self.read()?;
        let mut alerts = Vec::new();
        for item in self.inner.alerts.iter(&txn)? {
            let (_, bytes) = item?;
            alerts.push(decode(bytes)?);
        }
        Ok(alerts)
    }

    pub async fn publish_terms(&self, text: String, at: Millis, audit: AuditDraft) -> Result<(), StoreError> {
        self.write(WriteOp::PublishTerms { text, at, audit }).await.map(drop)
    }

    pub fn terms(&self) -> Result<Option<TermsOfUse>, StoreError> {
        let txn = self.read()?;
        match self.inner.meta.get(&txn, b"terms")? {
            Some(bytes) => Ok(Some(decode(bytes)?)),
            None => Ok(None),
        }
    }

    /// A connection log line's records for one account, newest first, at most `limit`.
    pub fn connections_of(&self, address: &str, limit: usize) -> Result<Vec<ConnectionRecord>, StoreError> {
        let txn = self.read()?;
        let mut records = Vec::new();
        for item in self.inner.connections.rev_iter(&txn)? {
            let (_, bytes) = item?;
            let record: ConnectionRecord = decode(bytes)?;
            if record.account.as_deref() == Some(address) {
                records.push(record);
                if records.len() == limit {
                    break;
                }
            }
        }
        Ok(records)
    }

    /// The trails of the messages an address sent or received (metadata only), at most
    /// `limit`, newest first.
    pub fn trails_involving(&self, address: &str, limit: usize) -> Result<Vec<MessageTrail>, StoreError> {
        let txn = self.read()?;
        let mut trails = Vec::new();
        for item in self.inner.trails.rev_iter(&txn)? {
            let (_, bytes) = item?;
            let trail: MessageTrail = decode(bytes)?;
            if trail.sender.as_str() == address || trail.recipients.iter().any(|r| r.address.as_str() == address) {
                trails.push(trail);
                if trails.len() == limit {
                    break;
                }
            }
        }
        Ok(trails)
    }

    pub fn seal_secret(&self, secret: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        self.inner.master.seal_secret(secret)
    }

    pub fn open_secret(&self, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.inner.master.open_secret(sealed)
    }

    /// Replaces an account's directory entry, with its audit entry in the same commit.
    pub async fn put_directory(
        &self,
        account: AccountId,
        entry: DirectoryEntry,
        audit: AuditDraft,
    ) -> Result<(), StoreError> {
        self.write(WriteOp::PutDirectory { account, entry: Box::new(entry), audit }).await.map(drop)
    }

    /// An account's directory entry (the default one when none was written).
    pub fn directory_entry(&self, account: AccountId) -> Result<DirectoryEntry, StoreError> {
        let txn = self.read()?;
        match self.inner.directory.get(&txn, &account_key(account))? {
            Some(bytes) => decode(bytes),
            None => Ok(DirectoryEntry::default()),
        }
    }

    /// Every account with its directory entry, its monitor state and its certificates, read
    /// in one transaction (one consistent moment).
    pub fn directory_snapshot(&self) -> Result<Vec<DirectoryRecord>, StoreError> {
        let txn = self.read()?;
        let mut records = Vec::new();
        for item in self.inner.accounts.iter(&txn)? {
            let (key, bytes) = item?;
            let account: Account = decode(bytes)?;
            let entry = match self.inner.directory.get(&txn, key)? {
                Some(bytes) => decode(bytes)?,
                None => DirectoryEntry::default(),
            };
            let state = self.inner.state_in(&txn, account.id)?;
            let mut certificates = Vec::new();
            for item in self.inner.certificates.prefix_iter(&txn, key)? {
                let (_, bytes) = item?;
                certificates.push(decode(bytes)?);
            }
            records.push(DirectoryRecord { account, entry, state, certificates });
        }
        Ok(records)
    }

    /// Moves whenever a commit may have changed the directory: compare it to decide whether
    /// a snapshot is still current.
    pub fn directory_generation(&self) -> u64 {
        self.inner.directory_generation.load(Ordering::Acquire)
    }

    /// Every certificate edition of an account, oldest first.
    pub fn certificates(&self, account: AccountId) -> Result<Vec<CertificateRecord>, StoreError> {
        let txn = self.read()?;
        let mut records = Vec::new();
        for item in self.inner.certificates.prefix_iter(&txn, &account_key(account))? {
            let (_, bytes) = item?;
            records.push(decode(bytes)?);
        }
        Ok(records)
    }

    /// The certificate edition whose primary key has this fingerprint (raw bytes).
    pub fn certificate_by_fingerprint(&self, fingerprint: &[u8]) -> Result<Option<CertificateRecord>, StoreError> {
        let txn = self.read()?;
        let Some(key) = self.inner.certificates_by_fingerprint.get(&txn, fingerprint)? else {
            return Ok(None);
        };
        match self.inner.certificates.get(&txn, key)? {
            Some(bytes) => Ok(Some(decode(bytes)?)),
            None => Err(StoreError::Corrupt(format!("fingerprint index names a missing certificate {key:02x?}"))),
        }
    }

    /// The primary fingerprints of every published certificate, for searches by key ID.
    pub fn certificate_fingerprints(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let txn = self.read()?;
        let mut fingerprints = Vec::new();
        for item in self.inner.certificates_by_fingerprint.iter(&txn)? {
            let (fingerprint, _) = item?;
            fingerprints.push(fingerprint.to_vec());
        }
        Ok(fingerprints)
    }

    /// Appends an entry to the audit trail.
    pub async fn audit(&self, draft: AuditDraft) -> Result<(), StoreError> {
        self.write(WriteOp::Audit(draft)).await.map(drop)
    }

    /// Retention: see [`Purge`].
    pub async fn purge(&self, purge: Purge) -> Result<Purged, StoreError> {
        match self.write(WriteOp::Purge(purge)).await? {
            WriteOutcome::Purged(purged) => Ok(purged),
            other => Err(unexpected(other)),
        }
    }

    /// A message's trail, while retention keeps it.
    pub fn trail(&self, message: MessageId) -> Result<Option<MessageTrail>, StoreError> {
        let txn = self.read()?;
        match self.inner.trails.get(&txn, &message.0.to_be_bytes())? {
            Some(bytes) => Ok(Some(decode(bytes)?)),
            None => Ok(None),
        }
    }

    /// Audit entries made in `[from, to)`, oldest first.
    pub fn audit_entries(&self, from: Millis, to: Millis) -> Result<Vec<AuditEntry>, StoreError> {
        let txn = self.read()?;
        let mut entries = Vec::new();
        for item in self.inner.audit.iter(&txn)? {
            let (_, bytes) = item?;
            let entry: AuditEntry = decode(bytes)?;
            if entry.entry.at >= from && entry.entry.at < to {
                entries.push(entry);
            }
        }
        Ok(entries)
    }

    /// Walks the audit chain from its checkpoint; returns what is wrong (empty when intact)
    /// and how many entries were checked.
    pub fn audit_verify(&self) -> Result<(u64, Vec<String>), StoreError> {
        let txn = self.read()?;
        let checkpoint: AuditCheckpoint = match self.inner.meta.get(&txn, crate::writer::AUDIT_CHECKPOINT)? {
            Some(bytes) => decode(bytes)?,
            None => AuditCheckpoint::default(),
        };
        let head: AuditCheckpoint = match self.inner.meta.get(&txn, crate::writer::AUDIT_HEAD)? {
            Some(bytes) => decode(bytes)?,
            None => AuditCheckpoint::default(),
        };
        let mut problems = Vec::new();
        let (mut seq, mut hash) = (checkpoint.seq, checkpoint.hash);
        let mut checked = 0;
        for item in self.inner.audit.iter(&txn)? {
            let (key, bytes) = item?;
            let key = be_u64(key)?;
            let Ok(entry) = decode::<AuditEntry>(bytes) else {
                problems.push(format!("audit entry {key} does not decode: it was altered"));
                break;
            };
            checked += 1;
            if entry.seq != key || key != seq + 1 {
                problems.push(format!(
                    "audit entries {} to {} are missing",
                    seq + 1,
                    key.saturating_sub(1).max(seq + 1)
                ));
                break;
            }
            let expected = crate::audit::chain_hash(&hash, entry.seq, &entry.entry);
            if expected != entry.hash {
                problems.push(format!("audit entry {key} was altered (its hash does not match its content and chain)"));
                break;
            }
            seq = entry.seq;
            hash = entry.hash;
        }
        if problems.is_empty() && (seq, hash.as_str()) != (head.seq, head.hash.as_str()) {
            problems.push(format!("audit entries after {seq} were deleted (the chain's head is entry {})", head.seq));
        }
        Ok((checked, problems))
    }

    pub fn account_state(&self, account: AccountId) -> Result<AccountState, StoreError> {
        let txn = self.read()?;
        self.inner.state_in(&txn, account)
    }

    /// Every notice waiting, with its sequence number, oldest first.
    pub fn notices(&self) -> Result<Vec<(u64, Notice)>, StoreError> {
        let txn = self.read()?;
        let mut notices = Vec::new();
        for item in self.inner.notices.iter(&txn)? {
            let (key, bytes) = item?;
            notices.push((be_u64(key)?, decode(bytes)?));
        }
        Ok(notices)
    }

    /// Removes messages from a mailbox; each message no mailbox holds any more is erased
    /// with its key in the same commit.
    pub async fn expunge(&self, account: AccountId, uids: Vec<Uid>, at: Millis) -> Result<Expunged, StoreError> {
        match self.write(WriteOp::Expunge { account, uids, at }).await? {
            WriteOutcome::Expunged { erased, accepted_at } => Ok(Expunged { erased, accepted_at }),
            other => Err(unexpected(other)),
        }
    }

    pub async fn set_quota(&self, account: AccountId, quota_bytes: u64) -> Result<(), StoreError> {
        self.write(WriteOp::SetQuota { account, quota_bytes }).await.map(drop)
    }

    pub async fn set_delete_on_retrieve(&self, account: AccountId, enabled: bool) -> Result<(), StoreError> {
        self.write(WriteOp::SetDeleteOnRetrieve { account, enabled }).await.map(drop)
    }

    pub async fn log_connection(&self, record: ConnectionRecord) -> Result<(), StoreError> {
        self.write(WriteOp::LogConnection(record)).await.map(drop)
    }

    // ---- reads ----

    fn read(&self) -> Result<RoTxn<'_, WithoutTls>, StoreError> {
        Ok(self.inner.env.read_txn()?)
    }

    pub fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        let txn = self.read()?;
        self.inner.account_in(&txn, id)
    }

    pub fn account_by_address(&self, address: &Address) -> Result<Option<Account>, StoreError> {
        let txn = self.read()?;
        match self.inner.by_address.get(&txn, address.as_str().as_bytes())? {
            Some(bytes) => self.inner.account_in(&txn, AccountId(be_u64(bytes)?)),
            None => Ok(None),
        }
    }

    pub fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let txn = self.read()?;
        let mut all = Vec::new();
        for item in self.inner.accounts.iter(&txn)? {
            let (_, bytes) = item?;
            all.push(decode(bytes)?);
        }
        Ok(all)
    }

    /// The mailbox's messages in uid order.
    pub fn mailbox(&self, account: AccountId) -> Result<Vec<MailboxEntry>, StoreError> {
        let txn = self.read()?;
        let mut entries = Vec::new();
        for item in self.inner.mailbox.prefix_iter(&txn, &account_key(account))? {
            let (_, bytes) = item?;
            entries.push(decode(bytes)?);
        }
        Ok(entries)
    }

    /// Opens a stored message: reads its sealed bytes and wrapped key, unseals.
    pub fn read_message(&self, id: MessageId) -> Result<Vec<u8>, StoreError> {
        let txn = self.read()?;
        let key = id.0.to_be_bytes();
        let record: MessageRecord = match self.inner.messages.get(&txn, &key)? {
            Some(bytes) => decode(bytes)?,
            None => return Err(StoreError::NoSuchMessage),
        };
        let sealed = self.inner.blobs.get(&txn, &key)?.ok_or(StoreError::NoSuchMessage)?;
        self.inner.master.open_message(&record.wrapped_key, sealed)
    }

    /// The connection log, oldest first, at most `limit` lines from the end.
    pub fn connection_log(&self, limit: usize) -> Result<Vec<ConnectionRecord>, StoreError> {
        let txn = self.read()?;
        let mut lines = Vec::new();
        for item in self.inner.connections.rev_iter(&txn)?.take(limit) {
            let (_, bytes) = item?;
            lines.push(decode(bytes)?);
        }
        lines.reverse();
        Ok(lines)
    }

    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let txn = self.read()?;
        let mut message_bytes = 0;
        for item in self.inner.messages.iter(&txn)? {
            let (_, bytes) = item?;
            let record: MessageRecord = decode(bytes)?;
            message_bytes += record.size;
        }
        Ok(StoreStats {
            messages: self.inner.messages.len(&txn)?,
            message_bytes,
            mailboxes: self.inner.accounts.len(&txn)?,
            connection_log_lines: self.inner.connections.len(&txn)?,
            file_bytes: fs::metadata(self.inner.env.path().join("data.mdb")).map(|m| m.len()).unwrap_or(0),
        })
    }

    /// Writes a consistent copy of the LMDB file to `out` (a file or a pipe), sequentially.
    ///
    /// The copy reads from one LMDB read transaction: writes go on meanwhile (LMDB holds the
    /// writer's lock only while it copies the two meta pages). `compact` leaves free pages
    /// out — a smaller copy, and one that carries no stale page contents such as erased
    /// message keys — at the cost of walking every tree.
    pub fn copy_store_to(&self, mut out: fs::File, compact: bool) -> Result<(), StoreError> {
        let option = if compact { heed::CompactionOption::Enabled } else { heed::CompactionOption::Disabled };
        self.inner.env.copy_to_file(&mut out, option)?;
        Ok(())
    }

    /// Checks every invariant of the store; returns the problems found (empty when sound).
    pub fn fsck(&self) -> Result<Vec<String>, StoreError> {
        use std::collections::HashMap;
        let txn = self.read()?;
        let inner = &self.inner;
        let mut problems = Vec::new();
        let mut references: HashMap<u64, u32> = HashMap::new();
        let mut per_account: HashMap<u64, (u64, u64, u32)> = HashMap::new(); // bytes, count, max uid
        for item in inner.mailbox.iter(&txn)? {
            let (key, bytes) = item?;
            let entry: MailboxEntry = decode(bytes)?;
            let owner = be_u64(&key[..8])?;
            *references.entry(entry.message.0).or_default() += 1;
            let totals = per_account.entry(owner).or_default();
            totals.0 += entry.size;
            totals.1 += 1;
            totals.2 = totals.2.max(entry.uid.0);
            match inner.messages.get(&txn, &entry.message.0.to_be_bytes())? {
                None => problems
                    .push(format!("mailbox {owner} uid {} points to missing message {}", entry.uid.0, entry.message.0)),
                Some(bytes) => {
                    let record: MessageRecord = decode(bytes)?;
                    if record.size != entry.size {
                        problems.push(format!(
                            "message {} size {} differs from its mailbox entry {}",
                            entry.message.0, record.size, entry.size
                        ));
                    }
                }
            }
        }
        for item in inner.messages.iter(&txn)? {
            let (key, bytes) = item?;
            let id = be_u64(key)?;
            let record: MessageRecord = decode(bytes)?;
            let held = references.get(&id).copied().unwrap_or(0);
            if held != record.references {
                problems
                    .push(format!("message {id} counts {} references but {held} mailboxes hold it", record.references));
            }
            if inner.blobs.get(&txn, key)?.is_none() {
                problems.push(format!("message {id} has no sealed bytes"));
            }
            if !inner.master.unwraps(&record.wrapped_key) {
                problems.push(format!("message {id} has a key the master key cannot unwrap"));
            }
        }
        for item in inner.blobs.iter(&txn)? {
            let (key, _) = item?;
            if inner.messages.get(&txn, key)?.is_none() {
                problems.push(format!("orphan sealed bytes for message {}", be_u64(key)?));
            }
        }
        for item in inner.accounts.iter(&txn)? {
            let (_, bytes) = item?;
            let account: Account = decode(bytes)?;
            let (used, count, max_uid) = per_account.remove(&account.id.0).unwrap_or_default();
            if account.used_bytes != used {
                problems.push(format!("{} counts {} bytes but holds {used}", account.address, account.used_bytes));
            }
            if account.message_count != count {
                problems
                    .push(format!("{} counts {} messages but holds {count}", account.address, account.message_count));
            }
            if account.next_uid <= max_uid {
                problems.push(format!("{} would reuse uid {}", account.address, account.next_uid));
            }
            match inner.by_address.get(&txn, account.address.as_str().as_bytes())? {
                Some(id) if be_u64(id)? == account.id.0 => {}
                _ => problems.push(format!("{} is missing from the address index", account.address)),
            }
        }
        for owner in per_account.keys() {
            problems.push(format!("mailbox entries for missing account {owner}"));
        }
        for item in inner.account_state.iter(&txn)? {
            let (key, bytes) = item?;
            let id = be_u64(key)?;
            if inner.accounts.get(&txn, key)?.is_none() {
                problems.push(format!("monitor state for missing account {id}"));
            }
            if decode::<AccountState>(bytes).is_err() {
                problems.push(format!("monitor state of account {id} does not decode"));
            }
        }
        let mut indexed = 0u64;
        for item in inner.certificates_by_fingerprint.iter(&txn)? {
            let (fingerprint, key) = item?;
            indexed += 1;
            match inner.certificates.get(&txn, key)? {
                None => problems.push(format!("fingerprint index names a missing certificate {key:02x?}")),
                Some(bytes) => {
                    let record: CertificateRecord = decode(bytes)?;
                    let hex: String = fingerprint.iter().map(|b| format!("{b:02X}")).collect();
                    if record.fingerprint != hex {
                        problems
                            .push(format!("fingerprint index entry {hex} names certificate {}", record.fingerprint));
                    }
                }
            }
        }
        let mut certificates = 0u64;
        for item in inner.certificates.iter(&txn)? {
            let (key, _) = item?;
            certificates += 1;
            let owner = be_u64(&key[..8])?;
            if inner.accounts.get(&txn, &owner.to_be_bytes())?.is_none() {
                problems.push(format!("certificate of missing account {owner}"));
            }
        }
        if indexed != certificates {
            problems.push(format!("{certificates} certificates but {indexed} fingerprint index entries"));
        }
        Ok(problems)
    }
}

impl Inner {
    pub(crate) fn account_in(&self, txn: &RoTxn<'_>, id: AccountId) -> Result<Option<Account>, StoreError> {
        match self.accounts.get(txn, &account_key(id))? {
            Some(bytes) => Ok(Some(decode(bytes)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn put_account(&self, txn: &mut RwTxn, account: &Account) -> Result<(), StoreError> {
        self.accounts.put(txn, &account_key(account.id), &encode(account)?)?;
        Ok(())
    }

    pub(crate) fn state_in(&self, txn: &RoTxn<'_>, id: AccountId) -> Result<AccountState, StoreError> {
        match self.account_state.get(txn, &account_key(id))? {
            Some(bytes) => decode(bytes),
            None => Ok(AccountState::default()),
        }
    }

    /// The default state is stored as no record at all.
    pub(crate) fn put_state(&self, txn: &mut RwTxn, id: AccountId, state: &AccountState) -> Result<(), StoreError> {
        if *state == AccountState::default() {
            self.account_state.delete(txn, &account_key(id))?;
        } else {
            self.account_state.put(txn, &account_key(id), &encode(state)?)?;
        }
        Ok(())
    }
}

pub(crate) fn account_key(id: AccountId) -> [u8; 8] {
    id.0.to_be_bytes()
}

/// Big-endian so that an account's editions are in order.
pub(crate) fn certificate_key(account: AccountId, edition: u32) -> [u8; 12] {
    let mut key = [0; 12];
    key[..8].copy_from_slice(&account.0.to_be_bytes());
    key[8..].copy_from_slice(&edition.to_be_bytes());
    key
}

/// Big-endian so that LMDB's byte order is uid order within each mailbox.
pub(crate) fn entry_key(account: AccountId, uid: Uid) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..8].copy_from_slice(&account.0.to_be_bytes());
    key[8..].copy_from_slice(&uid.0.to_be_bytes());
    key
}

fn be_u64(bytes: &[u8]) -> Result<u64, StoreError> {
    Ok(u64::from_be_bytes(bytes.try_into().map_err(|_| StoreError::Corrupt("key length".into()))?))
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

pub(crate) fn encode<T: Encode>(value: &T) -> Result<Vec<u8>, StoreError> {
    bincode::encode_to_vec(value, config()).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn decode<T: Decode<()>>(bytes: &[u8]) -> Result<T, StoreError> {
    bincode::decode_from_slice(bytes, config()).map(|(value, _)| value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn unexpected(outcome: WriteOutcome) -> StoreError {
    StoreError::Corrupt(format!("writer answered {outcome:?}"))
}
