//! The relay's state: `status`, `monitor-run`, `trail`, `audit-verify` (`fsck`,
//! `audit-export`, `rights-requests` read the store directly).

use anyhow::Context as _;
use caducee_actors::monitor;
use caducee_admin_protocol::{AuditVerified, StatusReport, SweepReport, TrailView};
use caducee_storage::{MessageId, Millis};

use crate::admin::Admin;

impl Admin {
    pub(crate) async fn status(&self) -> anyhow::Result<StatusReport> {
        let quality = match &self.monitor {
            Some(monitor) => monitor.send(monitor::QualityNow).await.ok(),
            None => None,
        };
        let stats = self.store.stats()?;
        Ok(StatusReport {
            running: self.mailboxes.is_some(),
            stored_messages: stats.messages,
            stored_bytes: stats.message_bytes,
            mailbox_count: stats.mailboxes,
            store_file_bytes: stats.file_bytes,
            connection_log_lines: stats.connection_log_lines,
            commits: self.mailboxes.as_ref().map(|_| self.store.commit_stats()),
            last_drill: self.last_drill(),
            quality,
            notices_waiting: self.store.notices()?.into_iter().map(|(_, n)| n).collect(),
            open_alerts: self.store.alerts()?.into_iter().rev().filter(|a| a.acknowledged_at.is_none()).collect(),
            mailboxes: self.user_list()?,
            sessions_open: self.sessions_open.as_ref().map(|open| open()).unwrap_or_default(),
            pair: crate::pair::view(),
        })
    }

    pub(crate) async fn monitor_run(&self, as_of: Option<Millis>) -> anyhow::Result<SweepReport> {
        let report = match &self.monitor {
            Some(monitor) => {
                let report = monitor
                    .send(monitor::Sweep { as_of })
                    .await?
                    .map_err(|e| anyhow::anyhow!("monitor sweep failed: {e}"))?;
                // What the sweep queued leaves now rather than at the next look.
                if let Some(notifier) = &self.notifier {
                    caducee_actors::notices::request_flush(notifier);
                }
                report
            }
            None => {
                let ca_pem = std::fs::read_to_string(self.data_dir.join("tls/ca.pem")).unwrap_or_default();
                let mut config =
                    crate::config::Config::load(&self.data_dir)?.monitor_config(self.keys.endpoints.clone(), ca_pem);
                config.relay_key = self.keys.relay_key.clone();
                let now = self.clock.now();
                monitor::sweep(&self.store, &config, as_of.unwrap_or(now), now).await?
            }
        };
        Ok(report)
    }

    pub(crate) fn trail(&self, message: u64) -> anyhow::Result<TrailView> {
        let trail = self
            .store
            .trail(MessageId(message))?
            .with_context(|| format!("no trail for message {message} (unknown, or past retention)"))?;
        Ok(TrailView { trail, federation: self.store.federation_trail(MessageId(message))? })
    }

    pub(crate) fn audit_verify(&self) -> anyhow::Result<AuditVerified> {
        let (entries_checked, problems) = self.store.audit_verify()?;
        Ok(AuditVerified { ok: problems.is_empty(), entries_checked, problems })
    }
}
