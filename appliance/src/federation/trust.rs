//! The trust list: which operator (named by its server certificate's subject) may send and
//! receive mail for which domain.
//!
//! The national list is published as XML (`listeblanchemssante.xml`): one `<Domaine>` per
//! domain, with `Nom` (the domain), `Description`, one or more `DNCertificatOperateur`,
//! `ResponsableContact`, `SupportContact` and `DateMAJ`. Published copies spell the same
//! subject in several ways (quotes around values, double spaces, `Paris(75)` beside
//! `Paris (75)`), so names are compared in a canonical form: case folded and without
//! whitespace. A subject is bound to a domain when its CN matches one listed for the
//! domain, and so do its O and OU wherever the list gives them.
//!
//! A file that is not well-formed XML (a copy lacking its closing root tag is known) is
//! refused as a whole: the relay keeps the last good list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// At most this many entries: the national list holds a few hundred domains.
pub const DOMAINS_MAX: usize = 100_000;
/// The largest list file read, in bytes.
pub const FILE_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Why a trust list was refused. Nothing of it is used then.
#[derive(Debug, thiserror::Error)]
pub enum TrustListError {
    // The parser's words are in the message: not a `source`, or they would be said twice.
    #[error("the trust list is not well-formed XML ({0}); the last good list stays in force")]
    Xml(roxmltree::Error),
    #[error("the trust list is larger than {FILE_BYTES_MAX} bytes")]
    TooLarge,
    #[error("the trust list holds no <Domaine> entry")]
    Empty,
    #[error("the trust list holds more than {DOMAINS_MAX} domains")]
    TooMany,
    #[error("<Domaine> entry number {position} has no <Nom>")]
    NoName { position: usize },
    #[error("<Domaine> entry number {position}: {name:?} is not a domain name")]
    BadName { position: usize, name: String },
    #[error("domain {domain}: {why}")]
    BadEntry { domain: String, why: String },
}

/// A distinguished name as the list writes it, read into its attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorName {
    /// The attributes in order, keys upper-cased, values with their spacing tidied.
    pub attributes: Vec<(String, String)>,
}

/// One domain of the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedDomain {
    /// The domain, lower-cased.
    pub name: String,
    pub description: String,
    /// The operators allowed to send and receive for it.
    pub operators: Vec<OperatorName>,
    pub responsible_contact: String,
    pub support_contact: String,
    /// `DateMAJ` as written.
    pub updated: String,
}

/// The list in force: domains by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustList {
    domains: BTreeMap<String, TrustedDomain>,
}

impl TrustList {
    /// Reads a list, refusing it as a whole when it is not well-formed or an entry makes
    /// no sense. A domain listed twice gets the operators of both entries.
    pub fn parse(xml: &str) -> Result<TrustList, TrustListError> {
        if xml.len() > FILE_BYTES_MAX {
            return Err(TrustListError::TooLarge);
        }
        let document = roxmltree::Document::parse(xml).map_err(TrustListError::Xml)?;
        let mut domains: BTreeMap<String, TrustedDomain> = BTreeMap::new();
        let entries = document.descendants().filter(|node| node.has_tag_name("Domaine"));
        for (index, entry) in entries.enumerate() {
            if domains.len() >= DOMAINS_MAX {
                return Err(TrustListError::TooMany);
            }
            let domain = read_entry(entry, index + 1)?;
            match domains.get_mut(&domain.name) {
                Some(known) => known.operators.extend(domain.operators),
                None => {
                    domains.insert(domain.name.clone(), domain);
                }
            }
        }
        if domains.is_empty() {
            return Err(TrustListError::Empty);
        }
        Ok(TrustList { domains })
    }

    /// The entry of a domain (any case).
    pub fn domain(&self, name: &str) -> Option<&TrustedDomain> {
        self.domains.get(&name.trim().to_lowercase())
    }

    /// Every domain, by name.
    pub fn domains(&self) -> impl Iterator<Item = &TrustedDomain> {
        self.domains.values()
    }

    pub fn len(&self) -> usize {
        self.domains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// Why `subject` may not act for `domain`, or `Ok` when the list binds them.
    pub fn check(&self, domain: &str, subject: &OperatorName) -> Result<(), Unbound> {
        let entry = self.domain(domain).ok_or(Unbound::DomainNotListed)?;
        if entry.operators.iter().any(|listed| listed.admits(subject)) {
            Ok(())
        } else {
            Err(Unbound::SubjectNotBound)
        }
    }
}

/// Why the list does not bind an operator to a domain, in a postmaster's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unbound {
    #[error("the domain is not in the trust list")]
    DomainNotListed,
    #[error("the certificate's subject is not bound to that domain in the trust list")]
    SubjectNotBound,
}

