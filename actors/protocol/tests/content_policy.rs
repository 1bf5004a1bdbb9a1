//! The encrypted-content policy against clear text slipped beside real encrypted data: in
//! the PGP/MIME control part, in a multipart preamble or epilogue, after the armour's END
//! line, in armour headers. And what real programs write is still accepted.
//!
//! Fixtures: `encrypted.asc` (gpg, two recipients); `gpg_headers.asc` (gpg 2.2 with
//! `--emit-version` and two `--comment` lines, keys made with `--faked-system-time
//! 20250101T000000`); `sq_encrypted.asc` (sq 0.27 `encrypt --time 20250601` to two
//! certificates generated with `--creation-time 20250101`, signed).

use caducee_protocol::content::{
    check_encrypted_message, check_openpgp, ContentError, EncryptedContent, ARMOUR_HEADER_LINES_MAX,
    ARMOUR_HEADER_LINE_CHARS_MAX,
};
use caducee_protocol::smtp::{self, SmtpConfig};
use common::*;
use proptest::prelude::*;

mod common;

const GPG_HEADERS_ASC: &str = include_str!("fixtures/gpg_headers.asc");
const SQ_ENCRYPTED_ASC: &str = include_str!("fixtures/sq_encrypted.asc");

/// A PGP/MIME message as RFC 3156 lays it out, with each free slot given.
struct PgpMime<'a> {
    preamble: &'a str,
    control: &'a str,
    armoured: &'a str,
    epilogue: &'a str,
}

impl Default for PgpMime<'_> {
    fn default() -> Self {
        PgpMime { preamble: "", control: "Version: 1\r\n", armoured: ENCRYPTED_ASC, epilogue: "" }
    }
}

impl PgpMime<'_> {
    fn build(&self) -> String {
        let armoured = crlf(self.armoured);
        let PgpMime { preamble, control, epilogue, .. } = self;
        format!(
            "From: a@relay.test\r\nTo: b@relay.test\r\nSubject: Compte rendu\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b1\"\r\n\r\n\
             {preamble}--b1\r\nContent-Type: application/pgp-encrypted\r\n\r\n{control}\r\n\
             --b1\r\nContent-Type: application/octet-stream\r\n\r\n{armoured}\r\n--b1--\r\n{epilogue}"
        )
    }

    fn check(&self) -> Result<usize, ContentError> {
        check_encrypted_message(self.build().as_bytes()).map(|content| content.recipients.len())
    }
}

fn inline(armoured: &str) -> Result<usize, ContentError> {
    let message = format!("From: a@relay.test\r\nSubject: x\r\n\r\n{}", crlf(armoured));
    check_encrypted_message(message.as_bytes()).map(|content| content.recipients.len())
}

fn armour(armoured: &str) -> Result<usize, ContentError> {
    let mut found = EncryptedContent { recipients: Vec::new(), encrypted_parts: 0 };
    check_openpgp(armoured.as_bytes(), &mut found).map(|()| found.recipients.len())
}

/// The fixture's armour with `headers` put between its BEGIN line and its blank line.
fn with_headers(headers: &[String]) -> String {
    let (begin, rest) = ENCRYPTED_ASC.split_once('\n').expect("a BEGIN line");
    let headers: String = headers.iter().map(|h| format!("{h}\n")).collect();
    format!("{begin}\n{headers}{rest}")
}

#[test]
fn what_gpg_sq_thunderbird_and_the_practice_client_write_is_accepted() {
    assert_eq!(PgpMime::default().check(), Ok(2), "gpg in PGP/MIME, as the practice client sends it");
    assert_eq!(PgpMime { armoured: GPG_HEADERS_ASC, ..Default::default() }.check(), Ok(2), "gpg with headers");
    assert_eq!(PgpMime { armoured: SQ_ENCRYPTED_ASC, ..Default::default() }.check(), Ok(2), "sq");
    assert_eq!(inline(GPG_HEADERS_ASC), Ok(2));
    assert_eq!(inline(SQ_ENCRYPTED_ASC), Ok(2));
    // Thunderbird's layout: its preamble sentence, CRLF and blank lines around the parts.
    let thunderbird = PgpMime {
        preamble: "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n",
        control: "Version: 1\r\n",
        epilogue: "\r\n",
        ..Default::default()
    };
    assert_eq!(thunderbird.check(), Ok(2));
    // Blank lines and spaces are no content.
    let blank = PgpMime {
        preamble: "\r\n \r\n",
        control: "\r\nVersion: 1\r\n\r\n",
        epilogue: " \r\n\r\n",
        ..Default::default()
    };
    assert_eq!(blank.check(), Ok(2));
    // Nested multipart: the outer and inner delimiters are told apart.
    let nested = format!(
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
         This is a multi-part message in MIME format.\r\n--outer\r\n{}\r\n--outer--\r\n",
        PgpMime::default().build().split_once("MIME-Version: 1.0\r\n").expect("headers").1
    );
    assert_eq!(check_encrypted_message(nested.as_bytes()).map(|c| c.recipients.len()), Ok(2));
}

