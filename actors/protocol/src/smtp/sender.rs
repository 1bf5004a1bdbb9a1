//! Who a submitted message says it is from: its top-level `From:` and `Sender:` must name
//! the authenticated account, and the relay's own control headers (`X-Caducee-*`) are the
//! relay's to write, never a submitter's. Only the message's header is read: the body is
//! encrypted and stays unopened.

use std::sync::LazyLock;

use mail_parser::{HeaderName, HeaderValue, MessageParser};

use crate::header_block;
use crate::Vocabulary;

/// The prefix of the header fields the relay writes on its own messages (notices, key
/// renewals); the practice client trusts them only from the relay.
pub const CONTROL_HEADER_PREFIX: &str = "x-caducee-";

/// Why a submission's header was refused. Its text completes "Message refused: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderRefusal {
    /// A `From:` or `Sender:` address is not one the account may send as.
    #[error(
        "the {field}: header names <{address}>, but you are logged in as <{account}>; send only as your own address"
    )]
    NotYourAddress { field: &'static str, address: String, account: String },
    /// A `From:` or `Sender:` field holds no address the relay can read.
    #[error("the {field}: header holds no valid address")]
    Unreadable { field: &'static str },
    /// A control header of the relay's own messages.
    #[error("the {name}: header is reserved for the relay's own messages")]
    ControlHeader { name: String },
}

impl HeaderRefusal {
    /// The refusal's name in the relay's counters.
    pub fn counter(&self) -> &'static str {
        match self {
            HeaderRefusal::NotYourAddress { .. } | HeaderRefusal::Unreadable { .. } => "forged-sender",
            HeaderRefusal::ControlHeader { .. } => "control-header",
        }
    }
}

/// Whether `authenticated` may send a message whose `From:` or `Sender:` is
/// `header_address`. Today an account sends only as itself; a delegation (a secretary
/// sending for a doctor) would be granted here.
pub fn may_send_as<V: Vocabulary>(authenticated: &V::Address, header_address: &V::Address) -> bool {
    authenticated == header_address
}

/// Checks the top-level header of `raw` for `account`: every `From:` and `Sender:` address
/// is one it may send as, and no `X-Caducee-*` field is present. A message without a
/// header at all passes here (the content check refuses it).
pub fn check_submitted_header<V: Vocabulary>(raw: &[u8], account: &V::Address) -> Result<(), HeaderRefusal> {
    check_header::<V>(raw, Some(account))
}

/// Checks the top-level header of a message another operator relays: no `X-Caducee-*`
/// field (its `From:` is that operator's business).
pub fn check_relayed_header<V: Vocabulary>(raw: &[u8]) -> Result<(), HeaderRefusal> {
    check_header::<V>(raw, None)
}

/// Reads `From:` and `Sender:` as addresses and only names the other fields (their
/// values are not parsed: nothing here reads them).
static HEADER_PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new().header_address(HeaderName::From).header_address(HeaderName::Sender).default_header_ignore()
});

/// The control headers always; `From:` and `Sender:` against `account` when there is one.
///
/// A header block of plain CRLF field lines ([`header_block::fields`]) is read directly,
/// mail-parser reading only the `From:` and `Sender:` values; any other goes to mail-parser
/// whole. mail-parser reads a header a byte at a time and keeps every field: 2.7 µs of the
/// SMTP stage's 13.8 per 5 KiB document (docs/benchmarks.md, 2026-12-03).
/// `the_direct_reading_agrees_with_mail_parser` holds the two to one verdict.
fn check_header<V: Vocabulary>(raw: &[u8], account: Option<&V::Address>) -> Result<(), HeaderRefusal> {
    match header_block::split_entity(raw).and_then(|(headers, _)| header_block::fields(headers)) {
        Some(fields) => check_fields::<V>(&fields, account),
        None => check_parsed::<V>(raw, account),
    }
}

/// [`check_header`] on a header block's fields, read directly.
fn check_fields<V: Vocabulary>(fields: &[(&[u8], &[u8])], account: Option<&V::Address>) -> Result<(), HeaderRefusal> {
    for &(name, value) in fields {
        if is_control_header(name) {
            // Field names read directly are ASCII (letters, digits and hyphens).
            return Err(HeaderRefusal::ControlHeader { name: String::from_utf8_lossy(name).into_owned() });
        }
        let Some(account) = account else {
            continue;
        };
        let Some(field) = address_field(name) else {
            continue;
        };
        // The field alone, as a header of its own, for mail-parser's address reading.
        let alone = [b"From:", value, b"\r\n\r\n"].concat();
        let parsed = HEADER_PARSER.parse_headers(&alone[..]);
        match parsed.as_ref().and_then(|message| message.headers().first()) {
            Some(header) => check_addresses::<V>(field, header.value(), account)?,
            None => return Err(HeaderRefusal::Unreadable { field }),
        }
    }
    Ok(())
}

/// [`check_header`] on the whole message, by mail-parser.
fn check_parsed<V: Vocabulary>(raw: &[u8], account: Option<&V::Address>) -> Result<(), HeaderRefusal> {
    let Some(message) = HEADER_PARSER.parse_headers(raw) else {
        return Ok(());
    };
    for header in message.headers() {
        let name = header.name();
        if is_control_header(name.as_bytes()) {
            return Err(HeaderRefusal::ControlHeader { name: name.to_owned() });
        }
        let Some(account) = account else {
            continue;
        };
        let Some(field) = address_field(name.as_bytes()) else {
            continue;
        };
        check_addresses::<V>(field, header.value(), account)?;
    }
    Ok(())
}

