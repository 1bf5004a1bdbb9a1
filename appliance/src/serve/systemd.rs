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
        let probe = Address::parse("watchdog@caducee.invalid").expect("a valid address");
        let mut ticks = tokio::time::interval(period);
        loop {
            ticks.tick().await;
            match healthy(&store, &mailboxes, &probe, period).await {
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

async fn healthy(
    store: &Store,
    mailboxes: &Addr<Mailboxes>,
    probe: &Address,
    within: Duration,
) -> Result<(), &'static str> {
    if store.is_poisoned() {
        return Err("a store commit failed");
    }
    match tokio::time::timeout(within, mailboxes.send(Lookup(probe.clone()))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err("the mailbox actors have stopped"),
        Err(_) => Err("the mailbox actors do not answer"),
    }
}
