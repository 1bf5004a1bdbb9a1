//! `caducee serve`: binds the listeners, starts the actors, serves until SIGTERM/SIGINT,
//! then shuts down without losing anything accepted.
//!
//! Threads: the system arbiter (accept loops, mailbox actors, admin socket), one worker
//! arbiter per core for session actors (each an io_uring event loop), and the store's
//! writer thread, which does every fsync.

pub mod systemd;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_rt::{Arbiter, System};
use anyhow::Context as _;
use caducee_actors::clock::{Clock, SystemClock};
use caducee_actors::mailbox;
use caducee_actors::session::{self, Service, SessionContext, SessionLimits};
use caducee_actors::smtp::SmtpConfig;
use caducee_storage::Store;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::admin::{self, Admin};
use crate::config::Config;

/// Runs the relay in the foreground until a shutdown signal; returns after a clean stop.
pub fn serve(data_dir: &Path) -> anyhow::Result<()> {
    let _lock = crate::lock_data_dir(data_dir)?;
    let config = Config::load(data_dir)?;
    let store = Store::open(data_dir, &config.store_options())
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    let problems = store.fsck()?;
    if !problems.is_empty() {
        anyhow::bail!("the store fails its checks ({}); run `caducee fsck` for details", problems.len());
    }
    let tls = crate::tls::server_config(data_dir, config.hostname())?;
    let result = System::new().block_on(run(config, store.clone(), tls, data_dir.to_path_buf()));
    store.close();
    tracing::info!("stopped");
    result
}

