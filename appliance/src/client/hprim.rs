//! HPRIM header: build, parse and lint the plain-text header that French practice software
//! ("HPRIM Médecins" / "HPRIM Net" style, as carried by secure health e-mail) expects at the top
//! of a medical document such as a lab result or a letter.
//!
//! # Layout implemented
//!
//! A document is plain text with one header field per line. The first twelve lines are the
//! header; their position, not a label, says what they hold:
//!
//! | line | field                                                        | may be empty |
//! |------|--------------------------------------------------------------|--------------|
//! | 1    | patient record number given by the sender                    | yes          |
//! | 2    | patient last name                                            | no           |
//! | 3    | patient first name                                           | no           |
//! | 4    | address, first line                                          | yes          |
//! | 5    | address, second line                                         | yes          |
//! | 6    | postcode followed by the city                                | yes          |
//! | 7    | birth date, `DD/MM/YYYY`                                     | no           |
//! | 8    | social security number (NIR): 13 characters + 2-digit key    | yes          |
//! | 9    | sender's reference for the document (file or request number) | yes          |
//! | 10   | date of the document or exam, `DD/MM/YYYY`                   | no (here)    |
//! | 11   | sender: a code in the first 10 columns, then the name        | no           |
//! | 12   | recipient: same shape as the sender line                     | no           |
//!
//! From line 13 on comes the free text of the document (some senders leave line 13 blank; it
//! is then simply the first body line). The text ends with a line `****FIN****`, immediately
//! followed by a line `****FINFICHIER****`; readers stop at those markers, so nothing but blank
//! lines may follow. Lab files may carry a structured `****LAB****` section inside the text;
//! this module treats it as ordinary body text. The NIR is often written with spaces (digits
//! grouped, key set apart); spaces are ignored when it is checked.
//!
//! The layout was cross-checked against a public description of the header for Médycs users
//! (bluegyn.com) and the header writers and readers of open-source practice software
//! (MedShakeEHR, Mediboard, FreeMedForms tests). The text is handled as `&str`: decoding the
//! ISO-8859-1 commonly used on the wire is the caller's job.

use std::fmt;

/// Marker line that ends the free text of the document.
pub const END_TAG: &str = "****FIN****";
/// Marker line that ends the file; it must directly follow [`END_TAG`].
pub const END_OF_FILE_TAG: &str = "****FINFICHIER****";
/// Number of header lines before the free text.
pub const HEADER_LINES: usize = 12;
/// Width of the code column at the start of the sender and recipient lines.
pub const PARTY_CODE_WIDTH: usize = 10;

/// The format comes from 80-column terminals and some readers still cut longer lines.
const MAX_HEADER_LINE_CHARS: usize = 80;
/// Older birth dates are almost always typos in the year.
const EARLIEST_BIRTH_YEAR: u16 = 1900;
/// Marks advisory problems, which do not stop [`parse`].
const WARNING_PREFIX: &str = "warning: ";
const NIR_CHARS: usize = 15;
const NIR_NUMBER_CHARS: usize = 13;

/// Names of the twelve header fields, used in user-facing messages.
const FIELD_NAMES: [&str; HEADER_LINES] = [
    "patient record number",
    "patient last name",
    "patient first name",
    "address line 1",
    "address line 2",
    "postcode and city",
    "birth date",
    "social security number (NIR)",
    "document reference",
    "document date",
    "sender",
    "recipient",
];

// 0-based indexes of the header lines that need more than the generic checks.
const LAST_NAME: usize = 1;
const FIRST_NAME: usize = 2;
const BIRTH_DATE: usize = 6;
const NIR: usize = 7;
const DOCUMENT_DATE: usize = 9;
const SENDER: usize = 10;
const RECIPIENT: usize = 11;

/// A calendar date. The field order makes the derived ordering chronological.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Date {
    /// Year, e.g. 2024.
    pub year: u16,
    /// Month, 1 to 12.
    pub month: u8,
    /// Day of the month, starting at 1.
    pub day: u8,
}

/// Why a date string was refused; lint words the two cases differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateFault {
    Format,
    NotReal,
}

impl Date {
    /// Builds a date, refusing days that do not exist (31 April, 29 February 2023...).
    pub fn new(year: u16, month: u8, day: u8) -> Result<Date, String> {
        let date = Date { year, month, day };
        if date.is_real() {
            Ok(date)
        } else {
            Err(format!("{} is not a real date", date.to_iso()))
        }
    }

