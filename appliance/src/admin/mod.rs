//! Administration: one set of operations (accounts, keys, directory, backups, alerts,
//! status), reached two ways — through the running relay's admin socket
//! (`<data>/admin.sock`, mode 0600, see [`socket`]), or directly on the store when the relay
//! is stopped (the CLI's offline mode). The requests and their replies are the types of
//! `caducee-admin-protocol`; this module answers them.
//!
//! [`Admin::execute`] dispatches each request to its handler, which returns the request's
//! typed reply; [`answer`] serialises it. Each handler lives with its feature: [`users`],
//! [`keys`], [`backup`], [`notices`], [`status`], and the directory's in
//! `crate::directory::admin`.

mod audit;
mod backup;
pub mod keys;
mod notices;
mod queue;
pub mod socket;
mod status;
mod trust;
mod users;

use std::path::PathBuf;
use std::sync::Arc;

use actix::Addr;
use anyhow::Context as _;
use caducee_actors::clock::Clock;
use caducee_actors::mailbox::Mailboxes;
use caducee_admin_protocol::{Call, Request, Response};
use caducee_storage::{Address, AuditAction, AuditDraft, Millis, Store};
use rand::Rng;

pub use caducee_admin_protocol::{UserAdd, UserCreated};
pub use socket::{bind_socket, serve_socket, socket_path};

/// Who is asking, for the audit trail.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: String,
    pub source: String,
}

impl Caller {
    /// The calling process's own user, for commands run without a relay.
    pub fn offline() -> Caller {
        use std::os::unix::fs::MetadataExt as _;
        let uid = std::fs::metadata("/proc/self").map(|m| m.uid().to_string()).unwrap_or_else(|_| "?".into());
        Caller { actor: format!("uid {uid}"), source: "offline command".into() }
    }

    /// An audit draft of this caller's access at `at`.
    pub(crate) fn draft(&self, at: Millis, action: AuditAction, object: String, detail: String) -> AuditDraft {
        AuditDraft::new(at, self.actor.clone(), self.source.clone(), action, object, detail)
    }
}

/// The operations, on an open store; `mailboxes` is present when the relay runs.
#[derive(Clone)]
pub struct Admin {
    pub store: Store,
    pub data_dir: PathBuf,
    pub mailboxes: Option<Addr<Mailboxes>>,
    pub monitor: Option<Addr<caducee_actors::monitor::Monitor>>,
    pub notifier: Option<Addr<caducee_actors::notices::Notifier>>,
    pub key_vault: Option<Addr<caducee_actors::keyvault::KeyVault>>,
    pub keys: keys::KeysContext,
    pub clock: Arc<dyn Clock>,
    /// The restore drill run for the console, one at a time.
    pub drill: crate::backup::drill::DrillWatch,
    /// The outbound queue's deliverer, nudged after a retry or a release (absent with the
    /// relay stopped, or without federation).
    pub peers: Option<Arc<dyn caducee_actors::session::Peers>>,
    /// The sessions open now, by door (absent with the relay stopped).
    pub sessions_open: Option<SessionsOpen>,
}

/// Reads the sessions open now, by door.
pub type SessionsOpen = Arc<dyn Fn() -> Vec<(String, u64)> + Send + Sync>;

impl Admin {
    /// Answers one request, and records in the audit trail what it read or exported of
    /// personal data once it succeeded.
    pub async fn execute(&self, request: Request, caller: &Caller) -> Response {
        let audit = audit::of(&request);
        let result = self.dispatch(request, caller).await;
        // Every access to personal data leaves a trace, made after the access succeeded.
        if let (Ok(_), Some((action, object, detail))) = (&result, audit) {
            let draft = caller.draft(self.clock.now(), action, object, detail);
            if let Err(error) = self.store.audit(draft).await {
                tracing::error!(%error, "writing the audit trail failed");
            }
        }
        match result {
            Ok(result) => Response { ok: true, error: None, result },
            Err(error) => Response::refused(format!("{error:#}")),
        }
    }

