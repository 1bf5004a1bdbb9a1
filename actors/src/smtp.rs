//! SMTP submission (RFC 5321, 6409, 3207, 4954, 3030) as a sans-I/O state machine.
//!
//! Bytes go in through [`SmtpServer::receive`]; replies accumulate in an output buffer the
//! driver writes out. Whenever the dialogue needs something from outside — checking a
//! password, looking up a recipient, storing a message, starting TLS — the machine stops
//! and returns an [`Effect`]; the driver performs it and hands the answer back. No sockets,
//! no clock, no store here: the whole dialogue is testable byte by byte.
//!
//! Command parsing is smtp-proto's; DATA end detection is its strict `CRLF.CRLF` receiver,
//! and bare CR or LF in a body are rewritten as CRLF before storing (SMTP smuggling
//! defence: what ends a line for any later reader is dot-stuffed on the way out).

use std::io::Write as _;

use base64::Engine as _;
use caducee_storage::{AccountId, Address};
use smtp_proto::request::receiver::{BdatReceiver, DataReceiver, DummyDataReceiver, RequestReceiver};
use smtp_proto::{Error as ParseError, Request, AUTH_LOGIN, AUTH_PLAIN};

use crate::content::{check_encrypted_message, EncryptedContent};

/// RFC 5321 4.5.3.1.8: servers must accept at least 100 recipients.
pub const SMTP_RECIPIENTS_MAX: usize = 100;
/// RFC 4954 4: an AUTH continuation line may be up to 12288 octets.
pub const SMTP_AUTH_LINE_BYTES_MAX: usize = 12_288;
/// Protocol errors tolerated in one session before it is closed.
pub const SMTP_ERRORS_MAX: u32 = 10;
/// Failed logins tolerated in one session before it is closed.
pub const SMTP_AUTH_FAILURES_MAX: u32 = 3;
/// Longest command line. RFC 5321 4.5.3.1.4 sets 512 octets and lets extensions add to
/// it; RFC 4954 §4 raises it to 12288 octets for AUTH with an initial response.
pub const SMTP_COMMAND_LINE_BYTES_MAX: usize = 12_288;

/// What the relay tells every session.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// The name in the greeting and EHLO reply.
    pub hostname: String,
    /// Largest message accepted, in bytes (announced with SIZE).
    pub message_bytes_max: usize,
}

/// A logged-in account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub account: AccountId,
    pub address: Address,
}

/// Something the driver must do before the dialogue can go on.
#[derive(Debug, PartialEq)]
pub enum Effect {
    /// Check these credentials; answer with [`SmtpServer::authenticated`].
    Authenticate { username: String, password: String },
    /// Look up a recipient; answer with [`SmtpServer::recipient_checked`].
    CheckRecipient { address: Address, declared_bytes: Option<u64> },
    /// Store the message durably; answer with [`SmtpServer::delivered`].
    Deliver(Delivery),
    /// Write out the output, drop any input already buffered (RFC 3207 §6), start TLS,
    /// then call [`SmtpServer::tls_started`].
    StartTls,
    /// Write out the output and close the connection.
    Close,
    /// A message was refused for its content (already answered): tell the counters. Needs
    /// no answer.
    ContentRefused,
}

/// A message that passed every check and now needs storing.
#[derive(Debug, PartialEq)]
pub struct Delivery {
    pub sender: Address,
    pub recipients: Vec<(AccountId, Address)>,
    /// The message exactly as received (dot-unstuffed), without a trace header.
    pub body: Vec<u8>,
    pub content: EncryptedContent,
}

/// The answer to [`Effect::CheckRecipient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientVerdict {
    Accept(AccountId),
    Unknown,
    /// Reception is disabled (inactivity, suspension); the reason is told to the sender.
    Disabled(String),
    OverQuota,
    /// The mailbox could not be checked now (store error, shutdown): try again later.
    TryLater,
}

