//! The outbound queue's delivery: practices' mail for recipients in peer operators'
//! domains leaves from here, to the operator the trust list binds to each domain.
//!
//! A message is queued in the commit that accepts it (one record per destination domain;
//! `250` means "on disk, queued"). The [`Deliverer`] looks at the queue every
//! `[federation] every_secs` and whenever a message was just queued. For each record due,
//! it finds the next hop (`[federation.routes]`, else the domain's DNS MX, else the domain
//! itself), speaks SMTP with STARTTLS required, presents this operator's certificate, and
//! accepts the peer only when its certificate is of the trust space's authority, valid for
//! the host name, and its subject bound to that domain in the trust list. Each recipient
//! is tracked on its own: a `250` at `RCPT` and after the data delivers it, a `5xx` fails
//! it for good, anything else (a `4xx`, no connection, a TLS or trust failure) waits for
//! the next attempt — 1, 2, 4 … minutes, up to `retry_max_minutes` — until
//! `expire_after_hours`, when it fails. A failed recipient's sender gets a delivery status
//! notification (RFC 3464) in its mailbox, signed by the relay. The stored copy is erased
//! once every recipient, here or at a peer, has been served.
//!
//! Delivery is at least once: a peer's `250` whose outcome the relay could not commit
//! (a crash between the two) is delivered again at the next attempt.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use caducee_actors::clock::Clock;
use caducee_actors::monitor::{failure_notification, Failure};
use caducee_actors::relay_key::RelayKey;
use caducee_actors::session::Peers;
use caducee_storage::{Address, Alert, AlertKind, Millis, OutboundRecord, RelayOutcome, Store};
use mail_send::smtp::message::Parameters;
use mail_send::SmtpClientBuilder;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;

use super::inbound::{subject, TrustSpace};
use super::trust::Unbound;

/// Longest one conversation with a peer may take.
const PEER_TIMEOUT: Duration = Duration::from_secs(120);
/// The port of a next hop found by MX (or named without one in a route).
const SMTP_PORT: u16 = 25;
/// Messages sent on one connection before it is closed and another opened.
const MESSAGES_PER_CONNECTION: usize = 100;
/// Connections open at once to one peer domain, at most: one more for every
/// [`MESSAGES_PER_LANE`] messages due (Postfix's default destination concurrency is 20; a
/// peer's connection rate per address is the bound that matters).
const CONNECTIONS_PER_DOMAIN: usize = 4;
/// Messages due that make another connection worth opening.
const MESSAGES_PER_LANE: usize = 50;

/// How the queue delivers.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// The name this relay gives in `EHLO`.
    pub hostname: String,
    /// The relay's own domain (the notifications' sender).
    pub domain: String,
    /// Next hops that override DNS: domain → (host, port).
    pub routes: BTreeMap<String, (String, u16)>,
    pub retry_max: Duration,
    pub expire_after: Duration,
    /// Time between looks at the queue.
    pub every: Duration,
    /// The oldest entry waiting longer than this raises an alert.
    pub alert_after: Duration,
}

/// What the deliverer counts, for `/metrics`: every recipient's outcome, and the TLS
/// failures per peer (an expired certificate, another authority's, a wrong name).
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    deliveries: Family<Outcome, Counter>,
    tls_failures: Family<Peer, Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Peer {
    peer: String,
}

impl Metrics {
    fn count(&self, outcome: &str, recipients: usize) {
        self.deliveries.get_or_create(&Outcome { outcome: outcome.into() }).inc_by(recipients as u64);
    }

    /// The queue's gauges (read from the store now) and the deliverer's counters, in the
    /// OpenMetrics text format, without its `# EOF`.
    pub fn render(&self, store: &Store, now: Millis) -> String {
        let queue = store.outbound().unwrap_or_default();
        let entries = Gauge::<i64>::default();
        entries.set(queue.len() as i64);
        let waiting = Gauge::<i64>::default();
        waiting.set(queue.iter().map(|(_, r)| r.pending().count()).sum::<usize>() as i64);
        let oldest = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let oldest_at = queue.iter().map(|(_, r)| r.queued_at.0).min();
        oldest.set(oldest_at.map_or(0.0, |at| now.0.saturating_sub(at) as f64 / 1000.0));
        let mut registry = Registry::default();
        registry.register("caducee_outbound_queue_entries", "Messages waiting per peer domain", entries);
        registry.register("caducee_outbound_queue_recipients", "Recipients waiting in the outbound queue", waiting);
        registry.register(
            "caducee_outbound_queue_oldest_age_seconds",
            "How long the oldest entry of the outbound queue has waited",
            oldest,
        );
        registry.register(
            "caducee_outbound_deliveries",
            "Outbound recipients by outcome: delivered, failed (for good), deferred (an attempt to try again)",
            self.deliveries.clone(),
        );
        registry.register(
            "caducee_outbound_tls_failures",
            "Outbound connections whose TLS failed, by peer host:port",
            self.tls_failures.clone(),
        );
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
            return String::new();
        }
        text.replace("# EOF\n", "")
    }
}

