//! One run of the load: the documents encrypted to each practice, the sessions, collectors,
//! pacer and backup started on one runtime, then the figures gathered into a [`Report`].

use std::cell::Cell;
use std::path::PathBuf;
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use caducee_actors::probe;
use tokio::sync::mpsc::{Receiver, Sender};
use tokio::task::{JoinError, JoinHandle};
use tokio_rustls::TlsConnector;

use crate::relay::Target;
use crate::report::{AfterLogins, BackupWindow, Report};
use crate::session::{histogram, lock, pace, show_progress, Collector, Practice, Shared, Submitter};
use crate::{Args, CollectProtocol};

/// A backup taken under load: when it started and ended, and how the command went.
type BackupRun = (Instant, Instant, Result<std::io::Result<Output>, JoinError>);

/// The open loop's pacer: where it sends each scheduled start, and at what rate per second.
type Pacer = (Sender<Instant>, f64);

pub(crate) fn run_load(args: &Args, target: &Target) -> anyhow::Result<Report> {
    let practices = target.practices(args.sessions)?;
    let peer = match &args.peer_accounts {
        Some(path) => Some(crate::relay::read_accounts(path)?),
        None => None,
    };
    // Who receives: a peer's accounts, or the practices themselves (each the next one's).
    let recipients = peer.clone().unwrap_or_else(|| practices.clone());
    anyhow::ensure!(!recipients.is_empty(), "no recipient accounts");
    let documents = encrypt_documents(args.size, &recipients)?;
    let tls = probe::tls_trusting(&target.ca)?;
    let collect_at = match (&peer, args.peer_pop3s_port, &args.peer_ca, args.collect_protocol) {
        (Some(_), _, _, CollectProtocol::Imap) => bail!("--collect-protocol imap collects at the target only"),
        (Some(_), Some(port), Some(ca), CollectProtocol::Pop3) => (port, probe::tls_trusting(ca)?),
        (None, _, _, CollectProtocol::Imap) if target.imaps_port == 0 => {
            bail!("--collect-protocol imap: the target has no IMAPS port (--target-imaps-port)")
        }
        (None, _, _, CollectProtocol::Imap) => (target.imaps_port, tls.clone()),
        _ => (target.pop3s_port, tls.clone()),
    };
    let before = target.status()?;
    let cpu_before = target.pid.map(cpu_seconds).transpose()?.unwrap_or(0.0);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (schedule, schedule_receiver) = open_loop_schedule(args.rate)?;
    let shared = Arc::new(Shared::new(args.messages, schedule_receiver));
    let started = Instant::now();
    let run = Run {
        args,
        target,
        practices: &practices,
        recipients: &recipients,
        to_peer: peer.is_some(),
        documents: &documents,
        tls,
        collect_at,
        shared: shared.clone(),
        started,
    };
    let (backup, senders_elapsed, cpu_at_logins) = runtime.block_on(async {
        let logins = tokio::spawn(cpu_once_logged_in(shared.clone(), args.sessions, target.pid));
        let (backup, senders_elapsed) = run.drive(schedule).await;
        (backup, senders_elapsed, logins.await.ok().flatten())
    });
    let elapsed = started.elapsed();
    let submit_elapsed = senders_elapsed.unwrap_or(elapsed);
    eprintln!();

    let after = target.status()?;
    let cpu_after = target.pid.map(cpu_seconds).transpose()?.unwrap_or(0.0);
    let commits = |status: &serde_json::Value, key: &str| status["commits"][key].as_u64().unwrap_or(0);
    let errors = std::mem::take(&mut *lock(&shared.errors));
    let report = Report {
        timeline: crate::report::timeline(&lock(&shared.samples), started, elapsed),
        sessions: args.sessions,
        reconnect: args.reconnect,
        document_bytes: args.size,
        message_bytes: probe::pgp_mime(
            &practices[0].address,
            &recipients[0].address,
            "Compte rendu",
            &documents[0],
            written_now(),
        )
        .len(),
        accepted: shared.accepted.load(Ordering::Relaxed),
        errors,
        elapsed,
        end_of_data: lock(&shared.end_of_data).clone(),
        transaction: lock(&shared.transaction).clone(),
        commits: commits(&after, "commits") - commits(&before, "commits"),
        writes: commits(&after, "writes") - commits(&before, "writes"),
        stored_messages: after["stored_messages"].as_u64().unwrap_or(0),
        relay_cpu_seconds: cpu_after - cpu_before,
        after_logins: cpu_at_logins.map(|(cpu, accepted)| AfterLogins {
            relay_cpu_seconds: cpu_after - cpu,
            accepted: shared.accepted.load(Ordering::Relaxed) - accepted,
        }),
        relay_peak_rss_kib: target.pid.and_then(|pid| memory_kib(pid, "VmHWM")).unwrap_or(0),
        relay_anon_rss_kib: target.pid.and_then(|pid| memory_kib(pid, "RssAnon")).unwrap_or(0),
        relay_file_rss_kib: target.pid.and_then(|pid| memory_kib(pid, "RssFile")).unwrap_or(0),
        backup,
        collectors: args.collectors,
        submit_elapsed,
        collected: shared.collected.load(Ordering::Relaxed),
        retrieve: lock(&shared.retrieve).clone(),
        collect_protocol: args.collect_protocol,
        push: crate::session::push_delays(&shared),
        rate: args.rate,
        from_schedule: lock(&shared.from_schedule).clone(),
    };
    Ok(report)
}

