//! `caducee serve`: binds the listeners, starts the actors, serves until SIGTERM/SIGINT,
//! then shuts down without losing anything accepted.
//!
//! Threads: the system arbiter (accept loops, mailbox actors, admin socket), one worker
//! arbiter per core for session actors (each an io_uring event loop), and the store's
//! writer thread, which does every fsync.
//!
//! - `accept.rs`: the one accept loop of every mail and directory listener.
//! - `slots.rs`: the connection slots (mail and LDAP pools, the share reserved for
//!   logged-in sessions) and the connection rate per address.
//! - `metrics.rs`: the Prometheus listener.
//! - `systemd.rs`: readiness and the watchdog.

mod accept;
mod metrics;
mod operations;
pub(crate) mod slots;
pub mod systemd;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use actix_rt::{Arbiter, System};
use anyhow::Context as _;
use caducee_actors::clock::{Clock, SystemClock};
use caducee_actors::login::LoginThrottle;
use caducee_actors::mailbox::{self, Mailboxes, OpenMailboxes};
use caducee_actors::monitor::{Breaker, MonitorHandle};
use caducee_actors::notices::Notifier;
use caducee_actors::relay_key::RelayKey;
use caducee_actors::session::{Service, SessionContext, SessionLimits};
use caducee_actors::smtp::{InFlight, SmtpConfig};
use caducee_storage::{Millis, Store};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use self::accept::{accept_loop, Acceptor, Door};
use self::slots::{ConnectionRate, Slots};
use crate::admin::{self, Admin};
use crate::config::Config;
use crate::federation::inbound::TrustSpace;
use crate::federation::outbound;

/// Runs the relay in the foreground until a shutdown signal; returns after a clean stop.
pub fn serve(data_dir: &Path) -> anyhow::Result<()> {
    let _lock = crate::lock_data_dir(data_dir)?;
    let config = Config::load(data_dir)?;
    let store = Store::open(data_dir, &config.store_options())
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    let problems = systemd::while_starting("checking the store", || store.fsck())?;
    if !problems.is_empty() {
        anyhow::bail!("the store fails its checks ({}); run `caducee fsck` for details", problems.len());
    }
    let tls = crate::tls::Certificates::load(data_dir, &config, SystemClock.now())?;
    let result = System::new().block_on(run(config, store.clone(), tls, data_dir.to_path_buf()));
    store.close();
    tracing::info!("stopped");
    result
}

