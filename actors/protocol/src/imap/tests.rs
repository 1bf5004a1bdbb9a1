use super::commands::plain;
use super::*;

use crate::test_words::Words;

type Server = ImapServer<Words>;
type Effect = super::Effect<Words>;

fn text(server: &mut Server) -> String {
    String::from_utf8(server.take_output()).expect("utf-8")
}

/// Feeds `input` whole; returns the output and the effect asked for, if any.
fn say(server: &mut Server, input: &str) -> (String, Option<Effect>) {
    let (used, effect) = server.receive(input.as_bytes());
    assert_eq!(used, input.len(), "all of {input:?} consumed");
    (text(server), effect)
}

fn view(count: u32) -> MailboxView<Words> {
    let entries = (1..=count)
        .map(|uid| Entry {
            uid,
            message: u64::from(uid) * 10,
            size: 1000 + u64::from(uid),
            accepted_at: 1_795_651_200,
            flags: Flags { seen: uid == 1, ..Flags::default() },
        })
        .collect();
    MailboxView {
        entries,
        uid_validity: 7,
        uid_next: count + 1,
        quota: Quota { used_bytes: 3006, limit_bytes: 50 << 20 },
    }
}

/// A session over implicit TLS, logged in.
fn logged_in() -> Server {
    let mut server = Server::new("relay.test", true);
    server.take_output();
    let (_, effect) = say(&mut server, "a LOGIN alice@relay.test secret\r\n");
    assert_eq!(effect, Some(Effect::Authenticate { username: "alice@relay.test".into(), password: "secret".into() }));
    assert_eq!(server.authenticated(true), None);
    assert!(text(&mut server).starts_with("a OK [CAPABILITY IMAP4REV1 "));
    server
}

#[test]
fn the_greeting_says_the_capabilities_and_refuses_passwords_before_tls() {
    let mut server = Server::new("relay.test", false);
    let greeting = text(&mut server);
    assert!(greeting.starts_with("* OK [CAPABILITY IMAP4REV1 "), "{greeting}");
    assert!(greeting.contains(" STARTTLS LOGINDISABLED]"), "{greeting}");
    assert!(!greeting.contains("AUTH=PLAIN"), "{greeting}");
    let (out, effect) = say(&mut server, "a LOGIN alice secret\r\n");
    assert_eq!(effect, None);
    assert_eq!(out, "a NO [PRIVACYREQUIRED] Use STARTTLS first: no password in clear\r\n");
    let (out, effect) = say(&mut server, "b STARTTLS\r\n");
    assert_eq!(out, "b OK Begin TLS negotiation now\r\n");
    assert_eq!(effect, Some(Effect::StartTls));
    server.tls_started();
    let (out, _) = say(&mut server, "c CAPABILITY\r\n");
    assert!(out.contains(" AUTH=PLAIN\r\n") && !out.contains("STARTTLS"), "{out}");
    assert!(out.ends_with("c OK CAPABILITY completed\r\n"), "{out}");
}

#[test]
fn authenticate_plain_with_and_without_an_initial_response() {
    let mut server = Server::new("relay.test", true);
    server.take_output();
    let (_, effect) = say(&mut server, &format!("a AUTHENTICATE PLAIN {}\r\n", plain("alice@relay.test", "pw")));
    assert_eq!(effect, Some(Effect::Authenticate { username: "alice@relay.test".into(), password: "pw".into() }));
    server.authenticated(false);
    assert_eq!(text(&mut server), "a NO [AUTHENTICATIONFAILED] Invalid login\r\n");

    let (out, effect) = say(&mut server, "b AUTHENTICATE PLAIN\r\n");
    assert_eq!((out.as_str(), effect), ("+ \r\n", None));
    let (_, effect) = say(&mut server, &format!("{}\r\n", plain("alice@relay.test", "right")));
    assert_eq!(effect, Some(Effect::Authenticate { username: "alice@relay.test".into(), password: "right".into() }));
    server.authenticated(true);
    assert!(server.logged_in());

    let mut cancelled = Server::new("relay.test", true);
    cancelled.take_output();
    say(&mut cancelled, "c AUTHENTICATE PLAIN\r\n");
    assert_eq!(say(&mut cancelled, "*\r\n").0, "c BAD Authentication cancelled\r\n");
}

