//! The relay's own client side: a probe that submits and collects the way a practice does —
//! SMTP submission, POP3 and IMAP over TLS, verified against the relay's CA — with real OpenPGP
//! messages. The practice client sends and fetches with it; the relay's restore drill and
//! the load generator use it too.
//!
//! Written here rather than taken from an SMTP client crate because what the drill and the
//! load generator measure — the end of the data to the `250` that says the message is on
//! disk — lies inside one transaction, where client libraries give no hook; and no
//! maintained POP3 client crate exists. It speaks only what the relay offers: EHLO, AUTH
//! PLAIN, pipelined MAIL/RCPT/DATA; USER/PASS, STAT, RETR, DELE, QUIT; IMAP's AUTHENTICATE
//! PLAIN, SELECT, UID FETCH, UID STORE, EXPUNGE, IDLE.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::mail;

/// Longest reply line a probe accepts.
const REPLY_LINE_BYTES_MAX: u64 = 4096;
/// Largest message a POP3 probe retrieves.
const RETRIEVE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// What went wrong, in words an operator reads in a drill report.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    /// The relay answered something other than expected.
    #[error("expected {expected}, the relay said {got:?}")]
    Unexpected { expected: String, got: String },
    #[error("OpenPGP: {0}")]
    OpenPgp(String),
}

/// Reads `caducee serve`'s readiness lines (`ready: <service> <address>`) up to the admin
/// socket's, and returns each listener's port by service name.
pub fn ready_ports(stdout: impl std::io::Read) -> std::io::Result<std::collections::HashMap<String, u16>> {
    use std::io::BufRead as _;
    let mut ports = std::collections::HashMap::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        let mut words = line.split_whitespace().skip_while(|w| *w != "ready:").skip(1);
        match (words.next(), words.next()) {
            (Some("admin"), _) => break,
            (Some(service), Some(address)) => {
                if let Some(port) = address.rsplit(':').next().and_then(|p| p.parse().ok()) {
                    ports.insert(service.to_owned(), port);
                }
            }
            _ => {}
        }
    }
    Ok(ports)
}

/// A TLS client configuration trusting only the given CA certificate (PEM).
pub fn tls_trusting(ca_pem: &Path) -> Result<TlsConnector, ProbeError> {
    Ok(TlsConnector::from(client_config(&std::fs::read(ca_pem)?)?))
}

