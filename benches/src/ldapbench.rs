//! `caducee-ldapbench`: directory load for the LDAP side-by-side (benches/compare/ldap.sh).
//!
//! - `populate --data-dir D --entries N`: a fresh relay store with N accounts and their
//!   directory entries, made directly through the store (one shared password hash: the
//!   argon2id of 100,000 passwords would take the better part of an hour and measures
//!   nothing about the directory).
//! - `search --port P --connections C --seconds S`: C concurrent connections each running
//!   searches back to back from a fixed mix, over plain LDAP, or LDAPS with `--ldaps-ca`
//!   (the server's name checked is the domain); throughput and latency in hdrhistogram,
//!   text and JSON. The same program drives both servers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use caducee_storage::{
    DirectoryEntry, MailboxType, Millis, NewAccount, PractitionerId, Preference, Store, StoreOptions,
};
use clap::{Parser, Subcommand};
use futures_util::{SinkExt as _, StreamExt as _};
use ldap3_proto::proto::*;
use ldap3_proto::LdapCodec;
use tokio_util::codec::Framed;

const LAST_NAMES: [&str; 40] = [
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefebvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Lefevre",
    "Faure",
    "Andre",
    "Mercier",
    "Blanc",
    "Guerin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "Francois",
    "Legrand",
    "Gauthier",
    "Garcia",
];
const FIRST_NAMES: [&str; 20] = [
    "Anne", "Marie", "Claire", "Sophie", "Julie", "Camille", "Lea", "Emma", "Chloe", "Sarah", "Pierre", "Paul", "Jean",
    "Louis", "Hugo", "Lucas", "Thomas", "Nicolas", "Antoine", "Julien",
];
const CITIES: [(&str, &str); 25] = [
    ("Lille", "59000"),
    ("Roubaix", "59100"),
    ("Tourcoing", "59200"),
    ("Paris", "75011"),
    ("Lyon", "69003"),
    ("Marseille", "13008"),
    ("Toulouse", "31000"),
    ("Nice", "06000"),
    ("Nantes", "44000"),
    ("Strasbourg", "67000"),
    ("Montpellier", "34000"),
    ("Bordeaux", "33000"),
    ("Rennes", "35000"),
    ("Reims", "51100"),
    ("Amiens", "80000"),
    ("Arras", "62000"),
    ("Dunkerque", "59140"),
    ("Valenciennes", "59300"),
    ("Douai", "59500"),
    ("Cambrai", "59400"),
    ("Rouen", "76000"),
    ("Caen", "14000"),
    ("Metz", "57000"),
    ("Nancy", "54000"),
    ("Dijon", "21000"),
];
const SPECIALTIES: [&str; 12] = [
    "Médecine générale",
    "Cardiologie",
    "Pédiatrie",
    "Radiologie",
    "Biologie",
    "Dermatologie",
    "Gynécologie",
    "Ophtalmologie",
    "Psychiatrie",
    "Pneumologie",
    "Rhumatologie",
    "Neurologie",
];

#[derive(Debug, Parser)]
#[command(name = "caducee-ldapbench", about = "Directory data and LDAP search load for benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fill a fresh data folder's store with N accounts and directory entries.
    Populate {
        #[arg(long)]
        data_dir: std::path::PathBuf,
        #[arg(long, default_value_t = 100_000)]
        entries: usize,
        #[arg(long, default_value = "relay.test")]
        domain: String,
    },
    /// Run the search mix against an LDAP server on 127.0.0.1.
    Search {
        #[arg(long)]
        port: u16,
        #[arg(long, default_value = "ou=directory,dc=relay,dc=test")]
        base: String,
        #[arg(long, default_value = "relay.test")]
        domain: String,
        /// How many entries the server holds (the mix asks for existing ones).
        #[arg(long, default_value_t = 100_000)]
        entries: usize,
        #[arg(long, default_value_t = 16)]
        connections: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Write the report as JSON here too.
        #[arg(long)]
        json: Option<std::path::PathBuf>,
        /// Connect over LDAPS (implicit TLS), trusting this CA (PEM).
        #[arg(long)]
        ldaps_ca: Option<std::path::PathBuf>,
    },
}

