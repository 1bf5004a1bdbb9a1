//! Session actors: one per connection. Each owns its socket (plain, then TLS after
//! STARTTLS/STLS, or TLS from the start) and drives a sans-I/O protocol machine, performing
//! the effects it asks for through the mailbox actors and the store.
//!
//! - `driver.rs`: the one loop every line protocol runs in (read, idle limits, shutdown,
//!   write, TLS).
//! - `smtp.rs`, `pop3.rs` and `imap.rs`: what the submission and collection machines'
//!   effects mean for the relay (IMAP also hears of its mailbox's changes between commands). A new protocol adds a machine to `caducee-protocol`, a file here and a
//!   [`Service`].
//! - `conn.rs`: the socket, plain or TLS.
//!
//! Every read and every write is bounded in time (idle limits before and after login, a
//! write timeout); before login a session also has an absolute lifetime and a budget of
//! commands, so that no connection slot is held without logging in. A shutdown signal
//! ends idle sessions with a 421/-ERR and lets a message in flight finish first.

mod conn;
mod driver;
mod imap;
mod operators;
mod pop3;
mod smtp;
mod uring;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use caducee_storage::{ConnectionRecord, Protocol, Store, StoreError};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use self::conn::{handshake, handshake_uring, Accepted, Conn};
use self::driver::Driver;
pub use self::driver::Ticket;
pub use self::imap::IMAP_IDLE_AFTER_LOGIN;
pub use self::operators::{OperatorCheck, Operators, Peers};
use crate::clock::Clock;
use crate::imap::ImapServer;
use crate::login::{DoorLogin, Login, LoginThrottle};
use crate::mailbox::{Mailboxes, OpenMailboxes, SessionId};
use crate::monitor::Breaker;
use crate::pop3::Pop3Server;
use crate::smtp::{InFlight, SmtpConfig, SmtpServer};

/// Time limits of a session.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Idle time allowed before a successful login.
    pub idle_before_login: Duration,
    /// Idle time allowed after login (RFC 5321 4.5.3.2 asks at least 5 minutes for SMTP,
    /// RFC 1939 §3 at least 10 minutes for POP3; IMAP's is never less than
    /// [`IMAP_IDLE_AFTER_LOGIN`], RFC 3501 §5.4).
    pub idle_after_login: Duration,
    /// Longest TLS handshake.
    pub tls_handshake: Duration,
    /// Absolute time allowed from the greeting to a successful login, however active the
    /// client: a slot cannot be held without logging in.
    pub login_within: Duration,
    /// Command lines accepted before login (NOOP, CAPA, failed AUTH…); the next one ends the
    /// session with the protocol's closing reply.
    pub commands_before_login: usize,
    /// Longest time one write to the client may take: a client that stops reading is
    /// dropped after it, and its slot freed.
    pub write_timeout: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle_before_login: Duration::from_secs(60),
            idle_after_login: Duration::from_secs(600),
            tls_handshake: Duration::from_secs(30),
            login_within: Duration::from_secs(60),
            commands_before_login: 20,
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// What every session needs from the relay.
#[derive(Clone)]
pub struct SessionContext {
    pub store: Store,
    pub mailboxes: Addr<Mailboxes>,
    /// The accounts whose mailbox is open now, as the registry keeps them.
    pub open_mailboxes: OpenMailboxes,
    pub tls: TlsAcceptor,
    pub smtp: SmtpConfig,
    pub hostname: String,
    pub limits: SessionLimits,
    pub clock: Arc<dyn Clock>,
    /// Becomes true when the relay shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// The monitor: hears of deliveries, collections and refusals; records blocks.
    pub monitor: crate::monitor::MonitorHandle,
    /// The mass-mailing breaker, judged on the session's thread.
    pub breaker: Arc<Breaker>,
    /// Failed logins across sessions, by source address and by account.
    pub logins: Arc<LoginThrottle>,
    /// Password checks running at once. Each argon2id check holds 19 MiB for tens of
    /// milliseconds: unbounded, a burst of logins would take memory without limit.
    pub password_checks: Arc<Semaphore>,
    /// Message bytes held in memory by every submission session together, bounded.
    pub in_flight: InFlight,
    /// On the relay port: who the presented certificates are, and for which domains the
    /// trust list lets them send (`None` elsewhere).
    pub operators: Option<Arc<dyn Operators>>,
    /// The relay's own domain: a recipient there is a mailbox or nobody.
    pub domain: String,
    /// Where practices' mail for other domains can go (`None`: no federation, every
    /// recipient is a mailbox here).
    pub peers: Option<Arc<dyn Peers>>,
    /// The implicit-TLS doors' sockets are read and written through io_uring rather than
    /// tokio's event loop (epoll). Needs the session to run on a tokio-uring runtime.
    pub io_uring_sockets: bool,
}

impl SessionContext {
    /// Logs a mail client in from `source`, through the login check every door shares.
    async fn log_in(&self, door: &'static str, source: &str, username: &str, password: String) -> Login {
        let login =
            DoorLogin { door, store: &self.store, throttle: &self.logins, password_checks: &self.password_checks };
        login.log_in(source, username, password, self.clock.now()).await
    }
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
    /// Port 143 style: STARTTLS, no login before it.
    Imap,
    /// Port 993 style: implicit TLS.
    Imaps,
    /// Port 25 between the operators of the trust space: STARTTLS with a client certificate,
    /// no AUTH.
    Relay,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Submission => "submission",
            Service::Submissions => "submissions",
            Service::Pop3 => "pop3",
            Service::Pop3s => "pop3s",
            Service::Relay => "relay",
            Service::Imap => "imap",
            Service::Imaps => "imaps",
        }
    }

    /// True when TLS starts with the connection (no STARTTLS/STLS).
    pub fn implicit_tls(self) -> bool {
        matches!(self, Service::Submissions | Service::Pop3s | Service::Imaps)
    }

    fn protocol(self) -> Protocol {
        match self {
            Service::Submission | Service::Submissions | Service::Relay => Protocol::Smtp,
            Service::Pop3 | Service::Pop3s => Protocol::Pop3,
            Service::Imap | Service::Imaps => Protocol::Imap,
        }
    }
}

