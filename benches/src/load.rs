//! `caducee-load`: a closed-loop load generator for Caducée's submission path.
//!
//! It starts a relay of its own (`caducee serve`) in a scratch data folder on loopback
//! ports, creates one account per simulated practice, and has each practice submit real
//! OpenPGP messages (PGP/MIME, encrypted with sequoia to a freshly generated certificate)
//! over SMTP submission with implicit TLS and AUTH PLAIN, as fast as the relay answers.
//!
//! It measures what a sender waits for: the time from the end of the data (`<CRLF>.<CRLF>`
//! written) to the relay's `250`, which is the durable commit; and the whole transaction
//! (MAIL through `250`). At the end it checks that the relay stores exactly as many
//! messages as were answered `250`, and reports the group commit's writes per commit and
//! the relay's CPU time and peak memory.
//!
//! The client side is the relay's own probe (`caducee_actors::probe`), shared with the
//! restore drill.
//!
//! It never listens on anything but 127.0.0.1 and is bounded by a message count.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use caducee_actors::probe::{self, Pop3Probe, SmtpProbe};
use clap::Parser;
use hdrhistogram::Histogram;
use tokio_rustls::TlsConnector;

/// The domain of the scratch relay's accounts.
const LOAD_DOMAIN: &str = "load.test";
/// Latencies are recorded in microseconds, up to one minute.
const LATENCY_MICROS_MAX: u64 = 60_000_000;

#[derive(Debug, Parser)]
#[command(name = "caducee-load", about = "Closed-loop SMTP submission load against a scratch Caducée relay")]
struct Args {
    /// Concurrent SMTP sessions, one simulated practice (account) each.
    #[arg(long, default_value_t = 32)]
    sessions: usize,
    /// Messages to submit in all.
    #[arg(long, default_value_t = 20_000)]
    messages: u64,
    /// Size of each document before encryption, in bytes.
    #[arg(long, default_value_t = 5 * 1024)]
    size: usize,
    /// Open a new TLS session for every message instead of keeping each session open.
    #[arg(long)]
    reconnect: bool,
    /// The `caducee` binary to run (default: the one next to this program).
    #[arg(long)]
    relay_bin: Option<PathBuf>,
    /// Data folder for the scratch relay (default: a temporary folder, removed afterwards).
    /// It must not hold a store already.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Draw throughput and end-of-data→250 latency (p50, p99) over the run as SVG here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Take a backup (`caducee backup --to FILE`) once half the messages are in, and report
    /// the accept latencies seen while it ran against those outside it.
    #[arg(long)]
    backup_during: Option<PathBuf>,
    /// POP3 collectors (retrieve + delete over TLS) running beside the senders; the run ends
    /// when every accepted message has been collected.
    #[arg(long, default_value_t = 0)]
    collectors: usize,
    /// Open loop: submit at this fixed rate (messages/s) whatever the relay's answers, and
    /// measure each message from its scheduled time (no coordinated omission). Without it,
    /// each session sends its next message as soon as the last is answered.
    #[arg(long)]
    rate: Option<f64>,
    /// Stop whatever is still running after this many seconds.
    #[arg(long, default_value_t = 600)]
    seconds_max: u64,
    /// Drive a server already running on 127.0.0.1 instead of a scratch relay (a Caducée
    /// appliance, or another mail system to compare with): its implicit-TLS submission port.
    #[arg(long, requires_all = ["target_pop3s_port", "target_ca", "target_accounts"])]
    target_submissions_port: Option<u16>,
    /// The target's implicit-TLS POP3 port.
    #[arg(long)]
    target_pop3s_port: Option<u16>,
    /// The CA certificate (PEM) the target's TLS certificate (name "localhost") chains to.
    #[arg(long)]
    target_ca: Option<PathBuf>,
    /// Accounts on the target, one "address password [certificate file]" per line, as many
    /// as --sessions; documents to an account with a certificate (armoured) are encrypted to it.
    #[arg(long)]
    target_accounts: Option<PathBuf>,
    /// The target's process id, to report its CPU time and memory.
    #[arg(long)]
    target_pid: Option<u32>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.sessions == 0 || args.messages == 0 {
        bail!("--sessions and --messages must be at least 1");
    }
    let mut target = match args.target_submissions_port {
        Some(submissions_port) => Target::external(&args, submissions_port)?,
        None => Target::scratch(&args)?,
    };
    let result = run_load(&args, &target);
    if let Some(relay) = &mut target.relay {
        relay.stop();
    }
    let report = result?;
    print!("{}", report.text());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report.json())?)?;
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "{} sessions, {}-byte documents{}",
            args.sessions,
            args.size,
            if args.reconnect { ", reconnect per message" } else { "" }
        );
        std::fs::write(path, plot(&report.timeline, &title))?;
    }
    if target.relay.is_some() && report.stored_messages != report.accepted - report.collected {
        bail!(
            "the relay stores {} messages; it answered 250 to {} and {} were collected",
            report.stored_messages,
            report.accepted,
            report.collected
        );
    }
    if !report.errors.is_empty() {
        bail!("{} errors (see the report)", report.errors.len());
    }
    Ok(())
}