/// The server to search: its port on 127.0.0.1, over TLS when a connector is given.
#[derive(Clone)]
struct Target {
    port: u16,
    tls: Option<(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>)>,
}

/// A connection, in clear or over TLS.
trait Connection: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Connection for T {}

impl Target {
    async fn connect(&self) -> anyhow::Result<Box<dyn Connection>> {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        stream.set_nodelay(true)?;
        Ok(match &self.tls {
            Some((connector, name)) => Box::new(connector.connect(name.clone(), stream).await?),
            None => Box::new(stream),
        })
    }
}

/// The i-th generated practitioner: the same on every run.
fn person(i: usize) -> (String, String, (&'static str, &'static str), &'static str) {
    let last = LAST_NAMES[i % LAST_NAMES.len()];
    let first = FIRST_NAMES[(i / LAST_NAMES.len()) % FIRST_NAMES.len()];
    let city = CITIES[(i * 7) % CITIES.len()];
    let specialty = SPECIALTIES[(i * 13) % SPECIALTIES.len()];
    (first.to_owned(), last.to_owned(), city, specialty)
}

fn address(i: usize, domain: &str) -> String {
    format!("practitioner-{i}@{domain}")
}

/// An RPPS number with a valid Luhn digit, derived from `i`.
fn rpps(i: usize) -> String {
    let stem = format!("1{:09}", i);
    (0..10u32)
        .map(|d| format!("{stem}{d}"))
        .find(|candidate| {
            let sum: u32 = candidate
                .bytes()
                .rev()
                .enumerate()
                .map(|(k, b)| {
                    let d = u32::from(b - b'0');
                    if k % 2 == 1 {
                        if d > 4 {
                            d * 2 - 9
                        } else {
                            d * 2
                        }
                    } else {
                        d
                    }
                })
                .sum();
            sum.is_multiple_of(10)
        })
        .unwrap_or_default()
}

