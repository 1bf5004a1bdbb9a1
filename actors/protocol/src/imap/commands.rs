//! The commands, by the state they are valid in (RFC 3501 §6): any state, not authenticated,
//! authenticated, selected; and the two messages that are not commands (SASL data, `DONE`).

use std::borrow::Cow;

use imap_codec::imap_types::auth::{AuthMechanism, AuthenticateData};
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::{IString, NString, Quoted, QuotedChar, Tag};
use imap_codec::imap_types::extensions::namespace::Namespace;
use imap_codec::imap_types::flag::FlagNameAttribute;
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::response::Data;

use super::{Awaiting, Effect, ImapServer, State};
use crate::Vocabulary;

/// The hierarchy delimiter shown in LIST and NAMESPACE; there is no hierarchy under INBOX.
const DELIMITER: char = '/';

impl<V: Vocabulary> ImapServer<V> {
    /// One decoded command.
    pub(super) fn command(&mut self, command: Command<'static>) -> Option<Effect<V>> {
        let Command { tag, body } = command;
        match body {
            CommandBody::Capability => {
                self.data(Data::Capability(self.capabilities()));
                self.tagged_ok(&tag, None, "CAPABILITY completed");
                None
            }
            CommandBody::Noop => {
                // NOOP is how a client polls: what changed meanwhile is told first.
                self.flush_changes();
                self.tagged_ok(&tag, None, "NOOP completed");
                None
            }
            CommandBody::Logout => {
                self.bye("Logging out");
                self.tagged_ok(&tag, None, "LOGOUT completed");
                self.state = State::Logout;
                Some(Effect::Close)
            }
            CommandBody::Id { .. } => {
                self.id();
                self.tagged_ok(&tag, None, "ID completed");
                None
            }
            body => match self.state {
                State::NotAuthenticated => self.not_authenticated(tag, body),
                State::Authenticated | State::Selected { .. } => self.authenticated_command(tag, body),
                _ => None,
            },
        }
    }

    /// `ID` (RFC 2971): the server's name, nothing about the client is kept.
    fn id(&mut self) {
        let field = |text: &str| Quoted::try_from(text.to_owned()).ok().map(IString::Quoted);
        let parameters = [("name", "Caducee"), ("vendor", "Caducee")]
            .into_iter()
            .filter_map(|(key, value)| Some((field(key)?, NString(field(value)))))
            .collect();
        self.data(Data::Id { parameters: Some(parameters) });
    }

    fn not_authenticated(&mut self, tag: Tag<'static>, body: CommandBody<'static>) -> Option<Effect<V>> {
        match body {
            CommandBody::StartTLS if !self.tls => {
                self.tagged_ok(&tag, None, "Begin TLS negotiation now");
                self.state = State::Waiting(Awaiting::Tls);
                Some(Effect::StartTls)
            }
            CommandBody::StartTLS => {
                self.tagged_bad(&tag, None, "TLS is already active");
                self.count_error()
            }
            CommandBody::Login { .. } | CommandBody::Authenticate { .. } if !self.tls => {
                self.tagged_no(&tag, Some("PRIVACYREQUIRED"), "Use STARTTLS first: no password in clear");
                None
            }
            CommandBody::Login { username, password } => {
                let username = String::from_utf8_lossy(username.as_ref()).into_owned();
                let password = String::from_utf8_lossy(password.declassify().as_ref()).into_owned();
                self.state = State::Waiting(Awaiting::Auth { tag });
                Some(Effect::Authenticate { username, password })
            }
            CommandBody::Authenticate { mechanism: AuthMechanism::Plain, initial_response } => {
                match initial_response {
                    // SASL-IR (RFC 4959): the response came with the command.
                    Some(response) => self.plain_response(tag, response.declassify().as_ref()),
                    None => {
                        self.sasl_continuation();
                        self.state = State::AuthContinuation { tag };
                        None
                    }
                }
            }
            CommandBody::Authenticate { .. } => {
                self.tagged_no(&tag, None, "Only AUTHENTICATE PLAIN is offered");
                None
            }
            _ => {
                self.tagged_bad(&tag, None, "Log in first");
                self.count_error()
            }
        }
    }

    /// The client's answer to the `+` of `AUTHENTICATE PLAIN`: its response, or `*` to
    /// cancel (RFC 3501 §6.2.2).
    pub(super) fn authenticate_data(
        &mut self,
        tag: Tag<'static>,
        data: Option<AuthenticateData<'static>>,
    ) -> Option<Effect<V>> {
        self.state = State::NotAuthenticated;
        match data {
            Some(AuthenticateData::Continue(response)) => self.plain_response(tag, response.declassify().as_ref()),
            Some(AuthenticateData::Cancel) => {
                self.tagged_bad(&tag, None, "Authentication cancelled");
                None
            }
            None => {
                self.tagged_bad(&tag, None, "The response is not base64");
                self.count_error()
            }
        }
    }

