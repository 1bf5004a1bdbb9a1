//! IMAP4rev1 (RFC 3501) collection as a sans-I/O state machine, shaped like [`crate::pop3`]:
//! bytes in, responses out, and an [`Effect`] whenever the dialogue needs the outside world.
//!
//! Parsing and serialising are imap-codec's, never hand-written. Its 2.0 line is used, pinned
//! to one alpha (`=2.0.0-alpha.10`) because the stable 1.0 cannot parse `ID` (RFC 2971) or
//! `NAMESPACE` (RFC 2342), two of the first commands Thunderbird sends; the pin keeps an
//! alpha's API changes out until they are taken on purpose. Its `Fragmentizer` splits the
//! stream into messages and literals, so the machine takes input in chunks of any size.
//!
//! One mailbox, `INBOX`, holding what was submitted to this account: commands that would
//! create, rename, delete or add mail are refused with `NO [CANNOT]`.
//!
//! Here: the states, input and the answers to effects; `respond.rs`: responses built as the
//! codec's types and encoded by it; `commands.rs`: the commands by state.

mod commands;
mod fetch;
mod respond;
mod selected;
mod status;
mod structure;
#[cfg(test)]
mod tests;

use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer, LiteralAnnouncement};
use imap_codec::imap_types::core::{LiteralMode, Tag};
use imap_codec::imap_types::IntoStatic as _;
use imap_codec::{AuthenticateDataCodec, CommandCodec, IdleDoneCodec};

pub use self::selected::Change;
use self::selected::{FetchJob, SearchJob};
use crate::{Closing, Machine, Vocabulary};

/// Largest command, literals included: a client sends short commands (the relay takes no
/// APPEND), so 64 KiB leaves room for long UID sets and search keys.
pub const IMAP_COMMAND_BYTES_MAX: u32 = 64 * 1024;
/// Protocol errors (`BAD`) tolerated in one session before it is closed.
pub const IMAP_ERRORS_MAX: u32 = 10;
/// Failed logins tolerated in one session before it is closed.
pub const IMAP_AUTH_FAILURES_MAX: u32 = 3;

/// One message of the mailbox as a session sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<V: Vocabulary> {
    /// Its IMAP UID: ascending in the order messages arrived, never reused in the mailbox.
    pub uid: u32,
    pub message: V::Message,
    pub size: u64,
    /// When the relay accepted it, in seconds since the epoch (`INTERNALDATE`).
    pub accepted_at: i64,
    pub flags: Flags,
}

/// The flags a recipient keeps on a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub seen: bool,
    pub flagged: bool,
    pub deleted: bool,
}

/// The mailbox handed to a session that selects `INBOX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxView<V: Vocabulary> {
    pub entries: Vec<Entry<V>>,
    /// Changes only if UIDs were ever reused (RFC 3501 §2.3.1.1); fixed per mailbox.
    pub uid_validity: u32,
    /// The UID the next message will get.
    pub uid_next: u32,
    /// The account's quota: bytes used and allowed (RFC 9208 `STORAGE`, shown in KiB).
    pub quota: Quota,
}

/// Bytes a mailbox uses and may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    pub used_bytes: u64,
    pub limit_bytes: u64,
}

/// Why `INBOX` could not be selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// A POP3 session holds the maildrop (RFC 5530 `[INUSE]`).
    InUse,
    /// A temporary failure (`[UNAVAILABLE]`).
    Unavailable,
}