/// A rustls client configuration trusting only the CA certificates in `pem`.
pub fn client_config(pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, ProbeError> {
    trusting(pem, false)
}

/// A rustls client configuration trusting the CA certificates in `pem` (the relay's local
/// CA, from a bundle) and the system's roots: a practice keeps working when its relay
/// serves a public certificate (ACME). A system without a certificate store still trusts
/// the bundle's CA.
pub fn client_config_with_system_roots(pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, ProbeError> {
    trusting(pem, true)
}

fn trusting(pem: &[u8], system_roots: bool) -> Result<Arc<rustls::ClientConfig>, ProbeError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in pem_certificates(pem)? {
        roots.add(cert).map_err(|e| ProbeError::Tls(e.to_string()))?;
    }
    if system_roots {
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProbeError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn pem_certificates(pem: &[u8]) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, ProbeError> {
    use rustls::pki_types::pem::PemObject as _;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ProbeError::Tls(format!("reading the CA certificate: {e}")))
}

/// One TLS connection to 127.0.0.1 reading replies line by line.
#[derive(Debug)]
struct Line {
    stream: BufReader<TlsStream<TcpStream>>,
    line: String,
}

impl Line {
    /// To 127.0.0.1, verifying the certificate for `localhost`.
    async fn connect(port: u16, tls: &TlsConnector) -> Result<Line, ProbeError> {
        Self::connect_named("127.0.0.1", "localhost", port, tls).await
    }

    /// To `host`, verifying the certificate for that name (or IP address).
    async fn connect_named(host: &str, name: &str, port: u16, tls: &TlsConnector) -> Result<Line, ProbeError> {
        let tcp = TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(true)?;
        let name = rustls::pki_types::ServerName::try_from(name.to_owned())
            .map_err(|e| ProbeError::Tls(format!("{name:?} is not a host name: {e}")))?;
        let stream = tls.connect(name, tcp).await?;
        Ok(Line { stream: BufReader::new(stream), line: String::new() })
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), ProbeError> {
        let stream = self.stream.get_mut();
        stream.write_all(bytes).await?;
        stream.flush().await?;
        Ok(())
    }

    async fn read_line(&mut self) -> Result<&str, ProbeError> {
        self.line.clear();
        let read = (&mut self.stream).take(REPLY_LINE_BYTES_MAX).read_line(&mut self.line).await?;
        if read == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        Ok(self.line.trim_end())
    }
}

/// An authenticated SMTP submission session over implicit TLS.
#[derive(Debug)]
pub struct SmtpProbe {
    line: Line,
}

/// How long a submission took.
#[derive(Debug, Clone, Copy)]
pub struct Submitted {
    /// From `MAIL` to the final `250`.
    pub transaction: Duration,
    /// From the last data byte written to the `250` (the durable commit).
    pub end_of_data: Duration,
}

impl SmtpProbe {
    /// Connects to the implicit-TLS submission port and logs in with AUTH PLAIN.
    pub async fn login(port: u16, tls: &TlsConnector, user: &str, password: &str) -> Result<SmtpProbe, ProbeError> {
        Self::start(Line::connect(port, tls).await?, user, password).await
    }

    /// As [`SmtpProbe::login`], to a named host.
    pub async fn login_at(
        host: &str,
        port: u16,
        tls: &TlsConnector,
        user: &str,
        password: &str,
    ) -> Result<SmtpProbe, ProbeError> {
        Self::start(Line::connect_named(host, host, port, tls).await?, user, password).await
    }

    async fn start(line: Line, user: &str, password: &str) -> Result<SmtpProbe, ProbeError> {
        let mut probe = SmtpProbe { line };
        probe.expect(220).await?;
        probe.line.send(b"EHLO probe.caducee\r\n").await?;
        probe.expect(250).await?;
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        probe.line.send(format!("AUTH PLAIN {credentials}\r\n").as_bytes()).await?;
        probe.expect(235).await?;
        Ok(probe)
    }

    /// Submits `message` (as made by [`pgp_mime`]: dot-stuffed, with its end mark), with the
    /// envelope and DATA pipelined.
    pub async fn submit(&mut self, from: &str, to: &str, message: &[u8]) -> Result<Submitted, ProbeError> {
        let started = Instant::now();
        self.line.send(format!("MAIL FROM:<{from}>\r\nRCPT TO:<{to}>\r\nDATA\r\n").as_bytes()).await?;
        self.expect(250).await?;
        self.expect(250).await?;
        self.expect(354).await?;
        self.line.send(message).await?;
        let end_of_data = Instant::now();
        self.expect(250).await?;
        let done = Instant::now();
        Ok(Submitted { transaction: done - started, end_of_data: done - end_of_data })
    }

    /// Submits `message` to several recipients, one command at a time, so that a refusal
    /// names the recipient it concerns.
    pub async fn submit_to(&mut self, from: &str, to: &[String], message: &[u8]) -> Result<(), ProbeError> {
        self.line.send(format!("MAIL FROM:<{from}>\r\n").as_bytes()).await?;
        self.expect(250).await?;
        for recipient in to {
            self.line.send(format!("RCPT TO:<{recipient}>\r\n").as_bytes()).await?;
            self.expect(250).await?;
        }
        self.line.send(b"DATA\r\n").await?;
        self.expect(354).await?;
        self.line.send(message).await?;
        self.expect(250).await
    }

    pub async fn quit(mut self) -> Result<(), ProbeError> {
        self.line.send(b"QUIT\r\n").await?;
        self.expect(221).await
    }

    /// Reads one whole (possibly multi-line) reply and checks its code.
    async fn expect(&mut self, code: u16) -> Result<(), ProbeError> {
        loop {
            let line = self.line.read_line().await?;
            if !line.starts_with(&code.to_string()) {
                return Err(ProbeError::Unexpected { expected: code.to_string(), got: line.to_owned() });
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(());
            }
        }
    }
}

/// An authenticated POP3 session over implicit TLS.
#[derive(Debug)]
pub struct Pop3Probe {
    line: Line,
}

impl Pop3Probe {
    pub async fn login(port: u16, tls: &TlsConnector, user: &str, password: &str) -> Result<Pop3Probe, ProbeError> {
        Self::start(Line::connect(port, tls).await?, user, password).await
    }

    /// As [`Pop3Probe::login`], to a named host.
    pub async fn login_at(
        host: &str,
        port: u16,
        tls: &TlsConnector,
        user: &str,
        password: &str,
    ) -> Result<Pop3Probe, ProbeError> {
        Self::start(Line::connect_named(host, host, port, tls).await?, user, password).await
    }

    async fn start(line: Line, user: &str, password: &str) -> Result<Pop3Probe, ProbeError> {
        let mut probe = Pop3Probe { line };
        probe.ok().await?;
        probe.command(&format!("USER {user}")).await?;
        probe.command(&format!("PASS {password}")).await?;
        Ok(probe)
    }

    /// Messages in the maildrop.
    pub async fn count(&mut self) -> Result<u32, ProbeError> {
        let reply = self.command("STAT").await?;
        reply
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| ProbeError::Unexpected { expected: "+OK <count> <size>".into(), got: reply })
    }

    /// Message `number`, dot-unstuffed, with CRLF line ends.
    pub async fn retrieve(&mut self, number: u32) -> Result<Vec<u8>, ProbeError> {
        self.command(&format!("RETR {number}")).await?;
        let mut message = Vec::new();
        loop {
            let mut raw = Vec::new();
            let read = (&mut self.line.stream).take(REPLY_LINE_BYTES_MAX * 4).read_until(b'\n', &mut raw).await?;
            if read == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            if raw == b".\r\n" {
                return Ok(message);
            }
            let line = raw.strip_prefix(b".").unwrap_or(&raw);
            message.extend_from_slice(line);
            if message.len() > RETRIEVE_BYTES_MAX {
                return Err(ProbeError::Unexpected { expected: "a message of sane size".into(), got: "more".into() });
            }
        }
    }

    pub async fn delete(&mut self, number: u32) -> Result<(), ProbeError> {
        self.command(&format!("DELE {number}")).await.map(drop)
    }

    /// QUIT: deletions take effect here.
    pub async fn quit(mut self) -> Result<(), ProbeError> {
        self.command("QUIT").await.map(drop)
    }

    async fn command(&mut self, command: &str) -> Result<String, ProbeError> {
        self.line.send(format!("{command}\r\n").as_bytes()).await?;
        self.ok().await
    }

    async fn ok(&mut self) -> Result<String, ProbeError> {
        let line = self.line.read_line().await?;
        match line.strip_prefix("+OK") {
            Some(rest) => Ok(rest.trim().to_owned()),
            None => Err(ProbeError::Unexpected { expected: "+OK".into(), got: line.to_owned() }),
        }
    }
}

/// An authenticated IMAP session over implicit TLS, with INBOX selected: what a mail client
/// does to collect — fetch everything, mark it `\Deleted`, expunge — and IDLE to hear of
/// new mail. It reads only what the relay answers those commands (`* n EXISTS`, `FETCH`
/// with one literal, tagged `OK`); a full IMAP client crate would parse far more to measure
/// the same.
#[derive(Debug)]
pub struct ImapProbe {
    line: Line,
    tag: u32,
    /// Messages in INBOX, as the last `EXISTS` said.
    pub exists: u32,
}

impl ImapProbe {
    /// Logs in (AUTHENTICATE PLAIN with the initial response) and selects INBOX.
    pub async fn login(port: u16, tls: &TlsConnector, user: &str, password: &str) -> Result<ImapProbe, ProbeError> {
        let mut probe = ImapProbe { line: Line::connect(port, tls).await?, tag: 0, exists: 0 };
        let greeting = probe.line.read_line().await?;
        if !greeting.starts_with("* OK") {
            return Err(ProbeError::Unexpected { expected: "* OK".into(), got: greeting.to_owned() });
        }
        let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        probe.command(&format!("AUTHENTICATE PLAIN {plain}")).await?;
        probe.command("SELECT INBOX").await?;
        Ok(probe)
    }

    /// Every message of INBOX, then each marked `\Deleted` and expunged (one durable
    /// commit): returns how many were collected, and each one's size.
    pub async fn collect_all(&mut self) -> Result<Vec<usize>, ProbeError> {
        if self.exists == 0 {
            return Ok(Vec::new());
        }
        let tag = self.send_command("UID FETCH 1:* (BODY[])").await?;
        let mut sizes = Vec::new();
        // The highest UID fetched: a message that arrives meanwhile (announced before the
        // STORE, so within its `*`) must not be deleted unread.
        let mut last_uid = 0u32;
        loop {
            let line = self.line.read_line().await?.to_owned();
            if let Some(rest) = line.strip_prefix(&tag) {
                expect_ok(rest, &line)?;
                break;
            }
            if let Some(size) = literal_size(&line) {
                let mut body = vec![0; size];
                self.line.stream.read_exact(&mut body).await?;
                self.line.read_line().await?; // the closing parenthesis
                sizes.push(size);
                let uid = fetched_uid(&line).ok_or_else(|| ProbeError::Unexpected {
                    expected: "a UID in the FETCH answer".into(),
                    got: line.clone(),
                })?;
                last_uid = last_uid.max(uid);
            } else {
                self.untagged(&line);
            }
        }
        if last_uid == 0 {
            return Ok(sizes);
        }
        self.command(&format!("UID STORE 1:{last_uid} +FLAGS.SILENT (\\Deleted)")).await?;
        self.command("EXPUNGE").await?;
        Ok(sizes)
    }

    /// IDLE until the relay tells of new mail or `wait` passes; then DONE. When new mail was
    /// pushed while idling: when, and how many messages (`exists` says how many there are
    /// now). Mail announced before the relay's go-ahead is news given in answer to the
    /// command, not a push: `None`, with `exists` updated.
    pub async fn idle(&mut self, wait: Duration) -> Result<Option<(Instant, u32)>, ProbeError> {
        let before = self.exists;
        let tag = self.send_command("IDLE").await?;
        // Untagged news (a message that arrived meanwhile) may come before the go-ahead: it
        // is the answer to this command, as to any, not a push; the wait then ends at once.
        loop {
            let line = self.line.read_line().await?.to_owned();
            if line.starts_with('+') {
                break;
            }
            if !line.starts_with("* ") {
                return Err(ProbeError::Unexpected { expected: "+ (IDLE accepted)".into(), got: line });
            }
            self.untagged(&line);
        }
        if self.exists > before {
            self.line.send(b"DONE\r\n").await?;
            self.until_tagged(&tag).await?;
            return Ok(None);
        }
        // (Fewer, when another session expunged meanwhile: new mail is counted from there.)
        let before = self.exists;
        let deadline = tokio::time::Instant::now() + wait;
        // A line cut by the deadline would be lost: the wait ends only between lines that
        // arrive whole (a relay's IDLE responses are single lines sent at once).
        while self.exists <= before {
            match tokio::time::timeout_at(deadline, self.line.read_line()).await {
                Ok(line) => {
                    let line = line?.to_owned();
                    self.untagged(&line);
                }
                Err(_) => break,
            }
        }
        let announced = (self.exists > before).then(|| (Instant::now(), self.exists - before));
        self.line.send(b"DONE\r\n").await?;
        self.until_tagged(&tag).await?;
        Ok(announced)
    }

    pub async fn logout(mut self) -> Result<(), ProbeError> {
        self.command("LOGOUT").await
    }

    async fn send_command(&mut self, command: &str) -> Result<String, ProbeError> {
        self.tag += 1;
        let tag = format!("c{} ", self.tag);
        self.line.send(format!("{tag}{command}\r\n").as_bytes()).await?;
        Ok(tag)
    }

    async fn command(&mut self, command: &str) -> Result<(), ProbeError> {
        let tag = self.send_command(command).await?;
        self.until_tagged(&tag).await
    }

    async fn until_tagged(&mut self, tag: &str) -> Result<(), ProbeError> {
        loop {
            let line = self.line.read_line().await?.to_owned();
            match line.strip_prefix(tag) {
                Some(rest) => return expect_ok(rest, &line),
                None => self.untagged(&line),
            }
        }
    }

    /// Keeps what an untagged response says of the mailbox's size.
    fn untagged(&mut self, line: &str) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next().map(str::parse::<u32>), words.next()) {
            (Some("*"), Some(Ok(count)), Some("EXISTS")) => self.exists = count,
            (Some("*"), Some(Ok(_)), Some("EXPUNGE")) => self.exists = self.exists.saturating_sub(1),
            _ => {}
        }
    }
}

