//! Replies: the status line with its enhanced code (RFC 3463), the error budget of a
//! session, and the trace field of stored messages.

use std::io::Write as _;

use smtp_proto::Error as ParseError;

use super::{Effect, Mode, SmtpServer, SMTP_ERRORS_MAX};
use crate::Vocabulary;

impl<V: Vocabulary> SmtpServer<V> {
    pub(super) fn parse_error(&mut self, error: ParseError) -> Option<Effect<V>> {
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
    pub(super) fn reply(&mut self, code: u16, enhanced: &str, text: &str) {
        let _ = match (enhanced.is_empty(), text.is_empty()) {
            (true, true) => write!(self.output, "{code} \r\n"),
            (true, false) => write!(self.output, "{code} {text}\r\n"),
            _ => write!(self.output, "{code} {enhanced} {text}\r\n"),
        };
    }

    pub(super) fn error_reply(&mut self, code: u16, enhanced: &str, text: &str) -> Option<Effect<V>> {
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

/// The `with` protocol of a Received field (RFC 3848): ESMTP, over TLS (`S`), after AUTH
/// (`A`). A practice's submission is authenticated; an operator on the relay port is known by
/// its certificate, not by AUTH.
pub fn with_protocol(tls: bool, authenticated: bool) -> &'static str {
    match (tls, authenticated) {
        (true, true) => "ESMTPSA",
        (true, false) => "ESMTPS",
        (false, true) => "ESMTPA",
        (false, false) => "ESMTP",
    }
}

/// The Received trace field added in front of every stored message (RFC 5321 4.4), naming
/// who handed it over: `authenticated as <account>` on submission, `operator <subject>` on
/// the relay port. Kept to US-ASCII (RFC 5322 header fields).
pub fn received_header(
    peer: &str,
    helo: &str,
    hostname: &str,
    with: &str,
    id: &str,
    who: &str,
    date_rfc2822: &str,
) -> String {
    // Written piece by piece: `format!` with seven arguments took a microsecond a message.
    let mut field = String::with_capacity(96 + helo.len() + peer.len() + who.len() + hostname.len() + id.len());
    for piece in ["Received: from ", helo, " ([", peer, "])\r\n\t("] {
        field.push_str(piece);
    }
    field.extend(who.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }));
    for piece in [")\r\n\tby ", hostname, " (Caducee) with ", with, " id ", id, ";\r\n\t", date_rfc2822, "\r\n"] {
        field.push_str(piece);
    }
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_received_field_names_who_handed_the_message_over_in_ascii() {
        let field = received_header(
            "192.0.2.7",
            "practice.example",
            "relay.test",
            "ESMTPSA",
            "1a2b",
            "authenticated as dr.\u{e9}@a.test\n",
            "Thu, 03 Dec 2026 13:00:00 GMT",
        );
        assert_eq!(
            field,
            "Received: from practice.example ([192.0.2.7])\r\n\t(authenticated as dr.?@a.test?)\r\n\tby relay.test \
             (Caducee) with ESMTPSA id 1a2b;\r\n\tThu, 03 Dec 2026 13:00:00 GMT\r\n"
        );
    }
}
