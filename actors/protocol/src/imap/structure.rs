//! A message's MIME structure as IMAP shows it (RFC 3501 §7.4.2 `BODYSTRUCTURE`, §6.4.5
//! part sections), read with mail-parser from the stored bytes: for the relay's PGP/MIME
//! messages, a `multipart/encrypted` of a `Version: 1` control part and the OpenPGP data.

use imap_codec::imap_types::body::{
    BasicFields, Body, BodyStructure, MultiPartExtensionData, SinglePartExtensionData, SpecificFields,
};
use imap_codec::imap_types::core::{IString, NString, Quoted, Vec1};
use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders as _, PartType};

/// The structure of a whole message; `extended` adds the extension data of
/// `BODYSTRUCTURE` (parameters of multiparts, dispositions), `BODY` leaves it out.
pub(super) fn of_message(bytes: &[u8], extended: bool) -> Option<BodyStructure<'static>> {
    let message = MessageParser::default().parse(bytes)?;
    Some(of_part(&message, 0, extended, 0))
}

/// Deepest nesting followed (a message inside a message inside…).
const DEPTH_MAX: usize = 16;

fn of_part(message: &Message<'_>, id: usize, extended: bool, depth: usize) -> BodyStructure<'static> {
    let Some(part) = message.parts.get(id) else {
        return empty();
    };
    let children: Vec<BodyStructure<'static>> = match part.sub_parts() {
        Some(ids) if depth < DEPTH_MAX => {
            ids.iter().map(|&child| of_part(message, child as usize, extended, depth + 1)).collect()
        }
        _ => Vec::new(),
    };
    if let Ok(bodies) = Vec1::try_from(children) {
        let subtype = part.content_type().and_then(|ct| ct.subtype()).unwrap_or("mixed");
        return BodyStructure::Multi {
            bodies,
            subtype: string(subtype),
            extension_data: extended.then(|| MultiPartExtensionData { parameter_list: parameters(part), tail: None }),
        };
    }
    single(message, part, extended, depth)
}

fn single(message: &Message<'_>, part: &MessagePart<'_>, extended: bool, depth: usize) -> BodyStructure<'static> {
    let raw = message.raw_message();
    let body = raw.get(part.offset_body as usize..part.offset_end as usize).unwrap_or_default();
    let (kind, subtype) = match part.content_type() {
        Some(ct) => (ct.ctype().to_ascii_lowercase(), ct.subtype().unwrap_or("octet-stream").to_ascii_lowercase()),
        None => ("text".to_owned(), "plain".to_owned()),
    };
    let basic = BasicFields {
        parameter_list: parameters(part),
        id: nstring(part.content_id()),
        description: nstring(part.content_description()),
        content_transfer_encoding: string(part.content_transfer_encoding().unwrap_or("7bit")),
        size: u32::try_from(body.len()).unwrap_or(u32::MAX),
    };
    let lines = u32::try_from(body.iter().filter(|&&byte| byte == b'\n').count()).unwrap_or(u32::MAX);
    let specific = match (&part.body, kind.as_str()) {
        (PartType::Message(inner), _) if depth < DEPTH_MAX => SpecificFields::Message {
            envelope: Box::new(super::fetch::envelope(inner.raw_message())),
            body_structure: Box::new(of_part(inner, 0, extended, depth + 1)),
            number_of_lines: lines,
        },
        (_, "text") => SpecificFields::Text { subtype: string(&subtype), number_of_lines: lines },
        // A message part deeper than followed is shown as opaque data.
        (PartType::Message(_), _) => {
            SpecificFields::Basic { r#type: string("application"), subtype: string("octet-stream") }
        }
        _ => SpecificFields::Basic { r#type: string(&kind), subtype: string(&subtype) },
    };
    BodyStructure::Single {
        body: Body { basic, specific },
        extension_data: extended.then_some(SinglePartExtensionData { md5: NString(None), tail: None }),
    }
}

/// The bytes of a numbered part (`BODY[1]`, `BODY[2.1]`), or of its MIME header
/// (`BODY[1.MIME]`); a message that is not multipart has one part, itself (RFC 3501 §6.4.5).
pub(super) fn part_bytes<'a>(bytes: &'a [u8], path: &[u32], mime: bool) -> &'a [u8] {
    let Some(message) = MessageParser::default().parse(bytes) else {
        return &[];
    };
    let mut id = 0usize;
    for &number in path {
        let Some(part) = message.parts.get(id) else { return &[] };
        match part.sub_parts() {
            Some(children) => match children.get(number.saturating_sub(1) as usize) {
                Some(&child) => id = child as usize,
                None => return &[],
            },
            None if number == 1 && id == 0 => {}
            None => return &[],
        }
    }
    let Some(part) = message.parts.get(id) else { return &[] };
    let range = if mime {
        part.offset_header as usize..part.offset_body as usize
    } else {
        part.offset_body as usize..part.offset_end as usize
    };
    bytes.get(range).unwrap_or_default()
}

fn parameters(part: &MessagePart<'_>) -> Vec<(IString<'static>, IString<'static>)> {
    part.content_type()
        .and_then(|ct| ct.attributes())
        .unwrap_or_default()
        .iter()
        .map(|attribute| (string(&attribute.name), string(&attribute.value)))
        .collect()
}

fn empty() -> BodyStructure<'static> {
    BodyStructure::Single {
        body: Body {
            basic: BasicFields {
                parameter_list: Vec::new(),
                id: NString(None),
                description: NString(None),
                content_transfer_encoding: string("7bit"),
                size: 0,
            },
            specific: SpecificFields::Text { subtype: string("plain"), number_of_lines: 0 },
        },
        extension_data: None,
    }
}

/// A header value as an IMAP string: quoted when it can be, else a literal.
fn string(value: &str) -> IString<'static> {
    match Quoted::try_from(value.to_owned()) {
        Ok(quoted) => IString::Quoted(quoted),
        Err(_) => imap_codec::imap_types::core::Literal::try_from(value.as_bytes().to_vec())
            .map(IString::Literal)
            .unwrap_or_else(|_| IString::Quoted(Quoted::unvalidated(""))),
    }
}

fn nstring(value: Option<&str>) -> NString<'static> {
    NString(value.map(string))
}