async fn run(config: Config, store: Store, tls: crate::tls::Loaded, data_dir: PathBuf) -> anyhow::Result<()> {
    let signals = StopSignals::listen()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let certificates = tls.certificates.clone();
    let tls = tls.serve(&clock, &store, config.tls.acme.clone()).await;
    let listeners = Listeners::bind(&config).await?;
    let endpoints = config.endpoints(
        listeners.port(Service::Submissions),
        listeners.port(Service::Pop3s),
        listeners.https[0].local_addr()?.port(),
    );
    let (submission_port, pop3_port) = (listeners.port(Service::Submission), listeners.port(Service::Pop3));
    let (imap_port, imaps_port) = (listeners.port(Service::Imap), listeners.port(Service::Imaps));
    let ca_pem = std::fs::read_to_string(data_dir.join("tls/ca.pem")).context("reading the relay's CA")?;
    let relay_key = relay_key(&config, &store, &data_dir, clock.now()).await?;
    let mut actors = Actors::start(&config, &store, &clock, endpoints.clone(), ca_pem, relay_key)?;
    let (stop, shutdown) = watch::channel(false);
    let federation = Federation::start(&config, &store, &clock, &data_dir, &actors.relay_key)?;
    actors.peers = federation.peers();
    let context = session_context(&config, &store, &tls, &actors, &clock, shutdown.clone());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers: Vec<Arbiter> = (0..cores.min(8)).map(|_| Arbiter::new()).collect();
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    let acceptor = acceptor(&config, &workers, alive, shutdown.clone());
    let directory = Arc::new(crate::directory::DirectoryCache::new(store.clone(), clock.clone(), &config.domain));
    let ldap = crate::ldap::LdapContext {
        directory: directory.clone(),
        store: store.clone(),
        tls: tokio_rustls::TlsAcceptor::from(tls.clone()),
        password_checks: context.password_checks.clone(),
        logins: context.logins.clone(),
        clock: clock.clone(),
        // One search per core at a time, on the blocking pool: off the mail event loops.
        searches: crate::ldap::Searches::new(cores),
        write_timeout: Duration::from_secs(config.limits.write_timeout_secs),
        tls_handshake: Duration::from_secs(config.limits.tls_handshake_secs),
    };
    let Listeners { mail, ldap: ldap_listeners, https: https_listener } = listeners;
    let relay_context = relay_context(&config, &federation, &tls, &context)?;
    let doors = mail.into_iter().map(|(service, listener)| {
        let context = match (service, &relay_context) {
            (Service::Relay, Some(relay)) => relay.clone(),
            _ => context.clone(),
        };
        (Door::Mail(service, Box::new(context)), listener)
    });
    let ldap_doors = ldap_listeners
        .into_iter()
        .map(|(implicit_tls, listener)| (Door::Ldap { implicit_tls, context: ldap.clone() }, listener));
    open_doors(doors.chain(ldap_doors), &acceptor)?;
    let portal = crate::portal::Portal {
        store: store.clone(),
        clock: clock.clone(),
        monitor: Some(actors.monitor.addr().clone()),
        logins: context.logins.clone(),
        password_checks: context.password_checks.clone(),
        time_zone: config.zone()?,
        relay_name: config.hostname().to_owned(),
        keys: Some(crate::portal::keys::SubmittedKeys {
            relay_key: actors.relay_key.clone(),
            next_year_within_days: config.keys.next_year_within_days,
        }),
    };
    let mail_servers = crate::web::autoconfig::MailServers {
        domain: config.domain.clone(),
        host: endpoints.host.clone(),
        submissions_port: endpoints.submissions_port,
        submission_port,
        pop3s_port: endpoints.pop3s_port,
        pop3_port,
        imaps_port,
        imap_port,
    };
    let https = start_https(https_listener, &tls, &actors.relay_key, directory, portal, mail_servers, &config)?;
    let metrics = start_metrics(&config, &data_dir, &actors, &federation, &context, &acceptor, certificates)?;
    if crate::pair::replication().is_some() {
        // A pair member: the replication watched from the member that serves.
        actix_rt::spawn(crate::pair::watch(store.clone(), clock.clone(), std::time::Duration::from_secs(60)));
    }
    start_admin(&config, &store, &data_dir, &actors, endpoints, clock, &acceptor)?;
    crate::serve::systemd::ready(&format!("serving {}", config.hostname()));
    crate::serve::systemd::spawn_watchdog(store.clone(), actors.mailboxes.clone());

    signals.wait().await;
    crate::serve::systemd::stopping();
    tracing::info!("shutting down: no new sessions; finishing those in progress");
    let _ = stop.send(true);
    drop(acceptor);
    let grace = Duration::from_secs(config.limits.shutdown_grace_secs);
    if tokio::time::timeout(grace, all_done.recv()).await.is_err() {
        tracing::warn!("sessions still open after {grace:?}; closing them");
    }
    for worker in &workers {
        worker.stop();
    }
    https.stop(true).await;
    if let Some(metrics) = metrics {
        metrics.stop(true).await;
    }
    Ok(())
}

