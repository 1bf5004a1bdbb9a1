//! No input panics a machine: arbitrary bytes — and arbitrary bytes woven into a dialogue
//! that reaches DATA, the maildrop and the content check — fed in arbitrary chunkings,
//! to the SMTP machine (on the submission and the relay port), the POP3 machine, the IMAP
//! machine and the encrypted-content check.
//!
//! Each property runs `CASES` cases, which keeps the file within a few seconds of the
//! normal (debug) test run; `PROPTEST_CASES` raises it for a longer search.

use caducee_protocol::content::{check_encrypted_message, check_openpgp, EncryptedContent};
use caducee_protocol::smtp::SmtpConfig;
use caducee_protocol::{imap, pop3, smtp, Machine as _, Vocabulary};
use common::*;
use proptest::prelude::*;

mod common;

/// Cases per property: enough to reach every state often, few enough for the normal suite.
const CASES: u32 = 2048;

/// One piece of a session: a well-formed line that moves the dialogue on, or noise.
fn piece(lines: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::sample::select(lines).prop_map(|line| line.as_bytes().to_vec()),
        2 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => "[ -~]{0,40}\r\n".prop_map(String::into_bytes),
        1 => proptest::collection::vec(any::<u8>(), 900..1100),
    ]
}

/// A session's input: pieces put end to end.
fn session(lines: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(piece(lines), 0..24).prop_map(|pieces| pieces.concat())
}

/// How the input is cut on its way in.
fn chunking() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1usize..300, 1..16)
}

/// `input` cut into pieces of the given sizes, round and round.
fn cut<'a>(input: &'a [u8], sizes: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = input;
    sizes.iter().cycle().map_while(move |&size| {
        if rest.is_empty() {
            return None;
        }
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        Some(piece)
    })
}

const SMTP_LINES: &[&str] = &[
    "EHLO practice.example\r\n",
    "HELO practice.example\r\n",
    "AUTH PLAIN AGFAcmVsYXkudGVzdABzZWNyZXQ=\r\n",
    "AUTH LOGIN\r\n",
    "YUByZWxheS50ZXN0\r\n",
    "c2VjcmV0\r\n",
    "STARTTLS\r\n",
    "MAIL FROM:<a@relay.test>\r\n",
    "MAIL FROM:<a@relay.test> SIZE=2000 BODY=8BITMIME\r\n",
    "RCPT TO:<b@relay.test>\r\n",
    "DATA\r\n",
    "\r\n.\r\n",
    "BDAT 40\r\n",
    "BDAT 0 LAST\r\n",
    "From: a@relay.test\r\nSubject: x\r\n\r\n",
    "RSET\r\n",
    "NOOP\r\n",
    "QUIT\r\n",
];

/// Runs an SMTP session over `input` cut by `sizes`, answering every effect as a relay
/// that accepts everything would.
fn smtp_session(input: &[u8], sizes: &[usize], operators: bool) {
    let config = SmtpConfig { hostname: "relay.test".into(), message_bytes_max: 4096 };
    let mut machine = smtp::SmtpServer::<Words>::new(config, true);
    if operators {
        machine = machine.for_operators();
    }
    let mut pending = Vec::new();
    for piece in cut(input, sizes) {
        pending.extend_from_slice(piece);
        while !machine.is_closed() {
            let (used, effect) = machine.receive(&pending);
            pending.drain(..used.min(pending.len()));
            let Some(effect) = effect else { break };
            match effect {
                smtp::Effect::Authenticate { username, password } => {
                    let ok = password == "secret" && Words::parse_address(&username).is_some();
                    machine
                        .authenticated(ok.then_some(smtp::Authenticated { account: AccountId(1), address: username }));
                }
                smtp::Effect::CheckRecipient { .. } => {
                    machine.recipient_checked(smtp::RecipientVerdict::Accept(AccountId(2)))
                }
                smtp::Effect::CheckOperator { sender } => machine.operator_checked(match sender {
                    None => smtp::OperatorVerdict::BoundNull("mailer-daemon@peer.test".into()),
                    Some(sender) if sender.len() % 2 == 0 => smtp::OperatorVerdict::Bound,
                    Some(_) => smtp::OperatorVerdict::Refused("not bound".into()),
                }),
                smtp::Effect::Deliver(_) => machine.delivered(smtp::DeliveryVerdict::Stored("1.x".into())),
                smtp::Effect::StartTls => {
                    pending.clear();
                    machine.tls_started();
                }
                smtp::Effect::Close => break,
                _ => {}
            }
        }
        let _ = machine.take_output();
    }
}

const POP3_LINES: &[&str] = &[
    "CAPA\r\n",
    "USER a@relay.test\r\n",
    "PASS secret\r\n",
    "AUTH PLAIN\r\n",
    "AGFAcmVsYXkudGVzdABzZWNyZXQ=\r\n",
    "AUTH PLAIN AGFAcmVsYXkudGVzdABzZWNyZXQ=\r\n",
    "STLS\r\n",
    "STAT\r\n",
    "LIST\r\n",
    "LIST 2\r\n",
    "UIDL\r\n",
    "UIDL 1\r\n",
    "TOP 1 0\r\n",
    "TOP 2 4294967295\r\n",
    "RETR 1\r\n",
    "RETR 4294967296\r\n",
    "DELE 1\r\n",
    "RSET\r\n",
    "NOOP\r\n",
    "QUIT\r\n",
];