#[test]
fn clear_text_in_the_pgp_mime_control_part_is_refused() {
    for control in [
        "Version: 1\r\nPatient: Dupont Jean, HbA1c 9.1 %\r\n",
        "Patient Dupont\r\nVersion: 1\r\n",
        "Version: 1 Dupont\r\n",
        "Version: 2\r\n",
    ] {
        assert_eq!(
            PgpMime { control, ..Default::default() }.check(),
            Err(ContentError::ClearControlPart),
            "{control:?}"
        );
    }
    let refused = PgpMime { control: "Version: 1\r\nDupont\r\n", ..Default::default() }.check().expect_err("refused");
    assert!(refused.to_string().contains("control part"), "{refused}");
    assert!(!refused.to_string().contains("Dupont"), "a refusal does not repeat the clear text");
    // Base64 transfer encoding does not hide it either.
    let encoded = PgpMime::default().build().replace(
        "Content-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n",
        "Content-Type: application/pgp-encrypted\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         VmVyc2lvbjogMQpQYXRpZW50IER1cG9udAo=\r\n",
    );
    assert_eq!(check_encrypted_message(encoded.as_bytes()), Err(ContentError::ClearControlPart));
    // A control part met outside its multipart/encrypted parent is held to the same rule.
    let loose = format!(
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\n\
         Content-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\nPatient Dupont\r\n--m\r\n\
         Content-Type: application/octet-stream\r\n\r\n{}\r\n--m--\r\n",
        crlf(ENCRYPTED_ASC)
    );
    assert_eq!(check_encrypted_message(loose.as_bytes()), Err(ContentError::ClearControlPart));
}

#[test]
fn clear_text_in_a_multipart_preamble_or_epilogue_is_refused() {
    let preamble = PgpMime { preamble: "Patient Dupont Jean, ne le 01/02/1960\r\n", ..Default::default() };
    assert_eq!(preamble.check(), Err(ContentError::TextOutsideParts("preamble")));
    let epilogue = PgpMime { epilogue: "Resultats: HIV positif\r\n", ..Default::default() };
    assert_eq!(epilogue.check(), Err(ContentError::TextOutsideParts("epilogue")));
    let after_blank = PgpMime { epilogue: "\r\n\r\nDupont\r\n", ..Default::default() };
    assert_eq!(after_blank.check(), Err(ContentError::TextOutsideParts("epilogue")));
    // The accepted preamble sentence is compared whole.
    let longer = PgpMime {
        preamble: "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156) for Mr Dupont\r\n",
        ..Default::default()
    };
    assert_eq!(longer.check(), Err(ContentError::TextOutsideParts("preamble")));
    // Text after a delimiter, on its line, is outside the parts too.
    let closing = PgpMime::default().build().replace("--b1--\r\n", "--b1-- Dupont\r\n");
    assert_eq!(check_encrypted_message(closing.as_bytes()), Err(ContentError::TextOutsideParts("epilogue")));
    for delimiter in ["--b1 Patient Dupont\r\n", "--b1Patient Dupont\r\n"] {
        let opening = PgpMime::default().build().replacen("--b1\r\n", delimiter, 1);
        assert_eq!(
            check_encrypted_message(opening.as_bytes()),
            Err(ContentError::TextOutsideParts("delimiter line")),
            "{delimiter:?}"
        );
        let between = PgpMime::default().build().replacen("\r\n--b1\r\n", &format!("\r\n{delimiter}"), 1);
        assert_eq!(
            check_encrypted_message(between.as_bytes()),
            Err(ContentError::TextOutsideParts("delimiter line")),
            "{delimiter:?}"
        );
    }
    // Transport padding (RFC 2046 §5.1.1) is whitespace, and fine.
    let padded = PgpMime::default().build().replace("--b1\r\n", "--b1 \t\r\n");
    assert_eq!(check_encrypted_message(padded.as_bytes()).map(|c| c.encrypted_parts), Ok(1));
    // The same holds for the multipart/mixed around an attachment.
    let mixed = format!(
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\nPatient Dupont\r\n--m\r\n\
         Content-Type: application/octet-stream\r\n\r\n{}\r\n--m--\r\n",
        crlf(ENCRYPTED_ASC)
    );
    assert_eq!(check_encrypted_message(mixed.as_bytes()), Err(ContentError::TextOutsideParts("preamble")));
    let refused = epilogue.check().expect_err("refused").to_string();
    assert!(refused.contains("epilogue") && !refused.contains("HIV"), "{refused}");
}