/// `From` or `Sender` for a field naming who sends (whatever its case), as refusals name it.
fn address_field(name: &[u8]) -> Option<&'static str> {
    if name.eq_ignore_ascii_case(b"from") {
        Some("From")
    } else if name.eq_ignore_ascii_case(b"sender") {
        Some("Sender")
    } else {
        None
    }
}

/// An `X-Caducee-*` field, whatever its case.
fn is_control_header(name: &[u8]) -> bool {
    let prefix = CONTROL_HEADER_PREFIX.as_bytes();
    name.len() >= prefix.len() && name[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Every address of one `From:` or `Sender:` field must be one `account` may send as.
fn check_addresses<V: Vocabulary>(
    field: &'static str,
    value: &HeaderValue<'_>,
    account: &V::Address,
) -> Result<(), HeaderRefusal> {
    let Some(list) = value.as_address() else {
        return Err(HeaderRefusal::Unreadable { field });
    };
    let mut seen = false;
    for addr in list.iter() {
        let Some(text) = addr.address() else {
            return Err(HeaderRefusal::Unreadable { field });
        };
        let Some(address) = V::parse_address(text) else {
            return Err(HeaderRefusal::Unreadable { field });
        };
        if !may_send_as::<V>(account, &address) {
            return Err(HeaderRefusal::NotYourAddress {
                field,
                address: address.to_string(),
                account: account.to_string(),
            });
        }
        seen = true;
    }
    if seen {
        Ok(())
    } else {
        Err(HeaderRefusal::Unreadable { field })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    use crate::test_words::Words;

    const NAMES: &[&str] = &[
        "From",
        "from",
        "FROM",
        "Sender",
        "To",
        "Subject",
        "X-Caducee-Kind",
        "x-caducee-notice",
        "X-Caducee",
        "Content-Type",
        "X-Other",
        "Fro m",
        "From ",
    ];

    const VALUES: &[&str] = &[
        " dr@a.test",
        " Dr A <dr@a.test>",
        " DR@A.TEST",
        " other@b.test",
        " \"A, B\" <dr@a.test>",
        " =?utf-8?q?Dr_=C3=A9?= <dr@a.test>",
        " dr@a.test, other@b.test",
        " dr@a.test, dr@a.test",
        "",
        " ",
        " undisclosed-recipients:;",
        " Team: dr@a.test;",
        " <dr@a.test>\r\n (the practice)",
        " dr@a.test\r\n\t",
        " (comment) dr@a.test",
        " Dr\r\n <dr@a.test>",
        " <>",
        " x",
        " <dr@a.test",
        " dr@a.test\r\n \r\n",
        " caf\u{e9} <dr@a.test>",
        " =?utf-8?q?Dr_?=\r\n =?utf-8?q?A?= <dr@a.test>",
        " \"Dr\r\n A\" <dr@a.test>",
        " \"Dr A\" <other@b.test>",
        " multipart/encrypted;\r\n boundary=\"b\"",
    ];

    /// A header block of fields from the lists, mostly CRLF lines, then a body.
    fn message() -> impl Strategy<Value = Vec<u8>> {
        let field =
            (0..NAMES.len(), 0..VALUES.len(), prop_oneof![20 => Just("\r\n"), 1 => Just("\n"), 1 => Just("\r")]);
        (
            proptest::collection::vec(field, 0..6),
            prop::bool::weighted(0.9),
            proptest::option::weighted(0.2, (any::<u8>(), any::<prop::sample::Index>())),
        )
            .prop_map(|(fields, blank_line, damage)| {
                let mut bytes = Vec::new();
                for (name, value, end) in fields {
                    bytes.extend_from_slice(format!("{}:{}{end}", NAMES[name], VALUES[value]).as_bytes());
                }
                if blank_line {
                    bytes.extend_from_slice(b"\r\n");
                }
                bytes.extend_from_slice(b"-----BEGIN PGP MESSAGE-----\r\n");
                if let Some((byte, at)) = damage {
                    let at = at.index(bytes.len() + 1);
                    bytes.insert(at, byte);
                }
                bytes
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(6000))]

        /// Wherever the header block is read directly, the verdict is mail-parser's whole
        /// reading's, to the refusal's words.
        #[test]
        fn the_direct_reading_agrees_with_mail_parser(raw in message(), logged_in in any::<bool>()) {
            let account = "dr@a.test".to_owned();
            let account = logged_in.then_some(&account);
            let direct = header_block::split_entity(&raw).and_then(|(headers, _)| header_block::fields(headers));
            if let Some(fields) = direct {
                prop_assert_eq!(check_fields::<Words>(&fields, account), check_parsed::<Words>(&raw, account));
            }
        }
    }

    #[test]
    fn a_common_header_is_read_directly_with_each_verdict() {
        let header = |from: &str| format!("From: {from}\r\nTo: b@b.test\r\nSubject: x\r\n\r\nbody\r\n").into_bytes();
        let account = "dr@a.test".to_owned();
        for (raw, verdict) in [
            (header("Dr A <dr@a.test>"), Ok(())),
            (
                header("other@b.test"),
                Err(HeaderRefusal::NotYourAddress {
                    field: "From",
                    address: "other@b.test".into(),
                    account: account.clone(),
                }),
            ),
            (header("nobody"), Err(HeaderRefusal::Unreadable { field: "From" })),
            (
                b"X-Caducee-Kind: notice\r\nFrom: dr@a.test\r\n\r\n".to_vec(),
                Err(HeaderRefusal::ControlHeader { name: "X-Caducee-Kind".into() }),
            ),
        ] {
            let (headers, _) = header_block::split_entity(&raw).expect("a header block");
            assert!(header_block::fields(headers).is_some(), "read directly");
            assert_eq!(check_header::<Words>(&raw, Some(&account)), verdict);
        }
    }
}