impl TrustedDomain {
    /// Whether `subject` is one of this domain's operators.
    pub fn admits(&self, subject: &OperatorName) -> bool {
        self.operators.iter().any(|listed| listed.admits(subject))
    }
}

impl OperatorName {
    /// Reads a distinguished name written `CN=…, OU=…, O=…` (commas or semicolons between
    /// attributes, values possibly in double quotes, `\,` for a comma inside a value) or
    /// `/C=FR/O=…/CN=…`.
    pub fn parse(text: &str) -> Option<OperatorName> {
        let text = text.trim();
        let parts = match text.strip_prefix('/') {
            Some(slashed) => slashed.split('/').map(str::to_owned).collect(),
            None => split_attributes(text),
        };
        let mut attributes = Vec::new();
        for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=')?;
            let key = key.trim().to_ascii_uppercase();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
                return None;
            }
            attributes.push((key, tidy(value)));
        }
        attributes.iter().any(|(key, _)| key == "CN").then_some(OperatorName { attributes })
    }

    /// The name from a certificate's subject attributes (short names: `CN`, `O`, `OU`, …).
    pub fn from_attributes(attributes: impl IntoIterator<Item = (String, String)>) -> OperatorName {
        OperatorName {
            attributes: attributes.into_iter().map(|(key, value)| (key.to_ascii_uppercase(), tidy(&value))).collect(),
        }
    }

    /// The values of one attribute, in canonical form.
    fn canonical(&self, key: &str) -> Vec<String> {
        self.attributes.iter().filter(|(k, _)| k == key).map(|(_, value)| canonical(value)).collect()
    }

    /// Whether a presented `subject` is this listed operator: the same CN, and the same O
    /// and OU wherever this name gives them.
    pub fn admits(&self, subject: &OperatorName) -> bool {
        ["CN", "O", "OU"].iter().all(|key| {
            let listed = self.canonical(key);
            if listed.is_empty() {
                return *key != "CN";
            }
            let presented = subject.canonical(key);
            listed.iter().all(|value| presented.contains(value))
        })
    }
}

impl std::fmt::Display for OperatorName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.attributes.iter().map(|(key, value)| format!("{key}={value}")).collect();
        f.write_str(&parts.join(", "))
    }
}

fn read_entry(entry: roxmltree::Node<'_, '_>, position: usize) -> Result<TrustedDomain, TrustListError> {
    let texts = |tag: &str| -> Vec<String> {
        entry
            .children()
            .filter(|child| child.has_tag_name(tag))
            .map(|child| {
                tidy(&child.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).collect::<String>())
            })
            .collect()
    };
    let first = |tag: &str| texts(tag).into_iter().next().unwrap_or_default();
    let name = first("Nom").to_lowercase();
    if name.is_empty() {
        return Err(TrustListError::NoName { position });
    }
    let valid = name.contains('.')
        && name
            .split('.')
            .all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !valid {
        return Err(TrustListError::BadName { position, name });
    }
    let mut operators = Vec::new();
    for written in texts("DNCertificatOperateur").iter().filter(|dn| !dn.is_empty()) {
        let operator = OperatorName::parse(written).ok_or_else(|| TrustListError::BadEntry {
            domain: name.clone(),
            why: format!("{written:?} is not a certificate subject with a CN"),
        })?;
        operators.push(operator);
    }
    if operators.is_empty() {
        return Err(TrustListError::BadEntry { domain: name, why: "no DNCertificatOperateur".into() });
    }
    Ok(TrustedDomain {
        description: first("Description"),
        operators,
        responsible_contact: first("ResponsableContact"),
        support_contact: first("SupportContact"),
        updated: first("DateMAJ"),
        name,
    })
}

/// Splits `CN=a, O="b, c", OU=d\, e` at the commas and semicolons between attributes.
fn split_attributes(text: &str) -> Vec<String> {
    let (mut parts, mut current, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in text.chars() {
        match c {
            _ if escaped => {
                current.push(c);
                escaped = false;
            }
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' | ';' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
}

/// A value as shown: outer quotes dropped, runs of whitespace made one space.
fn tidy(value: &str) -> String {
    let value = value.trim();
    let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A value as compared: case folded, without any whitespace (`Paris(75)` is `Paris (75)`).
fn canonical(value: &str) -> String {
    tidy(value).chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests;