/// What the load runs against: a scratch relay this program started, or a server already
/// running on loopback.
struct Target {
    submissions_port: u16,
    pop3s_port: u16,
    ca: PathBuf,
    pid: Option<u32>,
    relay: Option<Relay>,
    accounts: Option<Vec<Practice>>,
    /// The scratch relay's temporary folder, removed when the target goes.
    _scratch: Option<tempfile::TempDir>,
}

impl Target {
    fn scratch(args: &Args) -> anyhow::Result<Target> {
        let relay_bin = match &args.relay_bin {
            Some(path) => path.clone(),
            None => std::env::current_exe()?.with_file_name("caducee"),
        };
        if !relay_bin.exists() {
            bail!("{} not found: build it (cargo build --release -p caducee) or pass --relay-bin", relay_bin.display());
        }
        let mut scratch = None;
        let data_dir = match &args.data_dir {
            Some(dir) => dir.clone(),
            None => {
                // Removed when the target is dropped, at the end of the run.
                let dir = tempfile::Builder::new().prefix("caducee-load-").tempdir()?;
                let data = dir.path().join("data");
                scratch = Some(dir);
                data
            }
        };
        if data_dir.join("store").exists() {
            bail!("{} already holds a store: the load runs against a fresh one", data_dir.display());
        }
        eprintln!("starting the relay in {}", data_dir.display());
        let relay = Relay::start(&relay_bin, &data_dir, args.sessions)?;
        Ok(Target {
            submissions_port: relay.submissions_port,
            pop3s_port: relay.pop3s_port,
            ca: data_dir.join("tls/ca.pem"),
            pid: Some(relay.child.id()),
            relay: Some(relay),
            accounts: None,
            _scratch: scratch,
        })
    }

    fn external(args: &Args, submissions_port: u16) -> anyhow::Result<Target> {
        if args.backup_during.is_some() {
            bail!("--backup-during needs a scratch relay");
        }
        let path = args.target_accounts.as_ref().context("--target-accounts")?;
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let accounts: Vec<Practice> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let mut words = line.split_whitespace();
                let (Some(address), Some(password)) = (words.next(), words.next()) else {
                    bail!("each line: address password [certificate file]");
                };
                let certificate = match words.next() {
                    Some(file) => Some(std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?),
                    None => None,
                };
                Ok(Practice { address: address.to_owned(), password: password.to_owned(), certificate })
            })
            .collect::<anyhow::Result<_>>()?;
        if accounts.len() < args.sessions {
            bail!("{} accounts for {} sessions: give one account per session", accounts.len(), args.sessions);
        }
        Ok(Target {
            submissions_port,
            pop3s_port: args.target_pop3s_port.context("--target-pop3s-port")?,
            ca: args.target_ca.clone().context("--target-ca")?,
            pid: args.target_pid,
            relay: None,
            accounts: Some(accounts),
            _scratch: None,
        })
    }

    fn practices(&self, sessions: usize) -> anyhow::Result<Vec<Practice>> {
        if let Some(accounts) = &self.accounts {
            return Ok(accounts[..sessions].to_vec());
        }
        let relay = self.relay.as_ref().context("no relay")?;
        eprintln!("creating {sessions} accounts");
        (0..sessions)
            .map(|i| {
                let address = format!("practice-{i}@{LOAD_DOMAIN}");
                let (password, certificate) = relay.add_user(&address)?;
                Ok(Practice { address, password, certificate: Some(certificate) })
            })
            .collect()
    }

    fn status(&self) -> anyhow::Result<serde_json::Value> {
        match &self.relay {
            Some(relay) => relay.status(),
            None => Ok(serde_json::Value::Null),
        }
    }
}

