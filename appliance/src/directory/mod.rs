//! The directory (SPEC R-DIR-1…4): one view of the users, served three ways — the web page,
//! the downloadable files, LDAP — so that all three show the same entries and honour each
//! user's preferences at the same moment.
//!
//! [`DirectoryCache`] holds the public view, rebuilt from one store snapshot whenever the
//! store's directory generation has moved (a commit that created, changed, closed or
//! removed an account, its entry or its keys). Every request asks it for the current view,
//! so a change is visible on the very next request, whichever the door.

pub mod admin;

use std::sync::{Arc, RwLock};

use anyhow::{bail, Context as _};
use caducee_storage::{
    CertificateRecord, CertificateStatus, DirectoryEntry, DirectoryRecord, MailboxType, Millis, OrganisationId,
    PractitionerId, Preference, Store,
};
use serde::{Deserialize, Serialize};

/// Longest free-text field.
const TEXT_CHARS_MAX: usize = 200;

/// Directory fields as an administrator gives them (`user add`, `directory set`, import).
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

impl DirectoryFields {
    /// `entry` with these fields applied, every problem listed (nothing applied if any).
    pub fn apply(&self, mut entry: DirectoryEntry, at: Millis) -> Result<DirectoryEntry, Vec<String>> {
        let mut problems = Vec::new();
        let mut text = |field: &str, value: &Option<String>, target: &mut String| {
            if let Some(value) = value {
                match caducee_storage::check_text(field, value, TEXT_CHARS_MAX) {
                    Ok(value) => *target = value,
                    Err(why) => problems.push(why),
                }
            }
        };
        text("civility", &self.civility, &mut entry.civility);
        text("city", &self.city, &mut entry.city);
        text("specialty", &self.specialty, &mut entry.specialty);
        text("category", &self.category, &mut entry.category);
        text("description", &self.description, &mut entry.description);
        if let Some(postcode) = self.postcode.as_deref().filter(|p| !p.trim().is_empty()) {
            match caducee_storage::check_postcode(postcode) {
                Ok(postcode) => entry.postcode = postcode,
                Err(why) => problems.push(why),
            }
        }
        if let Some(phone) = &self.phone {
            if phone.trim().is_empty() {
                entry.phone.clear();
            } else {
                match caducee_storage::check_phone(phone) {
                    Ok(phone) => entry.phone = phone,
                    Err(why) => problems.push(why),
                }
            }
        }
        let nonempty = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        match (nonempty(&self.rpps), nonempty(&self.adeli)) {
            (Some(_), Some(_)) => problems.push("give an RPPS or an ADELI number, not both".into()),
            (Some(rpps), None) => match PractitionerId::rpps(&rpps) {
                Ok(id) => entry.practitioner_id = Some(id),
                Err(why) => problems.push(why),
            },
            (None, Some(adeli)) => match PractitionerId::adeli(&adeli) {
                Ok(id) => entry.practitioner_id = Some(id),
                Err(why) => problems.push(why),
            },
            (None, None) => {}
        }
        let organisation = [
            (nonempty(&self.finess), OrganisationId::finess as fn(&str) -> Result<OrganisationId, String>),
            (nonempty(&self.siren), OrganisationId::siren),
            (nonempty(&self.siret), OrganisationId::siret),
        ];
        let given: Vec<_> = organisation.iter().filter(|(v, _)| v.is_some()).collect();
        match given.as_slice() {
            [] => {}
            [(Some(number), parse)] => match parse(number) {
                Ok(id) => entry.organisation_id = Some(id),
                Err(why) => problems.push(why),
            },
            _ => problems.push("give one of FINESS, SIREN or SIRET, not several".into()),
        }
        if let Some(kind) = &self.mailbox_type {
            match MailboxType::parse(kind) {
                Ok(kind) => entry.mailbox_type = kind,
                Err(why) => problems.push(why),
            }
        }
        if let Some(persons) = &self.responsible_persons {
            let mut checked = Vec::new();
            for person in persons.iter().filter(|p| !p.trim().is_empty()) {
                match caducee_storage::check_text("responsible person", person, TEXT_CHARS_MAX) {
                    Ok(person) => checked.push(person),
                    Err(why) => problems.push(why),
                }
            }
            entry.responsible_persons = checked;
        }
        if entry.mailbox_type != MailboxType::Personal && entry.organisation_id.is_none() {
            problems.push(format!(
                "a {} mailbox needs the FINESS, SIREN or SIRET of its structure",
                entry.mailbox_type.as_str()
            ));
        }
        for (value, target) in [
            (self.red_list, &mut entry.red_list),
            (self.publish_phone, &mut entry.publish_phone),
            (self.dematerialisation, &mut entry.dematerialisation),
        ] {
            if let Some(value) = value {
                if target.value != value || target.set_at.is_none() {
                    *target = Preference::set(value, at);
                }
            }
        }
        if problems.is_empty() {
            Ok(entry)
        } else {
            Err(problems)
        }
    }
}

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
            fingerprint: current.map(|c| c.fingerprint.clone()),
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

