//! Session actors: one per connection. Each owns its socket (plain, then TLS after
//! STARTTLS/STLS, or TLS from the start) and drives a sans-I/O protocol machine, performing
//! the effects it asks for through the mailbox actors and the store.
//!
//! Every read is bounded in time (idle limits before and after login); a shutdown signal
//! ends idle sessions with a 421/-ERR and lets a message in flight finish first.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use caducee_storage::{
    verify_password, Account, AccountId, AccountState, Address, ConnectionRecord, Protocol, Store, StoreError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::clock::Clock;
use crate::keyvault;
use crate::mailbox::{self, Lookup, Mailboxes, SessionId};
use crate::monitor::{Admission, BlockSender, Breaker, Collected, Delivered, QuotaRefused, RecipientRefused, Refused};
use crate::pop3::{self, MaildropError, Pop3Server};
use crate::smtp::{self, Authenticated, DeliveryVerdict, RecipientVerdict, SmtpConfig, SmtpServer};

/// Read buffer per connection.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Messages larger than this are sealed on the blocking pool, not on the event loop.
const SEAL_INLINE_BYTES_MAX: usize = 256 * 1024;

/// Time limits of a session.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Idle time allowed before a successful login.
    pub idle_before_login: Duration,
    /// Idle time allowed after login (RFC 5321 4.5.3.2 asks at least 5 minutes for SMTP,
    /// RFC 1939 §3 at least 10 minutes for POP3).
    pub idle_after_login: Duration,
    /// Longest TLS handshake.
    pub tls_handshake: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle_before_login: Duration::from_secs(60),
            idle_after_login: Duration::from_secs(600),
            tls_handshake: Duration::from_secs(30),
        }
    }
}

/// What every session needs from the relay.
#[derive(Clone)]
pub struct SessionContext {
    pub store: Store,
    pub mailboxes: Addr<Mailboxes>,
    pub tls: TlsAcceptor,
    pub smtp: SmtpConfig,
    pub hostname: String,
    pub limits: SessionLimits,
    pub clock: Arc<dyn Clock>,
    /// Becomes true when the relay shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// The monitor: hears of deliveries, collections and refusals; records blocks.
    pub monitor: Addr<crate::monitor::Monitor>,
    /// The mass-mailing breaker, judged on the session's thread.
    pub breaker: Arc<Breaker>,
    /// Failed logins across sessions, by source address and by account.
    pub logins: Arc<crate::throttle::LoginThrottle>,
    /// Password checks running at once. Each argon2id check holds 19 MiB for tens of
    /// milliseconds: unbounded, a burst of logins would take memory without limit.
    pub password_checks: Arc<Semaphore>,
}

impl std::fmt::Debug for SessionContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionContext").field("hostname", &self.hostname).finish()
    }
}

