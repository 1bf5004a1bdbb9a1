//! Administration: one set of operations (create and list users, status, fsck), reached
//! two ways — through the running relay's admin socket (`<data>/admin.sock`, mode 0600),
//! or directly on the store when the relay is stopped. The request/response protocol is
//! one JSON object per line, versioned.

pub mod keys;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix::Addr;
use anyhow::{bail, Context as _};
use caducee_actors::clock::Clock;
use caducee_actors::mailbox::{Mailboxes, Register};
use caducee_storage::{hash_password, Address, Millis, NewAccount, Store, StoreError, DEFAULT_QUOTA_BYTES};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::backup::BackupKey;

/// The admin protocol version this build speaks.
pub const ADMIN_PROTOCOL_VERSION: u32 = 1;
/// Longest announcement subject and text.
const ANNOUNCEMENT_SUBJECT_BYTES_MAX: usize = 200;
const ANNOUNCEMENT_BODY_BYTES_MAX: usize = 32 * 1024;
/// Longest request line read from the admin socket.
pub const ADMIN_REQUEST_BYTES_MAX: u64 = 64 * 1024;

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub version: u32,
    pub request: Request,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Request {
    UserAdd(UserAdd),
    UserList,
    Status,
    Fsck,
    Backup(BackupRequest),
    /// Runs every monitor rule now, or as of the given time.
    MonitorRun {
        as_of: Option<Millis>,
    },
    /// Changes an account's monitor state: `unblock`, `enable` (reception), `suspend`.
    UserState {
        address: String,
        action: StateAction,
    },
    /// Changes an account's mailbox quota.
    UserQuota {
        address: String,
        quota_mb: u64,
    },
    /// New names or contact e-mail for an account (what is left out stays).
    UserEdit {
        address: String,
        first_name: Option<String>,
        last_name: Option<String>,
        contact_email: Option<String>,
    },
    /// A new random password for an account (shown once; the old one stops working).
    UserResetPassword {
        address: String,
    },
    /// A message's trail (metadata only).
    Trail {
        message: u64,
    },
    /// Walks the audit chain.
    AuditVerify,
    /// Audit entries made in `[from, to)`.
    AuditExport {
        from: Millis,
        to: Millis,
    },
    /// A maintenance announcement or terms-of-use update to every user's contact e-mail.
    Announce {
        subject: String,
        body: String,
    },
    /// Changes an account's directory entry and preferences.
    DirectorySet {
        address: String,
        fields: crate::directory::DirectoryFields,
    },
    /// Loads directory entries from CSV: updates existing accounts, creates the others
    /// (with keys); all or nothing.
    DirectoryImport {
        csv: String,
        /// Where the new accounts' passwords and installation codes are written (0600).
        credentials_out: Option<PathBuf>,
    },
    /// The directory as a file.
    DirectoryExport {
        format: crate::directory::ExportFormat,
    },
    /// Publishes new terms of use: every user accepts them at the next login.
    TermsPublish {
        text: String,
    },
    /// The data-protection requests users filed from their personal space.
    RightsRequests,
    /// The scheduled backups in the configured folder, and the last restore drill.
    BackupList,
    /// Marks a data-protection request as dealt with.
    RightsRequestClose {
        seq: u64,
    },
    /// Starts a restore drill in the relay (the console's `d`); its progress comes with
    /// `drill-status`.
    DrillStart {
        from: Option<PathBuf>,
    },
    /// Where the running restore drill stands, and the last one's report.
    DrillStatus,
    /// A restore drill run as a command (`caducee drill`, a timer's) failed: an alert.
    DrillFailed {
        error: String,
    },
    /// Every alert raised for the administrator, newest first.
    Alerts,
    /// Acknowledges an alert (the caller is recorded on it and in the audit trail).
    AlertAcknowledge {
        seq: u64,
    },
    /// An account's certificates: show, renew, revoke (which issues a new edition).
    Keys {
        address: String,
        action: crate::admin::keys::KeysAction,
    },
}

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
}