/// The directory at one moment: open accounts, in address order.
#[derive(Debug)]
pub struct DirectoryView {
    pub generation: u64,
    /// Every open account, red-listed ones included (for authenticated LDAP).
    pub all: Vec<PublicEntry>,
    /// The LDAP form of each entry of `all`, same order, made once per view.
    pub ldap: Vec<LdapEntry>,
    /// Equality and prefix indexes over `ldap`.
    pub index: crate::ldap::index::LdapIndex,
}

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
    fn new(entry: &PublicEntry, base: &str) -> LdapEntry {
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

impl DirectoryView {
    /// What anyone may see: red-listed entries left out.
    pub fn public(&self) -> impl Iterator<Item = &PublicEntry> {
        self.all.iter().filter(|e| !e.red_list)
    }
}

/// The current view, rebuilt when the store says the directory changed.
pub struct DirectoryCache {
    store: Store,
    /// The LDAP base DN (from the mail domain).
    base: String,
    clock: Arc<dyn caducee_actors::clock::Clock>,
    current: RwLock<Option<Arc<DirectoryView>>>,
    /// One rebuild at a time: concurrent requests after a change wait for it rather than
    /// each building the same view.
    rebuilding: std::sync::Mutex<()>,
}

impl std::fmt::Debug for DirectoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryCache").field("store", &self.store).finish()
    }
}

impl DirectoryCache {
    pub fn new(store: Store, clock: Arc<dyn caducee_actors::clock::Clock>, domain: &str) -> DirectoryCache {
        DirectoryCache {
            store,
            base: base_dn(domain),
            clock,
            current: RwLock::new(None),
            rebuilding: std::sync::Mutex::new(()),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// [`DirectoryCache::view`] from async code: the current view at once, or a rebuild on
    /// the blocking pool, so that the event loop (and the mail sessions sharing it) does not
    /// stall while tens of thousands of entries are read.
    pub async fn view_async(self: &Arc<Self>) -> anyhow::Result<Arc<DirectoryView>> {
        let generation = self.store.directory_generation();
        let current = self
            .current
            .read()
            .map_err(|_| anyhow::anyhow!("directory lock poisoned"))?
            .as_ref()
            .filter(|view| view.generation >= generation)
            .cloned();
        if let Some(view) = current {
            return Ok(view);
        }
        let cache = Arc::clone(self);
        tokio::task::spawn_blocking(move || cache.view()).await?
    }

    pub fn view(&self) -> anyhow::Result<Arc<DirectoryView>> {
        // Read before the snapshot: a commit landing meanwhile moves it again, and the next
        // request rebuilds.
        let generation = self.store.directory_generation();
        let current = || -> anyhow::Result<Option<Arc<DirectoryView>>> {
            let guard = self.current.read().map_err(|_| anyhow::anyhow!("directory lock poisoned"))?;
            Ok(guard.as_ref().filter(|view| view.generation >= generation).cloned())
        };
        if let Some(view) = current()? {
            return Ok(view);
        }
        let _building = self.rebuilding.lock().map_err(|_| anyhow::anyhow!("directory lock poisoned"))?;
        if let Some(view) = current()? {
            return Ok(view); // built by whoever held the lock before us
        }
        let generation = self.store.directory_generation();
        let view = Arc::new(build_view(&self.store, generation, self.clock.now(), &self.base)?);
        *self.current.write().map_err(|_| anyhow::anyhow!("directory lock poisoned"))? = Some(view.clone());
        Ok(view)
    }
}

pub fn build_view(store: &Store, generation: u64, now: Millis, base: &str) -> anyhow::Result<DirectoryView> {
    let all: Vec<PublicEntry> = store
        .directory_snapshot()?
        .iter()
        .filter(|record| record.state.closed_at.is_none())
        .map(|record| PublicEntry::from_record(record, now))
        .collect();
    let ldap: Vec<LdapEntry> = all.iter().map(|entry| LdapEntry::new(entry, base)).collect();
    let index = crate::ldap::index::LdapIndex::build(&ldap);
    Ok(DirectoryView { generation, all, ldap, index })
}

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// The public directory as CSV.
    Csv,
    /// The public directory as LDIF (RFC 2849), under the LDAP base DN.
    Ldif,
    /// The national health directory's fields, as CSV (semicolon-separated, UTF-8).
    National,
}

const CSV_HEADER: [&str; 13] = [
    "address",
    "civility",
    "last_name",
    "first_name",
    "specialty",
    "city",
    "postcode",
    "practitioner_id_type",
    "practitioner_id",
    "mailbox_type",
    "phone",
    "accepts_dematerialisation",
    "key_fingerprint",
];

/// The public directory as CSV (RFC 4180, comma-separated, UTF-8).
pub fn export_csv(view: &DirectoryView) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_HEADER)?;
    for e in view.public() {
        let (id_type, id) = e.practitioner_id.clone().unwrap_or_default();
        writer.write_record([
            e.address.as_str(),
            &e.civility,
            &e.last_name,
            &e.first_name,
            &e.specialty,
            &e.city,
            &e.postcode,
            &id_type,
            &id,
            e.mailbox_type,
            e.phone.as_deref().unwrap_or(""),
            if e.dematerialisation { "yes" } else { "no" },
            e.fingerprint.as_deref().unwrap_or(""),
        ])?;
    }
    Ok(writer.into_inner()?)
}