    /// A PLAIN response (RFC 4616): `authzid NUL authcid NUL password`, the authorisation
    /// identity empty or the same as the authentication identity.
    fn plain_response(&mut self, tag: Tag<'static>, response: &[u8]) -> Option<Effect<V>> {
        let mut fields = response.split(|&byte| byte == 0);
        let (Some(authorise), Some(user), Some(password), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            self.tagged_bad(&tag, None, "A PLAIN response has three fields");
            return self.count_error();
        };
        if !authorise.is_empty() && authorise != user {
            self.tagged_no(&tag, Some("AUTHORIZATIONFAILED"), "Acting for another account is not allowed");
            return None;
        }
        let username = String::from_utf8_lossy(user).into_owned();
        let password = String::from_utf8_lossy(password).into_owned();
        self.state = State::Waiting(Awaiting::Auth { tag });
        Some(Effect::Authenticate { username, password })
    }

    /// Commands of the authenticated state, also valid once a mailbox is selected.
    fn authenticated_command(&mut self, tag: Tag<'static>, body: CommandBody<'static>) -> Option<Effect<V>> {
        let body = match self.selected_command(tag.clone(), body) {
            Ok(effect) => return effect,
            Err(body) => body,
        };
        match body {
            CommandBody::Idle => {
                self.idle(tag);
                None
            }
            CommandBody::Login { .. } | CommandBody::Authenticate { .. } | CommandBody::StartTLS => {
                self.tagged_bad(&tag, None, "Already logged in");
                self.count_error()
            }
            CommandBody::Enable { .. } => {
                // Nothing this server offers needs enabling (no CONDSTORE, no UTF8=ACCEPT).
                self.data(Data::Enabled { capabilities: Vec::new() });
                self.tagged_ok(&tag, None, "ENABLE completed");
                None
            }
            CommandBody::Namespace => {
                self.namespace();
                self.tagged_ok(&tag, None, "NAMESPACE completed");
                None
            }
            CommandBody::List { reference, mailbox_wildcard } => {
                self.list(&reference, &mailbox_wildcard, false);
                self.tagged_ok(&tag, None, "LIST completed");
                None
            }
            CommandBody::Lsub { reference, mailbox_wildcard } => {
                self.list(&reference, &mailbox_wildcard, true);
                self.tagged_ok(&tag, None, "LSUB completed");
                None
            }
            CommandBody::Subscribe { mailbox } | CommandBody::Unsubscribe { mailbox } => {
                if mailbox == Mailbox::Inbox {
                    self.tagged_ok(&tag, None, "INBOX is always subscribed");
                } else {
                    self.tagged_no(&tag, Some("NONEXISTENT"), "Only INBOX exists");
                }
                None
            }
            CommandBody::Status { mailbox, item_names } => self.status(tag, &mailbox, item_names.into_owned()),
            CommandBody::GetQuotaRoot { mailbox } => self.quota_root(tag, &mailbox),
            CommandBody::GetQuota { root } => self.quota(tag, root.as_ref()),
            CommandBody::SetQuota { .. } => {
                self.tagged_no(&tag, Some("NOPERM"), "The quota is the administrator's to set");
                None
            }
            CommandBody::Select { mailbox, .. } => self.select(tag, &mailbox, false),
            CommandBody::Examine { mailbox, .. } => self.select(tag, &mailbox, true),
            CommandBody::Create { .. }
            | CommandBody::Delete { .. }
            | CommandBody::Rename { .. }
            | CommandBody::Append { .. }
            | CommandBody::Copy { .. }
            | CommandBody::Move { .. } => {
                self.tagged_no(&tag, Some("CANNOT"), "This relay carries only what was submitted to it: INBOX alone");
                None
            }
            CommandBody::Unselect | CommandBody::Close if matches!(self.state, State::Selected { .. }) => {
                self.mailbox = None;
                self.state = State::Authenticated;
                self.tagged_ok(&tag, None, "Mailbox closed");
                None
            }
            _ => {
                self.tagged_bad(&tag, None, "Not valid in this state");
                self.count_error()
            }
        }
    }

    /// `NAMESPACE` (RFC 2342): one personal namespace, empty prefix, no others.
    fn namespace(&mut self) {
        let personal = Quoted::try_from("").ok().map(|prefix| Namespace {
            prefix: IString::Quoted(prefix),
            delimiter: QuotedChar::try_from(DELIMITER).ok(),
            extensions: Vec::new(),
        });
        self.data(Data::Namespace { personal: personal.into_iter().collect(), other: Vec::new(), shared: Vec::new() });
    }

