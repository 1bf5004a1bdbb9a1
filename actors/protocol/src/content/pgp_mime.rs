//! The common case read directly: a PGP/MIME message (RFC 3156 §4) in the layout mail
//! programs write — CRLF lines, a `multipart/encrypted` of the `Version: 1` control part and
//! one armoured OpenPGP message, blank or stock text around them.
//!
//! Written by hand rather than taken from mail-parser because mail-parser looks for a
//! multipart's delimiters by reading the body a byte at a time: on a 7.7 kB message that scan
//! was a third of the whole content check's time (docs/benchmarks.md). Here the delimiters are
//! found with memchr's vector search, and the rest is a few header lines.
//!
//! It reads a strict subset of MIME: CRLF line ends, the part fields it knows, no comments,
//! no quoted pairs, no encoded parameters, no transport padding after a delimiter, and no
//! delimiter-like bytes anywhere but on the three delimiter lines. A message outside that
//! subset, however lawful, goes the general way (mail-parser and the walk of
//! [`super::check_encrypted_message`]), and so does every message this reader would refuse:
//! it only ever accepts, and only what the general check accepts with the same findings
//! (tests/content_fast_path.rs compares the two on mutated messages).

use memchr::memmem;

use super::{check_openpgp, is_version_part, EncryptedContent, ARMOR_BEGIN, MIME_PREAMBLES_ACCEPTED};
use crate::header_block::{fields, split_entity, CRLF};

/// Longest boundary RFC 2046 §5.1.1 allows.
const BOUNDARY_CHARS_MAX: usize = 70;

/// What an RFC 3156 message in the layout read here holds, once its OpenPGP data has passed
/// [`check_openpgp`]; `None` for any other message, and for one that would be refused.
pub fn accept(raw: &[u8]) -> Option<EncryptedContent> {
    let (headers, body) = split_entity(raw)?;
    let media = only_content_type(headers, |name, value| {
        // The message's other fields are not the content check's; a MIME field other than
        // the type and an identity encoding sends the message the general way.
        !is_content_field(name) || is_identity_encoding(name, value)
    })?;
    if !media.is(b"multipart/encrypted") {
        return None;
    }
    let (mut protocol, mut boundary) = (None, None);
    for &(name, value) in &media.parameters {
        let slot = if name.eq_ignore_ascii_case(b"protocol") {
            &mut protocol
        } else if name.eq_ignore_ascii_case(b"boundary") {
            &mut boundary
        } else {
            return None;
        };
        if slot.replace(value).is_some() {
            return None; // a parameter given twice
        }
    }
    if !protocol?.eq_ignore_ascii_case(b"application/pgp-encrypted") {
        return None;
    }
    let boundary = boundary.filter(|b| is_plain_boundary(b))?;
    let [control, data] = two_parts(body, boundary)?;

    let (headers, text) = split_entity(control)?;
    let control_type = only_content_type(headers, is_part_field)?;
    if !control_type.is(b"application/pgp-encrypted") || !control_type.parameters.is_empty() || !is_version_part(text) {
        return None;
    }

    let (headers, armoured) = split_entity(data)?;
    let data_type = only_content_type(headers, is_part_field)?;
    let named_only = data_type.parameters.iter().all(|(name, _)| name.eq_ignore_ascii_case(b"name"));
    if !data_type.is(b"application/octet-stream")
        || !named_only
        || !armoured.trim_ascii_start().starts_with(ARMOR_BEGIN)
    {
        return None;
    }
    let mut content = EncryptedContent { recipients: Vec::new(), encrypted_parts: 0 };
    check_openpgp(armoured, &mut content).ok()?;
    Some(content)
}

/// The control part and the data part of a body whose only delimiter-like bytes are its
/// three delimiter lines — `--b` opening each part, `--b--` closing — each at a line's start
/// and ended by CRLF (the closing one: by CRLF or the body's end), with a blank or stock
/// preamble and a blank epilogue. The CRLF before a delimiter belongs to it (RFC 2046 §5.1.1).
fn two_parts<'a>(body: &'a [u8], boundary: &[u8]) -> Option<[&'a [u8]; 2]> {
    let delimiter = [b"--", boundary].concat();
    let finder = memmem::Finder::new(&delimiter);
    // Every occurrence, overlapping ones too: mail-parser would take any of them for a
    // delimiter, so a fourth anywhere sends the message the general way.
    let mut found = [0; 3];
    let (mut count, mut from) = (0, 0);
    while let Some(at) = body.get(from..).and_then(|rest| finder.find(rest)) {
        *found.get_mut(count)? = from + at;
        count += 1;
        from += at + 1;
    }
    let [open, middle, close] = found;
    if count != 3 || ![open, middle, close].iter().all(|&at| at == 0 || body[..at].ends_with(CRLF)) {
        return None;
    }
    // A part runs from its delimiter line's CRLF to the CRLF before the next delimiter.
    let part = |at: usize, next: usize| {
        let start = at + delimiter.len();
        body[start..].starts_with(CRLF).then_some(())?;
        body.get(start + CRLF.len()..next - CRLF.len())
    };
    let [first, second] = [part(open, middle)?, part(middle, close)?];
    let epilogue = body[close + delimiter.len()..].strip_prefix(b"--")?;
    let preamble = body[..open].trim_ascii();
    let stock_preamble = preamble.is_empty() || MIME_PREAMBLES_ACCEPTED.iter().any(|s| s.as_bytes() == preamble);
    if !stock_preamble || !epilogue.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    Some([first, second])
}