    /// Parses `YYYY-MM-DD`, checking that the day exists (leap years included).
    pub fn parse_iso(s: &str) -> Result<Date, String> {
        parse_iso_fault(s).map_err(|fault| date_message(s, fault, "YYYY-MM-DD"))
    }

    /// Parses the HPRIM form `DD/MM/YYYY`, checking that the day exists.
    #[cfg(test)]
    pub fn parse_hprim(s: &str) -> Result<Date, String> {
        parse_hprim_fault(s).map_err(|fault| date_message(s, fault, "DD/MM/YYYY"))
    }

    /// Formats as `DD/MM/YYYY`.
    pub fn to_hprim(self) -> String {
        format!("{:02}/{:02}/{:04}", self.day, self.month, self.year)
    }

    /// Formats as `YYYY-MM-DD`.
    pub fn to_iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    fn is_real(&self) -> bool {
        self.year >= 1 && self.day >= 1 && self.day <= days_in_month(self.year, self.month)
    }
}

fn is_leap_year(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Days in `month`, or 0 for a month that does not exist.
fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

fn parse_iso_fault(s: &str) -> Result<Date, DateFault> {
    let [year, month, day] = digit_parts(s, '-', [4, 2, 2]).ok_or(DateFault::Format)?;
    checked_date(year, month, day)
}

fn parse_hprim_fault(s: &str) -> Result<Date, DateFault> {
    let [day, month, year] = digit_parts(s, '/', [2, 2, 4]).ok_or(DateFault::Format)?;
    checked_date(year, month, day)
}

/// Splits `s` on `sep` into exactly three all-digit parts of the given widths.
fn digit_parts(s: &str, sep: char, widths: [usize; 3]) -> Option<[u32; 3]> {
    let mut values = [0; 3];
    let mut parts = s.split(sep);
    for (value, width) in values.iter_mut().zip(widths) {
        let part = parts.next()?;
        if part.len() != width || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *value = part.parse().ok()?;
    }
    parts.next().is_none().then_some(values)
}

fn checked_date(year: u32, month: u32, day: u32) -> Result<Date, DateFault> {
    let narrow = |v: u32| u8::try_from(v).map_err(|_| DateFault::NotReal);
    let year = u16::try_from(year).map_err(|_| DateFault::NotReal)?;
    Date::new(year, narrow(month)?, narrow(day)?).map_err(|_| DateFault::NotReal)
}

fn date_message(value: &str, fault: DateFault, expected: &str) -> String {
    match fault {
        DateFault::Format => format!("\"{value}\" is not in the expected {expected} format"),
        DateFault::NotReal => format!("\"{value}\" is not a real date (expected {expected})"),
    }
}

/// The patient as described by header lines 1 to 8.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Patient {
    /// Line 2.
    pub last_name: String,
    /// Line 3.
    pub first_name: String,
    /// Line 7.
    pub birth_date: Date,
    /// Line 1: the sender's record number for the patient; may be empty.
    pub record_id: String,
    /// Line 4; may be empty.
    pub address1: String,
    /// Line 5; may be empty.
    pub address2: String,
    /// Line 6: postcode then city; may be empty.
    pub postcode_city: String,
    /// Line 8: social security number as written; may be empty.
    pub nir: String,
}

/// The twelve header lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// Lines 1 to 8.
    pub patient: Patient,
    /// Line 9: the sender's reference for the document; may be empty.
    pub reference: String,
    /// Line 10: date of the document or exam.
    pub document_date: Date,
    /// Line 11: code in the first [`PARTY_CODE_WIDTH`] columns, then name (see [`format_party`]).
    pub sender: String,
    /// Line 12: same shape as `sender`.
    pub recipient: String,
}

/// A parsed document: its header and its free text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Document {
    /// The twelve header lines.
    pub header: Header,
    /// The text between the header and `****FIN****`, every line ended by `\n`.
    pub body: String,
}

/// Something wrong with a document, located by line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number; 0 when the problem concerns the whole document.
    pub line: usize,
    /// What is wrong, for the practice's staff; warnings start with `warning: `.
    pub message: String,
}

impl Problem {
    fn at(line: usize, message: impl Into<String>) -> Problem {
        Problem { line, message: message.into() }
    }

    fn warning(line: usize, message: impl fmt::Display) -> Problem {
        Problem::at(line, format!("{WARNING_PREFIX}{message}"))
    }

