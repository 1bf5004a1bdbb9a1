//! The encrypted-content policy (SPEC R-MSG-2): a message body is accepted only if every
//! part that carries content is an OpenPGP message — PKESK packets followed by one
//! encrypted data packet — checked structurally, without any key and without decrypting.
//!
//! Accepted shapes: PGP/MIME (`multipart/encrypted; protocol="application/pgp-encrypted"`,
//! RFC 3156), a single-part body that is an OpenPGP message (inline, ASCII-armoured or
//! binary), and multipart bodies whose every leaf is an OpenPGP message or blank text.

use mail_parser::{MessageParser, MessagePart, MimeHeaders, PartType};
use sequoia_openpgp::parse::{Dearmor, PacketParserBuilder, PacketParserResult, Parse};
use sequoia_openpgp::{KeyHandle, Packet};

/// Deepest MIME nesting looked at; deeper bodies are refused rather than walked.
pub const MIME_DEPTH_MAX: usize = 8;

/// What the check learnt of an accepted message.
#[derive(Debug, Clone, PartialEq)]
pub struct EncryptedContent {
    /// The key each PKESK packet names (`None` for an anonymous "wildcard" recipient),
    /// over every encrypted part.
    pub recipients: Vec<Option<KeyHandle>>,
    /// How many OpenPGP messages the body holds.
    pub encrypted_parts: usize,
}

/// Why a body is refused. Each message is a sentence for the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("the message is not a readable MIME message")]
    NotMime,
    #[error("the message holds no OpenPGP-encrypted content")]
    NoEncryptedPart,
    #[error("a part of the message is readable text, not OpenPGP-encrypted data")]
    CleartextPart,
    #[error("a multipart/encrypted body must use protocol application/pgp-encrypted with two parts")]
    MalformedPgpMime,
    #[error("the OpenPGP data is malformed: {0}")]
    MalformedOpenPgp(String),
    #[error("the OpenPGP data is not encrypted to any public key (no PKESK packet)")]
    NoRecipientKey,
    #[error("the OpenPGP data holds a {0} packet where only encryption packets may stand")]
    UnexpectedPacket(String),
    #[error("the MIME structure is nested too deeply")]
    TooDeep,
}

/// Checks a whole RFC 5322 message.
pub fn check_encrypted_message(raw: &[u8]) -> Result<EncryptedContent, ContentError> {
    let message = MessageParser::default().parse(raw).ok_or(ContentError::NotMime)?;
    let mut content = EncryptedContent { recipients: Vec::new(), encrypted_parts: 0 };
    check_part(&message, 0, 0, &mut content)?;
    if content.encrypted_parts == 0 {
        return Err(ContentError::NoEncryptedPart);
    }
    Ok(content)
}

fn check_part(
    message: &mail_parser::Message<'_>,
    part_id: u32,
    depth: usize,
    content: &mut EncryptedContent,
) -> Result<(), ContentError> {
    if depth > MIME_DEPTH_MAX {
        return Err(ContentError::TooDeep);
    }
    let part: &MessagePart<'_> = message.part(part_id).ok_or(ContentError::NotMime)?;
    let (ctype, subtype) = part
        .content_type()
        .map(|ct| (ct.ctype().to_ascii_lowercase(), ct.subtype().map(str::to_ascii_lowercase)))
        .unwrap_or_else(|| ("text".into(), Some("plain".into())));
    match &part.body {
        PartType::Multipart(children) => {
            if subtype.as_deref() == Some("encrypted") {
                let protocol = part.content_type().and_then(|ct| ct.attribute("protocol"));
                if !protocol.is_some_and(|p| p.eq_ignore_ascii_case("application/pgp-encrypted")) || children.len() != 2
                {
                    return Err(ContentError::MalformedPgpMime);
                }
                // RFC 3156 §4: the first part carries only "Version: 1"; the second, the data.
                let data = message.part(children[1]).ok_or(ContentError::MalformedPgpMime)?;
                return check_openpgp(data.contents(), content);
            }
            for child in children {
                check_part(message, *child, depth + 1, content)?;
            }
            Ok(())
        }
        PartType::Message(_) => Err(ContentError::CleartextPart),
        _ => {
            let bytes = part.contents();
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(()); // an empty part carries nothing
            }
            if ctype == "application" && subtype.as_deref() == Some("pgp-encrypted") && is_version_part(bytes) {
                return Ok(());
            }
            if looks_like_openpgp(bytes) {
                check_openpgp(bytes, content)
            } else {
                Err(ContentError::CleartextPart)
            }
        }
    }
}

/// The control part of PGP/MIME, when met outside its multipart/encrypted parent.
fn is_version_part(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|text| text.trim().eq_ignore_ascii_case("Version: 1"))
}

