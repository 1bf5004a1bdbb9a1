//! Import parsing: the lines of a CSV import file, each turned into [`DirectoryFields`].

use anyhow::{bail, Context as _};
use serde::Deserialize;

use super::fields::DirectoryFields;

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

/// The separator of an import file, from its header line: a semicolon (what French Excel
/// writes) if the line has more of them than commas, else a comma. No column name holds
/// either.
pub fn separator(csv_text: &[u8]) -> u8 {
    let header = csv_text.split(|&b| b == b'\n').next().unwrap_or_default();
    let count = |separator: u8| header.iter().filter(|&&b| b == separator).count();
    if count(b';') > count(b',') {
        b';'
    } else {
        b','
    }
}

/// Reads an import file (UTF-8 text, comma- or semicolon-separated): every line parsed,
/// every problem named with its line number.
pub fn read_import(csv_text: &[u8]) -> anyhow::Result<Vec<(usize, Result<ImportLine, String>)>> {
    let csv_text = csv_text.strip_prefix(crate::charset::UTF8_BOM).unwrap_or(csv_text);
    let mut reader =
        csv::ReaderBuilder::new().delimiter(separator(csv_text)).trim(csv::Trim::All).from_reader(csv_text);
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