fn expect_ok(rest: &str, line: &str) -> Result<(), ProbeError> {
    if rest.starts_with("OK") {
        Ok(())
    } else {
        Err(ProbeError::Unexpected { expected: "OK".into(), got: line.to_owned() })
    }
}

/// The UID a FETCH response line names (`* 3 FETCH (UID 17 BODY[] {7866}`).
fn fetched_uid(line: &str) -> Option<u32> {
    let after = &line[line.find("UID ")? + 4..];
    after.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The size of the literal a response line announces at its end (`{1234}`).
fn literal_size(line: &str) -> Option<usize> {
    let open = line.strip_suffix('}')?.rfind('{')?;
    line[open + 1..line.len() - 1].parse().ok().filter(|&size| size <= RETRIEVE_BYTES_MAX)
}

/// `size` random bytes encrypted to a fresh X25519 certificate, ASCII-armoured: a document
/// the relay accepts and nobody can read. Needs a sequoia crypto backend in the binary.
pub fn encrypted_document(size: usize, certificate: &str) -> Result<String, ProbeError> {
    encrypted_document_at(size, certificate, None)
}

/// As [`encrypted_document`], choosing the keys valid at `at` (`None`: now).
pub fn encrypted_document_at(
    size: usize,
    certificate: &str,
    at: Option<std::time::SystemTime>,
) -> Result<String, ProbeError> {
    use sequoia_openpgp::parse::Parse;
    use sequoia_openpgp::policy::StandardPolicy;
    use sequoia_openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message};

    let pgp = |e: anyhow_like::Error| ProbeError::OpenPgp(e.to_string());
    let cert = sequoia_openpgp::Cert::from_bytes(certificate.as_bytes()).map_err(pgp)?;
    let policy = StandardPolicy::new();
    let recipients = cert.keys().with_policy(&policy, at).supported().alive().revoked(false).for_transport_encryption();
    let mut document = vec![0u8; size];
    getrandom(&mut document)?;
    let mut armoured = Vec::new();
    let message = Message::new(&mut armoured);
    let message = Armorer::new(message).build().map_err(pgp)?;
    let message = Encryptor::for_recipients(message, recipients).build().map_err(pgp)?;
    let mut message = LiteralWriter::new(message).build().map_err(pgp)?;
    message.write_all(&document)?;
    message.finalize().map_err(pgp)?;
    String::from_utf8(armoured).map_err(|e| ProbeError::OpenPgp(e.to_string()))
}

