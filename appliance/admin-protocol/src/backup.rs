//! Backups and restore drills.

use std::path::PathBuf;

use caducee_storage::Millis;
use serde::{Deserialize, Serialize};

/// `backup`: an encrypted backup of the store.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BackupRequest {
    /// The backup file; `None` for a scheduled backup into the configured folder, with
    /// rotation.
    pub to: Option<PathBuf>,
    /// The backup key file; `None` for the data folder's own (`keys/backup.key`).
    pub key_file: Option<PathBuf>,
    /// Overrides the configured compaction.
    pub compact: Option<bool>,
}

/// The reply to `backup`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupDone {
    pub file: PathBuf,
    pub file_bytes: u64,
    pub seconds: f64,
    pub manifest: Manifest,
    /// Older scheduled backups removed by rotation.
    pub rotated_out: Vec<PathBuf>,
    /// The backup key, when this backup made it (the first one): it must be exported and
    /// kept offline, for no backup restores without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_created: Option<PathBuf>,
}

/// What a backup holds, written inside it (after the files it describes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub backup_format: u8,
    pub caducee_version: String,
    pub store_format: u32,
    pub created_at: Millis,
    pub compacted: bool,
    /// Counted in a read transaction just before the copy began; the copy itself may hold a
    /// few more messages accepted meanwhile (a restore or verify reports the exact figures).
    pub messages_at_start: u64,
    pub message_bytes_at_start: u64,
    pub mailboxes_at_start: u64,
    pub files: Vec<FileDigest>,
    /// SHA-256 of the whole archive's ciphertext is not knowable inside it; the file digests
    /// and the authenticated chunks cover every byte.
    pub key_id: String,
}

/// One file of a backup and its digest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileDigest {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// `backup-list`: the scheduled backups and the last drill.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BackupList {}

/// The reply to `backup-list`. No backup folder configured: no backups.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupListing {
    pub backups: Vec<BackupFile>,
    pub folder: Option<PathBuf>,
    pub keep_daily: usize,
    pub keep_weekly: usize,
    pub last_drill: Option<DrillOutcome>,
}

/// One scheduled backup in the folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupFile {
    /// When it was taken, from its name.
    pub at: Millis,
    pub bytes: u64,
    pub file: PathBuf,
}

/// `drill-start`: a restore drill run by the relay (the console's).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DrillStart {
    /// The backup to drill (default: the newest in the configured folder).
    pub from: Option<PathBuf>,
}

/// `drill-status`: where the relay's drill stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DrillStatus {}

/// `drill-failed`: a drill run as a command failed; the relay raises an alert.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrillFailed {
    pub error: String,
}

/// The reply to `drill-failed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alerted {
    pub alerted: bool,
}

/// A drill run by the relay for its console: the step it is at, and the last report. The
/// reply to `drill-start` and `drill-status`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct DrillState {
    pub running: bool,
    /// 1-based index into the drill's steps while running.
    pub step: usize,
    pub steps: usize,
    pub label: String,
    pub started_at: Option<Millis>,
    /// Seconds since the start, at the last look.
    pub elapsed_seconds: f64,
    /// The report of the drill that finished last (also in `drill-last.json`).
    pub report: Option<DrillOutcome>,
}

/// What a restore drill measured (`caducee drill`, `drill-last.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrillReport {
    pub ok: bool,
    pub backup: PathBuf,
    pub backup_created_at: Option<Millis>,
    pub started_at: Millis,
    /// Decrypting, checking and installing the backup.
    pub restore_seconds: Option<f64>,
    /// Start of the restore → the restored relay listening.
    pub ready_seconds: Option<f64>,
    /// Start of the restore → the first message accepted (`250`) by the restored relay.
    pub first_accept_seconds: Option<f64>,
    /// The drill message came back over POP3, byte for byte.
    pub collected: bool,
    pub messages_restored: Option<u64>,
    pub mailboxes_restored: Option<u64>,
    /// Notices (to users, contacts, the administrator) that were waiting for the smarthost
    /// in the backup: the drill's relay never sends them — the live relay does.
    #[serde(default)]
    pub notices_held: Option<u64>,
    pub error: Option<String>,
}

/// How the last drill ended: its report, or the error that stopped it before it could
/// make one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DrillOutcome {
    Report(DrillReport),
    Failed(DrillFailure),
}

/// A drill that failed before it had a report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrillFailure {
    pub error: String,
    /// Always `false`: read as a report's `ok`.
    pub ok: bool,
}

impl DrillOutcome {
    /// A drill stopped by `error` before it could report.
    pub fn failed(error: String) -> DrillOutcome {
        DrillOutcome::Failed(DrillFailure { error, ok: false })
    }

    /// Whether the drill passed.
    pub fn ok(&self) -> bool {
        match self {
            DrillOutcome::Report(report) => report.ok,
            DrillOutcome::Failed(_) => false,
        }
    }

    /// Why it failed, when it says.
    pub fn error(&self) -> Option<&str> {
        match self {
            DrillOutcome::Report(report) => report.error.as_deref(),
            DrillOutcome::Failed(failure) => Some(&failure.error),
        }
    }

    /// The full report, when the drill got far enough to make one.
    pub fn report(&self) -> Option<&DrillReport> {
        match self {
            DrillOutcome::Report(report) => Some(report),
            DrillOutcome::Failed(_) => None,
        }
    }
}
