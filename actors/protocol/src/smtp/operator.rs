//! The relay port between the operators of the health-messaging trust space: the same SMTP
//! as submission, but no AUTH — an operator is known by the TLS client certificate it
//! presents —, STARTTLS before `MAIL`, and `MAIL FROM`'s domain bound to that certificate's
//! subject in the trust list, which the driver checks ([`Effect::CheckOperator`]). The
//! message's `From:` is the sending operator's business; the relay's control headers are
//! still refused.

use super::{Awaiting, Effect, SmtpServer};
use crate::Vocabulary;

/// The door a session came in by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// A practice's software, logged in with its account (ports 587 and 465).
    Submission,
    /// Another operator of the trust space, known by its certificate (port 25).
    Relay,
}

/// The answer to [`Effect::CheckOperator`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorVerdict {
    /// The trust list binds the sender's domain to the presented certificate.
    Bound,
    /// A null sender from an operator of the list, recorded (in the trail, the connection
    /// log) as this address: the operator's `mailer-daemon` in a domain bound to it.
    BoundNull(String),
    /// Why not, in words a peer operator's postmaster acts on (no certificate, an unknown
    /// authority, a subject not bound to that domain, a domain not in the list).
    Refused(String),
    /// The trust list could not be read now: try again later.
    TryLater,
}

impl<V: Vocabulary> SmtpServer<V> {
    /// A session on the relay port (see the module's documentation).
    pub fn for_operators(mut self) -> Self {
        self.door = Door::Relay;
        self
    }

    /// The door this session came in by.
    pub fn door(&self) -> Door {
        self.door
    }

    /// `MAIL` on the relay port: over TLS only, then the trust list is asked.
    pub(super) fn operator_mail(&mut self, from: &smtp_proto::MailFrom<String>) -> Option<Effect<V>> {
        if !self.greeted {
            return self.error_reply(503, "5.5.1", "Send EHLO first");
        }
        if !self.tls {
            let why = "Must issue a STARTTLS command first: operators send over TLS, with their certificate";
            return self.error_reply(530, "5.7.0", why);
        }
        if self.transaction.is_some() {
            return self.error_reply(503, "5.5.1", "Nested MAIL command");
        }
        // `MAIL FROM:<>`: a peer's delivery status notification (RFC 5321 4.5.5).
        let sender = if from.address.is_empty() {
            None
        } else {
            let Some(sender) = V::parse_address(&from.address) else {
                return self.error_reply(553, "5.1.7", "The sender address is not valid");
            };
            Some(sender)
        };
        self.pending_sender = Some((sender.clone(), from.size));
        self.mode = super::Mode::Waiting(Awaiting::Operator);
        Some(Effect::CheckOperator { sender })
    }

    /// The answer to [`Effect::CheckOperator`]. (A refusal counts as a protocol error: too
    /// many close the session, which the driver sees as [`SmtpServer::is_closed`].)
    pub fn operator_checked(&mut self, verdict: OperatorVerdict) {
        if !self.resume(Awaiting::Operator) {
            return;
        }
        let Some((sender, size)) = self.pending_sender.take() else {
            return;
        };
        let shown = sender.as_ref().map(ToString::to_string).unwrap_or_default();
        match (verdict, sender) {
            (OperatorVerdict::Bound, Some(sender)) => {
                self.operator_bound = true;
                self.open_transaction(sender, size);
            }
            (OperatorVerdict::BoundNull(recorded_as), None) => match V::parse_address(&recorded_as) {
                Some(recorded_as) => {
                    self.operator_bound = true;
                    self.open_transaction(recorded_as, size);
                    if let Some(tx) = &mut self.transaction {
                        tx.report = true;
                    }
                }
                None => {
                    self.reply(451, "4.3.0", "The null sender cannot be recorded now; try again later");
                }
            },
            (OperatorVerdict::Bound | OperatorVerdict::BoundNull(_), _) => {
                self.reply(451, "4.3.0", "The sender could not be checked now; try again later");
            }
            (OperatorVerdict::Refused(why), _) => {
                self.error_reply(550, "5.7.1", &format!("<{shown}>: {why}"));
            }
            (OperatorVerdict::TryLater, _) => {
                self.reply(451, "4.3.0", "The trust list cannot be read now; try again later");
            }
        }
    }
}