fn run_load(args: &Args, target: &Target) -> anyhow::Result<Report> {
    let practices = target.practices(args.sessions)?;

    eprintln!("encrypting a {}-byte document to each practice", args.size);
    // Each document is encrypted to its recipient's certificate, as the relay requires.
    let documents: Vec<String> = practices
        .iter()
        .map(|p| match &p.certificate {
            Some(certificate) => probe::encrypted_document(args.size, certificate),
            None => probe::encrypted_document(args.size, &probe::throwaway_certificate(&p.address)?),
        })
        .collect::<Result<_, _>>()?;
    let tls = probe::tls_trusting(&target.ca)?;
    let before = target.status()?;
    let cpu_before = target.pid.map(cpu_seconds).transpose()?.unwrap_or(0.0);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (schedule_sender, schedule_receiver) = match args.rate {
        Some(rate) if rate > 0.0 => {
            let (sender, receiver) = tokio::sync::mpsc::channel::<Instant>(1 << 20);
            (Some((sender, rate)), Some(receiver))
        }
        Some(_) => bail!("--rate must be above 0"),
        None => (None, None),
    };
    let shared = Arc::new(Shared {
        remaining: AtomicU64::new(args.messages),
        accepted: AtomicU64::new(0),
        errors: Mutex::new(Vec::new()),
        end_of_data: Mutex::new(histogram()),
        transaction: Mutex::new(histogram()),
        samples: Mutex::new(Vec::new()),
        collected: AtomicU64::new(0),
        retrieve: Mutex::new(histogram()),
        schedule: schedule_receiver.map(tokio::sync::Mutex::new),
        from_schedule: Mutex::new(histogram()),
        senders_done: std::sync::atomic::AtomicBool::new(false),
        logged_in: tokio::sync::Semaphore::new(0),
    });
    let started = Instant::now();
    let senders_elapsed = std::cell::Cell::new(None);
    let backup = runtime.block_on(async {
        let progress = tokio::spawn(show_progress(shared.clone(), args.messages));
        let backup = args.backup_during.clone().map(|file| {
            let (shared, half) = (shared.clone(), args.messages / 2);
            let mut command = target.relay.as_ref().map(|relay| relay.backup_command(&file));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(5));
                while shared.accepted.load(Ordering::Relaxed) < half {
                    tick.tick().await;
                }
                let started = Instant::now();
                let output = tokio::task::spawn_blocking(move || match command.as_mut() {
                    Some(command) => command.output(),
                    None => Err(std::io::Error::other("no scratch relay")),
                })
                .await;
                (started, Instant::now(), output)
            })
        });
        if let Some((sender, rate)) = schedule_sender {
            tokio::spawn(pace(sender, rate, args.messages, shared.clone(), args.sessions));
        }
        let mut collector_tasks = Vec::new();
        for k in 0..args.collectors {
            let mailboxes: Vec<Practice> = practices
                .iter()
                .enumerate()
                .filter(|(i, _)| i % args.collectors == k)
                .map(|(_, p)| p.clone())
                .collect();
            let collector = Collector { port: target.pop3s_port, tls: tls.clone(), mailboxes, shared: shared.clone() };
            collector_tasks.push(tokio::spawn(collector.run()));
        }
        let mut tasks = Vec::new();
        for (i, practice) in practices.iter().enumerate() {
            let next = (i + 1) % practices.len();
            let recipient = &practices[next].address;
            let message = Arc::new(probe::pgp_mime(&practice.address, recipient, "Compte rendu", &documents[next]));
            let session = Submitter {
                port: target.submissions_port,
                tls: tls.clone(),
                practice: practice.clone(),
                recipient: recipient.clone(),
                message,
                reconnect: args.reconnect,
                shared: shared.clone(),
            };
            tasks.push(tokio::spawn(session.run()));
        }
        let deadline = Duration::from_secs(args.seconds_max);
        let work = async {
            for task in tasks {
                if let Err(error) = task.await {
                    shared.error(format!("session task failed: {error}"));
                }
            }
            shared.senders_done.store(true, Ordering::Release);
            senders_elapsed.set(Some(started.elapsed()));
            for task in collector_tasks {
                if let Err(error) = task.await {
                    shared.error(format!("collector task failed: {error}"));
                }
            }
        };
        if tokio::time::timeout(deadline, work).await.is_err() {
            shared.error(format!("stopped after {} s (--seconds-max)", args.seconds_max));
        }
        progress.abort();
        match backup {
            Some(task) => match task.await {
                Ok((started, ended, Ok(Ok(output)))) if output.status.success() => {
                    let done: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
                    Some(backup_window(&shared, started, ended, &done))
                }
                Ok((_, _, Ok(Ok(output)))) => {
                    shared.error(format!("backup failed: {}", String::from_utf8_lossy(&output.stderr)));
                    None
                }
                other => {
                    shared.error(format!("backup did not run: {:?}", other.map(|(_, _, r)| r.map(|r| r.map(drop)))));
                    None
                }
            },
            None => None,
        }
    });
    let elapsed = started.elapsed();
    let submit_elapsed = senders_elapsed.get().unwrap_or(elapsed);
    eprintln!();

    let after = target.status()?;
    let cpu_after = target.pid.map(cpu_seconds).transpose()?.unwrap_or(0.0);
    let commits = |status: &serde_json::Value, key: &str| status["commits"][key].as_u64().unwrap_or(0);
    let errors = std::mem::take(&mut *lock(&shared.errors));
    let end_of_data = lock(&shared.end_of_data).clone();
    let retrieve = lock(&shared.retrieve).clone();
    let from_schedule = lock(&shared.from_schedule).clone();
    let transaction = lock(&shared.transaction).clone();
    let timeline = timeline(&lock(&shared.samples), started, elapsed);
    Ok(Report {
        timeline,
        sessions: args.sessions,
        reconnect: args.reconnect,
        document_bytes: args.size,
        message_bytes: probe::pgp_mime(&practices[0].address, &practices[0].address, "Compte rendu", &documents[0])
            .len(),
        accepted: shared.accepted.load(Ordering::Relaxed),
        errors,
        elapsed,
        end_of_data,
        transaction,
        commits: commits(&after, "commits") - commits(&before, "commits"),
        writes: commits(&after, "writes") - commits(&before, "writes"),
        stored_messages: after["stored_messages"].as_u64().unwrap_or(0),
        relay_cpu_seconds: cpu_after - cpu_before,
        relay_peak_rss_kib: target.pid.and_then(|pid| memory_kib(pid, "VmHWM")).unwrap_or(0),
        relay_anon_rss_kib: target.pid.and_then(|pid| memory_kib(pid, "RssAnon")).unwrap_or(0),
        relay_file_rss_kib: target.pid.and_then(|pid| memory_kib(pid, "RssFile")).unwrap_or(0),
        backup,
        collectors: args.collectors,
        submit_elapsed,
        collected: shared.collected.load(Ordering::Relaxed),
        retrieve,
        rate: args.rate,
        from_schedule,
    })
}

