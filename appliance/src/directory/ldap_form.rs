//! The LDAP form of an entry: its DN under the base of the mail domain, its attributes (names
//! as in docs/directory.md) and their values folded for filter matching.

use super::entry::{fold, PublicEntry};

/// An entry as LDAP serves it: its DN, its attributes, and their values folded for matching.
#[derive(Debug)]
pub struct LdapEntry {
    pub dn: String,
    /// The DN lower-cased, for base lookups.
    pub dn_folded: String,
    pub attributes: Vec<(&'static str, Vec<Vec<u8>>)>,
    /// (attribute name in lower case, values folded) for filter matching; binary values
    /// are left out.
    pub folded: Vec<(String, Vec<String>)>,
}

impl LdapEntry {
    pub fn new(entry: &PublicEntry, base: &str) -> LdapEntry {
        let dn = entry_dn(entry, base);
        let attributes = ldap_attributes(entry);
        let folded = attributes
            .iter()
            .filter(|(name, _)| *name != "pgpKey")
            .map(|(name, values)| {
                (name.to_ascii_lowercase(), values.iter().map(|v| fold(&String::from_utf8_lossy(v))).collect())
            })
            .collect();
        LdapEntry { dn_folded: dn.to_ascii_lowercase(), dn, attributes, folded }
    }
}

/// The LDAP base DN of a mail domain: `ou=directory,dc=relay,dc=example`.
pub fn base_dn(domain: &str) -> String {
    let dcs: Vec<String> = domain.split('.').filter(|p| !p.is_empty()).map(|p| format!("dc={p}")).collect();
    format!("ou=directory,{}", dcs.join(","))
}

/// An entry's DN under `base`.
pub fn entry_dn(entry: &PublicEntry, base: &str) -> String {
    format!("mail={},{base}", escape_dn_value(&entry.address))
}

/// RFC 4514 escaping of an attribute value in a DN.
pub fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' | ' ' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The LDAP attributes of an entry (names as in docs/directory.md), values as text, the
/// certificate as bytes.
pub fn ldap_attributes(entry: &PublicEntry) -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let mut attributes: Vec<(&'static str, Vec<Vec<u8>>)> = vec![
        ("objectClass", vec![b"top".to_vec(), b"person".to_vec(), b"inetOrgPerson".to_vec(), b"caduceeEntry".to_vec()]),
        ("mail", vec![entry.address.clone().into_bytes()]),
        ("cn", vec![entry.display_name().into_bytes()]),
        ("sn", vec![entry.last_name.clone().into_bytes()]),
    ];
    let mut text = |name: &'static str, value: &str| {
        if !value.is_empty() {
            attributes.push((name, vec![value.as_bytes().to_vec()]));
        }
    };
    text("givenName", &entry.first_name);
    text("title", &entry.civility);
    text("l", &entry.city);
    text("postalCode", &entry.postcode);
    text("specialty", &entry.specialty);
    text("mailboxType", entry.mailbox_type);
    text("businessCategory", &entry.category);
    text("description", &entry.description);
    if let Some(phone) = &entry.phone {
        text("telephoneNumber", phone);
    }
    if let Some((kind, number)) = &entry.practitioner_id {
        text(if kind == "RPPS" { "rpps" } else { "adeli" }, number);
    }
    if let Some((kind, number)) = &entry.organisation_id {
        text(
            match kind.as_str() {
                "FINESS" => "finess",
                "SIREN" => "siren",
                _ => "siret",
            },
            number,
        );
    }
    text("acceptsDematerialisation", if entry.dematerialisation { "TRUE" } else { "FALSE" });
    if let Some(fingerprint) = &entry.fingerprint {
        text("pgpFingerprint", fingerprint);
    }
    if !entry.responsible_persons.is_empty() {
        attributes
            .push(("responsiblePerson", entry.responsible_persons.iter().map(|p| p.clone().into_bytes()).collect()));
    }
    if let Some(certificate) = &entry.certificate {
        attributes.push(("pgpKey", vec![certificate.clone()]));
    }
    attributes
}
