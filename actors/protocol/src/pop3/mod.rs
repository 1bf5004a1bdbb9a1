//! POP3 (RFC 1939, with CAPA and response codes from RFC 2449, STLS from RFC 2595 and
//! AUTH PLAIN from RFC 5034) as a sans-I/O state machine, shaped like [`crate::smtp`]:
//! bytes in, replies out, and an [`Effect`] whenever the dialogue needs the outside world.
//!
//! Written by hand: no maintained POP3 server codec exists, and the protocol is small.
//! Here: the states and the answers to effects; `commands.rs`: the commands by state.

mod commands;

use std::io::Write as _;

use crate::{Closing, Machine, Vocabulary};

/// RFC 2449 §4: a command line is at most 255 octets; we allow a little more for AUTH.
pub const POP3_LINE_BYTES_MAX: usize = 1024;
/// Protocol errors tolerated in one session before it is closed.
pub const POP3_ERRORS_MAX: u32 = 10;
/// Failed logins tolerated in one session before it is closed.
pub const POP3_AUTH_FAILURES_MAX: u32 = 3;

/// One message of the maildrop as the session sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaildropEntry<V: Vocabulary> {
    pub uid: V::Uid,
    pub message: V::Message,
    pub size: u64,
}

/// The locked maildrop handed to a session after login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maildrop<V: Vocabulary> {
    pub entries: Vec<MaildropEntry<V>>,
    /// Mark each message deleted as soon as it has been retrieved.
    pub delete_on_retrieve: bool,
}

/// Why a maildrop could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaildropError {
    /// Another session holds it (RFC 2449 `[IN-USE]`).
    InUse,
    /// A temporary failure (RFC 3206 `[SYS/TEMP]`).
    Unavailable,
}

/// Something the driver must do before the dialogue can go on.
#[derive(Debug, PartialEq, Eq)]
pub enum Effect<V: Vocabulary> {
    /// Check credentials; answer with [`Pop3Server::authenticated`] (true when valid).
    Authenticate { username: String, password: String },
    /// Lock the logged-in mailbox and list it; answer with [`Pop3Server::maildrop_opened`].
    OpenMaildrop,
    /// Read a message; answer with [`Pop3Server::retrieved`].
    Retrieve { message: V::Message, top_lines: Option<u32> },
    /// QUIT in the TRANSACTION state: remove these messages in one durable commit and
    /// release the lock; answer with [`Pop3Server::updated`].
    Update { deleted: Vec<V::Uid> },
    /// Write out the output, drop buffered input, start TLS, then call
    /// [`Pop3Server::tls_started`].
    StartTls,
    /// Write out the output and close; a held maildrop lock is released without changes.
    Close,
}

/// RFC 1939's session states, plus the moments the machine waits on the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Authorization {
        user: Option<String>,
    },
    /// `AUTH PLAIN` sent without an initial response: the next line is the response.
    AuthContinuation,
    Transaction,
    Waiting(Awaiting),
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    Auth,
    Maildrop,
    Retrieve { index: usize },
    Update,
    Tls,
}

/// The POP3 server side of one connection.
#[derive(Debug)]
pub struct Pop3Server<V: Vocabulary> {
    tls: bool,
    state: State,
    line: Vec<u8>,
    /// Set while skipping the rest of an over-long line.
    discarding: bool,
    maildrop: Option<Maildrop<V>>,
    deleted: Vec<bool>,
    errors: u32,
    auth_failures: u32,
    output: Vec<u8>,
}

impl<V: Vocabulary> Pop3Server<V> {
    /// A new session; `tls` is true for implicit TLS (port 995). Queues the greeting.
    pub fn new(hostname: &str, tls: bool) -> Self {
        let mut server = Pop3Server {
            tls,
            state: State::Authorization { user: None },
            line: Vec::new(),
            discarding: false,
            maildrop: None,
            deleted: Vec::new(),
            errors: 0,
            auth_failures: 0,
            output: Vec::new(),
        };
        server.ok(&format!("{hostname} Caducée POP3 ready"));
        server
    }

    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// True once a mailbox lock is held (the driver must release it on any close).
    pub fn holds_maildrop(&self) -> bool {
        self.maildrop.is_some()
    }