#[test]
fn three_failed_logins_close_the_session() {
    let mut server = Server::new("relay.test", true);
    for attempt in 1..=3 {
        say(&mut server, &format!("t{attempt} LOGIN a b\r\n"));
        let effect = server.authenticated(false);
        if attempt < 3 {
            assert_eq!(effect, None);
        } else {
            assert_eq!(effect, Some(Effect::Close));
            assert!(text(&mut server).ends_with("* BYE Too many failed logins; closing\r\n"));
        }
    }
    assert!(server.is_closed());
}

#[test]
fn thunderbirds_first_commands_are_answered() {
    let mut server = logged_in();
    let (out, _) = say(&mut server, "1 ID (\"name\" \"Thunderbird\" \"version\" \"128.0\")\r\n");
    assert!(out.starts_with("* ID (\"name\" \"Caducee\" \"vendor\" \"Caducee\")\r\n"), "{out}");
    let (out, _) = say(&mut server, "2 NAMESPACE\r\n");
    assert_eq!(out, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n2 OK NAMESPACE completed\r\n");
    let (out, _) = say(&mut server, "3 LIST \"\" \"\"\r\n");
    assert_eq!(out, "* LIST (\\Noselect) \"/\" \"\"\r\n3 OK LIST completed\r\n");
    let (out, _) = say(&mut server, "4 LIST \"\" \"*\"\r\n");
    assert_eq!(out, "* LIST (\\HasNoChildren) \"/\" INBOX\r\n4 OK LIST completed\r\n");
    let (out, _) = say(&mut server, "5 LSUB \"\" \"*\"\r\n");
    assert_eq!(out, "* LSUB (\\HasNoChildren) \"/\" INBOX\r\n5 OK LSUB completed\r\n");
    let (out, _) = say(&mut server, "6 LIST \"\" \"Sent\"\r\n");
    assert_eq!(out, "6 OK LIST completed\r\n");
    let (out, effect) = say(&mut server, "7 SELECT INBOX\r\n");
    assert_eq!((out.as_str(), effect), ("", Some(Effect::Select { read_only: false })));
    server.mailbox_opened(Ok(view(3)));
    let out = text(&mut server);
    for line in [
        "* FLAGS (\\Seen \\Flagged \\Deleted)\r\n",
        "* 3 EXISTS\r\n",
        "* 0 RECENT\r\n",
        "* OK [UNSEEN 2] First unseen\r\n",
        "* OK [UIDVALIDITY 7] UIDs valid\r\n",
        "* OK [UIDNEXT 4] Predicted next UID\r\n",
        "* OK [PERMANENTFLAGS (\\Seen \\Flagged \\Deleted)] Flags kept\r\n",
        "7 OK [READ-WRITE] SELECT completed\r\n",
    ] {
        assert!(out.contains(line), "{line:?} missing from {out}");
    }
    assert_eq!(server.selected().map(|view| view.entries.len()), Some(3));
}

#[test]
fn what_would_add_or_move_mail_is_refused_with_cannot() {
    let mut server = logged_in();
    for command in ["CREATE Sent", "DELETE INBOX", "RENAME INBOX Old", "COPY 1 Trash"] {
        let (out, _) = say(&mut server, &format!("x {command}\r\n"));
        assert!(out.starts_with("x NO [CANNOT] ") || out.starts_with("x BAD "), "{command}: {out}");
    }
    // APPEND announces a literal: refused once complete, and nothing is stored.
    let (out, _) = say(&mut server, "y APPEND INBOX {5}\r\n");
    assert_eq!(out, "+ Ready for the literal\r\n");
    let (out, _) = say(&mut server, "hello\r\n");
    assert!(out.starts_with("y NO [CANNOT] "), "{out}");
    let (out, _) = say(&mut server, "z SELECT Sent\r\n");
    assert_eq!(out, "z NO [NONEXISTENT] Only INBOX exists\r\n");
}

#[test]
fn a_mailbox_a_pop3_session_holds_is_in_use() {
    let mut server = logged_in();
    say(&mut server, "s SELECT INBOX\r\n");
    server.mailbox_opened(Err(OpenError::InUse));
    assert_eq!(text(&mut server), "s NO [INUSE] A POP3 session is collecting this mailbox; try again\r\n");
    assert!(server.selected().is_none());
}

#[test]
fn a_literal_past_the_limit_is_refused_before_it_is_sent() {
    let mut server = logged_in();
    let (out, _) = say(&mut server, &format!("big LOGIN {{{}}}\r\n", IMAP_COMMAND_BYTES_MAX + 1));
    assert_eq!(out, "big BAD [TOOBIG] Literal too large\r\n");
    let (out, _) = say(&mut server, "n NOOP\r\n");
    assert_eq!(out, "n OK NOOP completed\r\n");
}

#[test]
fn garbage_is_answered_bad_and_too_much_of_it_closes() {
    let mut server = logged_in();
    let (out, _) = say(&mut server, "a FROB\r\n");
    assert_eq!(out, "a BAD Command not understood\r\n");
    for _ in 1..IMAP_ERRORS_MAX - 1 {
        say(&mut server, "a FROB\r\n");
    }
    let (out, effect) = say(&mut server, "a FROB\r\n");
    assert_eq!(effect, Some(Effect::Close));
    assert!(out.ends_with("* BYE Too many errors; closing\r\n"), "{out}");
}

#[test]
fn a_pipelined_command_waits_behind_the_effect_of_the_one_before() {
    let mut server = Server::new("relay.test", true);
    server.take_output();
    let input = b"a LOGIN alice@relay.test pw\r\nb NOOP\r\n";
    let (used, effect) = server.receive(input);
    assert_eq!(used, "a LOGIN alice@relay.test pw\r\n".len(), "the NOOP stays with the driver");
    assert!(matches!(effect, Some(Effect::Authenticate { .. })));
    server.authenticated(true);
    let (rest, _) = server.receive(&input[used..]);
    assert_eq!(rest, input.len() - used);
    assert!(text(&mut server).ends_with("b OK NOOP completed\r\n"));
}

proptest::proptest! {
    /// The dialogue's answers do not depend on how the input is cut into reads.
    #[test]
    fn chunking_does_not_change_the_answers(cuts in proptest::collection::vec(1usize..40, 1..20)) {
        let script = "1 CAPABILITY\r\n2 ID NIL\r\n3 LOGIN {16}\r\nalice@relay.test {2}\r\npw\r\n";
        let run = |chunks: &[&[u8]]| {
            let mut server = Server::new("relay.test", true);
            let mut out = text(&mut server);
            let mut pending: Vec<u8> = Vec::new();
            for chunk in chunks {
                pending.extend_from_slice(chunk);
                loop {
                    let (used, effect) = server.receive(&pending);
                    pending.drain(..used);
                    if let Some(Effect::Authenticate { .. }) = effect {
                        server.authenticated(true);
                        continue;
                    }
                    if used == 0 {
                        break;
                    }
                }
                out += &text(&mut server);
            }
            out
        };
        let whole = run(&[script.as_bytes()]);
        let mut chunks = Vec::new();
        let mut rest = script.as_bytes();
        for cut in cuts {
            if rest.is_empty() {
                break;
            }
            let (head, tail) = rest.split_at(cut.min(rest.len()));
            chunks.push(head);
            rest = tail;
        }
        if !rest.is_empty() {
            chunks.push(rest);
        }
        proptest::prop_assert_eq!(run(&chunks), whole.clone());
        proptest::prop_assert!(whole.contains("3 OK [CAPABILITY"), "{}", whole);
    }
}

/// A session with INBOX selected, three messages (the first seen).
fn selected() -> Server {
    let mut server = logged_in();
    say(&mut server, "s SELECT INBOX\r\n");
    server.mailbox_opened(Ok(view(3)));
    server.take_output();
    server
}

const MESSAGE: &str = "From: Labo <labo@relay.test>\r\nTo: alice@relay.test\r\nSubject: Document medical chiffre\r\n\
                       Message-ID: <1.2@relay.test>\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n";

#[test]
fn fetch_answers_from_the_view_without_reading_messages() {
    let mut server = selected();
    let (out, effect) = say(&mut server, "f UID FETCH 1:* (FLAGS RFC822.SIZE INTERNALDATE)\r\n");
    assert_eq!(effect, None);
    assert_eq!(
        out,
        "* 1 FETCH (UID 1 FLAGS (\\Seen) RFC822.SIZE 1001 INTERNALDATE \"26-Nov-2026 00:00:00 +0000\")\r\n\
         * 2 FETCH (UID 2 FLAGS () RFC822.SIZE 1002 INTERNALDATE \"26-Nov-2026 00:00:00 +0000\")\r\n\
         * 3 FETCH (UID 3 FLAGS () RFC822.SIZE 1003 INTERNALDATE \"26-Nov-2026 00:00:00 +0000\")\r\n\
         f OK FETCH completed\r\n"
    );
    let (out, _) = say(&mut server, "g FETCH 2,9 (UID)\r\n");
    assert_eq!(out, "* 2 FETCH (UID 2)\r\ng OK FETCH completed\r\n");
}

#[test]
fn reading_a_body_reads_the_message_and_marks_it_seen_unless_peeked() {
    let mut server = selected();
    let (_, effect) = say(&mut server, "p FETCH 2 (BODY.PEEK[HEADER] ENVELOPE)\r\n");
    assert_eq!(effect, Some(Effect::Retrieve { message: 20 }));
    assert_eq!(server.retrieved(Some(MESSAGE.as_bytes().to_vec())), None);
    let out = text(&mut server);
    assert!(out.starts_with("* 2 FETCH (BODY[HEADER] {"), "{out}");
    assert!(out.contains("(\"Labo\" NIL \"labo\" \"relay.test\")"), "{out}");
    assert!(out.contains("\"Document medical chiffre\""), "{out}");
    assert!(out.ends_with("p OK FETCH completed\r\n"), "{out}");

    let (_, effect) = say(&mut server, "r UID FETCH 2 (BODY[]<0.10>)\r\n");
    assert_eq!(effect, Some(Effect::Retrieve { message: 20 }));
    let effect = server.retrieved(Some(MESSAGE.as_bytes().to_vec()));
    assert_eq!(effect, Some(Effect::StoreFlags { changes: vec![(2, Flags { seen: true, ..Flags::default() })] }));
    server.flags_stored(true);
    let out = text(&mut server);
    assert_eq!(out, "* 2 FETCH (UID 2 BODY[]<0> {10}\r\nFrom: Labo FLAGS (\\Seen))\r\nr OK FETCH completed\r\n");
}

#[test]
fn header_fields_are_the_named_fields_as_written_then_the_blank_line() {
    let message = "From: Labo <labo@relay.test>\r\nTo: alice@relay.test\r\nSubject: Document\r\n \
                   medical\r\nMessage-ID: <1.2@relay.test>\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n";
    let mut server = selected();
    let mut fetch = |command: &str| {
        say(&mut server, command);
        assert_eq!(server.retrieved(Some(message.as_bytes().to_vec())), None);
        text(&mut server)
    };
    let out = fetch("h FETCH 2 (BODY.PEEK[HEADER.FIELDS (subject FROM)])\r\n");
    let fields = "From: Labo <labo@relay.test>\r\nSubject: Document\r\n medical\r\n\r\n";
    assert_eq!(
        out,
        format!(
            "* 2 FETCH (BODY[HEADER.FIELDS (subject FROM)] {{{}}}\r\n{fields})\r\nh OK FETCH completed\r\n",
            fields.len()
        ),
        "in the message's order, a folded field whole"
    );
    let out = fetch("n FETCH 2 (BODY.PEEK[HEADER.FIELDS.NOT (Subject From Message-ID)])\r\n");
    assert!(out.contains("{24}\r\nTo: alice@relay.test\r\n\r\n)"), "{out}");
    let out = fetch("t FETCH 2 (BODY.PEEK[TEXT])\r\n");
    assert!(out.contains("{29}\r\n-----BEGIN PGP MESSAGE-----\r\n)"), "{out}");
}

#[test]
fn deleting_and_expunging_erase_for_this_recipient() {
    let mut server = selected();
    let (out, effect) = say(&mut server, "d STORE 1:2 +FLAGS (\\Deleted)\r\n");
    assert_eq!(out, "* 1 FETCH (FLAGS (\\Seen \\Deleted))\r\n* 2 FETCH (FLAGS (\\Deleted))\r\n");
    assert!(matches!(effect, Some(Effect::StoreFlags { ref changes }) if changes.len() == 2));
    server.flags_stored(true);
    assert_eq!(text(&mut server), "d OK STORE completed\r\n");
    let (out, effect) = say(&mut server, "s SEARCH DELETED\r\n");
    assert_eq!(effect, None);
    assert_eq!(out, "* SEARCH 1 2\r\ns OK SEARCH completed\r\n");
    let (_, effect) = say(&mut server, "u UID EXPUNGE 2\r\n");
    assert_eq!(effect, Some(Effect::Expunge { uids: vec![2] }));
    server.expunged(true);
    assert_eq!(text(&mut server), "* 2 EXPUNGE\r\nu OK EXPUNGE completed\r\n");
    let (_, effect) = say(&mut server, "e EXPUNGE\r\n");
    assert_eq!(effect, Some(Effect::Expunge { uids: vec![1] }));
    server.expunged(true);
    assert_eq!(text(&mut server), "* 1 EXPUNGE\r\ne OK EXPUNGE completed\r\n");
    assert_eq!(server.selected().map(|view| view.entries.iter().map(|e| e.uid).collect()), Some(vec![3]));
}

#[test]
fn close_expunges_silently_and_examine_changes_nothing() {
    let mut server = selected();
    say(&mut server, "d STORE 3 +FLAGS.SILENT (\\Deleted)\r\n");
    server.flags_stored(true);
    server.take_output();
    let (_, effect) = say(&mut server, "c CLOSE\r\n");
    assert_eq!(effect, Some(Effect::Expunge { uids: vec![3] }));
    server.expunged(true);
    assert_eq!(text(&mut server), "c OK Mailbox closed\r\n");
    assert!(server.selected().is_none());

    say(&mut server, "x EXAMINE INBOX\r\n");
    server.mailbox_opened(Ok(view(2)));
    assert!(text(&mut server).ends_with("x OK [READ-ONLY] EXAMINE completed\r\n"));
    let (out, effect) = say(&mut server, "y STORE 1 +FLAGS (\\Deleted)\r\n");
    assert_eq!((out.as_str(), effect), ("y NO [READ-ONLY] The mailbox was opened read-only (EXAMINE)\r\n", None));
    // Reading under EXAMINE does not mark seen: no flags to store.
    let (_, effect) = say(&mut server, "z FETCH 2 BODY[]\r\n");
    assert_eq!(effect, Some(Effect::Retrieve { message: 20 }));
    assert_eq!(server.retrieved(Some(MESSAGE.as_bytes().to_vec())), None);
    assert!(text(&mut server).ends_with("z OK FETCH completed\r\n"));
}

#[test]
fn an_idling_session_is_told_of_new_mail_and_of_other_sessions_changes() {
    let mut server = selected();
    let (out, _) = say(&mut server, "i IDLE\r\n");
    assert_eq!(out, "+ idling\r\n");
    let arrived = Entry { uid: 4, message: 40, size: 900, accepted_at: 1_795_651_300, flags: Flags::default() };
    server.mailbox_changed(Change::Arrived(arrived));
    assert_eq!(text(&mut server), "* 4 EXISTS\r\n");
    server.mailbox_changed(Change::Flags { uid: 2, flags: Flags { seen: true, ..Flags::default() } });
    assert_eq!(text(&mut server), "* 2 FETCH (FLAGS (\\Seen) UID 2)\r\n");
    server.mailbox_changed(Change::Expunged { uid: 1 });
    assert_eq!(text(&mut server), "* 1 EXPUNGE\r\n");
    let (out, _) = say(&mut server, "DONE\r\n");
    assert_eq!(out, "i OK IDLE terminated\r\n");
    // Outside IDLE, an expunge waits for a command that may tell it.
    server.mailbox_changed(Change::Expunged { uid: 3 });
    assert_eq!(text(&mut server), "");
    let (out, _) = say(&mut server, "n NOOP\r\n");
    assert_eq!(out, "* 2 EXPUNGE\r\nn OK NOOP completed\r\n");
}

#[test]
fn search_keys_clients_send_on_open() {
    let mut server = selected();
    for (keys, found) in [
        ("ALL", "1 2 3"),
        ("UNSEEN", "2 3"),
        ("SEEN", "1"),
        ("UID 2:*", "2 3"),
        ("SINCE 26-Nov-2026", "1 2 3"),
        ("BEFORE 26-Nov-2026", ""),
        ("NOT DELETED UNSEEN", "2 3"),
    ] {
        let (out, _) = say(&mut server, &format!("s SEARCH {keys}\r\n"));
        let expected = if found.is_empty() { "* SEARCH\r\n".to_owned() } else { format!("* SEARCH {found}\r\n") };
        assert_eq!(out, format!("{expected}s OK SEARCH completed\r\n"), "{keys}");
    }
    let (out, _) = say(&mut server, "t UID SEARCH UNSEEN\r\n");
    assert_eq!(out, "* SEARCH 2 3\r\nt OK SEARCH completed\r\n");
}

/// A PGP/MIME message as the relay stores it.
const PGP_MIME: &str = "From: labo@relay.test\r\nTo: alice@relay.test\r\nSubject: Document medical chiffre\r\n\
    MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\"\r\n\r\n\
    --b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--b\r\n\
    Content-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n\
    -----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA\r\n-----END PGP MESSAGE-----\r\n\r\n--b--\r\n";

#[test]
fn bodystructure_and_parts_of_a_pgp_mime_message() {
    let mut server = selected();
    say(&mut server, "b FETCH 2 (BODYSTRUCTURE BODY.PEEK[2] BODY.PEEK[1.MIME])\r\n");
    assert_eq!(server.retrieved(Some(PGP_MIME.as_bytes().to_vec())), None);
    let out = text(&mut server);
    assert!(
        out.contains(
            "BODYSTRUCTURE ((\"application\" \"pgp-encrypted\" NIL NIL NIL \"7bit\" 12 NIL)\
             (\"application\" \"octet-stream\" (\"name\" \"encrypted.asc\") NIL NIL \"7bit\" 65 NIL) \
             \"encrypted\" (\"protocol\" \"application/pgp-encrypted\" \"boundary\" \"b\"))"
        ),
        "{out}"
    );
    assert!(out.contains("BODY[2] {65}\r\n-----BEGIN PGP MESSAGE-----"), "{out}");
    assert!(out.contains("BODY[1.MIME] {43}\r\nContent-Type: application/pgp-encrypted\r\n\r\n)"), "{out}");
}

#[test]
fn searching_the_clear_headers_reads_each_message() {
    let mut server = selected();
    let (_, effect) = say(&mut server, "s UID SEARCH UNSEEN FROM labo SUBJECT \"medical\"\r\n");
    // Message 1 is seen: the flags settle it without reading it.
    assert_eq!(effect, Some(Effect::Retrieve { message: 20 }));
    let effect = server.retrieved(Some(MESSAGE.as_bytes().to_vec()));
    assert_eq!(effect, Some(Effect::Retrieve { message: 30 }));
    let other = MESSAGE.replace("labo@relay.test", "cabinet@relay.test").replace("Labo", "Cabinet");
    assert_eq!(server.retrieved(Some(other.into_bytes())), None);
    assert_eq!(text(&mut server), "* SEARCH 2\r\ns OK SEARCH completed\r\n");
    let (_, effect) = say(&mut server, "t SEARCH TEXT \"BEGIN PGP\" NOT FROM labo\r\n");
    assert!(matches!(effect, Some(Effect::Retrieve { .. })));
    let mut effect = server.retrieved(Some(MESSAGE.as_bytes().to_vec()));
    while effect.is_some() {
        effect = server.retrieved(Some(MESSAGE.replace("Labo <labo", "X <x").into_bytes()));
    }
    assert_eq!(text(&mut server), "* SEARCH 2 3\r\nt OK SEARCH completed\r\n");
}

#[test]
fn status_and_quota_before_and_after_a_selection() {
    let mut server = logged_in();
    let (_, effect) = say(&mut server, "s STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)\r\n");
    assert_eq!(effect, Some(Effect::Peek));
    server.peeked(Ok(view(3)));
    assert_eq!(
        text(&mut server),
        "* STATUS INBOX (MESSAGES 3 UNSEEN 2 UIDNEXT 4 UIDVALIDITY 7)\r\ns OK STATUS completed\r\n"
    );
    let (out, _) = say(&mut server, "n STATUS Sent (MESSAGES)\r\n");
    assert_eq!(out, "n NO [NONEXISTENT] Only INBOX exists\r\n");
    say(&mut server, "x SELECT INBOX\r\n");
    server.mailbox_opened(Ok(view(3)));
    server.take_output();
    let (out, effect) = say(&mut server, "q GETQUOTAROOT INBOX\r\n");
    assert_eq!(effect, None);
    assert_eq!(out, "* QUOTAROOT INBOX \"\"\r\n* QUOTA \"\" (STORAGE 3 51200)\r\nq OK GETQUOTAROOT completed\r\n");
}