/// The queue's deliverer: the only sender of the outbound queue.
pub struct Deliverer {
    store: Store,
    clock: Arc<dyn Clock>,
    space: Arc<TrustSpace>,
    tls: tokio_rustls::TlsConnector,
    relay_key: Arc<RelayKey>,
    config: OutboundConfig,
    metrics: Metrics,
    /// The system's DNS resolver, made once (it reads resolv.conf); the reason when it could
    /// not be made, said at each attempt that needs it.
    resolver: Result<Arc<hickory_resolver::TokioResolver>, String>,
    busy: bool,
    /// A look was asked for while one ran: look again when it ends.
    again: bool,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer").field("routes", &self.config.routes).finish_non_exhaustive()
    }
}

/// Looks at the queue now rather than at the next interval.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Flush;

impl Actor for Deliverer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.config.every, |_, ctx| ctx.notify(Flush));
        ctx.notify(Flush);
    }
}

/// Starts the deliverer. `identity`: this operator's certificate from the trust space's
/// authority and its key, presented to every peer.
pub fn start(
    store: Store,
    clock: Arc<dyn Clock>,
    space: Arc<TrustSpace>,
    identity: Arc<CertifiedKey>,
    relay_key: Arc<RelayKey>,
    config: OutboundConfig,
    metrics: Metrics,
) -> anyhow::Result<Addr<Deliverer>> {
    let tls = client_tls(&space, identity)?;
    let resolver = hickory_resolver::TokioResolver::builder_tokio()
        .and_then(hickory_resolver::ResolverBuilder::build)
        .map(Arc::new)
        .map_err(|error| format!("no DNS resolver: {error}"));
    Ok(Deliverer { store, clock, space, tls, relay_key, config, metrics, resolver, busy: false, again: false }.start())
}

/// The practices' side of the queue for the mail sessions: which domains mail can leave
/// for, and a nudge when a message was queued.
#[derive(Debug)]
pub struct QueueDoor {
    pub space: Arc<TrustSpace>,
    pub deliverer: Addr<Deliverer>,
}

impl Peers for QueueDoor {
    fn relays_to(&self, domain: &str) -> Result<(), String> {
        match self.space.list() {
            Ok(Some(list)) if list.domain(domain).is_some() => Ok(()),
            Ok(Some(_)) => Err(format!(
                "{domain} is not in the trust list of health-messaging operators; this relay delivers only to its \
                 own mailboxes and to the operators of that list"
            )),
            Ok(None) => Err(format!("{domain} is not a domain of this relay, and it has no trust list yet")),
            Err(error) => {
                tracing::error!(%error, "reading the trust list");
                Err("the trust list cannot be read now; try again later".into())
            }
        }
    }

    fn queued(&self) {
        // Full or closed (stopping): the interval's look delivers it.
        let _ = self.deliverer.try_send(Flush);
    }
}

impl Handler<Flush> for Deliverer {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        if self.busy {
            self.again = true;
            return Box::pin(fut::ready(()));
        }
        self.busy = true;
        let round = Round {
            store: self.store.clone(),
            clock: self.clock.clone(),
            space: self.space.clone(),
            tls: self.tls.clone(),
            relay_key: self.relay_key.clone(),
            config: self.config.clone(),
            metrics: self.metrics.clone(),
            resolver: self.resolver.clone(),
        };
        Box::pin(round.run().into_actor(self).map(|(), actor, ctx| {
            actor.busy = false;
            if std::mem::take(&mut actor.again) {
                ctx.notify(Flush);
            }
        }))
    }
}

/// One look at the queue: every record due, each peer domain over a few connections at once.
struct Round {
    store: Store,
    clock: Arc<dyn Clock>,
    space: Arc<TrustSpace>,
    tls: tokio_rustls::TlsConnector,
    relay_key: Arc<RelayKey>,
    config: OutboundConfig,
    metrics: Metrics,
    resolver: Result<Arc<hickory_resolver::TokioResolver>, String>,
}

