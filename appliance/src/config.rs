//! The appliance's configuration: `<data>/caducee.toml`, then command-line overrides.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

mod addresses;
pub mod reference;

pub use addresses::Addresses;

/// Default data folder, relative to where `caducee` is started.
pub const DEFAULT_DATA_DIR: &str = "./caducee-data";
/// 25 MB: the largest message accepted unless configured otherwise.
pub const DEFAULT_MESSAGE_BYTES_MAX: usize = 25 * 1_000_000;

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The mail domain this relay serves.
    pub domain: String,
    /// The host name in greetings and certificates; defaults to the domain.
    pub hostname: Option<String>,
    /// Largest message accepted, in bytes.
    pub message_bytes_max: usize,
    /// The time zone of the times users read (the personal space): an IANA name.
    pub time_zone: String,
    pub listen: Listen,
    pub limits: Limits,
    pub store: StoreConfig,
    pub backup: BackupConfig,
    pub monitor: MonitorSection,
    pub notices: NoticesSection,
    pub keys: KeysSection,
    pub federation: FederationSection,
    /// Where the served certificate comes from besides the local CA.
    pub tls: TlsSection,
}

/// Federation with the other operators of the health-messaging trust space.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FederationSection {
    /// The trust space's certificate authority (PEM): it signs every operator's server
    /// certificate, and the HTTPS server a trust list is fetched from.
    pub ca_bundle: Option<PathBuf>,
    /// This operator's certificate from the trust space's authority (PEM, end entity first),
    /// shown on the relay port and presented to peers when delivering to them. Without it
    /// (and `key`), practices' mail stays within this relay's domain.
    pub certificate: Option<PathBuf>,
    /// The private key of `certificate` (PEM).
    pub key: Option<PathBuf>,
    /// Next hops that override DNS MX, domain → `host:port` (or `host`, port 25): private
    /// networks, tests.
    pub routes: BTreeMap<String, String>,
    /// Longest wait between two delivery attempts, in minutes (1, 2, 4 … up to it); at most
    /// a year.
    pub retry_max_minutes: u64,
    /// A recipient not delivered after this many hours fails, and its sender is told; at
    /// most a year (8760).
    pub expire_after_hours: u64,
    /// Seconds between two looks at the outbound queue (a new message is tried at once):
    /// from 1 to a year.
    pub queue_interval_secs: u64,
    /// The oldest message in the queue older than this many minutes raises an alert (0:
    /// as soon as a delivery is deferred); at most a year.
    pub queue_alert_minutes: u64,
}

impl Default for FederationSection {
    fn default() -> Self {
        FederationSection {
            ca_bundle: None,
            certificate: None,
            key: None,
            routes: BTreeMap::new(),
            retry_max_minutes: 60,
            expire_after_hours: 120,
            queue_interval_secs: 30,
            queue_alert_minutes: 240,
        }
    }
}

/// The key vault (SPEC R-KEY-1…4).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct KeysSection {
    /// The host name practices connect to, written into installation bundles. Default: the
    /// host name, or 127.0.0.1 when the relay listens on loopback only.
    pub public_host: Option<String>,
    /// Renewal (automatic, below) issues next year's keys from this many days before the
    /// end of the year.
    pub renew_days_before_year_end: u64,
    /// A first issue (or the new edition after a revocation) made when fewer than this many
    /// days are left in the year runs to the end of the next year, so that a practice that
    /// subscribes in the autumn does not install a second bundle weeks after its first. At
    /// least `renew_days_before_year_end`, at most 365.
    pub next_year_within_days: u64,
    /// The monitor issues next year's keys for every open account from
    /// `renew_days_before_year_end` days before year end, and delivers them to the user's
    /// mailbox encrypted to the current keys.
    pub auto_renew: bool,
    /// Where `user add` and `keys renew|revoke` write installation bundles (mode 0600):
    /// default `<data>/bundles`. Hand each bundle over, then delete it.
    pub bundle_folder: Option<PathBuf>,
    /// The socket of the key issuer (`caducee issuer`), a process of its own that makes
    /// users' keys so that the relay never holds them; it writes the bundles into its own
    /// folder, and `bundle_folder` is then unused. Unset: the relay makes them itself.
    pub issuer: Option<PathBuf>,
}

