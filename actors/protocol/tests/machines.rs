//! The sans-I/O machines, byte by byte: whole dialogues fed in chunks of every size must
//! give the same replies and the same effects; the content policy on real gpg output.

use caducee_protocol::content::{check_encrypted_message, check_openpgp, ContentError, EncryptedContent};
use caducee_protocol::smtp::SmtpConfig;
use caducee_protocol::{pop3, smtp, Vocabulary};
use common::*;
use proptest::prelude::*;

mod common;

type SmtpServer = smtp::SmtpServer<Words>;
type Authenticated = smtp::Authenticated<Words>;
type RecipientVerdict = smtp::RecipientVerdict<Words>;
type DeliveryVerdict = smtp::DeliveryVerdict<Words>;
type Pop3Server = pop3::Pop3Server<Words>;
type Maildrop = pop3::Maildrop<Words>;
type MaildropEntry = pop3::MaildropEntry<Words>;

const ENCRYPTED_GPG: &[u8] = include_bytes!("fixtures/encrypted.gpg");
const SIGNED_ONLY_ASC: &str = include_str!("fixtures/signed_only.asc");
const SYMMETRIC_ASC: &str = include_str!("fixtures/symmetric.asc");

#[test]
fn pgp_mime_from_gpg_is_accepted_with_both_recipient_keys() {
    let content = check_encrypted_message(pgp_mime(ENCRYPTED_ASC).as_bytes()).expect("accepted");
    assert_eq!(content.encrypted_parts, 1);
    assert_eq!(content.recipients.len(), 2);
    assert!(content.recipients.iter().all(Option::is_some));
}

#[test]
fn inline_armour_and_binary_attachments_are_accepted() {
    let inline = format!("From: a@relay.test\r\nSubject: x\r\n\r\n{}", ENCRYPTED_ASC.replace('\n', "\r\n"));
    assert!(check_encrypted_message(inline.as_bytes()).is_ok());

    use base64::Engine as _;
    let attachment = base64::engine::general_purpose::STANDARD.encode(ENCRYPTED_GPG);
    let mixed = format!(
        "From: a@relay.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
         --m\r\nContent-Type: text/plain\r\n\r\n\r\n--m\r\nContent-Type: application/octet-stream\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{attachment}\r\n--m--\r\n"
    );
    assert_eq!(check_encrypted_message(mixed.as_bytes()).map(|c| c.recipients.len()), Ok(1));
}

#[test]
fn anything_readable_is_refused() {
    let clear = b"From: a@relay.test\r\nSubject: x\r\n\r\nGlycemie 1,2 g/L\r\n";
    assert_eq!(check_encrypted_message(clear), Err(ContentError::CleartextPart));

    let signed = format!("Subject: x\r\n\r\n{SIGNED_ONLY_ASC}");
    assert!(matches!(check_encrypted_message(signed.as_bytes()), Err(ContentError::UnexpectedPacket(_))));

    let symmetric = format!("Subject: x\r\n\r\n{SYMMETRIC_ASC}");
    assert_eq!(check_encrypted_message(symmetric.as_bytes()), Err(ContentError::NoRecipientKey));

    let trailing = format!("Subject: x\r\n\r\n{ENCRYPTED_ASC}\r\nPS: the patient is Mr Dupont\r\n");
    assert_eq!(check_encrypted_message(trailing.as_bytes()), Err(ContentError::TextAfterArmour));

    let beside = format!(
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\n\
         Content-Type: text/plain\r\n\r\nPatient Dupont, see attached\r\n--m\r\nContent-Type: application/pgp-encrypted\r\n\r\n\
         {ENCRYPTED_ASC}\r\n--m--\r\n"
    );
    assert_eq!(check_encrypted_message(beside.as_bytes()), Err(ContentError::CleartextPart));

    let mut truncated = ENCRYPTED_GPG.to_vec();
    truncated.truncate(ENCRYPTED_GPG.len() / 2);
    let mut content = EncryptedContent { recipients: vec![], encrypted_parts: 0 };
    assert!(check_openpgp(&truncated, &mut content).is_err());
}

fn address(text: &str) -> Address {
    Words::parse_address(text).expect("valid address")
}

