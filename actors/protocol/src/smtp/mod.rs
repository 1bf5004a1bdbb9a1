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
//!
//! Addresses and accounts are the relay's own types, given through [`Vocabulary`]. Here:
//! the dialogue's states and commands; `data.rs`: DATA and BDAT content; `auth.rs`: AUTH;
//! `reply.rs`: replies and the error budget; `sender.rs`: the header rules (who a message
//! says it is from); `budget.rs`: the relay-wide budget of message bytes in memory.

mod auth;
mod budget;
mod data;
mod operator;
mod reply;
mod sender;

use std::io::Write as _;

use smtp_proto::request::receiver::{BdatReceiver, DataReceiver, DummyDataReceiver, RequestReceiver};
use smtp_proto::{Error as ParseError, Request};

use crate::content::EncryptedContent;
use crate::{Closing, Machine, Vocabulary};

pub use budget::{InFlight, Reservation};
pub use operator::{Door, OperatorVerdict};
pub use reply::{received_header, with_protocol};
pub use sender::{check_relayed_header, check_submitted_header, may_send_as, HeaderRefusal, CONTROL_HEADER_PREFIX};

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

/// The reply text when the relay-wide budget of message bytes in memory is used up.
const NO_ROOM: &str = "Insufficient system storage, try again later: the relay is receiving too many messages at once";

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
pub struct Authenticated<V: Vocabulary> {
    pub account: V::Account,
    pub address: V::Address,
}

/// Something the driver must do before the dialogue can go on.
#[derive(Debug, PartialEq)]
pub enum Effect<V: Vocabulary> {
    /// Check these credentials; answer with [`SmtpServer::authenticated`].
    Authenticate { username: String, password: String },
    /// Look up a recipient and judge the sender's limits with it added to the
    /// transaction's recipients (`accepted` so far); answer with
    /// [`SmtpServer::recipient_checked`]. `refused_before`: a sending limit already refused
    /// a recipient of this transaction (one transaction, one strike).
    CheckRecipient { address: V::Address, declared_bytes: Option<u64>, accepted: Vec<V::Address>, refused_before: bool },
    /// On the relay port: is the operator whose certificate this session presented bound to
    /// `sender`'s domain in the trust list? Answer with [`SmtpServer::operator_checked`].
    CheckOperator { sender: Option<V::Address> },
    /// Store the message durably; answer with [`SmtpServer::delivered`].
    Deliver(Delivery<V>),
    /// Write out the output, drop any input already buffered (RFC 3207 §6), start TLS,
    /// then call [`SmtpServer::tls_started`].
    StartTls,
    /// Write out the output and close the connection.
    Close,
    /// A message was refused for its content or its header (already answered): tell the
    /// counters, under [`SmtpServer::content_refusal`]. Needs no answer.
    ContentRefused,
}

/// A message that passed every check and now needs storing.
#[derive(Debug, PartialEq)]
pub struct Delivery<V: Vocabulary> {
    pub sender: V::Address,
    pub recipients: Vec<(V::Recipient, V::Address)>,
    /// The message exactly as received (dot-unstuffed), without a trace header.
    pub body: Vec<u8>,
    pub content: EncryptedContent,
    /// A peer's delivery status notification (null sender): addressed to no key, so its
    /// recipients' keys are not checked.
    pub report: bool,
    /// The body's bytes in the relay-wide budget: keep it until the message is committed.
    pub reservation: Reservation,
}

/// The answer to [`Effect::CheckRecipient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientVerdict<V: Vocabulary> {
    Accept(V::Recipient),
    Unknown,
    /// In another domain that this relay cannot deliver to (the reason says why: not in
    /// the trust list, or no relaying from this door).
    Unreachable(String),
    /// Reception is disabled; the reason is told to the sender.
    Disabled(ReceptionDisabled),
    OverQuota,
    /// The declared size is larger than the mailbox's whole quota (bytes): refused for good,
    /// and the mailbox is not full.
    LargerThanQuota(u64),
    /// The mailbox could not be checked now (store error, shutdown): try again later.
    TryLater,
    /// The sender is over a mass-mailing limit with this recipient (the reason says which).
    Throttled(String),
    /// The sender is blocked for mass mailing until an administrator unblocks it.
    Blocked(String),
    /// One recipient more than a message may have (the reason gives the limit).
    TooManyRecipients(String),
}

