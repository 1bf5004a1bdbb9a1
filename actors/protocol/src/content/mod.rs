//! The encrypted-content policy (SPEC R-MSG-2): a message body is accepted only if every
//! part that carries content is an OpenPGP message — PKESK packets followed by one
//! encrypted data packet — checked structurally, without any key and without decrypting.
//!
//! Accepted shapes: PGP/MIME (`multipart/encrypted; protocol="application/pgp-encrypted"`,
//! RFC 3156), a single-part body that is an OpenPGP message (inline, ASCII-armoured or
//! binary), and multipart bodies whose every leaf is an OpenPGP message or blank text.
//!
//! Clear text has no place anywhere in the body: not in the PGP/MIME control part (only
//! `Version: 1`), not in a multipart preamble or epilogue (blank, or one of the stock
//! sentences mail programs write there, [`MIME_PREAMBLES_ACCEPTED`]), not after an armour's
//! END line, and in armour headers only as a few short printable lines under the names
//! RFC 9580 §6.2.2 defines ([`ARMOUR_HEADER_NAMES`], [`ARMOUR_HEADER_LINES_MAX`],
//! [`ARMOUR_HEADER_LINE_CHARS_MAX`]). Message and part headers are not checked here.

mod packets;
pub mod pgp_mime;

use std::sync::LazyLock;

use mail_parser::{MessageParser, MessagePart, MimeHeaders, PartType};
use sequoia_openpgp::parse::{Dearmor, PacketParserBuilder, PacketParserResult, Parse};
use sequoia_openpgp::{KeyHandle, Packet};

/// Deepest MIME nesting looked at; deeper bodies are refused rather than walked.
pub const MIME_DEPTH_MAX: usize = 8;

/// The only text a multipart body may hold outside its parts, besides blank lines: the
/// sentences mail programs write in the preamble for readers without MIME (Thunderbird
/// and Enigmail before a PGP/MIME message, most mail programs before any multipart).
/// Compared whole, once the preamble is trimmed of whitespace.
pub const MIME_PREAMBLES_ACCEPTED: &[&str] = &[
    "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)",
    "This is an OpenPGP/MIME encrypted message (RFC 2440 and 3156)",
    "This is a multi-part message in MIME format.",
    "This is a multi-part message in MIME format",
    "This is a multipart message in MIME format.",
    "This is a MIME-encapsulated message",
];

/// The armour header names a PGP MESSAGE block may carry (RFC 9580 §6.2.2; `Hash` belongs
/// to cleartext signatures only). gpg writes `Version` with `--emit-version` and `Comment`
/// with `--comment`; Enigmail, GPGTools, Mailvelope and OpenPGP.js write one of each.
pub const ARMOUR_HEADER_NAMES: &[&str] = &["Version", "Comment", "Charset"];

/// Most armour header lines accepted in one armour block: a comment is still clear text,
/// so only a few short lines of it travel.
pub const ARMOUR_HEADER_LINES_MAX: usize = 4;

/// Longest armour header line accepted, in characters (printable ASCII only), name included.
pub const ARMOUR_HEADER_LINE_CHARS_MAX: usize = 80;

/// What the check learnt of an accepted message.
#[derive(Debug, Clone, PartialEq)]
pub struct EncryptedContent {
    /// The key each PKESK packet names (`None` for an anonymous "wildcard" recipient),
    /// over every encrypted part.
    pub recipients: Vec<Option<KeyHandle>>,
    /// How many OpenPGP messages the body holds.
    pub encrypted_parts: usize,
}

