//! Caducée's protocol machines: sans-I/O state machines that take bytes and return replies
//! and effects. This crate depends on no runtime, TLS or store crate, so Cargo itself
//! guarantees that a machine never touches a socket, a clock or the disk.
//!
//! - [`smtp`]: SMTP submission (RFC 5321, 6409, 3207, 4954, 3030).
//! - [`pop3`]: POP3 collection (RFC 1939, 2449, 2595, 5034).
//! - [`imap`]: IMAP collection (RFC 3501 with IDLE, UIDPLUS, LITERAL+, SASL-IR, ID,
//!   NAMESPACE, ENABLE, QUOTA, CHILDREN, UNSELECT).
//! - [`content`]: the encrypted-content policy, a pure function over message bytes.
//!
//! Every machine implements [`Machine`], the face the session driver of `caducee-actors`
//! sees; the words a machine shares with the store (addresses, accounts, stored messages)
//! come in through [`Vocabulary`], so the store's types are used without depending on it.
//! A new protocol (IMAP, a relay port between operators) is a new module here implementing
//! [`Machine`].

use std::fmt;

pub mod content;
mod header_block;
pub mod imap;
pub mod pop3;
pub mod smtp;
#[cfg(test)]
mod test_words;

/// The relay's words for what the machines handle, given by the crate that drives them.
/// A machine only compares, prints and hands these back: it never looks inside.
pub trait Vocabulary: fmt::Debug + Clone + Copy + PartialEq + Eq + 'static {
    /// A mail address, normalised by [`Vocabulary::parse_address`]: two spellings of one
    /// address compare equal.
    type Address: Clone + Eq + fmt::Display + fmt::Debug;
    /// An account (a mailbox).
    type Account: Copy + Eq + fmt::Debug;
    /// Where an accepted recipient's copy goes: a mailbox here, or a peer operator.
    type Recipient: Copy + Eq + fmt::Debug;
    /// A stored message.
    type Message: Copy + Eq + fmt::Debug;
    /// A message's number in its mailbox, stable across sessions.
    type Uid: Copy + Eq + fmt::Debug;

    /// Parses an address as the relay accepts it, or `None` when it is not one.
    fn parse_address(text: &str) -> Option<Self::Address>;
    /// The unique-id listing of a message (POP3 UIDL, RFC 1939 §7).
    fn unique_id(uid: Self::Uid) -> String;
}

/// Why the driver ends a session that did not end itself: each protocol says it in its
/// own words (SMTP picks the enhanced status code that fits, RFC 3463).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The relay is stopping.
    Shutdown,
    /// No input within the idle limit.
    Idle,
    /// No login within the pre-login lifetime.
    LoginTimeout,
    /// The pre-login command budget is used up.
    CommandBudget,
}

impl Closing {
    /// The sentence the client reads.
    pub fn text(self) -> &'static str {
        match self {
            Closing::Shutdown => "Service shutting down; try again shortly",
            Closing::Idle => "Idle too long; closing",
            Closing::LoginTimeout => "Login not completed in time; closing",
            Closing::CommandBudget => "Too many commands before login; closing",
        }
    }
}

/// A protocol machine as the session driver sees it: bytes in, output and effects out.
/// The driver writes the output, reads more input within the idle limits, starts TLS when
/// an effect asks for it, and hands every other effect to the protocol's own handler.
pub trait Machine {
    /// What the machine asks of the outside world.
    type Effect;

    /// Consumes input until it is used up or an effect is needed. Returns how many bytes
    /// were consumed; unconsumed bytes must be passed again after the effect is answered.
    fn receive(&mut self, input: &[u8]) -> (usize, Option<Self::Effect>);
    /// Takes the bytes to write to the client.
    fn take_output(&mut self) -> Vec<u8>;
    /// How many bytes of replies wait to be written.
    fn output_bytes(&self) -> usize;
    /// True when replies wait to be written.
    fn has_output(&self) -> bool {
        self.output_bytes() > 0
    }
    /// True once nothing more will be read (QUIT, too many errors).
    fn is_closed(&self) -> bool;
    /// True once the client logged in: the longer idle limit applies.
    fn logged_in(&self) -> bool;
    /// True while the client sends message content: a shutdown lets it finish first.
    fn in_data(&self) -> bool;
    /// Queues the protocol's "closing now" reply and closes.
    fn close_now(&mut self, closing: Closing);
    /// The driver finished the TLS handshake an effect asked for.
    fn tls_started(&mut self);
}
