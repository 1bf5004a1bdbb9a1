//! One directory entry as the directory shows it, and the accent-free folding its search
//! uses.

use caducee_storage::{CertificateRecord, CertificateStatus, DirectoryRecord, Millis};
use serde::Serialize;

/// One entry as the directory shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PublicEntry {
    pub address: String,
    pub civility: String,
    pub first_name: String,
    pub last_name: String,
    pub city: String,
    pub postcode: String,
    pub specialty: String,
    /// "RPPS" or "ADELI", with the number.
    pub practitioner_id: Option<(String, String)>,
    pub mailbox_type: &'static str,
    /// "FINESS", "SIREN" or "SIRET", with the number.
    pub organisation_id: Option<(String, String)>,
    /// Only when the user publishes it.
    pub phone: Option<String>,
    pub category: String,
    pub description: String,
    pub responsible_persons: Vec<String>,
    pub dematerialisation: bool,
    /// The current certificate's fingerprint.
    pub fingerprint: Option<String>,
    #[serde(skip)]
    pub red_list: bool,
    #[serde(skip)]
    pub certificate: Option<Vec<u8>>,
    /// Lower-case, accent-free words for searching.
    #[serde(skip)]
    pub search_text: String,
}

impl PublicEntry {
    fn from_record(record: &DirectoryRecord, now: Millis) -> PublicEntry {
        let DirectoryRecord { account, entry, certificates, .. } = record;
        let current = current_certificate(certificates, now);
        let practitioner_id = entry.practitioner_id.as_ref().map(|id| (id.kind().to_owned(), id.number().to_owned()));
        let organisation_id = entry.organisation_id.as_ref().map(|id| (id.kind().to_owned(), id.number().to_owned()));
        let search_text = fold(&format!(
            "{} {} {} {} {} {} {} {}",
            account.first_name,
            account.last_name,
            entry.city,
            entry.postcode,
            entry.specialty,
            account.address,
            practitioner_id.as_ref().map_or("", |(_, n)| n),
            entry.category
        ));
        PublicEntry {
            address: account.address.to_string(),
            civility: entry.civility.clone(),
            first_name: account.first_name.clone(),
            last_name: account.last_name.clone(),
            city: entry.city.clone(),
            postcode: entry.postcode.clone(),
            specialty: entry.specialty.clone(),
            practitioner_id,
            mailbox_type: entry.mailbox_type.as_str(),
            organisation_id,
            phone: (entry.publish_phone.value && !entry.phone.is_empty()).then(|| entry.phone.clone()),
            category: entry.category.clone(),
            description: entry.description.clone(),
            responsible_persons: entry.responsible_persons.clone(),
            dematerialisation: entry.dematerialisation.value,
            fingerprint: current.map(|c| c.fingerprint.to_string()),
            red_list: entry.red_list.value,
            certificate: current.map(|c| c.public.clone()),
            search_text,
        }
    }

    /// "Dr Anne Martin".
    pub fn display_name(&self) -> String {
        display_name(&self.civility, &self.first_name, &self.last_name)
    }
}

/// The text fields of a [`StoredEntry`], in the order they are packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Field {
    Address,
    Civility,
    FirstName,
    LastName,
    City,
    Postcode,
    Specialty,
    PractitionerKind,
    PractitionerNumber,
    OrganisationKind,
    OrganisationNumber,
    /// Empty when not published.
    Phone,
    Category,
    Description,
    /// One person per line.
    ResponsiblePersons,
    Fingerprint,
    /// Lower-case, accent-free words for searching.
    SearchText,
}

const FIELDS: usize = Field::SearchText as usize + 1;

/// One entry as the directory view keeps it: every text field packed into one string with
/// the offsets where each ends, so that an entry costs one allocation and a few dozen bytes
/// beside its text. A directory of 100,000 entries held as [`PublicEntry`] values plus
/// their LDAP forms took some 6 KB an entry; packed, a few hundred bytes. [`PublicEntry`]
/// is made from it for the few entries a page or an export shows.
#[derive(Debug)]
pub struct StoredEntry {
    text: Box<str>,
    ends: [u32; FIELDS],
    mailbox_type: &'static str,
    red_list: bool,
    dematerialisation: bool,
    certificate: Option<Box<[u8]>>,
}