/// The metrics listener and its health probes, when `[listen] metrics` is set.
fn start_metrics(
    config: &Config,
    data_dir: &Path,
    actors: &Actors,
    federation: &Federation,
    context: &SessionContext,
    acceptor: &Acceptor,
    certificates: Arc<crate::tls::Certificates>,
) -> anyhow::Result<Option<actix_web::dev::ServerHandle>> {
    let Some(addresses) = &config.listen.metrics else { return Ok(None) };
    let (store, clock) = (&context.store, &context.clock);
    let sources = metrics::Sources {
        monitor: actors.monitor.addr().clone(),
        data_dir: data_dir.to_path_buf(),
        outbound: federation.metrics.clone().map(|m| (m, store.clone(), clock.clone())),
        operations: operations::Operations {
            store: store.clone(),
            clock: clock.clone(),
            mailboxes: actors.mailboxes.clone(),
            logins: context.logins.clone(),
            open: acceptor.open.clone(),
            certificates,
            backups: config.backup.folder.clone(),
        },
    };
    Ok(Some(metrics::metrics_server(addresses, sources)?))
}

/// What the accept loops share: the workers, the slot pools (mail, with its share for
/// logged-in sessions; LDAP apart) and the connection rate per address.
fn acceptor(config: &Config, workers: &[Arbiter], alive: accept::Alive, shutdown: watch::Receiver<bool>) -> Acceptor {
    let limits = &config.limits;
    let mut doors = vec!["submission", "submissions", "pop3", "pop3s", "imap", "imaps", "ldap", "ldaps"];
    if config.listen.relay.is_some() {
        doors.push("relay");
    }
    Acceptor {
        workers: Arc::new(workers.iter().map(Arbiter::handle).collect()),
        mail_slots: Arc::new(Slots::new(
            limits.sessions_per_ip,
            limits.sessions_max,
            limits.sessions_reserved_for_login,
        )),
        ldap_slots: Arc::new(Slots::new(limits.sessions_per_ip, limits.ldap_sessions_max, 0)),
        rate: Arc::new(ConnectionRate::new(limits.connections_per_ip_per_minute)),
        alive,
        shutdown,
        open: Arc::new(accept::OpenSessions::new(&doors)),
    }
}

/// Starts an accept loop for each door, and prints its readiness line.
fn open_doors(doors: impl Iterator<Item = (Door, TcpListener)>, acceptor: &Acceptor) -> anyhow::Result<()> {
    for (door, listener) in doors {
        let bound = listener.local_addr()?;
        tracing::info!(service = door.name(), address = %bound, "listening");
        // The readiness contract: one line per listener on standard output.
        println!("ready: {} {bound}", door.name());
        actix_rt::spawn(accept_loop(listener, door, acceptor.clone()));
    }
    Ok(())
}

/// The relay's own OpenPGP key, made on the first start; the editions published before it
/// existed get its certification now, before anything else may write a certificate.
async fn relay_key(config: &Config, store: &Store, data_dir: &Path, now: Millis) -> anyhow::Result<Arc<RelayKey>> {
    let relay_key = Arc::new(RelayKey::load_or_create(data_dir, std::slice::from_ref(&config.domain), now)?);
    match relay_key.certify_published(store, now).await {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "published editions certified by the relay key"),
        Err(error) => tracing::warn!(%error, "certifying the published editions failed; their next edition has it"),
    }
    Ok(relay_key)
}

/// Every listener, bound before anything starts: the bundles the key vault writes name the
/// ports actually bound (a port of 0 picks a free one).
struct Listeners {
    mail: Vec<(Service, TcpListener)>,
    /// LDAP, then LDAPS (`true`: implicit TLS).
    ldap: Vec<(bool, TcpListener)>,
    https: Vec<std::net::TcpListener>,
}

