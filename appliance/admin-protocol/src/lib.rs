//! The admin protocol of a Caducée relay: one [`Request`] enum, and for every request a type
//! that names its reply ([`Call::Reply`]). The CLI (`caducee …`) and the console
//! (`caducee console`) speak it to the running relay's admin socket, and the binary answers
//! it directly on the store when no relay runs; neither client ever opens the store.
//!
//! On the wire it is JSON lines: one [`Envelope`] per line from the client, one
//! [`Response`] per line back. A renamed field is a compile error on both sides, because
//! both sides serialise and deserialise these same types.
//!
//! This crate holds data types and the framing only: no store, no runtime, no policy.

mod backup;
mod directory;
mod federation;
mod keys;
mod notices;
mod socket;
mod status;
mod users;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use backup::*;
pub use directory::*;
pub use federation::*;
pub use keys::*;
pub use notices::*;
pub use socket::{exchange_on_socket, socket_path, SocketTransport, ADMIN_REQUEST_BYTES_MAX};
pub use status::*;
pub use users::*;

/// The admin protocol version this build speaks. A relay refuses an envelope of another
/// version, saying which one it speaks.
pub const ADMIN_PROTOCOL_VERSION: u32 = 1;

/// One request line: the protocol version and the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub version: u32,
    pub request: Request,
}

/// One reply line. `result` is the typed reply of the request, serialised; clients read it
/// back through [`Call::Reply`] (see [`call`]).
#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub result: serde_json::Value,
}

impl Response {
    /// A refusal carrying `error`.
    pub fn refused(error: String) -> Response {
        Response { ok: false, error: Some(error), result: serde_json::Value::Null }
    }

    /// The reply's `result`, or the relay's error text.
    pub fn into_result(self) -> Result<serde_json::Value, String> {
        match self {
            Response { ok: true, result, .. } => Ok(result),
            Response { error, .. } => Err(error.unwrap_or_else(|| "request failed".into())),
        }
    }
}

/// A request whose reply has a type. Each request type converts into the one [`Request`]
/// enum that travels; its reply comes back as `Self::Reply`.
pub trait Call: Into<Request> {
    type Reply: Serialize + DeserializeOwned;
}

/// Carries one request to the relay (or to the offline store) and returns the reply's
/// `result`, or the relay's error text.
pub trait Transport {
    fn exchange(&mut self, request: Request) -> Result<serde_json::Value, String>;
}

impl<F: FnMut(Request) -> Result<serde_json::Value, String>> Transport for F {
    fn exchange(&mut self, request: Request) -> Result<serde_json::Value, String> {
        self(request)
    }
}

/// Sends a typed request and reads its typed reply. A reply that does not have the shape of
/// `C::Reply` is an error that says so (a client and a relay of different builds).
pub fn call<C: Call>(transport: &mut dyn Transport, request: C) -> Result<C::Reply, String> {
    let result = transport.exchange(request.into())?;
    serde_json::from_value(result).map_err(|error| format!("the relay's reply has an unexpected shape: {error}"))
}

/// Declares the [`Request`] enum from one table: each row a variant, the type that carries
/// its fields, and its reply. The variant's kebab-case name is the `command` on the wire.
macro_rules! requests {
    ($($(#[$doc:meta])* $variant:ident($request:ty) -> $reply:ty;)*) => {
        /// Every request the relay answers. Serialised with a `command` tag in kebab-case
        /// (`{"command": "user-list"}`), the request's fields beside it.
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(tag = "command", rename_all = "kebab-case")]
        pub enum Request {
            $($(#[$doc])* $variant($request),)*
        }

        $(
            impl From<$request> for Request {
                fn from(request: $request) -> Request {
                    Request::$variant(request)
                }
            }

            impl Call for $request {
                type Reply = $reply;
            }
        )*
    };
}

requests! {
    /// Creates an account, its mailbox and the first edition of its keys.
    UserAdd(UserAdd) -> UserCreated;
    /// Every account with its mailbox usage.
    UserList(UserList) -> Vec<UserView>;
    /// The store's figures, the quality of service, notices, open alerts, every mailbox.
    Status(Status) -> StatusReport;
    /// Checks every invariant of the store; the problems found.
    Fsck(Fsck) -> Vec<String>;
    /// Writes an encrypted backup of the store.
    Backup(BackupRequest) -> BackupDone;
    /// Runs every monitor rule now, or as of the given time.
    MonitorRun(MonitorRun) -> SweepReport;
    /// Changes an account's state: reception, block, closing, legal hold.
    UserState(UserState) -> UserView;
    /// Changes an account's mailbox quota.
    UserQuota(UserQuota) -> UserView;
    /// New names or contact e-mail for an account (what is left out stays).
    UserEdit(UserEdit) -> UserView;
    /// A new random password for an account (shown once; the old one stops working).
    UserResetPassword(UserResetPassword) -> PasswordReset;
    /// A message's trail (metadata only).
    Trail(Trail) -> TrailView;
    /// Walks the audit chain.
    AuditVerify(AuditVerify) -> AuditVerified;
    /// Audit entries made in `[from, to)`.
    AuditExport(AuditExport) -> Vec<caducee_storage::AuditEntry>;
    /// A maintenance announcement or terms-of-use update to every user's contact e-mail.
    Announce(Announce) -> Announced;
    /// Changes an account's directory entry and preferences.
    DirectorySet(DirectorySet) -> DirectoryShown;
    /// Loads directory entries from CSV: updates existing accounts, creates the others
    /// (with keys); all or nothing.
    DirectoryImport(DirectoryImport) -> Imported;
    /// The directory as a file.
    DirectoryExport(DirectoryExport) -> Exported;
    /// Publishes new terms of use: every user accepts them at the next login.
    TermsPublish(TermsPublish) -> TermsPublished;
    /// The data-protection requests users filed from their personal space.
    RightsRequests(RightsRequests) -> Vec<caducee_storage::RightsRequest>;
    /// The scheduled backups in the configured folder, and the last restore drill.
    BackupList(BackupList) -> BackupListing;
    /// Marks a data-protection request as dealt with.
    RightsRequestClose(RightsRequestClose) -> RequestClosed;
    /// Starts a restore drill in the relay; its progress comes with `drill-status`.
    DrillStart(DrillStart) -> DrillState;
    /// Where the running restore drill stands, and the last one's report.
    DrillStatus(DrillStatus) -> DrillState;
    /// A restore drill run as a command (`caducee drill`, a timer's) failed: an alert.
    DrillFailed(DrillFailed) -> Alerted;
    /// Every alert raised for the administrator, newest first.
    Alerts(Alerts) -> Vec<caducee_storage::Alert>;
    /// Acknowledges an alert (the caller is recorded on it and in the audit trail).
    AlertAcknowledge(AlertAcknowledge) -> AlertAcknowledged;
    /// An account's certificates: show, renew, revoke (which issues a new edition).
    Keys(Keys) -> KeysReport;
    /// Puts a trust list of the operators' trust space in force, whole or not at all.
    TrustImport(TrustImport) -> TrustImported;
    /// The trust list in force.
    TrustListing(TrustListing) -> TrustListView;
    /// One domain of the trust list in force.
    TrustShow(TrustShow) -> TrustDomainView;
    /// The outbound queue to peer operators.
    QueueListing(QueueListing) -> QueueView;
    /// One entry of the outbound queue.
    QueueShow(QueueShow) -> QueueEntryView;
    /// Retry, hold, release or delete entries of the outbound queue.
    QueueAct(QueueAct) -> QueueActed;
}

#[cfg(test)]
mod tests;