/// The answer to [`Effect::Deliver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryVerdict {
    /// On disk for every recipient; carries the message's queue id for the reply.
    Stored(String),
    QuotaExceeded(Address),
    /// No room left on disk.
    StoreFull,
    /// Anything else: the sender should retry later.
    Failed,
    /// Over a mass-mailing limit: try again later (the reason says which limit).
    Throttled(String),
    /// The account is blocked for mass mailing until an administrator unblocks it.
    Blocked(String),
    /// A recipient has a current certificate and the message is not encrypted to it.
    WrongKey {
        recipient: Address,
        why: String,
    },
}

/// The session's place in RFC 5321's dialogue.
enum Mode {
    /// Reading commands.
    Command,
    /// Reading an AUTH continuation line.
    AuthLine(AuthStep),
    /// Reading message content after DATA.
    Data(DataReceiver),
    /// Reading one BDAT chunk.
    Bdat(BdatReceiver),
    /// Swallowing content that will be refused (too large), then answering `refusal`.
    Discard { receiver: DummyDataReceiver, last: bool },
    /// Waiting for the driver's answer to an effect.
    Waiting(Awaiting),
    /// QUIT or a fatal error: nothing more is read.
    Closed,
}

impl std::fmt::Debug for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Command => "Command",
            Mode::AuthLine(_) => "AuthLine",
            Mode::Data(_) => "Data",
            Mode::Bdat(_) => "Bdat",
            Mode::Discard { .. } => "Discard",
            Mode::Waiting(_) => "Waiting",
            Mode::Closed => "Closed",
        })
    }
}

#[derive(Debug, Clone)]
enum AuthStep {
    PlainResponse,
    LoginUsername,
    LoginPassword { username: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    Auth,
    Recipient,
    Delivery,
    Tls,
}

#[derive(Debug)]
struct Transaction {
    sender: Address,
    declared_bytes: Option<u64>,
    recipients: Vec<(AccountId, Address)>,
    pending_recipient: Option<Address>,
    body: Vec<u8>,
    /// Set once content exceeded the size limit; the message will be refused.
    oversized: bool,
    /// BDAT was used: DATA is no longer allowed in this transaction (RFC 3030 §3).
    chunking: bool,
}

/// The SMTP server side of one connection.
pub struct SmtpServer {
    config: SmtpConfig,
    tls: bool,
    greeted: bool,
    esmtp: bool,
    helo: String,
    user: Option<Authenticated>,
    transaction: Option<Transaction>,
    mode: Mode,
    requests: RequestReceiver,
    /// Bytes of the command line being received so far, to bound it.
    command_line_bytes: usize,
    /// Skipping the rest of an over-long command line.
    discarding_line: bool,
    line: Vec<u8>,
    errors: u32,
    auth_failures: u32,
    messages_accepted: u32,
    output: Vec<u8>,
}

impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer")
            .field("mode", &self.mode)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .finish()
    }
}

impl SmtpServer {
    /// A new session; `tls` is true for implicit TLS (port 465). Queues the greeting.
    pub fn new(config: SmtpConfig, tls: bool) -> Self {
        let mut server = SmtpServer {
            config,
            tls,
            greeted: false,
            esmtp: false,
            helo: String::new(),
            user: None,
            transaction: None,
            mode: Mode::Command,
            requests: RequestReceiver::default(),
            command_line_bytes: 0,
            discarding_line: false,
            line: Vec::new(),
            errors: 0,
            auth_failures: 0,
            messages_accepted: 0,
            output: Vec::new(),
        };
        let greeting = format!("{} ESMTP Caducée secure health-messaging relay", server.config.hostname);
        server.reply(220, "", &greeting);
        server
    }

