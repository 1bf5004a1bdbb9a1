//! The key vault's administrative side: issue on `user add`, `keys show|renew|revoke`.
//! Key generation itself happens in the key-vault actor (caducee-actors `keyvault`); this
//! module decides editions and expiries, writes bundles out and publishes the public part.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use caducee_actors::keyvault::{self, Endpoints, IssueRequest, Issued};
use caducee_admin_protocol::{EditionIssued, KeysAction, KeysReport};
use caducee_storage::{Account, AuditAction, Millis};

use crate::admin::{Admin, Caller};

/// What the key vault needs to know of the installation.
#[derive(Debug, Clone)]
pub struct KeysContext {
    pub endpoints: Endpoints,
    pub bundle_folder: PathBuf,
    /// The key issuer, when users' keys are made outside the relay (`[keys] issuer`): it
    /// keeps the bundles in its own folder and `bundle_folder` is unused.
    pub issuer: Option<caducee_actors::keyvault::issuer::IssuerClient>,
    /// A first issue or re-issue with fewer days left in the year runs to the end of the next.
    pub next_year_within_days: u64,
    /// The relay's own key: certifies each edition issued here when the relay is stopped
    /// (the running relay's key vault holds it too).
    pub relay_key: Option<std::sync::Arc<caducee_actors::relay_key::RelayKey>>,
}

impl Admin {
    /// Issues the next edition of `account`'s keys, valid until `expires_at`, writes its
    /// bundle and publishes its certificate (with an audit entry in the same commit).
    pub(crate) async fn issue_edition(
        &self,
        account: &Account,
        expires_at: Millis,
        why: &str,
        caller: &Caller,
    ) -> anyhow::Result<EditionIssued> {
        let editions = self.store.certificates(account.id)?;
        let edition = editions.iter().map(|c| c.edition).max().unwrap_or(0) + 1;
        let request = IssueRequest {
            account: account.id,
            address: account.address.clone(),
            name: keyvault::published_name(account, self.store.directory_entry(account.id)?.red_list.value),
            edition,
            at: self.clock.now(),
            expires_at,
            endpoints: self.keys.endpoints.clone(),
            ca_pem: std::fs::read_to_string(self.data_dir.join("tls/ca.pem")).context("reading the relay's CA")?,
        };
        let (record, installation_code, bundle) = match (&self.keys.issuer, &self.key_vault) {
            (Some(issuer), _) => issuer.bundle(request).await?,
            (None, vault) => {
                let issued: Issued = match vault {
                    Some(vault) => vault.send(request).await??,
                    None => {
                        let relay = self.keys.relay_key.clone();
                        tokio::task::spawn_blocking(move || keyvault::issue_certified(&request, relay.as_deref()))
                            .await??
                    }
                };
                let folder = &self.keys.bundle_folder;
                let bundle = keyvault::write_bundle(folder, &account.address, edition, &issued.record.fingerprint, {
                    &issued.bundle
                })?;
                (issued.record, issued.code, bundle)
            }
        };
        let certificate = keyvault::armored(&record)?;
        let view = EditionIssued {
            edition,
            fingerprint: record.fingerprint.to_string(),
            expires_at: record.expires_at,
            bundle: bundle.clone(),
            installation_code,
            certificate,
        };
        let detail =
            format!("edition {edition}, {} ({why}), valid until {}", view.fingerprint, keyvault::iso_date(expires_at));
        let audit = caller.draft(self.clock.now(), AuditAction::Issue, format!("keys of {}", account.address), detail);
        if let Err(error) = self.store.put_certificate(record, audit).await {
            // The issuer's folder is not the relay's to clean up; its bundle opens keys
            // nobody published, and the administrator deletes it with the others.
            if self.keys.issuer.is_none() {
                let _ = std::fs::remove_file(&bundle);
            }
            return Err(error.into());
        }
        tracing::info!(address = %account.address, edition, fingerprint = %view.fingerprint, "keys issued");
        Ok(view)
    }

    /// The expiry of a first issue now.
    pub(crate) fn first_expiry(&self) -> Millis {
        keyvault::first_expiry(self.clock.now(), self.keys.next_year_within_days)
    }

    pub(crate) async fn keys(&self, address: &str, action: KeysAction, caller: &Caller) -> anyhow::Result<KeysReport> {
        let account = self.account_named(address)?;
        let now = self.clock.now();
        let mut issued = None;
        let mut revoked = Vec::new();
        match action {
            KeysAction::Show => {}
            KeysAction::Renew => {
                // The year after the newest edition in use; the current ones stay valid until
                // they expire.
                let editions = self.store.certificates(account.id)?;
                let expires_at = keyvault::renewal_expiry(&editions, now, self.keys.next_year_within_days);
                issued = Some(self.issue_edition(&account, expires_at, "renewal", caller).await?);
            }
            KeysAction::Revoke { reason } => {
                let current: Vec<_> =
                    self.store.certificates(account.id)?.into_iter().filter(|c| c.in_use(now)).collect();
                if current.is_empty() {
                    bail!("{address} has no current certificate to revoke");
                }
                let replaced_until = current.iter().map(|c| c.expires_at).max();
                for record in current {
                    let record = keyvault::revoke(&record, reason, now, self.keys.relay_key.as_deref())?;
                    let fingerprint = record.fingerprint.to_string();
                    let detail = format!("edition {}, {fingerprint}, reason {}", record.edition, reason.as_str());
                    let audit = caller.draft(now, AuditAction::Revoke, format!("keys of {}", account.address), detail);
                    self.store.put_certificate(record, audit).await?;
                    tracing::warn!(address = %account.address, %fingerprint, reason = reason.as_str(), "keys revoked");
                    revoked.push(fingerprint);
                }
                let expiry = keyvault::reissue_expiry(now, replaced_until, self.keys.next_year_within_days);
                issued = Some(self.issue_edition(&account, expiry, "new edition after revocation", caller).await?);
            }
        }
        let records = self.store.certificates(account.id)?;
        let certificates = records.iter().map(|record| keyvault::describe(record, now)).collect::<Result<_, _>>()?;
        let warnings = keyvault::expiry_warnings(&records, now);
        Ok(KeysReport { address: account.address.to_string(), certificates, issued, revoked, warnings })
    }
}
