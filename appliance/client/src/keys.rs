//! The shape of a practice's keys, the same whether the relay issues them or the practice
//! makes its own (`keygen`); the installation code that opens a bundle; and the renewal
//! message that brings next year's keys.
//!
//! Keys are version 4 (RFC 4880 profile) on Curve25519 so that gpg 2.2, found on every
//! practice's Debian or Windows machine, reads them: a certification-only primary key, a
//! signing subkey and an encryption subkey.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sequoia_openpgp::cert::{CertBuilder, CipherSuite};
use sequoia_openpgp::types::{Features, KeyFlags};
use sequoia_openpgp::{Cert, Profile};

/// Characters of an installation code: Crockford's base32 (no I, L, O, U).
pub const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// 20 characters × 5 bits = 100 bits, shown as four groups of five.
pub const CODE_CHARS: usize = 20;

/// The first line of the plaintext of a renewal message.
pub const RENEWAL_TITLE: &str = "Caducée key renewal";

/// Why keys could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// Sequoia refused to build the certificate.
    #[error("OpenPGP: {0}")]
    OpenPgp(String),
    /// The validity asked for is empty.
    #[error("the expiry must come after the creation time")]
    EmptyValidity,
}

/// A new certificate with its secret keys, user ID `userid`, valid from `created` for
/// `validity`.
pub fn build(userid: String, created: SystemTime, validity: Duration) -> Result<Cert, KeysError> {
    let pgp = |error: sequoia_openpgp::anyhow::Error| KeysError::OpenPgp(error.to_string());
    let (cert, _unspecified) = CertBuilder::new()
        .set_profile(Profile::RFC4880)
        .map_err(pgp)?
        .set_cipher_suite(CipherSuite::Cv25519)
        // SEIPD version 1 (with MDC) only: gpg 2.2 reads nothing newer, so no sender may
        // choose version 2 for these keys.
        .set_features(Features::empty().set_seipdv1())
        .map_err(pgp)?
        .set_creation_time(created)
        .set_validity_period(validity)
        .set_primary_key_flags(KeyFlags::empty().set_certification())
        .add_userid(userid)
        .add_signing_subkey()
        .add_subkey(KeyFlags::empty().set_transport_encryption().set_storage_encryption(), None, None)
        .generate()
        .map_err(pgp)?;
    Ok(cert)
}

/// Keys a practice makes for itself (`keygen`), as the relay would issue them: user ID
/// `Name <address>` when a name is given. `at` and `expires_at` in milliseconds since the
/// epoch (OpenPGP keeps seconds).
pub fn generate_for_practice(address: &str, name: Option<&str>, at: u64, expires_at: u64) -> Result<Cert, KeysError> {
    if expires_at / 1000 <= at / 1000 {
        return Err(KeysError::EmptyValidity);
    }
    let validity = Duration::from_secs(expires_at / 1000 - at / 1000);
    build(userid(address, name), UNIX_EPOCH + Duration::from_secs(at / 1000), validity)
}

/// The user ID of keys for `address`: `Name <address>`, the name kept to what a user ID's
/// name may hold (no angle brackets, no control characters), or `<address>` alone.
pub fn userid(address: &str, name: Option<&str>) -> String {
    let name: String = name
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '<' | '>' | '"'))
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if name.is_empty() {
        format!("<{address}>")
    } else {
        format!("{name} <{address}>")
    }
}

/// A typed installation code in its canonical form: upper case, groups of five, the
/// look-alikes O/I/L read as 0/1/1, spaces and dashes anywhere. `None` if it cannot be one.
pub fn normalise_code(typed: &str) -> Option<String> {
    let mut chars = String::with_capacity(CODE_CHARS);
    for c in typed.chars() {
        let c = match c.to_ascii_uppercase() {
            ' ' | '-' | '\t' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c if c.is_ascii() && CODE_ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        chars.push(c);
    }
    if chars.len() != CODE_CHARS {
        return None;
    }
    let groups: Vec<&str> = (0..4).map(|i| &chars[i * 5..i * 5 + 5]).collect();
    Some(groups.join("-"))
}

/// A renewal message's plaintext, read back: (installation code, bundle text).
pub fn read_renewal(plaintext: &str) -> Option<(String, String)> {
    let rest = plaintext.strip_prefix(RENEWAL_TITLE)?;
    let code = rest.lines().find_map(|line| line.strip_prefix("Installation-Code: "))?.trim().to_owned();
    let start = rest.find("Caducée installation bundle\n")?;
    Some((code, rest[start..].to_owned()))
}
