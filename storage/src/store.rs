//! The store: an LMDB environment in `<data>/store/`, the master key in `<data>/keys/`, and
//! the writer thread. Reads run on the caller's thread in short read transactions (see
//! `store/reads.rs`); writes go through the writer (`store/writes.rs`, `writer/`). The
//! tables, their keys and encodings are in `schema.rs`; each family's reads and appliers in
//! `tables/`.

mod reads;
mod writes;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

use heed::{Env, EnvOpenOptions, RoTxn, WithoutTls};
use tokio::sync::oneshot;

use crate::counters::Counters;
use crate::schema::{Tables, TABLES_MAX};
use crate::seal::MasterKey;
use crate::shared::Shared;
use crate::tables::messages;
use crate::types::*;
use crate::writer::{self, Job, Request, WriteOp, WriteOutcome};
use crate::StoreError;

/// Default LMDB map size: the most the store file may grow to (it grows as used).
pub const DEFAULT_MAP_BYTES: usize = 16 << 30;

/// A handle on the store; cheap to clone and shared by every actor.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
    writes: mpsc::Sender<Request>,
    writer: Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.shared.env.path()).finish()
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
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct CommitStats {
    pub commits: u64,
    pub writes: u64,
}

/// How full the LMDB map is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapUsage {
    pub map_bytes: u64,
    pub used_bytes: u64,
}

/// Totals over the whole store.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoreStats {
    pub messages: u64,
    pub message_bytes: u64,
    pub mailboxes: u64,
    /// Mailbox entries of the latest messages not yet folded into their mailboxes' index
    /// (normally fewer than `ARRIVALS_FOLD_AT` plus one commit's; see `tables/messages.rs`).
    pub arrivals: u64,
    pub connection_log_lines: u64,
    pub file_bytes: u64,
}

impl Store {
    /// Opens (creating on first use) the store under `data_dir`.
    pub fn open(data_dir: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        let dir = data_dir.join("store");
        fs::create_dir_all(&dir)?;
        let master = MasterKey::load_or_create(&data_dir.join("keys").join("master.key"))?;
        let env = open_env(&dir, options.map_bytes)?;
        let mut txn = env.write_txn()?;
        let tables = Tables::create(&env, &mut txn)?;
        tables.check_format_version(&mut txn)?;
        let counters = Counters::load(&tables, &txn, options.map_bytes, options.disk_reserve_bytes)?;
        txn.commit()?;
        let shared = Arc::new(Shared::new(env, tables, master));
        let (writes, requests) = mpsc::channel();
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer::run(writer_shared, requests, counters))?;
        Ok(Store { shared, writes, writer: Arc::new(std::sync::Mutex::new(Some(writer))) })
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
        self.shared.env.path().to_path_buf()
    }

    /// True once a commit has failed; the process must restart.
    pub fn is_poisoned(&self) -> bool {
        self.shared.poisoned.load(Ordering::Acquire)
    }

    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            commits: self.shared.commits.load(Ordering::Relaxed),
            writes: self.shared.committed_writes.load(Ordering::Relaxed),
        }
    }

    /// Moves whenever a commit may have changed the directory: compare it to decide whether
    /// a snapshot is still current.
    pub fn directory_generation(&self) -> u64 {
        self.shared.directory_generation.load(Ordering::Acquire)
    }

    /// Seals a message body with its own key. CPU work: run it off the writer thread.
    pub fn seal(&self, body: impl AsRef<[u8]>) -> Result<SealedMessage, StoreError> {
        self.shared.master.seal_message(body.as_ref())
    }

    /// Seals the concatenation of `parts` as one message (a trace header, then the body).
    pub fn seal_parts(&self, parts: &[&[u8]]) -> Result<SealedMessage, StoreError> {
        self.shared.master.seal_message_parts(parts)
    }

    pub fn seal_secret(&self, secret: impl AsRef<[u8]>) -> Result<Vec<u8>, StoreError> {
        self.shared.master.seal_secret(secret.as_ref())
    }

    pub fn open_secret(&self, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.shared.master.open_secret(sealed)
    }

    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let file_bytes = fs::metadata(self.shared.env.path().join("data.mdb")).map(|m| m.len()).unwrap_or(0);
        self.reading(|t, txn| {
            Ok(StoreStats {
                messages: t.messages.len(txn)?,
                message_bytes: messages::bytes_total(t, txn)?,
                mailboxes: t.accounts.len(txn)?,
                arrivals: t.arrivals.len(txn)?,
                connection_log_lines: crate::tables::connections::lines(t, txn)?,
                file_bytes,
            })
        })
    }

    /// The map's size and the bytes its tables' pages take now (free pages left out): how
    /// full the store is, for `/metrics`.
    pub fn map_usage(&self) -> Result<MapUsage, StoreError> {
        let map_bytes = self.shared.env.info().map_size as u64;
        let used_bytes = self.reading(crate::counters::map_used_bytes)?;
        Ok(MapUsage { map_bytes, used_bytes })
    }

    /// Writes a consistent copy of the LMDB file to `out` (a file or a pipe), sequentially.
    ///
    /// The copy reads from one LMDB read transaction: writes go on meanwhile (LMDB holds the
    /// writer's lock only while it copies the two meta pages). `compact` leaves free pages
    /// out — a smaller copy, and one that carries no stale page contents such as erased
    /// message keys — at the cost of walking every tree.
    pub fn copy_store_to(&self, mut out: fs::File, compact: bool) -> Result<(), StoreError> {
        let option = if compact { heed::CompactionOption::Enabled } else { heed::CompactionOption::Disabled };
        self.shared.env.copy_to_file(&mut out, option)?;
        Ok(())
    }

    /// Checks every invariant of the store; returns the problems found (empty when sound).
    pub fn fsck(&self) -> Result<Vec<String>, StoreError> {
        let txn = self.read()?;
        crate::fsck::check(&self.shared, &txn)
    }

    /// Runs `read` in a read transaction of its own.
    fn reading<T>(&self, read: impl FnOnce(&Tables, &RoTxn<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let txn = self.read()?;
        read(&self.shared.tables, &txn)
    }

    fn read(&self) -> Result<RoTxn<'_, WithoutTls>, StoreError> {
        Ok(self.shared.env.read_txn()?)
    }

    async fn write(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writes.send(Request::Write(Job { op, reply })).map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// For command-line tools that run without an async runtime.
    fn write_blocking(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writes.send(Request::Write(Job { op, reply })).map_err(|_| StoreError::Closed)?;
        answer.blocking_recv().map_err(|_| StoreError::Closed)?
    }
}

/// Opens the LMDB environment in `dir`.
pub(crate) fn open_env(dir: &Path, map_bytes: usize) -> Result<Env<WithoutTls>, StoreError> {
    let mut open = EnvOpenOptions::new().read_txn_without_tls();
    open.map_size(map_bytes).max_dbs(TABLES_MAX);
    // SAFETY: heed marks `open` unsafe because LMDB must not be opened twice in one
    // process and the file must not be changed behind its back. The appliance opens the
    // store once per process and takes `caducee.lock` in the data folder first.
    #[allow(unsafe_code)]
    let env = unsafe { open.open(dir)? };
    Ok(env)
}

/// The writer answered a write with the outcome of another kind of write.
fn unexpected(outcome: WriteOutcome) -> StoreError {
    StoreError::Corrupt(format!("writer answered {outcome:?}"))
}
