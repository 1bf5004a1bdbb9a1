//! What `FETCH` answers for one message (RFC 3501 §6.4.5, §7.4.2): the items kept in the
//! mailbox view (UID, flags, size, internal date) and those read from the message itself
//! (the whole message or its header or text, with partial ranges; the envelope from its
//! clear headers). Messages are OpenPGP-encrypted: what a section returns is the bytes as
//! stored, never anything decrypted.

use std::borrow::Cow;
use std::num::NonZeroU32;

use imap_codec::imap_types::core::{AString, IString, Literal, NString, Quoted};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::envelope::{Address, Envelope};
use imap_codec::imap_types::fetch::{MessageDataItem, MessageDataItemName, Section};
use imap_codec::imap_types::flag::{Flag, FlagFetch};

use super::{Entry, Flags};
use crate::Vocabulary;

/// Whether answering `names` needs the message's bytes.
pub(super) fn needs_content(names: &[MessageDataItemName<'_>]) -> bool {
    names.iter().any(|name| {
        matches!(
            name,
            MessageDataItemName::BodyExt { .. }
                | MessageDataItemName::Body
                | MessageDataItemName::BodyStructure
                | MessageDataItemName::Rfc822
                | MessageDataItemName::Rfc822Header
                | MessageDataItemName::Rfc822Text
                | MessageDataItemName::Envelope
        )
    })
}

/// Whether answering `names` marks the message `\Seen` (a `BODY[…]` without `.PEEK`,
/// `RFC822`, `RFC822.TEXT`).
pub(super) fn sets_seen(names: &[MessageDataItemName<'_>]) -> bool {
    names.iter().any(|name| {
        matches!(
            name,
            MessageDataItemName::BodyExt { peek: false, .. }
                | MessageDataItemName::Rfc822
                | MessageDataItemName::Rfc822Text
        )
    })
}

/// The flags as FETCH shows them.
pub(super) fn flags(flags: Flags) -> Vec<FlagFetch<'static>> {
    let mut shown = Vec::new();
    for (set, flag) in [(flags.seen, Flag::Seen), (flags.flagged, Flag::Flagged), (flags.deleted, Flag::Deleted)] {
        if set {
            shown.push(FlagFetch::Flag(flag));
        }
    }
    shown
}

/// The items of one message; `content` is its bytes when [`needs_content`] said so.
pub(super) fn items<V: Vocabulary>(
    entry: &Entry<V>,
    names: &[MessageDataItemName<'static>],
    content: Option<&[u8]>,
    uid_first: bool,
) -> Vec<MessageDataItem<'static>> {
    let mut items = Vec::new();
    let uid = NonZeroU32::new(entry.uid);
    // A UID FETCH answers with the UID whether asked or not (RFC 3501 §6.4.8).
    if uid_first {
        items.extend(uid.map(MessageDataItem::Uid));
    }
    for name in names {
        let item = match name {
            MessageDataItemName::Uid if uid_first => None,
            MessageDataItemName::Uid => uid.map(MessageDataItem::Uid),
            MessageDataItemName::Flags => Some(MessageDataItem::Flags(flags(entry.flags))),
            MessageDataItemName::Rfc822Size => Some(MessageDataItem::Rfc822Size(clamp(entry.size))),
            MessageDataItemName::InternalDate => internal_date(entry.accepted_at).map(MessageDataItem::InternalDate),
            MessageDataItemName::Envelope => content.map(|bytes| MessageDataItem::Envelope(envelope(bytes))),
            MessageDataItemName::Rfc822 => content.map(|bytes| MessageDataItem::Rfc822(nstring(bytes))),
            MessageDataItemName::Rfc822Header => {
                content.map(|bytes| MessageDataItem::Rfc822Header(nstring(&bytes[..header_end(bytes)])))
            }
            MessageDataItemName::Rfc822Text => {
                content.map(|bytes| MessageDataItem::Rfc822Text(nstring(&bytes[header_end(bytes)..])))
            }
            MessageDataItemName::BodyExt { section, partial, .. } => content.map(|bytes| {
                let whole = section_bytes(bytes, section.as_ref());
                let whole = whole.as_ref();
                let (origin, data) = match partial {
                    Some((start, length)) => {
                        let start = (*start as usize).min(whole.len());
                        let end = start.saturating_add(length.get() as usize).min(whole.len());
                        (Some(start as u32), &whole[start..end])
                    }
                    None => (None, whole),
                };
                MessageDataItem::BodyExt { section: section.clone(), origin, data: nstring(data) }
            }),
            MessageDataItemName::Body => {
                content.and_then(|bytes| super::structure::of_message(bytes, false)).map(MessageDataItem::Body)
            }
            MessageDataItemName::BodyStructure => {
                content.and_then(|bytes| super::structure::of_message(bytes, true)).map(MessageDataItem::BodyStructure)
            }
            // BINARY (RFC 3516) is not offered: left out of the answer.
            _ => None,
        };
        items.extend(item);
    }
    items
}

fn clamp(size: u64) -> u32 {
    u32::try_from(size).unwrap_or(u32::MAX)
}

fn internal_date(seconds: i64) -> Option<DateTime> {
    let utc = chrono::DateTime::from_timestamp(seconds, 0)?;
    DateTime::try_from(utc.fixed_offset()).ok()
}

/// Bytes as a literal (they may hold anything a message holds).
fn nstring(bytes: &[u8]) -> NString<'static> {
    NString(Literal::try_from(bytes.to_vec()).ok().map(IString::Literal))
}

