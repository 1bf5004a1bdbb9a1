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