/// The national export: every field R-DIR-4 names, red-listed entries flagged rather than
/// left out (the national directory honours the red list itself), phone only when published.
pub fn export_national(view: &DirectoryView) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new().delimiter(b';').from_writer(Vec::new());
    writer.write_record([
        "adresse_messagerie",
        "type_bal",
        "civilite",
        "nom",
        "prenom",
        "categorie",
        "specialite",
        "type_identifiant_pp",
        "identifiant_pp",
        "type_identifiant_structure",
        "identifiant_structure",
        "description",
        "responsables",
        "code_postal",
        "commune",
        "telephone",
        "liste_rouge",
        "publication_telephone",
        "dematerialisation",
        "empreinte_cle",
    ])?;
    for e in &view.all {
        let (pp_type, pp) = e.practitioner_id.clone().unwrap_or_default();
        let (org_type, org) = e.organisation_id.clone().unwrap_or_default();
        let yes_no = |b: bool| if b { "oui" } else { "non" };
        writer.write_record([
            e.address.as_str(),
            e.mailbox_type,
            &e.civility,
            &e.last_name,
            &e.first_name,
            &e.category,
            &e.specialty,
            &pp_type,
            &pp,
            &org_type,
            &org,
            &e.description,
            &e.responsible_persons.join(" | "),
            &e.postcode,
            &e.city,
            e.phone.as_deref().unwrap_or(""),
            yes_no(e.red_list),
            yes_no(e.phone.is_some()),
            yes_no(e.dematerialisation),
            e.fingerprint.as_deref().unwrap_or(""),
        ])?;
    }
    Ok(writer.into_inner()?)
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