/// Why a body is refused. Each message is a sentence for the sender; none repeats the
/// refused text, so that a refusal logged or shown carries no clear text either.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// mail-parser found no message in the bytes.
    #[error("the message is not a readable MIME message")]
    NotMime,
    /// Every part was blank or a control part.
    #[error("the message holds no OpenPGP-encrypted content")]
    NoEncryptedPart,
    /// A leaf part is neither blank nor OpenPGP data.
    #[error("a part of the message is readable text, not OpenPGP-encrypted data")]
    CleartextPart,
    /// A multipart/encrypted body that is not RFC 3156's two parts.
    #[error("a multipart/encrypted body must use protocol application/pgp-encrypted with two parts")]
    MalformedPgpMime,
    /// The PGP/MIME control part holds more than its version line.
    #[error("the PGP/MIME control part (application/pgp-encrypted) may hold only \"Version: 1\"")]
    ClearControlPart,
    /// Text outside the parts of a multipart body.
    #[error("the multipart {0} holds readable text; only blank lines may stand outside the parts of a message")]
    TextOutsideParts(&'static str),
    /// Text after an armour's `-----END PGP MESSAGE-----` line.
    #[error("readable text follows the end of the OpenPGP armour (-----END PGP MESSAGE-----)")]
    TextAfterArmour,
    /// An armour header line outside the accepted names and bounds.
    #[error(
        "an OpenPGP armour header is refused ({0}); at most {lines} Version, Comment or Charset \
         lines of at most {chars} printable ASCII characters may stand there",
        lines = ARMOUR_HEADER_LINES_MAX,
        chars = ARMOUR_HEADER_LINE_CHARS_MAX
    )]
    ArmourHeader(&'static str),
    /// The packets or their armour could not be read.
    #[error("the OpenPGP data is malformed: {0}")]
    MalformedOpenPgp(String),
    /// Only symmetric (password) session keys.
    #[error("the OpenPGP data is not encrypted to any public key (no PKESK packet)")]
    NoRecipientKey,
    /// A literal, signature, compressed or other readable packet outside the encryption.
    #[error("the OpenPGP data holds a {0} packet where only encryption packets may stand")]
    UnexpectedPacket(String),
    /// Deeper than [`MIME_DEPTH_MAX`].
    #[error("the MIME structure is nested too deeply")]
    TooDeep,
    /// A null sender's message that is not a delivery status notification of the accepted
    /// shape (see [`check_delivery_report`]).
    #[error("a message from the null sender must be a delivery status notification: {0}")]
    NotAReport(&'static str),
}

/// Longest human-readable part, delivery-status part or returned header block of a
/// delivery status notification.
pub const REPORT_PART_BYTES_MAX: usize = 16 * 1024;

/// Checks what a peer operator sends from the null sender (`MAIL FROM:<>`): a delivery
/// status notification (RFC 3464) — a `multipart/report` of report-type `delivery-status`
/// holding a short human-readable `text/plain` part, the `message/delivery-status` part,
/// and at most one returned copy: the original's headers (`text/rfc822-headers`) or the
/// original message (`message/rfc822`), which must itself pass
/// [`check_encrypted_message`]. A report is metadata about a delivery; no document travels
/// in clear with it. Its recipients' keys are not asked for (it is addressed to no key).
pub fn check_delivery_report(raw: &[u8]) -> Result<EncryptedContent, ContentError> {
    let message = MessageParser::default().parse(raw).ok_or(ContentError::NotMime)?;
    let root = message.part(0).ok_or(ContentError::NotMime)?;
    let is_report = media_type(root) == ("multipart".into(), Some("report".into()))
        && root
            .content_type()
            .and_then(|ct| ct.attribute("report-type"))
            .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"));
    let PartType::Multipart(children) = &root.body else {
        return Err(ContentError::NotAReport("it is not a multipart/report"));
    };
    if !is_report {
        return Err(ContentError::NotAReport("it is not a multipart/report of report-type delivery-status"));
    }
    let mut content = EncryptedContent { recipients: Vec::new(), encrypted_parts: 0 };
    let (mut text, mut status, mut returned) = (0, 0, 0);
    for child in children {
        let part = message.part(*child).ok_or(ContentError::NotMime)?;
        let (kind, subtype) = media_type(part);
        match (kind.as_str(), subtype.as_deref(), &part.body) {
            ("text", Some("plain"), _) if text == 0 && status == 0 => text += 1,
            ("message", Some("delivery-status") | Some("global-delivery-status"), _) if status == 0 => status += 1,
            ("text", Some("rfc822-headers"), _) if returned == 0 => returned += 1,
            ("message", Some("rfc822"), PartType::Message(original)) if returned == 0 => {
                let checked = check_encrypted_message(original.raw_message())
                    .map_err(|_| ContentError::NotAReport("the returned message is not OpenPGP-encrypted"))?;
                content.recipients.extend(checked.recipients);
                content.encrypted_parts += checked.encrypted_parts;
                returned += 1;
                continue;
            }
            _ => return Err(ContentError::NotAReport("a part is neither its text, its status nor a returned copy")),
        }
        if part.contents().len() > REPORT_PART_BYTES_MAX {
            return Err(ContentError::NotAReport("a part is longer than a report's"));
        }
    }
    if status == 0 {
        return Err(ContentError::NotAReport("it has no message/delivery-status part"));
    }
    Ok(content)
}

/// The parser for the content check: the MIME fields are read (what the parts are and how
/// they are encoded), every other field is skipped rather than parsed into addresses,
/// dates and identifiers nobody here reads. (The parse's time is mostly the scan of the body
/// for its boundaries, which this does not change: docs/benchmarks.md, 2026-12-01.)
static MIME_PARSER: LazyLock<MessageParser> =
    LazyLock::new(|| MessageParser::new().with_mime_headers().default_header_ignore());

/// Checks a whole RFC 5322 message: the common PGP/MIME layout read directly
/// ([`pgp_mime::accept`]), anything else, and every refusal, by mail-parser's reading.
pub fn check_encrypted_message(raw: &[u8]) -> Result<EncryptedContent, ContentError> {
    match pgp_mime::accept(raw) {
        Some(content) => Ok(content),
        None => check_parsed_message(raw),
    }
}

/// Checks a whole message as mail-parser reads it, whatever its layout.
pub fn check_parsed_message(raw: &[u8]) -> Result<EncryptedContent, ContentError> {
    let message = MIME_PARSER.parse(raw).ok_or(ContentError::NotMime)?;
    let mut content = EncryptedContent { recipients: Vec::new(), encrypted_parts: 0 };
    let walk = Walk { raw, message: &message };
    walk.check_part(0, 0, &mut content)?;
    if content.encrypted_parts == 0 {
        return Err(ContentError::NoEncryptedPart);
    }
    Ok(content)
}

/// One message being walked: its raw bytes (the parts' offsets point into them) and its
/// parsed form.
struct Walk<'a, 'x> {
    raw: &'a [u8],
    message: &'a mail_parser::Message<'x>,
}

/// A part's MIME type, lower-cased; `text/plain` when it names none (RFC 2045 §5.2).
fn media_type(part: &MessagePart<'_>) -> (String, Option<String>) {
    part.content_type()
        .map(|ct| (ct.ctype().to_ascii_lowercase(), ct.subtype().map(str::to_ascii_lowercase)))
        .unwrap_or_else(|| ("text".into(), Some("plain".into())))
}

impl Walk<'_, '_> {
    fn part(&self, part_id: u32) -> Result<&MessagePart<'_>, ContentError> {
        self.message.part(part_id).ok_or(ContentError::NotMime)
    }

    fn check_part(&self, part_id: u32, depth: usize, content: &mut EncryptedContent) -> Result<(), ContentError> {
        if depth > MIME_DEPTH_MAX {
            return Err(ContentError::TooDeep);
        }
        let part = self.part(part_id)?;
        match &part.body {
            PartType::Multipart(children) => {
                self.check_outside_parts(part, children)?;
                if media_type(part).1.as_deref() == Some("encrypted") {
                    return self.check_pgp_mime(part, children, content);
                }
                for child in children {
                    self.check_part(*child, depth + 1, content)?;
                }
                Ok(())
            }
            PartType::Message(_) => Err(ContentError::CleartextPart),
            _ => check_leaf(part, content),
        }
    }

    /// RFC 3156 §4: the control part, which carries only `Version: 1`, then the data.
    fn check_pgp_mime(
        &self,
        part: &MessagePart<'_>,
        children: &[u32],
        content: &mut EncryptedContent,
    ) -> Result<(), ContentError> {
        let protocol = part.content_type().and_then(|ct| ct.attribute("protocol"));
        let &[control, data] = children else {
            return Err(ContentError::MalformedPgpMime);
        };
        if !protocol.is_some_and(|p| p.eq_ignore_ascii_case("application/pgp-encrypted")) {
            return Err(ContentError::MalformedPgpMime);
        }
        let control = self.part(control)?;
        let control_type = media_type(control);
        if !is_leaf(control)
            || (control_type.0.as_str(), control_type.1.as_deref()) != ("application", Some("pgp-encrypted"))
        {
            return Err(ContentError::MalformedPgpMime);
        }
        if !is_version_part(control.contents()) {
            return Err(ContentError::ClearControlPart);
        }
        let data = self.part(data)?;
        if !is_leaf(data) {
            return Err(ContentError::MalformedPgpMime);
        }
        check_openpgp(data.contents(), content)
    }

    /// The bytes of a multipart body that belong to none of its parts — the preamble, the
    /// delimiter lines, the epilogue — hold only whitespace and delimiters, and the
    /// preamble at most one of [`MIME_PREAMBLES_ACCEPTED`]. Parts' headers are not checked.
    fn check_outside_parts(&self, part: &MessagePart<'_>, children: &[u32]) -> Result<(), ContentError> {
        let boundary = part.content_type().and_then(|ct| ct.attribute("boundary")).unwrap_or_default();
        let delimiter = [b"--", boundary.as_bytes()].concat();
        let mut from = part.raw_body_offset() as usize;
        for (index, child) in children.iter().enumerate() {
            let child = self.part(*child)?;
            let gap = self.between(from, child.raw_header_offset() as usize);
            if index == 0 {
                check_preamble(gap, &delimiter)?;
            } else if !only_delimiters(gap, &delimiter) {
                return Err(ContentError::TextOutsideParts("delimiter line"));
            }
            // The parser takes text after a delimiter, on its line, for the part's first
            // header; RFC 2046 §5.1.1 allows only whitespace there.
            if !gap.is_empty() && gap.last() != Some(&b'\n') {
                return Err(ContentError::TextOutsideParts("delimiter line"));
            }
            from = from.max(child.raw_end_offset() as usize);
        }
        if children.is_empty() {
            return check_preamble(self.between(from, part.raw_end_offset() as usize), &delimiter);
        }
        if !only_delimiters(self.between(from, part.raw_end_offset() as usize), &delimiter) {
            return Err(ContentError::TextOutsideParts("epilogue"));
        }
        Ok(())
    }

    /// The raw bytes from `from` to `to`; none when the parser's offsets overlap there
    /// (those bytes then belong to a part, and are checked with it).
    fn between(&self, from: usize, to: usize) -> &[u8] {
        self.raw.get(from..to).unwrap_or_default()
    }
}

