//! Who a submitted message says it is from: its top-level `From:` and `Sender:` must name
//! the authenticated account, and the relay's own control headers (`X-Caducee-*`) are the
//! relay's to write, never a submitter's. Only the message's header is read: the body is
//! encrypted and stays unopened.

use std::sync::LazyLock;

use mail_parser::{HeaderName, HeaderValue, MessageParser};

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
fn check_header<V: Vocabulary>(raw: &[u8], account: Option<&V::Address>) -> Result<(), HeaderRefusal> {
    let Some(message) = HEADER_PARSER.parse_headers(raw) else {
        return Ok(());
    };
    for header in message.headers() {
        let name = header.name();
        let prefix = CONTROL_HEADER_PREFIX.as_bytes();
        if name.len() >= prefix.len() && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix) {
            return Err(HeaderRefusal::ControlHeader { name: name.to_owned() });
        }
        let Some(account) = account else {
            continue;
        };
        let field = if name.eq_ignore_ascii_case("from") {
            "From"
        } else if name.eq_ignore_ascii_case("sender") {
            "Sender"
        } else {
            continue;
        };
        check_addresses::<V>(field, header.value(), account)?;
    }
    Ok(())
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
