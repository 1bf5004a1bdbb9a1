//! The store's vocabulary: identifiers, addresses and the records kept in LMDB.

use std::fmt;

use bincode::{Decode, Encode};

pub use crate::fingerprint::{Fingerprint, FingerprintError};
pub use crate::time::{Millis, UtcTime, DAY_MILLIS};

/// An account (and so a mailbox, "BAL"): one per user, numbered from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
pub struct AccountId(pub u64);

/// A stored message, numbered from 1 and never reused.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct MessageId(pub u64);

/// A message's number inside one mailbox: strictly increasing, never reused, so it is also
/// the stable POP3 UIDL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
pub struct Uid(pub u32);

/// A secure mail address `local@domain`, lower-cased; built only by [`Address::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode, serde::Serialize)]
#[serde(transparent)]
pub struct Address(String);

/// Longest address accepted: RFC 5321 4.5.3.1.3 limits a path to 256 octets.
pub const ADDRESS_BYTES_MAX: usize = 254;
/// RFC 5321 4.5.3.1.1.
pub const ADDRESS_LOCAL_PART_BYTES_MAX: usize = 64;

/// Why a text is not an address this relay serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Empty, no `@`, or more than one `@`.
    #[error("an address has the form name@domain")]
    Shape,
    /// Longer than RFC 5321 allows.
    #[error("the address is longer than RFC 5321 allows")]
    TooLong,
    /// A character that no mailbox name of this relay may hold.
    #[error("the address holds a character outside letters, digits and . _ - +")]
    Character,
}

impl Address {
    /// Parses an address. Names are restricted to letters, digits and `. _ - +` so that
    /// nothing ambiguous (quoting, comments, source routes) reaches the store.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let text = text.trim();
        if text.len() > ADDRESS_BYTES_MAX {
            return Err(AddressError::TooLong);
        }
        let (local, domain) = text.split_once('@').ok_or(AddressError::Shape)?;
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err(AddressError::Shape);
        }
        if local.len() > ADDRESS_LOCAL_PART_BYTES_MAX {
            return Err(AddressError::TooLong);
        }
        let allowed = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'+');
        if !local.bytes().all(allowed) || !domain.bytes().all(allowed) || domain.starts_with('.') {
            return Err(AddressError::Character);
        }
        Ok(Address(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        // Invariant: `parse` guarantees exactly one '@'.
        self.0.rsplit('@').next().unwrap_or_default()
    }
}

/// Read back through [`Address::parse`]: an address from the wire is checked like any other.
impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Address::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 50 MB, the default mailbox quota (SPEC R-MSG-5).
pub const DEFAULT_QUOTA_BYTES: u64 = 50 * 1_000_000;

/// A user account and the state of its mailbox. `AccountInPlace` reads its stored form
/// field for field: a field added, moved or retyped here is changed there too.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Account {
    pub id: AccountId,
    pub address: Address,
    pub first_name: String,
    pub last_name: String,
    pub contact_email: String,
    /// PHC string of an argon2id hash; never the password.
    pub password_hash: String,
    pub created_at: Millis,
    pub quota_bytes: u64,
    /// Exact sum of the stored sizes of the messages in this mailbox.
    pub used_bytes: u64,
    pub message_count: u64,
    pub next_uid: u32,
    /// The last successful collection ("relève"), if any.
    pub last_collection: Option<Millis>,
    /// Delete each message from the mailbox as soon as it is retrieved.
    pub delete_on_retrieve: bool,
}

impl Account {
    /// The mailbox's figures, as [`MailboxFigures`] reads them in place.
    pub fn figures(&self) -> MailboxFigures {
        MailboxFigures {
            id: self.id,
            created_at: self.created_at,
            quota_bytes: self.quota_bytes,
            used_bytes: self.used_bytes,
            last_collection: self.last_collection,
        }
    }
}

/// What a recipient check needs of an account: its mailbox's figures, read from the stored
/// record in place, without its address, names and password hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxFigures {
    pub id: AccountId,
    pub created_at: Millis,
    pub quota_bytes: u64,
    pub used_bytes: u64,
    pub last_collection: Option<Millis>,
}

/// What accepting a message left in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedMessage {
    pub message: MessageId,
    /// Its uid in each local recipient's mailbox, in the recipients' order.
    pub uids: Vec<Uid>,
    /// Each local recipient's mailbox figures and monitor state as the accepting commit left
    /// them, in the same order: what judging the quota after the delivery needs, read in the
    /// accepting transaction rather than again afterwards.
    pub mailboxes: Vec<(MailboxFigures, AccountState)>,
}