/// The public directory as LDIF (RFC 2849), from the LDAP entries the view already holds:
/// values that are not safe strings are base64.
pub fn export_ldif(view: &DirectoryView) -> Vec<u8> {
    let mut out = String::from("version: 1\n\n");
    for (_, ldap) in view.all.iter().zip(&view.ldap).filter(|(entry, _)| !entry.red_list) {
        out.push_str(&ldif_line("dn", ldap.dn.as_bytes()));
        for (name, values) in &ldap.attributes {
            for value in values {
                out.push_str(&ldif_line(name, value));
            }
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// One LDIF attribute line, folded at 76 characters.
fn ldif_line(name: &str, value: &[u8]) -> String {
    use base64::Engine as _;
    let safe = value.first().is_none_or(|&b| b != b' ' && b != b':' && b != b'<')
        && value.last().is_none_or(|&b| b != b' ')
        && value.iter().all(|&b| (1..=127).contains(&b) && b != b'\n' && b != b'\r');
    let line = if safe {
        format!("{name}: {}", String::from_utf8_lossy(value))
    } else {
        format!("{name}:: {}", base64::engine::general_purpose::STANDARD.encode(value))
    };
    let mut folded = String::with_capacity(line.len() + line.len() / 76 * 2 + 1);
    let mut count = 0;
    for c in line.chars() {
        if count == 76 {
            folded.push_str("\n ");
            count = 1;
        }
        folded.push(c);
        count += 1;
    }
    folded.push('\n');
    folded
}

/// Import: one CSV line (header names as in docs/directory.md). Every directory column is
/// optional (an empty cell leaves a field as it is for an existing account). All strings:
/// a postcode or an RPPS number is text, not a number.
#[derive(Debug, Clone, Deserialize)]
pub struct ImportLine {
    pub address: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub contact_email: String,
    civility: Option<String>,
    city: Option<String>,
    postcode: Option<String>,
    specialty: Option<String>,
    rpps: Option<String>,
    adeli: Option<String>,
    mailbox_type: Option<String>,
    phone: Option<String>,
    finess: Option<String>,
    siren: Option<String>,
    siret: Option<String>,
    category: Option<String>,
    description: Option<String>,
    red_list: Option<String>,
    publish_phone: Option<String>,
    dematerialisation: Option<String>,
}

impl ImportLine {
    pub fn to_fields(&self) -> Result<DirectoryFields, String> {
        let cell = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let flag = |name: &str, v: &Option<String>| -> Result<Option<bool>, String> {
            match cell(v).map(|v| v.to_ascii_lowercase()).as_deref() {
                None => Ok(None),
                Some("yes" | "oui" | "true" | "1" | "on") => Ok(Some(true)),
                Some("no" | "non" | "false" | "0" | "off") => Ok(Some(false)),
                Some(other) => Err(format!("{name} {other:?} is not yes or no")),
            }
        };
        Ok(DirectoryFields {
            civility: cell(&self.civility),
            city: cell(&self.city),
            postcode: cell(&self.postcode),
            specialty: cell(&self.specialty),
            rpps: cell(&self.rpps),
            adeli: cell(&self.adeli),
            mailbox_type: cell(&self.mailbox_type),
            phone: cell(&self.phone),
            finess: cell(&self.finess),
            siren: cell(&self.siren),
            siret: cell(&self.siret),
            category: cell(&self.category),
            description: cell(&self.description),
            responsible_persons: None,
            red_list: flag("red_list", &self.red_list)?,
            publish_phone: flag("publish_phone", &self.publish_phone)?,
            dematerialisation: flag("dematerialisation", &self.dematerialisation)?,
        })
    }
}

/// Reads an import file: every line parsed, every problem named with its line number.
pub fn read_import(csv_text: &[u8]) -> anyhow::Result<Vec<(usize, Result<ImportLine, String>)>> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(csv_text);
    let headers = reader.headers().context("reading the header line")?.clone();
    if !headers.iter().any(|h| h == "address") {
        bail!("the header line must name an `address` column (see docs/directory.md)");
    }
    let mut lines = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2; // the header is line 1
        let parsed = record
            .map_err(|e| e.to_string())
            .and_then(|record| record.deserialize::<ImportLine>(Some(&headers)).map_err(|e| e.to_string()));
        lines.push((line, parsed));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_and_dns() {
        assert_eq!(fold("Hôpital Saint-Éloi"), "hopital saint-eloi");
        assert_eq!(base_dn("relay.test"), "ou=directory,dc=relay,dc=test");
        assert_eq!(escape_dn_value("a,b+c"), "a\\,b\\+c");
        assert!(ldif_line("cn", "Hélène".as_bytes()).starts_with("cn:: "));
        assert_eq!(ldif_line("sn", b"Martin"), "sn: Martin\n");
        let long = ldif_line("description", "x".repeat(100).as_bytes());
        assert!(long.lines().all(|l| l.len() <= 76) && long.contains("\n "), "{long}");
    }

    #[test]
    fn fields_are_checked_together() {
        let fields = DirectoryFields {
            rpps: Some("12345678901".into()),
            postcode: Some("590".into()),
            mailbox_type: Some("organisational".into()),
            ..DirectoryFields::default()
        };
        let problems = fields.apply(DirectoryEntry::default(), Millis(1)).expect_err("three problems");
        assert_eq!(problems.len(), 3, "{problems:?}");
        let ok = DirectoryFields { city: Some("Lille".into()), red_list: Some(true), ..DirectoryFields::default() };
        let entry = ok.apply(DirectoryEntry::default(), Millis(5)).expect("fine");
        assert_eq!((entry.city.as_str(), entry.red_list), ("Lille", Preference::set(true, Millis(5))));
    }
}
