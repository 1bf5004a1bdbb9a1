//! The trust list of the operators' trust space: `trust-import`, `trust-list`,
//! `trust-show`. A list is read whole or refused; a refused one raises an alert and the
//! last good list stays in force.

use anyhow::Context as _;
use caducee_admin_protocol::{TrustDomainView, TrustImported, TrustListView};
use caducee_storage::{Alert, AlertKind, AuditAction, TrustListRecord};

use crate::admin::{Admin, Caller};
use crate::federation::trust::{TrustList, TrustedDomain};

impl Admin {
    /// Reads `xml` as a trust list and puts it in force, or refuses it whole: then the
    /// administrator gets an alert saying why, and the last good list stays.
    pub(crate) async fn trust_import(&self, xml: &str, source: &str, caller: &Caller) -> anyhow::Result<TrustImported> {
        let now = self.clock.now();
        let list = match TrustList::parse(xml) {
            Ok(list) => list,
            Err(error) => {
                let text = format!("the trust list from {source} was refused: {error}");
                self.store.raise_alert(Alert::new(AlertKind::TrustList, source, &text, now)).await?;
                return Err(anyhow::Error::new(error).context(format!("the trust list from {source} was refused")));
            }
        };
        let replaced_domains = self.store.trust_list()?.map(|previous| previous.domains);
        let domains = u32::try_from(list.len()).context("too many domains")?;
        let record = TrustListRecord { xml: xml.to_owned(), source: source.to_owned(), imported_at: now, domains };
        let detail = format!("{domains} domains from {source}");
        let audit = caller.draft(now, AuditAction::Update, "trust list".into(), detail);
        self.store.set_trust_list(record, audit).await?;
        tracing::info!(domains, %source, "trust list in force");
        Ok(TrustImported { domains, replaced_domains, imported_at: now })
    }

    /// The list in force: every domain with its operators.
    pub(crate) fn trust_listing(&self) -> anyhow::Result<TrustListView> {
        let Some((record, list)) = self.trust_in_force()? else {
            return Ok(TrustListView::default());
        };
        Ok(TrustListView {
            source: Some(record.source),
            imported_at: Some(record.imported_at),
            domains: list.domains().map(domain_view).collect(),
        })
    }

    /// One domain of the list in force.
    pub(crate) fn trust_show(&self, domain: &str) -> anyhow::Result<TrustDomainView> {
        let (_, list) =
            self.trust_in_force()?.context("no trust list is in force: import one with `caducee trust import`")?;
        let entry = list.domain(domain).with_context(|| format!("{domain} is not in the trust list in force"))?;
        Ok(domain_view(entry))
    }

    fn trust_in_force(&self) -> anyhow::Result<Option<(TrustListRecord, TrustList)>> {
        let Some(record) = self.store.trust_list()? else {
            return Ok(None);
        };
        // It was read whole when imported; reading it again cannot fail but for a bug.
        let list = TrustList::parse(&record.xml).context("the trust list in force no longer reads")?;
        Ok(Some((record, list)))
    }
}

fn domain_view(entry: &TrustedDomain) -> TrustDomainView {
    TrustDomainView {
        domain: entry.name.clone(),
        description: entry.description.clone(),
        operators: entry.operators.iter().map(ToString::to_string).collect(),
        responsible_contact: entry.responsible_contact.clone(),
        support_contact: entry.support_contact.clone(),
        updated: entry.updated.clone(),
    }
}