/// One document per recipient, encrypted to its certificate as the relay requires (or to a
/// throwaway certificate for a peer that holds no keys).
fn encrypt_documents(size: usize, practices: &[Practice]) -> anyhow::Result<Vec<String>> {
    eprintln!("encrypting a {size}-byte document to each practice");
    let documents = practices
        .iter()
        .map(|p| match &p.certificate {
            Some(certificate) => probe::encrypted_document(size, certificate),
            None => probe::encrypted_document(size, &probe::throwaway_certificate(&p.address)?),
        })
        .collect::<Result<_, _>>()?;
    Ok(documents)
}

/// The open loop's schedule channel, with `--rate`: the pacer's end and the sessions' end.
fn open_loop_schedule(rate: Option<f64>) -> anyhow::Result<(Option<Pacer>, Option<Receiver<Instant>>)> {
    match rate {
        Some(rate) if rate > 0.0 => {
            let (sender, receiver) = tokio::sync::mpsc::channel::<Instant>(1 << 20);
            Ok((Some((sender, rate)), Some(receiver)))
        }
        Some(_) => bail!("--rate must be above 0"),
        None => Ok((None, None)),
    }
}

impl Shared {
    fn new(messages: u64, schedule: Option<Receiver<Instant>>) -> Shared {
        Shared {
            remaining: AtomicU64::new(messages),
            accepted: AtomicU64::new(0),
            errors: Mutex::new(Vec::new()),
            end_of_data: Mutex::new(histogram()),
            transaction: Mutex::new(histogram()),
            samples: Mutex::new(Vec::new()),
            collected: AtomicU64::new(0),
            retrieve: Mutex::new(histogram()),
            accepted_at: Mutex::new(std::collections::HashMap::new()),
            announced: Mutex::new(std::collections::HashMap::new()),
            schedule: schedule.map(tokio::sync::Mutex::new),
            from_schedule: Mutex::new(histogram()),
            senders_done: AtomicBool::new(false),
            logged_in: tokio::sync::Semaphore::new(0),
            logins: AtomicUsize::new(0),
        }
    }
}

/// Everything the tasks of a run are started from.
struct Run<'a> {
    args: &'a Args,
    target: &'a Target,
    practices: &'a [Practice],
    /// Who the documents go to: the practices themselves, or a peer's accounts.
    recipients: &'a [Practice],
    to_peer: bool,
    /// One document per recipient, encrypted to it.
    documents: &'a [String],
    tls: TlsConnector,
    /// Where the collectors collect: the target's POP3 port, or the peer's.
    collect_at: (u16, TlsConnector),
    shared: Arc<Shared>,
    started: Instant,
}