    /// True for advisory problems, which [`parse`] tolerates.
    pub fn is_warning(&self) -> bool {
        self.message.starts_with(WARNING_PREFIX)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "document: {}", self.message),
            line => write!(f, "line {line}: {}", self.message),
        }
    }
}

/// Why [`build`] refused to produce a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HprimError {
    /// A header field contains a line break, which would shift every following header line.
    LineBreakInField {
        /// The field, e.g. "patient last name".
        field: &'static str,
    },
    /// A header field contains a control character other than tab.
    ControlCharacterInField {
        /// The field, e.g. "sender".
        field: &'static str,
        /// The offending character's Unicode code point.
        code_point: u32,
    },
    /// A header date is not a real calendar date (e.g. a default, all-zero date).
    InvalidDate {
        /// "birth date" or "document date".
        field: &'static str,
        /// The refused date.
        date: Date,
    },
    /// A body line is an end marker: the reader would stop there and lose the rest.
    EndTagInBody {
        /// 1-based line number within the body.
        body_line: usize,
        /// The marker found.
        tag: &'static str,
    },
}

impl fmt::Display for HprimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HprimError::LineBreakInField { field } => {
                write!(f, "the {field} contains a line break; each header field must fit on one line")
            }
            HprimError::ControlCharacterInField { field, code_point } => write!(
                f,
                "the {field} contains the control character U+{code_point:04X}; \
                 header fields may only hold printable text and tabs"
            ),
            HprimError::InvalidDate { field, date } => {
                write!(f, "the {field} {} is not a real calendar date", date.to_iso())
            }
            HprimError::EndTagInBody { body_line, tag } => write!(
                f,
                "line {body_line} of the document text is the marker {tag}; the receiving \
                 software would stop reading there and lose the rest of the text"
            ),
        }
    }
}

impl std::error::Error for HprimError {}

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

fn is_forbidden_control(c: char) -> bool {
    c.is_control() && c != '\t'
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

/// Which end marker a line is, if any. Readers strip lines before comparing, so do we.
fn end_tag(line: &str) -> Option<&'static str> {
    match line.trim() {
        END_TAG => Some(END_TAG),
        END_OF_FILE_TAG => Some(END_OF_FILE_TAG),
        _ => None,
    }
}

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

/// Lists every problem in a document, sorted by line; empty means valid. Warnings (see
/// [`Problem::is_warning`]) are included.
pub fn lint(text: &str) -> Vec<Problem> {
    let lines = split_lines(text);
    // A marker inside the first 12 lines ends the header early for the reader.
    let header_len =
        lines.iter().take(HEADER_LINES).position(|l| end_tag(l).is_some()).unwrap_or(lines.len().min(HEADER_LINES));
    let mut problems = Vec::new();
    if header_len < HEADER_LINES {
        problems.push(short_header(header_len, lines.len()));
    }
    let header = lines.get(..header_len).unwrap_or_default();
    for (index, line) in header.iter().enumerate() {
        lint_line_text(index, line, &mut problems);
    }
    lint_fields(header, &mut problems);
    lint_end_tags(&lines, header_len, &mut problems);
    problems.sort_by_key(|p| p.line);
    problems
}

/// Splits on LF, dropping one CR before each LF; a final line break does not add a line.
fn split_lines(text: &str) -> Vec<&str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.is_empty() {
        return Vec::new();
    }
    text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect()
}

fn find_line(lines: &[&str], from: usize, tag: &str) -> Option<usize> {
    (from..lines.len()).find(|&i| end_tag(lines[i]) == Some(tag))
}

fn short_header(header_len: usize, total: usize) -> Problem {
    let found = if header_len < total {
        format!("only {header_len} line(s) come before the end marker on line {}", header_len + 1)
    } else {
        format!("the document has only {header_len} line(s)")
    };
    Problem::at(
        0,
        format!(
            "the HPRIM header is incomplete: {found}, but it needs {HEADER_LINES} (record number, \
             last name, first name, 2 address lines, postcode and city, birth date, NIR, \
             reference, document date, sender, recipient)"
        ),
    )
}