#[derive(Debug, Clone)]
struct Practice {
    address: String,
    password: String,
    /// The practice's public certificate (armoured), as the relay issued it; `None` for a
    /// peer that holds no keys.
    certificate: Option<String>,
}

#[derive(Debug)]
struct Shared {
    /// Messages not yet started; a session takes one before each transaction.
    remaining: AtomicU64,
    accepted: AtomicU64,
    errors: Mutex<Vec<String>>,
    end_of_data: Mutex<Histogram<u64>>,
    transaction: Mutex<Histogram<u64>>,
    /// When each end-of-data→250 completed, and its latency in µs (for `--backup-during`).
    samples: Mutex<Vec<(Instant, u64)>>,
    collected: AtomicU64,
    /// RETR command to the end of the message, µs.
    retrieve: Mutex<Histogram<u64>>,
    /// Open loop: scheduled start times, one per message.
    schedule: Option<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Instant>>>,
    /// Open loop: scheduled time → 250, µs.
    from_schedule: Mutex<Histogram<u64>>,
    senders_done: std::sync::atomic::AtomicBool,
    /// One permit per session login: the open-loop pacer starts once every session is in,
    /// so that the logins (argon2id on the relay) do not count as queueing.
    logged_in: tokio::sync::Semaphore,
}

impl Shared {
    fn take_message(&self) -> bool {
        self.remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
    }

