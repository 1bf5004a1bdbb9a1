//! AUTH PLAIN (RFC 4616) and LOGIN over SMTP (RFC 4954), only once TLS is active.

use base64::Engine as _;
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN};

use super::{
    AuthStep, Authenticated, Awaiting, Effect, Mode, SmtpServer, SMTP_AUTH_FAILURES_MAX, SMTP_AUTH_LINE_BYTES_MAX,
};
use crate::Vocabulary;

impl<V: Vocabulary> SmtpServer<V> {
    pub(super) fn auth(&mut self, mechanism: u64, initial: String) -> Option<Effect<V>> {
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

    pub(super) fn auth_line(&mut self, input: &[u8]) -> (usize, Option<Effect<V>>) {
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

    fn plain_response(&mut self, response: &str) -> Option<Effect<V>> {
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
    pub fn authenticated(&mut self, result: Option<Authenticated<V>>) {
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
    pub fn login_throttled(&mut self, retry_minutes: u64) {
        if self.resume(Awaiting::Auth) {
            self.reply(
                454,
                "4.7.0",
                &format!(
                    "Too many failed logins from this address or for this account; try again in {retry_minutes} minutes"
                ),
            );
        }
    }
}

fn decode_base64_text(text: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()?;
    String::from_utf8(bytes).ok()
}