async fn run(config: Config, store: Store, tls: Arc<rustls::ServerConfig>, data_dir: PathBuf) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let context_tls = tls.clone();
    // Every listener is bound first: the bundles the key vault writes name the ports
    // actually bound (a port of 0 picks a free one).
    let services = [
        (Service::Submission, config.listen.submission),
        (Service::Submissions, config.listen.submissions),
        (Service::Pop3, config.listen.pop3),
        (Service::Pop3s, config.listen.pop3s),
    ];
    let mut listeners = Vec::new();
    let mut bound_ports = HashMap::new();
    for (service, address) in services {
        let listener =
            TcpListener::bind(address).await.with_context(|| format!("binding {} on {address}", service.name()))?;
        bound_ports.insert(service.name(), listener.local_addr()?.port());
        listeners.push((service, listener));
    }
    let https_listener = std::net::TcpListener::bind(config.listen.https)
        .with_context(|| format!("binding https on {}", config.listen.https))?;
    let https_bound = https_listener.local_addr()?;
    let ldap_listener = TcpListener::bind(config.listen.ldap)
        .await
        .with_context(|| format!("binding ldap on {}", config.listen.ldap))?;
    let ldaps_listener = TcpListener::bind(config.listen.ldaps)
        .await
        .with_context(|| format!("binding ldaps on {}", config.listen.ldaps))?;
    let endpoints = config.endpoints(
        bound_ports.get("submissions").copied().unwrap_or_default(),
        bound_ports.get("pop3s").copied().unwrap_or_default(),
        https_bound.port(),
    );
    let ca_pem = std::fs::read_to_string(data_dir.join("tls/ca.pem")).context("reading the relay's CA")?;

    let mailboxes = mailbox::start(store.clone())?;
    let rules = config.monitor_config(endpoints.clone(), ca_pem);
    let breaker = Arc::new(caducee_actors::monitor::Breaker::new(&rules));
    let monitor = caducee_actors::monitor::start(store.clone(), clock.clone(), rules, breaker.clone());
    let notifier = caducee_actors::notices::start(store.clone(), clock.clone(), config.notices_config()?);
    let (stop, shutdown) = watch::channel(false);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let context = SessionContext {
        store: store.clone(),
        mailboxes: mailboxes.clone(),
        tls: tokio_rustls::TlsAcceptor::from(tls.clone()),
        smtp: SmtpConfig { hostname: config.hostname().to_owned(), message_bytes_max: config.message_bytes_max },
        hostname: config.hostname().to_owned(),
        limits: SessionLimits {
            idle_before_login: Duration::from_secs(config.limits.idle_before_login_secs),
            idle_after_login: Duration::from_secs(config.limits.idle_after_login_secs),
            ..SessionLimits::default()
        },
        clock: clock.clone(),
        shutdown: shutdown.clone(),
        monitor: monitor.clone(),
        breaker,
        logins: Arc::new(caducee_actors::throttle::LoginThrottle::new(
            config.limits.login_failures_max,
            config.limits.login_failure_window_secs,
        )),
        // One argon2id check per core at a time: more would not finish sooner, only hold
        // more memory (19 MiB each).
        password_checks: Arc::new(tokio::sync::Semaphore::new(cores)),
    };

    let workers: Vec<Arbiter> = (0..cores.min(8)).map(|_| Arbiter::new()).collect();
    let workers = Arc::new(workers.iter().map(Arbiter::handle).collect::<Vec<_>>());
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    let slots = Arc::new(Slots::new(config.limits.sessions_per_ip, config.limits.sessions_max));

    for (service, listener) in listeners {
        let bound = listener.local_addr()?;
        tracing::info!(service = service.name(), address = %bound, "listening");
        // The readiness contract: one line per listener on standard output.
        println!("ready: {} {bound}", service.name());
        actix_rt::spawn(accept_loop(
            listener,
            service,
            context.clone(),
            workers.clone(),
            slots.clone(),
            alive.clone(),
            shutdown.clone(),
        ));
    }
    let directory = Arc::new(crate::directory::DirectoryCache::new(store.clone(), clock.clone(), &config.domain));
    let ldap_context = crate::ldap::LdapContext {
        directory: directory.clone(),
        store: store.clone(),
        tls: tokio_rustls::TlsAcceptor::from(context_tls.clone()),
        password_checks: context.password_checks.clone(),
        logins: context.logins.clone(),
        clock: clock.clone(),
    };
    for (name, listener, implicit_tls) in [("ldap", ldap_listener, false), ("ldaps", ldaps_listener, true)] {
        let bound = listener.local_addr()?;
        tracing::info!(service = name, address = %bound, "listening");
        println!("ready: {name} {bound}");
        actix_rt::spawn(ldap_accept_loop(
            listener,
            implicit_tls,
            ldap_context.clone(),
            workers.clone(),
            slots.clone(),
            shutdown.clone(),
        ));
    }
    let https = crate::web::start(
        https_listener,
        context_tls.clone(),
        store.clone(),
        clock.clone(),
        directory.clone(),
        crate::portal::Portal {
            store: store.clone(),
            clock: clock.clone(),
            monitor: Some(monitor.clone()),
            logins: context.logins.clone(),
            password_checks: context.password_checks.clone(),
        },
    )?;
    tracing::info!(service = "https", address = %https_bound, "listening");
    println!("ready: https {https_bound}");
    let metrics = match config.listen.metrics {
        Some(address) => Some(metrics_server(address, monitor.clone(), data_dir.clone())?),
        None => None,
    };
    let admin = Admin {
        store: store.clone(),
        data_dir: data_dir.clone(),
        mailboxes: Some(mailboxes.clone()),
        monitor: Some(monitor),
        notifier: Some(notifier),
        key_vault: Some(caducee_actors::keyvault::start()),
        keys: crate::admin::keys::KeysContext {
            endpoints,
            bundle_folder: config.bundle_folder(&data_dir),
            next_year_within_days: config.keys.next_year_within_days,
        },
        clock,
        drill: crate::backup::drill::DrillWatch::default(),
    };
    let socket = admin::socket_path(&data_dir);
    let listener = admin::bind_socket(&socket)?;
    println!("ready: admin {}", socket.display());
    actix_rt::spawn(admin::serve_socket(admin, listener, socket, shutdown.clone()));
    crate::serve::systemd::ready(&format!("serving {}", config.hostname()));
    crate::serve::systemd::spawn_watchdog(store.clone(), mailboxes);

    wait_for_signal().await?;
    crate::serve::systemd::stopping();
    tracing::info!("shutting down: no new sessions; finishing those in progress");
    let _ = stop.send(true);
    drop(alive);
    let grace = Duration::from_secs(config.limits.shutdown_grace_secs);
    if tokio::time::timeout(grace, all_done.recv()).await.is_err() {
        tracing::warn!("sessions still open after {grace:?}; closing them");
    }
    for worker in workers.iter() {
        worker.stop();
    }
    https.stop(true).await;
    if let Some(metrics) = metrics {
        metrics.stop(true).await;
    }
    Ok(())
}

/// `GET /metrics` (Prometheus/OpenMetrics text) on its own plain-HTTP listener, meant for
/// loopback or a management network: it carries counts and timings, never personal data.
fn metrics_server(
    address: std::net::SocketAddr,
    monitor: actix::Addr<caducee_actors::monitor::Monitor>,
    data_dir: PathBuf,
) -> anyhow::Result<actix_web::dev::ServerHandle> {
    use actix_web::{web, App, HttpResponse, HttpServer};

    type Sources = (actix::Addr<caducee_actors::monitor::Monitor>, PathBuf);

    async fn metrics(sources: web::Data<Sources>) -> HttpResponse {
        let (monitor, data_dir) = sources.get_ref();
        match monitor.send(caducee_actors::monitor::RenderMetrics).await {
            Ok(text) => HttpResponse::Ok()
                .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
                .body(with_drill(text, crate::backup::drill::last_report(data_dir))),
            Err(_) => HttpResponse::ServiceUnavailable().body("the monitor is stopping\n"),
        }
    }

    let listener = std::net::TcpListener::bind(address).with_context(|| format!("binding metrics on {address}"))?;
    let bound = listener.local_addr()?;
    let data = web::Data::new((monitor, data_dir));
    let server = HttpServer::new(move || App::new().app_data(data.clone()).route("/metrics", web::get().to(metrics)))
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    tracing::info!(service = "metrics", address = %bound, "listening");
    println!("ready: metrics {bound}");
    Ok(handle)
}