impl Listeners {
    async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let services = [
            (Service::Submission, &config.listen.submission),
            (Service::Submissions, &config.listen.submissions),
            (Service::Pop3, &config.listen.pop3),
            (Service::Pop3s, &config.listen.pop3s),
            (Service::Imap, &config.listen.imap),
            (Service::Imaps, &config.listen.imaps),
        ];
        let mut mail = Vec::new();
        for (service, addresses) in services {
            mail.extend(bind(service.name(), addresses)?.into_iter().map(|listener| (service, listener)));
        }
        let https = config.listen.https.bind("https")?;
        let mut ldap = Vec::new();
        for (implicit_tls, name, addresses) in
            [(false, "ldap", &config.listen.ldap), (true, "ldaps", &config.listen.ldaps)]
        {
            ldap.extend(bind(name, addresses)?.into_iter().map(|listener| (implicit_tls, listener)));
        }
        if let Some(addresses) = &config.listen.relay {
            let relay = bind(Service::Relay.name(), addresses)?;
            mail.extend(relay.into_iter().map(|listener| (Service::Relay, listener)));
        }
        Ok(Listeners { mail, ldap, https })
    }

    /// The port a mail service is bound to.
    fn port(&self, service: Service) -> u16 {
        let bound = self.mail.iter().find(|(s, _)| *s == service).and_then(|(_, l)| l.local_addr().ok());
        bound.map_or(0, |address| address.port())
    }
}

/// The listeners of one service, for the accept loops.
fn bind(name: &str, addresses: &crate::config::Addresses) -> anyhow::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    for listener in addresses.bind(name)? {
        listeners.push(TcpListener::from_std(listener).with_context(|| format!("{name}: the event loop"))?);
    }
    Ok(listeners)
}

/// The actors every door reports to.
struct Actors {
    mailboxes: Addr<Mailboxes>,
    open_mailboxes: OpenMailboxes,
    breaker: Arc<Breaker>,
    monitor: MonitorHandle,
    notifier: Addr<Notifier>,
    /// The relay's own OpenPGP key: certifies issued keys, signs what the relay writes.
    relay_key: Arc<RelayKey>,
    /// The outbound queue to peer operators, with federation (set once it has started).
    peers: Option<Arc<dyn caducee_actors::session::Peers>>,
}

impl Actors {
    fn start(
        config: &Config,
        store: &Store,
        clock: &Arc<dyn Clock>,
        endpoints: caducee_actors::keyvault::Endpoints,
        ca_pem: String,
        relay_key: Arc<RelayKey>,
    ) -> anyhow::Result<Actors> {
        let (mailboxes, open_mailboxes) = mailbox::start(store.clone())?;
        let mut rules = config.monitor_config(endpoints, ca_pem);
        rules.relay_key = Some(relay_key.clone());
        let breaker = Arc::new(Breaker::new(&rules));
        let monitor = caducee_actors::monitor::start(store.clone(), clock.clone(), rules, breaker.clone());
        let notifier = caducee_actors::notices::start(store.clone(), clock.clone(), config.notices_config()?);
        Ok(Actors { mailboxes, open_mailboxes, breaker, monitor, notifier, relay_key, peers: None })
    }
}

/// The relay's place in the operators' trust space: the space itself (its authority and
/// list, with `[federation] ca_bundle`), this operator's certificate from it, and the
/// outbound queue's deliverer (with both).
struct Federation {
    space: Option<Arc<TrustSpace>>,
    identity: Option<Arc<rustls::sign::CertifiedKey>>,
    deliverer: Option<Addr<outbound::Deliverer>>,
    /// The deliverer's counters, for `/metrics`.
    metrics: Option<outbound::Metrics>,
}

