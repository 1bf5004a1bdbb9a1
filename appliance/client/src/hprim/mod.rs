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

mod build;
mod date;
mod lint;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;

pub use build::{build, format_party};
pub use date::Date;
pub use lint::lint;
pub use parse::{parse, split_party};

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

/// Control characters other than TAB, which no header field or body line may hold.
fn is_forbidden_control(c: char) -> bool {
    c.is_control() && c != '\t'
}

/// Which end marker a line is, if any. Readers strip lines before comparing, so do we.
fn end_tag(line: &str) -> Option<&'static str> {
    match line.trim() {
        END_TAG => Some(END_TAG),
        END_OF_FILE_TAG => Some(END_OF_FILE_TAG),
        _ => None,
    }
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

/// The first line from `from` on that is the end marker `tag`.
fn find_line(lines: &[&str], from: usize, tag: &str) -> Option<usize> {
    (from..lines.len()).find(|&i| end_tag(lines[i]) == Some(tag))
}