fn populate(data_dir: &std::path::Path, entries: usize, domain: &str) -> anyhow::Result<()> {
    if data_dir.join("store").exists() {
        bail!("{} already holds a store", data_dir.display());
    }
    std::fs::create_dir_all(data_dir)?;
    let store = Store::open(data_dir, &StoreOptions::default())?;
    let hash = caducee_storage::hash_password("benchmark-only")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let started = Instant::now();
    // Accounts made now: the monitor's first sweep must find them active, as real new
    // subscribers would be.
    let now = Millis(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64);
    runtime.block_on(async {
        // Many writes in flight: the store's group commit takes them in few transactions.
        const IN_FLIGHT: usize = 512;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..entries {
            if tasks.len() >= IN_FLIGHT {
                if let Some(done) = tasks.join_next().await {
                    done??;
                }
            }
            let (first_name, last_name, (city, postcode), specialty) = person(i);
            let new = NewAccount {
                address: caducee_storage::Address::parse(&address(i, domain))?,
                first_name,
                last_name,
                contact_email: format!("contact-{i}@example.org"),
                password_hash: hash.clone(),
                quota_bytes: caducee_storage::DEFAULT_QUOTA_BYTES,
                created_at: now,
                directory: Some(DirectoryEntry {
                    civility: "Dr".into(),
                    city: city.into(),
                    postcode: postcode.into(),
                    specialty: specialty.into(),
                    practitioner_id: Some(PractitionerId::Rpps(rpps(i))),
                    mailbox_type: MailboxType::Personal,
                    phone: format!("03 20 {:02} {:02} {:02}", i % 100, (i / 100) % 100, (i / 10_000) % 100),
                    publish_phone: Preference::set(i % 3 == 0, now),
                    dematerialisation: Preference::set(i % 2 == 0, now),
                    ..DirectoryEntry::default()
                }),
            };
            let store = store.clone();
            tasks.spawn(async move { store.create_account(new).await.map(drop).map_err(anyhow::Error::from) });
            if i > 0 && i % 10_000 == 0 {
                eprintln!("{i} entries…");
            }
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        anyhow::Ok(())
    })?;
    store.close();
    println!("{entries} entries written in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The search mix: one query per call, chosen by `n`.
fn query(n: u64, entries: usize, base: &str, domain: &str) -> LdapSearchRequest {
    let pick = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16) as usize;
    let (filter, sizelimit) = match n % 10 {
        // Half: one practitioner by address (what a mail client's address book asks).
        0..=4 => (LdapFilter::Equality("mail".into(), address(pick % entries, domain)), 0),
        // A third: name in a city (a handful of entries).
        5..=7 => {
            let (_, last, (city, _), _) = person(pick % entries);
            (
                LdapFilter::And(vec![
                    LdapFilter::Equality("l".into(), city.into()),
                    LdapFilter::Equality("sn".into(), last),
                ]),
                0,
            )
        }
        // The rest: a name prefix, at most 20 answers (search-as-you-type).
        _ => {
            let (_, last, _, _) = person(pick % entries);
            let prefix: String = last.chars().take(4).collect();
            (
                LdapFilter::Substring(
                    "sn".into(),
                    LdapSubstringFilter { initial: Some(prefix), any: Vec::new(), final_: None },
                ),
                20,
            )
        }
    };
    LdapSearchRequest {
        base: base.to_owned(),
        scope: LdapSearchScope::Subtree,
        aliases: LdapDerefAliases::Never,
        sizelimit,
        timelimit: 0,
        typesonly: false,
        filter,
        attrs: vec!["mail".into(), "cn".into(), "l".into(), "telephoneNumber".into()],
    }
}

#[derive(Debug, Default)]
struct Totals {
    searches: AtomicU64,
    entries: AtomicU64,
    errors: AtomicU64,
}

async fn searcher(
    target: Target,
    first: u64,
    entries: usize,
    base: String,
    domain: String,
    stop: Arc<AtomicBool>,
    totals: Arc<Totals>,
) -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    let stream = target.connect().await?;
    let mut framed = Framed::new(stream, LdapCodec::new(Some(16 << 20), None));
    let mut histogram = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut n = first;
    let mut msgid = 1;
    while !stop.load(Ordering::Relaxed) {
        let request = query(n, entries, &base, &domain);
        n += 1;
        msgid += 1;
        let started = Instant::now();
        framed.send(LdapMsg::new(msgid, LdapOp::SearchRequest(request))).await?;
        loop {
            let reply = framed.next().await.context("the server closed the connection")??;
            match reply.op {
                LdapOp::SearchResultEntry(_) => {
                    totals.entries.fetch_add(1, Ordering::Relaxed);
                }
                LdapOp::SearchResultDone(result) => {
                    if !matches!(result.code, LdapResultCode::Success | LdapResultCode::SizeLimitExceeded) {
                        totals.errors.fetch_add(1, Ordering::Relaxed);
                    }
                    break;
                }
                _ => {}
            }
        }
        histogram.record(started.elapsed().as_micros().max(1) as u64)?;
        totals.searches.fetch_add(1, Ordering::Relaxed);
    }
    Ok(histogram)
}

fn search(
    target: Target,
    base: String,
    domain: String,
    entries: usize,
    connections: usize,
    seconds: u64,
    json: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let totals = Arc::new(Totals::default());
    let port = target.port;
    let mix = SearchMix { target, entries, base, domain };
    let (histogram, elapsed) = runtime.block_on(mix.run(connections, Duration::from_secs(seconds), &totals))?;
    let figures = SearchFigures { port, connections, elapsed, histogram: &histogram, totals: &totals };
    figures.print();
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_vec_pretty(&figures.json())?)?;
    }
    if totals.errors.load(Ordering::Relaxed) > 0 {
        bail!("some searches failed");
    }
    Ok(())
}

