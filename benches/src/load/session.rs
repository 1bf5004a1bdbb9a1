//! The generator's sessions: the simulated practices submitting over SMTP, the POP3 or
//! IMAP collectors, the open-loop pacer, and the figures they share.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caducee_actors::probe::{ImapProbe, Pop3Probe, SmtpProbe};
use hdrhistogram::Histogram;
use tokio_rustls::TlsConnector;

use crate::{CollectProtocol, LATENCY_MICROS_MAX};

#[derive(Debug, Clone)]
pub(crate) struct Practice {
    pub(crate) address: String,
    pub(crate) password: String,
    /// The practice's public certificate (armoured), as the relay issued it; `None` for a
    /// peer that holds no keys.
    pub(crate) certificate: Option<String>,
}

/// When a recipient's IMAP session collected, how many messages, and whether it heard of
/// them while idling (a push).
pub(crate) type Announced = (Instant, u32, bool);

#[derive(Debug)]
pub(crate) struct Shared {
    /// Messages not yet started; a session takes one before each transaction.
    pub(crate) remaining: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) errors: Mutex<Vec<String>>,
    pub(crate) end_of_data: Mutex<Histogram<u64>>,
    pub(crate) transaction: Mutex<Histogram<u64>>,
    /// When each end-of-data→250 completed, and its latency in µs (for `--backup-during`).
    pub(crate) samples: Mutex<Vec<(Instant, u64)>>,
    pub(crate) collected: AtomicU64,
    /// RETR command (IMAP: UID FETCH of everything) to the end of the message, µs.
    pub(crate) retrieve: Mutex<Histogram<u64>>,
    /// When each message to a recipient was answered 250, in order.
    pub(crate) accepted_at: Mutex<HashMap<String, Vec<Instant>>>,
    /// IMAP: when a recipient's session collected, and how many messages; `true` for an
    /// announcement heard while idling (a push).
    pub(crate) announced: Mutex<HashMap<String, Vec<Announced>>>,
    /// Open loop: scheduled start times, one per message.
    pub(crate) schedule: Option<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Instant>>>,
    /// Open loop: scheduled time → 250, µs.
    pub(crate) from_schedule: Mutex<Histogram<u64>>,
    pub(crate) senders_done: std::sync::atomic::AtomicBool,
    /// One permit per session login: the open-loop pacer starts once every session is in,
    /// so that the logins (argon2id on the relay) do not count as queueing.
    pub(crate) logged_in: tokio::sync::Semaphore,
    /// Session logins so far (each reconnection counts).
    pub(crate) logins: AtomicUsize,
}

impl Shared {
    pub(crate) fn take_message(&self) -> bool {
        self.remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
    }

    pub(crate) fn error(&self, error: String) {
        let mut errors = lock(&self.errors);
        // Keep the first few in full; count the rest.
        if errors.len() < 20 {
            errors.push(error);
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking session task cannot leave a histogram half-written: recording is one call.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn histogram() -> Histogram<u64> {
    // Three significant digits over 1 µs .. 60 s: the bounds are constants, so this holds.
    Histogram::new_with_bounds(1, LATENCY_MICROS_MAX, 3).unwrap_or_else(|_| unreachable!("valid bounds"))
}

pub(crate) fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX).clamp(1, LATENCY_MICROS_MAX)
}

pub(crate) async fn show_progress(shared: Arc<Shared>, total: u64) {
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
pub(crate) async fn pace(
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
pub(crate) struct Collector {
    pub(crate) port: u16,
    /// The wait after a round that found nothing.
    pub(crate) every: Duration,
    pub(crate) tls: TlsConnector,
    pub(crate) mailboxes: Vec<Practice>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) protocol: CollectProtocol,
}

impl Collector {
    pub(crate) async fn run(self) {
        if self.protocol == CollectProtocol::Imap {
            return self.run_imap().await;
        }
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
                tokio::time::sleep(self.every).await;
            }
        }
    }

