//! POP3 collection: the sans-I/O machine of [`caducee_protocol::pop3`], speaking the
//! store's types ([`StoreVocabulary`]). The session driving it is [`crate::session`].

pub use caducee_protocol::pop3::{
    write_dot_stuffed, MaildropError, POP3_AUTH_FAILURES_MAX, POP3_ERRORS_MAX, POP3_LINE_BYTES_MAX,
};

use crate::vocabulary::StoreVocabulary;

/// The POP3 server side of one connection.
pub type Pop3Server = caducee_protocol::pop3::Pop3Server<StoreVocabulary>;
/// Something the session must do before the dialogue can go on.
pub type Effect = caducee_protocol::pop3::Effect<StoreVocabulary>;
/// The locked maildrop handed to a session after login.
pub type Maildrop = caducee_protocol::pop3::Maildrop<StoreVocabulary>;
/// One message of the maildrop as the session sees it.
pub type MaildropEntry = caducee_protocol::pop3::MaildropEntry<StoreVocabulary>;