    /// Queues `-ERR` and closes: for idle timeouts and shutdown. Deletions are not applied
    /// (RFC 1939 §6: only QUIT enters the UPDATE state).
    pub fn shutdown(&mut self, why: &str) -> Effect<V> {
        self.err(&format!("[SYS/TEMP] {why}"));
        self.state = State::Closed;
        Effect::Close
    }

    /// Consumes input until it is used up or an effect is needed; returns bytes consumed.
    pub fn receive(&mut self, input: &[u8]) -> (usize, Option<Effect<V>>) {
        let mut used = 0;
        while used < input.len() {
            if matches!(self.state, State::Waiting(_) | State::Closed) {
                break;
            }
            let rest = &input[used..];
            let newline = rest.iter().position(|&b| b == b'\n');
            let take = newline.map_or(rest.len(), |pos| pos + 1);
            used += take;
            if self.discarding {
                self.discarding = newline.is_none();
                continue;
            }
            if self.line.len() + take > POP3_LINE_BYTES_MAX {
                self.line.clear();
                self.discarding = newline.is_none();
                if let Some(effect) = self.error("Line too long") {
                    return (used, Some(effect));
                }
                continue;
            }
            self.line.extend_from_slice(&rest[..take]);
            if newline.is_some() {
                let line = std::mem::take(&mut self.line);
                let text = String::from_utf8_lossy(&line);
                if let Some(effect) = self.command(text.trim_end_matches(['\r', '\n'])) {
                    return (used, Some(effect));
                }
            }
        }
        (used, None)
    }

    /// The answer to [`Effect::Authenticate`].
    pub fn authenticated(&mut self, valid: bool) -> Option<Effect<V>> {
        if self.state != State::Waiting(Awaiting::Auth) {
            return None;
        }
        if valid {
            self.state = State::Waiting(Awaiting::Maildrop);
            return Some(Effect::OpenMaildrop);
        }
        self.auth_failures += 1;
        self.state = State::Authorization { user: None };
        if self.auth_failures >= POP3_AUTH_FAILURES_MAX {
            self.err("[AUTH] Too many failed logins; closing");
            self.state = State::Closed;
            return Some(Effect::Close);
        }
        self.err("[AUTH] Invalid login");
        None
    }

    /// The answer to [`Effect::Authenticate`] when logins from this client or for this
    /// account are throttled (RFC 2449 LOGIN-DELAY).
    pub fn login_throttled(&mut self, retry_minutes: u64) {
        if self.state == State::Waiting(Awaiting::Auth) {
            self.state = State::Authorization { user: None };
            self.err(&format!(
                "[LOGIN-DELAY] Too many failed logins from this address or for this account; try again in {retry_minutes} minutes"
            ));
        }
    }

    /// The answer to [`Effect::OpenMaildrop`].
    pub fn maildrop_opened(&mut self, result: Result<Maildrop<V>, MaildropError>) {
        if self.state != State::Waiting(Awaiting::Maildrop) {
            return;
        }
        match result {
            Ok(maildrop) => {
                let count = maildrop.entries.len();
                let bytes: u64 = maildrop.entries.iter().map(|e| e.size).sum();
                self.deleted = vec![false; count];
                self.maildrop = Some(maildrop);
                self.state = State::Transaction;
                self.ok(&format!("maildrop has {count} messages ({bytes} octets)"));
            }
            Err(MaildropError::InUse) => {
                self.state = State::Authorization { user: None };
                self.err("[IN-USE] Mailbox already in use by another session");
            }
            Err(MaildropError::Unavailable) => {
                self.state = State::Authorization { user: None };
                self.err("[SYS/TEMP] Mailbox unavailable; try again later");
            }
        }
    }

    pub(super) fn retrieve(&mut self, index: usize, top_lines: Option<u32>) -> Option<Effect<V>> {
        let message = self.maildrop.as_ref()?.entries[index].message;
        self.state = State::Waiting(Awaiting::Retrieve { index });
        Some(Effect::Retrieve { message, top_lines })
    }