/// Which protocol a listener speaks, and whether TLS starts at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Port 587 style: STARTTLS.
    Submission,
    /// Port 465 style: implicit TLS.
    Submissions,
    /// Port 110 style: STLS.
    Pop3,
    /// Port 995 style: implicit TLS.
    Pop3s,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Submission => "submission",
            Service::Submissions => "submissions",
            Service::Pop3 => "pop3",
            Service::Pop3s => "pop3s",
        }
    }

    fn implicit_tls(self) -> bool {
        matches!(self, Service::Submissions | Service::Pop3s)
    }
}

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// One connection's actor.
struct Session {
    service: Service,
    peer: SocketAddr,
    stream: Option<TcpStream>,
    context: SessionContext,
    /// Held for the session's lifetime: the listener's connection slot, released on drop.
    _ticket: Box<dyn std::any::Any + Send>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("service", &self.service).field("peer", &self.peer).finish()
    }
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(stream) = self.stream.take() else {
            ctx.stop();
            return;
        };
        let (service, peer, context) = (self.service, self.peer, self.context.clone());
        let work = async move {
            let started_at = context.clock.now();
            let mut record = ConnectionRecord {
                started_at,
                ended_at: started_at,
                protocol: match service {
                    Service::Submission | Service::Submissions => Protocol::Smtp,
                    Service::Pop3 | Service::Pop3s => Protocol::Pop3,
                },
                peer: peer.ip().to_string(),
                account: None,
                outcome: String::new(),
                messages: 0,
            };
            let conn = if service.implicit_tls() {
                match handshake(&context, stream).await {
                    Ok(tls) => Conn::Tls(Box::new(tls)),
                    Err(outcome) => {
                        record.outcome = outcome.into();
                        record.ended_at = context.clock.now();
                        let _ = context.store.log_connection(record).await;
                        return;
                    }
                }
            } else {
                Conn::Plain(stream)
            };
            let mut driver = Driver {
                conn,
                context: context.clone(),
                chunk: vec![0; READ_CHUNK_BYTES].into_boxed_slice(),
                input: Vec::new(),
                record,
            };
            let outcome = match service {
                Service::Submission | Service::Submissions => driver.run_smtp(service.implicit_tls()).await,
                Service::Pop3 | Service::Pop3s => driver.run_pop3(service.implicit_tls()).await,
            };
            driver.conn.shutdown().await;
            let mut record = driver.record;
            record.outcome = outcome.to_owned();
            record.ended_at = context.clock.now();
            tracing::info!(
                protocol = ?record.protocol,
                peer = %record.peer,
                account = record.account.as_deref().unwrap_or("-"),
                outcome = %record.outcome,
                messages = record.messages,
                "session ended"
            );
            if let Err(error) = context.store.log_connection(record).await {
                tracing::warn!(%error, "connection log write failed");
            }
        };
        ctx.spawn(work.into_actor(self).map(|(), _, ctx| ctx.stop()));
    }
}

/// Starts a session actor for an accepted connection on the current arbiter. `ticket` is
/// dropped when the session ends (the listener uses it to count connections).
/// Checks a password against an account's stored hash, or against a dummy one when there
/// is no such account, so that timing does not reveal which accounts exist. One check per
/// permit of `checks` at a time (each holds 19 MiB); waiting for a permit is the
/// back-pressure a burst of logins feels. Every login of the relay goes through here: SMTP,
/// POP3, LDAP binds, the personal space.
pub async fn check_password(checks: &Arc<tokio::sync::Semaphore>, stored: Option<String>, password: String) -> bool {
    let hash = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
    // The semaphore is never closed, so a permit always comes.
    let Ok(permit) = checks.clone().acquire_owned().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let valid = verify_password(&password, &hash);
        drop(permit);
        valid
    })
    .await
    .unwrap_or(false)
}

pub fn start(
    service: Service,
    stream: TcpStream,
    peer: SocketAddr,
    context: SessionContext,
    ticket: Box<dyn std::any::Any + Send>,
) {
    Session { service, peer, stream: Some(stream), context, _ticket: ticket }.start();
}

async fn handshake(context: &SessionContext, stream: TcpStream) -> Result<TlsStream<TcpStream>, &'static str> {
    match tokio::time::timeout(context.limits.tls_handshake, context.tls.accept(stream)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(_)) => Err("tls-failed"),
        Err(_) => Err("tls-timeout"),
    }
}

/// A connection, before or after TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while switching to TLS.
    Gone,
}

impl Conn {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf).await,
            Conn::Tls(s) => s.read(buf).await,
            Conn::Gone => Ok(0),
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(bytes).await,
            Conn::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Conn::Gone => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            Conn::Plain(s) => s.shutdown().await,
            Conn::Tls(s) => s.shutdown().await,
            Conn::Gone => Ok(()),
        };
    }

    async fn start_tls(&mut self, context: &SessionContext) -> Result<(), &'static str> {
        let Conn::Plain(stream) = std::mem::replace(self, Conn::Gone) else {
            return Err("tls-twice");
        };
        *self = Conn::Tls(Box::new(handshake(context, stream).await?));
        Ok(())
    }
}