/// An [`Account`] record borrowed from its stored bytes, field for field in the same order
/// and encoding (a string is its length and its bytes, borrowed here): reading a mailbox's
/// figures on every recipient check then allocates nothing. A test holds the two together.
#[derive(bincode::BorrowDecode)]
pub(crate) struct AccountInPlace<'a> {
    id: AccountId,
    // Read past, not used: they hold the place of the record's fields.
    _address: &'a [u8],
    _first_name: &'a [u8],
    _last_name: &'a [u8],
    _contact_email: &'a [u8],
    _password_hash: &'a [u8],
    created_at: Millis,
    quota_bytes: u64,
    used_bytes: u64,
    _message_count: u64,
    _next_uid: u32,
    last_collection: Option<Millis>,
    _delete_on_retrieve: bool,
}

impl AccountInPlace<'_> {
    pub(crate) fn figures(&self) -> MailboxFigures {
        MailboxFigures {
            id: self.id,
            created_at: self.created_at,
            quota_bytes: self.quota_bytes,
            used_bytes: self.used_bytes,
            last_collection: self.last_collection,
        }
    }
}

/// What a caller supplies to create an account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub address: Address,
    pub first_name: String,
    pub last_name: String,
    pub contact_email: String,
    pub password_hash: String,
    pub quota_bytes: u64,
    pub created_at: Millis,
    /// The directory entry, written in the same commit as the account.
    pub directory: Option<crate::DirectoryEntry>,
}

/// One message in one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct MailboxEntry {
    pub uid: Uid,
    pub message: MessageId,
    pub size: u64,
}

/// The flags a recipient keeps on a message of its mailbox (IMAP's `\Seen`, `\Flagged`,
/// `\Deleted`), stored as one byte; none set is stored as nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MessageFlags {
    pub seen: bool,
    pub flagged: bool,
    pub deleted: bool,
}

impl MessageFlags {
    const SEEN: u8 = 1;
    const FLAGGED: u8 = 2;
    const DELETED: u8 = 4;

    pub fn to_byte(self) -> u8 {
        u8::from(self.seen) * Self::SEEN
            + u8::from(self.flagged) * Self::FLAGGED
            + u8::from(self.deleted) * Self::DELETED
    }

    /// Bits this build does not know are ignored.
    pub fn from_byte(byte: u8) -> MessageFlags {
        MessageFlags {
            seen: byte & Self::SEEN != 0,
            flagged: byte & Self::FLAGGED != 0,
            deleted: byte & Self::DELETED != 0,
        }
    }

    pub fn is_empty(self) -> bool {
        self == MessageFlags::default()
    }
}

/// A mailbox entry as an IMAP session shows it: with when its message was accepted
/// (`INTERNALDATE`) and the recipient's flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapEntry {
    pub uid: Uid,
    pub message: MessageId,
    pub size: u64,
    pub accepted_at: Millis,
    pub flags: MessageFlags,
}

/// A stored message's metadata; the sealed bytes live apart, under the same id.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub(crate) struct MessageRecord {
    pub size: u64,
    /// Mailboxes still holding this message; the message is erased when it reaches zero.
    pub references: u32,
    /// The message's own key, sealed by the store's master key.
    pub wrapped_key: Vec<u8>,
    pub accepted_at: Millis,
    pub sender: Address,
}

/// A message ready to store: already sealed by the caller, off the writer thread.
#[derive(Debug)]
pub struct SealedMessage {
    pub size: u64,
    pub wrapped_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// The protocol of a logged connection. (Encoded by position: a new one goes last.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Smtp,
    Pop3,
    /// A login to the personal space.
    Web,
    Imap,
}

/// One line of the connection log (SPEC R-AUD-1). Never holds content or secrets.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct ConnectionRecord {
    pub started_at: Millis,
    pub ended_at: Millis,
    pub protocol: Protocol,
    pub peer: String,
    /// The authenticated account, if the session logged in.
    pub account: Option<String>,
    /// A short outcome: "ok", "auth-failed", "timeout", "closed", …
    pub outcome: String,
    pub messages: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised_and_bounded() {
        assert_eq!(Address::parse(" Dr.Martin@Caducee.Test ").map(|a| a.0), Ok("dr.martin@caducee.test".into()));
        assert_eq!(Address::parse("nobody"), Err(AddressError::Shape));
        assert_eq!(Address::parse("a@b@c"), Err(AddressError::Shape));
        assert_eq!(Address::parse("\"a b\"@x"), Err(AddressError::Character));
        assert_eq!(Address::parse(&format!("{}@x", "a".repeat(65))), Err(AddressError::TooLong));
        assert_eq!(Address::parse("a@x").map(|a| a.domain().to_owned()), Ok("x".into()));
    }
}

