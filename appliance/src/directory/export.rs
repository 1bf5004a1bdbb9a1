//! The directory's files: CSV, LDIF (RFC 2849) and the national health directory's export.
//!
//! A CSV file is opened in spreadsheets, which run a cell beginning with `=`, `+`, `-` or
//! `@` as a formula: such a cell gets a leading `'` (inside its quotes when it has any), so that
//! what a user wrote in the directory is shown, never run.

use std::borrow::Cow;

use super::entry::PublicEntry;
use super::ldap_form::ldap_entry;
use super::view::DirectoryView;

/// The export formats: a request field, hence their place in the protocol.
pub use caducee_admin_protocol::ExportFormat;

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
    let mut writer = csv_writer(b',');
    writer.write_record(CSV_HEADER)?;
    for e in view.public().map(PublicEntry::from) {
        let (id_type, id) = e.practitioner_id.clone().unwrap_or_default();
        write_cells(
            &mut writer,
            [
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
            ],
        )?;
    }
    Ok(writer.into_inner()?)
}

/// The national export: every field R-DIR-4 names, red-listed entries flagged rather than
/// left out (the national directory honours the red list itself), phone only when published.
pub fn export_national(view: &DirectoryView) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv_writer(b';');
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
    for e in view.all.iter().map(PublicEntry::from) {
        let (pp_type, pp) = e.practitioner_id.clone().unwrap_or_default();
        let (org_type, org) = e.organisation_id.clone().unwrap_or_default();
        let yes_no = |b: bool| if b { "oui" } else { "non" };
        write_cells(
            &mut writer,
            [
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
            ],
        )?;
    }
    Ok(writer.into_inner()?)
}

/// A CSV writer: a cell is quoted when its content needs it, the leading `'` of an inert
/// cell then inside the quotes.
fn csv_writer(delimiter: u8) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().delimiter(delimiter).from_writer(Vec::new())
}

/// Writes one record, each cell made inert for spreadsheets.
fn write_cells<const N: usize>(writer: &mut csv::Writer<Vec<u8>>, cells: [&str; N]) -> csv::Result<()> {
    writer.write_record(cells.map(inert_cell).iter().map(|cell| cell.as_bytes()))
}

/// A cell a spreadsheet shows as text: one that would start a formula (`=`, `+`, `-`, `@`,
/// or a tab or carriage return before one) gets a leading `'`, as OWASP's advice on CSV
/// injection has it. A phone number written `+33…` gets it too; spreadsheets show it as is.
fn inert_cell(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// The public directory as LDIF (RFC 2849), each entry as LDAP serves it:
/// values that are not safe strings are base64.
pub fn export_ldif(view: &DirectoryView) -> Vec<u8> {
    let mut out = String::from("version: 1\n\n");
    for ldap in view.public().map(|entry| ldap_entry(entry, &view.base)) {
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
pub(super) fn ldif_line(name: &str, value: &[u8]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_would_be_formulas_are_shown_as_text() {
        for formula in ["=HYPERLINK(\"http://x\",\"y\")", "+33 3 20 00 00 01", "-1+1", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(inert_cell(formula), format!("'{formula}"), "{formula:?}");
        }
        for plain in ["Martin", "03 20 00 00 01", "", "a=b", "'=quoted already"] {
            assert_eq!(inert_cell(plain), plain);
        }
        let mut writer = csv_writer(b',');
        write_cells(&mut writer, ["=1+1", "Anne \"A\""]).expect("write");
        write_cells(&mut writer, ["=HYPERLINK(\"x\",\"y\")", "b"]).expect("write");
        assert_eq!(
            writer.into_inner().expect("bytes"),
            b"'=1+1,\"Anne \"\"A\"\"\"\n\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\",b\n"
        );
    }
}
