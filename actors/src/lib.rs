//! Caducée's actors and protocol machines.
//!
//! - [`smtp`] and [`pop3`]: sans-I/O protocol state machines (bytes in, replies and
//!   effects out). They never touch a socket, the store or a clock.
//! - [`content`]: the encrypted-content policy, a pure function over message bytes.
//! - [`mailbox`]: mailbox actors (one per account) and their registry.
//! - [`keyvault`] and [`bundle`]: the key vault (issue, revoke, the submission key check)
//!   and the installation bundle.
//! - [`session`]: one session actor per connection, owning the socket and driving a
//!   protocol machine.
//!
//! Nothing here holds a decryption key for user content: the relay only checks that
//! content is OpenPGP-encrypted, it never opens it.

pub mod bundle;
pub mod clock;
pub mod content;
pub mod keyvault;
pub mod mailbox;
pub mod monitor;
pub mod notices;
pub mod pop3;
pub mod probe;
pub mod quality;
pub mod session;
pub mod smtp;
pub mod throttle;
