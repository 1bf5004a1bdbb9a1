//! The relay's state: status, fsck, the monitor's sweep, message trails, the audit trail.

use caducee_storage::{Alert, CommitStats, Millis, Notice, Purged};
use serde::{Deserialize, Serialize};

use crate::{DrillOutcome, UserView};

/// `status`: the relay at a glance (the account list among it: a read of personal data,
/// audited).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    /// The console's periodic refresh of a status it has shown already: the person asked
    /// once, so the read is audited once, not every second.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refresh: bool,
}

/// The reply to `status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusReport {
    pub running: bool,
    pub stored_messages: u64,
    pub stored_bytes: u64,
    pub mailbox_count: u64,
    pub store_file_bytes: u64,
    pub connection_log_lines: u64,
    /// Group-commit figures since the relay started (running relay only).
    pub commits: Option<CommitStats>,
    /// The last restore drill's report (`caducee drill`).
    pub last_drill: Option<DrillOutcome>,
    /// Quality of service over the last 5 and 60 minutes (running relay only).
    pub quality: Option<QualityReport>,
    /// Notices waiting for the smarthost.
    pub notices_waiting: Vec<Notice>,
    /// Alerts not yet acknowledged, newest first.
    pub open_alerts: Vec<Alert>,
    pub mailboxes: Vec<UserView>,
    /// Sessions open now, by door (`submission`, `imaps`…; running relay only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions_open: Vec<(String, u64)>,
    /// On a pair member, the replicated disk as the serving member sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<PairView>,
}

/// A pair member's replication (docs/operations/pair.md), from the member that serves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairView {
    /// This member's name (`caducee-1`, `caducee-2`).
    pub member: Option<String>,
    /// The floating address practices connect to (`10.77.0.10/24`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_address: Option<String>,
    /// DRBD's connection state: `Connected`, `WFConnection` (peer away), `SyncSource`…
    pub connection: String,
    pub role: String,
    pub peer_role: String,
    pub disk: String,
    pub peer_disk: String,
    pub sync_percent: Option<f64>,
    /// What is wrong, in words; `None` when both disks are up to date and connected.
    pub problem: Option<String>,
    /// The cluster as Pacemaker last showed it (`caducee pair publish`, run as root on
    /// the member, writes it where the relay reads it); `None` when nothing recent is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<PairCluster>,
}

/// The pair's cluster, as `crm_mon --output-as=xml` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairCluster {
    pub quorate: bool,
    pub designated_controller: Option<String>,
    /// Each member: (name, online).
    pub members: Vec<(String, bool)>,
    /// Where the service group (disk, service address, relay) runs.
    pub serving: Option<String>,
    /// The relay's last start: (member, when, as Pacemaker wrote it; how long it took, ms).
    /// After a takeover, that is the takeover's start of the relay.
    pub last_start: Option<(String, String, u64)>,
    /// Operations that failed, as Pacemaker lists them.
    pub failures: Vec<String>,
}

/// Quality of service, as `status` and the portal show it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// End of data → durable commit, in milliseconds.
    pub processing_ms: Vec<WindowFigures>,
    /// Durable commit → first collection, in seconds.
    pub collection_delay_s: Vec<WindowFigures>,
    pub accepted_total: u64,
    pub collected_total: u64,
    pub load_average: [f64; 3],
    pub store_file_bytes: u64,
    pub store_free_bytes: u64,
}

/// Figures over one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowFigures {
    pub minutes: u64,
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// `fsck`: checks every invariant of the store.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Fsck {}

/// `monitor-run`: every monitor rule, now or as of `as_of`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MonitorRun {
    pub as_of: Option<Millis>,
}

/// The reply to `monitor-run`: what the sweep did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SweepReport {
    pub as_of: Millis,
    pub accounts: u64,
    pub inactivity_notices: u64,
    pub disabled: u64,
    pub quota_changes: u64,
    /// What retention removed.
    pub purged: Purged,
    /// Closed accounts removed by retention.
    pub closed_accounts_removed: u64,
    /// Accounts whose next year's keys were issued and delivered to their mailbox.
    pub keys_renewed: u64,
}

/// `trail`: a message's trail, metadata only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trail {
    /// The number before the dot in "stored as N.xxxx".
    pub message: u64,
}

/// The reply to `trail`: the message's trail, and what federation added to it (the
/// operator it came from, what became of its recipients in other domains).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrailView {
    #[serde(flatten)]
    pub trail: caducee_storage::MessageTrail,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation: Option<caducee_storage::FederationTrail>,
}

/// `audit-verify`: walks the audit chain.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditVerify {}

/// The reply to `audit-verify`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditVerified {
    pub ok: bool,
    pub entries_checked: u64,
    pub problems: Vec<String>,
}

/// `audit-export`: the entries made in `[from, to)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditExport {
    pub from: Millis,
    pub to: Millis,
}