    async fn dispatch(&self, request: Request, caller: &Caller) -> anyhow::Result<serde_json::Value> {
        use caducee_admin_protocol as p;
        match request {
            Request::UserAdd(r) => answer::<p::UserAdd>(self.user_add(r, caller).await),
            Request::UserList(_) => answer::<p::UserList>(self.user_list()),
            Request::UserState(r) => answer::<p::UserState>(self.user_state(r).await),
            Request::UserQuota(r) => answer::<p::UserQuota>(self.user_quota(r, caller).await),
            Request::UserEdit(r) => answer::<p::UserEdit>(self.user_edit(r, caller).await),
            Request::UserResetPassword(r) => answer::<p::UserResetPassword>(self.user_reset_password(r, caller).await),
            Request::Keys(r) => answer::<p::Keys>(self.keys(&r.address, r.action, caller).await),
            Request::DirectorySet(r) => {
                answer::<p::DirectorySet>(self.directory_set(&r.address, &r.fields, caller).await)
            }
            Request::DirectoryImport(r) => {
                answer::<p::DirectoryImport>(self.directory_import(&r.csv, r.credentials_out.as_deref(), caller).await)
            }
            Request::DirectoryExport(r) => answer::<p::DirectoryExport>(self.directory_export(r.format)),
            Request::Status(_) => answer::<p::Status>(self.status().await),
            Request::Fsck(_) => answer::<p::Fsck>(self.store.fsck().map_err(anyhow::Error::from)),
            Request::MonitorRun(r) => answer::<p::MonitorRun>(self.monitor_run(r.as_of).await),
            Request::Trail(r) => answer::<p::Trail>(self.trail(r.message)),
            Request::AuditVerify(_) => answer::<p::AuditVerify>(self.audit_verify()),
            Request::AuditExport(r) => {
                answer::<p::AuditExport>(self.store.audit_entries(r.from, r.to).map_err(Into::into))
            }
            Request::Backup(r) => answer::<p::BackupRequest>(self.backup_alerting(r).await),
            Request::BackupList(_) => answer::<p::BackupList>(self.backup_list()),
            Request::DrillStart(r) => answer::<p::DrillStart>(self.drill_start(r.from)),
            Request::DrillStatus(_) => answer::<p::DrillStatus>(self.drill.state()),
            Request::DrillFailed(r) => answer::<p::DrillFailed>(self.drill_failed(r.error).await),
            Request::Announce(r) => answer::<p::Announce>(self.announce(r).await),
            Request::TermsPublish(r) => answer::<p::TermsPublish>(self.terms_publish(r.text, caller).await),
            Request::RightsRequests(_) => answer::<p::RightsRequests>(self.store.requests().map_err(Into::into)),
            Request::RightsRequestClose(r) => {
                answer::<p::RightsRequestClose>(self.rights_request_close(r.seq, caller).await)
            }
            Request::Alerts(_) => answer::<p::Alerts>(self.alerts()),
            Request::AlertAcknowledge(r) => answer::<p::AlertAcknowledge>(self.alert_acknowledge(r.seq, caller).await),
            Request::TrustImport(r) => answer::<p::TrustImport>(self.trust_import(&r.xml, &r.source, caller).await),
            Request::TrustListing(_) => answer::<p::TrustListing>(self.trust_listing()),
            Request::TrustShow(r) => answer::<p::TrustShow>(self.trust_show(&r.domain)),
            Request::QueueListing(_) => answer::<p::QueueListing>(self.queue_listing()),
            Request::QueueShow(r) => answer::<p::QueueShow>(self.queue_show(r.id)),
            Request::QueueAct(r) => answer::<p::QueueAct>(self.queue_act(r.id, r.action, caller).await),
        }
    }

    /// The account an administrator names, or an error that says what is wrong.
    pub(crate) fn account_named(&self, address: &str) -> anyhow::Result<caducee_storage::Account> {
        let parsed = Address::parse(address).with_context(|| format!("invalid address {address:?}"))?;
        self.store.account_by_address(&parsed)?.with_context(|| format!("no account {address}"))
    }
}

/// A handler's typed reply, as the `result` of the response: the reply type is the one
/// request `C` names, so a handler cannot answer with another shape.
fn answer<C: Call>(reply: anyhow::Result<C::Reply>) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(reply?)?)
}

/// 20 characters from an alphabet without look-alikes: about 113 bits.
fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..20).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}