#[test]
fn text_after_the_armour_end_line_is_refused() {
    let second_end = format!("{ENCRYPTED_ASC}Patient Dupont, HbA1c 9.1 %\n-----END PGP MESSAGE-----\n");
    assert_eq!(armour(&second_end), Err(ContentError::TextAfterArmour));
    assert_eq!(inline(&second_end), Err(ContentError::TextAfterArmour));
    assert_eq!(PgpMime { armoured: &second_end, ..Default::default() }.check(), Err(ContentError::TextAfterArmour));
    let trailing = format!("{ENCRYPTED_ASC}\nPS: the patient is Mr Dupont\n");
    assert_eq!(armour(&trailing), Err(ContentError::TextAfterArmour));
    assert_eq!(inline(&trailing), Err(ContentError::TextAfterArmour));
    // Whitespace after the END line is nothing.
    assert_eq!(armour(&format!("{ENCRYPTED_ASC}\n \n\n")), Ok(2));
    // Nor may clear text hide as extra checksum lines, or after the checksum.
    let lines: Vec<&str> = ENCRYPTED_ASC.lines().collect();
    let checksum_at = lines.iter().position(|l| l.len() == 5 && l.starts_with('=')).expect("gpg writes a checksum");
    let mut fake_sums = lines.clone();
    fake_sums.insert(2, "=Dupo");
    assert!(matches!(armour(&fake_sums.join("\n")), Err(ContentError::MalformedOpenPgp(_))));
    let mut after_sum = lines.clone();
    after_sum.insert(checksum_at + 1, "RHVwb250");
    assert!(matches!(armour(&after_sum.join("\n")), Err(ContentError::MalformedOpenPgp(_))));
    let mut long_sum = lines.clone();
    long_sum[checksum_at] = "=Dupont";
    assert!(matches!(armour(&long_sum.join("\n")), Err(ContentError::MalformedOpenPgp(_))));
    // A checksum that is not the data's is the recipient's to report (RFC 9580 §6.1).
    let mut other_sum = lines.clone();
    other_sum[checksum_at] = "=RHVw";
    assert_eq!(armour(&other_sum.join("\n")), Ok(2));
    // Words between the base64 lines are not base64.
    let mut words = lines.clone();
    words.insert(3, "Patient Dupont");
    assert!(matches!(armour(&words.join("\n")), Err(ContentError::MalformedOpenPgp(_))));
}