fn lint_line_text(index: usize, line: &str, problems: &mut Vec<Problem>) {
    let field = FIELD_NAMES[index];
    if let Some(c) = line.chars().find(|&c| is_forbidden_control(c)) {
        let message = format!(
            "{field} contains the control character U+{:04X}; header lines may only hold \
             printable text and tabs",
            u32::from(c)
        );
        problems.push(Problem::at(index + 1, message));
    }
    // Trailing spaces (fixed-width padding) are harmless, so they are not counted.
    let length = line.trim_end().chars().count();
    if length > MAX_HEADER_LINE_CHARS {
        let message = format!(
            "{field} line is {length} characters long; some practice software only reads the \
             first {MAX_HEADER_LINE_CHARS} characters of a header line"
        );
        problems.push(Problem::warning(index + 1, message));
    }
}

/// Checks the content of the header fields present; missing lines were reported already.
fn lint_fields(header: &[&str], problems: &mut Vec<Problem>) {
    let filing = "the receiving software needs it to file the document in the right record";
    lint_required(header, LAST_NAME, filing, problems);
    lint_required(header, FIRST_NAME, filing, problems);
    lint_required(header, SENDER, "it should hold the sender's code and name", problems);
    lint_required(header, RECIPIENT, "it should hold the recipient's code and name", problems);
    let birth = lint_date(header, BIRTH_DATE, problems);
    let document = lint_date(header, DOCUMENT_DATE, problems);
    if let Some(birth) = birth {
        lint_birth_date(birth, document, problems);
    }
    let nir = header.get(NIR).map(|l| l.trim()).filter(|n| !n.is_empty());
    if let Some(Err(message)) = nir.map(check_nir) {
        problems.push(Problem::at(NIR + 1, message));
    }
}

fn lint_required(header: &[&str], index: usize, why: &str, problems: &mut Vec<Problem>) {
    if header.get(index).is_some_and(|l| l.trim().is_empty()) {
        problems.push(Problem::at(index + 1, format!("{} is empty; {why}", FIELD_NAMES[index])));
    }
}

fn lint_date(header: &[&str], index: usize, problems: &mut Vec<Problem>) -> Option<Date> {
    let raw = header.get(index)?.trim();
    let field = FIELD_NAMES[index];
    let result = match raw {
        "" => Err(format!("{field} is missing (expected DD/MM/YYYY)")),
        _ => parse_hprim_fault(raw).map_err(|fault| format!("{field} {}", date_message(raw, fault, "DD/MM/YYYY"))),
    };
    result.map_err(|message| problems.push(Problem::at(index + 1, message))).ok()
}

fn lint_birth_date(birth: Date, document: Option<Date>, problems: &mut Vec<Problem>) {
    let line = BIRTH_DATE + 1;
    if birth.year < EARLIEST_BIRTH_YEAR {
        let message = format!(
            "birth date {} is before {EARLIEST_BIRTH_YEAR}, which is not plausible; check the year",
            birth.to_hprim()
        );
        problems.push(Problem::at(line, message));
    }
    if let Some(document) = document.filter(|&d| birth > d) {
        let message = format!(
            "birth date {} is after the document date {} (line {}); one of them is wrong",
            birth.to_hprim(),
            document.to_hprim(),
            DOCUMENT_DATE + 1
        );
        problems.push(Problem::at(line, message));
    }
}

fn lint_end_tags(lines: &[&str], from: usize, problems: &mut Vec<Problem>) {
    let fin = find_line(lines, from, END_TAG);
    if fin.is_none() {
        problems.push(Problem::at(0, format!("the end-of-text marker {END_TAG} is missing after the text")));
    }
    let Some(end_index) = find_line(lines, from, END_OF_FILE_TAG) else {
        let message = format!(
            "the end-of-file marker {END_OF_FILE_TAG} is missing; it must be the last line, right after {END_TAG}"
        );
        problems.push(Problem::at(0, message));
        return;
    };
    if let Some(index) = fin.filter(|&i| i + 1 != end_index) {
        let found = match lines.get(index + 1).map(|l| l.trim()) {
            None => "the end of the document".to_string(),
            Some("") => "a blank line".to_string(),
            Some(other) => format!("\"{other}\""),
        };
        let message = format!("{END_TAG} must be followed directly by {END_OF_FILE_TAG}, found {found}");
        problems.push(Problem::at(index + 1, message));
    }
    lint_after_end(lines, end_index, problems);
}

