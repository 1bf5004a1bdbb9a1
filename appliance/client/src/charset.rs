//! The character sets practice software and spreadsheets write: UTF-8, ISO-8859-1 and
//! Windows-1252 (French HPRIM files are often Latin-1; French Excel saves CSV as
//! Windows-1252). Text is read into UTF-8 and written back in the set asked for.
//!
//! Windows-1252 goes through `encoding_rs`. ISO-8859-1 is done here: `encoding_rs` follows
//! the WHATWG Encoding Standard, which makes the label `iso-8859-1` mean Windows-1252, while
//! a practice's software that asks for Latin-1 wants exactly one byte per code point up to
//! U+00FF and nothing else (no `€` at 0x80).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A character set a file is read from or written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Charset {
    #[default]
    #[serde(rename = "utf-8")]
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    #[serde(rename = "iso-8859-1")]
    #[value(name = "iso-8859-1", alias = "latin1", alias = "latin-1")]
    Latin1,
    #[serde(rename = "windows-1252")]
    #[value(name = "windows-1252", alias = "cp1252")]
    Windows1252,
}

impl fmt::Display for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Charset::Utf8 => "utf-8",
            Charset::Latin1 => "iso-8859-1",
            Charset::Windows1252 => "windows-1252",
        })
    }
}

/// Why bytes are not text in the character set asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotText {
    #[error(
        "not UTF-8 (line {line}, byte {offset}): say which character set it is (--charset iso-8859-1 or windows-1252)"
    )]
    NotUtf8 { line: usize, offset: usize },
}

/// A UTF-8 byte order mark, which Excel writes and expects.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads `bytes` as text: in `asked` if given, else in the character set they are in — UTF-8
/// if they read as UTF-8 (with or without a byte order mark), else Windows-1252 when a byte
/// in 0x80–0x9F says so, else ISO-8859-1 (the two agree on every other byte). Returns the
/// text and the set it was read in.
pub fn decode(bytes: &[u8], asked: Option<Charset>) -> Result<(String, Charset), NotText> {
    let without_bom = bytes.strip_prefix(UTF8_BOM);
    let charset = match asked {
        Some(charset) => charset,
        None if without_bom.is_some() || std::str::from_utf8(bytes).is_ok() => Charset::Utf8,
        None if bytes.iter().any(|b| (0x80..=0x9F).contains(b)) => Charset::Windows1252,
        None => Charset::Latin1,
    };
    let text = match charset {
        Charset::Utf8 => {
            let bytes = without_bom.unwrap_or(bytes);
            std::str::from_utf8(bytes)
                .map_err(|e| NotText::NotUtf8 { line: line_of(bytes, e.valid_up_to()), offset: e.valid_up_to() })?
                .to_owned()
        }
        Charset::Latin1 => bytes.iter().map(|&b| char::from(b)).collect(),
        // Every byte reads (the five Windows leaves undefined as the C1 controls, as the
        // WHATWG standard says); a control where text belongs is for the reader to refuse.
        Charset::Windows1252 => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0.into_owned(),
    };
    Ok((text, charset))
}

/// Writes `text` in `charset`. A character the set cannot hold becomes `?`; the count of
/// those is returned beside the bytes so the caller can say so.
pub fn encode(text: &str, charset: Charset) -> (Vec<u8>, usize) {
    match charset {
        Charset::Utf8 => (text.as_bytes().to_vec(), 0),
        Charset::Latin1 => {
            let mut replaced = 0;
            let bytes = text
                .chars()
                .map(|c| {
                    u8::try_from(u32::from(c)).unwrap_or_else(|_| {
                        replaced += 1;
                        b'?'
                    })
                })
                .collect();
            (bytes, replaced)
        }
        Charset::Windows1252 => {
            let mut encoder = encoding_rs::WINDOWS_1252.new_encoder();
            let mut out = Vec::with_capacity(text.len());
            let (mut rest, mut replaced) = (text, 0);
            let mut buffer = [0u8; 1024];
            loop {
                let (result, read, written) = encoder.encode_from_utf8_without_replacement(rest, &mut buffer, true);
                out.extend_from_slice(&buffer[..written]);
                rest = &rest[read..];
                match result {
                    encoding_rs::EncoderResult::InputEmpty => break,
                    encoding_rs::EncoderResult::OutputFull => {}
                    encoding_rs::EncoderResult::Unmappable(_) => {
                        out.push(b'?');
                        replaced += 1;
                    }
                }
            }
            (out, replaced)
        }
    }
}

/// The line (from 1) that byte `offset` is on.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_set_reads_and_detection_tells_them_apart() {
        let text = "Œdème du pied, 12 € — Hôpital";
        let (cp1252, replaced) = encode(text, Charset::Windows1252);
        assert_eq!(replaced, 0);
        assert_eq!(decode(&cp1252, None), Ok((text.to_owned(), Charset::Windows1252)));
        let (latin1, replaced) = encode(text, Charset::Latin1);
        assert_eq!(replaced, 3, "Œ, € and — are not Latin-1");
        assert_eq!(decode(&latin1, None), Ok(("?dème du pied, 12 ? ? Hôpital".to_owned(), Charset::Latin1)));
        assert_eq!(decode(text.as_bytes(), None), Ok((text.to_owned(), Charset::Utf8)));
        let with_bom = [UTF8_BOM, text.as_bytes()].concat();
        assert_eq!(decode(&with_bom, None), Ok((text.to_owned(), Charset::Utf8)));
        assert_eq!(decode(&with_bom, Some(Charset::Utf8)), Ok((text.to_owned(), Charset::Utf8)));
    }

    #[test]
    fn bytes_that_are_not_the_set_asked_for_are_said_with_their_line() {
        assert_eq!(decode(b"ok\nH\xe9\n", Some(Charset::Utf8)), Err(NotText::NotUtf8 { line: 2, offset: 4 }));
        // Every byte is a character of the two single-byte sets.
        assert_eq!(decode(b"b\x81", Some(Charset::Latin1)).map(|(t, _)| t.chars().count()), Ok(2));
        assert_eq!(decode(b"b\x81", Some(Charset::Windows1252)).map(|(t, _)| t.chars().count()), Ok(2));
    }
}