    fn error(&self, error: String) {
        let mut errors = lock(&self.errors);
        // Keep the first few in full; count the rest.
        if errors.len() < 20 {
            errors.push(error);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking session task cannot leave a histogram half-written: recording is one call.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn histogram() -> Histogram<u64> {
    // Three significant digits over 1 µs .. 60 s: the bounds are constants, so this holds.
    Histogram::new_with_bounds(1, LATENCY_MICROS_MAX, 3).unwrap_or_else(|_| unreachable!("valid bounds"))
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX).clamp(1, LATENCY_MICROS_MAX)
}

async fn show_progress(shared: Arc<Shared>, total: u64) {
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let accepted = shared.accepted.load(Ordering::Relaxed);
        let rate = accepted as f64 / started.elapsed().as_secs_f64();
        let p99 = lock(&shared.end_of_data).value_at_quantile(0.99) as f64 / 1000.0;
        eprint!("\r{accepted:>9}/{total} accepted  {rate:>8.0} msg/s  end-of-data→250 p99 {p99:>7.2} ms   ");
        let _ = std::io::stderr().flush();
    }
}

/// Open loop: one scheduled start time per message, at `rate` per second from now.
async fn pace(
    sender: tokio::sync::mpsc::Sender<Instant>,
    rate: f64,
    messages: u64,
    shared: Arc<Shared>,
    sessions: usize,
) {
    if let Ok(permits) = shared.logged_in.acquire_many(sessions as u32).await {
        permits.forget();
    }
    let started = Instant::now();
    for n in 0..messages {
        let at = started + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(at.into()).await;
        if sender.send(at).await.is_err() {
            return;
        }
    }
}

/// A POP3 collector: logs into each of its mailboxes in turn, retrieves and deletes
/// everything, quits; until the senders are done and everything accepted is collected.
struct Collector {
    port: u16,
    tls: TlsConnector,
    mailboxes: Vec<Practice>,
    shared: Arc<Shared>,
}

impl Collector {
    async fn run(self) {
        loop {
            let mut collected = 0;
            for mailbox in &self.mailboxes {
                match self.collect(mailbox).await {
                    Ok(n) => collected += n,
                    Err(error) => {
                        self.shared.error(format!("collecting {}: {error:#}", mailbox.address));
                        return;
                    }
                }
            }
            let shared = &self.shared;
            if shared.senders_done.load(Ordering::Acquire)
                && shared.collected.load(Ordering::Relaxed) >= shared.accepted.load(Ordering::Relaxed)
            {
                return;
            }
            if collected == 0 {
                // Nothing this round: poll again shortly, as practice software does.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    async fn collect(&self, mailbox: &Practice) -> anyhow::Result<u64> {
        let mut pop3 = Pop3Probe::login(self.port, &self.tls, &mailbox.address, &mailbox.password).await?;
        let count = pop3.count().await?;
        for number in 1..=count {
            let started = Instant::now();
            pop3.retrieve(number).await?;
            let _ = lock(&self.shared.retrieve).record(micros(started.elapsed()));
            pop3.delete(number).await?;
        }
        pop3.quit().await?;
        self.shared.collected.fetch_add(u64::from(count), Ordering::Relaxed);
        Ok(u64::from(count))
    }
}

/// One simulated practice: one SMTP session (or one per message with `--reconnect`).
struct Submitter {
    port: u16,
    tls: TlsConnector,
    practice: Practice,
    recipient: String,
    message: Arc<Vec<u8>>,
    reconnect: bool,
    shared: Arc<Shared>,
}

impl Submitter {
    async fn run(self) {
        loop {
            match self.session().await {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => {
                    self.shared.error(format!("{}: {error:#}", self.practice.address));
                    // A broken session is not retried in a loop: the relay said something wrong.
                    return;
                }
            }
        }
    }

    /// One SMTP session; `Ok(true)` when there is more to send.
    async fn session(&self) -> anyhow::Result<bool> {
        let practice = &self.practice;
        let mut more = false;
        let mut smtp = SmtpProbe::login(self.port, &self.tls, &practice.address, &practice.password).await?;
        self.shared.logged_in.add_permits(1);
        loop {
            let scheduled = match &self.shared.schedule {
                Some(schedule) => match schedule.lock().await.recv().await {
                    Some(at) => Some(at),
                    None => break,
                },
                None if self.shared.take_message() => None,
                None => break,
            };
            let submitted = smtp.submit(&practice.address, &self.recipient, &self.message).await?;
            if let Some(at) = scheduled {
                let _ = lock(&self.shared.from_schedule).record(micros(at.elapsed()));
            }
            self.shared.accepted.fetch_add(1, Ordering::Relaxed);
            let _ = lock(&self.shared.end_of_data).record(micros(submitted.end_of_data));
            let _ = lock(&self.shared.transaction).record(micros(submitted.transaction));
            lock(&self.shared.samples).push((Instant::now(), micros(submitted.end_of_data)));
            if self.reconnect {
                more = true;
                break;
            }
        }
        smtp.quit().await?;
        Ok(more)
    }
}

/// User + system CPU time of a process, from /proc (in USER_HZ = 1/100 s).
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Ok((ticks(11) + ticks(12)) as f64 / 100.0)
}

/// A `/proc/<pid>/status` figure in KiB: `VmHWM` (peak resident), `RssAnon` (heap and
/// stacks), `RssFile` (mapped store pages, which the kernel may drop at will).
fn memory_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The scratch relay: a `caducee serve` child process.
struct Relay {
    bin: PathBuf,
    data_dir: PathBuf,
    child: Child,
    submissions_port: u16,
    pop3s_port: u16,
}

impl Relay {
    fn start(bin: &Path, data_dir: &Path, sessions: usize) -> anyhow::Result<Relay> {
        std::fs::create_dir_all(data_dir)?;
        let config = format!(
            "domain = \"{LOAD_DOMAIN}\"\n\n[listen]\nsubmission = \"127.0.0.1:0\"\nsubmissions = \"127.0.0.1:0\"\n\
             pop3 = \"127.0.0.1:0\"\npop3s = \"127.0.0.1:0\"\nhttps = \"127.0.0.1:0\"\nldap = \"127.0.0.1:0\"\nldaps = \"127.0.0.1:0\"\nmetrics = \"127.0.0.1:0\"\n\n[limits]\nsessions_per_ip = {}\n\n\
             # A load test is a mass mailing by design: the breaker is set out of its way.\n\
             [monitor]\nmessages_per_minute = 4000000000\ndistinct_recipients_per_day = 4000000000\n",
            sessions + 16
        );
        std::fs::write(data_dir.join("caducee.toml"), config)?;
        let mut child = Command::new(bin)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("serve")
            .env("CADUCEE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let ports = probe::ready_ports(stdout)?;
        let (submissions_port, pop3s_port) = (ports.get("submissions").copied(), ports.get("pop3s").copied());
        let (Some(submissions_port), Some(pop3s_port)) = (submissions_port, pop3s_port) else {
            let _ = child.kill();
            bail!("the relay did not report its submissions and pop3s listeners");
        };
        Ok(Relay { bin: bin.to_path_buf(), data_dir: data_dir.to_path_buf(), child, submissions_port, pop3s_port })
    }

    fn cli(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let output = Command::new(&self.bin).arg("--data-dir").arg(&self.data_dir).args(args).output()?;
        if !output.status.success() {
            bail!("caducee {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
        }
        Ok(serde_json::from_slice(&output.stdout)?)
    }

    /// The new account's password and certificate.
    fn add_user(&self, address: &str) -> anyhow::Result<(String, String)> {
        let created = self.cli(&[
            "user",
            "add",
            "--address",
            address,
            "--first-name",
            "Load",
            "--last-name",
            "Practice",
            "--contact-email",
            "load@example.org",
            "--quota-mb",
            "1000000",
            "--json",
        ])?;
        let password = created["password"].as_str().ok_or_else(|| anyhow!("no password in {created}"))?;
        let certificate = created["certificate"].as_str().ok_or_else(|| anyhow!("no certificate in {created}"))?;
        Ok((password.to_owned(), certificate.to_owned()))
    }

    fn backup_command(&self, file: &Path) -> Command {
        let mut command = Command::new(&self.bin);
        command.arg("--data-dir").arg(&self.data_dir).arg("backup").arg("--to").arg(file).arg("--json");
        command
    }

    fn status(&self) -> anyhow::Result<serde_json::Value> {
        self.cli(&["status", "--json"])
    }

    fn stop(&mut self) {
        let stopped = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        if !matches!(stopped, Ok(status) if status.success()) {
            let _ = self.child.kill();
        }
        match self.child.wait() {
            Ok(status) if status.success() => {}
            Ok(status) => eprintln!("the relay exited with {status}"),
            Err(error) => eprintln!("waiting for the relay: {error}"),
        }
    }
}

struct Report {
    sessions: usize,
    reconnect: bool,
    document_bytes: usize,
    message_bytes: usize,
    accepted: u64,
    errors: Vec<String>,
    elapsed: Duration,
    end_of_data: Histogram<u64>,
    /// Throughput and latency over the run: (seconds from start, messages/s, p50 ms, p99 ms).
    timeline: Vec<(f64, f64, f64, f64)>,
    transaction: Histogram<u64>,
    commits: u64,
    writes: u64,
    stored_messages: u64,
    relay_cpu_seconds: f64,
    relay_peak_rss_kib: u64,
    relay_anon_rss_kib: u64,
    relay_file_rss_kib: u64,
    backup: Option<BackupWindow>,
    collectors: usize,
    /// Until the last message was answered (the run goes on while collectors catch up).
    submit_elapsed: Duration,
    collected: u64,
    retrieve: Histogram<u64>,
    rate: Option<f64>,
    from_schedule: Histogram<u64>,
}

/// Accept latencies during a backup taken under load, against those outside it.
#[derive(Debug)]
struct BackupWindow {
    seconds: f64,
    file_bytes: u64,
    store_messages: u64,
    accepted_during: usize,
    during: Histogram<u64>,
    outside: Histogram<u64>,
}

fn backup_window(shared: &Shared, started: Instant, ended: Instant, done: &serde_json::Value) -> BackupWindow {
    let (mut during, mut outside) = (histogram(), histogram());
    let mut accepted_during = 0;
    for (at, micros) in lock(&shared.samples).iter() {
        if (started..=ended).contains(at) {
            accepted_during += 1;
            let _ = during.record(*micros);
        } else {
            let _ = outside.record(*micros);
        }
    }
    BackupWindow {
        seconds: (ended - started).as_secs_f64(),
        file_bytes: done["file_bytes"].as_u64().unwrap_or(0),
        store_messages: done["manifest"]["messages_at_start"].as_u64().unwrap_or(0),
        accepted_during,
        during,
        outside,
    }
}

const QUANTILES: [(&str, f64); 5] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0)];

impl Report {
    /// Accepted messages per second while the senders ran.
    fn rate(&self) -> f64 {
        self.accepted as f64 / self.submit_elapsed.as_secs_f64()
    }

