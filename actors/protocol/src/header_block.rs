//! A header block read directly (RFC 5322 §2.2), for the common case: CRLF lines, each a
//! field `Name: value` (a name of letters, digits and hyphens) or its continuation. Anything
//! else gives `None`, and the caller reads the message the general way (mail-parser), which
//! knows every oddity; where a caller takes this way, it only ever finds what mail-parser
//! finds (the callers' property tests compare the two).

use std::sync::LazyLock;

use memchr::memmem;

pub(crate) const CRLF: &[u8] = b"\r\n";

/// The end of a header block, searched for in every entity: its searcher is built once.
static BLANK_LINE: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\r\n\r\n"));

/// An entity's header block (its field lines, each with its CRLF) and its content, split at
/// the first blank line; `None` without one, or without any field.
pub(crate) fn split_entity(entity: &[u8]) -> Option<(&[u8], &[u8])> {
    if entity.starts_with(CRLF) {
        return None;
    }
    let end = BLANK_LINE.find(entity)?;
    Some((&entity[..end + CRLF.len()], &entity[end + 2 * CRLF.len()..]))
}

/// The fields of a header block as (name, value), a value running over its continuation
/// lines (their CRLFs kept). `None` for a line that is neither `Name: value` with a name of
/// letters, digits and hyphens nor a continuation holding more than whitespace, and for a CR
/// or LF standing alone.
pub(crate) fn fields(headers: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut fields: Vec<(&[u8], &[u8])> = Vec::with_capacity(8);
    // Where the value of the field being read starts.
    let mut value_start = 0;
    let mut line_start = 0;
    for newline in memchr::memchr_iter(b'\n', headers) {
        let line = headers[line_start..newline].strip_suffix(b"\r")?;
        if memchr::memchr(b'\r', line).is_some() {
            return None;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            let last = fields.last_mut()?;
            if line.trim_ascii().is_empty() {
                return None; // a whitespace line: some readers end the header block there
            }
            last.1 = &headers[value_start..line_start + line.len()];
        } else {
            let colon = memchr::memchr(b':', line)?;
            let name = &line[..colon];
            if name.is_empty() || !name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-') {
                return None;
            }
            value_start = line_start + colon + 1;
            fields.push((name, &line[colon + 1..]));
        }
        line_start = newline + 1;
    }
    (line_start == headers.len()).then_some(fields)
}