/// The searches to run: the server's port, and the directory the mix queries.
struct SearchMix {
    target: Target,
    entries: usize,
    base: String,
    domain: String,
}

impl SearchMix {
    /// Runs `connections` searchers for `duration`, showing progress each second: the
    /// latencies of every search, and the time it took.
    async fn run(
        &self,
        connections: usize,
        duration: Duration,
        totals: &Arc<Totals>,
    ) -> anyhow::Result<(hdrhistogram::Histogram<u64>, Duration)> {
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = tokio::task::JoinSet::new();
        for c in 0..connections {
            tasks.spawn(searcher(
                self.target.clone(),
                c as u64 * 1_000_003,
                self.entries,
                self.base.clone(),
                self.domain.clone(),
                stop.clone(),
                totals.clone(),
            ));
        }
        while started.elapsed() < duration {
            tokio::time::sleep(Duration::from_secs(1)).await;
            eprint!(
                "\r{} searches, {} entries",
                totals.searches.load(Ordering::Relaxed),
                totals.entries.load(Ordering::Relaxed)
            );
        }
        stop.store(true, Ordering::Relaxed);
        let mut merged = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        while let Some(done) = tasks.join_next().await {
            merged.add(done??)?;
        }
        eprintln!();
        Ok((merged, started.elapsed()))
    }
}

/// What a search run measured.
struct SearchFigures<'a> {
    port: u16,
    connections: usize,
    elapsed: Duration,
    histogram: &'a hdrhistogram::Histogram<u64>,
    totals: &'a Totals,
}

impl SearchFigures<'_> {
    fn rate(&self) -> f64 {
        self.totals.searches.load(Ordering::Relaxed) as f64 / self.elapsed.as_secs_f64()
    }

    fn ms(&self, q: f64) -> f64 {
        self.histogram.value_at_quantile(q) as f64 / 1000.0
    }

    fn print(&self) {
        let searches = self.totals.searches.load(Ordering::Relaxed);
        println!(
            "{searches} searches in {:.1} s over {} connections: {:.0} searches/s; \
             {} entries returned; {} errors",
            self.elapsed.as_secs_f64(),
            self.connections,
            self.rate(),
            self.totals.entries.load(Ordering::Relaxed),
            self.totals.errors.load(Ordering::Relaxed)
        );
        println!(
            "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            self.ms(0.5),
            self.ms(0.9),
            self.ms(0.99),
            self.ms(0.999),
            self.histogram.max() as f64 / 1000.0
        );
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "port": self.port,
            "connections": self.connections,
            "seconds": self.elapsed.as_secs_f64(),
            "searches": self.totals.searches.load(Ordering::Relaxed),
            "searches_per_second": self.rate(),
            "entries_returned": self.totals.entries.load(Ordering::Relaxed),
            "errors": self.totals.errors.load(Ordering::Relaxed),
            "latency_ms": { "p50": self.ms(0.5), "p90": self.ms(0.9), "p99": self.ms(0.99), "p99_9": self.ms(0.999),
                            "max": self.histogram.max() as f64 / 1000.0 },
        })
    }
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Populate { data_dir, entries, domain } => populate(&data_dir, entries, &domain),
        Command::Search { port, base, domain, entries, connections, seconds, json, ldaps_ca } => {
            let tls = match ldaps_ca {
                Some(ca) => {
                    let name = rustls::pki_types::ServerName::try_from(domain.clone())?;
                    Some((caducee_actors::probe::tls_trusting(&ca)?, name))
                }
                None => None,
            };
            search(Target { port, tls }, base, domain, entries, connections, seconds, json)
        }
    }
}