impl Run<'_> {
    /// Runs every task until the senders and collectors are done or `--seconds-max` passes:
    /// the backup taken meanwhile, and when the senders finished.
    async fn drive(&self, schedule: Option<Pacer>) -> (Option<BackupWindow>, Option<Duration>) {
        let (args, shared) = (self.args, &self.shared);
        let progress = tokio::spawn(show_progress(shared.clone(), args.messages));
        let backup = args.backup_during.clone().map(|file| self.spawn_backup(file));
        if let Some((sender, rate)) = schedule {
            tokio::spawn(pace(sender, rate, args.messages, shared.clone(), args.sessions));
        }
        let collector_tasks = self.spawn_collectors();
        let tasks = self.spawn_submitters();
        let senders_elapsed = Cell::new(None);
        let work = async {
            for task in tasks {
                if let Err(error) = task.await {
                    shared.error(format!("session task failed: {error}"));
                }
            }
            shared.senders_done.store(true, Ordering::Release);
            senders_elapsed.set(Some(self.started.elapsed()));
            for task in collector_tasks {
                if let Err(error) = task.await {
                    shared.error(format!("collector task failed: {error}"));
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(args.seconds_max), work).await.is_err() {
            shared.error(format!("stopped after {} s (--seconds-max)", args.seconds_max));
        }
        progress.abort();
        let backup = match backup {
            Some(task) => backup_outcome(task.await, shared),
            None => None,
        };
        (backup, senders_elapsed.get())
    }

    /// Takes a backup (`caducee backup --to FILE`) once half the messages are in.
    fn spawn_backup(&self, file: PathBuf) -> JoinHandle<BackupRun> {
        let (shared, half) = (self.shared.clone(), self.args.messages / 2);
        let mut command = self.target.relay.as_ref().map(|relay| relay.backup_command(&file));
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
    }

    /// The POP3 collectors, each with every `collectors`-th recipient's mailbox (at the
    /// peer, with one).
    fn spawn_collectors(&self) -> Vec<JoinHandle<()>> {
        let collectors = self.args.collectors;
        (0..collectors)
            .map(|k| {
                let mailboxes: Vec<Practice> = self
                    .recipients
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % collectors == k)
                    .map(|(_, p)| p.clone())
                    .collect();
                let collector = Collector {
                    every: Duration::from_millis(self.args.collect_every_ms),
                    port: self.collect_at.0,
                    tls: self.collect_at.1.clone(),
                    mailboxes,
                    shared: self.shared.clone(),
                    protocol: self.args.collect_protocol,
                };
                tokio::spawn(collector.run())
            })
            .collect()
    }

    /// One submitter per practice, each sending to the next practice (or to a peer's
    /// account, in turn).
    fn spawn_submitters(&self) -> Vec<JoinHandle<()>> {
        let practices = self.practices;
        practices
            .iter()
            .enumerate()
            .map(|(i, practice)| {
                let next = if self.to_peer { i % self.recipients.len() } else { (i + 1) % practices.len() };
                let recipient = &self.recipients[next].address;
                let message = Arc::new(probe::pgp_mime(
                    &practice.address,
                    recipient,
                    "Compte rendu",
                    &self.documents[next],
                    written_now(),
                ));
                let session = Submitter {
                    port: self.target.submissions_port,
                    tls: self.tls.clone(),
                    practice: practice.clone(),
                    recipient: recipient.clone(),
                    message,
                    reconnect: self.args.reconnect,
                    shared: self.shared.clone(),
                };
                tokio::spawn(session.run())
            })
            .collect()
    }
}

/// The accept latencies around a backup that ran, or the error of one that did not.
fn backup_outcome(task: Result<BackupRun, JoinError>, shared: &Shared) -> Option<BackupWindow> {
    match task {
        Ok((started, ended, Ok(Ok(output)))) if output.status.success() => {
            let done: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
            Some(backup_window(shared, started, ended, &done))
        }
        Ok((_, _, Ok(Ok(output)))) => {
            shared.error(format!("backup failed: {}", String::from_utf8_lossy(&output.stderr)));
            None
        }
        other => {
            shared.error(format!("backup did not run: {:?}", other.map(|(_, _, r)| r.map(|r| r.map(drop)))));
            None
        }
    }
}

/// The target's CPU time and the messages accepted so far, once every session has logged in
/// for the first time (`None` when there is no process to read or the sessions never all got
/// in): what follows is the messages' cost without the sessions' argon2id checks.
async fn cpu_once_logged_in(shared: Arc<Shared>, sessions: usize, pid: Option<u32>) -> Option<(f64, u64)> {
    let pid = pid?;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    while shared.logins.load(Ordering::Relaxed) < sessions {
        if shared.senders_done.load(Ordering::Acquire) {
            return None;
        }
        tick.tick().await;
    }
    let accepted = shared.accepted.load(Ordering::Relaxed);
    Some((cpu_seconds(pid).ok()?, accepted))
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

/// The time a load message says it was written (the load generator reads the real clock).
fn written_now() -> u64 {
    caducee_client::calendar::millis(std::time::SystemTime::now())
}
