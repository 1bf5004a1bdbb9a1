//! The writes the store can make, what each produces, and the dispatch that hands each to
//! its table family's applier inside the writer's transaction.

use heed::RwTxn;

use crate::counters::Counters;
use crate::schema::Tables;
use crate::tables::accounts::{self, AccountEdit};
use crate::tables::retention::{self, Purge, Purged};
use crate::tables::{
    alerts, audit, certificates, connections, directory, messages, monitor, notices, outbound, portal, trust,
};
use crate::types::*;
use crate::{DirectoryEntry, StoreError};

/// A write the store can make.
#[derive(Debug)]
pub(crate) enum WriteOp {
    CreateAccount(Box<NewAccount>),
    Accept {
        sender: Address,
        recipients: Vec<AccountId>,
        /// Recipients in peer operators' domains: queued for the outbound delivery.
        remote: Vec<Address>,
        /// The subject of the peer operator's certificate, for a message it handed over.
        received_from: Option<String>,
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
    /// The recipient's flags on entries of its mailbox (IMAP STORE).
    SetFlags {
        account: AccountId,
        changes: Vec<(Uid, MessageFlags)>,
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
    /// Replaces an account's personal-space record only if it still is `expected`, with
    /// its audit entry when given (a code used once, however many requests carry it).
    SwapPortal {
        account: AccountId,
        expected: Box<PortalRecord>,
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
    /// Puts a new trust list in force, with its audit entry.
    SetTrustList {
        record: Box<TrustListRecord>,
        audit: AuditDraft,
    },
    /// Publishes (or replaces) a certificate edition, with its audit entry.
    PutCertificate {
        record: Box<CertificateRecord>,
        audit: AuditDraft,
    },
    /// Retention: removes what is older than each limit (see [`Purge`]).
    Purge(Purge),
    /// An outbound record after an attempt, or changed by the administrator (held,
    /// released, due now): written back, or gone with its reference once finished.
    UpdateOutbound {
        seq: u64,
        record: Box<OutboundRecord>,
        audit: Option<AuditDraft>,
    },
    /// The administrator's hold, release or retry of an outbound record, made on the record
    /// as it stands, with its audit entry.
    ScheduleOutbound {
        seq: u64,
        held: Option<bool>,
        next_attempt_at: Option<Millis>,
        audit: AuditDraft,
    },
    /// Removes an outbound record, its waiting recipients given up with `reason`, with its
    /// audit entry.
    DeleteOutbound {
        seq: u64,
        reason: String,
        at: Millis,
        audit: AuditDraft,
    },
}

/// What a write produced.
#[derive(Debug)]
pub(crate) enum WriteOutcome {
    AccountCreated(AccountId),
    Accepted(AcceptedMessage),
    /// Messages erased for good by an expunge.
    Expunged {
        erased: u32,
        /// When each removed copy's message was accepted (for collection delays).
        accepted_at: Vec<Millis>,
    },
    Purged(Purged),
    /// Whether a compare-and-set wrote.
    Swapped(bool),
    /// The outbound record a delete removed.
    OutboundDeleted(Box<OutboundRecord>),
    Done,
}

impl WriteOp {
    /// Whether this write can change what the directory shows (names, entries,
    /// preferences, certificates, an account closed or removed).
    pub fn touches_directory(&self) -> bool {
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

    /// What the write weighs in a batch: its message bytes, or a small fixed weight.
    pub fn weight(&self) -> usize {
        match self {
            WriteOp::Accept { message, .. } => message.ciphertext.len(),
            _ => 256,
        }
    }
}

fn done(_: ()) -> WriteOutcome {
    WriteOutcome::Done
}

/// Applies one write inside the batch's transaction, through its table family.
pub(crate) fn apply(t: &Tables, txn: &mut RwTxn, op: &WriteOp, c: &mut Counters) -> Result<WriteOutcome, StoreError> {
    match op {
        WriteOp::CreateAccount(new) => accounts::create(t, txn, new, c).map(WriteOutcome::AccountCreated),
        WriteOp::Accept { sender, recipients, remote, received_from, message, at } => {
            let envelope = messages::Envelope { sender, recipients, remote };
            let accepted = messages::accept(t, txn, &envelope, message, *at, c)?;
            if let Some(operator) = received_from {
                outbound::record_received_from(t, txn, accepted.message, operator)?;
            }
            Ok(WriteOutcome::Accepted(accepted))
        }
        WriteOp::RecordCollection { account, at } => monitor::record_collection(t, txn, *account, *at).map(done),
        WriteOp::Expunge { account, uids, at } => messages::expunge(t, txn, *account, uids, *at, c)
            .map(|(erased, accepted_at)| WriteOutcome::Expunged { erased, accepted_at }),
        WriteOp::SetFlags { account, changes } => messages::set_flags(t, txn, *account, changes).map(done),
        WriteOp::SetQuota { account, quota_bytes } => accounts::set_quota(t, txn, *account, *quota_bytes).map(done),
        WriteOp::SetDeleteOnRetrieve { account, enabled } => {
            accounts::set_delete_on_retrieve(t, txn, *account, *enabled).map(done)
        }
        WriteOp::LogConnection(record) => connections::log(t, txn, record, c).map(done),
        WriteOp::UpdateState { account, change, notice, alert } => {
            monitor::update_state(t, txn, *account, change, notice.as_ref(), alert.as_deref(), c).map(done)
        }
        WriteOp::QueueNotice(notice) => notices::queue(t, txn, notice, c).map(done),
        WriteOp::NoticeAttempted { seq, retry } => notices::attempted(t, txn, *seq, retry.as_ref()).map(done),
        WriteOp::DeleteAccount { account, at, audit } => accounts::delete(t, txn, *account, *at, audit, c)
            .map(|erased| WriteOutcome::Expunged { erased, accepted_at: Vec::new() }),
        WriteOp::Audit(draft) => audit::append(t, txn, draft).map(done),
        WriteOp::PutDirectory { account, entry, audit } => directory::put(t, txn, *account, entry, audit).map(done),
        WriteOp::PutPortal { account, record, audit } => {
            portal::put_record(t, txn, *account, record, audit.as_ref()).map(done)
        }
        WriteOp::SwapPortal { account, expected, record, audit } => {
            portal::swap_record(t, txn, *account, expected, record, audit.as_ref()).map(WriteOutcome::Swapped)
        }
        WriteOp::EditAccount(edit) => accounts::edit(t, txn, edit).map(done),
        WriteOp::SetPassword { account, password_hash, keep_session, audit } => {
            accounts::set_password(t, txn, *account, password_hash, keep_session.as_deref(), audit).map(done)
        }
        WriteOp::PutSession { token_hash, session } => {
            portal::put_session(t, txn, token_hash, session.as_ref()).map(done)
        }
        WriteOp::FileRequest { request, audit } => portal::file_request(t, txn, request, audit, c).map(done),
        WriteOp::CloseRequest { seq, at, audit } => portal::close_request(t, txn, *seq, *at, audit).map(done),
        WriteOp::RaiseAlert { alert } => alerts::raise(t, txn, alert, c).map(done),
        WriteOp::AcknowledgeAlert { seq, by, audit } => alerts::acknowledge(t, txn, *seq, by, audit).map(done),
        WriteOp::PublishTerms { text, at, audit } => portal::publish_terms(t, txn, text, *at, audit).map(done),
        WriteOp::PutCertificate { record, audit } => certificates::put(t, txn, record, audit).map(done),
        WriteOp::SetTrustList { record, audit } => trust::set(t, txn, record, audit).map(done),
        WriteOp::Purge(purge) => retention::purge(t, txn, purge).map(WriteOutcome::Purged),
        WriteOp::UpdateOutbound { seq, record, audit } => {
            outbound::update(t, txn, *seq, record, c)?;
            if let Some(draft) = audit {
                audit::append(t, txn, draft)?;
            }
            Ok(WriteOutcome::Done)
        }
        WriteOp::ScheduleOutbound { seq, held, next_attempt_at, audit } => {
            outbound::schedule(t, txn, *seq, *held, *next_attempt_at)?;
            audit::append(t, txn, audit)?;
            Ok(WriteOutcome::Done)
        }
        WriteOp::DeleteOutbound { seq, reason, at, audit } => {
            let record = outbound::delete(t, txn, *seq, reason, *at, c)?;
            audit::append(t, txn, audit)?;
            Ok(WriteOutcome::OutboundDeleted(Box::new(record)))
        }
    }
}