#[derive(Debug, Serialize)]
pub struct AuditVerified {
    pub ok: bool,
    pub entries_checked: u64,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum StateAction {
    Unblock,
    Enable,
    Suspend,
    Close,
    Reopen,
    Hold,
    Release,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupRequest {
    /// The backup file; `None` for a scheduled backup into the configured folder, with
    /// rotation.
    pub to: Option<PathBuf>,
    /// The backup key file; `None` for the data folder's own (`keys/backup.key`).
    pub key_file: Option<PathBuf>,
    /// Overrides the configured compaction.
    pub compact: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct BackupDone {
    pub file: PathBuf,
    pub file_bytes: u64,
    pub seconds: f64,
    pub manifest: crate::backup::Manifest,
    /// Older scheduled backups removed by rotation.
    pub rotated_out: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserAdd {
    pub address: String,
    pub first_name: String,
    pub last_name: String,
    pub contact_email: String,
    pub quota_mb: Option<u64>,
    /// The directory entry (SPEC R-DIR-1), checked before anything is written.
    #[serde(default)]
    pub directory: crate::directory::DirectoryFields,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub result: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub struct UserCreated {
    pub address: String,
    /// Shown once; only its hash is kept.
    pub password: String,
    pub quota_bytes: u64,
    /// The first edition of the user's keys: fingerprint, bundle, installation code.
    #[serde(flatten)]
    pub keys: crate::admin::keys::EditionIssued,
}

#[derive(Debug, Serialize)]
pub struct UserView {
    pub address: String,
    pub first_name: String,
    pub last_name: String,
    pub contact_email: String,
    pub quota_bytes: u64,
    pub used_bytes: u64,
    pub messages: u64,
    pub last_collection: Option<Millis>,
    pub delete_on_retrieve: bool,
    /// Reception, inactivity notice, quota warnings, mass-mailing block.
    pub state: caducee_storage::AccountState,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub running: bool,
    pub stored_messages: u64,
    pub stored_bytes: u64,
    pub mailbox_count: u64,
    pub store_file_bytes: u64,
    pub connection_log_lines: u64,
    /// Group-commit figures since the relay started (running relay only).
    pub commits: Option<caducee_storage::CommitStats>,
    /// The last restore drill's report (`caducee drill`).
    pub last_drill: Option<serde_json::Value>,
    /// Quality of service over the last 5 and 60 minutes (running relay only).
    pub quality: Option<caducee_actors::quality::QualityReport>,
    /// Notices waiting for the smarthost.
    pub notices_waiting: Vec<caducee_storage::Notice>,
    /// Alerts not yet acknowledged, newest first.
    pub open_alerts: Vec<caducee_storage::Alert>,
    pub mailboxes: Vec<UserView>,
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
    pub keys: crate::admin::keys::KeysContext,
    pub clock: Arc<dyn Clock>,
    /// The restore drill run for the console, one at a time.
    pub drill: crate::backup::drill::DrillWatch,
}

impl Admin {
    pub async fn execute(&self, request: Request, caller: &Caller) -> Response {
        let audit = audit_of(&request);
        let result = match request {
            Request::UserAdd(add) => self.user_add(add, caller).await.and_then(to_json),
            Request::Keys { address, action } => self.keys(&address, action, caller).await.and_then(to_json),
            Request::DirectorySet { address, fields } => {
                self.directory_set(&address, &fields, caller).await.and_then(to_json)
            }
            Request::DirectoryImport { csv, credentials_out } => {
                self.directory_import(&csv, credentials_out.as_deref(), caller).await.and_then(to_json)
            }
            Request::DirectoryExport { format } => self.directory_export(format).and_then(to_json),
            Request::TermsPublish { text } => self.terms_publish(text, caller).await.and_then(to_json),
            Request::RightsRequests => self.store.requests().map_err(anyhow::Error::from).and_then(to_json),
            Request::BackupList => self.backup_list().and_then(to_json),
            Request::RightsRequestClose { seq } => {
                let audit = caducee_storage::AuditDraft {
                    at: self.clock.now(),
                    actor: caller.actor.clone(),
                    source: caller.source.clone(),
                    action: "update".into(),
                    object: "data-protection request".into(),
                    detail: format!("request {seq} closed"),
                };
                match self.store.close_request(seq, self.clock.now(), audit).await {
                    Ok(()) => Ok(serde_json::json!({ "closed": seq })),
                    Err(error) => Err(error.into()),
                }
            }
            Request::DrillStart { from } => {
                if self.mailboxes.is_none() {
                    Err(anyhow::anyhow!("no relay runs here to hold the drill: run `caducee drill`"))
                } else {
                    self.drill
                        .start(self.data_dir.clone(), from, self.clock.now(), self.store.clone())
                        .and_then(to_json)
                }
            }
            Request::DrillStatus => self.drill.state().and_then(to_json),
            Request::DrillFailed { error } => {
                let text = format!("restore drill failed: {error}");
                let alert = caducee_storage::Alert::new("drill-failed", "drill", &text, self.clock.now());
                match self.store.raise_alert(alert).await {
                    Ok(()) => Ok(serde_json::json!({ "alerted": true })),
                    Err(error) => Err(error.into()),
                }
            }
            Request::Alerts => self.store.alerts().map_err(anyhow::Error::from).and_then(|mut alerts| {
                alerts.reverse();
                to_json(alerts)
            }),
            Request::AlertAcknowledge { seq } => {
                let audit = caducee_storage::AuditDraft {
                    at: self.clock.now(),
                    actor: caller.actor.clone(),
                    source: caller.source.clone(),
                    action: "update".into(),
                    object: "alert".into(),
                    detail: format!("alert {seq} acknowledged"),
                };
                match self.store.acknowledge_alert(seq, caller.actor.clone(), audit).await {
                    Ok(()) => Ok(serde_json::json!({ "acknowledged": seq, "by": caller.actor })),
                    Err(error) => Err(error.into()),
                }
            }
            Request::UserList => self.user_list().and_then(to_json),
            Request::Status => self.status().await.and_then(to_json),
            Request::Fsck => self.store.fsck().map_err(anyhow::Error::from).and_then(to_json),
            Request::MonitorRun { as_of } => self.monitor_run(as_of).await.and_then(to_json),
            Request::UserState { address, action } => self.user_state(&address, action).await.and_then(to_json),
            Request::UserQuota { address, quota_mb } => {
                self.user_quota(&address, quota_mb, caller).await.and_then(to_json)
            }
            Request::UserEdit { address, first_name, last_name, contact_email } => {
                self.user_edit(&address, first_name, last_name, contact_email, caller).await.and_then(to_json)
            }
            Request::UserResetPassword { address } => {
                self.user_reset_password(&address, caller).await.and_then(to_json)
            }
            Request::Trail { message } => self
                .store
                .trail(caducee_storage::MessageId(message))
                .map_err(anyhow::Error::from)
                .and_then(|trail| {
                    trail.with_context(|| format!("no trail for message {message} (unknown, or past retention)"))
                })
                .and_then(to_json),
            Request::AuditVerify => self
                .store
                .audit_verify()
                .map(|(entries_checked, problems)| AuditVerified { ok: problems.is_empty(), entries_checked, problems })
                .map_err(anyhow::Error::from)
                .and_then(to_json),
            Request::Announce { subject, body } => self.announce(subject, body).await.and_then(to_json),
            Request::AuditExport { from, to } => {
                self.store.audit_entries(from, to).map_err(anyhow::Error::from).and_then(to_json)
            }
            Request::Backup(backup) => {
                let admin = self.clone();
                let done = match tokio::task::spawn_blocking(move || admin.backup(backup)).await {
                    Ok(done) => done.and_then(to_json),
                    Err(error) => Err(anyhow::anyhow!("the backup task failed: {error}")),
                };
                if let Err(error) = &done {
                    // Scheduled backups run unattended (a timer): the console must say so.
                    let text = format!("backup failed: {error:#}");
                    let alert = caducee_storage::Alert::new("backup-failed", "backup", &text, self.clock.now());
                    if let Err(error) = self.store.raise_alert(alert).await {
                        tracing::error!(%error, "raising an alert failed");
                    }
                }
                done
            }
        };
        // Every access to personal data leaves a trace, made after the access succeeded.
        if let (Ok(_), Some((action, object, detail))) = (&result, audit) {
            let draft = caducee_storage::AuditDraft {
                at: self.clock.now(),
                actor: caller.actor.clone(),
                source: caller.source.clone(),
                action: action.to_owned(),
                object,
                detail,
            };
            if let Err(error) = self.store.audit(draft).await {
                tracing::error!(%error, "writing the audit trail failed");
            }
        }
        match result {
            Ok(result) => Response { ok: true, error: None, result },
            Err(error) => Response { ok: false, error: Some(format!("{error:#}")), result: serde_json::Value::Null },
        }
    }

    pub(crate) async fn user_add(&self, add: UserAdd, caller: &Caller) -> anyhow::Result<UserCreated> {
        let address = Address::parse(&add.address).with_context(|| format!("invalid address {:?}", add.address))?;
        if add.first_name.trim().is_empty() || add.last_name.trim().is_empty() {
            bail!("first and last names are required");
        }
        let contact = Address::parse(&add.contact_email)
            .with_context(|| format!("invalid contact e-mail {:?}", add.contact_email))?;
        let quota_bytes = add.quota_mb.map_or(DEFAULT_QUOTA_BYTES, |mb| mb.saturating_mul(1_000_000));
        let directory = add
            .directory
            .apply(caducee_storage::DirectoryEntry::default(), self.clock.now())
            .map_err(|problems| anyhow::anyhow!("the directory entry is refused: {}", problems.join("; ")))?;
        let password = generate_password();
        let hash = {
            let password = password.clone();
            tokio::task::spawn_blocking(move || hash_password(&password)).await??
        };
        let new = NewAccount {
            address: address.clone(),
            first_name: add.first_name.trim().to_owned(),
            last_name: add.last_name.trim().to_owned(),
            contact_email: contact.to_string(),
            password_hash: hash,
            quota_bytes,
            created_at: self.clock.now(),
            directory: Some(directory),
        };
        match self.store.create_account(new).await {
            Ok(_) => {}
            Err(StoreError::AccountExists(a)) => bail!("an account for {a} already exists"),
            Err(e) => return Err(e.into()),
        }
        let account = self.store.account_by_address(&address)?.context("account vanished after creation")?;
        if let Some(mailboxes) = &self.mailboxes {
            mailboxes.send(Register(account.clone())).await?;
        }
        tracing::info!(address = %address, "account created");
        let keys = self.issue_edition(&account, self.first_expiry(), "subscription", caller).await.with_context(|| {
            format!("the account {address} was created but its keys were not issued; run `caducee keys renew --address {address}`")
        })?;
        Ok(UserCreated { address: address.to_string(), password, quota_bytes, keys })
    }

    fn user_list(&self) -> anyhow::Result<Vec<UserView>> {
        Ok(self
            .store
            .accounts()?
            .into_iter()
            .map(|a| UserView {
                first_name: a.first_name,
                last_name: a.last_name,
                contact_email: a.contact_email,
                quota_bytes: a.quota_bytes,
                used_bytes: a.used_bytes,
                messages: a.message_count,
                last_collection: a.last_collection,
                delete_on_retrieve: a.delete_on_retrieve,
                state: self.store.account_state(a.id).unwrap_or_default(),
                address: a.address.to_string(),
            })
            .collect())
    }

    /// Queues one notice per distinct contact e-mail and sends them now.
    async fn terms_publish(&self, text: String, caller: &Caller) -> anyhow::Result<serde_json::Value> {
        if text.trim().is_empty() || text.len() > ANNOUNCEMENT_BODY_BYTES_MAX {
            bail!("the terms of use must be a text of at most {ANNOUNCEMENT_BODY_BYTES_MAX} bytes");
        }
        let now = self.clock.now();
        let audit = caducee_storage::AuditDraft {
            at: now,
            actor: caller.actor.clone(),
            source: caller.source.clone(),
            action: "create".into(),
            object: "terms of use".into(),
            detail: format!("{} bytes", text.len()),
        };
        self.store.publish_terms(text, now, audit).await?;
        let terms = self.store.terms()?.context("the terms vanished")?;
        Ok(serde_json::json!({ "version": terms.version, "published_at": terms.published_at }))
    }

    async fn announce(&self, subject: String, body: String) -> anyhow::Result<serde_json::Value> {
        if subject.trim().is_empty() || body.trim().is_empty() {
            bail!("an announcement needs a subject and a text");
        }
        if subject.len() > ANNOUNCEMENT_SUBJECT_BYTES_MAX || body.len() > ANNOUNCEMENT_BODY_BYTES_MAX {
            bail!(
                "an announcement is at most {ANNOUNCEMENT_SUBJECT_BYTES_MAX} bytes of subject and \
                 {ANNOUNCEMENT_BODY_BYTES_MAX} of text"
            );
        }
        let now = self.clock.now();
        let mut recipients: Vec<String> = self.store.accounts()?.into_iter().map(|a| a.contact_email).collect();
        recipients.sort();
        recipients.dedup();
        for to in &recipients {
            let notice = caducee_storage::Notice::new(to, "announcement", subject.trim(), &body, now);
            self.store.queue_notice(notice).await?;
        }
        if let Some(notifier) = &self.notifier {
            notifier.do_send(caducee_actors::notices::Flush);
        }
        tracing::info!(recipients = recipients.len(), "announcement queued");
        Ok(serde_json::json!({ "queued": recipients.len() }))
    }

    async fn monitor_run(&self, as_of: Option<Millis>) -> anyhow::Result<caducee_actors::monitor::SweepReport> {
        match &self.monitor {
            Some(monitor) => {
                let report = monitor
                    .send(caducee_actors::monitor::Sweep { as_of })
                    .await?
                    .map_err(|e| anyhow::anyhow!("monitor sweep failed: {e}"))?;
                // What the sweep queued leaves now rather than at the next look.
                if let Some(notifier) = &self.notifier {
                    notifier.do_send(caducee_actors::notices::Flush);
                }
                Ok(report)
            }
            None => {
                let ca_pem = std::fs::read_to_string(self.data_dir.join("tls/ca.pem")).unwrap_or_default();
                let config =
                    crate::config::Config::load(&self.data_dir)?.monitor_config(self.keys.endpoints.clone(), ca_pem);
                let as_of = as_of.unwrap_or_else(|| self.clock.now());
                Ok(caducee_actors::monitor::sweep(&self.store, &config, as_of).await?)
            }
        }
    }

    /// The account an administrator names, or an error that says what is wrong.
    pub(crate) fn account_named(&self, address: &str) -> anyhow::Result<caducee_storage::Account> {
        let parsed = Address::parse(address).with_context(|| format!("invalid address {address:?}"))?;
        self.store.account_by_address(&parsed)?.with_context(|| format!("no account {address}"))
    }

    async fn user_quota(&self, address: &str, quota_mb: u64, caller: &Caller) -> anyhow::Result<UserView> {
        if quota_mb == 0 || quota_mb > 1_000_000 {
            bail!("a quota is between 1 and 1,000,000 MB");
        }
        let account = self.account_named(address)?;
        let quota_bytes = quota_mb * 1_000_000;
        self.store.set_quota(account.id, quota_bytes).await?;
        let draft = caducee_storage::AuditDraft {
            at: self.clock.now(),
            actor: caller.actor.clone(),
            source: caller.source.clone(),
            action: "update".into(),
            object: format!("account {}", account.address),
            detail: format!("quota {} MB → {quota_mb} MB", account.quota_bytes / 1_000_000),
        };
        self.store.audit(draft).await?;
        // Mailbox actors read the account at each recipient check: the new quota holds at once.
        self.user_list()?.into_iter().find(|u| u.address == account.address.as_str()).context("account vanished")
    }

    async fn user_edit(
        &self,
        address: &str,
        first_name: Option<String>,
        last_name: Option<String>,
        contact_email: Option<String>,
        caller: &Caller,
    ) -> anyhow::Result<UserView> {
        let account = self.account_named(address)?;
        let text = |field: &str, value: Option<String>, current: &str| -> anyhow::Result<String> {
            match value {
                None => Ok(current.to_owned()),
                Some(value) => {
                    let value = caducee_storage::check_text(field, &value, 200).map_err(anyhow::Error::msg)?;
                    if value.is_empty() {
                        bail!("{field} cannot be empty");
                    }
                    Ok(value)
                }
            }
        };
        let first = text("first name", first_name, &account.first_name)?;
        let last = text("last name", last_name, &account.last_name)?;
        let contact = match contact_email {
            None => account.contact_email.clone(),
            Some(contact) => {
                Address::parse(&contact).with_context(|| format!("invalid contact e-mail {contact:?}"))?.to_string()
            }
        };
        let mut changed = Vec::new();
        if first != account.first_name || last != account.last_name {
            changed.push("names");
        }
        if contact != account.contact_email {
            changed.push("contact e-mail");
        }
        let audit = caducee_storage::AuditDraft {
            at: self.clock.now(),
            actor: caller.actor.clone(),
            source: caller.source.clone(),
            action: "update".into(),
            object: format!("account {}", account.address),
            detail: if changed.is_empty() { "no change".into() } else { changed.join(", ") },
        };
        self.store.edit_account(account.id, first, last, contact, audit).await?;
        self.user_list()?.into_iter().find(|u| u.address == account.address.as_str()).context("account vanished")
    }

    async fn user_reset_password(&self, address: &str, caller: &Caller) -> anyhow::Result<serde_json::Value> {
        let account = self.account_named(address)?;
        let password = generate_password();
        let hash = {
            let password = password.clone();
            tokio::task::spawn_blocking(move || hash_password(&password)).await??
        };
        let audit = caducee_storage::AuditDraft {
            at: self.clock.now(),
            actor: caller.actor.clone(),
            source: caller.source.clone(),
            action: "update".into(),
            object: "password".into(),
            detail: format!("reset for {}", account.address),
        };
        // Every personal-space session of the account ends: whoever held the old password
        // is out.
        self.store.set_password(account.id, hash, None, audit).await?;
        tracing::info!(address = %account.address, "password reset by the administrator");
        Ok(serde_json::json!({ "address": account.address.as_str(), "password": password }))
    }

    async fn user_state(&self, address: &str, action: StateAction) -> anyhow::Result<UserView> {
        let account = self.account_named(address)?;
        let parsed = account.address.clone();
        let change = match action {
            StateAction::Unblock => caducee_storage::StateChange::Unblock,
            StateAction::Enable => caducee_storage::StateChange::Enable,
            StateAction::Suspend => caducee_storage::StateChange::Disable {
                reason: caducee_storage::DisabledReason::Suspended,
                at: self.clock.now(),
            },
            StateAction::Close => caducee_storage::StateChange::Close { at: self.clock.now() },
            StateAction::Reopen => caducee_storage::StateChange::Reopen,
            StateAction::Hold => caducee_storage::StateChange::LegalHold(true),
            StateAction::Release => caducee_storage::StateChange::LegalHold(false),
        };
        if let (StateAction::Unblock, Some(monitor)) = (action, &self.monitor) {
            monitor.send(caducee_actors::monitor::ForgetSender { sender: account.id }).await?;
        }
        self.store.update_state(account.id, change, None).await?;
        tracing::info!(address = %parsed, ?action, "account state changed by the administrator");
        self.user_list()?.into_iter().find(|u| u.address == parsed.as_str()).context("account vanished")
    }

    fn backup_list(&self) -> anyhow::Result<serde_json::Value> {
        let config = crate::config::Config::load(&self.data_dir)?;
        let backups = match &config.backup.folder {
            Some(folder) => crate::backup::list(folder)?
                .into_iter()
                .map(|(file, at, bytes)| serde_json::json!({ "file": file, "at": at, "bytes": bytes }))
                .collect(),
            None => Vec::new(),
        };
        Ok(serde_json::json!({
            "folder": config.backup.folder,
            "keep_daily": config.backup.keep_daily,
            "keep_weekly": config.backup.keep_weekly,
            "backups": backups,
            "last_drill": crate::backup::drill::last_report(&self.data_dir),
        }))
    }

    /// Runs on a blocking thread: the copy streams the whole store.
    fn backup(&self, request: BackupRequest) -> anyhow::Result<BackupDone> {
        let config = crate::config::Config::load(&self.data_dir)?;
        let key = match &request.key_file {
            Some(path) => BackupKey::load(path)?,
            None => BackupKey::load_or_create(&self.data_dir)?,
        };
        let now = self.clock.now();
        let (file, folder) = match (&request.to, &config.backup.folder) {
            (Some(to), _) => (to.clone(), None),
            (None, Some(folder)) => {
                std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
                (folder.join(crate::backup::scheduled_name(now)), Some(folder.clone()))
            }
            (None, None) => bail!("give --to FILE, or set [backup] folder in caducee.toml for scheduled backups"),
        };
        if file.exists() {
            bail!("{} exists already: a backup never overwrites a file", file.display());
        }
        let started = std::time::Instant::now();
        let compact = request.compact.unwrap_or(config.backup.compact);
        let manifest = crate::backup::create(&self.store, &self.data_dir, &file, &key, compact, now)?;
        let seconds = started.elapsed().as_secs_f64();
        let mut rotated_out = Vec::new();
        if let Some(folder) = folder {
            for old in crate::backup::rotation(&folder, config.backup.keep_daily, config.backup.keep_weekly)? {
                if old != file {
                    std::fs::remove_file(&old).with_context(|| format!("removing {}", old.display()))?;
                    rotated_out.push(old);
                }
            }
        }
        let file_bytes = std::fs::metadata(&file)?.len();
        tracing::info!(file = %file.display(), file_bytes, seconds, "backup written");
        Ok(BackupDone { file, file_bytes, seconds, manifest, rotated_out })
    }

    async fn status(&self) -> anyhow::Result<Status> {
        let quality = match &self.monitor {
            Some(monitor) => monitor.send(caducee_actors::monitor::QualityNow).await.ok(),
            None => None,
        };
        let stats = self.store.stats()?;
        Ok(Status {
            running: self.mailboxes.is_some(),
            stored_messages: stats.messages,
            stored_bytes: stats.message_bytes,
            mailbox_count: stats.mailboxes,
            store_file_bytes: stats.file_bytes,
            connection_log_lines: stats.connection_log_lines,
            commits: self.mailboxes.as_ref().map(|_| self.store.commit_stats()),
            last_drill: crate::backup::drill::last_report(&self.data_dir),
            quality,
            notices_waiting: self.store.notices()?.into_iter().map(|(_, n)| n).collect(),
            open_alerts: self.store.alerts()?.into_iter().rev().filter(|a| a.acknowledged_at.is_none()).collect(),
            mailboxes: self.user_list()?,
        })
    }
}

/// What an admin request does to personal data, for the audit trail: (action, object,
/// detail). `None` for requests that touch none.
fn audit_of(request: &Request) -> Option<(&'static str, String, String)> {
    match request {
        Request::UserAdd(add) => Some((
            "create",
            format!("account {}", add.address),
            format!("names, contact e-mail, quota {} MB", add.quota_mb.unwrap_or(DEFAULT_QUOTA_BYTES / 1_000_000)),
        )),
        Request::UserList => Some(("read", "account list".into(), String::new())),
        Request::Status => Some(("read", "account list".into(), "status".into())),
        Request::UserState { address, action } => {
            Some(("update", format!("account {address}"), format!("{action:?}").to_lowercase()))
        }
        Request::Backup(backup) => Some((
            "export",
            "whole store".into(),
            format!("backup to {}", backup.to.as_ref().map_or("the backup folder".into(), |p| p.display().to_string())),
        )),
        Request::Trail { message } => Some(("read", format!("message trail {message}"), String::new())),
        Request::DrillStart { .. } => Some(("read", "whole store".into(), "restore drill from a backup".into())),
        Request::AuditExport { from, to } => {
            Some(("export", "audit trail".into(), format!("entries from {} to {}", from.0, to.0)))
        }
        Request::Announce { subject, .. } => {
            Some(("read", "account list".into(), format!("announcement {subject:?} to every contact e-mail")))
        }
        Request::RightsRequests => Some(("read", "data-protection requests".into(), String::new())),
        Request::DirectoryExport { format } => {
            Some(("export", "directory".into(), format!("{format:?}").to_lowercase()))
        }
        // Key and directory changes write their own audit entries, in the commit that makes
        // them.
        Request::Fsck
        | Request::MonitorRun { .. }
        | Request::AuditVerify
        | Request::Keys { .. }
        | Request::DirectorySet { .. }
        | Request::DirectoryImport { .. }
        | Request::TermsPublish { .. }
        | Request::RightsRequestClose { .. }
        | Request::Alerts
        | Request::AlertAcknowledge { .. }
        | Request::DrillStatus
        | Request::DrillFailed { .. }
        | Request::BackupList
        | Request::UserQuota { .. }
        | Request::UserResetPassword { .. }
        | Request::UserEdit { .. } => None,
    }
}

fn to_json<T: Serialize>(value: T) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(value)?)
}

/// 20 characters from an alphabet without look-alikes: about 113 bits.
fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..20).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

/// Binds the admin socket (replacing a stale one), readable by its owner only.
pub fn bind_socket(path: &Path) -> anyhow::Result<tokio::net::UnixListener> {
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(listener)
}

/// Serves the admin socket until the relay shuts down.
pub async fn serve_socket(
    admin: Admin,
    listener: tokio::net::UnixListener,
    path: PathBuf,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "admin socket accept failed");
                    continue;
                }
            },
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let admin = admin.clone();
        actix_rt::spawn(async move {
            use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
            // The socket is the owner's only (0600); the peer's uid says which process asked.
            let uid = stream.peer_cred().map(|c| c.uid().to_string()).unwrap_or_else(|_| "?".into());
            let caller = Caller { actor: format!("uid {uid}"), source: "admin socket".into() };
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut reader = tokio::io::BufReader::new(read.take(ADMIN_REQUEST_BYTES_MAX));
            if reader.read_line(&mut line).await.is_err() {
                return;
            }
            let response = match serde_json::from_str::<Envelope>(&line) {
                Ok(envelope) if envelope.version == ADMIN_PROTOCOL_VERSION => {
                    admin.execute(envelope.request, &caller).await
                }
                Ok(envelope) => Response {
                    ok: false,
                    error: Some(format!("admin protocol {} is not {ADMIN_PROTOCOL_VERSION}", envelope.version)),
                    result: serde_json::Value::Null,
                },
                Err(error) => Response {
                    ok: false,
                    error: Some(format!("bad request: {error}")),
                    result: serde_json::Value::Null,
                },
            };
            if let Ok(mut bytes) = serde_json::to_vec(&response) {
                bytes.push(b'\n');
                let _ = write.write_all(&bytes).await;
            }
        });
    }
    let _ = std::fs::remove_file(&path);
}

/// Sends a request to a running relay; `Ok(None)` when no relay answers on the socket.
pub fn call_running(data_dir: &Path, request: &Request) -> anyhow::Result<Option<Response>> {
    let mut stream = match UnixStream::connect(socket_path(data_dir)) {
        Ok(stream) => stream,
        Err(_) => return Ok(None),
    };
    let envelope = Envelope { version: ADMIN_PROTOCOL_VERSION, request: request.clone() };
    let mut bytes = serde_json::to_vec(&envelope)?;
    bytes.push(b'\n');
    stream.write_all(&bytes)?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(Some(serde_json::from_str(&line).context("reading the relay's answer")?))
}