/// Something the driver must do before the dialogue can go on.
#[derive(Debug, PartialEq, Eq)]
pub enum Effect<V: Vocabulary> {
    /// Check credentials; answer with [`ImapServer::authenticated`] (or
    /// [`ImapServer::login_throttled`]).
    Authenticate { username: String, password: String },
    /// Open the logged-in account's mailbox (a collection, for the inactivity rule); answer
    /// with [`ImapServer::mailbox_opened`].
    Select { read_only: bool },
    /// List the mailbox without opening it (STATUS, GETQUOTAROOT before a SELECT; not a
    /// collection); answer with [`ImapServer::peeked`].
    Peek,
    /// Read a message; answer with [`ImapServer::retrieved`].
    Retrieve { message: V::Message },
    /// Keep these flags for this recipient (by UID); answer with
    /// [`ImapServer::flags_stored`]. Other sessions on the mailbox are told.
    StoreFlags { changes: Vec<(u32, Flags)> },
    /// Erase these messages for this recipient — the message itself, key included, once
    /// every recipient has — in one durable commit; answer with [`ImapServer::expunged`].
    /// Other sessions on the mailbox are told.
    Expunge { uids: Vec<u32> },
    /// Write out the output, drop buffered input, start TLS, then call
    /// [`ImapServer::tls_started`].
    StartTls,
    /// Write out the output and close.
    Close,
}

/// RFC 3501's states (§3), plus the moments the machine waits on the driver or the client.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    NotAuthenticated,
    /// `AUTHENTICATE PLAIN` without an initial response: the next message is the response.
    AuthContinuation {
        tag: Tag<'static>,
    },
    Authenticated,
    Selected {
        read_only: bool,
    },
    /// `IDLE` accepted: the next message is `DONE`.
    Idle {
        tag: Tag<'static>,
    },
    Waiting(Awaiting),
    Logout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Awaiting {
    Auth {
        tag: Tag<'static>,
    },
    Select {
        tag: Tag<'static>,
        read_only: bool,
    },
    Peek {
        tag: Tag<'static>,
        then: status::Asked,
    },
    Retrieve(Box<FetchJob>),
    /// A SEARCH on headers or text reading each message.
    Search(Box<SearchJob>),
    Flags {
        tag: Tag<'static>,
        verb: &'static str,
    },
    Expunge {
        tag: Tag<'static>,
        silent: bool,
        uids: Vec<u32>,
    },
    Tls,
}

/// The IMAP server side of one connection.
#[derive(Debug)]
pub struct ImapServer<V: Vocabulary> {
    hostname: String,
    tls: bool,
    state: State,
    fragmentizer: Fragmentizer,
    mailbox: Option<MailboxView<V>>,
    /// The mailbox was opened with EXAMINE: nothing may change it.
    examine: bool,
    /// Changes made elsewhere, held until the protocol lets them be told.
    pending: Vec<Change<V>>,
    /// A CLOSE is expunging: its answer ends the selection.
    closing: bool,
    errors: u32,
    auth_failures: u32,
    output: Vec<u8>,
}

impl<V: Vocabulary> ImapServer<V> {
    /// A new session; `tls` is true for implicit TLS (port 993). Queues the greeting, with
    /// the capabilities (RFC 3501 §7.1, `[CAPABILITY …]`) so clients need not ask.
    pub fn new(hostname: &str, tls: bool) -> Self {
        let mut server = ImapServer {
            hostname: hostname.to_owned(),
            tls,
            state: State::NotAuthenticated,
            fragmentizer: Fragmentizer::new(IMAP_COMMAND_BYTES_MAX),
            mailbox: None,
            examine: false,
            pending: Vec::new(),
            closing: false,
            errors: 0,
            auth_failures: 0,
            output: Vec::new(),
        };
        server.greet();
        server
    }

    /// The mailbox this session has selected, if any.
    pub fn selected(&self) -> Option<&MailboxView<V>> {
        self.mailbox.as_ref()
    }

    /// Queues `BYE` and closes: for idle timeouts and shutdown.
    pub fn shutdown(&mut self, why: &str) -> Effect<V> {
        self.bye(why);
        self.state = State::Logout;
        Effect::Close
    }

