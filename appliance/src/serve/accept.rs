//! One accept loop for every listener of the relay (SMTP submission, POP3, LDAP): it takes
//! a connection slot (a bound per source address and overall), hands the connection to a
//! worker arbiter and starts the service its [`Door`] names there. A client over the
//! limits is told why when the protocol allows it, and closed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use actix_rt::ArbiterHandle;
use caducee_actors::session::{self, Service, SessionContext};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::ldap::LdapContext;

/// What a listener serves.
#[derive(Clone)]
pub(super) enum Door {
    /// SMTP submission or POP3, by a session actor.
    Mail(Service, SessionContext),
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

    /// Tells a client refused for lack of a slot why, without waiting on it.
    fn refuse_busy(&self, stream: &TcpStream) {
        let line: &[u8] = match self {
            Door::Mail(Service::Submission, _) => {
                b"421 4.7.0 Too many connections from your address; try again later\r\n"
            }
            Door::Mail(Service::Pop3, _) => b"-ERR [SYS/TEMP] Too many connections from your address\r\n",
            // TLS has not started: nothing readable can be said. LDAP: closed at once.
            Door::Mail(Service::Submissions | Service::Pop3s, _) | Door::Ldap { .. } => b"",
        };
        let _ = stream.try_write(line);
    }

    /// Starts serving `stream` on `worker`; `slot` is held until the connection ends.
    fn start(&self, worker: &ArbiterHandle, stream: std::net::TcpStream, peer: SocketAddr, slot: Slot, alive: &Alive) {
        match self.clone() {
            Door::Mail(service, context) => {
                // A mail session holds back the shutdown until it ends (a message in
                // flight finishes first).
                let ticket: Box<dyn std::any::Any + Send> = Box::new((slot, alive.clone()));
                worker.spawn_fn(move || match TcpStream::from_std(stream) {
                    Ok(stream) => session::start(service, stream, peer, context, ticket),
                    Err(error) => tracing::warn!(%error, "could not adopt a connection"),
                });
            }
            Door::Ldap { implicit_tls, context } => {
                // LDAP answers from memory: nothing to finish, the shutdown does not wait.
                worker.spawn(async move {
                    let _slot = slot;
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

/// What every accept loop shares.
#[derive(Clone)]
pub(super) struct Acceptor {
    pub(super) workers: Arc<Vec<ArbiterHandle>>,
    pub(super) slots: Arc<Slots>,
    pub(super) alive: Alive,
    pub(super) shutdown: watch::Receiver<bool>,
}

/// Accepts connections on `listener` until shutdown begins, starting `door`'s service for
/// each on the next worker in turn.
pub(super) async fn accept_loop(listener: TcpListener, door: Door, acceptor: Acceptor) {
    let Acceptor { workers, slots, alive, mut shutdown } = acceptor;
    let mut next_worker = 0usize;
    while let Some((stream, peer)) = next_connection(&listener, door.name(), &mut shutdown).await {
        let Some(slot) = slots.take(peer.ip(), slots.clone()) else {
            door.refuse_busy(&stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let std_stream = match stream.into_std() {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(%error, "could not hand over a connection");
                continue;
            }
        };
        let worker = &workers[next_worker % workers.len()];
        next_worker = next_worker.wrapping_add(1);
        door.start(worker, std_stream, peer, slot, &alive);
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

/// Connection slots: a bound per source address and overall.
#[derive(Debug)]
pub(super) struct Slots {
    per_ip_max: usize,
    total_max: usize,
    used: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// A taken slot; frees itself on drop.
#[derive(Debug)]
pub(super) struct Slot {
    ip: IpAddr,
    slots: Arc<Slots>,
}

impl Slots {
    pub(super) fn new(per_ip_max: usize, total_max: usize) -> Self {
        Slots { per_ip_max, total_max, used: Mutex::new((0, HashMap::new())) }
    }

    fn take(&self, ip: IpAddr, this: Arc<Slots>) -> Option<Slot> {
        let mut used = self.used.lock().ok()?;
        let (total, per_ip) = &mut *used;
        let count = per_ip.entry(ip).or_default();
        if *count >= self.per_ip_max || *total >= self.total_max {
            return None;
        }
        *count += 1;
        *total += 1;
        Some(Slot { ip, slots: this })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut used) = self.slots.used.lock() {
            let (total, per_ip) = &mut *used;
            *total -= 1;
            if let Some(count) = per_ip.get_mut(&self.ip) {
                *count -= 1;
                if *count == 0 {
                    per_ip.remove(&self.ip);
                }
            }
        }
    }
}