/// Drives an implicit-TLS SMTP session over `input` fed `chunk` bytes at a time, answering
/// every effect the same way; returns the transcript of replies and effects.
fn smtp_dialogue(input: &[u8], chunk: usize) -> (String, Vec<String>) {
    let config = SmtpConfig { hostname: "relay.test".into(), message_bytes_max: 100_000 };
    let mut machine = SmtpServer::new(config, true);
    let mut output = machine.take_output();
    let mut effects = Vec::new();
    let mut pending = Vec::new();
    for piece in input.chunks(chunk) {
        pending.extend_from_slice(piece);
        loop {
            let (used, effect) = machine.receive(&pending);
            pending.drain(..used);
            let Some(effect) = effect else { break };
            match effect {
                smtp::Effect::Authenticate { username, password } => {
                    effects.push(format!("auth {username}"));
                    let ok = password == "secret";
                    machine.authenticated(
                        ok.then(|| Authenticated { account: AccountId(1), address: address(&username) }),
                    );
                }
                smtp::Effect::CheckRecipient { address: rcpt, .. } => {
                    effects.push(format!("rcpt {rcpt}"));
                    let verdict = match rcpt.as_str() {
                        "b@relay.test" => RecipientVerdict::Accept(AccountId(2)),
                        "full@relay.test" => RecipientVerdict::OverQuota,
                        _ => RecipientVerdict::Unknown,
                    };
                    machine.recipient_checked(verdict);
                }
                smtp::Effect::Deliver(delivery) => {
                    effects.push(format!("deliver {} bytes to {}", delivery.body.len(), delivery.recipients.len()));
                    effects.push(String::from_utf8_lossy(&delivery.body).into_owned());
                    machine.delivered(DeliveryVerdict::Stored("1.x".into()));
                }
                smtp::Effect::CheckOperator { sender } => {
                    let sender = sender.unwrap_or_default();
                    effects.push(format!("operator {sender}"));
                    let verdict = if sender.ends_with("@peer.test") {
                        smtp::OperatorVerdict::Bound
                    } else {
                        smtp::OperatorVerdict::Refused("the domain is not in the trust list".into())
                    };
                    machine.operator_checked(verdict);
                }
                smtp::Effect::StartTls => effects.push("starttls".into()),
                smtp::Effect::Close => effects.push("close".into()),
                smtp::Effect::ContentRefused => effects.push("content refused".into()),
            }
        }
        output.extend(machine.take_output());
    }
    (String::from_utf8(output).expect("replies are UTF-8"), effects)
}

fn dot_stuff(body: &str) -> String {
    body.split_inclusive("\r\n")
        .map(|line| if line.starts_with('.') { format!(".{line}") } else { line.to_owned() })
        .collect()
}

#[test]
fn the_first_data_line_is_at_a_line_start_for_dot_stuffing_and_the_end_of_data() {
    let login = format!(
        "EHLO x\r\nAUTH PLAIN {}\r\nMAIL FROM:<a@relay.test>\r\nRCPT TO:<b@relay.test>\r\nDATA\r\n",
        base64_plain("a@relay.test", "secret")
    );
    // A first line starting with a dot is sent stuffed, and must lose that dot.
    let message = format!(".Odd: x\r\n{}", pgp_mime(ENCRYPTED_ASC));
    for chunk in [1, 7, 4096] {
        let input = format!("{login}{}.\r\nQUIT\r\n", dot_stuff(&message));
        let (_, effects) = smtp_dialogue(input.as_bytes(), chunk);
        assert!(effects.contains(&message), "chunks of {chunk}: {effects:?}");
    }
    // A lone dot right after DATA ends an empty message (refused as not encrypted), and the
    // next line is a command again.
    let (output, _) = smtp_dialogue(format!("{login}.\r\nNOOP\r\n").as_bytes(), 4096);
    assert!(output.contains("\r\n554 5.7.1") && output.ends_with("250 2.0.0 OK\r\n"), "{output}");
}