/// Where the header ends, blank line included: after the last field mail-parser finds, and
/// the line ending that follows it.
fn header_end(bytes: &[u8]) -> usize {
    let fields_end = mail_parser::MessageParser::default()
        .parse_headers(bytes)
        .and_then(|message| message.headers().last().map(|field| field.offset_end as usize))
        .unwrap_or(0)
        .min(bytes.len());
    let rest = &bytes[fields_end..];
    let blank = if rest.starts_with(b"\r\n") { 2 } else { usize::from(rest.starts_with(b"\n")) };
    fields_end + blank
}

/// A section (RFC 3501 §6.4.5): the whole message, its header or text, some of its header
/// fields, a numbered part or that part's MIME header; the header and text of a part that
/// is itself a message are not offered (empty).
fn section_bytes<'a>(bytes: &'a [u8], section: Option<&Section<'_>>) -> Cow<'a, [u8]> {
    let header = &bytes[..header_end(bytes)];
    let numbers = |part: &imap_codec::imap_types::fetch::Part| -> Vec<u32> {
        part.0.as_ref().iter().map(|number| number.get()).collect()
    };
    match section {
        None => Cow::Borrowed(bytes),
        Some(Section::Header(None)) => Cow::Borrowed(header),
        Some(Section::Text(None)) => Cow::Borrowed(&bytes[header.len()..]),
        Some(Section::HeaderFields(None, names)) => Cow::Owned(header_fields(bytes, names.as_ref(), true)),
        Some(Section::HeaderFieldsNot(None, names)) => Cow::Owned(header_fields(bytes, names.as_ref(), false)),
        Some(Section::Part(part)) => Cow::Borrowed(super::structure::part_bytes(bytes, &numbers(part), false)),
        Some(Section::Mime(part)) => Cow::Borrowed(super::structure::part_bytes(bytes, &numbers(part), true)),
        Some(_) => Cow::Borrowed(&[]),
    }
}

/// `HEADER.FIELDS` (`keep`) or `HEADER.FIELDS.NOT`: the message's header fields named (or
/// not named) in `names`, as they are written (folded lines kept), then the blank line.
fn header_fields(bytes: &[u8], names: &[AString<'_>], keep: bool) -> Vec<u8> {
    let mut fields = Vec::new();
    if let Some(message) = mail_parser::MessageParser::default().parse_headers(bytes) {
        for header in message.headers() {
            let named = names.iter().any(|name| name.as_ref().eq_ignore_ascii_case(header.name().as_bytes()));
            let (start, end) = (header.offset_field as usize, header.offset_end as usize);
            if named == keep && start <= end {
                fields.extend_from_slice(bytes.get(start..end).unwrap_or_default());
            }
        }
    }
    fields.extend_from_slice(b"\r\n");
    fields
}

/// The envelope (RFC 3501 §7.4.2) from the clear headers.
pub(super) fn envelope(bytes: &[u8]) -> Envelope<'static> {
    let parsed = mail_parser::MessageParser::default().parse_headers(bytes);
    let text =
        |value: Option<&str>| NString(value.and_then(|v| Quoted::try_from(v.to_owned()).ok()).map(IString::Quoted));
    let addresses = |list: Option<&mail_parser::Address<'_>>| -> Vec<Address<'static>> {
        list.into_iter()
            .flat_map(|list| list.iter())
            .filter_map(|address| {
                let (mailbox, host) = address.address()?.rsplit_once('@')?;
                Some(Address {
                    name: text(address.name()),
                    adl: NString(None),
                    mailbox: text(Some(mailbox)),
                    host: text(Some(host)),
                })
            })
            .collect()
    };
    let Some(message) = parsed else {
        return Envelope {
            date: NString(None),
            subject: NString(None),
            from: Vec::new(),
            sender: Vec::new(),
            reply_to: Vec::new(),
            to: Vec::new(),
            cc: Vec::new(),
            bcc: Vec::new(),
            in_reply_to: NString(None),
            message_id: NString(None),
        };
    };
    let from = addresses(message.from());
    let sender = match addresses(message.sender()) {
        none if none.is_empty() => from.clone(),
        some => some,
    };
    let reply_to = match addresses(message.reply_to()) {
        none if none.is_empty() => from.clone(),
        some => some,
    };
    Envelope {
        date: text(message.header_raw("Date").map(str::trim)),
        subject: text(message.subject()),
        from,
        sender,
        reply_to,
        to: addresses(message.to()),
        cc: addresses(message.cc()),
        bcc: Vec::new(),
        in_reply_to: text(message.header_raw("In-Reply-To").map(str::trim)),
        message_id: text(message.message_id().map(|id| format!("<{id}>")).as_deref()),
    }
}