/// The media type of a header block that names exactly one, every other field passing
/// `allowed`; `None` when a line is not a plain field or its continuation.
fn only_content_type<'a>(headers: &'a [u8], allowed: impl Fn(&[u8], &[u8]) -> bool) -> Option<MediaType<'a>> {
    let mut content_type = None;
    for (name, value) in fields(headers)? {
        if name.eq_ignore_ascii_case(b"content-type") {
            if content_type.replace(value).is_some() {
                return None;
            }
        } else if !allowed(name, value) {
            return None;
        }
    }
    MediaType::parse(content_type?)
}

/// A part's fields besides its type: an identity transfer encoding, a description, a
/// disposition. Nothing in them changes how its content is read.
fn is_part_field(name: &[u8], value: &[u8]) -> bool {
    is_identity_encoding(name, value)
        || name.eq_ignore_ascii_case(b"content-description")
        || name.eq_ignore_ascii_case(b"content-disposition")
}

fn is_content_field(name: &[u8]) -> bool {
    name.get(..8).is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"content-"))
}

/// `Content-Transfer-Encoding: 7bit` or `8bit`: the content is its bytes as they stand.
fn is_identity_encoding(name: &[u8], value: &[u8]) -> bool {
    let value = value.trim_ascii();
    name.eq_ignore_ascii_case(b"content-transfer-encoding")
        && (value.eq_ignore_ascii_case(b"7bit") || value.eq_ignore_ascii_case(b"8bit"))
}

/// A `Content-Type` value: `type/subtype` and its `name=value` parameters, values unquoted.
struct MediaType<'a> {
    essence: &'a [u8],
    parameters: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> MediaType<'a> {
    /// `None` for what the general way reads better: comments, quoted pairs, RFC 2231
    /// parameters (`name*=`), a quoted string folded over lines, anything not a token.
    fn parse(value: &'a [u8]) -> Option<MediaType<'a>> {
        if value.iter().any(|b| matches!(b, b'(' | b'\\')) {
            return None;
        }
        let mut rest = trim_start(value);
        let end = rest.iter().position(|&b| b == b';' || is_space(b)).unwrap_or(rest.len());
        let essence = &rest[..end];
        let (kind, subtype) = essence.split_at(memchr::memchr(b'/', essence)?);
        if !is_token(kind) || !is_token(&subtype[1..]) {
            return None;
        }
        rest = &rest[end..];
        let mut parameters = Vec::with_capacity(2);
        loop {
            rest = trim_start(rest);
            if rest.is_empty() {
                break;
            }
            rest = trim_start(rest.strip_prefix(b";")?);
            if rest.is_empty() {
                break; // a last semicolon with nothing after it
            }
            let equals = memchr::memchr(b'=', rest)?;
            let name = &rest[..equals];
            if !is_token(name) || name.contains(&b'*') {
                return None;
            }
            rest = &rest[equals + 1..];
            let value = if let Some(quoted) = rest.strip_prefix(b"\"") {
                let close = memchr::memchr(b'"', quoted)?;
                rest = &quoted[close + 1..];
                &quoted[..close]
            } else {
                let end = rest.iter().position(|&b| !is_token_char(b)).unwrap_or(rest.len());
                let token = &rest[..end];
                rest = &rest[end..];
                token
            };
            if value.is_empty() || !value.iter().all(|b| (0x20..=0x7e).contains(b)) {
                return None;
            }
            parameters.push((name, value));
        }
        Some(MediaType { essence, parameters })
    }

    fn is(&self, essence: &[u8]) -> bool {
        self.essence.eq_ignore_ascii_case(essence)
    }
}

/// Space, tab, and the CRLF of a folded line.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| !is_space(b)).unwrap_or(bytes.len());
    &bytes[start..]
}

/// RFC 2045 §5.1's token: printable ASCII but space and the specials.
fn is_token_char(byte: u8) -> bool {
    // 0x21–0x7e less `"(),/:;<=>?@[\]`, as ranges.
    matches!(byte, b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'0'..=b'9' | b'A'..=b'Z' | b'^'..=b'~')
}

fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| is_token_char(b))
}

/// A boundary of RFC 2046's characters, no space, nothing an encoded word could start
/// with (`?`) and no parentheses (read as comments by some).
fn is_plain_boundary(boundary: &[u8]) -> bool {
    (1..=BOUNDARY_CHARS_MAX).contains(&boundary.len())
        && boundary.iter().all(|&b| b.is_ascii_alphanumeric() || b"'+_,-./:=".contains(&b))
}
