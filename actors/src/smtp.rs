//! SMTP submission: the sans-I/O machine of [`caducee_protocol::smtp`], speaking the
//! store's types ([`StoreVocabulary`]). The session driving it is [`crate::session`].

pub use caducee_protocol::smtp::{
    received_header, with_protocol, Door, InFlight, OperatorVerdict, ReceptionDisabled, SmtpConfig,
    SMTP_AUTH_FAILURES_MAX, SMTP_AUTH_LINE_BYTES_MAX, SMTP_COMMAND_LINE_BYTES_MAX, SMTP_ERRORS_MAX,
    SMTP_RECIPIENTS_MAX,
};

use crate::vocabulary::StoreVocabulary;

/// The SMTP server side of one connection.
pub type SmtpServer = caducee_protocol::smtp::SmtpServer<StoreVocabulary>;
/// Something the session must do before the dialogue can go on.
pub type Effect = caducee_protocol::smtp::Effect<StoreVocabulary>;
/// A logged-in account.
pub type Authenticated = caducee_protocol::smtp::Authenticated<StoreVocabulary>;
/// A message that passed every check and now needs storing.
pub type Delivery = caducee_protocol::smtp::Delivery<StoreVocabulary>;
/// The answer to [`Effect::CheckRecipient`].
pub type RecipientVerdict = caducee_protocol::smtp::RecipientVerdict<StoreVocabulary>;
/// The answer to [`Effect::Deliver`].
pub type DeliveryVerdict = caducee_protocol::smtp::DeliveryVerdict<StoreVocabulary>;