    fn writes_per_commit(&self) -> f64 {
        self.writes as f64 / self.commits.max(1) as f64
    }

    fn text(&self) -> String {
        let mut out = String::new();
        let mode = if self.reconnect { "a new TLS session per message" } else { "persistent TLS sessions" };
        out += &format!(
            "{} sessions, {mode}, {}-byte documents ({} bytes on the wire)\n",
            self.sessions, self.document_bytes, self.message_bytes
        );
        out += &format!(
            "accepted {} messages in {:.2} s: {:.0} messages/s\n",
            self.accepted,
            self.submit_elapsed.as_secs_f64(),
            self.rate()
        );
        for (name, histogram) in [("end of data → 250", &self.end_of_data), ("MAIL → 250", &self.transaction)] {
            let figures: Vec<String> = QUANTILES
                .iter()
                .map(|(label, q)| format!("{label} {:.2}", histogram.value_at_quantile(*q) as f64 / 1000.0))
                .collect();
            out += &format!("{name:<18} ms: {}\n", figures.join("  "));
        }
        out += &format!(
            "group commit: {} commits for {} writes ({:.1} writes per commit)\n",
            self.commits,
            self.writes,
            self.writes_per_commit()
        );
        out += &format!(
            "relay: {:.2} s CPU ({:.0} µs per message); peak RSS {} MiB, at the end {} MiB anonymous + {} MiB \
             mapped store; stores {} messages\n",
            self.relay_cpu_seconds,
            self.relay_cpu_seconds * 1e6 / self.accepted.max(1) as f64,
            self.relay_peak_rss_kib / 1024,
            self.relay_anon_rss_kib / 1024,
            self.relay_file_rss_kib / 1024,
            self.stored_messages
        );
        let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        if let Some(rate) = self.rate {
            out += &format!(
                "open loop at {rate:.0} messages/s: scheduled start → 250 ms: p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}\n",
                ms(&self.from_schedule, 0.5),
                ms(&self.from_schedule, 0.99),
                ms(&self.from_schedule, 0.999),
                ms(&self.from_schedule, 1.0)
            );
        }
        if self.collectors > 0 {
            out += &format!(
                "{} POP3 collectors: {} messages collected ({:.0}/s); RETR ms: p50 {:.2}  p99 {:.2}  max {:.2}\n",
                self.collectors,
                self.collected,
                self.collected as f64 / self.elapsed.as_secs_f64(),
                ms(&self.retrieve, 0.5),
                ms(&self.retrieve, 0.99),
                ms(&self.retrieve, 1.0)
            );
        }
        if let Some(backup) = &self.backup {
            out += &format!(
                "backup under load: {:.2} s, {} bytes, {} messages in the store; {} accepts during it\n",
                backup.seconds, backup.file_bytes, backup.store_messages, backup.accepted_during
            );
            out += &format!(
                "  end of data → 250 during the backup ms: p50 {:.2}  p99 {:.2}  max {:.2}; outside: p50 {:.2}  p99 {:.2}  max {:.2}\n",
                ms(&backup.during, 0.5),
                ms(&backup.during, 0.99),
                ms(&backup.during, 1.0),
                ms(&backup.outside, 0.5),
                ms(&backup.outside, 0.99),
                ms(&backup.outside, 1.0)
            );
        }
        if !self.errors.is_empty() {
            out += &format!("errors ({}):\n", self.errors.len());
            for error in &self.errors {
                out += &format!("  {error}\n");
            }
        }
        out
    }

