//! The PGP/MIME layout read directly (`content::pgp_mime::accept`) against the general
//! check through mail-parser (`content::check_parsed_message`): what mail programs write is
//! read directly, what it does not know goes the general way, and whatever it accepts, the
//! general check accepts with the same findings — on messages mutated where the MIME
//! structure lies.

use caducee_protocol::content::{check_encrypted_message, check_parsed_message, pgp_mime, ContentError};
use common::*;
use proptest::prelude::*;

mod common;

const SQ_ENCRYPTED_ASC: &str = include_str!("fixtures/sq_encrypted.asc");

/// Thunderbird's layout: folded type, dashed boundary, preamble sentence, described and
/// named parts, and an epilogue line.
fn thunderbird(armoured: &str) -> String {
    let b = "------------0YbN3fTqd8xc2yBL1Wm4sKzA";
    format!(
        "Message-ID: <4b1c@cabinet.test>\r\nDate: Mon, 1 Dec 2025 10:00:00 +0100\r\nMIME-Version: 1.0\r\n\
         From: Dr Martin <a@relay.test>\r\nTo: b@relay.test\r\nSubject: Compte rendu\r\n\
         Content-Type: multipart/encrypted;\r\n protocol=\"application/pgp-encrypted\";\r\n boundary=\"{b}\"\r\n\r\n\
         This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n--{b}\r\n\
         Content-Type: application/pgp-encrypted\r\nContent-Description: PGP/MIME version identification\r\n\r\n\
         Version: 1\r\n\r\n--{b}\r\n\
         Content-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\
         Content-Description: OpenPGP encrypted message\r\n\
         Content-Disposition: inline; filename=\"encrypted.asc\"\r\n\r\n{}\r\n\r\n--{b}--\r\n\r\n",
        crlf(armoured)
    )
}

/// The practice client's layout (mail-builder): encodings named, a token boundary.
fn practice_client(armoured: &str) -> String {
    let b = "caducee-1764579600";
    format!(
        "From: <a@relay.test>\r\nTo: <b@relay.test>\r\nSubject: Compte rendu\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; \r\n\tboundary={b}\r\n\r\n\
         --{b}\r\nContent-Type: application/pgp-encrypted\r\nContent-Transfer-Encoding: 7bit\r\n\r\nVersion: 1\r\n\r\n\
         --{b}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{}\r\n--{b}--\r\n",
        crlf(armoured).trim_end()
    )
}

#[test]
fn what_mail_programs_write_is_read_directly_with_the_general_checks_findings() {
    for (what, message) in [
        ("the tests' layout", pgp_mime(ENCRYPTED_ASC)),
        ("Thunderbird's", thunderbird(ENCRYPTED_ASC)),
        ("the practice client's", practice_client(ENCRYPTED_ASC)),
        ("sq's armour", practice_client(SQ_ENCRYPTED_ASC)),
    ] {
        let direct = pgp_mime::accept(message.as_bytes());
        assert!(direct.is_some(), "{what} is read directly");
        assert_eq!(direct.clone().map(Ok), Some(check_parsed_message(message.as_bytes())), "{what}");
        assert_eq!(direct.map(|c| c.recipients.len()), Some(2), "{what}");
    }
}

#[test]
fn lawful_layouts_it_does_not_read_go_the_general_way() {
    let plain = pgp_mime(ENCRYPTED_ASC);
    let base64_data = {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(crlf(ENCRYPTED_ASC));
        plain
            .replace(
                "Content-Type: application/octet-stream\r\n\r\n",
                "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n",
            )
            .replace(&crlf(ENCRYPTED_ASC), &encoded)
    };
    for (what, message) in [
        ("LF line ends", plain.replace("\r\n", "\n")),
        ("a comment in the type", plain.replace("multipart/encrypted;", "multipart/encrypted (PGP);")),
        ("padding after a delimiter", plain.replacen("--b1\r\n", "--b1  \r\n", 1)),
        ("a base64 data part", base64_data),
        ("inline armour", format!("From: a@relay.test\r\n\r\n{}", crlf(ENCRYPTED_ASC))),
        ("an RFC 2231 boundary", plain.replace("boundary=\"b1\"", "boundary*=\"b1\"")),
    ] {
        assert_eq!(pgp_mime::accept(message.as_bytes()), None, "{what}");
        assert_eq!(check_encrypted_message(message.as_bytes()).map(|c| c.recipients.len()), Ok(2), "{what}");
    }
}

