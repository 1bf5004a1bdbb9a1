//! The LDAP form of an entry: its DN under the base of the mail domain and its attributes
//! (names as in docs/directory.md), read from the stored entry when a search needs them
//! rather than kept beside it.

use std::borrow::Cow;

use super::entry::{fold, Field, StoredEntry};

/// The object classes of every entry.
const OBJECT_CLASSES: [&str; 4] = ["top", "person", "inetOrgPerson", "caduceeEntry"];

/// The attributes of an entry, in the order a search result lists them.
const ATTRIBUTES: [&str; 22] = [
    "objectClass",
    "mail",
    "cn",
    "sn",
    "givenName",
    "title",
    "l",
    "postalCode",
    "specialty",
    "mailboxType",
    "businessCategory",
    "description",
    "telephoneNumber",
    "rpps",
    "adeli",
    "finess",
    "siren",
    "siret",
    "acceptsDematerialisation",
    "pgpFingerprint",
    "responsiblePerson",
    "pgpKey",
];

/// The values of one attribute of one entry.
#[derive(Debug)]
pub enum Values<'a> {
    One(Cow<'a, str>),
    /// Several, one per line.
    Lines(&'a str),
    Listed(&'a [&'static str]),
    Owned(Vec<String>),
    /// Not text (the certificate): never matched by a filter.
    Binary(&'a [u8]),
}

impl Values<'_> {
    /// Whether any text value satisfies `test`; binary values never do.
    pub fn any(&self, mut test: impl FnMut(&str) -> bool) -> bool {
        match self {
            Values::One(value) => test(value),
            Values::Lines(lines) => lines.split('\n').any(test),
            Values::Listed(values) => values.iter().any(|value| test(value)),
            Values::Owned(values) => values.iter().any(|value| test(value)),
            Values::Binary(_) => false,
        }
    }

    fn into_bytes(self) -> Vec<Vec<u8>> {
        match self {
            Values::One(value) => vec![value.into_owned().into_bytes()],
            Values::Lines(lines) => lines.split('\n').map(|line| line.as_bytes().to_vec()).collect(),
            Values::Listed(values) => values.iter().map(|value| value.as_bytes().to_vec()).collect(),
            Values::Owned(values) => values.into_iter().map(String::into_bytes).collect(),
            Values::Binary(bytes) => vec![bytes.to_vec()],
        }
    }
}

/// What a search filter reads of an entry.
pub trait LdapAttributes {
    /// The values of the attribute `name` (any case), `None` when the entry has none.
    fn values(&self, name: &str) -> Option<Values<'_>>;
}

impl LdapAttributes for StoredEntry {
    fn values(&self, name: &str) -> Option<Values<'_>> {
        let name = ATTRIBUTES.iter().find(|known| known.eq_ignore_ascii_case(name))?;
        let text = |field| Some(self.field(field)).filter(|v| !v.is_empty()).map(|v| Values::One(Cow::Borrowed(v)));
        match *name {
            "objectClass" => Some(Values::Listed(&OBJECT_CLASSES)),
            "mail" => text(Field::Address),
            "cn" => Some(Values::One(Cow::Owned(self.display_name()))),
            "sn" => Some(Values::One(Cow::Borrowed(self.field(Field::LastName)))),
            "givenName" => text(Field::FirstName),
            "title" => text(Field::Civility),
            "l" => text(Field::City),
            "postalCode" => text(Field::Postcode),
            "specialty" => text(Field::Specialty),
            "mailboxType" => Some(Values::One(Cow::Borrowed(self.mailbox_type()))),
            "businessCategory" => text(Field::Category),
            "description" => text(Field::Description),
            "telephoneNumber" => text(Field::Phone),
            "rpps" | "adeli" => identifier(self.practitioner_id().map(static_kind), name),
            "finess" | "siren" | "siret" => identifier(self.organisation_id().map(static_kind), name),
            "acceptsDematerialisation" => {
                Some(Values::One(Cow::Borrowed(if self.dematerialisation() { "TRUE" } else { "FALSE" })))
            }
            "pgpFingerprint" => text(Field::Fingerprint),
            "responsiblePerson" => {
                Some(self.field(Field::ResponsiblePersons)).filter(|v| !v.is_empty()).map(Values::Lines)
            }
            "pgpKey" => self.certificate().map(Values::Binary),
            _ => None,
        }
    }
}

/// An identifier's number when its kind is `kind`.
fn identifier<'a>(found: Option<(&'static str, &'a str)>, kind: &str) -> Option<Values<'a>> {
    found.filter(|(k, _)| k.eq_ignore_ascii_case(kind)).map(|(_, number)| Values::One(Cow::Borrowed(number)))
}

/// An identifier's kind as its attribute's name reads it ("RPPS" → "rpps"); kinds are
/// ASCII, compared without regard to case.
fn static_kind<'a>((kind, number): (&'a str, &'a str)) -> (&'static str, &'a str) {
    let kind = ["rpps", "adeli", "finess", "siren", "siret"]
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(kind))
        .unwrap_or("");
    (kind, number)
}

/// An entry made for one answer (the rootDSE, the directory's own entry), with its
/// attributes as they are sent.
#[derive(Debug)]
pub struct LdapEntry {
    pub dn: String,
    pub attributes: Vec<(&'static str, Vec<Vec<u8>>)>,
}

impl LdapAttributes for LdapEntry {
    fn values(&self, name: &str) -> Option<Values<'_>> {
        let (_, values) = self.attributes.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))?;
        Some(Values::Owned(values.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect()))
    }
}

/// The LDAP base DN of a mail domain: `ou=directory,dc=relay,dc=example`.
pub fn base_dn(domain: &str) -> String {
    let dcs: Vec<String> = domain.split('.').filter(|p| !p.is_empty()).map(|p| format!("dc={p}")).collect();
    format!("ou=directory,{}", dcs.join(","))
}

/// An entry's DN under `base`.
pub fn entry_dn(entry: &StoredEntry, base: &str) -> String {
    format!("mail={},{base}", escape_dn_value(entry.address()))
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

/// The entry as a search result sends it: its DN and every attribute it has, in the order
/// of [`ATTRIBUTES`].
pub fn ldap_entry(entry: &StoredEntry, base: &str) -> LdapEntry {
    let attributes = ATTRIBUTES.iter().filter_map(|name| Some((*name, entry.values(name)?.into_bytes()))).collect();
    LdapEntry { dn: entry_dn(entry, base), attributes }
}

/// An attribute's one value, folded, for the indexes (`None` when the entry has none).
pub fn folded_value(entry: &StoredEntry, name: &str) -> Option<String> {
    let mut found = None;
    entry.values(name)?.any(|value| {
        found = Some(fold(value));
        true
    });
    found
}