impl Default for KeysSection {
    fn default() -> Self {
        KeysSection {
            public_host: None,
            renew_days_before_year_end: 30,
            next_year_within_days: 90,
            auto_renew: true,
            bundle_folder: None,
            issuer: None,
        }
    }
}

impl KeysSection {
    /// The year-end rules must fit together: keys issued inside the renewal window would be
    /// renewed at the next sweep, a second bundle days after the first.
    fn check(&self) -> anyhow::Result<()> {
        let (renew, next_year) = (self.renew_days_before_year_end, self.next_year_within_days);
        if renew > 365 || next_year > 365 {
            anyhow::bail!("[keys] renew_days_before_year_end ({renew}) and next_year_within_days ({next_year}) are days of one year: at most 365");
        }
        if next_year < renew {
            anyhow::bail!(
                "[keys] next_year_within_days ({next_year}) must be at least renew_days_before_year_end ({renew}): \
                 keys issued in the renewal window would be renewed at once"
            );
        }
        Ok(())
    }
}

/// `[tls]`: the local CA always; with `acme`, a public certificate from an ACME server
/// (docs/operations/running.md, "Public certificates").
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    pub acme: Option<crate::tls::acme::AcmeConfig>,
}

/// Where each service listens. Development ports by default, on 127.0.0.1. Each is an
/// address (`"0.0.0.0:587"`) or a list of them (`["0.0.0.0:587", "[::]:587"]`: the appliance
/// listens on both IPv4 and IPv6); the first is the one named to clients.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    /// SMTP submission with STARTTLS (587 on the appliance).
    pub submission: Addresses,
    /// SMTP submission over implicit TLS (465 on the appliance).
    pub submissions: Addresses,
    /// POP3 with STLS (110 on the appliance).
    pub pop3: Addresses,
    /// POP3 over implicit TLS (995 on the appliance).
    pub pop3s: Addresses,
    /// IMAP with STARTTLS, no login before it (143 on the appliance).
    pub imap: Addresses,
    /// IMAP over implicit TLS (993 on the appliance).
    pub imaps: Addresses,
    /// HTTPS: OpenPGP key discovery (HKP, WKD), later the directory and personal space
    /// (443 on the appliance).
    pub https: Addresses,
    /// LDAP with StartTLS: the directory, read-only (389 on the appliance).
    pub ldap: Addresses,
    /// LDAP over implicit TLS (636).
    pub ldaps: Addresses,
    /// Prometheus metrics over plain HTTP (`GET /metrics`); keep it on loopback or a
    /// management network. Absent: no metrics listener.
    pub metrics: Option<Addresses>,
    /// The relay port between operators of the trust space (25 on the appliance): SMTP
    /// with STARTTLS and a client certificate, no AUTH. Without `[federation] ca_bundle` it
    /// refuses every sender, saying the relay has not joined the trust space yet.
    /// Absent: no relay port.
    pub relay: Option<Addresses>,
    /// How the implicit-TLS mail doors (`submissions`, `pop3s`, `imaps`) read and write
    /// their sockets: `"epoll"` (tokio's event loop, with tokio-rustls) or `"io_uring"`
    /// (tokio-uring's owned-buffer stream, rustls driven over its buffers). The doors that
    /// start in plain text, LDAP and HTTPS always use epoll. docs/benchmarks.md compares
    /// the two.
    pub socket_io: SocketIo,
}

