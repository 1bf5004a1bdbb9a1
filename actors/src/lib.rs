//! Caducée's actors: the sessions that own the sockets, the mailboxes, the key vault and
//! the monitor.
//!
//! - [`smtp`] and [`pop3`]: the sans-I/O protocol machines of `caducee-protocol` (bytes in,
//!   replies and effects out), in the store's types ([`vocabulary`]). They never touch a
//!   socket, the store or a clock: their crate depends on none.
//! - [`content`]: the encrypted-content policy, a pure function over message bytes (also
//!   from `caducee-protocol`).
//! - [`session`]: one session actor per connection, owning the socket and driving a
//!   protocol machine through one loop for every protocol.
//! - [`login`]: the password check and the login throttle, shared by every door (SMTP,
//!   POP3, LDAP binds, the personal space).
//! - [`mailbox`]: mailbox actors (one per account) and their registry.
//! - [`keyvault`]: the key vault (issue, revoke, the submission key check); the
//!   installation bundle it writes ([`bundle`]), the messages ([`mail`]) and the probe
//!   client ([`probe`]) are the practice client's, shared with it.
//!
//! Nothing here holds a decryption key for user content: the relay only checks that
//! content is OpenPGP-encrypted, it never opens it.

pub use caducee_protocol::content;

pub use caducee_client::{bundle, mail, probe};

pub mod clock;
pub mod imap;
pub mod keyvault;
pub mod login;
pub mod mailbox;
pub mod monitor;
pub mod notices;
pub mod pop3;
pub mod quality;
pub mod relay_key;
pub mod remembered;
pub mod session;
pub mod smtp;
pub mod throttle;
pub mod vocabulary;