/// Readers stop at the end-of-file marker, so any text after it would be silently lost.
fn lint_after_end(lines: &[&str], end_index: usize, problems: &mut Vec<Problem>) {
    let extra: Vec<usize> = (end_index + 1..lines.len()).filter(|&i| !lines[i].trim().is_empty()).collect();
    if let Some(&first) = extra.first() {
        let message = format!(
            "{} non-blank line(s) of text after {END_OF_FILE_TAG}, starting here; the receiving \
             software ignores them, only blank lines may follow the end-of-file marker",
            extra.len()
        );
        problems.push(Problem::at(first + 1, message));
    }
}

/// Checks a French social security number (NIR): 13 characters (digits, or 2A/2B for Corsica
/// at positions 6-7) followed by a 2-digit key equal to 97 minus the number modulo 97. Spaces
/// are ignored. The error says precisely what is wrong.
pub fn check_nir(nir: &str) -> Result<(), String> {
    let label = format!("social security number (NIR) \"{nir}\"");
    let chars: Vec<char> = nir.chars().filter(|&c| c != ' ').collect();
    if chars.len() != NIR_CHARS {
        return Err(format!(
            "{label} has {} characters (spaces not counted); expected {NIR_CHARS}: a \
             {NIR_NUMBER_CHARS}-character number followed by a 2-digit key",
            chars.len()
        ));
    }
    let (number, key) = chars.split_at(NIR_NUMBER_CHARS);
    let value = nir_number_value(number).map_err(|(position, c)| {
        format!(
            "{label} has an invalid character '{c}' at position {position} (spaces not counted); \
             only digits are allowed, except 2A or 2B (Corsica) at positions 6-7"
        )
    })?;
    let key_text: String = key.iter().collect();
    let Some(given) = key.iter().try_fold(0u64, |v, c| Some(v * 10 + u64::from(c.to_digit(10)?))) else {
        return Err(format!("{label} has the key \"{key_text}\"; the key must be 2 digits"));
    };
    let expected = 97 - value % 97;
    if given != expected {
        let number: String = number.iter().collect();
        return Err(format!(
            "{label} has the key {key_text}, but the number {number} requires the key \
             {expected:02}; the number or the key was mistyped"
        ));
    }
    Ok(())
}

/// Numeric value of the 13-character NIR number, or the 1-based position and character of the
/// first invalid one.
fn nir_number_value(number: &[char]) -> Result<u64, (usize, char)> {
    // Corsican départements 2A and 2B count as 19 and 18 when computing the key.
    let corsica = match (number.get(5), number.get(6)) {
        (Some('2'), Some('A')) => Some(['1', '9']),
        (Some('2'), Some('B')) => Some(['1', '8']),
        _ => None,
    };
    number.iter().enumerate().try_fold(0u64, |value, (i, &original)| {
        let c = match corsica {
            Some(substitute) if i == 5 || i == 6 => substitute[i - 5],
            _ => original,
        };
        let digit = c.to_digit(10).ok_or((i + 1, original))?;
        Ok(value * 10 + u64::from(digit))
    })
}

/// Formats a sender or recipient line: the code left-aligned in the first
/// [`PARTY_CODE_WIDTH`] columns, a space, then the name. `None` if the code is too wide,
/// since readers cut it at that width.
pub fn format_party(code: &str, name: &str) -> Option<String> {
    (code.chars().count() <= PARTY_CODE_WIDTH).then(|| format!("{code:<width$} {name}", width = PARTY_CODE_WIDTH))
}