impl Round {
    async fn run(self) {
        let now = self.clock.now();
        let queue = match self.store.outbound() {
            Ok(queue) => queue,
            Err(error) => {
                tracing::error!(%error, "reading the outbound queue failed");
                return;
            }
        };
        let mut by_domain: BTreeMap<String, Vec<(u64, OutboundRecord)>> = BTreeMap::new();
        for (seq, record) in queue.into_iter().filter(|(_, r)| !r.held && r.next_attempt_at <= now) {
            by_domain.entry(record.domain.clone()).or_default().push((seq, record));
        }
        // Every domain at once, each over one connection per MESSAGES_PER_LANE entries due (up
        // to CONNECTIONS_PER_DOMAIN), each its share, MESSAGES_PER_CONNECTION at a time.
        let round = &self;
        let mut deliveries = Vec::new();
        for (domain, entries) in &by_domain {
            let lanes = entries.len().div_ceil(MESSAGES_PER_LANE).clamp(1, CONNECTIONS_PER_DOMAIN);
            for lane in entries.chunks(entries.len().div_ceil(lanes)) {
                deliveries.push(async move {
                    for batch in lane.chunks(MESSAGES_PER_CONNECTION) {
                        round.deliver_batch(domain, batch).await;
                    }
                });
            }
        }
        futures_util::future::join_all(deliveries).await;
        // Judged on the queue as the attempts left it.
        match self.store.outbound() {
            Ok(queue) => self.alert_if_stuck(&queue, self.clock.now()).await,
            Err(error) => tracing::error!(%error, "reading the outbound queue failed"),
        }
    }

    /// An alert when the oldest entry already tried has waited past the threshold (one
    /// open alert per domain, its repeats counted).
    async fn alert_if_stuck(&self, queue: &[(u64, OutboundRecord)], now: Millis) {
        let threshold = self.config.alert_after.as_millis() as u64;
        let tried = queue.iter().filter(|(_, r)| r.attempts > 0);
        let Some((_, oldest)) = tried.min_by_key(|(_, r)| r.queued_at) else {
            return;
        };
        let waited = now.0.saturating_sub(oldest.queued_at.0);
        if waited < threshold {
            return;
        }
        let last = oldest.last_error.as_deref().unwrap_or("no attempt yet");
        let text = format!(
            "mail for {} has waited {} minutes in the outbound queue ({} attempts; last: {last})",
            oldest.domain,
            waited / 60_000,
            oldest.attempts
        );
        if let Err(error) =
            self.store.raise_alert(Alert::new(AlertKind::OutboundQueue, &oldest.domain, &text, now)).await
        {
            tracing::error!(%error, "raising the outbound queue's alert failed");
        }
    }

    /// One connection to `domain`'s operator for a batch of its entries, one transaction
    /// each; every entry's outcome committed as it comes, its failures notified.
    async fn deliver_batch(&self, domain: &str, batch: &[(u64, OutboundRecord)]) {
        let mut connection = match self.connect(domain).await {
            Ok(connection) => Some(connection),
            Err(failure) => {
                for (seq, record) in batch {
                    self.record_attempt(*seq, record.clone(), failure.clone()).await;
                }
                None
            }
        };
        for (seq, record) in batch {
            let Some(peer) = connection.as_mut() else {
                break;
            };
            let attempt = self.transaction(peer, record).await;
            // A broken conversation defers the rest of the batch to the next look.
            let broken = attempt.broken;
            self.record_attempt(*seq, record.clone(), attempt).await;
            if broken {
                connection = None;
            }
        }
        if let Some(peer) = connection {
            let _ = peer.client.quit().await;
        }
    }