impl StoredEntry {
    pub(super) fn from_record(record: &DirectoryRecord, now: Millis) -> StoredEntry {
        StoredEntry::from(PublicEntry::from_record(record, now))
    }

    /// One text field; empty when the entry has none.
    pub fn field(&self, field: Field) -> &str {
        let index = field as usize;
        let start = if index == 0 { 0 } else { self.ends[index - 1] as usize };
        &self.text[start..self.ends[index] as usize]
    }

    /// A field that is either set or not ("RPPS", "ADELI", a phone, a fingerprint).
    fn optional(&self, field: Field) -> Option<&str> {
        Some(self.field(field)).filter(|value| !value.is_empty())
    }

    pub fn address(&self) -> &str {
        self.field(Field::Address)
    }

    pub fn mailbox_type(&self) -> &'static str {
        self.mailbox_type
    }

    pub fn red_list(&self) -> bool {
        self.red_list
    }

    pub fn dematerialisation(&self) -> bool {
        self.dematerialisation
    }

    /// "RPPS" or "ADELI", with the number.
    pub fn practitioner_id(&self) -> Option<(&str, &str)> {
        Some((self.optional(Field::PractitionerKind)?, self.field(Field::PractitionerNumber)))
    }

    /// "FINESS", "SIREN" or "SIRET", with the number.
    pub fn organisation_id(&self) -> Option<(&str, &str)> {
        Some((self.optional(Field::OrganisationKind)?, self.field(Field::OrganisationNumber)))
    }

    /// Only when the user publishes it.
    pub fn phone(&self) -> Option<&str> {
        self.optional(Field::Phone)
    }

    pub fn fingerprint(&self) -> Option<&str> {
        self.optional(Field::Fingerprint)
    }

    pub fn responsible_persons(&self) -> impl Iterator<Item = &str> {
        self.field(Field::ResponsiblePersons).split('\n').filter(|person| !person.is_empty())
    }

    pub fn certificate(&self) -> Option<&[u8]> {
        self.certificate.as_deref()
    }

    /// "Dr Anne Martin".
    pub fn display_name(&self) -> String {
        display_name(self.field(Field::Civility), self.field(Field::FirstName), self.field(Field::LastName))
    }

    /// Whether every word (already [`fold`]ed) appears in the entry.
    pub fn matches(&self, words: &[&str]) -> bool {
        let text = self.field(Field::SearchText);
        words.iter().all(|word| text.contains(word))
    }
}

