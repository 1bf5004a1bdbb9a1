//! [`Fingerprint`]: an OpenPGP primary key's fingerprint as the store keeps it in each
//! certificate record — upper-case hex — and as its raw bytes, which key the
//! fingerprint index.

use std::fmt;

use bincode::{Decode, Encode};

/// An OpenPGP key fingerprint, upper-case hex without spaces (what sequoia's `to_hex` and
/// gpg print). Built by [`Fingerprint::from_bytes`] or [`Fingerprint::parse`]; stored and
/// serialised as its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode, serde::Serialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

/// Why a text is not a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    /// Empty, an odd number of digits, or a character that is not a hex digit.
    #[error("a fingerprint is an even number of hexadecimal digits")]
    NotHex,
}

impl Fingerprint {
    /// The fingerprint of these raw bytes (as an OpenPGP implementation hands them out).
    pub fn from_bytes(raw: &[u8]) -> Fingerprint {
        Fingerprint(raw.iter().map(|b| format!("{b:02X}")).collect())
    }

    /// Parses hex digits, upper- or lower-case, without spaces.
    pub fn parse(text: &str) -> Result<Fingerprint, FingerprintError> {
        if text.is_empty() || !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FingerprintError::NotHex);
        }
        Ok(Fingerprint(text.to_ascii_uppercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The raw bytes: the fingerprint index's key.
    pub fn to_bytes(&self) -> Vec<u8> {
        let digits: Vec<u8> = self.0.bytes().filter_map(|b| (b as char).to_digit(16).map(|d| d as u8)).collect();
        digits.chunks_exact(2).map(|pair| pair[0] << 4 | pair[1]).collect()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Fingerprint {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Fingerprint {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Fingerprint {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Fingerprint {
    fn eq(&self, other: &String) -> bool {
        self.0 == *other
    }
}

impl PartialEq<Fingerprint> for String {
    fn eq(&self, other: &Fingerprint) -> bool {
        *self == other.0
    }
}

impl PartialEq<Fingerprint> for &str {
    fn eq(&self, other: &Fingerprint) -> bool {
        *self == other.0
    }
}

/// Read back through [`Fingerprint::parse`]: a fingerprint from the wire is checked.
impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Fingerprint::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_upper_case_hex_of_their_bytes() {
        let fingerprint = Fingerprint::from_bytes(&[0x0a, 0xbc, 0xff]);
        assert_eq!(fingerprint.as_str(), "0ABCFF");
        assert_eq!(fingerprint.to_bytes(), [0x0a, 0xbc, 0xff]);
        assert_eq!(Fingerprint::parse("0abcff"), Ok(fingerprint.clone()));
        assert_eq!(Fingerprint::parse("0ABCF"), Err(FingerprintError::NotHex));
        assert_eq!(Fingerprint::parse("0A BC"), Err(FingerprintError::NotHex));
        assert_eq!(Fingerprint::parse(""), Err(FingerprintError::NotHex));
    }

    #[test]
    fn a_fingerprint_is_stored_and_serialised_as_its_text() {
        let fingerprint = Fingerprint::from_bytes(&[0x12, 0x34]);
        let as_string = bincode::encode_to_vec("1234".to_owned(), bincode::config::standard()).expect("encodes");
        let as_fingerprint = bincode::encode_to_vec(&fingerprint, bincode::config::standard()).expect("encodes");
        assert_eq!(as_fingerprint, as_string);
        assert_eq!(serde_json::to_string(&fingerprint).ok(), Some("\"1234\"".to_owned()));
        assert_eq!(serde_json::from_str::<Fingerprint>("\"1234\"").ok(), Some(fingerprint));
    }
}
