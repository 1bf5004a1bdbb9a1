//! The periodic sweep: every rule on every account, retention of closed accounts, automatic
//! key renewal, and the purge of what has outlived its retention.

use caducee_storage::{
    Account, AccountState, Address, AddressError, Alert, AlertKind, AuditAction, AuditDraft, CertificateStatus, Millis,
    StateChange, Store, StoreError, DAY_MILLIS,
};

use super::rules::{inactivity_change, quota_change};
use super::{MonitorConfig, Renewal};
use crate::keyvault::{self, KeyVaultError};

/// What a sweep did: the report the administration protocol carries, defined there once.
pub use caducee_admin_protocol::SweepReport;

/// Runs every rule on every account as of `as_of`; `now` is the relay's clock, the time its
/// signatures carry (a sweep run "as of" a later day signs no message from the future).
pub async fn sweep(
    store: &Store,
    config: &MonitorConfig,
    as_of: Millis,
    now: Millis,
) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport { as_of, ..SweepReport::default() };
    for page in store.account_pages() {
        for account in page? {
            sweep_account(store, config, &account, (as_of, now), &mut report).await?;
        }
    }
    let days_before = |days: u64| Millis(as_of.0.saturating_sub(days.saturating_mul(DAY_MILLIS)));
    report.purged = store
        .purge(caducee_storage::Purge {
            connections_before: days_before(config.log_retention_days),
            trails_before: days_before(config.log_retention_days),
            audit_before: days_before(config.audit_retention_days),
            alerts_before: days_before(config.log_retention_days),
            sessions_ended_at: as_of,
        })
        .await?;
    Ok(report)
}

/// Every rule, on one account.
async fn sweep_account(
    store: &Store,
    config: &MonitorConfig,
    account: &Account,
    (as_of, now): (Millis, Millis),
    report: &mut SweepReport,
) -> Result<(), StoreError> {
    report.accounts += 1;
    let state = store.account_state(account.id)?;
    if let Some(closed_at) = state.closed_at {
        if retire_closed_account(store, config, account, &state, closed_at, as_of).await? {
            report.closed_accounts_removed += 1;
        }
        return Ok(()); // a closed account gets no notices
    }
    if !apply_inactivity_rule(store, config, account, &state, as_of, report).await? {
        return Ok(()); // removed since the page was read
    }
    match check_quota(store, config, account, as_of).await {
        Ok(true) => report.quota_changes += 1,
        Ok(false) | Err(StoreError::NoSuchAccount) => {}
        Err(error) => return Err(error),
    }
    if let Some(renewal) = &config.renewal {
        match renew_if_due(store, renewal, config, account, (as_of, now)).await {
            Ok(true) => report.keys_renewed += 1,
            Ok(false) => {}
            // Tried again at the next sweep: nothing was published.
            Err(error) => tracing::error!(address = %account.address, %error, "key renewal failed"),
        }
    }
    Ok(())
}

/// Removes a closed account once `closed_account_retention_days` have passed, unless it is
/// under legal hold. True if it was removed.
async fn retire_closed_account(
    store: &Store,
    config: &MonitorConfig,
    account: &Account,
    state: &AccountState,
    closed_at: Millis,
    as_of: Millis,
) -> Result<bool, StoreError> {
    let days = as_of.0.saturating_sub(closed_at.0) / DAY_MILLIS;
    if days < config.closed_account_retention_days || state.legal_hold {
        return Ok(false);
    }
    let audit = AuditDraft::new(
        as_of,
        "monitor",
        "retention",
        AuditAction::Delete,
        format!("account {}", account.address),
        format!("closed {days} days ago"),
    );
    match store.delete_account(account.id, as_of, audit).await {
        Ok(_) => {}
        // Reopened or put under hold since the snapshot: nothing to do.
        Err(StoreError::Refused(why)) => {
            tracing::info!(address = %account.address, %why, "closed account kept");
            return Ok(false);
        }
        Err(error) => return Err(error),
    }
    tracing::info!(address = %account.address, days, "closed account removed by retention");
    Ok(true)
}

/// Applies the inactivity rule to one open account and counts what it did. False if the
/// account was removed since the sweep read it.
async fn apply_inactivity_rule(
    store: &Store,
    config: &MonitorConfig,
    account: &Account,
    state: &AccountState,
    as_of: Millis,
    report: &mut SweepReport,
) -> Result<bool, StoreError> {
    let Some((change, notice)) = inactivity_change(account, state, as_of, config) else {
        return Ok(true);
    };
    let disables = matches!(change, StateChange::Disable { .. });
    if disables {
        report.disabled += 1;
    } else {
        report.inactivity_notices += 1;
    }
    tracing::info!(address = %account.address, ?change, "inactivity rule");
    let updated = if disables {
        let text = format!(
            "reception disabled: {} has not collected for {} days",
            account.address, config.inactivity_disable_days
        );
        let alert = Alert::new(AlertKind::InactivityDisabled, account.address.as_str(), &text, as_of);
        store.update_state_with_alert(account.id, change, notice, alert).await
    } else {
        store.update_state(account.id, change, notice).await
    };
    match updated {
        Err(StoreError::NoSuchAccount) => Ok(false),
        other => other.map(|()| true),
    }
}