impl From<PublicEntry> for StoredEntry {
    fn from(entry: PublicEntry) -> StoredEntry {
        let (practitioner_kind, practitioner_number) = entry.practitioner_id.unwrap_or_default();
        let (organisation_kind, organisation_number) = entry.organisation_id.unwrap_or_default();
        // Checked fields hold no control character (`check_text`): a line break separates.
        let persons = entry.responsible_persons.join("\n");
        let fields: [&str; FIELDS] = [
            &entry.address,
            &entry.civility,
            &entry.first_name,
            &entry.last_name,
            &entry.city,
            &entry.postcode,
            &entry.specialty,
            &practitioner_kind,
            &practitioner_number,
            &organisation_kind,
            &organisation_number,
            entry.phone.as_deref().unwrap_or(""),
            &entry.category,
            &entry.description,
            &persons,
            entry.fingerprint.as_deref().unwrap_or(""),
            &entry.search_text,
        ];
        let mut text = String::with_capacity(fields.iter().map(|f| f.len()).sum());
        let mut ends = [0u32; FIELDS];
        for (end, field) in ends.iter_mut().zip(fields) {
            text.push_str(field);
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        StoredEntry {
            text: text.into_boxed_str(),
            ends,
            mailbox_type: entry.mailbox_type,
            red_list: entry.red_list,
            dematerialisation: entry.dematerialisation,
            certificate: entry.certificate.map(Vec::into_boxed_slice),
        }
    }
}

impl From<&StoredEntry> for PublicEntry {
    fn from(entry: &StoredEntry) -> PublicEntry {
        let text = |field| entry.field(field).to_owned();
        let pair = |(kind, number): (&str, &str)| (kind.to_owned(), number.to_owned());
        PublicEntry {
            address: text(Field::Address),
            civility: text(Field::Civility),
            first_name: text(Field::FirstName),
            last_name: text(Field::LastName),
            city: text(Field::City),
            postcode: text(Field::Postcode),
            specialty: text(Field::Specialty),
            practitioner_id: entry.practitioner_id().map(pair),
            mailbox_type: entry.mailbox_type,
            organisation_id: entry.organisation_id().map(pair),
            phone: entry.phone().map(str::to_owned),
            category: text(Field::Category),
            description: text(Field::Description),
            responsible_persons: entry.responsible_persons().map(str::to_owned).collect(),
            dematerialisation: entry.dematerialisation,
            fingerprint: entry.fingerprint().map(str::to_owned),
            red_list: entry.red_list,
            certificate: entry.certificate.as_deref().map(<[u8]>::to_vec),
            search_text: text(Field::SearchText),
        }
    }
}

/// "Dr Anne Martin": the parts that are set, with a space between.
fn display_name(civility: &str, first_name: &str, last_name: &str) -> String {
    [civility, first_name, last_name].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" ")
}

/// The newest certificate valid at `now`.
fn current_certificate(certificates: &[CertificateRecord], now: Millis) -> Option<&CertificateRecord> {
    certificates.iter().filter(|c| c.status(now) == CertificateStatus::Valid).max_by_key(|c| c.created_at)
}

/// Lower case without French accents, for searching. Written here: a few letters, no need
/// for a Unicode normalisation crate.
pub fn fold(text: &str) -> String {
    folded_chars(text).collect()
}

/// [`fold`] one character at a time, for comparing without making the folded string.
pub fn folded_chars(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars().flat_map(char::to_lowercase).map(|c| match c {
        'à' | 'â' | 'ä' | 'á' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'î' | 'ï' | 'í' => 'i',
        'ô' | 'ö' | 'ó' => 'o',
        'ù' | 'û' | 'ü' | 'ú' => 'u',
        'ç' => 'c',
        'ÿ' => 'y',
        'œ' => 'o',
        c => c,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_entry_gives_back_every_field() {
        let entry = PublicEntry {
            address: "anne.martin@relay.test".into(),
            civility: "Dr".into(),
            first_name: "Anne".into(),
            last_name: "Martin-Lefèvre".into(),
            city: "Lille".into(),
            postcode: "59000".into(),
            specialty: "Cardiologie".into(),
            practitioner_id: Some(("RPPS".into(), "10001234567".into())),
            mailbox_type: "organisational",
            organisation_id: Some(("FINESS".into(), "590000001".into())),
            phone: Some("03 20 00 00 01".into()),
            category: "Centre hospitalier".into(),
            description: "Service de cardiologie".into(),
            responsible_persons: vec!["Dr Anne Martin".into(), "Dr Paul Durand".into()],
            dematerialisation: true,
            fingerprint: Some("9CE392557D409130E27CD213F527C6695877EB25".into()),
            red_list: true,
            certificate: Some(vec![0x98, 1, 2, 3]),
            search_text: "anne martin-lefevre lille".into(),
        };
        let stored = StoredEntry::from(entry.clone());
        assert_eq!(PublicEntry::from(&stored), entry);
        assert_eq!(stored.display_name(), "Dr Anne Martin-Lefèvre");
        assert!(stored.matches(&["lefevre", "lille"]) && !stored.matches(&["paris"]));
        let bare = PublicEntry { address: "x@relay.test".into(), ..PublicEntry::default() };
        let stored = StoredEntry::from(bare.clone());
        assert_eq!(PublicEntry::from(&stored), bare);
        assert_eq!((stored.practitioner_id(), stored.phone(), stored.responsible_persons().count()), (None, None, 0));
    }
}