/// True for a part that holds content itself, rather than parts or a message.
fn is_leaf(part: &MessagePart<'_>) -> bool {
    !matches!(part.body, PartType::Multipart(_) | PartType::Message(_))
}

/// A leaf part: blank, a PGP/MIME control part met outside its parent, or OpenPGP data.
fn check_leaf(part: &MessagePart<'_>, content: &mut EncryptedContent) -> Result<(), ContentError> {
    let bytes = part.contents();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(()); // an empty part carries nothing
    }
    let (ctype, subtype) = media_type(part);
    if ctype == "application" && subtype.as_deref() == Some("pgp-encrypted") && !looks_like_openpgp(bytes) {
        return if is_version_part(bytes) { Ok(()) } else { Err(ContentError::ClearControlPart) };
    }
    if looks_like_openpgp(bytes) {
        check_openpgp(bytes, content)
    } else {
        Err(ContentError::CleartextPart)
    }
}

/// The preamble (the text before the first delimiter) is blank or one accepted sentence;
/// the rest of the gap, only the delimiter line.
fn check_preamble(gap: &[u8], delimiter: &[u8]) -> Result<(), ContentError> {
    let start = find(gap, delimiter).unwrap_or(gap.len());
    let (preamble, rest) = gap.split_at(start);
    let preamble = preamble.trim_ascii();
    let accepted = preamble.is_empty() || MIME_PREAMBLES_ACCEPTED.iter().any(|s| s.as_bytes() == preamble);
    if !accepted {
        return Err(ContentError::TextOutsideParts("preamble"));
    }
    if !only_delimiters(rest, delimiter) {
        return Err(ContentError::TextOutsideParts("delimiter line"));
    }
    Ok(())
}