/// The answer to [`Effect::Deliver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryVerdict<V: Vocabulary> {
    /// On disk for every recipient; carries the message's queue id for the reply.
    Stored(String),
    QuotaExceeded(V::Address),
    /// Larger than the recipient's whole quota (bytes).
    LargerThanQuota(V::Address, u64),
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
        recipient: V::Address,
        why: String,
    },
}

/// Why a mailbox does not receive messages now. Its text is the sentence told to the
/// sender after "reception is disabled: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceptionDisabled {
    /// The account was closed (and its data awaits erasure).
    #[error("the account is closed")]
    Closed,
    /// Not collected for too long; `since` is the last collection (or the account's
    /// creation), as an HTTP date.
    #[error("the mailbox is inactive, not collected since {since}")]
    Inactive { since: String },
    /// Suspended by an administrator.
    #[error("the mailbox is suspended")]
    Suspended,
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
    /// Swallowing content that will be refused, then answering for `refusal`.
    Discard { receiver: DummyDataReceiver, last: bool, refusal: Refusal },
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
    Operator,
    Recipient,
    Delivery,
    Tls,
}

/// Why message content is being swallowed rather than kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Over the relay's message size limit (552 5.3.4).
    TooBig,
    /// The relay-wide budget of bytes in memory is used up (452 4.3.1).
    NoRoom,
}

struct Transaction<V: Vocabulary> {
    sender: V::Address,
    declared_bytes: Option<u64>,
    recipients: Vec<(V::Recipient, V::Address)>,
    pending_recipient: Option<V::Address>,
    body: Vec<u8>,
    /// The body's share of the relay-wide budget, grown as content arrives.
    reservation: Reservation,
    /// Set once content was refused; the message will be.
    refused: Option<Refusal>,
    /// BDAT was used: DATA is no longer allowed in this transaction (RFC 3030 §3).
    chunking: bool,
    /// A sending limit refused a recipient of this transaction.
    limited: bool,
    /// From the null sender on the relay port: a delivery status notification, checked as
    /// one ([`crate::content::check_delivery_report`]).
    report: bool,
}

/// The SMTP server side of one connection.
pub struct SmtpServer<V: Vocabulary> {
    config: SmtpConfig,
    tls: bool,
    greeted: bool,
    esmtp: bool,
    helo: String,
    door: Door,
    user: Option<Authenticated<V>>,
    /// On the relay port: a sender's domain was bound to this session's operator.
    operator_bound: bool,
    /// On the relay port: MAIL FROM's sender and declared size, while the trust list is asked.
    pending_sender: Option<(Option<V::Address>, usize)>,
    transaction: Option<Transaction<V>>,
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
    /// The relay-wide budget of message bytes in memory.
    in_flight: InFlight,
    /// Why the last message was refused for its content, for the counters.
    content_refusal: &'static str,
    output: Vec<u8>,
}

impl<V: Vocabulary> std::fmt::Debug for SmtpServer<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer")
            .field("mode", &self.mode)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .finish()
    }
}

impl<V: Vocabulary> SmtpServer<V> {
    /// A new session; `tls` is true for implicit TLS (port 465). Queues the greeting.
    pub fn new(config: SmtpConfig, tls: bool) -> Self {
        let mut server = SmtpServer {
            config,
            tls,
            greeted: false,
            esmtp: false,
            helo: String::new(),
            door: Door::Submission,
            user: None,
            operator_bound: false,
            pending_sender: None,
            transaction: None,
            mode: Mode::Command,
            requests: RequestReceiver::default(),
            command_line_bytes: 0,
            discarding_line: false,
            line: Vec::new(),
            errors: 0,
            auth_failures: 0,
            messages_accepted: 0,
            in_flight: InFlight::unlimited(),
            content_refusal: "not-encrypted",
            output: Vec::new(),
        };
        let greeting = format!("{} ESMTP Caducée secure health-messaging relay", server.config.hostname);
        server.reply(220, "", &greeting);
        server
    }