/// How a door's sockets are read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SocketIo {
    /// Readiness from the kernel's epoll, then a read or write system call.
    Epoll,
    /// Reads and writes submitted to the kernel's io_uring with their buffers.
    IoUring,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Concurrent sessions from one IP address.
    pub sessions_per_ip: usize,
    /// Concurrent SMTP and POP3 sessions in all.
    pub sessions_max: usize,
    /// Of `sessions_max`, the slots only sessions that logged in may hold: sessions before
    /// login hold at most `sessions_max - sessions_reserved_for_login` between them.
    pub sessions_reserved_for_login: usize,
    /// Concurrent LDAP connections in all (a pool apart from the mail sessions').
    pub ldap_sessions_max: usize,
    /// New connections one address may open a minute, every mail and LDAP port together
    /// (bursts of as many); 0 turns the limit off.
    pub connections_per_ip_per_minute: u32,
    /// Time from the greeting to a successful login, in seconds, however active the client
    /// (1 to a year, as every time below).
    pub login_within_secs: u64,
    /// Command lines accepted before login.
    pub commands_before_login: usize,
    /// Longest time one write to a mail client may take, in seconds: a client that stops
    /// reading is dropped after it.
    pub write_timeout_secs: u64,
    /// Longest TLS handshake on a mail door or the directory's (implicit TLS, or after
    /// STARTTLS, STLS or StartTLS), in seconds: a client that connects and never finishes
    /// it is dropped after it, and its slot freed.
    pub tls_handshake_secs: u64,
    /// HTTPS connections open at once, in all.
    pub https_connections_max: usize,
    /// HTTPS connections open at once from one address.
    pub https_connections_per_ip: usize,
    /// Requests one address may make a minute to the anonymous HTTPS endpoints (key
    /// discovery, the directory's page and files), bursts of as many; beyond, `429` with
    /// `Retry-After`. The personal space is not counted. 0 turns the limit off.
    pub http_requests_per_ip_per_minute: u32,
    /// Idle time allowed before login, in seconds (1 to a year).
    pub idle_before_login_secs: u64,
    /// Idle time allowed after login, in seconds (1 to a year).
    pub idle_after_login_secs: u64,
    /// Time allowed for sessions to finish on shutdown, in seconds (0 to a year).
    pub shutdown_grace_secs: u64,
    /// Failed logins from one address, or for one account, within the window below before
    /// further logins are refused (454 4.7.0 / -ERR [LOGIN-DELAY]) until they age out.
    pub login_failures_max: u32,
    /// The window of `login_failures_max`, in seconds: a lock lifts as its failures age out.
    pub login_failure_window_secs: u64,
    /// Message bytes held in memory by every submission together, in MiB. A message is
    /// kept in memory until it is on disk; past this budget, further messages are answered
    /// `452 4.3.1` (try again later).
    pub in_flight_mib: u64,
}

/// The longest any configured time may be: a year. A session's deadlines are its start plus
/// the `[limits]` times, and the queues' waits are added to the clock, so a value meant as
/// "never" (TOML's largest integer, 2^63 - 1 seconds) must be refused at load, not overflow
/// the clock in the first session or wrap a product round to a few seconds.
const YEAR_SECS: u64 = 365 * 24 * 3600;
/// The largest store map and disk reserve, in MiB (64 TiB): about half of what a process
/// may map on x86-64, and far below where a size in bytes overflows.
const STORE_MIB_MAX: u64 = 1 << 26;

/// A time setting's bounds, in its own unit: the least, and a year.
fn time_within(section: &str, name: &str, value: u64, least: u64, unit_secs: u64, unit: &str) -> anyhow::Result<()> {
    let most = YEAR_SECS / unit_secs;
    if !(least..=most).contains(&value) {
        anyhow::bail!("[{section}] {name} = {value}: a time from {least} to {most} {unit} (a year)");
    }
    Ok(())
}

impl Limits {
    /// Every time limit is at most a year, and those a session waits on are at least a second
    /// (0 would cut every session at once).
    fn check(&self) -> anyhow::Result<()> {
        let times = [
            ("login_within_secs", self.login_within_secs, 1),
            ("idle_before_login_secs", self.idle_before_login_secs, 1),
            ("idle_after_login_secs", self.idle_after_login_secs, 1),
            ("write_timeout_secs", self.write_timeout_secs, 1),
            ("tls_handshake_secs", self.tls_handshake_secs, 1),
            ("shutdown_grace_secs", self.shutdown_grace_secs, 0),
            ("login_failure_window_secs", self.login_failure_window_secs, 0),
        ];
        for (name, secs, least) in times {
            time_within("limits", name, secs, least, 1, "seconds")?;
        }
        Ok(())
    }
}