const ARMOR_BEGIN: &[u8] = b"-----BEGIN PGP MESSAGE-----";
const ARMOR_END: &[u8] = b"-----END PGP MESSAGE-----";

fn looks_like_openpgp(bytes: &[u8]) -> bool {
    let trimmed = bytes.trim_ascii();
    trimmed.starts_with(ARMOR_BEGIN) || trimmed.first().is_some_and(|b| b & 0x80 != 0)
}

/// Checks one OpenPGP message: marker/padding packets, then one or more PKESK (SKESK may
/// sit beside them), then exactly one encrypted data packet, and nothing after it.
pub fn check_openpgp(bytes: &[u8], content: &mut EncryptedContent) -> Result<(), ContentError> {
    let trimmed = bytes.trim_ascii();
    if trimmed.starts_with(ARMOR_BEGIN) && !trimmed.ends_with(ARMOR_END) {
        // Text after the armour would travel in clear beside the encrypted data.
        return Err(ContentError::CleartextPart);
    }
    let malformed = |e: anyhow_like::Error| ContentError::MalformedOpenPgp(e.to_string());
    let decoded;
    let binary = if trimmed.starts_with(ARMOR_BEGIN) {
        decoded = dearmor(trimmed)?;
        &decoded[..]
    } else {
        trimmed
    };
    let mut parsed = PacketParserBuilder::from_bytes(binary)
        .and_then(|builder| builder.dearmor(Dearmor::Disabled).build())
        .map_err(malformed)?;
    let mut keys = Vec::new();
    let mut encrypted_data = false;
    while let PacketParserResult::Some(parser) = parsed {
        match &parser.packet {
            _ if encrypted_data => {
                return Err(ContentError::UnexpectedPacket(format!("trailing {}", parser.packet.tag())))
            }
            Packet::Marker(_) | Packet::Padding(_) | Packet::SKESK(_) => {}
            Packet::PKESK(pkesk) => keys.push(pkesk.recipient()),
            Packet::SEIP(_) => encrypted_data = true,
            Packet::Unknown(unknown) => {
                return Err(ContentError::MalformedOpenPgp(format!("unreadable {} packet", unknown.tag())))
            }
            other => return Err(ContentError::UnexpectedPacket(other.tag().to_string())),
        }
        // `next` steps over a container's body: the encrypted data is never opened.
        parsed = parser.next().map_err(malformed)?.1;
    }
    if !encrypted_data {
        return Err(ContentError::MalformedOpenPgp("no encrypted data packet".into()));
    }
    if keys.is_empty() {
        return Err(ContentError::NoRecipientKey);
    }
    content.recipients.extend(keys);
    content.encrypted_parts += 1;
    Ok(())
}

/// Decodes an ASCII-armoured OpenPGP message (RFC 9580 §6.2): the BEGIN line, optional
/// `Key: value` headers and a blank line, base64 lines, an optional `=` checksum line, the
/// END line.
///
/// Done here with the base64 crate rather than through sequoia's armour reader because
/// that reader filters the text byte by byte: it took 34 of the 40 µs the whole content
/// check spent on a 7.7 kB message (docs/benchmarks.md), on every submission. The packets
/// themselves are still parsed by sequoia.
fn dearmor(armoured: &[u8]) -> Result<Vec<u8>, ContentError> {
    use base64::Engine as _;
    let malformed = |why: &str| ContentError::MalformedOpenPgp(format!("bad ASCII armour: {why}"));
    let text = std::str::from_utf8(armoured).map_err(|_| malformed("not text"))?;
    let mut lines = text.lines().map(str::trim_end);
    if lines.next() != Some("-----BEGIN PGP MESSAGE-----") {
        return Err(malformed("no BEGIN line"));
    }
    let mut base64_text = String::with_capacity(text.len());
    let mut in_headers = true;
    let mut ended = false;
    for line in lines {
        if line == "-----END PGP MESSAGE-----" {
            ended = true;
            break;
        }
        if in_headers {
            if line.is_empty() {
                in_headers = false;
                continue;
            }
            if line.contains(": ") {
                continue; // an armour header (Comment, Version, Charset, Hash)
            }
            in_headers = false; // no blank line before the data: tolerated, as gpg does
        }
        if line.starts_with('=') && line.len() == 5 {
            continue; // the optional CRC-24 checksum (RFC 9580 §6.1 no longer requires it)
        }
        base64_text.extend(line.chars().filter(|c| !c.is_ascii_whitespace()));
    }
    if !ended {
        return Err(malformed("no END line"));
    }
    base64::engine::general_purpose::STANDARD.decode(base64_text.as_bytes()).map_err(|_| malformed("not base64"))
}

/// sequoia's errors are `anyhow::Error`; named here so the crate need not depend on anyhow.
mod anyhow_like {
    pub type Error = sequoia_openpgp::anyhow::Error;
}