#[test]
fn a_whole_smtp_dialogue_gives_the_same_result_in_chunks_of_any_size() {
    // Only headers may hold readable lines beside the encrypted data.
    let message = pgp_mime(ENCRYPTED_ASC).replacen("\r\n", "\r\n.hidden: a header line starting with a dot\r\n", 1);
    let input = format!(
        "EHLO practice.example\r\nAUTH PLAIN {}\r\nMAIL FROM:<a@relay.test>\r\nRCPT TO:<nobody@relay.test>\r\n\
         RCPT TO:<full@relay.test>\r\nRCPT TO:<b@relay.test>\r\nDATA\r\n{}.\r\nNOOP\r\nQUIT\r\n",
        base64_plain("a@relay.test", "secret"),
        dot_stuff(&message)
    );
    let (whole_output, whole_effects) = smtp_dialogue(input.as_bytes(), input.len());
    for code in [
        "220 ",
        "250-PIPELINING",
        "AUTH PLAIN LOGIN",
        "235 2.7.0",
        "250 2.1.0",
        "550 5.1.1",
        "552 5.2.2",
        "250 2.1.5",
        "354 ",
        "250 2.0.0 Message accepted",
        "221 2.0.0",
    ] {
        assert!(whole_output.contains(code), "{code} missing from:\n{whole_output}");
    }
    assert!(whole_effects.contains(&message), "the body arrives dot-unstuffed and intact");
    assert_eq!(whole_effects.last().map(String::as_str), Some("close"));
    for chunk in [1, 2, 3, 4, 5, 7, 16, 64, 1000] {
        assert_eq!(
            smtp_dialogue(input.as_bytes(), chunk),
            (whole_output.clone(), whole_effects.clone()),
            "chunk size {chunk}"
        );
    }
}

#[test]
fn an_oversized_message_is_refused_however_it_is_cut() {
    // 120 kB of body against a 100 kB limit: whether the end of data arrives in the same
    // read as the excess or later, the answer is 552 5.3.4 and nothing is delivered.
    let body = format!("{}{}", pgp_mime(ENCRYPTED_ASC), format!("{}\r\n", "A".repeat(78)).repeat(1500));
    let input = format!(
        "EHLO x\r\nAUTH PLAIN {}\r\nMAIL FROM:<a@relay.test>\r\nRCPT TO:<b@relay.test>\r\nDATA\r\n{body}.\r\nNOOP\r\n",
        base64_plain("a@relay.test", "secret")
    );
    for chunk in [7, 4096, 65536, input.len()] {
        let (output, effects) = smtp_dialogue(input.as_bytes(), chunk);
        assert!(output.contains("552 5.3.4 Message too big"), "chunk {chunk}: {output}");
        assert!(
            output.ends_with(
                "552 5.3.4 Message too big: this relay accepts messages of at most 0.1 MB (100000 bytes), about 0.1 MB \
                 of document once encrypted; send larger documents in parts\r\n250 2.0.0 OK\r\n"
            ),
            "the session goes on: {output}"
        );
        assert!(!effects.iter().any(|e| e.starts_with("deliver")), "chunk {chunk}: nothing delivered");
    }
}

#[test]
fn smtp_refuses_out_of_order_and_cleartext() {
    let input = "MAIL FROM:<a@relay.test>\r\nEHLO x\r\nMAIL FROM:<a@relay.test>\r\nAUTH PLAIN ".to_owned()
        + &base64_plain("a@relay.test", "wrong")
        + "\r\nAUTH PLAIN "
        + &base64_plain("a@relay.test", "secret")
        + "\r\nMAIL FROM:<other@relay.test>\r\nMAIL FROM:<a@relay.test>\r\nDATA\r\nRCPT TO:<b@relay.test>\r\nDATA\r\n\
           Subject: x\r\n\r\nclear text\r\n.\r\nQUIT\r\n";
    let (output, _) = smtp_dialogue(input.as_bytes(), 3);
    let codes: Vec<&str> = output.lines().filter(|l| !l.starts_with("250-")).map(|l| &l[..3]).collect();
    assert_eq!(
        codes,
        ["220", "503", "250", "530", "535", "235", "553", "250", "554", "250", "354", "554", "221"],
        "{output}"
    );
    assert!(output.contains("554 5.7.1 Message refused: a part of the message is readable text"));
}

