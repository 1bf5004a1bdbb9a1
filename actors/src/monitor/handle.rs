//! How producers reach the monitor: one handle that keeps its mailbox bounded.
//!
//! Two kinds of events reach the monitor, and they fare differently when its mailbox is
//! full ([`MONITOR_MAILBOX_CAPACITY`](super::MONITOR_MAILBOX_CAPACITY)):
//! - a [`MetricsEvent`] only feeds the quality figures: it is dropped and counted
//!   (`caducee_monitor_events_dropped_total` on `/metrics`), and the producer goes on;
//! - a state change (a block, a full mailbox, a refused recipient, a delivery whose quota
//!   must be checked) is never dropped: it is queued at once while there is room, and when
//!   there is none its producer waits until the monitor has handled it.
//!
//! actix's `Addr::do_send` ignores the capacity, so nothing here uses it.

use std::sync::Arc;
use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::prelude::*;
use caducee_storage::{AccountId, AccountState, MailboxFigures, Millis};
use prometheus_client::metrics::counter::Counter;

use super::rules::quota_state_changes;
use super::{Collected, Delivered, Monitor, MonitorConfig, Refused};
use crate::quality::AcceptedFigures;

/// An event that only feeds the quality figures: losing one under load skews a counter,
/// never an account's state.
pub trait MetricsEvent: Message<Result = ()> + Send + 'static {}

impl MetricsEvent for Collected {}
impl MetricsEvent for Refused {}

/// The producers' way to the monitor (sessions, and anything that reports events). Cheap to
/// clone; each clone is one sender of the mailbox.
#[derive(Clone)]
pub struct MonitorHandle {
    addr: Addr<Monitor>,
    /// Metrics events dropped because the mailbox was full; shared with the monitor's
    /// Prometheus registry.
    dropped: Counter,
    /// The accepted messages' figures, shared with the monitor's registry.
    accepted: AcceptedFigures,
    /// The monitor's rules, for the quota check made as a message is stored.
    config: Arc<MonitorConfig>,
}

impl std::fmt::Debug for MonitorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorHandle").field("events_dropped", &self.dropped.get()).finish()
    }
}

impl MonitorHandle {
    pub(super) fn new(
        addr: Addr<Monitor>,
        dropped: Counter,
        accepted: AcceptedFigures,
        config: Arc<MonitorConfig>,
    ) -> MonitorHandle {
        MonitorHandle { addr, dropped, accepted, config }
    }

    /// A message was stored at `now`, `processing` after the end of its data, leaving its
    /// recipients' mailboxes with these figures and monitor states (as the accepting commit
    /// returned them). Counted here, on the caller's thread, and each recipient's quota
    /// judged from those figures: only a mailbox whose quota state the message changes (a
    /// warning threshold crossed, full) goes to the monitor, which reads it again and acts.
    /// Most messages change none, and the monitor's thread is not woken for them.
    pub async fn delivered(&self, mailboxes: &[(MailboxFigures, AccountState)], processing: Duration, now: Millis) {
        self.accepted.record(now, processing);
        let changing: Vec<AccountId> = mailboxes
            .iter()
            .filter(|(figures, state)| {
                quota_state_changes(figures.used_bytes, figures.quota_bytes, state, &self.config)
            })
            .map(|(figures, _)| figures.id)
            .collect();
        if !changing.is_empty() {
            self.tell(Delivered { recipients: changing }).await;
        }
    }

    /// The monitor's address, for queries (`Sweep`, `RenderMetrics`, `QualityNow`,
    /// `ForgetSender`) whose caller awaits the answer anyway.
    pub fn addr(&self) -> &Addr<Monitor> {
        &self.addr
    }

    /// Metrics events dropped so far because the mailbox was full.
    pub fn events_dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// Reports a metrics-only event without ever waiting: dropped, and counted, when the
    /// mailbox is full.
    pub fn record<M>(&self, event: M)
    where
        M: MetricsEvent,
        Monitor: Handler<M>,
        <Monitor as Actor>::Context: ToEnvelope<Monitor, M>,
    {
        match self.addr.try_send(event) {
            Ok(()) => {}
            Err(SendError::Full(_)) => {
                self.dropped.inc();
            }
            // The monitor stops only with the relay: nothing is left to count.
            Err(SendError::Closed(_)) => {}
        }
    }

    /// Reports a state change, which is never dropped: queued at once while the mailbox has
    /// room; when it is full, this waits until the monitor has handled the change, which
    /// holds the producer back as long as the monitor is behind.
    pub async fn tell<M>(&self, change: M)
    where
        M: Message<Result = ()> + Send + 'static,
        Monitor: Handler<M>,
        <Monitor as Actor>::Context: ToEnvelope<Monitor, M>,
    {
        match self.addr.try_send(change) {
            // Closed: the monitor stops only with the relay, and the change with it.
            Ok(()) | Err(SendError::Closed(_)) => {}
            Err(SendError::Full(change)) => {
                let _ = self.ask(change).await;
            }
        }
    }

    /// Sends a message and waits for the monitor's answer.
    pub async fn ask<M>(&self, message: M) -> Result<M::Result, MailboxError>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        Monitor: Handler<M>,
        <Monitor as Actor>::Context: ToEnvelope<Monitor, M>,
    {
        // Through a fresh clone of the address: actix parks the sender whose message filled
        // the mailbox, and `send` from a parked sender waits for a wake-up it never
        // registers. A clone starts unparked and queues the message at once; waiting for
        // the answer is what bounds this producer.
        self.addr.clone().send(message).await
    }
}