/// How a login went.
enum Login {
    Ok(Account),
    Failed,
    /// Refused without checking: too many recent failures from the source or for the account.
    Throttled,
}

impl Login {
    fn account(self) -> Option<Account> {
        match self {
            Login::Ok(account) => Some(account),
            Login::Failed | Login::Throttled => None,
        }
    }
}

/// Why a read ended.
enum Input {
    Bytes,
    Closed,
    Idle,
    Shutdown,
}

struct Driver {
    conn: Conn,
    context: SessionContext,
    /// Read buffer, reused for every read of the session.
    chunk: Box<[u8]>,
    input: Vec<u8>,
    record: ConnectionRecord,
}

impl Driver {
    /// Reads more input, within the idle limit, unless the relay is shutting down.
    async fn read_more(&mut self, logged_in: bool, finish_first: bool) -> Input {
        let idle = if logged_in { self.context.limits.idle_after_login } else { self.context.limits.idle_before_login };
        let mut shutdown = self.context.shutdown.clone();
        if *shutdown.borrow() && !finish_first {
            return Input::Shutdown;
        }
        tokio::select! {
            read = tokio::time::timeout(idle, self.conn.read(&mut self.chunk)) => match read {
                Ok(Ok(0)) | Ok(Err(_)) => Input::Closed,
                Ok(Ok(n)) => {
                    self.input.extend_from_slice(&self.chunk[..n]);
                    Input::Bytes
                }
                Err(_) => Input::Idle,
            },
            _ = shutdown.wait_for(|stop| *stop), if !finish_first => Input::Shutdown,
        }
    }

    async fn authenticate(&self, username: String, password: String) -> Login {
        let now = self.context.clock.now();
        let source = self.record.peer.clone();
        if self.context.logins.is_locked(&source, &username, now) {
            tracing::warn!(peer = %source, "login refused: too many recent failures");
            return Login::Throttled;
        }
        let Ok(address) = Address::parse(&username) else {
            self.context.logins.failed(&source, &username, now);
            return Login::Failed;
        };
        // A closed account cannot log in; it is checked like a wrong password, after the hash.
        let account = self.context.store.account_by_address(&address).ok().flatten();
        let closed = account
            .as_ref()
            .is_some_and(|a| self.context.store.account_state(a.id).is_ok_and(|s| s.closed_at.is_some()));
        let stored = account.as_ref().map(|a| a.password_hash.clone());
        let valid = check_password(&self.context.password_checks, stored, password).await;
        match account.filter(|_| valid && !closed) {
            Some(account) => {
                self.context.logins.succeeded(&username);
                Login::Ok(account)
            }
            None => {
                self.context.logins.failed(&source, &username, now);
                Login::Failed
            }
        }
    }