    /// `LIST`/`LSUB` (RFC 3501 §6.3.8): INBOX when the reference and pattern match it; an
    /// empty pattern asks for the delimiter.
    fn list(&mut self, reference: &Mailbox<'_>, pattern: &ListMailbox<'_>, subscribed_only: bool) {
        let pattern = list_pattern(pattern);
        let reference = mailbox_name(reference);
        let attribute =
            |name: &'static str| imap_codec::imap_types::core::Atom::try_from(name).ok().map(FlagNameAttribute::from);
        if pattern.is_empty() && !subscribed_only {
            let root = Mailbox::try_from(reference.into_owned()).unwrap_or(Mailbox::Inbox);
            self.data(Data::List {
                items: attribute("Noselect").into_iter().collect(),
                delimiter: QuotedChar::try_from(DELIMITER).ok(),
                mailbox: root,
            });
            return;
        }
        let full = format!("{reference}{pattern}");
        if wildcard_matches(&full, "INBOX") {
            let items = attribute("HasNoChildren").into_iter().collect();
            let delimiter = QuotedChar::try_from(DELIMITER).ok();
            let data = if subscribed_only {
                Data::Lsub { items, delimiter, mailbox: Mailbox::Inbox }
            } else {
                Data::List { items, delimiter, mailbox: Mailbox::Inbox }
            };
            self.data(data);
        }
    }

    /// `SELECT`/`EXAMINE`: INBOX only; opening it is the effect.
    fn select(&mut self, tag: Tag<'static>, mailbox: &Mailbox<'_>, read_only: bool) -> Option<Effect<V>> {
        // A new selection ends the previous one first (RFC 3501 §6.3.1).
        self.mailbox = None;
        if *mailbox != Mailbox::Inbox {
            self.state = State::Authenticated;
            self.tagged_no(&tag, Some("NONEXISTENT"), "Only INBOX exists");
            return None;
        }
        self.state = State::Waiting(Awaiting::Select { tag, read_only });
        Some(Effect::Select { read_only })
    }

    /// The line that ends `IDLE` (RFC 2177): `DONE`, or anything else, which is an error.
    pub(super) fn idle_done(&mut self, tag: &Tag<'static>, done: bool) -> Option<Effect<V>> {
        self.state = if self.mailbox.is_some() { self.selected_state() } else { State::Authenticated };
        if done {
            self.tagged_ok(tag, None, "IDLE terminated");
            None
        } else {
            self.tagged_bad(tag, None, "Expected DONE");
            self.count_error()
        }
    }
}

/// A mailbox name as the client wrote it (`INBOX` for INBOX whatever its case).
fn mailbox_name<'a>(mailbox: &'a Mailbox<'_>) -> Cow<'a, str> {
    match mailbox {
        Mailbox::Inbox => Cow::Borrowed("INBOX"),
        Mailbox::Other(other) => String::from_utf8_lossy(other.as_ref()),
    }
}

fn list_pattern(pattern: &ListMailbox<'_>) -> String {
    match pattern {
        ListMailbox::Token(token) => String::from_utf8_lossy(token.as_ref()).into_owned(),
        ListMailbox::String(string) => String::from_utf8_lossy(string.as_ref()).into_owned(),
    }
}

/// Whether `name` matches a LIST pattern: `*` matches anything, `%` anything but the
/// delimiter; INBOX is matched without regard to case (RFC 3501 §5.1).
fn wildcard_matches(pattern: &str, name: &str) -> bool {
    fn matches(pattern: &[u8], name: &[u8]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some((b'*', rest)) => (0..=name.len()).any(|skip| matches(rest, &name[skip..])),
            Some((b'%', rest)) => (0..=name.len())
                .take_while(|&skip| !name[..skip].contains(&(DELIMITER as u8)))
                .any(|skip| matches(rest, &name[skip..])),
            Some((&c, rest)) => name.first().is_some_and(|&n| n.eq_ignore_ascii_case(&c)) && matches(rest, &name[1..]),
        }
    }
    matches(pattern.as_bytes(), name.as_bytes())
}

/// The base64 of a PLAIN response, as a client puts it after `AUTHENTICATE PLAIN` (tests).
#[cfg(test)]
pub(super) fn plain(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

#[cfg(test)]
mod wildcard_tests {
    use super::wildcard_matches;

    #[test]
    fn patterns_match_inbox_as_rfc_3501_says() {
        for pattern in ["*", "%", "INBOX", "inbox", "IN*", "I%X", "*X"] {
            assert!(wildcard_matches(pattern, "INBOX"), "{pattern}");
        }
        for pattern in ["Sent", "INBOX/%", "IN", "%/%"] {
            assert!(!wildcard_matches(pattern, "INBOX"), "{pattern}");
        }
    }
}
