//! The generator's sessions: the simulated practices submitting over SMTP, the POP3
//! collectors, the open-loop pacer, and the figures they share.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caducee_actors::probe::{Pop3Probe, SmtpProbe};
use hdrhistogram::Histogram;
use tokio_rustls::TlsConnector;

use crate::LATENCY_MICROS_MAX;

#[derive(Debug, Clone)]
pub(crate) struct Practice {
    pub(crate) address: String,
    pub(crate) password: String,
    /// The practice's public certificate (armoured), as the relay issued it; `None` for a
    /// peer that holds no keys.
    pub(crate) certificate: Option<String>,
}

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
    /// RETR command to the end of the message, µs.
    pub(crate) retrieve: Mutex<Histogram<u64>>,
    /// Open loop: scheduled start times, one per message.
    pub(crate) schedule: Option<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Instant>>>,
    /// Open loop: scheduled time → 250, µs.
    pub(crate) from_schedule: Mutex<Histogram<u64>>,
    pub(crate) senders_done: std::sync::atomic::AtomicBool,
    /// One permit per session login: the open-loop pacer starts once every session is in,
    /// so that the logins (argon2id on the relay) do not count as queueing.
    pub(crate) logged_in: tokio::sync::Semaphore,
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
}

impl Collector {
    pub(crate) async fn run(self) {
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