    /// Shares the relay-wide budget of message bytes in memory (unlimited otherwise).
    pub fn with_in_flight(mut self, in_flight: InFlight) -> Self {
        self.in_flight = in_flight;
        self
    }

    /// Takes the bytes to write to the client.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    pub fn user(&self) -> Option<&Authenticated<V>> {
        self.user.as_ref()
    }

    /// The name the client gave in EHLO/HELO (printable ASCII only).
    pub fn helo(&self) -> &str {
        &self.helo
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Why the last [`Effect::ContentRefused`] refused its message: `not-encrypted`,
    /// `forged-sender` or `control-header`.
    pub fn content_refusal(&self) -> &'static str {
        self.content_refusal
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
    pub fn shutdown(&mut self, why: &str) -> Effect<V> {
        self.reply(421, "4.3.2", why);
        self.mode = Mode::Closed;
        Effect::Close
    }

    /// Consumes input until it is used up or an effect is needed. Returns how many bytes
    /// were consumed; unconsumed bytes must be passed again after the effect is answered.
    pub fn receive(&mut self, input: &[u8]) -> (usize, Option<Effect<V>>) {
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

    fn step(&mut self, input: &[u8]) -> (usize, Option<Effect<V>>) {
        match self.mode {
            Mode::Closed | Mode::Waiting(_) => (0, None),
            Mode::Command => self.command_input(input),
            Mode::AuthLine(_) => self.auth_line(input),
            Mode::Data(_) => self.data_input(input),
            Mode::Bdat(_) => self.bdat_input(input),
            Mode::Discard { .. } => self.discard_input(input),
        }
    }

    /// Reads a command line. The line is bounded before the parser sees it: smtp-proto
    /// parses a complete line of any length when it arrives in one piece.
    fn command_input(&mut self, input: &[u8]) -> (usize, Option<Effect<V>>) {
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

    fn command(&mut self, request: Request<String>) -> Option<Effect<V>> {
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
            Request::Auth { .. } if self.door == Door::Relay => self.error_reply(
                503,
                "5.5.1",
                "No AUTH on the relay port: an operator is known by its TLS client certificate",
            ),
            Request::Auth { mechanism, initial_response } => self.auth(mechanism, initial_response),
            Request::Mail { from } if self.door == Door::Relay => self.operator_mail(&from),
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
            // Operators on the relay port are known by their certificate: no AUTH there.
            if self.user.is_none() && self.door == Door::Submission {
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

    fn starttls(&mut self) -> Option<Effect<V>> {
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

    fn mail(&mut self, from: smtp_proto::MailFrom<String>) -> Option<Effect<V>> {
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
        let Some(sender) = V::parse_address(&from.address) else {
            return self.error_reply(553, "5.1.7", "The sender address is not valid");
        };
        if sender != user.address {
            let own = user.address.to_string();
            return self.error_reply(553, "5.7.1", &format!("Sender must be your own account's address <{own}>"));
        }
        self.open_transaction(sender, from.size)
    }

    /// Starts a transaction for `sender`, its declared `size` (0: not declared) within the
    /// size limit and the relay-wide budget.
    fn open_transaction(&mut self, sender: V::Address, size: usize) -> Option<Effect<V>> {
        if size > self.config.message_bytes_max {
            let max = self.config.message_bytes_max;
            return self.error_reply(552, "5.3.4", &too_big(max));
        }
        let declared_bytes = (size > 0).then_some(size as u64);
        let Some(reservation) = self.in_flight.reserve(declared_bytes.unwrap_or(0)) else {
            self.reply(452, "4.3.1", NO_ROOM);
            return None;
        };
        self.transaction = Some(Transaction {
            sender,
            declared_bytes,
            recipients: Vec::new(),
            pending_recipient: None,
            body: Vec::new(),
            reservation,
            refused: None,
            chunking: false,
            limited: false,
            report: false,
        });
        self.reply(250, "2.1.0", "Sender OK");
        None
    }

    fn rcpt(&mut self, address: String) -> Option<Effect<V>> {
        let Some(tx) = &mut self.transaction else {
            return self.error_reply(503, "5.5.1", "Send MAIL first");
        };
        let Some(address) = V::parse_address(&address) else {
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
        let effect = Effect::CheckRecipient {
            address,
            declared_bytes: tx.declared_bytes,
            accepted: tx.recipients.iter().map(|(_, known)| known.clone()).collect(),
            refused_before: tx.limited,
        };
        self.await_effect(Awaiting::Recipient, effect)
    }

    /// The answer to [`Effect::CheckRecipient`].
    pub fn recipient_checked(&mut self, verdict: RecipientVerdict<V>) {
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
            RecipientVerdict::Unreachable(why) => self.reply(550, "5.1.2", &format!("<{address}>: {why}")),
            RecipientVerdict::Disabled(reason) => {
                self.reply(550, "5.2.1", &format!("<{address}>: reception is disabled: {reason}"))
            }
            RecipientVerdict::OverQuota => self.reply(552, "5.2.2", &format!("<{address}>: mailbox full")),
            RecipientVerdict::LargerThanQuota(quota) => self.reply(552, "5.3.4", &larger_than_quota(&address, quota)),
            RecipientVerdict::TryLater => {
                self.reply(451, "4.3.0", &format!("<{address}>: mailbox temporarily unavailable; try again later"))
            }
            RecipientVerdict::Throttled(why) => {
                tx.limited = true;
                self.reply(451, "4.7.1", &format!("<{address}>: sending limit reached: {why}"));
            }
            RecipientVerdict::TooManyRecipients(why) => {
                self.reply(452, "4.5.3", &format!("<{address}>: {why}; send to the others in another message"))
            }
            RecipientVerdict::Blocked(why) => {
                tx.limited = true;
                self.reply(
                    554,
                    "5.7.1",
                    &format!("This account is blocked for mass mailing ({why}); contact the relay's administrator"),
                );
            }
        }
    }

    fn await_effect(&mut self, awaiting: Awaiting, effect: Effect<V>) -> Option<Effect<V>> {
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
}

impl<V: Vocabulary> Machine for SmtpServer<V> {
    type Effect = Effect<V>;

    fn receive(&mut self, input: &[u8]) -> (usize, Option<Effect<V>>) {
        SmtpServer::receive(self, input)
    }

    fn take_output(&mut self) -> Vec<u8> {
        SmtpServer::take_output(self)
    }

    fn output_bytes(&self) -> usize {
        self.output.len()
    }

    fn is_closed(&self) -> bool {
        SmtpServer::is_closed(self)
    }

    fn logged_in(&self) -> bool {
        self.user.is_some() || self.operator_bound
    }

    fn in_data(&self) -> bool {
        SmtpServer::in_data(self)
    }

    fn close_now(&mut self, closing: Closing) {
        // 4.3.2: the system is not accepting messages; 4.4.2: the connection went quiet;
        // 4.7.0: a security rule (the pre-login limits) ended it.
        let status = match closing {
            Closing::Shutdown => "4.3.2",
            Closing::Idle => "4.4.2",
            Closing::LoginTimeout | Closing::CommandBudget => "4.7.0",
        };
        self.reply(421, status, closing.text());
        self.mode = Mode::Closed;
    }

    fn tls_started(&mut self) {
        SmtpServer::tls_started(self)
    }
}

/// Why a message larger than a mailbox's whole quota is refused, in the numbers a practice
/// acts on (decimal megabytes, as quotas are given).
/// The size limit as a practice can act on it: the message, and the document it carries.
/// An encrypted document travels in base64 with line breaks (4 bytes for 3, and a little
/// more): a document can be about 73 % of the limit.
fn too_big(max: usize) -> String {
    let megabytes = |bytes: usize| {
        let mb = bytes as f64 / 1_000_000.0;
        if mb >= 10.0 {
            format!("{mb:.0} MB")
        } else {
            format!("{mb:.1} MB")
        }
    };
    format!(
        "Message too big: this relay accepts messages of at most {} ({max} bytes), about {} of document once \
         encrypted; send larger documents in parts",
        megabytes(max),
        megabytes(max * 73 / 100)
    )
}

fn larger_than_quota(address: &impl std::fmt::Display, quota: u64) -> String {
    format!(
        "<{address}>: the message is larger than this mailbox's whole quota ({} MB); send the document in parts \
         or ask the recipient to have the quota raised",
        quota / 1_000_000
    )
}