impl Config {
    /// The times between the relay's rounds (sweeps, spool and queue looks) and the outbound
    /// queue's waits are at most a year, and the rounds at least a second apart; the store's
    /// sizes fit the address space.
    fn check_times_and_sizes(&self) -> anyhow::Result<()> {
        let (m, n, f) = (&self.monitor, &self.notices, &self.federation);
        time_within("monitor", "sweep_interval_secs", m.sweep_interval_secs, 1, 1, "seconds")?;
        time_within("notices", "flush_interval_secs", n.flush_interval_secs, 1, 1, "seconds")?;
        time_within("federation", "queue_interval_secs", f.queue_interval_secs, 1, 1, "seconds")?;
        time_within("federation", "retry_max_minutes", f.retry_max_minutes, 1, 60, "minutes")?;
        time_within("federation", "expire_after_hours", f.expire_after_hours, 1, 3600, "hours")?;
        time_within("federation", "queue_alert_minutes", f.queue_alert_minutes, 0, 60, "minutes")?;
        let sizes =
            [("map_size_mib", self.store.map_size_mib as u64, 1), ("disk_reserve_mib", self.store.disk_reserve_mib, 0)];
        for (name, mib, least) in sizes {
            if !(least..=STORE_MIB_MAX).contains(&mib) {
                anyhow::bail!("[store] {name} = {mib}: a size from {least} to {STORE_MIB_MAX} MiB (64 TiB)");
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The most the store file may grow to, in MiB (at most 64 TiB).
    pub map_size_mib: usize,
    /// Free space kept on the store's filesystem, in MiB: messages are refused (452 4.3.1)
    /// rather than let the disk fill, so that collections and logs always fit (at most
    /// 64 TiB).
    pub disk_reserve_mib: u64,
}

/// The monitor's rules (SPEC R-MON-1…3).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorSection {
    /// Days without collection before the user is warned.
    pub inactivity_notice_days: u64,
    /// Days without collection before reception is disabled.
    pub inactivity_disable_days: u64,
    /// Quota levels that warn the user, in percent.
    pub quota_warn_percents: Vec<u8>,
    /// Messages one sender may submit a minute (over it: 451 with the wait, and a strike).
    pub messages_per_minute: u32,
    /// Recipients of one message; the ones past it are refused at RCPT.
    pub recipients_per_message: u32,
    /// Distinct recipients one sender may write to in 24 hours.
    pub distinct_recipients_per_day: u32,
    /// Refusals within 24 hours after which the account is blocked.
    pub strikes_to_block: u32,
    /// Seconds between sweeps of every account: from 1 to a year.
    pub sweep_interval_secs: u64,
    /// Days connection records and trails of erased messages are kept.
    pub log_retention_days: u64,
    /// Days audit entries are kept.
    pub audit_retention_days: u64,
    /// Days a closed account is kept (unless under legal hold).
    pub closed_account_retention_days: u64,
}

impl Default for MonitorSection {
    fn default() -> Self {
        let rules = caducee_actors::monitor::MonitorConfig::default();
        MonitorSection {
            inactivity_notice_days: rules.inactivity_notice_days,
            inactivity_disable_days: rules.inactivity_disable_days,
            quota_warn_percents: rules.quota_warn_percents,
            messages_per_minute: rules.messages_per_minute,
            recipients_per_message: rules.recipients_per_message,
            distinct_recipients_per_day: rules.distinct_recipients_per_day,
            strikes_to_block: rules.strikes_to_block,
            sweep_interval_secs: rules.sweep_every.as_secs(),
            log_retention_days: rules.log_retention_days,
            audit_retention_days: rules.audit_retention_days,
            closed_account_retention_days: rules.closed_account_retention_days,
        }
    }
}

/// Where notices to users and administrators leave (never health data).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NoticesSection {
    /// `host:port` of the smarthost; without it notices wait in the spool.
    pub smarthost: Option<String>,
    /// STARTTLS to the smarthost (false only for a local test sink).
    pub starttls: bool,
    /// The From address of notices.
    pub from: Option<String>,
    /// Where administrator alerts go.
    pub admin: Option<String>,
    /// Seconds between looks at the notice spool: from 1 to a year.
    pub flush_interval_secs: u64,
}

impl Default for NoticesSection {
    fn default() -> Self {
        NoticesSection { smarthost: None, starttls: true, from: None, admin: None, flush_interval_secs: 30 }
    }
}

/// Scheduled backups (`caducee backup` without `--to`).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// Where scheduled backups go: a second disk or a mounted remote volume, not the data
    /// folder's own disk.
    pub folder: Option<PathBuf>,
    /// Keep the newest backup of each of this many most recent days...
    pub keep_daily: usize,
    /// ...and of each of this many most recent weeks.
    pub keep_weekly: usize,
    /// Leave LMDB's free pages out of the copy (smaller, and no stale page contents).
    pub compact: bool,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig { folder: None, keep_daily: 7, keep_weekly: 4, compact: true }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            domain: "caducee.localhost".into(),
            hostname: None,
            message_bytes_max: DEFAULT_MESSAGE_BYTES_MAX,
            time_zone: "Europe/Paris".into(),
            listen: Listen::default(),
            limits: Limits::default(),
            store: StoreConfig::default(),
            backup: BackupConfig::default(),
            monitor: MonitorSection::default(),
            notices: NoticesSection::default(),
            keys: KeysSection::default(),
            federation: FederationSection::default(),
            tls: TlsSection::default(),
        }
    }
}

