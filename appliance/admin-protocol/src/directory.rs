//! The directory of users: entries and preferences, import and export.

use std::path::PathBuf;

use caducee_storage::DirectoryEntry;
use serde::{Deserialize, Serialize};

/// Directory fields as an administrator gives them (`user-add`, `directory-set`, import).
/// `None`: leave as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DirectoryFields {
    pub civility: Option<String>,
    pub city: Option<String>,
    pub postcode: Option<String>,
    pub specialty: Option<String>,
    pub rpps: Option<String>,
    pub adeli: Option<String>,
    pub mailbox_type: Option<String>,
    pub phone: Option<String>,
    pub finess: Option<String>,
    pub siren: Option<String>,
    pub siret: Option<String>,
    pub category: Option<String>,
    pub description: Option<String>,
    pub responsible_persons: Option<Vec<String>>,
    pub red_list: Option<bool>,
    pub publish_phone: Option<bool>,
    pub dematerialisation: Option<bool>,
}

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// The public directory as CSV.
    Csv,
    /// The public directory as LDIF (RFC 2849), under the LDAP base DN.
    Ldif,
    /// The national health directory's fields, as CSV (semicolon-separated, UTF-8).
    National,
}

/// `directory-set`: changes an account's entry and preferences.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectorySet {
    pub address: String,
    pub fields: DirectoryFields,
}

/// `directory-import`: entries from CSV, all or nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectoryImport {
    pub csv: String,
    /// Where the new accounts' passwords and installation codes are written (0600).
    pub credentials_out: Option<PathBuf>,
}

/// `directory-export`: the directory as a file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectoryExport {
    pub format: ExportFormat,
}

/// The reply to `directory-set`: the entry as saved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectoryShown {
    pub address: String,
    pub entry: DirectoryEntry,
}

/// The reply to `directory-import`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Imported {
    /// Existing accounts whose entry was updated.
    pub updated: usize,
    /// New accounts created (with their keys).
    pub created: usize,
    /// Where the new accounts' credentials went.
    pub credentials: Option<PathBuf>,
}

/// The reply to `directory-export`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exported {
    pub format: ExportFormat,
    pub entries: usize,
    pub text: String,
}
