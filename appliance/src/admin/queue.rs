//! The outbound queue to peer operators: `queue-list`, `queue-show`, `queue-act` (retry,
//! hold, release, delete). Every change is written with its audit entry; a deletion gives
//! the waiting recipients up (their senders get a report, as for any failure) and erases
//! the message when nothing else holds it.

use anyhow::{bail, Context as _};
use caducee_admin_protocol::{QueueActed, QueueAction, QueueEntryView, QueueRecipientView, QueueView};
use caducee_storage::{AuditAction, OutboundRecord, StoreError};

use crate::admin::{Admin, Caller};
use crate::federation::outbound::notify_sender;

impl Admin {
    /// The queue, oldest first.
    pub(crate) fn queue_listing(&self) -> anyhow::Result<QueueView> {
        let entries = self.store.outbound()?.into_iter().map(|(id, record)| entry_view(id, &record)).collect();
        Ok(QueueView { entries })
    }

    /// One entry.
    pub(crate) fn queue_show(&self, id: u64) -> anyhow::Result<QueueEntryView> {
        let record = self.store.outbound_entry(id)?.with_context(|| no_entry(id))?;
        Ok(entry_view(id, &record))
    }

    /// Retries, holds, releases or deletes one entry (`Some`) or every one.
    pub(crate) async fn queue_act(
        &self,
        id: Option<u64>,
        action: QueueAction,
        caller: &Caller,
    ) -> anyhow::Result<QueueActed> {
        let all = id.is_none();
        let targets = match id {
            Some(id) => vec![(id, self.store.outbound_entry(id)?.with_context(|| no_entry(id))?)],
            None if action == QueueAction::Delete => {
                bail!("delete names one entry: `caducee queue delete ID` (see `caducee queue list`)")
            }
            None => self.store.outbound()?,
        };
        let now = self.clock.now();
        let mut changed = 0;
        for (id, record) in targets {
            let object = format!("outbound message {} to {}", record.message.0, record.domain);
            if action == QueueAction::Delete {
                let detail = format!("deleted from the outbound queue (entry {id})");
                let audit = caller.draft(now, AuditAction::Delete, object, detail);
                let reason = "deleted from the outbound queue by the relay's administrator";
                let waiting: Vec<_> = record.pending().cloned().collect();
                self.store.delete_outbound(id, reason.into(), now, audit).await?;
                let relay_key = self.keys.relay_key.as_deref();
                for recipient in &waiting {
                    notify_sender(&self.store, relay_key, &record.sender, recipient, reason, now).await;
                }
                changed += 1;
                continue;
            }
            let (held, next) = match action {
                QueueAction::Retry => (None, Some(now)),
                QueueAction::Hold => (Some(true), None),
                QueueAction::Release => (Some(false), Some(now)),
                QueueAction::Delete => unreachable!("handled above"),
            };
            if held.is_none_or(|h| h == record.held) && next.is_none_or(|n| n == record.next_attempt_at) {
                continue;
            }
            let detail = format!("{} (entry {id})", action_word(action));
            let audit = caller.draft(now, AuditAction::Update, object, detail);
            match self.store.schedule_outbound(id, held, next, audit).await {
                Ok(()) => changed += 1,
                // Delivered (or given up) since it was listed: nothing left to act on.
                Err(StoreError::NotFound(_)) if all => {}
                Err(StoreError::NotFound(_)) => bail!("{}", no_entry(id)),
                Err(error) => return Err(error.into()),
            }
        }
        if changed > 0 && matches!(action, QueueAction::Retry | QueueAction::Release) {
            if let Some(peers) = &self.peers {
                peers.queued();
            }
        }
        Ok(QueueActed { entries: changed })
    }
}

fn no_entry(id: u64) -> String {
    format!("no entry {id} in the outbound queue (delivered, or deleted?): see `caducee queue list`")
}

fn action_word(action: QueueAction) -> &'static str {
    match action {
        QueueAction::Retry => "retry now",
        QueueAction::Hold => "held",
        QueueAction::Release => "released",
        QueueAction::Delete => "deleted",
    }
}

fn entry_view(id: u64, record: &OutboundRecord) -> QueueEntryView {
    QueueEntryView {
        id,
        message: record.message.0,
        sender: record.sender.to_string(),
        domain: record.domain.clone(),
        size: record.size,
        queued_at: record.queued_at,
        next_attempt_at: record.next_attempt_at,
        attempts: record.attempts,
        last_error: record.last_error.clone(),
        held: record.held,
        recipients: record
            .recipients
            .iter()
            .map(|r| QueueRecipientView {
                address: r.address.to_string(),
                state: match &r.outcome {
                    None => "waiting",
                    Some(outcome) if outcome.delivered => "delivered",
                    Some(_) => "failed",
                }
                .into(),
                reply: r.outcome.as_ref().map(|o| o.reply.clone()),
                at: r.outcome.as_ref().map(|o| o.at),
            })
            .collect(),
    }
}
