//! POP3 commands by state: AUTHORIZATION (USER/PASS, AUTH PLAIN, STLS) and TRANSACTION
//! (STAT, LIST, UIDL, RETR, TOP, DELE, RSET), and QUIT in either.

use std::io::Write as _;

use base64::Engine as _;

use super::{Awaiting, Effect, MaildropEntry, Pop3Server, State};
use crate::Vocabulary;

impl<V: Vocabulary> Pop3Server<V> {
    pub(super) fn command(&mut self, line: &str) -> Option<Effect<V>> {
        if self.state == State::AuthContinuation {
            self.state = State::Authorization { user: None };
            if line == "*" {
                return self.error("Authentication cancelled");
            }
            return self.plain_response(line);
        }
        let (verb, args) = match line.split_once(' ') {
            Some((verb, args)) => (verb.to_ascii_uppercase(), args.trim()),
            None => (line.to_ascii_uppercase(), ""),
        };
        match (&self.state, verb.as_str()) {
            (_, "CAPA") => {
                self.capabilities();
                None
            }
            (State::Authorization { .. }, _) => self.authorization_command(&verb, args, line),
            (State::Transaction, _) => self.transaction_command(&verb, args),
            _ => self.error("Command not valid now"),
        }
    }

    /// A command before login (RFC 1939 §4).
    fn authorization_command(&mut self, verb: &str, args: &str, line: &str) -> Option<Effect<V>> {
        match verb {
            "QUIT" => {
                self.ok("Bye");
                self.state = State::Closed;
                Some(Effect::Close)
            }
            "STLS" => {
                if self.tls {
                    return self.error("TLS already active");
                }
                self.ok("Begin TLS negotiation");
                self.state = State::Waiting(Awaiting::Tls);
                Some(Effect::StartTls)
            }
            "USER" => {
                if !self.tls {
                    return self.error("[AUTH] Use STLS before sending credentials");
                }
                if args.is_empty() {
                    return self.error("USER needs a name");
                }
                self.state = State::Authorization { user: Some(args.to_owned()) };
                self.ok("Send PASS");
                None
            }
            "PASS" => {
                let State::Authorization { user: Some(username) } = &self.state else {
                    return self.error("Send USER first");
                };
                let username = username.clone();
                self.state = State::Waiting(Awaiting::Auth);
                // RFC 1939 §7: the password is the rest of the line, spaces included.
                let password = line.get(5..).unwrap_or_default().to_owned();
                Some(Effect::Authenticate { username, password })
            }
            "AUTH" => self.auth(args),
            _ => self.error("Command not valid before login"),
        }
    }

