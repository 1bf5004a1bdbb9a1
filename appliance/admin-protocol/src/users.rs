//! Accounts: create, list, change state, quota, names, password.

use caducee_storage::{AccountState, Millis};
use serde::{Deserialize, Serialize};

use crate::{DirectoryFields, EditionIssued};

/// `user-add`: a new account, its mailbox and its first keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserAdd {
    pub address: String,
    pub first_name: String,
    pub last_name: String,
    pub contact_email: String,
    pub quota_mb: Option<u64>,
    /// The directory entry (SPEC R-DIR-1), checked before anything is written.
    #[serde(default)]
    pub directory: DirectoryFields,
}

/// `user-list`: every account.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UserList {}

/// `user-state`: changes an account's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserState {
    pub address: String,
    pub action: StateAction,
}

/// What `user-state` does to an account.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum StateAction {
    /// Lifts a mass-mailing block.
    Unblock,
    /// Turns reception back on.
    Enable,
    /// Suspends reception until `enable`.
    Suspend,
    /// Closes the account: no login, no reception.
    Close,
    /// Reopens a closed account.
    Reopen,
    /// Puts a closed account under legal hold.
    Hold,
    /// Lifts a legal hold.
    Release,
}

/// `user-quota`: a new mailbox quota.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserQuota {
    pub address: String,
    pub quota_mb: u64,
}

/// `user-edit`: new names or contact e-mail (what is left out stays).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserEdit {
    pub address: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub contact_email: Option<String>,
}

/// `user-reset-password`: a new random password.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserResetPassword {
    pub address: String,
}

/// The reply to `user-add`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserCreated {
    pub address: String,
    /// Shown once; only its hash is kept.
    pub password: String,
    pub quota_bytes: u64,
    /// The first edition of the user's keys: fingerprint, bundle, installation code.
    #[serde(flatten)]
    pub keys: EditionIssued,
}

/// An account as the administrator sees it: the reply to `user-list` (one per account),
/// `user-state`, `user-quota` and `user-edit`.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    pub state: AccountState,
}

/// The reply to `user-reset-password`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordReset {
    pub address: String,
    /// Shown once; only its hash is kept.
    pub password: String,
}
