//! Parsing a document that lints clean into its header fields and its free text.

use super::date::{date_message, parse_hprim_fault};
use super::{
    find_line, lint, split_lines, Date, Document, Header, Patient, Problem, BIRTH_DATE, DOCUMENT_DATE, END_TAG,
    FIELD_NAMES, FIRST_NAME, HEADER_LINES, LAST_NAME, NIR, PARTY_CODE_WIDTH, RECIPIENT, SENDER,
};

/// Parses a document with LF or CRLF line endings. Fails with the errors [`lint`] finds;
/// warnings are tolerated. Header fields are trimmed, except that the sender and recipient
/// keep their leading spaces, which position the name after the code column.
pub fn parse(text: &str) -> Result<Document, Vec<Problem>> {
    let errors: Vec<Problem> = lint(text).into_iter().filter(|p| !p.is_warning()).collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    // From here lint guarantees 12 header lines, valid dates and a ****FIN**** after the header.
    let lines = split_lines(text);
    let line = |i: usize| lines.get(i).copied().unwrap_or_default();
    let field = |i: usize| line(i).trim().to_string();
    let fin = find_line(&lines, HEADER_LINES, END_TAG).unwrap_or(lines.len());
    let patient = Patient {
        record_id: field(0),
        last_name: field(LAST_NAME),
        first_name: field(FIRST_NAME),
        address1: field(3),
        address2: field(4),
        postcode_city: field(5),
        birth_date: header_date(&lines, BIRTH_DATE)?,
        nir: field(NIR),
    };
    let header = Header {
        patient,
        reference: field(8),
        document_date: header_date(&lines, DOCUMENT_DATE)?,
        sender: line(SENDER).trim_end().to_string(),
        recipient: line(RECIPIENT).trim_end().to_string(),
    };
    let body = lines.get(HEADER_LINES..fin).unwrap_or_default();
    Ok(Document { header, body: body.iter().map(|l| format!("{l}\n")).collect() })
}

fn header_date(lines: &[&str], index: usize) -> Result<Date, Vec<Problem>> {
    let raw = lines.get(index).copied().unwrap_or_default().trim();
    parse_hprim_fault(raw).map_err(|fault| {
        let message = format!("{} {}", FIELD_NAMES[index], date_message(raw, fault, "DD/MM/YYYY"));
        vec![Problem::at(index + 1, message)]
    })
}

/// Splits a sender or recipient line into its code (first [`PARTY_CODE_WIDTH`] columns) and
/// its name, both trimmed.
pub fn split_party(line: &str) -> (&str, &str) {
    let cut = line.char_indices().nth(PARTY_CODE_WIDTH).map_or(line.len(), |(i, _)| i);
    let (code, name) = line.split_at(cut);
    (code.trim(), name.trim())
}