/// A fresh certificate for `address`, armoured, that no relay knows: for benchmarks of the
/// content check and for peers (Postfix) that hold no keys.
pub fn throwaway_certificate(address: &str) -> Result<String, ProbeError> {
    throwaway_certificate_at(address, None)
}

/// As [`throwaway_certificate`], made at `created` (`None`: now). A certificate used at a
/// chosen time must be made no later than that time, whatever the day the caller runs.
pub fn throwaway_certificate_at(address: &str, created: Option<std::time::SystemTime>) -> Result<String, ProbeError> {
    use sequoia_openpgp::cert::{CertBuilder, CipherSuite};
    use sequoia_openpgp::serialize::SerializeInto;

    let pgp = |e: anyhow_like::Error| ProbeError::OpenPgp(e.to_string());
    let mut builder = CertBuilder::new();
    if let Some(created) = created {
        builder = builder.set_creation_time(created);
    }
    let (cert, _revocation) = builder
        .set_cipher_suite(CipherSuite::Cv25519)
        .add_userid(format!("<{address}>"))
        .add_transport_encryption_subkey()
        .generate()
        .map_err(pgp)?;
    let armoured = cert.armored().to_vec().map_err(pgp)?;
    String::from_utf8(armoured).map_err(|e| ProbeError::OpenPgp(e.to_string()))
}