/// Why a mailbox does not receive mail.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DisabledReason {
    /// No collection for the configured number of days (SPEC R-MON-1); a collection
    /// re-enables it.
    Inactivity,
    /// An administrator suspended the mailbox; only an administrator re-enables it.
    Suspended,
}

/// A mass-mailing block on an account's submissions (SPEC R-MON-3).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct Blocked {
    pub at: Millis,
    pub reason: String,
}

/// The monitor's view of an account, kept beside it. An account without a record has the
/// default state: receiving, nothing noticed, not blocked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct AccountState {
    /// `Some` while reception is disabled, with why and since when.
    pub disabled: Option<(DisabledReason, Millis)>,
    /// When the inactivity notice went out for the current spell without collection.
    pub inactivity_noticed_at: Option<Millis>,
    /// The highest quota warning (percent) sent since usage last fell below the first level.
    pub quota_warned_percent: u8,
    pub blocked: Option<Blocked>,
    /// When the account was closed: no login, no reception; kept until retention removes
    /// it, unless under legal hold.
    pub closed_at: Option<Millis>,
    /// Keeps a closed account's records past retention (a legal request).
    pub legal_hold: bool,
}

/// A change the monitor makes to an account's state, applied atomically by the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChange {
    InactivityNoticed {
        at: Millis,
    },
    Disable {
        reason: DisabledReason,
        at: Millis,
    },
    /// Re-enables reception (an administrator, or a collection after inactivity).
    Enable,
    /// Closes the account: no login, no reception.
    Close {
        at: Millis,
    },
    Reopen,
    LegalHold(bool),
    QuotaWarned {
        percent: u8,
    },
    Block(Blocked),
    Unblock,
}

impl AccountState {
    pub fn apply(&mut self, change: &StateChange) {
        match change {
            StateChange::InactivityNoticed { at } => self.inactivity_noticed_at = Some(*at),
            StateChange::Disable { reason, at } => self.disabled = Some((reason.clone(), *at)),
            StateChange::Enable => {
                self.disabled = None;
                self.inactivity_noticed_at = None;
            }
            StateChange::QuotaWarned { percent } => self.quota_warned_percent = *percent,
            StateChange::Block(blocked) => self.blocked = Some(blocked.clone()),
            StateChange::Unblock => self.blocked = None,
            StateChange::Close { at } => self.closed_at = Some(*at),
            StateChange::Reopen => self.closed_at = None,
            StateChange::LegalHold(hold) => self.legal_hold = *hold,
        }
    }
}

/// A notice waiting to leave for a user's contact e-mail (or the administrator) through the
/// smarthost. Never carries health data: it is written by the relay, not by a user.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// What it is about, for the status and the logs (`inactivity-30`, `quota-80`, …).
    pub kind: String,
    pub created_at: Millis,
    pub attempts: u32,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
}

impl Notice {
    /// A notice due at once (even when written by a simulated run in the future).
    pub fn new(to: &str, kind: &str, subject: &str, body: &str, at: Millis) -> Notice {
        Notice {
            to: to.to_owned(),
            subject: subject.to_owned(),
            body: body.to_owned(),
            kind: kind.to_owned(),
            created_at: at,
            attempts: 0,
            next_attempt_at: Millis(0),
            last_error: None,
        }
    }
}

/// What became of one recipient's copy of a message.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct RecipientTrail {
    pub address: Address,
    /// When the recipient's POP3 session deleted it (its collection completed).
    pub collected_at: Option<Millis>,
}

/// A message's life in metadata only (SPEC R-MSG-8): never its content. Kept after the
/// message is erased, until the retention period ends.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct MessageTrail {
    pub message: MessageId,
    pub sender: Address,
    pub accepted_at: Millis,
    pub size: u64,
    pub recipients: Vec<RecipientTrail>,
    /// When the last copy went and the message was erased with its key.
    pub erased_at: Option<Millis>,
}