const STORED: &[u8] = b"Received: x\r\nSubject: a\r\n\r\nline one\r\n.starts with a dot\r\n.\r\nlast";

/// Runs a POP3 session over `input` cut by `sizes`, answering every effect.
fn pop3_session(input: &[u8], sizes: &[usize], delete_on_retrieve: bool) {
    let mut machine = pop3::Pop3Server::<Words>::new("relay.test", true);
    let mut pending = Vec::new();
    for piece in cut(input, sizes) {
        pending.extend_from_slice(piece);
        while !machine.is_closed() {
            let (used, mut effect) = machine.receive(&pending);
            pending.drain(..used.min(pending.len()));
            let answered = effect.is_some();
            while let Some(current) = effect.take() {
                effect = match current {
                    pop3::Effect::Authenticate { password, .. } => machine.authenticated(password == "secret"),
                    pop3::Effect::OpenMaildrop => {
                        let entry = |n: u32| pop3::MaildropEntry::<Words> {
                            uid: Uid(n),
                            message: MessageId(u64::from(n)),
                            size: STORED.len() as u64,
                        };
                        let entries = vec![entry(4), entry(9), entry(12)];
                        machine.maildrop_opened(Ok(pop3::Maildrop { entries, delete_on_retrieve }));
                        None
                    }
                    pop3::Effect::Retrieve { top_lines, .. } => {
                        machine.retrieved(Some(STORED.to_vec()), top_lines);
                        None
                    }
                    pop3::Effect::Update { .. } => Some(machine.updated(true)),
                    pop3::Effect::StartTls => {
                        pending.clear();
                        machine.tls_started();
                        None
                    }
                    pop3::Effect::Close => None,
                };
            }
            if !answered && used == 0 {
                break;
            }
            if pending.is_empty() {
                break;
            }
        }
        let _ = machine.take_output();
    }
}

const IMAP_LINES: &[&str] = &[
    "a CAPABILITY\r\n",
    "a STARTTLS\r\n",
    "a LOGIN a@relay.test secret\r\n",
    "a LOGIN {12}\r\n",
    "a@relay.test {6}\r\n",
    "secret\r\n",
    "a AUTHENTICATE PLAIN AGFAcmVsYXkudGVzdABzZWNyZXQ=\r\n",
    "a AUTHENTICATE PLAIN\r\n",
    "AGFAcmVsYXkudGVzdABzZWNyZXQ=\r\n",
    "a ID (\"name\" \"x\")\r\n",
    "a NAMESPACE\r\n",
    "a STATUS INBOX (MESSAGES UNSEEN UIDNEXT)\r\n",
    "a GETQUOTAROOT INBOX\r\n",
    "a LIST \"\" \"*\"\r\n",
    "a SELECT INBOX\r\n",
    "a EXAMINE INBOX\r\n",
    "a UID FETCH 1:* (FLAGS UID RFC822.SIZE INTERNALDATE)\r\n",
    "a FETCH 1:3 (BODY.PEEK[HEADER] ENVELOPE BODY[]<2.9>)\r\n",
    "a FETCH * BODY[TEXT]\r\n",
    "a STORE 1:* +FLAGS (\\Deleted \\Seen)\r\n",
    "a UID STORE 4:9 -FLAGS.SILENT (\\Seen)\r\n",
    "a SEARCH UNSEEN NOT DELETED UID 1:*\r\n",
    "a SEARCH OR SEEN FROM x\r\n",
    "a EXPUNGE\r\n",
    "a UID EXPUNGE 4:*\r\n",
    "a IDLE\r\n",
    "DONE\r\n",
    "a APPEND INBOX {3}\r\n",
    "a CLOSE\r\n",
    "a UNSELECT\r\n",
    "a LOGOUT\r\n",
];