    /// The answer to [`Effect::Retrieve`]: the stored message, or `None` if it could not
    /// be read.
    pub fn retrieved(&mut self, content: Option<Vec<u8>>, top_lines: Option<u32>) {
        let State::Waiting(Awaiting::Retrieve { index }) = self.state else {
            return;
        };
        self.state = State::Transaction;
        let Some(content) = content else {
            self.err("[SYS/TEMP] Message could not be read; try again later");
            return;
        };
        let size = content.len();
        self.ok(&format!("{size} octets"));
        write_dot_stuffed(&mut self.output, &content, top_lines);
        if top_lines.is_none() && self.maildrop.as_ref().is_some_and(|m| m.delete_on_retrieve) {
            self.deleted[index] = true;
        }
    }

    /// The answer to [`Effect::Update`]: true when the deletions are durable.
    pub fn updated(&mut self, committed: bool) -> Effect<V> {
        self.maildrop = None;
        self.state = State::Closed;
        if committed {
            self.ok("Bye");
        } else {
            self.err("[SYS/TEMP] Deletions could not be saved; messages are kept");
        }
        Effect::Close
    }

    /// The driver finished the TLS handshake.
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.line.clear();
        self.state = State::Authorization { user: None };
    }

    pub(super) fn deleted_uids(&self) -> Vec<V::Uid> {
        self.live_or_deleted(true).map(|(_, e)| e.uid).collect()
    }

    pub(super) fn live(&self) -> impl Iterator<Item = (usize, &MaildropEntry<V>)> {
        self.live_or_deleted(false)
    }

    fn live_or_deleted(&self, deleted: bool) -> impl Iterator<Item = (usize, &MaildropEntry<V>)> {
        self.maildrop
            .iter()
            .flat_map(|m| m.entries.iter().enumerate())
            .filter(move |(i, _)| self.deleted.get(*i).copied().unwrap_or(false) == deleted)
    }

    pub(super) fn ok(&mut self, text: &str) {
        if text.is_empty() {
            self.output.extend_from_slice(b"+OK\r\n");
        } else {
            let _ = write!(self.output, "+OK {text}\r\n");
        }
    }

    pub(super) fn err(&mut self, text: &str) {
        let _ = write!(self.output, "-ERR {text}\r\n");
    }

    pub(super) fn error(&mut self, text: &str) -> Option<Effect<V>> {
        self.err(text);
        self.errors += 1;
        if self.errors >= POP3_ERRORS_MAX {
            self.err("Too many errors; closing");
            self.state = State::Closed;
            return Some(Effect::Close);
        }
        None
    }
}

impl<V: Vocabulary> Machine for Pop3Server<V> {
    type Effect = Effect<V>;

    fn receive(&mut self, input: &[u8]) -> (usize, Option<Effect<V>>) {
        Pop3Server::receive(self, input)
    }

    fn take_output(&mut self) -> Vec<u8> {
        Pop3Server::take_output(self)
    }

    fn output_bytes(&self) -> usize {
        self.output.len()
    }

    fn is_closed(&self) -> bool {
        Pop3Server::is_closed(self)
    }

    /// A session counts as logged in once it holds its maildrop.
    fn logged_in(&self) -> bool {
        self.holds_maildrop()
    }

    /// POP3 receives no content: a shutdown never waits on the client.
    fn in_data(&self) -> bool {
        false
    }

    fn close_now(&mut self, closing: Closing) {
        self.shutdown(closing.text());
    }

    fn tls_started(&mut self) {
        Pop3Server::tls_started(self)
    }
}

/// Writes a multi-line response body (RFC 1939 §3): lines starting with "." get another
/// ".", the body ends with CRLF "." CRLF. With `top_lines`, only the headers, the blank
/// line and that many body lines are sent.
pub fn write_dot_stuffed(out: &mut Vec<u8>, content: &[u8], top_lines: Option<u32>) {
    out.reserve(content.len() + content.len() / 64 + 5);
    let mut in_body = false;
    let mut body_lines = 0u32;
    for line in content.split_inclusive(|&b| b == b'\n') {
        if in_body {
            if let Some(limit) = top_lines {
                if body_lines >= limit {
                    break;
                }
                body_lines += 1;
            }
        }
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        if !in_body && (line == b"\r\n" || line == b"\n") {
            in_body = true;
        }
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}