/// An access to personal data, as the administrator or the system made it (SPEC R-AUD-2).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct AuditDraft {
    pub at: Millis,
    /// Who: `uid 1000 (admin socket)`, `monitor`, …
    pub actor: String,
    /// From where: `admin socket`, `offline command`, a peer address.
    pub source: String,
    /// An [`AuditAction`]'s word: `create`, `read`, `update`, `delete`, `export`, `issue`,
    /// `revoke`. Kept as text: the chain hashes it, and entries outlive the build.
    pub action: String,
    /// What: `account dr.martin@relay.example`, `account list`, `store backup`, …
    pub object: String,
    /// A few words more; never a password, key or message content.
    pub detail: String,
}

/// What an audited access did, recorded (and hashed into the audit chain) as its word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    Create,
    Read,
    Update,
    Delete,
    /// Personal data leaving the relay: an export, a download, a backup.
    Export,
    /// Keys issued to an account.
    Issue,
    /// Keys revoked.
    Revoke,
}

impl AuditAction {
    /// The word recorded in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Create => "create",
            AuditAction::Read => "read",
            AuditAction::Update => "update",
            AuditAction::Delete => "delete",
            AuditAction::Export => "export",
            AuditAction::Issue => "issue",
            AuditAction::Revoke => "revoke",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AuditDraft {
    /// An access by `actor` from `source`: `action` on `object`, with a few words of `detail`.
    pub fn new(
        at: Millis,
        actor: impl Into<String>,
        source: impl Into<String>,
        action: AuditAction,
        object: impl Into<String>,
        detail: impl Into<String>,
    ) -> AuditDraft {
        AuditDraft {
            at,
            actor: actor.into(),
            source: source.into(),
            action: action.as_str().to_owned(),
            object: object.into(),
            detail: detail.into(),
        }
    }
}

/// An audit entry as stored: the draft, its place in the chain and the chain's hash.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub entry: AuditDraft,
    /// SHA-256 of the previous entry's hash and this entry's fields, hex.
    pub hash: String,
}

/// The chain's anchor after purges: the last purged entry's sequence and hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct AuditCheckpoint {
    pub seq: u64,
    pub hash: String,
}

/// One edition of an account's OpenPGP certificate, as the key vault published it. The
/// store holds public material only: the certificate and its prepared revocations, never a
/// secret key. [`CertificateKeys`] reads its leading fields from its stored form: they are
/// changed together.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct CertificateRecord {
    #[serde(skip)]
    pub account: AccountId,
    /// 1 for the first certificate issued to the account, then one more for each renewal
    /// or re-issue.
    pub edition: u32,
    /// The primary key's fingerprint.
    pub fingerprint: Fingerprint,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub revoked: Option<Revocation>,
    /// The encryption subkeys' fingerprints (raw bytes): what a message's PKESK packets must
    /// name for the relay to carry it to this account.
    pub encryption_keys: Vec<Vec<u8>>,
    /// The transferable public key (binary OpenPGP), with its revocation once revoked.
    #[serde(skip)]
    pub public: Vec<u8>,
    /// Revocation signatures made at issue time, one per reason, withheld until needed:
    /// after issue nobody holds the secret key that could make a new one.
    #[serde(skip)]
    pub prepared_revocations: Vec<PreparedRevocation>,
}

/// A revocation signature made when the key was issued.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct PreparedRevocation {
    pub reason: RevocationReason,
    /// The binary signature packet.
    pub signature: Vec<u8>,
}

/// Why a certificate was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationReason {
    /// Stolen or exposed: no signature made with it can be trusted (a hard revocation).
    Compromised,
    /// Lost or destroyed: it signs and decrypts nothing more, earlier signatures stand.
    Lost,
}

impl RevocationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Compromised => "compromised",
            RevocationReason::Lost => "lost",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct Revocation {
    pub at: Millis,
    pub reason: RevocationReason,
}

/// The state of a certificate at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertificateStatus {
    NotYetValid,
    Valid,
    Expired,
    Revoked,
}

impl CertificateRecord {
    /// Still to be used at `at`: valid, or not yet valid (neither expired nor revoked).
    pub fn in_use(&self, at: Millis) -> bool {
        matches!(self.status(at), CertificateStatus::Valid | CertificateStatus::NotYetValid)
    }