fn getrandom(out: &mut [u8]) -> Result<(), ProbeError> {
    use ring::rand::SecureRandom as _;
    ring::rand::SystemRandom::new().fill(out).map_err(|_| ProbeError::OpenPgp("no system randomness".into()))
}

/// sequoia's errors are `anyhow::Error`; named here so this crate needs no anyhow.
mod anyhow_like {
    pub type Error = sequoia_openpgp::anyhow::Error;
}

/// A PGP/MIME message (RFC 3156) written at `at`, ready for DATA: CRLF lines, dot-stuffed,
/// with the end mark.
pub fn pgp_mime(from: &str, to: &str, subject: &str, armoured: &str, at: u64) -> Vec<u8> {
    pgp_mime_to(from, &[to.to_owned()], subject, armoured, at)
}

/// As [`pgp_mime`], to several recipients.
pub fn pgp_mime_to(from: &str, to: &[String], subject: &str, armoured: &str, at: u64) -> Vec<u8> {
    let headers = mail::Headers { from: (None, from), to: to.iter().map(String::as_str).collect(), subject, at };
    let boundary = format!("caducee-{at}");
    for_data(&mail::write(headers.builder().body(mail::pgp_encrypted_body(armoured, &boundary))))
}

/// A message as DATA carries it (RFC 5321 4.5.2): lines starting with a dot get another,
/// and the end mark follows.
pub fn for_data(message: &[u8]) -> Vec<u8> {
    let mut stuffed = Vec::with_capacity(message.len() + 8);
    for line in message.split_inclusive(|&byte| byte == b'\n') {
        if line.starts_with(b".") {
            stuffed.push(b'.');
        }
        stuffed.extend_from_slice(line);
    }
    if !stuffed.is_empty() && !stuffed.ends_with(b"\r\n") {
        stuffed.extend_from_slice(b"\r\n");
    }
    stuffed.extend_from_slice(b".\r\n");
    stuffed
}
