//! The store's writes: each builds a [`WriteOp`], sends it to the writer thread and returns
//! once the commit holding it is durable.

use super::{unexpected, Expunged, Store};
use crate::tables::accounts::AccountEdit;
use crate::tables::retention::{Purge, Purged};
use crate::types::*;
use crate::writer::{WriteOp, WriteOutcome};
use crate::{DirectoryEntry, StoreError};

impl Store {
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
        let accepted = self.accept_relaying(sender, recipients, Vec::new(), None, message, at).await?;
        Ok((accepted.message, accepted.uids))
    }

    /// As [`Store::accept`], with recipients in peer operators' domains (`remote`, queued
    /// for the outbound delivery in the same commit) and, for a message a peer operator
    /// handed over, its certificate's subject for the trail. Returns, besides the message's
    /// id and uids, each local mailbox's figures and monitor state as the commit left them.
    pub async fn accept_relaying(
        &self,
        sender: Address,
        recipients: Vec<AccountId>,
        remote: Vec<Address>,
        received_from: Option<String>,
        message: SealedMessage,
        at: Millis,
    ) -> Result<AcceptedMessage, StoreError> {
        match self.write(WriteOp::Accept { sender, recipients, remote, received_from, message, at }).await? {
            WriteOutcome::Accepted(accepted) => Ok(accepted),
            other => Err(unexpected(other)),
        }
    }

    /// Writes back an outbound record after an attempt or an administrator's change (with
    /// its audit entry); a finished one leaves the queue and releases its message.
    pub async fn update_outbound(
        &self,
        seq: u64,
        record: OutboundRecord,
        audit: Option<AuditDraft>,
    ) -> Result<(), StoreError> {
        self.write(WriteOp::UpdateOutbound { seq, record: Box::new(record), audit }).await.map(drop)
    }

    /// Holds, releases or moves the next attempt of an outbound record as it stands now, with
    /// the administrator's audit entry; `NotFound` once it has left the queue.
    pub async fn schedule_outbound(
        &self,
        seq: u64,
        held: Option<bool>,
        next_attempt_at: Option<Millis>,
        audit: AuditDraft,
    ) -> Result<(), StoreError> {
        self.write(WriteOp::ScheduleOutbound { seq, held, next_attempt_at, audit }).await.map(drop)
    }

    /// Removes an outbound record, its waiting recipients given up with `reason`; returns it.
    pub async fn delete_outbound(
        &self,
        seq: u64,
        reason: String,
        at: Millis,
        audit: AuditDraft,
    ) -> Result<OutboundRecord, StoreError> {
        match self.write(WriteOp::DeleteOutbound { seq, reason, at, audit }).await? {
            WriteOutcome::OutboundDeleted(record) => Ok(*record),
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

    pub async fn put_portal(
        &self,
        account: AccountId,
        record: PortalRecord,
        audit: Option<AuditDraft>,
    ) -> Result<(), StoreError> {
        self.write(WriteOp::PutPortal { account, record: Box::new(record), audit }).await.map(drop)
    }

    /// Replaces an account's personal-space record only if it is still `expected` (as
    /// read before), with its audit entry; false, and nothing written, when another write
    /// changed it meanwhile.
    pub async fn swap_portal(
        &self,
        account: AccountId,
        expected: PortalRecord,
        record: PortalRecord,
        audit: Option<AuditDraft>,
    ) -> Result<bool, StoreError> {
        let (expected, record) = (Box::new(expected), Box::new(record));
        match self.write(WriteOp::SwapPortal { account, expected, record, audit }).await? {
            WriteOutcome::Swapped(written) => Ok(written),
            other => Err(unexpected(other)),
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
        let edit = AccountEdit { account, first_name, last_name, contact_email, audit };
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

    pub async fn file_request(&self, request: RightsRequest, audit: AuditDraft) -> Result<(), StoreError> {
        self.write(WriteOp::FileRequest { request: Box::new(request), audit }).await.map(drop)
    }

    pub async fn close_request(&self, seq: u64, at: Millis, audit: AuditDraft) -> Result<(), StoreError> {
        self.write(WriteOp::CloseRequest { seq, at, audit }).await.map(drop)
    }

    /// Raises an alert; one already raised for the same kind and subject and not yet
    /// acknowledged is counted as a repeat instead.
    pub async fn raise_alert(&self, alert: Alert) -> Result<(), StoreError> {
        self.write(WriteOp::RaiseAlert { alert: Box::new(alert) }).await.map(drop)
    }

    pub async fn acknowledge_alert(&self, seq: u64, by: String, audit: AuditDraft) -> Result<(), StoreError> {
        self.write(WriteOp::AcknowledgeAlert { seq, by, audit }).await.map(drop)
    }

    /// Puts a new trust list in force (the previous one is replaced whole).
    pub async fn set_trust_list(&self, record: TrustListRecord, audit: AuditDraft) -> Result<(), StoreError> {
        self.write(WriteOp::SetTrustList { record: Box::new(record), audit }).await.map(drop)
    }

    pub async fn publish_terms(&self, text: String, at: Millis, audit: AuditDraft) -> Result<(), StoreError> {
        self.write(WriteOp::PublishTerms { text, at, audit }).await.map(drop)
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

    /// Removes messages from a mailbox; each message no mailbox holds any more is erased
    /// with its key in the same commit.
    pub async fn expunge(&self, account: AccountId, uids: Vec<Uid>, at: Millis) -> Result<Expunged, StoreError> {
        match self.write(WriteOp::Expunge { account, uids, at }).await? {
            WriteOutcome::Expunged { erased, accepted_at } => Ok(Expunged { erased, accepted_at }),
            other => Err(unexpected(other)),
        }
    }

    /// Keeps the recipient's flags on entries of its mailbox, durably.
    pub async fn set_flags(&self, account: AccountId, changes: Vec<(Uid, MessageFlags)>) -> Result<(), StoreError> {
        self.write(WriteOp::SetFlags { account, changes }).await.map(drop)
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
}