#[test]
fn smtp_offers_auth_only_after_tls_and_forgets_everything_on_starttls() {
    let config = SmtpConfig { hostname: "relay.test".into(), message_bytes_max: 1000 };
    let mut machine = SmtpServer::new(config, false);
    let (_, effect) = machine.receive(b"EHLO x\r\nAUTH PLAIN AGEAYg==\r\nSTARTTLS\r\nNOOP\r\n");
    let output = String::from_utf8(machine.take_output()).expect("utf-8");
    assert!(output.contains("250 STARTTLS") && !output.contains("AUTH PLAIN LOGIN"), "{output}");
    assert!(output.contains("538 5.7.11"), "{output}");
    assert_eq!(effect, Some(smtp::Effect::StartTls), "the machine stops at STARTTLS: pipelined NOOP is not read");
    machine.tls_started();
    machine.receive(b"MAIL FROM:<a@relay.test>\r\n");
    assert!(String::from_utf8(machine.take_output()).expect("utf-8").starts_with("503"), "EHLO again after TLS");
}

const STORED: &[u8] = b"Received: x\r\nSubject: a\r\n\r\nline one\r\n.starts with a dot\r\nlast\r\n";

fn pop3_dialogue(input: &[u8], chunk: usize) -> (String, Vec<String>) {
    let mut machine = Pop3Server::new("relay.test", true);
    let mut output = machine.take_output();
    let mut effects = Vec::new();
    let mut pending = Vec::new();
    for piece in input.chunks(chunk) {
        pending.extend_from_slice(piece);
        loop {
            let (used, mut effect) = machine.receive(&pending);
            pending.drain(..used);
            while let Some(current) = effect.take() {
                effects.push(format!("{current:?}"));
                effect = match current {
                    pop3::Effect::Authenticate { password, .. } => machine.authenticated(password == "secret"),
                    pop3::Effect::OpenMaildrop => {
                        let entry = |n: u32| MaildropEntry {
                            uid: Uid(n),
                            message: MessageId(u64::from(n) * 10),
                            size: STORED.len() as u64,
                        };
                        machine.maildrop_opened(Ok(Maildrop {
                            entries: vec![entry(4), entry(9)],
                            delete_on_retrieve: false,
                        }));
                        None
                    }
                    pop3::Effect::Retrieve { top_lines, .. } => {
                        machine.retrieved(Some(STORED.to_vec()), top_lines);
                        None
                    }
                    pop3::Effect::Update { .. } => Some(machine.updated(true)),
                    pop3::Effect::StartTls | pop3::Effect::Close => None,
                };
            }
            if used == 0 || pending.is_empty() {
                break;
            }
        }
        output.extend(machine.take_output());
    }
    (String::from_utf8(output).expect("replies are UTF-8"), effects)
}

#[test]
fn a_whole_pop3_dialogue_gives_the_same_result_in_chunks_of_any_size() {
    let input =
        b"CAPA\r\nUSER a@relay.test\r\nPASS wrong\r\nUSER a@relay.test\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\n\
                  TOP 1 1\r\nRETR 2\r\nDELE 2\r\nRETR 2\r\nRSET\r\nDELE 1\r\nLIST\r\nNOOP\r\nQUIT\r\n";
    let (whole_output, whole_effects) = pop3_dialogue(input, input.len());
    let expected_retr =
        "+OK 63 octets\r\nReceived: x\r\nSubject: a\r\n\r\nline one\r\n..starts with a dot\r\nlast\r\n.\r\n";
    assert!(whole_output.contains(expected_retr), "RETR dot-stuffs: {whole_output}");
    assert!(
        whole_output.contains("+OK 63 octets\r\nReceived: x\r\nSubject: a\r\n\r\nline one\r\n.\r\n"),
        "TOP 1: {whole_output}"
    );
    assert!(whole_output.contains("-ERR [AUTH] Invalid login"));
    assert!(whole_output.contains("+OK 2 126\r\n"), "STAT");
    assert!(whole_output.contains("1 4\r\n2 9\r\n.\r\n"), "UIDL gives stable uids");
    assert!(whole_output.contains("-ERR Message 2 already deleted"));
    assert!(whole_output.contains("+OK listing follows\r\n2 63\r\n.\r\n"), "deleted messages leave LIST");
    assert_eq!(whole_effects.iter().filter(|e| e.starts_with("Update")).count(), 1);
    assert!(whole_effects.iter().any(|e| e == "Update { deleted: [Uid(4)] }"), "{whole_effects:?}");
    for chunk in [1, 2, 3, 5, 8, 13, 100] {
        assert_eq!(pop3_dialogue(input, chunk), (whole_output.clone(), whole_effects.clone()), "chunk size {chunk}");
    }
}