impl Default for Listen {
    fn default() -> Self {
        let local = |port: u16| Addresses::from(SocketAddr::from(([127, 0, 0, 1], port)));
        Listen {
            submission: local(1587),
            submissions: local(1465),
            pop3: local(1110),
            pop3s: local(1995),
            imap: local(1143),
            imaps: local(1993),
            https: local(1443),
            ldap: local(1389),
            ldaps: local(1636),
            metrics: Some(local(19464)),
            relay: None,
            socket_io: SocketIo::Epoll,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sessions_per_ip: 64,
            sessions_max: 4096,
            sessions_reserved_for_login: 1024,
            ldap_sessions_max: 1024,
            connections_per_ip_per_minute: 120,
            login_within_secs: 60,
            commands_before_login: 20,
            write_timeout_secs: 30,
            tls_handshake_secs: 30,
            https_connections_max: 1024,
            https_connections_per_ip: 64,
            http_requests_per_ip_per_minute: 600,
            idle_before_login_secs: 60,
            idle_after_login_secs: 600,
            shutdown_grace_secs: 20,
            login_failures_max: 10,
            login_failure_window_secs: 900,
            in_flight_mib: 256,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            map_size_mib: caducee_storage::DEFAULT_MAP_BYTES >> 20,
            disk_reserve_mib: caducee_storage::DEFAULT_DISK_RESERVE_BYTES >> 20,
        }
    }
}

impl Config {
    /// Reads `<data>/caducee.toml` if present; defaults otherwise.
    pub fn load(data_dir: &Path) -> anyhow::Result<Config> {
        let path = config_path(data_dir);
        let config: Config = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).with_context(|| format!("reading {}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        config.check().with_context(|| format!("in {}", path.display()))?;
        Ok(config)
    }

    /// The rules a parsed configuration must hold: each setting within its range, the
    /// settings that go together fitting together, a real time zone.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        self.keys.check()?;
        self.limits.check()?;
        self.check_times_and_sizes()?;
        self.zone()?;
        if let Some(acme) = &self.tls.acme {
            acme.check()?;
        }
        Ok(())
    }

    /// The time zone of `time_zone`, or why the name is not one.
    pub fn zone(&self) -> anyhow::Result<jiff::tz::TimeZone> {
        jiff::tz::TimeZone::get(&self.time_zone).map_err(|_| {
            anyhow::anyhow!(
                "time_zone = {:?} is not a time zone (an IANA name such as \"Europe/Paris\")",
                self.time_zone
            )
        })
    }

    /// The monitor's rules; automatic key renewal needs the endpoints the relay is reached
    /// at (the ports actually bound) and its CA certificate.
    pub fn monitor_config(
        &self,
        endpoints: caducee_actors::keyvault::Endpoints,
        ca_pem: String,
    ) -> caducee_actors::monitor::MonitorConfig {
        let m = &self.monitor;
        let mut percents = m.quota_warn_percents.clone();
        percents.sort_unstable();
        caducee_actors::monitor::MonitorConfig {
            domain: self.domain.clone(),
            inactivity_notice_days: m.inactivity_notice_days,
            inactivity_disable_days: m.inactivity_disable_days.max(m.inactivity_notice_days),
            quota_warn_percents: percents,
            messages_per_minute: m.messages_per_minute,
            recipients_per_message: m.recipients_per_message,
            distinct_recipients_per_day: m.distinct_recipients_per_day,
            strikes_to_block: m.strikes_to_block.max(1),
            admin_email: self.notices.admin.clone(),
            sweep_every: std::time::Duration::from_secs(m.sweep_interval_secs.max(1)),
            log_retention_days: m.log_retention_days,
            audit_retention_days: m.audit_retention_days,
            closed_account_retention_days: m.closed_account_retention_days,
            renewal: self.keys.auto_renew.then_some(caducee_actors::monitor::Renewal {
                days_before_year_end: self.keys.renew_days_before_year_end,
                endpoints,
                ca_pem,
                issuer: self.key_issuer(),
            }),
            // Loaded by `serve` from the data folder.
            relay_key: None,
        }
    }