    /// The answer to [`Effect::Authenticate`].
    pub fn authenticated(&mut self, valid: bool) -> Option<Effect<V>> {
        let State::Waiting(Awaiting::Auth { tag }) = self.state.clone() else {
            return None;
        };
        if valid {
            self.state = State::Authenticated;
            self.tagged_ok_capabilities(&tag, "Logged in");
            return None;
        }
        self.auth_failures += 1;
        self.state = State::NotAuthenticated;
        if self.auth_failures >= IMAP_AUTH_FAILURES_MAX {
            self.tagged_no(&tag, Some("AUTHENTICATIONFAILED"), "Invalid login");
            return Some(self.shutdown("Too many failed logins; closing"));
        }
        self.tagged_no(&tag, Some("AUTHENTICATIONFAILED"), "Invalid login");
        None
    }

    /// The answer to [`Effect::Authenticate`] when logins from this client or for this
    /// account are throttled: refused without a password check.
    pub fn login_throttled(&mut self, retry_minutes: u64) {
        if let State::Waiting(Awaiting::Auth { tag }) = self.state.clone() {
            self.state = State::NotAuthenticated;
            let text = format!("Too many failed logins; try again in {retry_minutes} minutes");
            self.tagged_no(&tag, Some("UNAVAILABLE"), &text);
        }
    }

    /// The answer to [`Effect::Select`].
    pub fn mailbox_opened(&mut self, opened: Result<MailboxView<V>, OpenError>) {
        let State::Waiting(Awaiting::Select { tag, read_only }) = self.state.clone() else {
            return;
        };
        match opened {
            Ok(view) => {
                self.selected_responses(&view, read_only);
                let code = if read_only { "READ-ONLY" } else { "READ-WRITE" };
                let verb = if read_only { "EXAMINE" } else { "SELECT" };
                self.tagged_ok(&tag, Some(code), &format!("{verb} completed"));
                self.mailbox = Some(view);
                self.pending.clear();
                self.examine = read_only;
                self.state = State::Selected { read_only };
            }
            Err(error) => {
                self.mailbox = None;
                self.state = State::Authenticated;
                match error {
                    OpenError::InUse => {
                        self.tagged_no(&tag, Some("INUSE"), "A POP3 session is collecting this mailbox; try again")
                    }
                    OpenError::Unavailable => {
                        self.tagged_no(&tag, Some("UNAVAILABLE"), "The mailbox cannot be opened now; try again")
                    }
                }
            }
        }
    }