    /// One attempt's outcome for one record, committed; its failures notified.
    async fn record_attempt(&self, seq: u64, mut record: OutboundRecord, attempt: Attempt) {
        let now = self.clock.now();
        let mut failed = Vec::new();
        for recipient in record.recipients.iter_mut().filter(|r| r.outcome.is_none()) {
            let outcome = match attempt.answers.get(&recipient.address) {
                Some(Answer::Delivered(reply)) => Some((true, reply.clone())),
                Some(Answer::Refused(reply)) => Some((false, reply.clone())),
                None if now.0.saturating_sub(record.queued_at.0) >= self.config.expire_after.as_millis() as u64 => {
                    let hours = self.config.expire_after.as_secs() / 3600;
                    let last = attempt.error.as_deref().or(record.last_error.as_deref()).unwrap_or("no attempt yet");
                    Some((false, format!("{EXPIRED} {hours} hours; last: {last}")))
                }
                None => None,
            };
            if let Some((delivered, reply)) = outcome {
                let operator = attempt.operator.clone();
                recipient.outcome = Some(RelayOutcome { at: now, delivered, reply: reply.clone(), operator });
                if !delivered {
                    failed.push((recipient.address.clone(), reply));
                }
            }
        }
        let delivered = attempt.answers.values().filter(|a| matches!(a, Answer::Delivered(_))).count();
        self.metrics.count("delivered", delivered);
        self.metrics.count("failed", failed.len());
        self.metrics.count("deferred", record.pending().count());
        if let Some(peer) = &attempt.tls_failure {
            self.metrics.tls_failures.get_or_create(&Peer { peer: peer.clone() }).inc();
        }
        record.attempts += 1;
        record.last_error = attempt.error.clone();
        let delay = (60_000u64 << (record.attempts - 1).min(20)).min(self.config.retry_max.as_millis() as u64);
        record.next_attempt_at = Millis(now.0 + delay);
        match &attempt.error {
            Some(error) => tracing::warn!(
                domain = %record.domain, %error, attempts = record.attempts, retry_in_secs = delay / 1000,
                "outbound delivery deferred"
            ),
            None => tracing::info!(domain = %record.domain, operator = ?attempt.operator, "outbound delivery done"),
        }
        if let Err(error) = self.store.update_outbound(seq, record.clone(), None).await {
            tracing::error!(%error, "recording an outbound attempt failed");
            return;
        }
        for (recipient, reply) in failed {
            notify_sender(&self.store, Some(&self.relay_key), &record.sender, &recipient, &reply, now).await;
        }
    }

    /// A connection to `domain`'s operator: next hop, STARTTLS, our certificate presented,
    /// the peer's verified and its subject bound to `domain` in the trust list. On failure,
    /// the attempt every entry of the batch records.
    async fn connect(&self, domain: &str) -> Result<PeerConnection, Attempt> {
        let failed =
            |error: String, tls: Option<String>| Attempt { error: Some(error), tls_failure: tls, ..Attempt::default() };
        let (host, port) = self.next_hop(domain).await.map_err(|error| failed(error, None))?;
        let at = format!("{host}:{port}");
        let mut builder = SmtpClientBuilder::new(host.clone(), port)
            .map_err(|error| failed(format!("{at}: not a host name: {error}"), None))?
            .implicit_tls(false)
            .helo_host(self.config.hostname.clone())
            .timeout(PEER_TIMEOUT);
        builder.tls_connector = self.tls.clone();
        let client = builder.connect().await.map_err(|error| {
            let tls = matches!(error, mail_send::Error::Tls(_) | mail_send::Error::MissingStartTls);
            failed(format!("{at}: {}", describe(&error)), tls.then(|| at.clone()))
        })?;
        // Commands and the data go out as they are written: Nagle's algorithm would hold the
        // end of the data until the peer's delayed ACK, 40 ms a message.
        let _ = client.stream.get_ref().0.set_nodelay(true);
        let certificates = client.tls_connection().peer_certificates().unwrap_or_default().to_vec();
        let operator =
            self.check_peer(domain, &certificates).map_err(|why| failed(format!("{at}: {why}"), Some(at.clone())))?;
        Ok(PeerConnection { client, at, operator })
    }

    /// One message's transaction on an open connection.
    async fn transaction(&self, peer: &mut PeerConnection, record: &OutboundRecord) -> Attempt {
        let mut attempt = Attempt { operator: Some(peer.operator.clone()), ..Attempt::default() };
        let message = match self.store.read_message(record.message) {
            Ok(message) => message,
            Err(error) => {
                attempt.error = Some(format!("reading the stored message: {error}"));
                return attempt;
            }
        };
        if let Err(error) = converse(&mut peer.client, record, &message, &mut attempt).await {
            attempt.error = Some(format!("{}: {error}", peer.at));
            attempt.broken = true;
        }
        // The next transaction on this connection starts clean.
        if !attempt.broken && peer.client.rset().await.is_err() {
            attempt.broken = true;
        }
        attempt
    }