/// Splits a sender or recipient line into its code (first [`PARTY_CODE_WIDTH`] columns) and
/// its name, both trimmed.
pub fn split_party(line: &str) -> (&str, &str) {
    let cut = line.char_indices().nth(PARTY_CODE_WIDTH).map_or(line.len(), |(i, _)| i);
    let (code, name) = line.split_at(cut);
    (code.trim(), name.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: u16, month: u8, day: u8) -> Date {
        Date::new(year, month, day).expect("test date is real")
    }

    /// A NIR made valid by computing its key from the 13-digit number, independently of check_nir.
    fn with_key(number: &str) -> String {
        let value: u64 = number.parse().expect("13 digits");
        format!("{number}{:02}", 97 - value % 97)
    }

    fn sample_header() -> Header {
        Header {
            patient: Patient {
                last_name: "DUPONT".into(),
                first_name: "Marie".into(),
                birth_date: date(1980, 2, 29),
                record_id: "P0042".into(),
                address1: "12 rue des Lilas".into(),
                address2: "Bâtiment B".into(),
                postcode_city: "75011 PARIS".into(),
                nir: with_key("2800275123456"),
            },
            reference: "REQ-117".into(),
            document_date: date(2024, 3, 15),
            sender: format_party("LAB01", "Laboratoire Central").expect("short code"),
            recipient: format_party("DRMARTIN", "Dr Paul Martin").expect("short code"),
        }
    }

    const BODY: &str = "Glycémie : 0,91 g/l\n\nÀ revoir dans 6 mois.\n";

    fn sample_text() -> String {
        build(&sample_header(), BODY).expect("sample header is valid")
    }

    /// The sample document with 1-based line `n` replaced.
    fn with_line(n: usize, value: &str) -> String {
        let text = sample_text();
        let mut lines: Vec<&str> = text.split("\r\n").collect();
        lines[n - 1] = value;
        lines.join("\r\n")
    }

    fn only_problem(text: &str) -> Problem {
        let problems = lint(text);
        assert_eq!(problems.len(), 1, "expected exactly one problem, got {problems:#?}");
        problems.into_iter().next().expect("one problem")
    }

    fn assert_problem(text: &str, line: usize, needle: &str) {
        let problem = only_problem(text);
        assert_eq!(problem.line, line, "{problem}");
        assert!(problem.message.contains(needle), "{problem:?} should mention {needle:?}");
    }

    #[test]
    fn build_writes_header_body_and_markers_with_crlf() {
        let text = sample_text();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines.len(), 12 + 3 + 2 + 1, "{lines:?}");
        assert_eq!(lines[1], "DUPONT");
        assert_eq!(lines[6], "29/02/1980");
        assert_eq!(lines[9], "15/03/2024");
        assert_eq!(lines[10], "LAB01      Laboratoire Central");
        assert_eq!(&lines[12..], ["Glycémie : 0,91 g/l", "", "À revoir dans 6 mois.", END_TAG, END_OF_FILE_TAG, ""]);
        assert!(!text.replace("\r\n", "").contains(['\r', '\n']), "every line ends with CRLF");
        assert_eq!(lint(&text), []);
    }

    #[test]
    fn build_normalises_body_line_endings() {
        let expected = build(&sample_header(), "a\r\nb\r\nc\r\n").expect("valid");
        for body in ["a\nb\nc", "a\rb\rc\r", "a\r\nb\nc\n"] {
            assert_eq!(build(&sample_header(), body).expect("valid"), expected, "{body:?}");
        }
        let empty = build(&sample_header(), "").expect("valid");
        assert!(empty.ends_with("Dr Paul Martin\r\n****FIN****\r\n****FINFICHIER****\r\n"));
    }

    #[test]
    fn build_refuses_unsafe_input() {
        let mut header = sample_header();
        header.patient.last_name = "DUPONT\nMARTIN".into();
        let error = build(&header, "").expect_err("line break");
        assert_eq!(error, HprimError::LineBreakInField { field: "patient last name" });
        assert!(error.to_string().contains("patient last name contains a line break"));

        let mut header = sample_header();
        header.sender = "LAB\u{7}".into();
        let error = build(&header, "").expect_err("control character");
        assert_eq!(error, HprimError::ControlCharacterInField { field: "sender", code_point: 7 });

        let mut header = sample_header();
        header.patient.birth_date = Date::default();
        assert!(matches!(build(&header, ""), Err(HprimError::InvalidDate { field: "birth date", .. })));

        let error = build(&sample_header(), "ok\n  ****FIN****\nlost").expect_err("end tag");
        assert_eq!(error, HprimError::EndTagInBody { body_line: 2, tag: END_TAG });
        let error = build(&sample_header(), "****FINFICHIER****").expect_err("end tag");
        assert!(error.to_string().starts_with("line 1 of the document text is the marker ****FINFICHIER****"));
    }

    #[test]
    fn round_trip_build_then_parse() {
        let document = parse(&sample_text()).expect("valid document");
        assert_eq!(document, Document { header: sample_header(), body: BODY.to_string() });
        assert_eq!(split_party(&document.header.sender), ("LAB01", "Laboratoire Central"));
    }

    #[test]
    fn parse_accepts_lf_and_crlf_alike() {
        let crlf = sample_text();
        let lf = crlf.replace("\r\n", "\n");
        assert_eq!(parse(&lf).expect("LF"), parse(&crlf).expect("CRLF"));
        let unterminated = lf.trim_end_matches('\n');
        assert_eq!(parse(unterminated).expect("no final newline").body, BODY);
    }

    #[test]
    fn parse_trims_padded_fields_and_keeps_party_columns() {
        let text = with_line(9, "    506232   ").replace("DUPONT", "DUPONT        ");
        let document = parse(&text).expect("padding is fine");
        assert_eq!(document.header.reference, "506232");
        assert_eq!(document.header.patient.last_name, "DUPONT");
        let text = with_line(11, "          Laboratoire Central   ");
        let document = parse(&text).expect("empty code is fine");
        assert_eq!(split_party(&document.header.sender), ("", "Laboratoire Central"));
    }

    #[test]
    fn parse_reports_errors_but_tolerates_warnings() {
        let problems = parse(&with_line(2, "")).expect_err("empty last name");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 2);
        let long_city = format!("75011 {}", "PARIS ".repeat(15));
        let text = with_line(6, &long_city);
        let problem = only_problem(&text);
        assert!(problem.is_warning() && problem.line == 6, "{problem}");
        assert!(problem.message.starts_with("warning: postcode and city line is 95 characters long"));
        assert_eq!(parse(&text).expect("warning only").header.patient.postcode_city, long_city.trim());
    }

    #[test]
    fn problem_display_names_line_and_field() {
        let problem = only_problem(&with_line(7, "31/02/1980"));
        assert_eq!(problem.to_string(), "line 7: birth date \"31/02/1980\" is not a real date (expected DD/MM/YYYY)");
        let problem = Problem { line: 0, message: "x".into() };
        assert_eq!(problem.to_string(), "document: x");
    }

    #[test]
    fn lint_short_header() {
        let problems = lint("DOE\nJohn\n");
        assert_eq!(problems.len(), 3, "short header, no ****FIN****, no ****FINFICHIER****: {problems:#?}");
        assert!(problems[0].message.contains("the document has only 2 line(s)"));
        let text = "1\nDOE\nJohn\n\n\n\n01/01/1980\n****FIN****\n****FINFICHIER****\n";
        assert_problem(text, 0, "only 7 line(s) come before the end marker on line 8");
    }

    #[test]
    fn lint_empty_names_and_parties() {
        assert_problem(&with_line(2, "  "), 2, "patient last name is empty");
        assert_problem(&with_line(3, ""), 3, "patient first name is empty");
        assert_problem(&with_line(11, ""), 11, "sender is empty");
        assert_problem(&with_line(12, " "), 12, "recipient is empty");
    }

    #[test]
    fn lint_dates() {
        assert_problem(&with_line(7, "1980-02-29"), 7, "\"1980-02-29\" is not in the expected DD/MM/YYYY format");
        assert_problem(&with_line(7, ""), 7, "birth date is missing");
        assert_problem(&with_line(10, "29/02/2023"), 10, "document date \"29/02/2023\" is not a real date");
        assert_problem(&with_line(10, "15/3/2024"), 10, "document date \"15/3/2024\" is not in the expected");
        assert_problem(&with_line(7, "16/03/2024"), 7, "birth date 16/03/2024 is after the document date 15/03/2024");
        assert_problem(&with_line(7, "01/01/1850"), 7, "birth date 01/01/1850 is before 1900");
    }

    #[test]
    fn lint_nir() {
        assert_problem(&with_line(8, "2800275123"), 8, "has 10 characters (spaces not counted); expected 15");
        assert_problem(&with_line(8, "28002X5123456 12"), 8, "invalid character 'X' at position 6");
        assert_problem(&with_line(8, "2800275123456 1A"), 8, "has the key \"1A\"");
        let valid = with_key("2800275123456");
        let wrong_key = format!("2800275123456{:02}", valid[13..].parse::<u64>().expect("key") % 97 + 1);
        assert_problem(&with_line(8, &wrong_key), 8, "but the number 2800275123456 requires the key");
        // Spaces between digit groups and before the key are common and accepted.
        let spaced = format!("2 80 02 75 123 456 {}", &valid[13..]);
        assert_eq!(lint(&with_line(8, &spaced)), []);
        assert_eq!(lint(&with_line(8, "")), [], "the NIR is optional");
    }

    #[test]
    fn nir_key_and_corsica() {
        let valid = with_key("1840375123456");
        assert_eq!(check_nir(&valid), Ok(()));
        let mut wrong = valid.clone();
        wrong.replace_range(13.., if &valid[13..] == "01" { "02" } else { "01" });
        assert!(check_nir(&wrong).expect_err("wrong key").contains("requires the key"));
        // Corsica: the key of 2A is computed as if it were 19, and 2B as 18.
        let key_2a = &with_key("1840319004123")[13..];
        let key_2b = &with_key("1840318004123")[13..];
        assert_eq!(check_nir(&format!("18403 2A 004 123 {key_2a}")), Ok(()));
        assert_eq!(check_nir(&format!("184032B004123{key_2b}")), Ok(()));
        assert!(check_nir(&format!("184032B004123{key_2a}")).is_err(), "2A key does not fit 2B");
        assert!(check_nir("184032C00412301").expect_err("2C").contains("invalid character 'C' at position 7"));
        assert!(check_nir("18403A2004123 01").expect_err("A2").contains("invalid character 'A' at position 6"));
    }

    #[test]
    fn lint_end_markers() {
        let text = sample_text();
        assert_problem(&text.replace("****FIN****\r\n", ""), 0, "end-of-text marker ****FIN**** is missing");
        assert_problem(&text.replace("****FINFICHIER****\r\n", ""), 0, "****FINFICHIER**** is missing");
        let gap = text.replace("****FIN****\r\n", "****FIN****\r\n\r\n");
        assert_problem(&gap, 16, "must be followed directly by ****FINFICHIER****, found a blank line");
        let swapped = text.replace("****FIN****\r\n****FINFICHIER****\r\n", "****FINFICHIER****\r\n****FIN****\r\n");
        let problems: Vec<(usize, bool)> =
            lint(&swapped).iter().map(|p| (p.line, p.message.contains("found the end of the document"))).collect();
        assert_eq!(problems, [(17, true), (17, false)], "****FIN**** is last, and is text after the end");
        assert_problem(&format!("{text}\r\n  \r\nP.S. merci\r\nfin\r\n"), 20, "2 non-blank line(s) of text after");
        assert_eq!(lint(&format!("{text}\r\n \r\n")), [], "blank lines after the end are fine");
    }

    #[test]
    fn lint_control_characters_and_reports_everything() {
        assert_problem(&with_line(2, "DUP\u{1b}ONT"), 2, "patient last name contains the control character U+001B");
        assert_eq!(lint(&with_line(4, "12\true des Lilas")), [], "tabs are allowed");
        let text = with_line(3, "").replace("15/03/2024", "32/03/2024").replace("****FINFICHIER****", "");
        let lines: Vec<usize> = lint(&text).iter().map(|p| p.line).collect();
        assert_eq!(lines, [0, 3, 10]);
    }

    #[test]
    fn dates_parse_and_format() {
        assert_eq!(Date::parse_iso("2024-02-29"), Ok(date(2024, 2, 29)));
        assert_eq!(Date::parse_hprim("29/02/2024"), Ok(date(2024, 2, 29)));
        assert_eq!(Date::parse_hprim("29/02/2000"), Ok(date(2000, 2, 29)));
        assert_eq!(
            Date::parse_hprim("29/02/2023"),
            Err("\"29/02/2023\" is not a real date (expected DD/MM/YYYY)".into())
        );
        for bad in ["2023-02-29", "1900-02-29", "2024-04-31", "2024-13-01", "2024-00-10", "0000-01-01"] {
            assert!(Date::parse_iso(bad).expect_err(bad).contains("not a real date"), "{bad}");
        }
        for bad in ["2024-2-29", "24-02-29", "2024/02/29", "2024-02-29-01", "２024-02-29", ""] {
            assert!(Date::parse_iso(bad).expect_err(bad).contains("expected YYYY-MM-DD format"), "{bad}");
        }
        let d = date(987, 1, 5);
        assert_eq!((d.to_iso(), d.to_hprim()), ("0987-01-05".to_string(), "05/01/0987".to_string()));
        assert!(date(1999, 12, 31) < date(2000, 1, 1));
        assert!(Date::new(2023, 2, 29).is_err());
    }

    #[test]
    fn party_lines() {
        assert_eq!(format_party("ABC", "Dr X").as_deref(), Some("ABC        Dr X"));
        assert_eq!(format_party("ABCDEFGHIJK", "Dr X"), None);
        assert_eq!(split_party("ABCDEFGHIJDr X"), ("ABCDEFGHIJ", "Dr X"));
        assert_eq!(split_party("short"), ("short", ""));
    }
}