impl Federation {
    fn start(
        config: &Config,
        store: &Store,
        clock: &Arc<dyn Clock>,
        data_dir: &Path,
        relay_key: &Arc<RelayKey>,
    ) -> anyhow::Result<Federation> {
        let f = &config.federation;
        let Some(bundle) = &f.ca_bundle else {
            anyhow::ensure!(
                f.certificate.is_none(),
                "[federation] certificate needs the trust space's CA bundle: set [federation] ca_bundle"
            );
            return Ok(Federation { space: None, identity: None, deliverer: None, metrics: None });
        };
        let bundle = data_dir.join(bundle);
        let pem = std::fs::read(&bundle)
            .with_context(|| format!("reading the trust space's CA bundle {}", bundle.display()))?;
        let space = Arc::new(TrustSpace::new(store.clone(), clock.clone(), &pem)?);
        let identity = match (&f.certificate, &f.key) {
            (Some(certificate), Some(key)) => {
                Some(crate::tls::load_certified_key(&data_dir.join(certificate), &data_dir.join(key))?)
            }
            (None, None) => None,
            _ => anyhow::bail!("[federation] certificate and key go together: set both, or neither"),
        };
        let metrics = identity.as_ref().map(|_| outbound::Metrics::default());
        let deliverer = match (&identity, &metrics) {
            (Some(identity), Some(metrics)) => Some(outbound::start(
                store.clone(),
                clock.clone(),
                space.clone(),
                identity.clone(),
                relay_key.clone(),
                config.outbound_config()?,
                metrics.clone(),
            )?),
            _ => None,
        };
        Ok(Federation { space: Some(space), identity, deliverer, metrics })
    }

    /// Where practices' mail for other domains can go: `None` without the outbound queue.
    fn peers(&self) -> Option<Arc<dyn caducee_actors::session::Peers>> {
        let (Some(space), Some(deliverer)) = (&self.space, &self.deliverer) else {
            return None;
        };
        Some(Arc::new(outbound::QueueDoor { space: space.clone(), deliverer: deliverer.clone() }))
    }
}

/// The relay port's sessions: the mail sessions' context with the port's TLS (this
/// operator's certificate from the trust space when it has one; a client certificate asked
/// for) and the trust space to judge it. `None` without a relay port.
fn relay_context(
    config: &Config,
    federation: &Federation,
    tls: &Arc<rustls::ServerConfig>,
    context: &SessionContext,
) -> anyhow::Result<Option<SessionContext>> {
    if config.listen.relay.is_none() {
        return Ok(None);
    }
    let Some(space) = federation.space.as_ref() else {
        // The appliance opens port 25 before its operator has joined the trust space: the
        // port answers, and refuses every sender saying so.
        tracing::warn!("the relay port refuses every operator until [federation] ca_bundle is set");
        return Ok(Some(context.clone()));
    };
    let relay_tls = space.server_config(tls, federation.identity.clone())?;
    Ok(Some(SessionContext {
        tls: tokio_rustls::TlsAcceptor::from(relay_tls),
        operators: Some(space.clone() as Arc<dyn caducee_actors::session::Operators>),
        ..context.clone()
    }))
}

/// What every mail session shares.
fn session_context(
    config: &Config,
    store: &Store,
    tls: &Arc<rustls::ServerConfig>,
    actors: &Actors,
    clock: &Arc<dyn Clock>,
    shutdown: watch::Receiver<bool>,
) -> SessionContext {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    SessionContext {
        store: store.clone(),
        mailboxes: actors.mailboxes.clone(),
        open_mailboxes: actors.open_mailboxes.clone(),
        tls: tokio_rustls::TlsAcceptor::from(tls.clone()),
        smtp: SmtpConfig { hostname: config.hostname().to_owned(), message_bytes_max: config.message_bytes_max },
        hostname: config.hostname().to_owned(),
        limits: SessionLimits {
            idle_before_login: Duration::from_secs(config.limits.idle_before_login_secs),
            idle_after_login: Duration::from_secs(config.limits.idle_after_login_secs),
            login_within: Duration::from_secs(config.limits.login_within_secs),
            commands_before_login: config.limits.commands_before_login,
            write_timeout: Duration::from_secs(config.limits.write_timeout_secs),
            tls_handshake: Duration::from_secs(config.limits.tls_handshake_secs),
        },
        clock: clock.clone(),
        shutdown,
        monitor: actors.monitor.clone(),
        breaker: actors.breaker.clone(),
        logins: Arc::new(LoginThrottle::new(config.limits.login_failures_max, config.limits.login_failure_window_secs)),
        // One argon2id check per core at a time: more would not finish sooner, only hold
        // more memory (19 MiB each).
        password_checks: Arc::new(tokio::sync::Semaphore::new(cores)),
        in_flight: InFlight::new(config.limits.in_flight_mib.saturating_mul(1 << 20)),
        operators: None,
        domain: config.domain.clone(),
        peers: actors.peers.clone(),
        io_uring_sockets: config.listen.socket_io == crate::config::SocketIo::IoUring,
    }
}

