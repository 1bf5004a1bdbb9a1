//! One accept loop for every listener of the relay (SMTP submission, POP3, LDAP): it checks
//! the source address's connection rate, takes a connection slot from the door's pool (mail
//! or LDAP; see [`super::slots`]), hands the connection to a worker arbiter and starts the
//! service its [`Door`] names there. A client over the limits is told why when the protocol
//! allows it, and closed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_rt::ArbiterHandle;
use caducee_actors::session::{self, Service, SessionContext};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::slots::{ConnectionRate, Refusal, Slot, Slots};
use crate::ldap::LdapContext;

/// What a listener serves.
#[derive(Clone)]
pub(super) enum Door {
    /// SMTP submission or POP3, by a session actor.
    Mail(Service, Box<SessionContext>),
    /// The directory over LDAP; `implicit_tls` for LDAPS.
    Ldap { implicit_tls: bool, context: LdapContext },
}

impl Door {
    /// The service's name, in logs and readiness lines.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Door::Mail(service, _) => service.name(),
            Door::Ldap { implicit_tls: false, .. } => "ldap",
            Door::Ldap { implicit_tls: true, .. } => "ldaps",
        }
    }

    /// The pool of slots this door's connections take from.
    fn slots<'a>(&self, acceptor: &'a Acceptor) -> &'a Arc<Slots> {
        match self {
            Door::Mail(..) => &acceptor.mail_slots,
            Door::Ldap { .. } => &acceptor.ldap_slots,
        }
    }

    /// Tells a refused client why, without waiting on it.
    fn refuse(&self, stream: &TcpStream, refusal: Refusal) {
        let why = match refusal {
            Refusal::Address => "Too many connections from your address; try again later".to_owned(),
            Refusal::Busy => "Too many connections; try again later".to_owned(),
            Refusal::Rate(wait) => {
                format!("Too many connections from your address; try again in {} s", wait.as_secs().max(1))
            }
        };
        let line = match self {
            Door::Mail(Service::Submission | Service::Relay, _) => format!("421 4.7.0 {why}\r\n"),
            Door::Mail(Service::Pop3, _) => format!("-ERR [SYS/TEMP] {why}\r\n"),
            Door::Mail(Service::Imap, _) => format!("* BYE [UNAVAILABLE] {why}\r\n"),
            // TLS has not started: nothing readable can be said. LDAP: closed at once.
            Door::Mail(Service::Submissions | Service::Pop3s | Service::Imaps, _) | Door::Ldap { .. } => String::new(),
        };
        let _ = stream.try_write(line.as_bytes());
    }

    /// Starts serving `stream` on `worker`; `slot` is held until the connection ends.
    fn start(
        &self,
        worker: &ArbiterHandle,
        stream: std::net::TcpStream,
        peer: SocketAddr,
        slot: Slot,
        acceptor: &Acceptor,
    ) {
        let open = acceptor.open.open(self.name());
        match self.clone() {
            Door::Mail(service, context) => {
                // A mail session holds back the shutdown until it ends (a message in
                // flight finishes first).
                let ticket: Box<dyn session::Ticket> =
                    Box::new(MailTicket { slot, _alive: acceptor.alive.clone(), _open: open });
                worker.spawn_fn(move || {
                    if let Err(error) = session::start(service, stream, peer, *context, ticket) {
                        tracing::warn!(%error, "could not adopt a connection");
                    }
                });
            }
            Door::Ldap { implicit_tls, context } => {
                // LDAP answers from memory: nothing to finish, the shutdown does not wait.
                worker.spawn(async move {
                    let (_slot, _open) = (slot, open);
                    if let Ok(stream) = TcpStream::from_std(stream) {
                        crate::ldap::serve_connection(stream, implicit_tls, context).await;
                    }
                });
            }
        }
    }
}

/// Held by every mail session: the shutdown waits until every clone is dropped.
pub(super) type Alive = mpsc::Sender<()>;

/// A mail session's slot, its hold on the shutdown, and its place in the open count.
struct MailTicket {
    slot: Slot,
    _alive: Alive,
    _open: OpenSession,
}

/// The sessions open now, by door (`/metrics`).
#[derive(Debug)]
pub(crate) struct OpenSessions(Mutex<BTreeMap<&'static str, u64>>);

impl OpenSessions {
    /// Every door at zero, so that each shows before its first session.
    pub(super) fn new(doors: &[&'static str]) -> OpenSessions {
        OpenSessions(Mutex::new(doors.iter().map(|door| (*door, 0)).collect()))
    }

    fn open(self: &Arc<Self>, door: &'static str) -> OpenSession {
        *self.counts().entry(door).or_insert(0) += 1;
        OpenSession { sessions: self.clone(), door }
    }

    /// (door, sessions open).
    pub(crate) fn by_door(&self) -> Vec<(&'static str, u64)> {
        self.counts().iter().map(|(door, open)| (*door, *open)).collect()
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, u64>> {
        // A count is still right after a panic elsewhere: no update spans two statements.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One open session; closes itself in the count on drop.
struct OpenSession {
    sessions: Arc<OpenSessions>,
    door: &'static str,
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        if let Some(open) = self.sessions.counts().get_mut(self.door) {
            *open = open.saturating_sub(1);
        }
    }
}

impl session::Ticket for MailTicket {
    fn logged_in(&mut self) {
        self.slot.logged_in();
    }
}

/// What every accept loop shares.
#[derive(Clone)]
pub(super) struct Acceptor {
    pub(super) workers: Arc<Vec<ArbiterHandle>>,
    /// SMTP and POP3 sessions, with a share reserved for those that logged in.
    pub(super) mail_slots: Arc<Slots>,
    /// LDAP connections: a pool of their own, so that anonymous directory reads cannot
    /// take the mail sessions' slots.
    pub(super) ldap_slots: Arc<Slots>,
    /// New connections per source address, every door together.
    pub(super) rate: Arc<ConnectionRate>,
    pub(super) alive: Alive,
    pub(super) shutdown: watch::Receiver<bool>,
    /// Sessions open now, by door.
    pub(super) open: Arc<OpenSessions>,
}

/// Accepts connections on `listener` until shutdown begins, starting `door`'s service for
/// each on the next worker in turn.
pub(super) async fn accept_loop(listener: TcpListener, door: Door, acceptor: Acceptor) {
    let mut shutdown = acceptor.shutdown.clone();
    let mut next_worker = 0usize;
    while let Some((stream, peer)) = next_connection(&listener, door.name(), &mut shutdown).await {
        let admitted = acceptor.rate.admit(peer.ip(), Instant::now());
        let slot = match admitted.and_then(|()| door.slots(&acceptor).take(peer.ip())) {
            Ok(slot) => slot,
            Err(refusal) => {
                tracing::debug!(service = door.name(), peer = %peer.ip(), ?refusal, "connection refused");
                door.refuse(&stream, refusal);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let std_stream = match stream.into_std() {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(%error, "could not hand over a connection");
                continue;
            }
        };
        let worker = &acceptor.workers[next_worker % acceptor.workers.len()];
        next_worker = next_worker.wrapping_add(1);
        door.start(worker, std_stream, peer, slot, &acceptor);
    }
}

/// The next accepted connection, or `None` once shutdown begins. Accept errors (EMFILE and
/// friends) are reported and waited out: the limit clears as sessions end.
async fn next_connection(
    listener: &TcpListener,
    service: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => return Some(accepted),
                Err(error) => tracing::warn!(%error, service, "accept failed"),
            },
            _ = shutdown.wait_for(|stop| *stop) => return None,
        }
    }
}