    /// The endpoints as configured (for commands run while the relay is stopped).
    pub fn configured_endpoints(&self) -> caducee_actors::keyvault::Endpoints {
        self.endpoints(self.listen.submissions.port(), self.listen.pop3s.port(), self.listen.https.port())
    }

    pub fn notices_config(&self) -> anyhow::Result<caducee_actors::notices::NoticesConfig> {
        let n = &self.notices;
        let smarthost = match &n.smarthost {
            Some(text) => {
                let (host, port) = text
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_owned(), p.parse::<u16>().ok()?)))
                    .with_context(|| format!("[notices] smarthost {text:?} is not host:port"))?;
                Some((host, port))
            }
            None => None,
        };
        Ok(caducee_actors::notices::NoticesConfig {
            smarthost,
            starttls: n.starttls,
            from: n.from.clone().unwrap_or_else(|| format!("postmaster@{}", self.domain)),
            every: std::time::Duration::from_secs(n.flush_interval_secs.max(1)),
        })
    }

    /// How the outbound queue delivers to peer operators.
    pub fn outbound_config(&self) -> anyhow::Result<crate::federation::outbound::OutboundConfig> {
        let f = &self.federation;
        let mut routes = BTreeMap::new();
        for (domain, hop) in &f.routes {
            let (host, port) = match hop.rsplit_once(':') {
                Some((host, port)) => (
                    host.trim_matches(['[', ']']),
                    port.parse::<u16>()
                        .with_context(|| format!("[federation.routes] {domain} = {hop:?}: the port is not a number"))?,
                ),
                None => (hop.as_str(), 25),
            };
            anyhow::ensure!(!host.is_empty(), "[federation.routes] {domain} = {hop:?} names no host");
            routes.insert(domain.to_ascii_lowercase(), (host.to_owned(), port));
        }
        Ok(crate::federation::outbound::OutboundConfig {
            hostname: self.hostname().to_owned(),
            domain: self.domain.clone(),
            routes,
            retry_max: std::time::Duration::from_secs(f.retry_max_minutes.max(1) * 60),
            expire_after: std::time::Duration::from_secs(f.expire_after_hours.max(1) * 3600),
            every: std::time::Duration::from_secs(f.queue_interval_secs.max(1)),
            alert_after: std::time::Duration::from_secs(f.queue_alert_minutes * 60),
        })
    }

    pub fn store_options(&self) -> caducee_storage::StoreOptions {
        caducee_storage::StoreOptions {
            map_bytes: self.store.map_size_mib << 20,
            disk_reserve_bytes: self.store.disk_reserve_mib << 20,
        }
    }

    pub fn hostname(&self) -> &str {
        self.hostname.as_deref().unwrap_or(&self.domain)
    }

    /// Where practices reach this relay, given the ports actually bound (or configured).
    pub fn endpoints(
        &self,
        submissions_port: u16,
        pop3s_port: u16,
        https_port: u16,
    ) -> caducee_actors::keyvault::Endpoints {
        let host = match &self.keys.public_host {
            Some(host) => host.clone(),
            None if self.listen.submissions.first().ip().is_loopback() => {
                self.listen.submissions.first().ip().to_string()
            }
            None => self.hostname().to_owned(),
        };
        caducee_actors::keyvault::Endpoints { host, submissions_port, pop3s_port, https_port }
    }

    /// The key issuer, when the keys are made outside the relay.
    pub fn key_issuer(&self) -> Option<caducee_actors::keyvault::issuer::IssuerClient> {
        self.keys.issuer.clone().map(caducee_actors::keyvault::issuer::IssuerClient::new)
    }

    pub fn bundle_folder(&self, data_dir: &Path) -> PathBuf {
        self.keys.bundle_folder.clone().unwrap_or_else(|| data_dir.join("bundles"))
    }
}