#[test]
fn armour_headers_are_a_few_short_known_lines() {
    let comment = |text: &str| format!("Comment: {text}");
    // What gpg, Enigmail, GPGTools and OpenPGP.js write.
    for headers in [
        vec!["Version: GnuPG v2".to_owned()],
        vec![comment("Using GnuPG with Thunderbird - https://www.enigmail.net/")],
        vec!["Version: OpenPGP.js v4.10.10".to_owned(), comment("https://openpgpjs.org")],
        vec!["Charset: UTF-8".to_owned(), comment("GPGTools - https://gpgtools.org")],
    ] {
        assert_eq!(armour(&with_headers(&headers)), Ok(2), "{headers:?}");
    }
    let most: Vec<String> = (0..ARMOUR_HEADER_LINES_MAX).map(|i| comment(&format!("line {i}"))).collect();
    assert_eq!(armour(&with_headers(&most)), Ok(2));
    let longest = format!("Comment: {}", "x".repeat(ARMOUR_HEADER_LINE_CHARS_MAX - "Comment: ".len()));
    assert_eq!(armour(&with_headers(std::slice::from_ref(&longest))), Ok(2));

    let refused = |headers: &[String]| armour(&with_headers(headers)).map_err(|e| e.to_string());
    let too_many: Vec<String> = (0..=ARMOUR_HEADER_LINES_MAX).map(|i| comment(&format!("line {i}"))).collect();
    assert!(refused(&too_many).is_err_and(|e| e.contains("too many")));
    assert!(refused(&[format!("{longest}x")]).is_err_and(|e| e.contains("too long")));
    assert!(refused(&["Patient: Dupont Jean".into()]).is_err_and(|e| e.contains("name")));
    assert!(refused(&["MessageID: Dupont".into()]).is_err_and(|e| e.contains("name")));
    assert!(refused(&[comment("Hélène Dupont, diabète")]).is_err_and(|e| e.contains("ASCII")));
    assert!(refused(&[comment("tab\there")]).is_err_and(|e| e.contains("ASCII")));
    assert!(refused(&["Comment:Dupont".into()]).is_err_and(|e| e.contains("name")));
    for headers in [too_many, vec!["Patient: Dupont".into()]] {
        let inline_refusal = inline(&with_headers(&headers)).expect_err("refused in a message too");
        assert!(matches!(inline_refusal, ContentError::ArmourHeader(_)), "{inline_refusal:?}");
        assert!(!inline_refusal.to_string().contains("Dupont"), "a refusal does not repeat the clear text");
    }
}

/// Submits `message` (dot-stuffed here) in one SMTP session fed `chunk` bytes at a time;
/// returns the replies and whether the machine asked for a delivery.
fn submit(message: &str, chunk: usize) -> (String, bool) {
    let stuffed: String = message
        .split_inclusive("\r\n")
        .map(|line| if line.starts_with('.') { format!(".{line}") } else { line.to_owned() })
        .collect();
    let input = format!(
        "EHLO x\r\nAUTH PLAIN AGFAcmVsYXkudGVzdABzZWNyZXQ=\r\nMAIL FROM:<a@relay.test>\r\n\
         RCPT TO:<b@relay.test>\r\nDATA\r\n{stuffed}.\r\nQUIT\r\n"
    );
    let config = SmtpConfig { hostname: "relay.test".into(), message_bytes_max: 100_000 };
    let mut machine = smtp::SmtpServer::<Words>::new(config, true);
    let (mut output, mut delivered) = (Vec::new(), false);
    let mut pending = Vec::new();
    for piece in input.as_bytes().chunks(chunk) {
        pending.extend_from_slice(piece);
        loop {
            let (used, effect) = machine.receive(&pending);
            pending.drain(..used);
            match effect {
                None => break,
                Some(smtp::Effect::Authenticate { username, .. }) => {
                    machine.authenticated(Some(smtp::Authenticated { account: AccountId(1), address: username }))
                }
                Some(smtp::Effect::CheckRecipient { .. }) => {
                    machine.recipient_checked(smtp::RecipientVerdict::Accept(AccountId(2)))
                }
                Some(smtp::Effect::Deliver(_)) => {
                    delivered = true;
                    machine.delivered(smtp::DeliveryVerdict::Stored("1.x".into()));
                }
                Some(_) => {}
            }
        }
        output.extend(machine.take_output());
    }
    (String::from_utf8_lossy(&output).into_owned(), delivered)
}

proptest! {
    /// Clear lines in the epilogue, dots and empty lines among them, are refused with the
    /// whole message: no line is taken for the end of the data, which would cut the
    /// message short before them and deliver the rest.
    #[test]
    fn an_epilogue_of_dotted_lines_is_refused_whole_however_it_is_cut(
        lines in proptest::collection::vec("[.a-z ]{0,12}", 1..20),
        chunk in 1usize..40,
    ) {
        let epilogue: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
        let message = PgpMime { epilogue: &epilogue, ..Default::default() }.build();
        let (replies, delivered) = submit(&message, chunk);
        let expected = check_encrypted_message(message.as_bytes());
        if epilogue.trim().is_empty() {
            prop_assert!(delivered && expected.is_ok(), "{replies}");
        } else {
            prop_assert!(!delivered, "{replies}");
            prop_assert_eq!(expected, Err(ContentError::TextOutsideParts("epilogue")));
            prop_assert_eq!(replies.matches("554 5.7.1 Message refused: the multipart epilogue").count(), 1, "{}", replies);
            prop_assert!(!replies.contains("500 "), "no line of the message was read as a command: {}", replies);
        }
    }
}