    fn json(&self) -> serde_json::Value {
        let latencies = |h: &Histogram<u64>| {
            let mut map = serde_json::Map::new();
            for (label, q) in QUANTILES {
                map.insert(format!("{label}_ms"), (h.value_at_quantile(q) as f64 / 1000.0).into());
            }
            serde_json::Value::Object(map)
        };
        serde_json::json!({
            "sessions": self.sessions,
            "reconnect": self.reconnect,
            "document_bytes": self.document_bytes,
            "message_bytes": self.message_bytes,
            "accepted": self.accepted,
            "seconds": self.elapsed.as_secs_f64(),
            "submit_seconds": self.submit_elapsed.as_secs_f64(),
            "messages_per_second": self.rate(),
            "end_of_data_to_250": latencies(&self.end_of_data),
            "mail_to_250": latencies(&self.transaction),
            "commits": self.commits,
            "writes": self.writes,
            "writes_per_commit": self.writes_per_commit(),
            "stored_messages": self.stored_messages,
            "relay_cpu_seconds": self.relay_cpu_seconds,
            "relay_peak_rss_kib": self.relay_peak_rss_kib,
            "relay_anon_rss_kib": self.relay_anon_rss_kib,
            "relay_file_rss_kib": self.relay_file_rss_kib,
            "errors": self.errors,
            "collectors": self.collectors,
            "collected": self.collected,
            "collected_per_second": self.collected as f64 / self.elapsed.as_secs_f64(),
            "retrieve": latencies(&self.retrieve),
            "open_loop_rate": self.rate,
            "scheduled_start_to_250": self.rate.map(|_| latencies(&self.from_schedule)),
            "backup_during_load": self.backup.as_ref().map(|b| serde_json::json!({
                "seconds": b.seconds,
                "file_bytes": b.file_bytes,
                "store_messages": b.store_messages,
                "accepted_during": b.accepted_during,
                "end_of_data_to_250_during": latencies(&b.during),
                "end_of_data_to_250_outside": latencies(&b.outside),
            })),
        })
    }
}

/// Completions in buckets of about a sixtieth of the run (at least 0.25 s): each bucket's
/// throughput and its end-of-data→250 p50 and p99.
fn timeline(samples: &[(Instant, u64)], started: Instant, elapsed: Duration) -> Vec<(f64, f64, f64, f64)> {
    let bucket = (elapsed.as_secs_f64() / 60.0).max(0.25);
    let buckets = (elapsed.as_secs_f64() / bucket).ceil().max(1.0) as usize;
    let mut latencies: Vec<Vec<u64>> = vec![Vec::new(); buckets];
    for (at, micros) in samples {
        let offset = at.saturating_duration_since(started).as_secs_f64();
        let index = ((offset / bucket) as usize).min(buckets - 1);
        latencies[index].push(*micros);
    }
    latencies
        .into_iter()
        .enumerate()
        .map(|(i, mut values)| {
            values.sort_unstable();
            let quantile = |q: f64| -> f64 {
                if values.is_empty() {
                    return 0.0;
                }
                let at = ((values.len() as f64 - 1.0) * q).round() as usize;
                values[at] as f64 / 1000.0
            };
            ((i as f64 + 0.5) * bucket, values.len() as f64 / bucket, quantile(0.5), quantile(0.99))
        })
        .collect()
}

/// Two panels of SVG: messages per second, and end-of-data→250 p50/p99 in milliseconds.
fn plot(timeline: &[(f64, f64, f64, f64)], title: &str) -> String {
    const WIDTH: f64 = 760.0;
    const PANEL: f64 = 180.0;
    const LEFT: f64 = 60.0;
    let end = timeline.last().map_or(1.0, |p| p.0 * 1.02).max(0.001);
    let top_rate = timeline.iter().map(|p| p.1).fold(1.0_f64, f64::max) * 1.1;
    let top_ms = timeline.iter().map(|p| p.3).fold(0.1_f64, f64::max) * 1.1;
    let x = |t: f64| LEFT + t / end * (WIDTH - LEFT - 20.0);
    let line = |points: Vec<(f64, f64)>, colour: &str| -> String {
        let path: Vec<String> = points.iter().map(|(px, py)| format!("{px:.1},{py:.1}")).collect();
        format!("<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>", path.join(" "))
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{LEFT}\" y=\"18\" font-size=\"14\">{title}</text>\n",
        2.0 * PANEL + 90.0
    );
    for (panel, (label, top)) in [("messages/s", top_rate), ("ms, end of data → 250", top_ms)].into_iter().enumerate()
    {
        let base = 30.0 + panel as f64 * (PANEL + 30.0);
        svg.push_str(&format!(
            "<rect x=\"{LEFT}\" y=\"{base}\" width=\"{}\" height=\"{PANEL}\" fill=\"none\" stroke=\"#999\"/>\n\
             <text x=\"4\" y=\"{}\">{top:.0}</text><text x=\"4\" y=\"{}\">0</text>\n\
             <text x=\"{}\" y=\"{}\">{label}</text>\n",
            WIDTH - LEFT - 20.0,
            base + 12.0,
            base + PANEL,
            LEFT + 6.0,
            base + 14.0
        ));
        let y = |v: f64| base + PANEL - v / top * PANEL;
        if panel == 0 {
            svg.push_str(&line(timeline.iter().map(|p| (x(p.0), y(p.1))).collect(), "#2f6f3e"));
        } else {
            svg.push_str(&line(timeline.iter().map(|p| (x(p.0), y(p.2))).collect(), "#1f4e9c"));
            svg.push_str(&line(timeline.iter().map(|p| (x(p.0), y(p.3))).collect(), "#a00000"));
            svg.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" fill=\"#1f4e9c\">p50</text><text x=\"{}\" y=\"{}\" fill=\"#a00000\">p99</text>\n",
                WIDTH - 90.0,
                base + 14.0,
                WIDTH - 55.0,
                base + 14.0
            ));
        }
        svg.push('\n');
    }
    svg.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"{}\">0 s</text><text x=\"{}\" y=\"{}\">{end:.1} s</text>\n</svg>\n",
        2.0 * PANEL + 80.0,
        WIDTH - 60.0,
        2.0 * PANEL + 80.0
    ));
    svg
}