    pub fn status(&self, at: Millis) -> CertificateStatus {
        status_at(self.revoked.as_ref(), self.created_at, self.expires_at, at)
    }

    /// What a submission's key check needs of this edition.
    pub fn keys(&self) -> CertificateKeys {
        CertificateKeys {
            account: self.account,
            edition: self.edition,
            fingerprint: self.fingerprint.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked: self.revoked.clone(),
            encryption_keys: self.encryption_keys.clone(),
        }
    }
}

fn status_at(revoked: Option<&Revocation>, created_at: Millis, expires_at: Millis, at: Millis) -> CertificateStatus {
    if revoked.is_some_and(|r| r.at <= at) {
        CertificateStatus::Revoked
    } else if at >= expires_at {
        CertificateStatus::Expired
    } else if at < created_at {
        CertificateStatus::NotYetValid
    } else {
        CertificateStatus::Valid
    }
}

/// The leading fields of a [`CertificateRecord`], decoded from its stored bytes without the
/// transferable public key and the prepared revocations that follow them: what the key check
/// of every submitted message reads. Its fields are the record's first ones, in the same
/// order and types, so that the record's encoding decodes as this prefix (a test holds them
/// together).
#[derive(Debug, Clone, PartialEq, Eq, Decode)]
pub struct CertificateKeys {
    pub account: AccountId,
    pub edition: u32,
    pub fingerprint: Fingerprint,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub revoked: Option<Revocation>,
    pub encryption_keys: Vec<Vec<u8>>,
}

impl CertificateKeys {
    pub fn status(&self, at: Millis) -> CertificateStatus {
        status_at(self.revoked.as_ref(), self.created_at, self.expires_at, at)
    }
}

/// One account as the directory sees it, at one moment.
#[derive(Debug, Clone)]
pub struct DirectoryRecord {
    pub account: Account,
    pub entry: crate::DirectoryEntry,
    pub state: AccountState,
    pub certificates: Vec<CertificateRecord>,
}

/// What the personal space keeps for an account beside the account itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct PortalRecord {
    /// The TOTP seed, sealed under the master key; `None` until enrolment.
    #[serde(skip)]
    pub totp_sealed: Option<Vec<u8>>,
    /// When the user confirmed the second factor with a first code.
    pub totp_enrolled_at: Option<Millis>,
    /// The last TOTP time step accepted: a code is good once.
    #[serde(skip)]
    pub totp_last_step: u64,
    /// SHA-256 of each unused recovery code (codes are random: a fast hash is enough).
    #[serde(skip)]
    pub recovery_hashes: Vec<[u8; 32]>,
    /// Terms-of-use versions accepted, with when.
    pub terms_accepted: Vec<(u32, Millis)>,
    pub password_changed_at: Option<Millis>,
}

/// A logged-in (or half-logged-in) browser session of the personal space.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct WebSession {
    pub account: AccountId,
    pub created_at: Millis,
    pub last_seen: Millis,
    /// The anti-forgery token every form of this session carries.
    pub csrf: String,
    /// Password checked, second factor not yet.
    pub second_factor_pending: bool,
    pub source: String,
}

/// Something the administrator must see and acknowledge: raised by the monitor (a block,
/// a full mailbox, reception disabled for inactivity, each in the commit that records it)
/// or by the relay (a backup or a restore drill that failed); acknowledged from the console
/// or `caducee alerts --ack`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    pub seq: u64,
    /// An [`AlertKind`]'s word: `blocked`, `quota-full`, `inactivity-disabled`,
    /// `backup-failed`, `drill-failed`, `certificate`.
    pub kind: String,
    /// What it is about: an address, or `backup`, `drill`, `tls`.
    pub subject: String,
    /// One line for the administrator; never health data.
    pub text: String,
    pub raised_at: Millis,
    /// Raised again while still unacknowledged: counted here rather than listed again.
    pub repeats: u32,
    pub last_raised_at: Millis,
    pub acknowledged_at: Option<Millis>,
    /// Who acknowledged it (the admin socket's caller).
    pub acknowledged_by: Option<String>,
}

