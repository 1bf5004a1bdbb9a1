//! The service manager's side of `caducee serve`: readiness and the watchdog.
//!
//! Under systemd (`Type=notify`, `$NOTIFY_SOCKET` set) the relay says `READY=1` once every
//! listener is bound and the admin socket answers, `STOPPING=1` when a shutdown begins, and,
//! when the unit sets `WatchdogSec=`, pings the watchdog at half the interval — but only
//! after checking that the store can still commit and the mailbox actors answer, so that a
//! wedged relay is restarted rather than kept alive by a timer. Outside systemd every call
//! here does nothing.

use std::time::Duration;

use actix::Addr;
use caducee_actors::mailbox::{Lookup, Mailboxes};
use caducee_storage::{Address, Store};
use sd_notify::NotifyState;

/// Tells the service manager that the relay serves.
pub fn ready(summary: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(summary)]);
}

/// Runs `work` (a start-up step of unknown length: the store's check) while telling the
/// service manager what is happening (`STATUS=`) and asking it, every few seconds, for more
/// time (`EXTEND_TIMEOUT_USEC=`), so that a large store's check is not taken for a hung
/// start and killed at `TimeoutStartSec=`.
pub fn while_starting<T: Send>(what: &str, work: impl FnOnce() -> T + Send) -> T {
    const EVERY: Duration = Duration::from_secs(5);
    // Three periods ahead: one late tick does not end the start.
    let extend = u32::try_from((EVERY * 3).as_micros()).unwrap_or(u32::MAX);
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        let (done, finished) = std::sync::mpsc::channel();
        let worker = scope.spawn(move || {
            let value = work();
            let _ = done.send(());
            value
        });
        loop {
            let status = format!("{what} ({} s)", started.elapsed().as_secs());
            notify(&[NotifyState::Status(&status), NotifyState::ExtendTimeoutUsec(extend)]);
            match finished.recv_timeout(EVERY) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                // Done, or the worker panicked (its sender dropped): join says which.
                Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        match worker.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Tells the service manager that the relay is stopping (sessions finishing).
pub fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping: finishing sessions in progress")]);
}

fn notify(states: &[NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(error) = sd_notify::notify(false, states) {
        tracing::warn!(%error, "could not notify the service manager");
    }
}

/// Starts the watchdog task when the unit asks for one (`WatchdogSec=`).
pub fn spawn_watchdog(store: Store, mailboxes: Addr<Mailboxes>) {
    let Some(interval) = watchdog_interval() else {
        return;
    };
    let period = interval / 2;
    tracing::info!(?period, "systemd watchdog enabled");
    actix_rt::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        loop {
            ticks.tick().await;
            match healthy(&store, &mailboxes, period).await {
                Ok(()) => notify(&[NotifyState::Watchdog]),
                Err(problem) => {
                    // No ping: systemd restarts the relay when the interval runs out.
                    tracing::error!(problem, "health check failed; withholding the watchdog ping");
                    notify(&[NotifyState::Status(&format!("unhealthy: {problem}"))]);
                }
            }
        }
    });
}

/// The watchdog interval systemd asks for: `$WATCHDOG_USEC`, when `$WATCHDOG_PID` is unset
/// or names this process (sd_watchdog_enabled(3); the sd-notify crate insists on the PID).
fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// The relay can take mail: no store commit has failed, and the mailbox actors answer a
/// lookup within `within` (the watchdog's check, and `/readyz`'s).
pub(crate) async fn healthy(store: &Store, mailboxes: &Addr<Mailboxes>, within: Duration) -> Result<(), &'static str> {
    if store.is_poisoned() {
        return Err("a store commit failed");
    }
    let Ok(probe) = Address::parse("watchdog@caducee.invalid") else {
        return Err("the probe address does not parse");
    };
    match tokio::time::timeout(within, mailboxes.send(Lookup(probe))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err("the mailbox actors have stopped"),
        Err(_) => Err("the mailbox actors do not answer"),
    }
}