    /// The peer's certificate chain was verified by the handshake (trust space's authority,
    /// host name); its subject must be bound to `domain` in the trust list.
    fn check_peer(&self, domain: &str, certificates: &[CertificateDer<'static>]) -> Result<String, String> {
        let name = certificates
            .first()
            .and_then(subject)
            .ok_or_else(|| "the peer's certificate has no readable subject".to_owned())?;
        let list = match self.space.list() {
            Ok(Some(list)) => list,
            Ok(None) => return Err("no trust list is in force".into()),
            Err(error) => return Err(format!("the trust list cannot be read: {error}")),
        };
        match list.check(domain, &name) {
            Ok(()) => Ok(name.to_string()),
            Err(Unbound::DomainNotListed) => Err(format!("{domain} is no longer in the trust list")),
            Err(Unbound::SubjectNotBound) => {
                Err(format!("the peer's certificate subject ({name}) is not bound to {domain} in the trust list"))
            }
        }
    }

    /// The route configured for `domain`, else its best MX, else the domain itself.
    async fn next_hop(&self, domain: &str) -> Result<(String, u16), String> {
        if let Some(route) = self.config.routes.get(domain) {
            return Ok(route.clone());
        }
        let resolver = self.resolver.as_ref().map_err(Clone::clone)?;
        match resolver.mx_lookup(format!("{domain}.")).await {
            Ok(lookup) => {
                let mut hosts: Vec<(u16, String)> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        hickory_resolver::proto::rr::RData::MX(mx) => Some((mx.preference, mx.exchange.to_utf8())),
                        _ => None,
                    })
                    .collect();
                hosts.sort();
                let (_, host) = hosts.into_iter().next().ok_or_else(|| format!("{domain} has no MX record"))?;
                Ok((host.trim_end_matches('.').to_owned(), SMTP_PORT))
            }
            Err(error) if error.is_no_records_found() => Ok((domain.to_owned(), SMTP_PORT)),
            Err(error) => Err(format!("looking up the MX of {domain}: {error}")),
        }
    }
}

/// The sender hears, in its mailbox, of a recipient that will not get its message: a
/// delivery status notification signed with the relay's key.
pub async fn notify_sender(
    store: &Store,
    relay_key: Option<&RelayKey>,
    sender: &Address,
    recipient: &Address,
    reply: &str,
    at: Millis,
) {
    let Ok(Some(account)) = store.account_by_address(sender) else {
        tracing::warn!(%sender, %recipient, %reply, "undelivered, and its sender has no mailbox here to tell");
        return;
    };
    let status = reply_status(reply);
    let diagnostic = format!("smtp; {reply}");
    let failure = Failure { sender, recipient, reason: reply, status: &status, diagnostic: &diagnostic };
    // The sender is a practice of this relay: its domain is the relay's.
    let domain = sender.domain();
    let report = match failure_notification(domain, &failure, relay_key, at) {
        Ok(report) => report,
        Err(error) => {
            tracing::warn!(%error, %sender, "the delivery status notification was not signed");
            return;
        }
    };
    let postmaster = Address::parse(&format!("postmaster@{domain}"));
    let stored = match (postmaster, store.seal(report)) {
        (Ok(postmaster), Ok(sealed)) => store.accept(postmaster, vec![account.id], sealed, at).await.map(drop),
        (Err(_), _) => Ok(()),
        (_, Err(error)) => Err(error),
    };
    if let Err(error) = stored {
        tracing::warn!(%error, %sender, "the delivery status notification was not stored");
    }
}

/// An open conversation with a peer operator.
struct PeerConnection {
    client: mail_send::SmtpClient<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    /// `host:port`, for the errors.
    at: String,
    /// The peer's certificate subject, verified.
    operator: String,
}