/// The web server: the directory pages, the personal space, the key servers.
fn start_https(
    listeners: Vec<std::net::TcpListener>,
    tls: &Arc<rustls::ServerConfig>,
    relay_key: &RelayKey,
    directory: Arc<crate::directory::DirectoryCache>,
    portal: crate::portal::Portal,
    mail_servers: crate::web::autoconfig::MailServers,
    config: &Config,
) -> anyhow::Result<actix_web::dev::ServerHandle> {
    let bound = listeners.iter().map(std::net::TcpListener::local_addr).collect::<Result<Vec<_>, _>>()?;
    let caps = crate::web::Caps {
        total: config.limits.https_connections_max,
        per_ip: config.limits.https_connections_per_ip,
        requests_per_ip_per_minute: config.limits.http_requests_per_ip_per_minute,
    };
    let served = crate::web::Web {
        store: portal.store.clone(),
        clock: portal.clock.clone(),
        directory,
        portal,
        caps,
        // The relay's own published certificates, served beside the users'.
        relay_certificates: Arc::new(vec![relay_key.public()]),
        mail_servers,
    };
    let https = crate::web::start(listeners, tls.clone(), served)?;
    for bound in bound {
        tracing::info!(service = "https", address = %bound, "listening");
        println!("ready: https {bound}");
    }
    Ok(https)
}

/// The administration socket the console talks to.
fn start_admin(
    config: &Config,
    store: &Store,
    data_dir: &Path,
    actors: &Actors,
    endpoints: caducee_actors::keyvault::Endpoints,
    clock: Arc<dyn Clock>,
    acceptor: &Acceptor,
) -> anyhow::Result<()> {
    let open = acceptor.open.clone();
    let sessions_open: crate::admin::SessionsOpen =
        Arc::new(move || open.by_door().into_iter().map(|(door, count)| (door.to_owned(), count)).collect());
    let admin = Admin {
        store: store.clone(),
        data_dir: data_dir.to_path_buf(),
        mailboxes: Some(actors.mailboxes.clone()),
        monitor: Some(actors.monitor.addr().clone()),
        notifier: Some(actors.notifier.clone()),
        // With a key issuer configured, no user's key is made in this process.
        key_vault: config
            .keys
            .issuer
            .is_none()
            .then(|| caducee_actors::keyvault::start(Some(actors.relay_key.clone()))),
        keys: crate::admin::keys::KeysContext {
            endpoints,
            bundle_folder: config.bundle_folder(data_dir),
            issuer: config.key_issuer(),
            next_year_within_days: config.keys.next_year_within_days,
            relay_key: Some(actors.relay_key.clone()),
        },
        clock,
        drill: crate::backup::drill::DrillWatch::default(),
        peers: actors.peers.clone(),
        sessions_open: Some(sessions_open),
    };
    let socket = admin::socket_path(data_dir);
    let listener = admin::bind_socket(&socket)?;
    println!("ready: admin {}", socket.display());
    actix_rt::spawn(admin::serve_socket(admin, listener, socket, acceptor.shutdown.clone()));
    Ok(())
}

/// SIGTERM and SIGINT, listened for from before the first readiness line: a service
/// manager (or a test) that stops the relay as soon as it says it is ready gets a clean stop,
/// never the signal's default death.
struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> anyhow::Result<StopSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals { terminate: signal(SignalKind::terminate())?, interrupt: signal(SignalKind::interrupt())? })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}