/// What an alert is about; stored as its word ([`AlertKind::as_str`]), which the console
/// and `caducee alerts --json` show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// The monitor blocked an account's submissions (mass mailing).
    Blocked,
    /// A mailbox reached its quota.
    QuotaFull,
    /// Reception was disabled for inactivity.
    InactivityDisabled,
    /// A scheduled backup failed.
    BackupFailed,
    /// A restore drill failed.
    DrillFailed,
    /// The relay's TLS certificates need the administrator: the local CA near its end or
    /// replaced, its key absent, an administrator's certificate near its end.
    Certificate,
    /// A trust list was refused (not well-formed, or an entry that makes no sense): the
    /// last good list stays in force.
    TrustList,
    /// The oldest message of the outbound queue waits longer than the configured
    /// threshold: a peer operator is unreachable, or refuses our certificate.
    OutboundQueue,
    /// A pair member's replication is degraded: the peer away, a resynchronisation
    /// running, or a split brain refused.
    PairReplication,
}

impl AlertKind {
    /// The word stored in the alert and shown to the administrator.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Blocked => "blocked",
            AlertKind::QuotaFull => "quota-full",
            AlertKind::InactivityDisabled => "inactivity-disabled",
            AlertKind::BackupFailed => "backup-failed",
            AlertKind::DrillFailed => "drill-failed",
            AlertKind::Certificate => "certificate",
            AlertKind::TrustList => "trust-list",
            AlertKind::OutboundQueue => "outbound-queue",
            AlertKind::PairReplication => "pair-replication",
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Alert {
    /// A new alert of `kind` about `subject` (an address, or `backup`, `drill`).
    pub fn new(kind: AlertKind, subject: &str, text: &str, at: Millis) -> Alert {
        Alert {
            seq: 0,
            kind: kind.as_str().to_owned(),
            subject: subject.to_owned(),
            text: text.to_owned(),
            raised_at: at,
            repeats: 0,
            last_raised_at: at,
            acknowledged_at: None,
            acknowledged_by: None,
        }
    }
}

/// A data-protection request (GDPR) waiting for the administrator.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct RightsRequest {
    pub seq: u64,
    pub account: u64,
    pub address: String,
    /// rectification, erasure, limitation, objection
    pub kind: String,
    pub text: String,
    pub at: Millis,
    pub closed_at: Option<Millis>,
}

/// The trust list in force: the last list that was read whole, as imported (the relay
/// reads it again at start), with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct TrustListRecord {
    pub xml: String,
    /// The file or URL it was imported from.
    pub source: String,
    pub imported_at: Millis,
    /// How many domains it lists.
    pub domains: u32,
}

/// The terms of use in force.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct TermsOfUse {
    pub version: u32,
    pub text: String,
    pub published_at: Millis,
}

/// What became of a recipient in a peer operator's domain.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct RelayOutcome {
    pub at: Millis,
    /// The operator accepted it (`250`); otherwise it failed for good (a `5xx`, or the queue
    /// gave up at its expiry).
    pub delivered: bool,
    /// The operator's reply, or why the relay gave up.
    pub reply: String,
    /// The subject of the operator's certificate, when a connection got that far.
    pub operator: Option<String>,
}

/// One recipient of an outbound delivery, with its outcome once there is one.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct OutboundRecipient {
    pub address: Address,
    pub outcome: Option<RelayOutcome>,
}

/// A message waiting in the outbound queue for a peer operator's domain: one record per
/// message and destination domain, holding one reference to the stored message until every
/// recipient in it has an outcome.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct OutboundRecord {
    pub message: MessageId,
    pub sender: Address,
    /// The destination domain (lower case).
    pub domain: String,
    pub recipients: Vec<OutboundRecipient>,
    pub size: u64,
    pub queued_at: Millis,
    pub next_attempt_at: Millis,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Held by the administrator: no attempt until released.
    pub held: bool,
}

impl OutboundRecord {
    /// The recipients still waiting for an outcome.
    pub fn pending(&self) -> impl Iterator<Item = &Address> {
        self.recipients.iter().filter(|r| r.outcome.is_none()).map(|r| &r.address)
    }

    /// Every recipient has an outcome: the record leaves the queue.
    pub fn finished(&self) -> bool {
        self.recipients.iter().all(|r| r.outcome.is_some())
    }
}

/// A recipient in another operator's domain, as the trail keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct RelayedRecipient {
    pub address: Address,
    pub outcome: RelayOutcome,
}

/// What federation adds to a message's trail (metadata only), kept and purged with it: the
/// peer operator that handed it over, and what became of its recipients in other domains.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct FederationTrail {
    /// The subject of the certificate of the operator it came from.
    pub received_from: Option<String>,
    pub relayed: Vec<RelayedRecipient>,
}
