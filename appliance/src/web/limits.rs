//! Connection caps and the anonymous request rate of the HTTPS listener. actix-web bounds
//! connections per worker (`max_connections`, set from the total cap) and TLS handshakes in
//! progress (`max_connection_rate`); it has no cap per address, so each connection is
//! counted against its peer's address as it opens ([`PerAddress::on_connect`]) and
//! uncounted when it closes, and a connection beyond the address's share gets `429 Too Many
//! Requests` with `Connection: close` to each request instead of an answer.
//!
//! [`RequestRate`] bounds the requests one address makes to the anonymous endpoints; the
//! personal space, behind its login, keeps its own rules (the login throttle).

use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::HttpResponse;

use crate::serve::slots::{ConnectionRate, Refusal};

/// Open HTTPS connections per peer address.
#[derive(Debug)]
pub(super) struct PerAddress {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in its address's count; uncounts itself when the connection
/// (and with it, its extensions) is dropped.
#[derive(Debug)]
struct Counted {
    ip: IpAddr,
    over: bool,
    counts: Arc<PerAddress>,
}

type TlsStream = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;

impl PerAddress {
    pub(super) fn new(max: usize) -> Arc<Self> {
        Arc::new(PerAddress { max, open: Mutex::new(HashMap::new()) })
    }

    /// Counts a new connection against its peer's address (actix-web's `on_connect`).
    pub(super) fn on_connect(self: &Arc<Self>, connection: &dyn Any, extensions: &mut Extensions) {
        let Some(tls) = connection.downcast_ref::<TlsStream>() else {
            return;
        };
        let Ok(peer) = tls.get_ref().0.peer_addr() else {
            return;
        };
        let ip = peer.ip();
        let Ok(mut open) = self.open.lock() else {
            return;
        };
        let count = open.entry(ip).or_default();
        *count += 1;
        extensions.insert(Counted { ip, over: *count > self.max, counts: self.clone() });
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Ok(mut open) = self.counts.open.lock() {
            if let Some(count) = open.get_mut(&self.ip) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&self.ip);
                }
            }
        }
    }
}

/// Refuses the requests of a connection beyond its address's share.
pub(super) async fn refuse_over_cap(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let over = request.conn_data::<Counted>().is_some_and(|counted| counted.over);
    if over {
        let response = HttpResponse::TooManyRequests()
            .insert_header(("Connection", "close"))
            .insert_header(("Retry-After", "60"))
            .body("Too many connections from your address; close some and try again.\n");
        return Ok(request.into_response(response).map_into_right_body());
    }
    next.call(request).await.map(ServiceResponse::map_into_left_body)
}

/// Requests per source address to the anonymous endpoints (key discovery, the directory's
/// page and files): the token bucket the mail and LDAP doors use for new connections
/// ([`ConnectionRate`]), here spent one token per request, so that one address cannot make
/// the relay read and armour certificates or render the directory without end.
#[derive(Debug)]
pub(super) struct RequestRate(ConnectionRate);

impl RequestRate {
    /// `per_minute` requests a minute, bursts of as many; 0 turns the limit off.
    pub(super) fn new(per_minute: u32) -> RequestRate {
        RequestRate(ConnectionRate::new(per_minute))
    }

    /// Takes a token for a request from `ip` at `now`, or says how long until one comes back.
    fn admit(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        match self.0.admit(ip, now) {
            Err(Refusal::Rate(wait)) => Err(wait),
            _ => Ok(()),
        }
    }
}

/// Answers `429 Too Many Requests`, with `Retry-After` and a sentence, to a request past its
/// address's rate; passes the others on.
pub(super) async fn refuse_over_rate(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let rate = request.app_data::<actix_web::web::Data<RequestRate>>();
    let verdict = match (rate, request.peer_addr()) {
        (Some(rate), Some(peer)) => rate.admit(peer.ip(), Instant::now()),
        _ => Ok(()),
    };
    if let Err(wait) = verdict {
        // Whole seconds, rounded up: a client that waits that long finds a token.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let response = HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", seconds.to_string()))
            .body(format!("Too many requests from your address; try again in {seconds} seconds.\n"));
        return Ok(request.into_response(response).map_into_right_body());
    }
    next.call(request).await.map(ServiceResponse::map_into_left_body)
}