/// `MAIL`, each waiting recipient's `RCPT`, the data. A reply is recorded per recipient;
/// `Err` when the conversation broke (the connection is then of no further use).
async fn converse(
    client: &mut mail_send::SmtpClient<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    record: &OutboundRecord,
    message: &[u8],
    attempt: &mut Attempt,
) -> Result<(), String> {
    match client.mail_from(record.sender.as_str(), &Parameters::default()).await {
        Ok(()) => {}
        Err(mail_send::Error::UnexpectedReply(reply)) if reply.code >= 500 => {
            for address in record.pending() {
                attempt.answers.insert(address.clone(), Answer::Refused(reply_text(&reply)));
            }
            return Ok(());
        }
        Err(mail_send::Error::UnexpectedReply(reply)) => {
            attempt.error = Some(reply_text(&reply));
            return Ok(());
        }
        Err(error) => return Err(describe(&error)),
    }
    let mut accepted = Vec::new();
    for address in record.pending() {
        match client.rcpt_to(address.as_str(), &Parameters::default()).await {
            Ok(()) => accepted.push(address.clone()),
            Err(mail_send::Error::UnexpectedReply(reply)) if reply.code >= 500 => {
                attempt.answers.insert(address.clone(), Answer::Refused(reply_text(&reply)));
            }
            Err(mail_send::Error::UnexpectedReply(reply)) => attempt.error = Some(reply_text(&reply)),
            Err(error) => return Err(describe(&error)),
        }
    }
    if accepted.is_empty() {
        return Ok(());
    }
    // mail-send ends the data with CRLF . CRLF itself: the stored message's last line
    // break is that CRLF.
    let body = message.strip_suffix(b"\r\n").unwrap_or(message);
    match client.data(body).await {
        Ok(()) => {
            for address in accepted {
                attempt.answers.insert(address, Answer::Delivered("250 accepted".into()));
            }
        }
        Err(mail_send::Error::UnexpectedReply(reply)) if reply.code >= 500 => {
            for address in accepted {
                attempt.answers.insert(address, Answer::Refused(reply_text(&reply)));
            }
        }
        Err(mail_send::Error::UnexpectedReply(reply)) => attempt.error = Some(reply_text(&reply)),
        Err(error) => return Err(describe(&error)),
    }
    Ok(())
}

/// What one attempt learnt.
#[derive(Debug, Default, Clone)]
struct Attempt {
    /// Per recipient: what the peer answered for good.
    answers: BTreeMap<Address, Answer>,
    /// Why the attempt left recipients waiting (no connection, TLS, a `4xx`).
    error: Option<String>,
    /// The peer operator's certificate subject, once verified.
    operator: Option<String>,
    /// The peer (`host:port`) whose TLS failed, if it did.
    tls_failure: Option<String>,
    /// The conversation broke: the connection is of no further use.
    broken: bool,
}

#[derive(Debug, Clone)]
enum Answer {
    Delivered(String),
    Refused(String),
}

/// A reply as one line: code, enhanced code, text.
fn reply_text(reply: &smtp_proto::Response<String>) -> String {
    let [a, b, c] = reply.esc;
    let text = reply.message.replace(['\r', '\n'], " ");
    if a == 0 {
        format!("{} {text}", reply.code)
    } else {
        format!("{} {a}.{b}.{c} {text}", reply.code)
    }
}

/// How an expired recipient's outcome begins.
const EXPIRED: &str = "not delivered within";

/// The enhanced status of a reply line (`550 5.1.1 …` → `5.1.1`, a `4.x.y` made final as
/// `5.x.y`), `5.4.7` for an expiry (RFC 3463: delivery time expired), else `5.0.0`.
fn reply_status(reply: &str) -> String {
    if reply.starts_with(EXPIRED) {
        return "5.4.7".into();
    }
    reply
        .split_whitespace()
        .nth(1)
        .filter(|code| code.split('.').count() == 3 && code.starts_with(['4', '5']))
        .map_or_else(|| "5.0.0".to_owned(), |code| code.replacen('4', "5", 1))
}

/// mail-send's errors in words for the queue's listing.
fn describe(error: &mail_send::Error) -> String {
    match error {
        mail_send::Error::UnexpectedReply(reply) => reply_text(reply),
        mail_send::Error::MissingStartTls => "the peer does not offer STARTTLS".into(),
        mail_send::Error::Tls(error) => format!("TLS: {error}"),
        mail_send::Error::Timeout => "no answer in time".into(),
        other => other.to_string(),
    }
}

/// TLS to peers: their certificate verified against the trust space's authority, ours
/// presented.
fn client_tls(space: &TrustSpace, identity: Arc<CertifiedKey>) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(space.roots())
        .with_client_cert_resolver(Arc::new(Identity(identity)));
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Always this operator's certificate, whatever the peer asks.
#[derive(Debug)]
struct Identity(Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for Identity {
    fn resolve(&self, _: &[&[u8]], _: &[rustls::SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_refusal_becomes_permanent_in_its_notification() {
        assert_eq!(reply_status("550 5.1.1 no such user"), "5.1.1");
        assert_eq!(reply_status("452 4.2.2 mailbox full; not delivered within 120 hours"), "5.2.2");
        assert_eq!(reply_status("not delivered within 120 hours; last: refused"), "5.4.7");
        assert_eq!(reply_status("the peer said no"), "5.0.0");
    }
}
