//! Shared by the machines' tests: the words they speak (a test [`Vocabulary`]), the gpg
//! message they start from, and the small encodings a client would do.
#![allow(dead_code)] // each test binary uses its own share of these helpers

use base64::Engine as _;
use caducee_protocol::Vocabulary;

/// The words of these tests: addresses are lower-cased text; accounts, messages and
/// unique ids are numbers of their own types, so that one is never passed for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Words;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountId(pub u64);
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageId(pub u64);
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uid(pub u32);
pub type Address = String;

impl Vocabulary for Words {
    type Address = Address;
    type Account = AccountId;
    type Recipient = AccountId;
    type Message = MessageId;
    type Uid = Uid;

    fn parse_address(text: &str) -> Option<Address> {
        let (local, domain) = text.trim().split_once('@')?;
        (!local.is_empty() && !domain.is_empty() && !domain.contains('@')).then(|| text.trim().to_ascii_lowercase())
    }

    fn unique_id(uid: Uid) -> String {
        uid.0.to_string()
    }
}

/// `text` with CRLF line ends, whatever it had.
pub fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// A message gpg encrypted to two keys, ASCII-armoured.
pub const ENCRYPTED_ASC: &str = include_str!("../fixtures/encrypted.asc");

/// `armored` as the encrypted part of a PGP/MIME message (RFC 3156), with `header` lines
/// (each ending in CRLF) in front of `To:`, `Subject:` and the MIME headers.
pub fn pgp_mime_with(header: &str, armored: &str) -> String {
    let armored = armored.replace('\n', "\r\n");
    format!(
        "{header}To: b@relay.test\r\nSubject: Compte rendu\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n\
         --b1\r\nContent-Type: application/octet-stream\r\n\r\n{armored}\r\n--b1--\r\n"
    )
}

/// `armored` as the encrypted part of a PGP/MIME message from a@relay.test to b@relay.test.
pub fn pgp_mime(armored: &str) -> String {
    pgp_mime_with("From: a@relay.test\r\n", armored)
}

/// The `AUTH PLAIN` token of `user` and `password` (RFC 4616).
pub fn base64_plain(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}