/// True when `gap` holds nothing but whitespace and the boundary's delimiters (`--b`,
/// `--b--`).
fn only_delimiters(gap: &[u8], delimiter: &[u8]) -> bool {
    let mut rest = gap;
    while let Some((first, tail)) = rest.split_first() {
        rest = if first.is_ascii_whitespace() {
            tail
        } else if let Some(after) = rest.strip_prefix(delimiter).filter(|_| !delimiter.is_empty()) {
            after.strip_prefix(b"--").unwrap_or(after)
        } else {
            return false;
        };
    }
    true
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// The control part of PGP/MIME: `Version: 1` and whitespace, nothing else.
fn is_version_part(bytes: &[u8]) -> bool {
    bytes.trim_ascii().eq_ignore_ascii_case(b"Version: 1")
}

const ARMOR_BEGIN: &[u8] = b"-----BEGIN PGP MESSAGE-----";
const ARMOR_BEGIN_LINE: &str = "-----BEGIN PGP MESSAGE-----";
const ARMOR_END_LINE: &str = "-----END PGP MESSAGE-----";

fn looks_like_openpgp(bytes: &[u8]) -> bool {
    let trimmed = bytes.trim_ascii_start();
    trimmed.starts_with(ARMOR_BEGIN) || trimmed.first().is_some_and(|b| b & 0x80 != 0)
}

/// Checks one OpenPGP message: marker/padding packets, then one or more PKESK (SKESK may
/// sit beside them), then exactly one encrypted data packet, and nothing after it.
pub fn check_openpgp(bytes: &[u8], content: &mut EncryptedContent) -> Result<(), ContentError> {
    // Binary data is taken as it is: its last bytes may well be whitespace values.
    let start = bytes.trim_ascii_start();
    let decoded;
    let binary = if start.starts_with(ARMOR_BEGIN) {
        decoded = dearmor(start)?;
        &decoded[..]
    } else {
        start
    };
    let keys = encryption_packets(binary)?;
    content.recipients.extend(keys);
    content.encrypted_parts += 1;
    Ok(())
}

/// Walks the packets of one OpenPGP message, returning the key each PKESK names.
///
/// The common message, session keys then one encrypted data packet (SEIPD v1 or v2) that
/// ends the message, is read in two steps: the packets before the encrypted data by
/// sequoia, and the encrypted data packet by its header alone
/// ([`packets::lone_encrypted_data_at_end`]).
/// Stepping over the encrypted data with sequoia's parser hashed and copied its whole body
/// (about half of the packet walk's cost: docs/benchmarks.md, 2026-12-03). Anything else,
/// and every message the two steps do not accept, is walked by sequoia whole
/// ([`sequoia_walk`]): so every refusal is sequoia's, as before.
pub(crate) fn encryption_packets(binary: &[u8]) -> Result<Vec<Option<KeyHandle>>, ContentError> {
    if let Some(start) = packets::lone_encrypted_data_at_end(binary) {
        if let Ok(Walked { keys, encrypted_data: false }) = sequoia_walk(&binary[..start]) {
            if !keys.is_empty() {
                return Ok(keys);
            }
        }
    }
    sequoia_walk(binary)?.message_keys()
}

/// What sequoia's walk over some packets found.
pub(crate) struct Walked {
    /// The key each PKESK names.
    pub(crate) keys: Vec<Option<KeyHandle>>,
    /// An encrypted data packet was met (the last: nothing may follow it).
    pub(crate) encrypted_data: bool,
}

impl Walked {
    /// The recipients' keys of a whole message: it must hold the encrypted data and name at
    /// least one public key.
    pub(crate) fn message_keys(self) -> Result<Vec<Option<KeyHandle>>, ContentError> {
        if !self.encrypted_data {
            return Err(ContentError::MalformedOpenPgp("no encrypted data packet".into()));
        }
        if self.keys.is_empty() {
            return Err(ContentError::NoRecipientKey);
        }
        Ok(self.keys)
    }
}

/// Walks packets with sequoia's parser: marker and padding packets, session keys, and at
/// most one encrypted data packet, the last. Any other packet is refused.
pub(crate) fn sequoia_walk(binary: &[u8]) -> Result<Walked, ContentError> {
    let malformed = |e: anyhow_like::Error| ContentError::MalformedOpenPgp(e.to_string());
    let mut parsed = PacketParserBuilder::from_bytes(binary)
        .and_then(|builder| builder.dearmor(Dearmor::Disabled).build())
        .map_err(malformed)?;
    let mut walked = Walked { keys: Vec::new(), encrypted_data: false };
    while let PacketParserResult::Some(parser) = parsed {
        match &parser.packet {
            _ if walked.encrypted_data => {
                return Err(ContentError::UnexpectedPacket(format!("trailing {}", parser.packet.tag())))
            }
            Packet::Marker(_) | Packet::Padding(_) | Packet::SKESK(_) => {}
            Packet::PKESK(pkesk) => walked.keys.push(pkesk.recipient()),
            Packet::SEIP(_) => walked.encrypted_data = true,
            Packet::Unknown(unknown) => {
                return Err(ContentError::MalformedOpenPgp(format!("unreadable {} packet", unknown.tag())))
            }
            other => return Err(ContentError::UnexpectedPacket(other.tag().to_string())),
        }
        // `next` steps over a container's body: the encrypted data is never opened.
        parsed = parser.next().map_err(malformed)?.1;
    }
    Ok(walked)
}

/// Where the armour reader stands (RFC 9580 §6.2).
#[derive(PartialEq)]
enum ArmourSection {
    /// After the BEGIN line: `Name: value` header lines until a blank line.
    Headers,
    /// Base64 lines.
    Data,
    /// After the `=` checksum line: only the END line may follow.
    Checksum,
}

/// Decodes an ASCII-armoured OpenPGP message (RFC 9580 §6.2): the BEGIN line, optional
/// armour headers and a blank line, base64 lines, an optional `=` checksum line, the END
/// line, then only whitespace. The checksum is not compared with the data (RFC 9580 §6.1
/// bids readers not to reject on it; a damaged message is the recipient's to report): it
/// is held to one line of four base64 characters, the last before the END line.
///
/// Done here with a vectorised base64 decoder rather than through sequoia's armour reader because
/// that reader filters the text byte by byte: it took 34 of the 40 µs the whole content
/// check spent on a 7.7 kB message (docs/benchmarks.md), on every submission. The packets
/// themselves are still parsed by sequoia.
fn dearmor(armoured: &[u8]) -> Result<Vec<u8>, ContentError> {
    let malformed = |why: &str| ContentError::MalformedOpenPgp(format!("bad ASCII armour: {why}"));
    let text = std::str::from_utf8(armoured).map_err(|_| malformed("not text"))?;
    // Line ends found with memchr's vector search: `split_inclusive` scans a word at a time,
    // and took a tenth of the content check.
    let mut newlines = memchr::memchr_iter(b'\n', armoured);
    let mut consumed = 0;
    let mut next_line = || {
        if consumed >= text.len() {
            return None;
        }
        let end = newlines.next().map_or(text.len(), |at| at + 1);
        let line = &text[consumed..end];
        consumed = end;
        Some(line.trim_end())
    };
    if next_line() != Some(ARMOR_BEGIN_LINE) {
        return Err(malformed("no BEGIN line"));
    }
    let mut base64_text = Vec::with_capacity(text.len());
    let mut section = ArmourSection::Headers;
    let mut header_lines = 0;
    let mut ended = false;
    while let Some(line) = next_line() {
        if line == ARMOR_END_LINE {
            ended = true;
            break;
        }
        if section == ArmourSection::Headers {
            if line.is_empty() {
                section = ArmourSection::Data;
                continue;
            }
            if line.contains(':') {
                header_lines += 1;
                check_armour_header(line, header_lines)?;
                continue;
            }
            section = ArmourSection::Data; // no blank line before the data: tolerated, as gpg does
        }
        if line.is_empty() {
            continue;
        }
        if section == ArmourSection::Checksum {
            return Err(malformed("data after the checksum line"));
        }
        if let Some(sum) = line.strip_prefix('=') {
            if sum.len() != 4 || !sum.bytes().all(is_base64_digit) {
                return Err(malformed("not a checksum line"));
            }
            section = ArmourSection::Checksum;
            continue;
        }
        // Its characters are checked by the decoder below, once, for every line together.
        base64_text.extend_from_slice(line.as_bytes());
    }
    if !ended {
        return Err(malformed("no END line"));
    }
    if !text.as_bytes().get(consumed..).unwrap_or_default().iter().all(u8::is_ascii_whitespace) {
        return Err(ContentError::TextAfterArmour);
    }
    // Decoded where it stands: the binary is shorter than its text.
    let binary_len = base64_simd::STANDARD.decode_inplace(&mut base64_text).map_err(|_| malformed("not base64"))?.len();
    base64_text.truncate(binary_len);
    Ok(base64_text)
}

/// A digit of base64's alphabet (RFC 4648 §4), padding aside.
fn is_base64_digit(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'+' || byte == b'/'
}

/// One armour header line, the `count`th: a known name, a colon and a space, a bounded
/// printable ASCII value.
fn check_armour_header(line: &str, count: usize) -> Result<(), ContentError> {
    if count > ARMOUR_HEADER_LINES_MAX {
        return Err(ContentError::ArmourHeader("too many header lines"));
    }
    if !line.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(ContentError::ArmourHeader("a header line holds other than printable ASCII"));
    }
    if line.len() > ARMOUR_HEADER_LINE_CHARS_MAX {
        return Err(ContentError::ArmourHeader("a header line is too long"));
    }
    let known = line
        .split_once(": ")
        .is_some_and(|(name, _)| ARMOUR_HEADER_NAMES.iter().any(|known| known.eq_ignore_ascii_case(name)));
    if !known {
        return Err(ContentError::ArmourHeader("a header name is not Version, Comment or Charset"));
    }
    Ok(())
}

/// sequoia's errors are `anyhow::Error`; named here so the crate need not depend on anyhow.
mod anyhow_like {
    pub type Error = sequoia_openpgp::anyhow::Error;
}