/// The last restore drill's result, as gauges before the exposition's `# EOF` (the drill
/// runs as a command or on a thread of its own and leaves its report in the data folder).
fn with_drill(mut text: String, report: Option<serde_json::Value>) -> String {
    let Some(report) = report else {
        return text;
    };
    let mut lines = String::new();
    let mut gauge = |name: &str, help: &str, value: f64| {
        lines.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"));
    };
    gauge("caducee_restore_drill_ok", "Whether the last restore drill passed (1) or failed (0).", {
        if report["ok"] == true {
            1.0
        } else {
            0.0
        }
    });
    if let Some(seconds) = report["first_accept_seconds"].as_f64() {
        gauge(
            "caducee_restore_drill_first_accept_seconds",
            "Restore start to the first message accepted by the restored relay, last drill.",
            seconds,
        );
    }
    if let Some(at) = report["started_at"].as_f64() {
        gauge("caducee_restore_drill_timestamp_seconds", "When the last restore drill started.", at / 1000.0);
    }
    match text.rfind("# EOF") {
        Some(at) => text.insert_str(at, &lines),
        None => text.push_str(&lines),
    }
    text
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}

/// The next accepted connection, or `None` once shutdown begins. Accept errors (EMFILE and
/// friends) are reported and waited out: the limit clears as sessions end.
async fn next_connection(
    listener: &TcpListener,
    service: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(tokio::net::TcpStream, std::net::SocketAddr)> {
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

async fn accept_loop(
    listener: TcpListener,
    service: Service,
    context: SessionContext,
    workers: Arc<Vec<actix_rt::ArbiterHandle>>,
    slots: Arc<Slots>,
    alive: mpsc::Sender<()>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut next_worker = 0usize;
    while let Some((stream, peer)) = next_connection(&listener, service.name(), &mut shutdown).await {
        let Some(slot) = slots.take(peer.ip(), slots.clone()) else {
            refuse_busy(service, &stream);
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
        let context = context.clone();
        let ticket: Box<dyn std::any::Any + Send> = Box::new((slot, alive.clone()));
        worker.spawn_fn(move || match tokio::net::TcpStream::from_std(std_stream) {
            Ok(stream) => session::start(service, stream, peer, context, ticket),
            Err(error) => tracing::warn!(%error, "could not adopt a connection"),
        });
    }
}

/// Accepts LDAP connections and hands each to a worker, within the same per-address and
/// overall connection limits as the mail sessions.
async fn ldap_accept_loop(
    listener: TcpListener,
    implicit_tls: bool,
    context: crate::ldap::LdapContext,
    workers: Arc<Vec<actix_rt::ArbiterHandle>>,
    slots: Arc<Slots>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut next_worker = 0usize;
    let service = if implicit_tls { "ldaps" } else { "ldap" };
    while let Some((stream, peer)) = next_connection(&listener, service, &mut shutdown).await {
        let Some(slot) = slots.take(peer.ip(), slots.clone()) else {
            continue; // over the limits: closed at once
        };
        let Ok(std_stream) = stream.into_std() else {
            continue;
        };
        let worker = &workers[next_worker % workers.len()];
        next_worker = next_worker.wrapping_add(1);
        let context = context.clone();
        worker.spawn(async move {
            let _slot = slot;
            if let Ok(stream) = tokio::net::TcpStream::from_std(std_stream) {
                let _ = stream.set_nodelay(true);
                crate::ldap::serve_connection(stream, implicit_tls, context).await;
            }
        });
    }
}

/// Tells a refused client why, without waiting on it.
fn refuse_busy(service: Service, stream: &tokio::net::TcpStream) {
    let line: &[u8] = match service {
        Service::Submission => b"421 4.7.0 Too many connections from your address; try again later\r\n",
        Service::Pop3 => b"-ERR [SYS/TEMP] Too many connections from your address\r\n",
        // TLS has not started: nothing readable can be said.
        Service::Submissions | Service::Pop3s => b"",
    };
    let _ = stream.try_write(line);
}

/// Connection slots: a bound per source address and overall.
#[derive(Debug)]
struct Slots {
    per_ip_max: usize,
    total_max: usize,
    used: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// A taken slot; frees itself on drop.
#[derive(Debug)]
struct Slot {
    ip: IpAddr,
    slots: Arc<Slots>,
}

impl Slots {
    fn new(per_ip_max: usize, total_max: usize) -> Self {
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
