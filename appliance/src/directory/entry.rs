//! One directory entry as the directory shows it, and the accent-free folding its search
//! uses.

use caducee_storage::{CertificateRecord, CertificateStatus, DirectoryRecord, Millis};
use serde::Serialize;

/// One entry as the directory shows it.
#[derive(Debug, Clone, Serialize)]
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
    pub(super) fn from_record(record: &DirectoryRecord, now: Millis) -> PublicEntry {
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
        [self.civility.as_str(), self.first_name.as_str(), self.last_name.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether every word (already [`fold`]ed) appears in the entry.
    pub fn matches(&self, words: &[&str]) -> bool {
        words.iter().all(|word| self.search_text.contains(word))
    }
}

/// The newest certificate valid at `now`.
fn current_certificate(certificates: &[CertificateRecord], now: Millis) -> Option<&CertificateRecord> {
    certificates.iter().filter(|c| c.status(now) == CertificateStatus::Valid).max_by_key(|c| c.created_at)
}

/// Lower case without French accents, for searching. Written here: a few letters, no need
/// for a Unicode normalisation crate.
pub fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
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
        .collect()
}