/// A collection session's outcome in the connection log: `ok` once it logged in.
fn login_outcome(logged_in: bool) -> &'static str {
    if logged_in {
        "ok"
    } else {
        "closed"
    }
}

/// Numbers sessions (maildrop lock holders) and salts trace ids.
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// One connection's actor.
struct Session {
    service: Service,
    peer: SocketAddr,
    stream: Option<Accepted>,
    context: SessionContext,
    /// Held for the session's lifetime: the listener's connection slot, released on drop;
    /// moved to the slots of logged-in sessions at login.
    ticket: Option<Box<dyn Ticket>>,
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
        let ticket = self.ticket.take();
        let work = serve_connection(self.service, self.peer, stream, self.context.clone(), ticket);
        ctx.spawn(work.into_actor(self).map(|(), _, ctx| ctx.stop()));
    }
}

/// Starts a session actor for an accepted connection on the current arbiter. `ticket` is
/// told of the login and dropped when the session ends (the listener uses it to count
/// connections).
pub fn start(
    service: Service,
    stream: std::net::TcpStream,
    peer: SocketAddr,
    context: SessionContext,
    ticket: Box<dyn Ticket>,
) -> std::io::Result<()> {
    let stream = if context.io_uring_sockets && service.implicit_tls() {
        Accepted::Uring(stream)
    } else {
        Accepted::Epoll(TcpStream::from_std(stream)?)
    };
    Session { service, peer, stream: Some(stream), context, ticket: Some(ticket) }.start();
    Ok(())
}

/// Runs one connection from the TLS handshake (for implicit TLS) to the connection log.
async fn serve_connection(
    service: Service,
    peer: SocketAddr,
    stream: Accepted,
    context: SessionContext,
    ticket: Option<Box<dyn Ticket>>,
) {
    let started_at = context.clock.now();
    let mut record = ConnectionRecord {
        started_at,
        ended_at: started_at,
        protocol: service.protocol(),
        peer: peer.ip().to_string(),
        account: None,
        outcome: String::new(),
        messages: 0,
    };
    let handshake = match stream {
        Accepted::Epoll(stream) if !service.implicit_tls() => Ok(Conn::Plain(stream)),
        Accepted::Epoll(stream) => handshake(&context, stream).await.map(|tls| Conn::Tls(Box::new(tls))),
        Accepted::Uring(stream) => handshake_uring(&context, stream).await.map(|tls| Conn::Uring(Box::new(tls))),
    };
    let conn = match handshake {
        Ok(conn) => conn,
        Err(outcome) => {
            record.outcome = outcome.into();
            record.ended_at = context.clock.now();
            log_connection(&context.store, record).await;
            return;
        }
    };
    let mut driver = Driver::new(conn, context.clone(), record, ticket);
    let outcome = run_protocol(service, &mut driver, &context).await;
    driver.conn.shutdown(context.limits.write_timeout).await;
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
    log_connection(&context.store, record).await;
}

/// Connection records the store dropped for want of room (see [`connection_records_dropped`]).
static CONNECTION_RECORDS_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Connection records dropped since the process started because the store was past the
/// share of its map the connection log may fill (the rest is kept for deletions).
pub fn connection_records_dropped() -> u64 {
    CONNECTION_RECORDS_DROPPED.load(Ordering::Relaxed)
}

/// Writes the session's line in the connection log (the store tallies sessions that never
/// logged in per minute and address). A record refused for want of room is dropped and
/// counted; the process log says so on the first drop and every thousandth after.
async fn log_connection(store: &Store, record: ConnectionRecord) {
    match store.log_connection(record).await {
        Ok(()) => {}
        Err(StoreError::Full) => {
            let dropped = CONNECTION_RECORDS_DROPPED.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped == 1 || dropped.is_multiple_of(1000) {
                tracing::warn!(dropped, "connection record dropped: the store keeps its last room for deletions");
            }
        }
        Err(error) => tracing::warn!(%error, "connection log write failed"),
    }
}

/// Drives the service's machine with its protocol's effects; returns the outcome.
async fn run_protocol(service: Service, driver: &mut Driver, context: &SessionContext) -> &'static str {
    match service {
        Service::Submission | Service::Submissions => {
            let mut machine =
                SmtpServer::new(context.smtp.clone(), service.implicit_tls()).with_in_flight(context.in_flight.clone());
            driver.run(&mut machine, &mut smtp::Submission::new(context.clone())).await
        }
        Service::Relay => {
            let machine = SmtpServer::new(context.smtp.clone(), false).with_in_flight(context.in_flight.clone());
            driver.run(&mut machine.for_operators(), &mut smtp::Submission::new(context.clone())).await
        }
        Service::Pop3 | Service::Pop3s => {
            let session: SessionId = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
            let mut machine = Pop3Server::new(&context.hostname, service.implicit_tls());
            let mut collection = pop3::Collection::new(context.clone(), session);
            let outcome = driver.run(&mut machine, &mut collection).await;
            collection.release();
            outcome
        }
        Service::Imap | Service::Imaps => {
            let session: SessionId = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
            let mut machine = ImapServer::new(&context.hostname, service.implicit_tls());
            let mut inbox = imap::Inbox::new(context.clone(), session);
            let outcome = driver.run(&mut machine, &mut inbox).await;
            inbox.leave();
            outcome
        }
    }
}
