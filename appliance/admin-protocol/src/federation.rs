//! Federation with the other operators of the trust space: the trust list.

use caducee_storage::Millis;
use serde::{Deserialize, Serialize};

/// `trust-import`: puts a trust list in force, read whole or not at all. A refused list
/// raises an alert and leaves the last good one in force.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustImport {
    /// The list's XML.
    pub xml: String,
    /// Where it came from (a file or an HTTPS URL), recorded with it.
    pub source: String,
}

/// The reply to `trust-import`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustImported {
    pub domains: u32,
    /// How many domains the list it replaced had (none: the first list).
    pub replaced_domains: Option<u32>,
    pub imported_at: Millis,
}

/// `trust-list`: the domains of the list in force.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrustListing {}

/// `trust-show`: one domain of the list in force.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustShow {
    pub domain: String,
}

/// The list in force and where it came from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrustListView {
    /// `None` until a list is imported.
    pub source: Option<String>,
    pub imported_at: Option<Millis>,
    pub domains: Vec<TrustDomainView>,
}

/// One domain of the trust list: who may send and receive mail for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustDomainView {
    pub domain: String,
    pub description: String,
    /// The operators' certificate subjects, as the list writes them (spacing tidied).
    pub operators: Vec<String>,
    pub responsible_contact: String,
    pub support_contact: String,
    /// `DateMAJ` as written.
    pub updated: String,
}

/// `queue-list`: the outbound queue, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueueListing {}

/// `queue-show`: one entry of the outbound queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueShow {
    pub id: u64,
}

/// `queue-act`: an administrator's action on one entry of the outbound queue, or on all.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueAct {
    /// `None`: every entry (retry, hold and release only).
    pub id: Option<u64>,
    pub action: QueueAction,
}

/// What `queue-act` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueAction {
    /// Try now rather than at the next scheduled attempt (a held entry stays held).
    Retry,
    /// No attempt until released.
    Hold,
    /// Attempts resume, the next one now.
    Release,
    /// Out of the queue: its waiting recipients are given up (their senders are told), and
    /// the message is erased once nothing else holds it.
    Delete,
}

/// The reply to `queue-act`: how many entries it changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueActed {
    pub entries: u32,
}

/// The outbound queue.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueueView {
    pub entries: Vec<QueueEntryView>,
}

/// One entry: a message waiting for the operator of one domain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueEntryView {
    pub id: u64,
    pub message: u64,
    pub sender: String,
    pub domain: String,
    pub size: u64,
    pub queued_at: Millis,
    pub next_attempt_at: Millis,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub held: bool,
    pub recipients: Vec<QueueRecipientView>,
}

/// One recipient of an entry, with what became of it so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueRecipientView {
    pub address: String,
    /// `waiting`, `delivered` or `failed`.
    pub state: String,
    pub reply: Option<String>,
    pub at: Option<Millis>,
}