    /// IMAP: one session per mailbox, kept open for the whole run.
    async fn run_imap(self) {
        let mut sessions = tokio::task::JoinSet::new();
        for mailbox in self.mailboxes.clone() {
            let (port, tls, shared, every) = (self.port, self.tls.clone(), self.shared.clone(), self.every);
            sessions.spawn(async move {
                if let Err(error) = imap_collect(port, &tls, &mailbox, &shared, every).await {
                    shared.error(format!("collecting {} over IMAP: {error:#}", mailbox.address));
                }
            });
        }
        while sessions.join_next().await.is_some() {}
    }

    pub(crate) async fn collect(&self, mailbox: &Practice) -> anyhow::Result<u64> {
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

/// One mailbox collected over IMAP as a mail client with push does: everything there is
/// fetched, marked `\Deleted` and expunged; then IDLE until the relay announces more (or
/// `every` passes, to see whether the run is over).
async fn imap_collect(
    port: u16,
    tls: &TlsConnector,
    mailbox: &Practice,
    shared: &Shared,
    every: Duration,
) -> anyhow::Result<()> {
    let mut imap = ImapProbe::login(port, tls, &mailbox.address, &mailbox.password).await?;
    // The announcement heard while idling that woke the session, if any.
    let mut pushed: Option<(Instant, u32)> = None;
    loop {
        if imap.exists > 0 {
            let (at, count, push) = match pushed.take() {
                Some((at, count)) => (at, count, true),
                None => (Instant::now(), imap.exists, false),
            };
            lock(&shared.announced).entry(mailbox.address.clone()).or_default().push((at, count, push));
            let started = Instant::now();
            let sizes = imap.collect_all().await?;
            if sizes.is_empty() {
                imap.exists = 0; // nothing there after all: do not ask again
            }
            for _ in &sizes {
                let _ = lock(&shared.retrieve).record(micros(started.elapsed() / sizes.len() as u32));
            }
            shared.collected.fetch_add(sizes.len() as u64, Ordering::Relaxed);
            continue;
        }
        if shared.senders_done.load(Ordering::Acquire)
            && shared.collected.load(Ordering::Relaxed) >= shared.accepted.load(Ordering::Relaxed)
        {
            break;
        }
        // Long enough that an idle mailbox costs nothing; short enough to see the end.
        pushed = imap.idle(every.max(Duration::from_millis(200))).await?;
    }
    imap.logout().await?;
    Ok(())
}

/// The push delays: for each message a session heard of while idling, the time from its
/// sender's 250 to the announcement (zero when the announcement came first), µs. Messages
/// to a recipient are answered and announced in the same order.
pub(crate) fn push_delays(shared: &Shared) -> Histogram<u64> {
    let mut delays = histogram();
    let accepted = lock(&shared.accepted_at);
    for (recipient, announcements) in lock(&shared.announced).iter() {
        let Some(answered) = accepted.get(recipient) else { continue };
        let mut next = 0;
        for &(at, count, pushed) in announcements {
            for accepted_at in answered.iter().skip(next).take(count as usize) {
                if pushed {
                    let _ = delays.record(micros(at.saturating_duration_since(*accepted_at)));
                }
            }
            next += count as usize;
        }
    }
    delays
}

/// One simulated practice: one SMTP session (or one per message with `--reconnect`).
pub(crate) struct Submitter {
    pub(crate) port: u16,
    pub(crate) tls: TlsConnector,
    pub(crate) practice: Practice,
    pub(crate) recipient: String,
    pub(crate) message: Arc<Vec<u8>>,
    pub(crate) reconnect: bool,
    pub(crate) shared: Arc<Shared>,
}

impl Submitter {
    pub(crate) async fn run(self) {
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
    pub(crate) async fn session(&self) -> anyhow::Result<bool> {
        let practice = &self.practice;
        let mut more = false;
        let mut smtp = SmtpProbe::login(self.port, &self.tls, &practice.address, &practice.password).await?;
        self.shared.logged_in.add_permits(1);
        self.shared.logins.fetch_add(1, Ordering::Relaxed);
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
            lock(&self.shared.accepted_at).entry(self.recipient.clone()).or_default().push(Instant::now());
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