    /// Takes the bytes to write to the client.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    pub fn user(&self) -> Option<&Authenticated> {
        self.user.as_ref()
    }

    /// The name the client gave in EHLO/HELO (printable ASCII only).
    pub fn helo(&self) -> &str {
        &self.helo
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }

    pub fn messages_accepted(&self) -> u32 {
        self.messages_accepted
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.mode, Mode::Closed)
    }

    /// True while the client is sending message content (for the driver's timeouts).
    pub fn in_data(&self) -> bool {
        matches!(self.mode, Mode::Data(_) | Mode::Bdat(_) | Mode::Discard { .. })
    }

    /// Queues `421` and closes: for idle timeouts and shutdown.
    pub fn shutdown(&mut self, why: &str) -> Effect {
        self.reply(421, "4.3.2", why);
        self.mode = Mode::Closed;
        Effect::Close
    }

    /// Consumes input until it is used up or an effect is needed. Returns how many bytes
    /// were consumed; unconsumed bytes must be passed again after the effect is answered.
    pub fn receive(&mut self, input: &[u8]) -> (usize, Option<Effect>) {
        let mut rest = input;
        while !rest.is_empty() {
            let (used, effect) = self.step(rest);
            rest = &rest[used..];
            if effect.is_some() {
                return (input.len() - rest.len(), effect);
            }
            if used == 0 {
                break;
            }
        }
        (input.len() - rest.len(), None)
    }

    fn step(&mut self, input: &[u8]) -> (usize, Option<Effect>) {
        match &mut self.mode {
            Mode::Closed | Mode::Waiting(_) => (0, None),
            Mode::Command => {
                // Bound the line before the parser sees it: smtp-proto parses a complete
                // line of any length when it arrives in one piece.
                let newline = input.iter().position(|&b| b == b'\n');
                let line_part = newline.map_or(input.len(), |pos| pos + 1);
                if self.discarding_line || self.command_line_bytes + line_part > SMTP_COMMAND_LINE_BYTES_MAX {
                    self.requests = RequestReceiver::default();
                    self.command_line_bytes = 0;
                    self.discarding_line = newline.is_none();
                    if newline.is_some() {
                        return (line_part, self.error_reply(500, "5.5.2", "Line too long"));
                    }
                    return (line_part, None);
                }
                let mut bytes = input.iter();
                let parsed = self.requests.ingest(&mut bytes).map(Request::into_owned);
                let used = input.len() - bytes.as_slice().len();
                self.command_line_bytes =
                    if newline.is_some_and(|pos| pos < used) { 0 } else { self.command_line_bytes + used };
                let effect = match parsed {
                    Ok(request) => self.command(request),
                    Err(ParseError::NeedsMoreData { .. }) => None,
                    Err(error) => self.parse_error(error),
                };
                (used, effect)
            }
            Mode::AuthLine(_) => self.auth_line(input),
            Mode::Data(receiver) => {
                let mut bytes = input.iter();
                let tx = self.transaction.as_mut();
                let Some(tx) = tx else {
                    return (input.len(), None);
                };
                let done = receiver.ingest(&mut bytes, &mut tx.body);
                let used = input.len() - bytes.as_slice().len();
                if done {
                    self.mode = Mode::Command;
                    return (used, self.end_of_message());
                }
                if tx.body.len() > self.config.message_bytes_max {
                    tx.oversized = true;
                    tx.body = Vec::new();
                    let receiver = DummyDataReceiver::new_data(receiver);
                    self.mode = Mode::Discard { receiver, last: true };
                }
                (used, None)
            }
            Mode::Bdat(receiver) => {
                let mut bytes = input.iter();
                let Some(tx) = self.transaction.as_mut() else {
                    return (input.len(), None);
                };
                let done = receiver.ingest(&mut bytes, &mut tx.body);
                let used = input.len() - bytes.as_slice().len();
                if done {
                    let last = receiver.is_last;
                    self.mode = Mode::Command;
                    if last {
                        return (used, self.end_of_message());
                    }
                    let size = tx.body.len();
                    self.reply(250, "2.0.0", &format!("{size} octets received"));
                }
                (used, None)
            }
            Mode::Discard { receiver, last } => {
                let mut bytes = input.iter();
                let done = receiver.ingest(&mut bytes);
                let used = input.len() - bytes.as_slice().len();
                if done {
                    let last = *last;
                    self.mode = Mode::Command;
                    if last {
                        self.transaction = None;
                        let max = self.config.message_bytes_max;
                        self.reply(552, "5.3.4", &format!("Message too big: this relay accepts at most {max} bytes"));
                    } else {
                        self.reply(250, "2.0.0", "Chunk discarded: the message is already too big");
                    }
                }
                (used, None)
            }
        }
    }

    fn parse_error(&mut self, error: ParseError) -> Option<Effect> {
        match error {
            ParseError::ResponseTooLong => self.error_reply(500, "5.5.2", "Line too long"),
            ParseError::UnknownCommand => self.error_reply(500, "5.5.1", "Command not recognized"),
            ParseError::InvalidSenderAddress => self.error_reply(501, "5.1.7", "Bad sender address syntax"),
            ParseError::InvalidRecipientAddress => self.error_reply(501, "5.1.3", "Bad recipient address syntax"),
            ParseError::SyntaxError { syntax } => self.error_reply(501, "5.5.4", &format!("Syntax: {syntax}")),
            ParseError::InvalidParameter { param } => {
                self.error_reply(501, "5.5.4", &format!("Invalid parameter {param}"))
            }
            ParseError::UnsupportedParameter { param } => {
                self.error_reply(555, "5.5.4", &format!("Unsupported parameter {param}"))
            }
            ParseError::NeedsMoreData { .. } | ParseError::InvalidResponse { .. } => {
                self.error_reply(500, "5.5.2", "Syntax error")
            }
        }
    }

    fn command(&mut self, request: Request<String>) -> Option<Effect> {
        match request {
            Request::Ehlo { host } => {
                self.greet(host, true);
                None
            }
            Request::Helo { host } => {
                self.greet(host, false);
                None
            }
            Request::Lhlo { .. } => self.error_reply(500, "5.5.1", "LHLO is for LMTP"),
            Request::StartTls => self.starttls(),
            Request::Auth { mechanism, initial_response } => self.auth(mechanism, initial_response),
            Request::Mail { from } => self.mail(from),
            Request::Rcpt { to } => self.rcpt(to.address),
            Request::Data => self.data(),
            Request::Bdat { chunk_size, is_last } => self.bdat(chunk_size, is_last),
            Request::Rset => {
                self.transaction = None;
                self.reply(250, "2.0.0", "Reset");
                None
            }
            Request::Noop { .. } => {
                self.reply(250, "2.0.0", "OK");
                None
            }
            Request::Quit => {
                self.reply(221, "2.0.0", "Bye");
                self.mode = Mode::Closed;
                Some(Effect::Close)
            }
            Request::Vrfy { .. } => {
                self.reply(252, "2.5.0", "Cannot verify users; the directory lists them");
                None
            }
            Request::Expn { .. }
            | Request::Help { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => self.error_reply(502, "5.5.1", "Command not implemented"),
        }
    }

    fn greet(&mut self, host: String, esmtp: bool) {
        self.transaction = None;
        self.greeted = true;
        self.esmtp = esmtp;
        self.helo = host.chars().filter(|c| c.is_ascii_graphic()).take(255).collect();
        if !esmtp {
            let text = format!("{} greets {host}", self.config.hostname);
            self.reply(250, "", &text);
            return;
        }
        let mut lines = vec![format!("{} greets {host}", self.config.hostname)];
        lines.push("PIPELINING".into());
        lines.push(format!("SIZE {}", self.config.message_bytes_max));
        lines.push("8BITMIME".into());
        lines.push("ENHANCEDSTATUSCODES".into());
        lines.push("SMTPUTF8".into());
        lines.push("CHUNKING".into());
        if self.tls {
            // RFC 4954 §4 and SPEC R-MSG-1: credentials only ever cross an encrypted channel.
            if self.user.is_none() {
                lines.push("AUTH PLAIN LOGIN".into());
            }
        } else {
            lines.push("STARTTLS".into());
        }
        let last = lines.len() - 1;
        for (i, line) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            let _ = write!(self.output, "250{sep}{line}\r\n");
        }
    }

    fn starttls(&mut self) -> Option<Effect> {
        if self.tls {
            return self.error_reply(503, "5.5.1", "TLS already active");
        }
        self.reply(220, "2.0.0", "Ready to start TLS");
        self.mode = Mode::Waiting(Awaiting::Tls);
        Some(Effect::StartTls)
    }

    /// The driver finished the TLS handshake: RFC 3207 §4.2 says forget everything.
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.greeted = false;
        self.esmtp = false;
        self.transaction = None;
        self.requests = RequestReceiver::default();
        self.mode = Mode::Command;
    }

    fn auth(&mut self, mechanism: u64, initial: String) -> Option<Effect> {
        if !self.esmtp {
            return self.error_reply(503, "5.5.1", "Send EHLO first");
        }
        if !self.tls {
            return self.error_reply(538, "5.7.11", "Encryption required: use STARTTLS before AUTH");
        }
        if self.user.is_some() {
            return self.error_reply(503, "5.5.1", "Already authenticated");
        }
        if self.transaction.is_some() {
            return self.error_reply(503, "5.5.1", "AUTH is not allowed during a mail transaction");
        }
        match mechanism {
            AUTH_PLAIN if initial.is_empty() => {
                self.reply(334, "", "");
                self.mode = Mode::AuthLine(AuthStep::PlainResponse);
                None
            }
            AUTH_PLAIN => self.plain_response(&initial),
            AUTH_LOGIN if initial.is_empty() => {
                self.reply(334, "", "VXNlcm5hbWU6"); // "Username:"
                self.mode = Mode::AuthLine(AuthStep::LoginUsername);
                None
            }
            AUTH_LOGIN => {
                let Some(username) = decode_base64_text(&initial) else {
                    return self.error_reply(501, "5.5.2", "Invalid base64");
                };
                self.reply(334, "", "UGFzc3dvcmQ6"); // "Password:"
                self.mode = Mode::AuthLine(AuthStep::LoginPassword { username });
                None
            }
            _ => self.error_reply(504, "5.5.4", "Unsupported authentication mechanism; use PLAIN or LOGIN"),
        }
    }

    fn auth_line(&mut self, input: &[u8]) -> (usize, Option<Effect>) {
        let newline = input.iter().position(|&b| b == b'\n');
        let take = newline.map_or(input.len(), |pos| pos + 1);
        if self.line.len() + take > SMTP_AUTH_LINE_BYTES_MAX {
            self.line.clear();
            self.mode = Mode::Command;
            return (take, self.error_reply(500, "5.5.6", "Authentication line too long"));
        }
        self.line.extend_from_slice(&input[..take]);
        if newline.is_none() {
            return (take, None);
        }
        let line = String::from_utf8_lossy(&std::mem::take(&mut self.line)).trim_end().to_owned();
        let Mode::AuthLine(step) = std::mem::replace(&mut self.mode, Mode::Command) else {
            return (take, None);
        };
        if line == "*" {
            return (take, self.error_reply(501, "5.7.0", "Authentication cancelled"));
        }
        let effect = match step {
            AuthStep::PlainResponse => self.plain_response(&line),
            AuthStep::LoginUsername => match decode_base64_text(&line) {
                Some(username) => {
                    self.reply(334, "", "UGFzc3dvcmQ6");
                    self.mode = Mode::AuthLine(AuthStep::LoginPassword { username });
                    None
                }
                None => self.error_reply(501, "5.5.2", "Invalid base64"),
            },
            AuthStep::LoginPassword { username } => match decode_base64_text(&line) {
                Some(password) => self.await_effect(Awaiting::Auth, Effect::Authenticate { username, password }),
                None => self.error_reply(501, "5.5.2", "Invalid base64"),
            },
        };
        (take, effect)
    }

    fn plain_response(&mut self, response: &str) -> Option<Effect> {
        // RFC 4616: authzid NUL authcid NUL passwd
        let decoded = if response == "=" { Some(String::new()) } else { decode_base64_text(response) };
        let Some(decoded) = decoded else {
            return self.error_reply(501, "5.5.2", "Invalid base64");
        };
        let mut fields = decoded.split('\0');
        let (Some(authzid), Some(username), Some(password), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return self.error_reply(501, "5.5.2", "Malformed PLAIN response");
        };
        if !authzid.is_empty() && authzid != username {
            return self.error_reply(535, "5.7.8", "Authorization identity must be empty or your own");
        }
        self.await_effect(
            Awaiting::Auth,
            Effect::Authenticate { username: username.to_owned(), password: password.to_owned() },
        )
    }

    /// The answer to [`Effect::Authenticate`]: the account, or `None` for bad credentials.
    /// `throttled` is true when the driver refuses to even check (too many failures).
    pub fn authenticated(&mut self, result: Option<Authenticated>) {
        if !self.resume(Awaiting::Auth) {
            return;
        }
        match result {
            Some(user) => {
                self.user = Some(user);
                self.reply(235, "2.7.0", "Authentication successful");
            }
            None => {
                self.auth_failures += 1;
                if self.auth_failures >= SMTP_AUTH_FAILURES_MAX {
                    self.reply(421, "4.7.0", "Too many failed logins; closing");
                    self.mode = Mode::Closed;
                } else {
                    self.reply(535, "5.7.8", "Authentication credentials invalid");
                }
            }
        }
    }

    /// The answer to [`Effect::Authenticate`] when logins from this client or for this
    /// account are throttled: refused for now, without counting as this session's failure.
    pub fn login_throttled(&mut self) {
        if self.resume(Awaiting::Auth) {
            self.reply(454, "4.7.0", "Too many failed logins from this address or for this account; try again later");
        }
    }

    fn mail(&mut self, from: smtp_proto::MailFrom<String>) -> Option<Effect> {
        if !self.greeted {
            return self.error_reply(503, "5.5.1", "Send EHLO first");
        }
        let Some(user) = &self.user else {
            let why = if self.tls { "Authentication required" } else { "Use STARTTLS, then AUTH, before sending" };
            return self.error_reply(530, "5.7.0", why);
        };
        if self.transaction.is_some() {
            return self.error_reply(503, "5.5.1", "Nested MAIL command");
        }
        let Ok(sender) = Address::parse(&from.address) else {
            return self.error_reply(553, "5.1.7", "The sender address is not valid");
        };
        if sender != user.address {
            let own = user.address.to_string();
            return self.error_reply(553, "5.7.1", &format!("Sender must be your own account's address <{own}>"));
        }
        if from.size > self.config.message_bytes_max {
            let max = self.config.message_bytes_max;
            return self.error_reply(552, "5.3.4", &format!("Message too big: this relay accepts at most {max} bytes"));
        }
        let declared_bytes = (from.size > 0).then_some(from.size as u64);
        self.transaction = Some(Transaction {
            sender,
            declared_bytes,
            recipients: Vec::new(),
            pending_recipient: None,
            body: Vec::new(),
            oversized: false,
            chunking: false,
        });
        self.reply(250, "2.1.0", "Sender OK");
        None
    }

    fn rcpt(&mut self, address: String) -> Option<Effect> {
        let Some(tx) = &mut self.transaction else {
            return self.error_reply(503, "5.5.1", "Send MAIL first");
        };
        let Ok(address) = Address::parse(&address) else {
            return self.error_reply(501, "5.1.3", "Bad recipient address syntax");
        };
        if tx.recipients.iter().any(|(_, known)| *known == address) {
            self.reply(250, "2.1.5", "Recipient OK");
            return None;
        }
        if tx.recipients.len() >= SMTP_RECIPIENTS_MAX {
            self.reply(452, "4.5.3", "Too many recipients");
            return None;
        }
        tx.pending_recipient = Some(address.clone());
        let declared_bytes = tx.declared_bytes;
        self.await_effect(Awaiting::Recipient, Effect::CheckRecipient { address, declared_bytes })
    }

    /// The answer to [`Effect::CheckRecipient`].
    pub fn recipient_checked(&mut self, verdict: RecipientVerdict) {
        if !self.resume(Awaiting::Recipient) {
            return;
        }
        let Some(tx) = &mut self.transaction else {
            return;
        };
        let Some(address) = tx.pending_recipient.take() else {
            return;
        };
        match verdict {
            RecipientVerdict::Accept(account) => {
                tx.recipients.push((account, address));
                self.reply(250, "2.1.5", "Recipient OK");
            }
            RecipientVerdict::Unknown => {
                self.reply(550, "5.1.1", &format!("<{address}>: no such mailbox on this relay"))
            }
            RecipientVerdict::Disabled(reason) => {
                self.reply(550, "5.2.1", &format!("<{address}>: reception is disabled: {reason}"))
            }
            RecipientVerdict::OverQuota => self.reply(552, "5.2.2", &format!("<{address}>: mailbox full")),
            RecipientVerdict::TryLater => {
                self.reply(451, "4.3.0", &format!("<{address}>: mailbox temporarily unavailable; try again later"))
            }
        }
    }

    fn data(&mut self) -> Option<Effect> {
        let Some(tx) = &mut self.transaction else {
            return self.error_reply(503, "5.5.1", "Send MAIL first");
        };
        if tx.chunking {
            return self.error_reply(503, "5.5.1", "DATA cannot follow BDAT");
        }
        if tx.recipients.is_empty() {
            return self.error_reply(554, "5.5.1", "No valid recipients");
        }
        self.reply(354, "", "End data with <CR><LF>.<CR><LF>");
        self.mode = Mode::Data(DataReceiver::new());
        None
    }

    fn bdat(&mut self, chunk_size: usize, last: bool) -> Option<Effect> {
        let max = self.config.message_bytes_max;
        let Some(tx) = &mut self.transaction else {
            // The chunk still follows on the wire: swallow it before answering.
            self.mode = Mode::Discard { receiver: DummyDataReceiver::new_bdat(chunk_size), last: false };
            return self.error_reply(503, "5.5.1", "Send MAIL first");
        };
        tx.chunking = true;
        if tx.oversized || tx.body.len().saturating_add(chunk_size) > max {
            tx.oversized = true;
            tx.body = Vec::new();
            self.mode = Mode::Discard { receiver: DummyDataReceiver::new_bdat(chunk_size), last };
            return None;
        }
        if tx.recipients.is_empty() {
            self.transaction = None;
            self.mode = Mode::Discard { receiver: DummyDataReceiver::new_bdat(chunk_size), last: false };
            return self.error_reply(554, "5.5.1", "No valid recipients");
        }
        self.mode = Mode::Bdat(BdatReceiver::new(chunk_size, last));
        if chunk_size == 0 {
            return self.step(&[]).1;
        }
        None
    }

    fn end_of_message(&mut self) -> Option<Effect> {
        let tx = self.transaction.take()?;
        // The last input chunk may carry both the excess and the end of data.
        if tx.oversized || tx.body.len() > self.config.message_bytes_max {
            let max = self.config.message_bytes_max;
            self.reply(552, "5.3.4", &format!("Message too big: this relay accepts at most {max} bytes"));
            return None;
        }
        let mut tx = tx;
        if has_bare_line_ending(&tx.body) {
            // A bare LF or CR never ends the data here (only CRLF.CRLF does), but a reader
            // further on might take it for a line end: store canonical CRLF lines, so the
            // POP3 side dot-stuffs every line a reader could see.
            tx.body = canonical_line_endings(&tx.body);
        }
        match check_encrypted_message(&tx.body) {
            Ok(content) => {
                let delivery = Delivery { sender: tx.sender, recipients: tx.recipients, body: tx.body, content };
                self.await_effect(Awaiting::Delivery, Effect::Deliver(delivery))
            }
            Err(why) => {
                self.reply(
                    554,
                    "5.7.1",
                    &format!(
                        "Message refused: {why}. This relay carries only OpenPGP-encrypted messages \
                         (PGP/MIME or inline OpenPGP); encrypt the document to its recipients first"
                    ),
                );
                Some(Effect::ContentRefused)
            }
        }
    }

    /// The answer to [`Effect::Deliver`].
    pub fn delivered(&mut self, verdict: DeliveryVerdict) {
        if !self.resume(Awaiting::Delivery) {
            return;
        }
        match verdict {
            DeliveryVerdict::Stored(id) => {
                self.messages_accepted += 1;
                self.reply(250, "2.0.0", &format!("Message accepted and stored as {id}"));
            }
            DeliveryVerdict::QuotaExceeded(address) => self.reply(552, "5.2.2", &format!("<{address}>: mailbox full")),
            DeliveryVerdict::StoreFull => self.reply(452, "4.3.1", "Insufficient system storage; try again later"),
            DeliveryVerdict::Failed => self.reply(451, "4.3.0", "Local error while storing; try again later"),
            DeliveryVerdict::Throttled(why) => {
                self.reply(451, "4.7.1", &format!("Sending limit reached: {why}; try again later"))
            }
            DeliveryVerdict::WrongKey { recipient, why } => self.reply(
                554,
                "5.7.1",
                &format!(
                    "<{recipient}>: message refused: {why}. Fetch the recipient's current certificate \
                     (HKP or WKD on this relay) and encrypt the document again"
                ),
            ),
            DeliveryVerdict::Blocked(why) => self.reply(
                554,
                "5.7.1",
                &format!("This account is blocked for mass mailing ({why}); contact the relay's administrator"),
            ),
        }
    }

    fn await_effect(&mut self, awaiting: Awaiting, effect: Effect) -> Option<Effect> {
        self.mode = Mode::Waiting(awaiting);
        Some(effect)
    }

    fn resume(&mut self, expected: Awaiting) -> bool {
        if matches!(self.mode, Mode::Waiting(awaiting) if awaiting == expected) {
            self.mode = Mode::Command;
            true
        } else {
            false
        }
    }

    fn reply(&mut self, code: u16, enhanced: &str, text: &str) {
        let _ = match (enhanced.is_empty(), text.is_empty()) {
            (true, true) => write!(self.output, "{code} \r\n"),
            (true, false) => write!(self.output, "{code} {text}\r\n"),
            _ => write!(self.output, "{code} {enhanced} {text}\r\n"),
        };
    }

    fn error_reply(&mut self, code: u16, enhanced: &str, text: &str) -> Option<Effect> {
        self.reply(code, enhanced, text);
        self.errors += 1;
        if self.errors >= SMTP_ERRORS_MAX {
            self.reply(421, "4.7.0", "Too many errors; closing");
            self.mode = Mode::Closed;
            return Some(Effect::Close);
        }
        None
    }
}

fn decode_base64_text(text: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

/// True when a CR is not followed by LF, or an LF not preceded by CR.
fn has_bare_line_ending(body: &[u8]) -> bool {
    body.iter().enumerate().any(|(i, &b)| match b {
        b'\n' => i == 0 || body[i - 1] != b'\r',
        b'\r' => body.get(i + 1) != Some(&b'\n'),
        _ => false,
    })
}

/// Rewrites every bare CR or LF as CRLF.
fn canonical_line_endings(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 32);
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\r' if body.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            byte => out.push(byte),
        }
        i += 1;
    }
    out
}

/// The Received trace field added in front of every stored message (RFC 5321 4.4).
pub fn received_header(peer: &str, helo: &str, hostname: &str, tls: bool, id: &str, date_rfc2822: &str) -> String {
    let with = if tls { "ESMTPSA" } else { "ESMTPA" };
    format!("Received: from {helo} ([{peer}])\r\n\tby {hostname} with {with} id {id};\r\n\t{date_rfc2822}\r\n")
}