/// Why an automatic key renewal failed. Nothing was published: the next sweep tries again.
#[derive(Debug, thiserror::Error)]
enum RenewalError {
    /// Reading the certificates, sealing the message or publishing the new edition failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The new keys or the message carrying them could not be made.
    #[error(transparent)]
    KeyVault(#[from] KeyVaultError),
    /// The blocking task that issues the keys did not finish (the runtime is stopping).
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    /// The relay's own `keys@` address does not parse (a misconfigured domain).
    #[error(transparent)]
    Sender(#[from] AddressError),
    /// The message with the new keys could not be stored in the user's mailbox.
    #[error("delivering the new keys: {0}")]
    Delivery(StoreError),
}

/// Issues next year's keys for an account whose current keys expire at the end of this
/// year, once within `days_before_year_end` of it, and delivers them to its mailbox
/// encrypted to the current keys. The certificate is published only after the delivery, so
/// a failed delivery is simply retried at the next sweep.
async fn renew_if_due(
    store: &Store,
    renewal: &Renewal,
    config: &MonitorConfig,
    account: &Account,
    (as_of, now): (Millis, Millis),
) -> Result<bool, RenewalError> {
    let editions = store.certificates(account.id)?;
    let year_end = keyvault::end_of_year(as_of);
    let due = Millis(year_end.0.saturating_sub(renewal.days_before_year_end.saturating_mul(DAY_MILLIS)));
    let current: Vec<_> = editions.iter().filter(|c| c.status(as_of) == CertificateStatus::Valid).collect();
    let Some(newest) = current.iter().max_by_key(|c| c.expires_at) else {
        return Ok(false); // no valid keys to deliver to: the administrator re-issues
    };
    if as_of < due || newest.expires_at > year_end {
        return Ok(false); // not yet, or already renewed
    }
    let request = keyvault::IssueRequest {
        account: account.id,
        address: account.address.clone(),
        name: keyvault::published_name(account, store.directory_entry(account.id)?.red_list.value),
        edition: editions.iter().map(|c| c.edition).max().unwrap_or(0) + 1,
        at: as_of,
        expires_at: keyvault::next_edition_expiry(year_end),
        endpoints: renewal.endpoints.clone(),
        ca_pem: renewal.ca_pem.clone(),
    };
    let from = format!("{}@{}", crate::relay_key::RELAY_LOCAL_PART, config.domain);
    let signed_at = Millis(as_of.0.min(now.0));
    let (record, message) = match &renewal.issuer {
        Some(issuer) => issuer.renewal(request, newest, from.clone(), signed_at).await?,
        None => {
            let Some(relay) = config.relay_key.clone() else {
                return Err(
                    KeyVaultError::Refused("the relay has no key of its own to sign the renewal with".into()).into()
                );
            };
            let signer = relay.clone();
            let issued =
                tokio::task::spawn_blocking(move || keyvault::issue_certified(&request, Some(&signer))).await??;
            let message = keyvault::renewal_message(
                &newest.public,
                &issued,
                (&relay, signed_at),
                &from,
                &account.address,
                as_of,
            )?;
            (issued.record, message)
        }
    };
    let sender = Address::parse(&from)?;
    let sealed = store.seal(&message)?;
    store.accept(sender, vec![account.id], sealed, as_of).await.map_err(RenewalError::Delivery)?;
    let audit = AuditDraft::new(
        as_of,
        "monitor",
        "renewal",
        AuditAction::Issue,
        format!("keys of {}", account.address),
        format!(
            "edition {}, {} (automatic renewal, delivered encrypted to {}), valid until {}",
            record.edition,
            record.fingerprint,
            newest.fingerprint,
            keyvault::iso_date(record.expires_at)
        ),
    );
    let (edition, fingerprint) = (record.edition, record.fingerprint.clone());
    store.put_certificate(record, audit).await?;
    tracing::info!(address = %account.address, edition, %fingerprint, "next year's keys issued and delivered");
    Ok(true)
}

pub(super) async fn check_quota(
    store: &Store,
    config: &MonitorConfig,
    account: &Account,
    as_of: Millis,
) -> Result<bool, StoreError> {
    let state = store.account_state(account.id)?;
    let Some((change, notices)) = quota_change(account, &state, as_of, config) else {
        return Ok(false);
    };
    tracing::info!(address = %account.address, ?change, "quota rule");
    let mut notices = notices.into_iter();
    if matches!(change, StateChange::QuotaWarned { percent } if percent >= 100) {
        let text = format!("mailbox full: new mail to {} is refused until it is collected", account.address);
        let alert = Alert::new(AlertKind::QuotaFull, account.address.as_str(), &text, as_of);
        store.update_state_with_alert(account.id, change, notices.next(), alert).await?;
    } else {
        store.update_state(account.id, change, notices.next()).await?;
    }
    for notice in notices {
        store.queue_notice(notice).await?;
    }
    Ok(true)
}
