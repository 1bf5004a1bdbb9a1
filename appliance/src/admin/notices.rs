//! What the administrator tells users and answers them: `announce`, `terms-publish`,
//! `rights-request-close`; and the alerts raised for the administrator: `alerts`,
//! `alert-acknowledge`.

use anyhow::{bail, Context as _};
use caducee_admin_protocol::{AlertAcknowledged, Announce, Announced, RequestClosed, TermsPublished};
use caducee_storage::AuditAction;

use crate::admin::{Admin, Caller};

/// Longest announcement subject and text.
const ANNOUNCEMENT_SUBJECT_BYTES_MAX: usize = 200;
const ANNOUNCEMENT_BODY_BYTES_MAX: usize = 32 * 1024;

impl Admin {
    /// Publishes new terms of use: every user accepts them at the next login.
    pub(crate) async fn terms_publish(&self, text: String, caller: &Caller) -> anyhow::Result<TermsPublished> {
        if text.trim().is_empty() || text.len() > ANNOUNCEMENT_BODY_BYTES_MAX {
            bail!("the terms of use must be a text of at most {ANNOUNCEMENT_BODY_BYTES_MAX} bytes");
        }
        let now = self.clock.now();
        let audit = caller.draft(now, AuditAction::Create, "terms of use".into(), format!("{} bytes", text.len()));
        self.store.publish_terms(text, now, audit).await?;
        let terms = self.store.terms()?.context("the terms vanished")?;
        Ok(TermsPublished { version: terms.version, published_at: terms.published_at })
    }

    /// Queues one notice per distinct contact e-mail and sends them now.
    pub(crate) async fn announce(&self, request: Announce) -> anyhow::Result<Announced> {
        let Announce { subject, body } = request;
        if subject.trim().is_empty() || body.trim().is_empty() {
            bail!("an announcement needs a subject and a text");
        }
        if subject.len() > ANNOUNCEMENT_SUBJECT_BYTES_MAX || body.len() > ANNOUNCEMENT_BODY_BYTES_MAX {
            bail!(
                "an announcement is at most {ANNOUNCEMENT_SUBJECT_BYTES_MAX} bytes of subject and \
                 {ANNOUNCEMENT_BODY_BYTES_MAX} of text"
            );
        }
        let now = self.clock.now();
        let mut recipients: Vec<String> = self.store.accounts()?.into_iter().map(|a| a.contact_email).collect();
        recipients.sort();
        recipients.dedup();
        for to in &recipients {
            let notice = caducee_storage::Notice::new(to, "announcement", subject.trim(), &body, now);
            self.store.queue_notice(notice).await?;
        }
        if let Some(notifier) = &self.notifier {
            caducee_actors::notices::request_flush(notifier);
        }
        tracing::info!(recipients = recipients.len(), "announcement queued");
        Ok(Announced { queued: recipients.len() })
    }

    pub(crate) async fn rights_request_close(&self, seq: u64, caller: &Caller) -> anyhow::Result<RequestClosed> {
        let now = self.clock.now();
        let audit =
            caller.draft(now, AuditAction::Update, "data-protection request".into(), format!("request {seq} closed"));
        self.store.close_request(seq, now, audit).await?;
        Ok(RequestClosed { closed: seq })
    }

    /// Every alert, newest first.
    pub(crate) fn alerts(&self) -> anyhow::Result<Vec<caducee_storage::Alert>> {
        let mut alerts = self.store.alerts()?;
        alerts.reverse();
        Ok(alerts)
    }

    pub(crate) async fn alert_acknowledge(&self, seq: u64, caller: &Caller) -> anyhow::Result<AlertAcknowledged> {
        let audit =
            caller.draft(self.clock.now(), AuditAction::Update, "alert".into(), format!("alert {seq} acknowledged"));
        self.store.acknowledge_alert(seq, caller.actor.clone(), audit).await?;
        Ok(AlertAcknowledged { acknowledged: seq, by: caller.actor.clone() })
    }
}