#[test]
fn pop3_refuses_credentials_in_clear_and_over_long_lines() {
    let mut machine = Pop3Server::new("relay.test", false);
    let long = format!("NOOP {}\r\nCAPA\r\n", "x".repeat(5000));
    machine.receive(b"USER a@relay.test\r\nAUTH PLAIN AGEAYg==\r\n");
    machine.receive(long.as_bytes());
    let output = String::from_utf8(machine.take_output()).expect("utf-8");
    let lines: Vec<&str> = output.lines().collect();
    assert!(lines[1].starts_with("-ERR [AUTH]") && lines[2].starts_with("-ERR [AUTH]"), "{output}");
    assert_eq!(lines[3], "-ERR Line too long");
    assert!(output.contains("STLS") && !output.contains("SASL PLAIN"), "{output}");
}

proptest! {
    /// Whatever the content, a client that undoes POP3's dot-stuffing gets it back.
    #[test]
    fn dot_stuffing_round_trips(lines in proptest::collection::vec("[.a-z ]{0,12}", 0..20)) {
        let content: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
        let mut wire = Vec::new();
        pop3::write_dot_stuffed(&mut wire, content.as_bytes(), None);
        let wire = String::from_utf8(wire).expect("utf-8");
        prop_assert!(wire.ends_with("\r\n.\r\n"));
        let body = &wire[..wire.len() - 3];
        let unstuffed: String = body.split_inclusive("\r\n").map(|l| l.strip_prefix('.').unwrap_or(l)).collect();
        let expected = if content.is_empty() { "\r\n".to_owned() } else { content };
        prop_assert_eq!(unstuffed, expected);
    }

    /// Whatever a client sends as DATA, properly stuffed, arrives intact.
    #[test]
    fn smtp_data_unstuffs_exactly(lines in proptest::collection::vec("[.a-z ]{0,12}", 1..20), chunk in 1usize..40) {
        // Header lines: only headers may hold readable lines beside the encrypted data.
        let extra: String = lines.iter().map(|l| format!("\r\n.{l}: x")).collect();
        let message = pgp_mime(ENCRYPTED_ASC).replacen("\r\n", &format!("{extra}\r\n"), 1);
        let input = format!(
            "EHLO x\r\nAUTH PLAIN {}\r\nMAIL FROM:<a@relay.test>\r\nRCPT TO:<b@relay.test>\r\nDATA\r\n{}.\r\nQUIT\r\n",
            base64_plain("a@relay.test", "secret"),
            dot_stuff(&message)
        );
        let (_, effects) = smtp_dialogue(input.as_bytes(), chunk);
        prop_assert!(effects.contains(&message));
    }
}

#[test]
fn armour_is_read_strictly_but_as_gpg_writes_it() {
    let check = |armoured: &str| {
        let mut found = EncryptedContent { recipients: Vec::new(), encrypted_parts: 0 };
        check_openpgp(armoured.as_bytes(), &mut found).map(|()| found.recipients.len())
    };
    let lines: Vec<&str> = ENCRYPTED_ASC.lines().collect();
    assert_eq!(check(ENCRYPTED_ASC), Ok(2), "gpg's own armour");
    // CRLF line ends and an extra header are fine; so is a missing blank line after the BEGIN line.
    assert_eq!(check(&ENCRYPTED_ASC.replace('\n', "\r\n")), Ok(2));
    let with_header = format!("{}\nComment: from a practice\n{}", lines[0], lines[1..].join("\n"));
    assert_eq!(check(&with_header), Ok(2));
    // A damaged body or a cut armour is refused, with the reason.
    let body_line = lines.iter().position(|l| l.len() > 60).expect("a base64 line");
    let mut damaged: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    damaged[body_line].replace_range(10..11, "!");
    let refused = check(&damaged.join("\n")).expect_err("damaged base64");
    assert!(refused.to_string().contains("armour") || refused.to_string().contains("OpenPGP"), "{refused}");
    let cut = lines[..lines.len() - 1].join("\n");
    assert!(check(&cut).is_err(), "no END line");
}