    async fn run_smtp(&mut self, implicit_tls: bool) -> &'static str {
        let mut machine = SmtpServer::new(self.context.smtp.clone(), implicit_tls);
        // The authenticated account, for the monitor.
        let mut sender: Option<(AccountId, Address)> = None;
        loop {
            if machine.has_output() && self.conn.write_all(&machine.take_output()).await.is_err() {
                return "write-failed";
            }
            if machine.is_closed() {
                return "closed";
            }
            let (used, effect) = machine.receive(&self.input);
            self.input.drain(..used);
            let Some(effect) = effect else {
                if machine.has_output() {
                    continue; // write the replies out before waiting for more input
                }
                match self.read_more(machine.user().is_some(), machine.in_data()).await {
                    Input::Bytes => continue,
                    Input::Closed => return "dropped",
                    Input::Idle => {
                        machine.shutdown("Idle too long; closing");
                        let _ = self.conn.write_all(&machine.take_output()).await;
                        return "timeout";
                    }
                    Input::Shutdown => {
                        machine.shutdown("Service shutting down; try again shortly");
                        let _ = self.conn.write_all(&machine.take_output()).await;
                        return "shutdown";
                    }
                }
            };
            match effect {
                smtp::Effect::Authenticate { username, password } => {
                    match self.authenticate(username, password).await {
                        Login::Throttled => machine.login_throttled(),
                        login => {
                            let account = login.account();
                            self.record.account = account.as_ref().map(|a| a.address.to_string());
                            sender = account.as_ref().map(|a| (a.id, a.address.clone()));
                            machine.authenticated(account.map(|a| Authenticated { account: a.id, address: a.address }));
                        }
                    }
                }
                smtp::Effect::CheckRecipient { address, declared_bytes } => {
                    let verdict = match self.context.mailboxes.send(Lookup(address.clone())).await {
                        Ok(Some(mailbox)) => mailbox
                            .addr
                            .send(mailbox::CheckRecipient { declared_bytes })
                            .await
                            .unwrap_or(RecipientVerdict::TryLater),
                        Ok(None) => RecipientVerdict::Unknown,
                        Err(_) => RecipientVerdict::TryLater,
                    };
                    match &verdict {
                        RecipientVerdict::Unknown => {
                            self.context.monitor.do_send(Refused { reason: "unknown-recipient" })
                        }
                        RecipientVerdict::Disabled(_) => {
                            self.context.monitor.do_send(Refused { reason: "reception-disabled" })
                        }
                        RecipientVerdict::OverQuota => self.context.monitor.do_send(Refused { reason: "over-quota" }),
                        RecipientVerdict::Accept(_) | RecipientVerdict::TryLater => {}
                    }
                    if let RecipientVerdict::OverQuota = &verdict {
                        self.context.monitor.do_send(QuotaRefused { recipient: address.clone() });
                    }
                    if let (RecipientVerdict::Disabled(reason), Some((id, from))) = (&verdict, &sender) {
                        if reason.starts_with("the mailbox is") || reason.starts_with("the account is closed") {
                            self.context.monitor.do_send(RecipientRefused {
                                sender: *id,
                                sender_address: from.clone(),
                                recipient: address,
                                reason: reason.clone(),
                            });
                        }
                    }
                    machine.recipient_checked(verdict);
                }
                smtp::Effect::Deliver(delivery) => {
                    let verdict = self.deliver(&machine, sender.as_ref(), delivery).await;
                    if matches!(verdict, DeliveryVerdict::Stored(_)) {
                        self.record.messages += 1;
                    }
                    machine.delivered(verdict);
                }
                smtp::Effect::ContentRefused => {
                    self.context.monitor.do_send(Refused { reason: "not-encrypted" });
                }
                smtp::Effect::StartTls => {
                    if self.conn.write_all(&machine.take_output()).await.is_err() {
                        return "write-failed";
                    }
                    // RFC 3207 §6: anything pipelined after STARTTLS is discarded.
                    self.input.clear();
                    if let Err(outcome) = self.conn.start_tls(&self.context).await {
                        return outcome;
                    }
                    machine.tls_started();
                }
                smtp::Effect::Close => {
                    let _ = self.conn.write_all(&machine.take_output()).await;
                    return if machine.user().is_some() { "ok" } else { "closed" };
                }
            }
        }
    }

    async fn deliver(
        &self,
        machine: &SmtpServer,
        sender: Option<&(AccountId, Address)>,
        delivery: smtp::Delivery,
    ) -> DeliveryVerdict {
        let started = std::time::Instant::now();
        let store = &self.context.store;
        let now = self.context.clock.now();
        let Some((sender_id, sender_address)) = sender else {
            return DeliveryVerdict::Failed; // the machine delivers only after AUTH
        };
        if let Ok(AccountState { blocked: Some(blocked), .. }) = store.account_state(*sender_id) {
            self.context.monitor.do_send(Refused { reason: "blocked" });
            return DeliveryVerdict::Blocked(blocked.reason);
        }
        let recipients: Vec<Address> = delivery.recipients.iter().map(|(_, address)| address.clone()).collect();
        match self.context.breaker.judge(*sender_id, &recipients, now) {
            Admission::Admit => {}
            Admission::Throttle(why) => {
                tracing::warn!(sender = %sender_address, %why, "submission throttled");
                self.context.monitor.do_send(Refused { reason: "throttled" });
                return DeliveryVerdict::Throttled(why);
            }
            Admission::Blocked(reason) => {
                self.context.monitor.do_send(Refused { reason: "throttled" });
                let block = BlockSender { sender: *sender_id, sender_address: sender_address.clone(), reason };
                let reason = block.reason.clone();
                let _ = self.context.monitor.send(block).await;
                return DeliveryVerdict::Blocked(reason);
            }
        }
        // SPEC R-MSG-3: a recipient with a current certificate gets only what is encrypted
        // to it. Read per message: a revocation counts from the next submission on.
        for (id, address) in &delivery.recipients {
            let certificates = match store.certificates(*id) {
                Ok(certificates) => certificates,
                Err(error) => {
                    tracing::error!(%error, "reading a recipient's certificates failed");
                    return DeliveryVerdict::Failed;
                }
            };
            if let Err(why) = keyvault::check_recipient_keys(&certificates, &delivery.content.recipients, now) {
                self.context.monitor.do_send(Refused { reason: "wrong-key" });
                return DeliveryVerdict::WrongKey { recipient: address.clone(), why };
            }
        }
        let trace_id = format!("{:x}", now.0 ^ NEXT_SESSION.fetch_add(1, Ordering::Relaxed).rotate_left(40));
        let date = httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_millis(now.0));
        let header = smtp::received_header(
            &self.record.peer,
            machine.helo(),
            &self.context.hostname,
            machine.is_tls(),
            &trace_id,
            &date,
        );
        let mut stored = Vec::with_capacity(header.len() + delivery.body.len());
        stored.extend_from_slice(header.as_bytes());
        stored.extend_from_slice(&delivery.body);
        drop(delivery.body);
        let sealed = if stored.len() <= SEAL_INLINE_BYTES_MAX {
            store.seal(stored)
        } else {
            let sealer = store.clone();
            match tokio::task::spawn_blocking(move || sealer.seal(stored)).await {
                Ok(sealed) => sealed,
                Err(_) => return DeliveryVerdict::Failed,
            }
        };
        let sealed = match sealed {
            Ok(sealed) => sealed,
            Err(_) => return DeliveryVerdict::Failed,
        };
        let recipients: Vec<AccountId> = delivery.recipients.iter().map(|(id, _)| *id).collect();
        match store.accept(delivery.sender, recipients.clone(), sealed, now).await {
            Ok((message, _)) => {
                self.context.monitor.do_send(Delivered { recipients, processing: started.elapsed() });
                DeliveryVerdict::Stored(format!("{}.{trace_id}", message.0))
            }
            Err(StoreError::QuotaExceeded(address)) => {
                self.context.monitor.do_send(QuotaRefused { recipient: address.clone() });
                DeliveryVerdict::QuotaExceeded(address)
            }
            Err(StoreError::Full) => DeliveryVerdict::StoreFull,
            Err(error) => {
                tracing::error!(%error, "storing an accepted message failed");
                DeliveryVerdict::Failed
            }
        }
    }

    async fn run_pop3(&mut self, implicit_tls: bool) -> &'static str {
        let session: SessionId = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
        let mut machine = Pop3Server::new(&self.context.hostname, implicit_tls);
        let mut user: Option<Account> = None;
        let mut mailbox: Option<Addr<mailbox::Mailbox>> = None;
        let mut pending_effect: Option<pop3::Effect> = None;
        let outcome = loop {
            if machine.has_output() && self.conn.write_all(&machine.take_output()).await.is_err() {
                break "write-failed";
            }
            if machine.is_closed() && pending_effect.is_none() {
                break if user.is_some() { "ok" } else { "closed" };
            }
            let effect = match pending_effect.take() {
                Some(effect) => effect,
                None => {
                    let (used, effect) = machine.receive(&self.input);
                    self.input.drain(..used);
                    match effect {
                        Some(effect) => effect,
                        None if machine.has_output() => continue,
                        None => match self.read_more(machine.holds_maildrop(), false).await {
                            Input::Bytes => continue,
                            Input::Closed => break "dropped",
                            Input::Idle => {
                                machine.shutdown("Idle too long; closing");
                                let _ = self.conn.write_all(&machine.take_output()).await;
                                break "timeout";
                            }
                            Input::Shutdown => {
                                machine.shutdown("Service shutting down; try again shortly");
                                let _ = self.conn.write_all(&machine.take_output()).await;
                                break "shutdown";
                            }
                        },
                    }
                }
            };
            match effect {
                pop3::Effect::Authenticate { username, password } => {
                    match self.authenticate(username, password).await {
                        Login::Throttled => machine.login_throttled(),
                        login => {
                            user = login.account();
                            self.record.account = user.as_ref().map(|a| a.address.to_string());
                            pending_effect = machine.authenticated(user.is_some());
                        }
                    }
                }
                pop3::Effect::OpenMaildrop => {
                    let result = match &user {
                        Some(account) => match self.context.mailboxes.send(Lookup(account.address.clone())).await {
                            Ok(Some(handle)) => {
                                let opened = handle
                                    .addr
                                    .send(mailbox::OpenMaildrop { session, at: self.context.clock.now() })
                                    .await
                                    .unwrap_or(Err(MaildropError::Unavailable));
                                if opened.is_ok() {
                                    mailbox = Some(handle.addr);
                                }
                                opened
                            }
                            _ => Err(MaildropError::Unavailable),
                        },
                        None => Err(MaildropError::Unavailable),
                    };
                    machine.maildrop_opened(result);
                }
                pop3::Effect::Retrieve { message, top_lines } => {
                    let content = self.context.store.read_message(message).ok();
                    machine.retrieved(content, top_lines);
                    if top_lines.is_none() {
                        self.record.messages += 1;
                    }
                }
                pop3::Effect::Update { deleted } => {
                    let committed = match mailbox.take() {
                        Some(addr) => {
                            let at = self.context.clock.now();
                            match addr.send(mailbox::CloseMaildrop { session, deleted, at }).await {
                                Ok(Ok(expunged)) => {
                                    let accepted_at = expunged.accepted_at;
                                    self.context.monitor.do_send(Collected { at, accepted_at });
                                    true
                                }
                                _ => false,
                            }
                        }
                        None => false,
                    };
                    pending_effect = Some(machine.updated(committed));
                }
                pop3::Effect::StartTls => {
                    if self.conn.write_all(&machine.take_output()).await.is_err() {
                        break "write-failed";
                    }
                    self.input.clear();
                    if let Err(outcome) = self.conn.start_tls(&self.context).await {
                        break outcome;
                    }
                    machine.tls_started();
                }
                pop3::Effect::Close => {
                    let _ = self.conn.write_all(&machine.take_output()).await;
                    break if user.is_some() { "ok" } else { "closed" };
                }
            }
        };
        // Any way out but QUIT leaves the maildrop as it was (RFC 1939 §6).
        if let Some(addr) = mailbox {
            addr.do_send(mailbox::ReleaseMaildrop { session });
        }
        outcome
    }
}

/// An argon2id hash of a random string, verified against when the account does not exist.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2xHkqB1W0P4zsH6jTNwJ8sQ7QyN2cA2u0s4b3tC0rIQ";
