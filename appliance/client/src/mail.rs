//! The messages the relay and its client write, built by `mail-builder` (RFC 5322, RFC 2045
//! and RFC 2047): every one has a `Date` at the injected clock's time, a `Message-ID` in the
//! writer's domain, and any header word outside ASCII ("Caducée") encoded as RFC 2047
//! says. Content that must stay byte for byte — an OpenPGP armoured block, a part a
//! signature covers — is carried as written (7-bit, never re-encoded).

use std::borrow::Cow;

use mail_send::mail_builder::headers::address::Address;
use mail_send::mail_builder::headers::content_type::ContentType;
use mail_send::mail_builder::mime::{BodyPart, MimePart};
use mail_send::mail_builder::MessageBuilder;

/// The name every message of the relay is from.
pub const RELAY_NAME: &str = "Caducée";

/// A `Message-ID` (without its angle brackets) unique to this message: the time it was
/// written and 64 random bits, at `domain`.
pub fn message_id(domain: &str, at: u64) -> String {
    use ring::rand::SecureRandom as _;
    let mut random = [0u8; 8];
    // Uniqueness, not secrecy: should the system's generator fail, the time alone remains.
    let _ = ring::rand::SystemRandom::new().fill(&mut random);
    format!("{at}.{:016x}@{domain}", u64::from_be_bytes(random))
}

/// The domain of an address (what follows its last `@`), for a `Message-ID`.
pub fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or(address, |(_, domain)| domain)
}

/// Who a message is from and to, its subject and when it was written.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    /// The sender's address, and its display name if any.
    pub from: (Option<&'a str>, &'a str),
    pub to: Vec<&'a str>,
    pub subject: &'a str,
    /// When it was written, in milliseconds since the epoch (the caller's clock).
    pub at: u64,
}

impl<'a> Headers<'a> {
    /// A builder holding these headers, a `Date` and a `Message-ID`; the caller adds its own
    /// headers and the body.
    pub fn builder(&self) -> MessageBuilder<'a> {
        let from: Address<'a> = match self.from {
            (Some(name), address) => (name, address).into(),
            (None, address) => address.into(),
        };
        MessageBuilder::new()
            .from(from)
            .to(self.to.clone())
            .subject(self.subject)
            .date(i64::try_from(self.at / 1000).unwrap_or(i64::MAX))
            .message_id(message_id(domain_of(self.from.1), self.at))
    }
}

/// A part written as given, headers and all (a signed entity, whose bytes must not change).
pub fn verbatim(entity: impl Into<Cow<'static, [u8]>>) -> MimePart<'static> {
    MimePart::raw(BodyPart::Binary(entity.into()))
}

/// A part of plain 7-bit text, written as given under its content type.
pub fn seven_bit<'a>(content_type: impl Into<ContentType<'a>>, text: impl Into<String>) -> MimePart<'a> {
    // As bytes: mail-builder would give a text part a `charset` its type does not take.
    MimePart::new(content_type, BodyPart::Binary(Cow::Owned(text.into().into_bytes()))).transfer_encoding("7bit")
}

/// The body of a PGP/MIME encrypted message (RFC 3156 4): the version part and the armoured
/// block, with CRLF line ends.
pub fn pgp_encrypted_body(armoured: &str, boundary: &str) -> MimePart<'static> {
    let armoured = armoured.replace("\r\n", "\n").replace('\n', "\r\n");
    let armoured = armoured.strip_suffix("\r\n").map(str::to_owned).unwrap_or(armoured);
    MimePart::new(
        ContentType::new("multipart/encrypted")
            .attribute("protocol", "application/pgp-encrypted")
            .attribute("boundary", boundary.to_owned()),
        vec![seven_bit("application/pgp-encrypted", "Version: 1\r\n"), seven_bit("application/octet-stream", armoured)],
    )
}

/// A message's bytes. Writing to memory cannot fail; mail-builder's signature says it could.
pub fn write(builder: MessageBuilder<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    if let Err(error) = builder.write_to(&mut out) {
        tracing::error!(%error, "writing a message to memory failed");
    }
    out
}

/// A MIME entity's bytes (its headers, a blank line, its content).
pub fn entity(part: MimePart<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    if let Err(error) = part.write_part(&mut out) {
        tracing::error!(%error, "writing a MIME entity to memory failed");
    }
    out
}

#[cfg(test)]
mod tests {
    use mail_parser::MimeHeaders as _;

    use super::*;

    fn parsed(raw: &[u8]) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default().parse(raw).expect("a message")
    }

    #[test]
    fn headers_carry_date_message_id_and_encoded_words() {
        let at = 1_798_761_599_000; // 2026-12-31T23:59:59Z
        let headers = Headers {
            from: (Some(RELAY_NAME), "postmaster@relay.test"),
            to: vec!["a@relay.test"],
            subject: "Clés",
            at,
        };
        let raw = write(headers.builder().text_body("texte"));
        let text = String::from_utf8(raw.clone()).expect("ASCII");
        assert!(text.is_ascii(), "{text}");
        assert!(text.contains("Date: Thu, 31 Dec 2026 23:59:59 +0000\r\n"), "{text}");
        let message = parsed(&raw);
        assert_eq!(message.from().and_then(|a| a.first()).and_then(|a| a.name()), Some("Caducée"));
        assert_eq!(message.subject(), Some("Clés"));
        let id = message.message_id().expect("a Message-ID");
        assert!(id.starts_with("1798761599000.") && id.ends_with("@relay.test"), "{id}");
        assert_ne!(id, message_id("relay.test", at));
    }

    #[test]
    fn an_encrypted_body_keeps_the_armoured_block_as_written() {
        let armoured = "-----BEGIN PGP MESSAGE-----\n\nwcBMA+xyz\n=abcd\n-----END PGP MESSAGE-----\n";
        let headers = Headers { from: (None, "a@relay.test"), to: vec!["b@relay.test"], subject: "s", at: 0 };
        let raw = write(headers.builder().body(pgp_encrypted_body(armoured, "b1")));
        let text = String::from_utf8(raw.clone()).expect("ASCII");
        assert!(
            text.contains(
                "\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nwcBMA+xyz\r\n=abcd\r\n-----END PGP MESSAGE-----\r\n--b1--"
            ),
            "{text}"
        );
        let message = parsed(&raw);
        let content_type = message.content_type().expect("a content type");
        assert_eq!((content_type.ctype(), content_type.subtype()), ("multipart", Some("encrypted")));
        assert_eq!(content_type.attribute("protocol"), Some("application/pgp-encrypted"));
        assert_eq!(message.attachment_count() + message.text_body_count(), 2, "{text}");
    }
}
