//! Building a document: the twelve header lines, the body, the end markers, CRLF throughout.

use super::{
    end_tag, is_forbidden_control, Date, Header, HprimError, BIRTH_DATE, DOCUMENT_DATE, END_OF_FILE_TAG, END_TAG,
    FIELD_NAMES, HEADER_LINES, PARTY_CODE_WIDTH,
};

/// Builds the complete document: 12 header lines, the body, `****FIN****` and
/// `****FINFICHIER****`, every line ended by CRLF. The body may use CRLF, LF or CR line endings.
pub fn build(header: &Header, body: &str) -> Result<String, HprimError> {
    let fields = header_fields(header);
    for (field, value) in FIELD_NAMES.iter().zip(&fields) {
        check_field(field, value)?;
    }
    check_date(FIELD_NAMES[BIRTH_DATE], header.patient.birth_date)?;
    check_date(FIELD_NAMES[DOCUMENT_DATE], header.document_date)?;
    let body = body_lines(body);
    if let Some((index, tag)) = body.iter().enumerate().find_map(|(i, l)| Some((i, end_tag(l)?))) {
        return Err(HprimError::EndTagInBody { body_line: index + 1, tag });
    }
    let all = fields.iter().map(String::as_str).chain(body).chain([END_TAG, END_OF_FILE_TAG]);
    Ok(all.fold(String::new(), |out, line| out + line + "\r\n"))
}

fn header_fields(header: &Header) -> [String; HEADER_LINES] {
    let p = &header.patient;
    [
        p.record_id.clone(),
        p.last_name.clone(),
        p.first_name.clone(),
        p.address1.clone(),
        p.address2.clone(),
        p.postcode_city.clone(),
        p.birth_date.to_hprim(),
        p.nir.clone(),
        header.reference.clone(),
        header.document_date.to_hprim(),
        header.sender.clone(),
        header.recipient.clone(),
    ]
}

fn check_field(field: &'static str, value: &str) -> Result<(), HprimError> {
    if value.contains(['\r', '\n']) {
        return Err(HprimError::LineBreakInField { field });
    }
    match value.chars().find(|&c| is_forbidden_control(c)) {
        Some(c) => Err(HprimError::ControlCharacterInField { field, code_point: u32::from(c) }),
        None => Ok(()),
    }
}

fn check_date(field: &'static str, date: Date) -> Result<(), HprimError> {
    if date.is_real() {
        Ok(())
    } else {
        Err(HprimError::InvalidDate { field, date })
    }
}

/// Splits a body on CRLF, LF or a lone CR; a final line break does not add an empty line.
fn body_lines(body: &str) -> Vec<&str> {
    let body = body.strip_suffix('\n').unwrap_or(body);
    let body = body.strip_suffix('\r').unwrap_or(body);
    if body.is_empty() {
        return Vec::new();
    }
    body.split('\n').flat_map(|l| l.strip_suffix('\r').unwrap_or(l).split('\r')).collect()
}

/// Formats a sender or recipient line: the code left-aligned in the first
/// [`PARTY_CODE_WIDTH`] columns, a space, then the name. `None` if the code is too wide,
/// since readers cut it at that width.
pub fn format_party(code: &str, name: &str) -> Option<String> {
    (code.chars().count() <= PARTY_CODE_WIDTH).then(|| format!("{code:<width$} {name}", width = PARTY_CODE_WIDTH))
}