#[test]
fn refusals_are_the_general_checks() {
    let plain = pgp_mime(ENCRYPTED_ASC);
    for (what, message, refusal) in [
        (
            "clear control part",
            plain.replace("Version: 1\r\n", "Version: 1\r\nPatient: Dupont\r\n"),
            ContentError::ClearControlPart,
        ),
        (
            "clear preamble",
            plain.replacen("--b1\r\n", "Dupont Jean\r\n--b1\r\n", 1),
            ContentError::TextOutsideParts("preamble"),
        ),
        ("clear epilogue", format!("{plain}HbA1c 9.1 %\r\n"), ContentError::TextOutsideParts("epilogue")),
        (
            "text after the armour",
            plain.replace("-----END PGP MESSAGE-----\r\n", "-----END PGP MESSAGE-----\r\nDupont\r\n"),
            ContentError::TextAfterArmour,
        ),
    ] {
        assert_eq!(pgp_mime::accept(message.as_bytes()), None, "{what}");
        assert_eq!(check_encrypted_message(message.as_bytes()), Err(refusal), "{what}");
    }
}

/// What a mutation puts in: the structure's own characters, lines and fields, `{b}` being
/// the message's boundary.
const SNIPPETS: &[&str] = &[
    "\r\n",
    "\n",
    "\r",
    " ",
    "\t",
    "\r\n ",
    "\r\n\r\n",
    "-",
    "--",
    "--{b}",
    "--{b}--",
    "\r\n--{b}\r\n",
    "\r\n--{b}--\r\n",
    "{b}",
    ":",
    ";",
    "=",
    "\"",
    "(",
    "\\",
    "*",
    "?",
    "Content-Type: text/plain\r\n",
    "Content-Type: application/octet-stream\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "Content-Transfer-Encoding: quoted-printable\r\n",
    "Content-Disposition: inline\r\n",
    "MIME-Version: 1.0\r\n",
    "X-Note: a\r\n",
    "Version: 1\r\n",
    "Dupont Jean\r\n",
    "This is a multi-part message in MIME format.\r\n",
    "-----END PGP MESSAGE-----\r\n",
    "-----BEGIN PGP MESSAGE-----\r\n",
    "; charset=utf-8",
    "; boundary=\"{b}x\"",
    "; protocol=\"application/pgp-signature\"",
    "; name*=x",
    "\0",
    "é",
    "A",
];

#[derive(Debug, Clone)]
enum Edit {
    Insert(prop::sample::Index, prop::sample::Index),
    Delete(prop::sample::Index, usize),
    FlipCase(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(|(at, s)| Edit::Insert(at, s)),
        2 => (any::<prop::sample::Index>(), 1usize..12).prop_map(|(at, n)| Edit::Delete(at, n)),
        1 => any::<prop::sample::Index>().prop_map(Edit::FlipCase),
    ]
}

/// Positions where the structure lies: everything but the inside of the armour's base64,
/// where a change is the OpenPGP reader's to refuse, the same for both.
fn structure_positions(message: &[u8]) -> Vec<usize> {
    let text = String::from_utf8_lossy(message);
    let data_start = text.find("-----BEGIN PGP MESSAGE-----").map_or(0, |at| at + 40);
    let data_end = text.rfind("-----END PGP MESSAGE-----").unwrap_or(message.len()).max(data_start);
    (0..=message.len()).filter(|&at| at < data_start || at >= data_end.saturating_sub(8)).collect()
}

fn apply(base: &str, boundary: &str, edits: &[Edit]) -> Vec<u8> {
    let mut message = base.as_bytes().to_vec();
    for edit in edits {
        let positions = structure_positions(&message);
        match edit {
            Edit::Insert(at, snippet) => {
                let at = *at.get(&positions);
                let snippet = snippet.get(SNIPPETS).replace("{b}", boundary);
                message.splice(at..at, snippet.bytes());
            }
            Edit::Delete(at, n) => {
                let at = *at.get(&positions);
                let end = (at + n).min(message.len());
                message.drain(at..end);
            }
            Edit::FlipCase(at) => {
                let at = *at.get(&positions);
                if let Some(byte) = message.get_mut(at) {
                    *byte =
                        if byte.is_ascii_uppercase() { byte.to_ascii_lowercase() } else { byte.to_ascii_uppercase() };
                }
            }
        }
    }
    message
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    /// Whatever the direct reading accepts, the general check accepts, with the same keys.
    #[test]
    fn what_is_read_directly_is_what_the_general_check_accepts(
        layout in 0usize..3,
        edits in proptest::collection::vec(edit(), 1..4),
    ) {
        let (base, boundary) = match layout {
            0 => (pgp_mime(ENCRYPTED_ASC), "b1"),
            1 => (thunderbird(ENCRYPTED_ASC), "------------0YbN3fTqd8xc2yBL1Wm4sKzA"),
            _ => (practice_client(ENCRYPTED_ASC), "caducee-1764579600"),
        };
        let message = apply(&base, boundary, &edits);
        if let Some(direct) = pgp_mime::accept(&message) {
            prop_assert_eq!(Ok(direct), check_parsed_message(&message), "{}", String::from_utf8_lossy(&message));
        }
    }
}