    /// `AUTH` (RFC 5034): PLAIN only, with or without an initial response.
    fn auth(&mut self, args: &str) -> Option<Effect<V>> {
        if !self.tls {
            return self.error("[AUTH] Use STLS before sending credentials");
        }
        let (mechanism, initial) = args.split_once(' ').unwrap_or((args, ""));
        if mechanism.is_empty() {
            // A listing of mechanisms, as some clients ask (pre-RFC 5034 practice).
            self.ok("");
            self.output.extend_from_slice(b"PLAIN\r\n.\r\n");
            return None;
        }
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            return self.error("Unsupported mechanism; use PLAIN");
        }
        if initial.is_empty() {
            self.output.extend_from_slice(b"+ \r\n");
            self.state = State::AuthContinuation;
            return None;
        }
        self.plain_response(initial.trim())
    }

    /// A command once the maildrop is held (RFC 1939 §5).
    fn transaction_command(&mut self, verb: &str, args: &str) -> Option<Effect<V>> {
        match verb {
            "NOOP" => {
                self.ok("");
                None
            }
            "QUIT" => {
                let deleted = self.deleted_uids();
                self.state = State::Waiting(Awaiting::Update);
                Some(Effect::Update { deleted })
            }
            "STAT" => {
                let (count, bytes) = self.live().fold((0, 0), |(n, b), (_, e)| (n + 1, b + e.size));
                self.ok(&format!("{count} {bytes}"));
                None
            }
            "LIST" => self.listing(args, |e| e.size.to_string()),
            "UIDL" => self.listing(args, |e| V::unique_id(e.uid)),
            "RETR" => match self.message_number(args) {
                Ok(index) => self.retrieve(index, None),
                Err(why) => self.error(&why),
            },
            "TOP" => self.top(args),
            "DELE" => match self.message_number(args) {
                Ok(index) => {
                    self.deleted[index] = true;
                    self.ok(&format!("message {} deleted", index + 1));
                    None
                }
                Err(why) => self.error(&why),
            },
            "RSET" => {
                self.deleted.iter_mut().for_each(|d| *d = false);
                let count = self.deleted.len();
                self.ok(&format!("maildrop has {count} messages"));
                None
            }
            _ => self.error("Unknown command"),
        }
    }

    /// `TOP msg n`: the headers and the first `n` body lines.
    fn top(&mut self, args: &str) -> Option<Effect<V>> {
        let mut parts = args.split_whitespace();
        let index = self.message_number(parts.next().unwrap_or_default());
        let lines = parts.next().and_then(|n| n.parse::<u32>().ok());
        match (index, lines, parts.next()) {
            (Ok(index), Some(lines), None) => self.retrieve(index, Some(lines)),
            (Err(why), _, _) => self.error(&why),
            _ => self.error("Usage: TOP msg lines"),
        }
    }
    fn capabilities(&mut self) {
        self.ok("Capability list follows");
        let mut lines = vec!["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER"];
        if self.tls {
            if matches!(self.state, State::Authorization { .. }) {
                lines.extend(["USER", "SASL PLAIN"]);
            }
        } else {
            lines.push("STLS");
        }
        lines.push("IMPLEMENTATION Caducee");
        for line in lines {
            let _ = write!(self.output, "{line}\r\n");
        }
        self.output.extend_from_slice(b".\r\n");
    }

    fn plain_response(&mut self, response: &str) -> Option<Effect<V>> {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(response)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let Some(decoded) = decoded else {
            return self.error("Invalid base64");
        };
        let mut fields = decoded.split('\0');
        match (fields.next(), fields.next(), fields.next(), fields.next()) {
            (Some(authzid), Some(username), Some(password), None) if authzid.is_empty() || authzid == username => {
                self.state = State::Waiting(Awaiting::Auth);
                Some(Effect::Authenticate { username: username.to_owned(), password: password.to_owned() })
            }
            _ => self.error("Malformed PLAIN response"),
        }
    }

    /// Parses a message number and checks it names a message not deleted.
    fn message_number(&self, arg: &str) -> Result<usize, String> {
        let number: usize = arg.trim().parse().map_err(|_| "Invalid message number".to_owned())?;
        let count = self.deleted.len();
        if number == 0 || number > count {
            return Err(format!("No such message (maildrop has {count})"));
        }
        if self.deleted[number - 1] {
            return Err(format!("Message {number} already deleted"));
        }
        Ok(number - 1)
    }

    fn listing(&mut self, args: &str, field: impl Fn(&MaildropEntry<V>) -> String) -> Option<Effect<V>> {
        if !args.is_empty() {
            return match self.message_number(args) {
                Ok(index) => {
                    let entry = self.maildrop.as_ref()?.entries[index];
                    self.ok(&format!("{} {}", index + 1, field(&entry)));
                    None
                }
                Err(why) => self.error(&why),
            };
        }
        let lines: Vec<String> = self.live().map(|(i, e)| format!("{} {}\r\n", i + 1, field(e))).collect();
        self.ok("listing follows");
        for line in lines {
            self.output.extend_from_slice(line.as_bytes());
        }
        self.output.extend_from_slice(b".\r\n");
        None
    }
}