    /// Consumes input until it is used up or an effect is needed; returns bytes consumed.
    ///
    /// Input goes to the fragmentizer one line at a time, so that when a command completes
    /// it has taken exactly that command's bytes: a pipelined command behind it stays with
    /// the driver until the effect is answered.
    fn feed(&mut self, input: &[u8]) -> (usize, Option<Effect<V>>) {
        let mut used = 0;
        loop {
            if let Some(effect) = self.drain_fragments() {
                return (used, Some(effect));
            }
            if matches!(self.state, State::Waiting(_) | State::Logout) || used == input.len() {
                return (used, None);
            }
            let rest = &input[used..];
            let take = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |at| at + 1);
            self.fragmentizer.enqueue_bytes(&rest[..take]);
            used += take;
        }
    }

    /// Handles the fragments enqueued so far: literal announcements, then each complete
    /// message. Returns the first effect a message needs.
    fn drain_fragments(&mut self) -> Option<Effect<V>> {
        while !matches!(self.state, State::Waiting(_) | State::Logout) {
            let info = self.fragmentizer.progress()?;
            if let FragmentInfo::Line { announcement: Some(LiteralAnnouncement { mode, length }), .. } = info {
                if let Some(effect) = self.literal_announced(mode, length) {
                    return Some(effect);
                }
                continue;
            }
            if !self.fragmentizer.is_message_complete() {
                continue;
            }
            if let Some(effect) = self.message() {
                return Some(effect);
            }
        }
        None
    }

    /// A line announced a literal: a synchronising one within the limit is invited with
    /// `+`; one past it is refused before its bytes are sent (RFC 7888 §4 for `LITERAL+`).
    fn literal_announced(&mut self, mode: LiteralMode, length: u32) -> Option<Effect<V>> {
        let fits =
            self.fragmentizer.message_bytes().len() as u64 + u64::from(length) <= u64::from(IMAP_COMMAND_BYTES_MAX);
        match (fits, mode) {
            (true, LiteralMode::Sync) => {
                self.continuation("Ready for the literal");
                None
            }
            (true, LiteralMode::NonSync) => None,
            (false, LiteralMode::Sync) => {
                let tag = self.fragmentizer.decode_tag().map(|tag| tag.into_static());
                self.fragmentizer.skip_message();
                match tag {
                    Some(tag) => {
                        self.tagged_bad(&tag, Some("TOOBIG"), "Literal too large");
                        self.count_error()
                    }
                    None => self.untagged_error("Literal too large"),
                }
            }
            // The client sends the bytes anyway: the fragmentizer drops the message once it
            // passes the limit, and `message` answers it.
            (false, LiteralMode::NonSync) => None,
        }
    }

    /// A complete message: decoded for the state the session is in, and answered.
    fn message(&mut self) -> Option<Effect<V>> {
        match self.state.clone() {
            State::AuthContinuation { tag } => {
                let decoded = self.fragmentizer.decode_message(&AuthenticateDataCodec::default());
                let data = decoded.map(|data| data.into_static());
                self.authenticate_data(tag, data.ok())
            }
            State::Idle { tag } => {
                let done = self.fragmentizer.decode_message(&IdleDoneCodec::default()).is_ok();
                self.idle_done(&tag, done)
            }
            _ => {
                let decoded = self.fragmentizer.decode_message(&CommandCodec::default());
                match decoded.map(|command| command.into_static()) {
                    Ok(command) => self.command(command),
                    Err(_) => {
                        let tag = self.fragmentizer.decode_tag().map(|tag| tag.into_static());
                        match tag {
                            Some(tag) => {
                                self.tagged_bad(&tag, None, "Command not understood");
                                self.count_error()
                            }
                            None => self.untagged_error("Command not understood"),
                        }
                    }
                }
            }
        }
    }

    /// A `BAD` counted against the session: past [`IMAP_ERRORS_MAX`], it is closed.
    fn count_error(&mut self) -> Option<Effect<V>> {
        self.errors += 1;
        (self.errors >= IMAP_ERRORS_MAX).then(|| self.shutdown("Too many errors; closing"))
    }

    /// A message without a readable tag: answered untagged (RFC 3501 §7.1.3).
    fn untagged_error(&mut self, text: &str) -> Option<Effect<V>> {
        self.untagged_bad(text);
        self.count_error()
    }
}

impl<V: Vocabulary> Machine for ImapServer<V> {
    type Effect = Effect<V>;

    fn receive(&mut self, input: &[u8]) -> (usize, Option<Effect<V>>) {
        self.feed(input)
    }

    fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    fn output_bytes(&self) -> usize {
        self.output.len()
    }

    fn is_closed(&self) -> bool {
        self.state == State::Logout
    }

    fn logged_in(&self) -> bool {
        matches!(self.state, State::Authenticated | State::Selected { .. } | State::Idle { .. })
            || matches!(self.state, State::Waiting(Awaiting::Select { .. }))
    }

    fn in_data(&self) -> bool {
        false
    }

    fn close_now(&mut self, closing: Closing) {
        self.shutdown(closing.text());
    }

    fn tls_started(&mut self) {
        if self.state == State::Waiting(Awaiting::Tls) {
            self.tls = true;
            // Anything pipelined after STARTTLS is discarded (RFC 3501 §6.2.1).
            self.fragmentizer = Fragmentizer::new(IMAP_COMMAND_BYTES_MAX);
            self.state = State::NotAuthenticated;
        }
    }
}