/// Runs an IMAP session over `input` cut by `sizes`, answering every effect, and telling
/// it of changes made elsewhere now and then.
fn imap_session(input: &[u8], sizes: &[usize]) {
    let mut machine = imap::ImapServer::<Words>::new("relay.test", false);
    let mut pending = Vec::new();
    for (round, piece) in cut(input, sizes).enumerate() {
        pending.extend_from_slice(piece);
        if round % 3 == 2 {
            machine.mailbox_changed(imap::Change::Expunged { uid: 9 });
            machine.mailbox_changed(imap::Change::Flags { uid: 4, flags: imap::Flags::default() });
        }
        while !machine.is_closed() {
            let (used, mut effect) = machine.receive(&pending);
            pending.drain(..used.min(pending.len()));
            let answered = effect.is_some();
            while let Some(current) = effect.take() {
                effect = match current {
                    imap::Effect::Authenticate { password, .. } => machine.authenticated(password == "secret"),
                    imap::Effect::Select { .. } => {
                        let entry = |n: u32| imap::Entry::<Words> {
                            uid: n,
                            message: MessageId(u64::from(n)),
                            size: STORED.len() as u64,
                            accepted_at: 1_795_651_200,
                            flags: imap::Flags::default(),
                        };
                        let entries = vec![entry(4), entry(9), entry(12)];
                        machine.mailbox_opened(Ok(imap::MailboxView {
                            entries,
                            uid_validity: 1,
                            uid_next: 13,
                            quota: imap::Quota::default(),
                        }));
                        None
                    }
                    imap::Effect::Peek => {
                        machine.peeked(Err(imap::OpenError::Unavailable));
                        None
                    }
                    imap::Effect::Retrieve { .. } => machine.retrieved(Some(STORED.to_vec())),
                    imap::Effect::StoreFlags { .. } => {
                        machine.flags_stored(true);
                        None
                    }
                    imap::Effect::Expunge { .. } => {
                        machine.expunged(true);
                        None
                    }
                    imap::Effect::StartTls => {
                        pending.clear();
                        machine.tls_started();
                        None
                    }
                    imap::Effect::Close => None,
                };
            }
            if (!answered && used == 0) || pending.is_empty() {
                break;
            }
        }
        let _ = machine.take_output();
    }
}

/// A valid message with some of its bytes replaced, inserted or removed.
fn mutated_message() -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<prop::sample::Index>(), 0u8..3, proptest::collection::vec(any::<u8>(), 0..8));
    proptest::collection::vec(edit, 1..12).prop_map(|edits| {
        let mut message = pgp_mime(ENCRYPTED_ASC).into_bytes();
        for (at, kind, bytes) in edits {
            let at = at.index(message.len() + 1);
            match kind {
                0 => {
                    let end = (at + bytes.len()).min(message.len());
                    message.splice(at..end, bytes);
                }
                1 => {
                    message.splice(at..at, bytes);
                }
                _ => {
                    let end = (at + bytes.len()).min(message.len());
                    message.drain(at..end);
                }
            }
        }
        message
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn the_smtp_machine_never_panics(input in session(SMTP_LINES), sizes in chunking(), operators in any::<bool>()) {
        smtp_session(&input, &sizes, operators);
    }

    #[test]
    fn the_smtp_machine_never_panics_on_mere_bytes(input in proptest::collection::vec(any::<u8>(), 0..2048), sizes in chunking(), operators in any::<bool>()) {
        smtp_session(&input, &sizes, operators);
    }

    #[test]
    fn the_smtp_machine_never_panics_inside_data(body in mutated_message(), sizes in chunking()) {
        let mut input = b"EHLO x\r\nAUTH PLAIN AGFAcmVsYXkudGVzdABzZWNyZXQ=\r\nMAIL FROM:<a@relay.test>\r\n\
                          RCPT TO:<b@relay.test>\r\nDATA\r\n".to_vec();
        input.extend_from_slice(&body);
        input.extend_from_slice(b"\r\n.\r\nQUIT\r\n");
        smtp_session(&input, &sizes, false);
    }

    #[test]
    fn the_pop3_machine_never_panics(input in session(POP3_LINES), sizes in chunking(), delete_on_retrieve in any::<bool>()) {
        pop3_session(&input, &sizes, delete_on_retrieve);
    }

    #[test]
    fn the_pop3_machine_never_panics_on_mere_bytes(input in proptest::collection::vec(any::<u8>(), 0..2048), sizes in chunking()) {
        pop3_session(&input, &sizes, false);
    }

    #[test]
    fn the_imap_machine_never_panics(input in session(IMAP_LINES), sizes in chunking()) {
        imap_session(&input, &sizes);
    }

    #[test]
    fn the_imap_machine_never_panics_on_mere_bytes(input in proptest::collection::vec(any::<u8>(), 0..2048), sizes in chunking()) {
        imap_session(&input, &sizes);
    }

    #[test]
    fn the_content_check_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = check_encrypted_message(&raw);
        let mut found = EncryptedContent { recipients: Vec::new(), encrypted_parts: 0 };
        let _ = check_openpgp(&raw, &mut found);
    }

    #[test]
    fn the_content_check_never_panics_on_damaged_messages(raw in mutated_message()) {
        let _ = check_encrypted_message(&raw);
    }

    #[test]
    fn the_armour_reader_never_panics(lines in proptest::collection::vec("[ -~]{0,80}|=[A-Za-z0-9+/=]{4}|[A-Za-z0-9+/=]{0,76}", 0..16)) {
        let armoured = format!("-----BEGIN PGP MESSAGE-----\n{}\n-----END PGP MESSAGE-----\n", lines.join("\n"));
        let mut found = EncryptedContent { recipients: Vec::new(), encrypted_parts: 0 };
        let _ = check_openpgp(armoured.as_bytes(), &mut found);
    }
}