pub fn config_path(data_dir: &Path) -> PathBuf {
    data_dir.join("caducee.toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir()?;
        std::fs::write(config_path(dir.path()), text)?;
        Config::load(dir.path())
    }

    #[test]
    fn the_year_end_rules_must_fit_together() {
        let default = load("domain = \"relay.test\"\n").expect("defaults");
        assert_eq!((default.keys.renew_days_before_year_end, default.keys.next_year_within_days), (30, 90));
        assert!(load("[keys]\nnext_year_within_days = 30\nrenew_days_before_year_end = 30\n").is_ok());
        let inside = load("[keys]\nnext_year_within_days = 20\n").expect_err("inside the renewal window");
        assert!(format!("{inside:#}").contains("must be at least renew_days_before_year_end (30)"), "{inside:#}");
        let long = load("[keys]\nnext_year_within_days = 400\n").expect_err("longer than a year");
        assert!(format!("{long:#}").contains("at most 365"), "{long:#}");
    }

    #[test]
    fn the_limits_times_are_from_a_second_to_a_year() {
        let default = load("").expect("defaults");
        assert_eq!(default.limits.idle_after_login_secs, 600);
        assert!(load("[limits]\nidle_after_login_secs = 31536000\nshutdown_grace_secs = 0\n").is_ok());
        let never = load("[limits]\nidle_after_login_secs = 9223372036854775807\n").expect_err("beyond a year");
        assert!(
            format!("{never:#}")
                .contains("[limits] idle_after_login_secs = 9223372036854775807: a time from 1 to 31536000 seconds"),
            "{never:#}"
        );
        let zero = load("[limits]\nlogin_within_secs = 0\n").expect_err("no time to log in");
        assert!(format!("{zero:#}").contains("login_within_secs = 0"), "{zero:#}");
    }

    #[test]
    fn the_rounds_queues_and_store_sizes_are_bounded() {
        let at_most = "[monitor]\nsweep_interval_secs = 31536000\n[notices]\nflush_interval_secs = 31536000\n\
                       [federation]\nqueue_interval_secs = 31536000\nretry_max_minutes = 525600\n\
                       expire_after_hours = 8760\nqueue_alert_minutes = 0\n\
                       [store]\nmap_size_mib = 67108864\ndisk_reserve_mib = 0\n";
        let config = load(at_most).expect("every bound reached");
        let outbound = config.outbound_config().expect("outbound");
        assert_eq!(outbound.expire_after, std::time::Duration::from_secs(YEAR_SECS));
        assert_eq!(config.store_options().map_bytes, 1 << 46);
        let refused = [
            (
                "[monitor]\nsweep_interval_secs = 0\n",
                "[monitor] sweep_interval_secs = 0: a time from 1 to 31536000 seconds",
            ),
            (
                "[notices]\nflush_interval_secs = 9223372036854775807\n",
                "[notices] flush_interval_secs = 9223372036854775807",
            ),
            ("[federation]\nqueue_interval_secs = 31536001\n", "[federation] queue_interval_secs = 31536001"),
            // 5124095576030432 hours are 2^64 seconds and a little: the product wrapped round.
            ("[federation]\nexpire_after_hours = 5124095576030432\n", "a time from 1 to 8760 hours (a year)"),
            ("[federation]\nretry_max_minutes = 0\n", "a time from 1 to 525600 minutes (a year)"),
            ("[federation]\nqueue_alert_minutes = 525601\n", "[federation] queue_alert_minutes = 525601"),
            (
                "[store]\nmap_size_mib = 17592186044416\n",
                "[store] map_size_mib = 17592186044416: a size from 1 to 67108864 MiB",
            ),
            ("[store]\nmap_size_mib = 0\n", "[store] map_size_mib = 0"),
            ("[store]\ndisk_reserve_mib = 67108865\n", "[store] disk_reserve_mib = 67108865"),
        ];
        for (text, said) in refused {
            let error = load(text).expect_err(text);
            assert!(format!("{error:#}").contains(said), "{text}: {error:#}");
        }
    }

    #[test]
    fn the_time_zone_is_a_real_one() {
        assert_eq!(load("").expect("defaults").time_zone, "Europe/Paris");
        assert!(load("time_zone = \"America/Cayenne\"\n").is_ok());
        let wrong = load("time_zone = \"Paris\"\n").expect_err("no such zone");
        assert!(format!("{wrong:#}").contains("time_zone = \"Paris\" is not a time zone"), "{wrong:#}");
    }
}
