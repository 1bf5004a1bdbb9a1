//! What the administrator tells users and answers them: announcements, terms of use,
//! data-protection requests, and the alerts the relay raises for the administrator.

use caducee_storage::Millis;
use serde::{Deserialize, Serialize};

/// `announce`: a notice to every user's contact e-mail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Announce {
    pub subject: String,
    pub body: String,
}

/// The reply to `announce`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Announced {
    /// Distinct contact addresses a notice was queued for.
    pub queued: usize,
}

/// `terms-publish`: new terms of use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TermsPublish {
    pub text: String,
}

/// The reply to `terms-publish`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TermsPublished {
    pub version: u32,
    pub published_at: Millis,
}

/// `rights-requests`: the data-protection requests users filed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RightsRequests {}

/// `rights-request-close`: marks request `seq` as dealt with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RightsRequestClose {
    pub seq: u64,
}

/// The reply to `rights-request-close`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestClosed {
    pub closed: u64,
}

/// `alerts`: every alert, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Alerts {}

/// `alert-acknowledge`: acknowledges alert `seq`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertAcknowledge {
    pub seq: u64,
}

/// The reply to `alert-acknowledge`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertAcknowledged {
    pub acknowledged: u64,
    /// The caller recorded on the alert.
    pub by: String,
}
