//! An account's OpenPGP keys: show, renew, revoke.

use std::path::PathBuf;

use caducee_storage::{CertificateStatus, Millis, Revocation, RevocationReason};
use serde::{Deserialize, Serialize};

/// `keys`: an account's certificates, and what to do with them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Keys {
    pub address: String,
    pub action: KeysAction,
}

/// What `keys` does.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum KeysAction {
    /// Every edition, with its state.
    Show,
    /// Issues next year's edition now.
    Renew,
    /// Revokes the editions in use, then issues a new one.
    Revoke { reason: RevocationReason },
}

/// A new edition, as `user-add`, and `keys` renew and revoke report it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EditionIssued {
    pub edition: u32,
    pub fingerprint: String,
    pub expires_at: Millis,
    /// The installation bundle written for the user (mode 0600).
    pub bundle: PathBuf,
    /// Shown once; the relay keeps no copy. Send it apart from the bundle.
    pub installation_code: String,
    /// The public certificate, ASCII-armoured.
    pub certificate: String,
}

/// The reply to `keys`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeysReport {
    pub address: String,
    pub certificates: Vec<CertificateView>,
    /// The edition made by this request (renew, revoke).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<EditionIssued>,
    /// Editions revoked by this request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked: Vec<String>,
    /// Editions in use that expire within 30 days, and the edition that takes over.
    pub warnings: Vec<ExpiryWarning>,
}

/// One edition of a certificate and its state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateView {
    pub edition: u32,
    pub fingerprint: String,
    pub status: CertificateStatus,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub revoked: Option<Revocation>,
    /// The public certificate served carries the revocation signature.
    pub revocation_published: bool,
    /// (fingerprint, "sign" | "encrypt")
    pub subkeys: Vec<(String, String)>,
}

/// An edition in use that expires soon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryWarning {
    pub edition: u32,
    pub fingerprint: String,
    pub expires_at: Millis,
    /// Days left, counted up: a key that expires in three hours has one day left.
    pub days_left: u64,
    /// The newest edition that stays valid after this one, when one is issued.
    pub successor: Option<u32>,
}
