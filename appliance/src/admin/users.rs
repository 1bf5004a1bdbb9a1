//! Accounts: `user-add`, `user-list`, `user-state`, `user-quota`, `user-edit`,
//! `user-reset-password`.

use anyhow::{bail, Context as _};
use caducee_admin_protocol::{
    PasswordReset, StateAction, UserAdd, UserCreated, UserEdit, UserQuota, UserState, UserView,
};
use caducee_storage::{hash_password, Account, Address, AuditAction, NewAccount, StoreError, DEFAULT_QUOTA_BYTES};

use crate::admin::{generate_password, Admin, Caller};

/// Longest first or last name.
const NAME_CHARS_MAX: usize = 200;

impl Admin {
    pub(crate) async fn user_add(&self, add: UserAdd, caller: &Caller) -> anyhow::Result<UserCreated> {
        let address = Address::parse(&add.address).with_context(|| format!("invalid address {:?}", add.address))?;
        if add.first_name.trim().is_empty() || add.last_name.trim().is_empty() {
            bail!("first and last names are required");
        }
        let contact = Address::parse(&add.contact_email)
            .with_context(|| format!("invalid contact e-mail {:?}", add.contact_email))?;
        let quota_bytes = add.quota_mb.map_or(DEFAULT_QUOTA_BYTES, |mb| mb.saturating_mul(1_000_000));
        let directory = crate::directory::apply_fields(
            &add.directory,
            caducee_storage::DirectoryEntry::default(),
            self.clock.now(),
        )
        .map_err(|problems| anyhow::anyhow!("the directory entry is refused: {}", problems.join("; ")))?;
        if let Some(issuer) = &self.keys.issuer {
            // Refused now, with nothing created, rather than an account without keys.
            issuer.reachable().await.context("no account was created")?;
        }
        let password = generate_password();
        let new = NewAccount {
            address: address.clone(),
            first_name: add.first_name.trim().to_owned(),
            last_name: add.last_name.trim().to_owned(),
            contact_email: contact.to_string(),
            password_hash: hash_off_thread(&password).await?,
            quota_bytes,
            created_at: self.clock.now(),
            directory: Some(directory),
        };
        match self.store.create_account(new).await {
            Ok(_) => {}
            Err(StoreError::AccountExists(a)) => bail!("an account for {a} already exists"),
            Err(e) => return Err(e.into()),
        }
        let account = self.store.account_by_address(&address)?.context("account vanished after creation")?;
        tracing::info!(address = %address, "account created");
        let keys = self.issue_edition(&account, self.first_expiry(), "subscription", caller).await.with_context(|| {
            format!("the account {address} was created but its keys were not issued; run `caducee keys renew --address {address}`")
        })?;
        Ok(UserCreated { address: address.to_string(), password, quota_bytes, keys })
    }

    pub(crate) fn user_list(&self) -> anyhow::Result<Vec<UserView>> {
        Ok(self
            .store
            .accounts()?
            .into_iter()
            .map(|a| UserView {
                first_name: a.first_name,
                last_name: a.last_name,
                contact_email: a.contact_email,
                quota_bytes: a.quota_bytes,
                used_bytes: a.used_bytes,
                messages: a.message_count,
                last_collection: a.last_collection,
                delete_on_retrieve: a.delete_on_retrieve,
                state: self.store.account_state(a.id).unwrap_or_default(),
                address: a.address.to_string(),
            })
            .collect())
    }

    /// The account `address` as `user-list` shows it, after a change.
    fn user_view(&self, address: &Address) -> anyhow::Result<UserView> {
        self.user_list()?.into_iter().find(|u| u.address == address.as_str()).context("account vanished")
    }

    pub(crate) async fn user_quota(&self, request: UserQuota, caller: &Caller) -> anyhow::Result<UserView> {
        let UserQuota { address, quota_mb } = request;
        if quota_mb == 0 || quota_mb > 1_000_000 {
            bail!("a quota is between 1 and 1,000,000 MB");
        }
        let account = self.account_named(&address)?;
        self.store.set_quota(account.id, quota_mb * 1_000_000).await?;
        let detail = format!("quota {} MB → {quota_mb} MB", account.quota_bytes / 1_000_000);
        self.store
            .audit(caller.draft(self.clock.now(), AuditAction::Update, format!("account {}", account.address), detail))
            .await?;
        // Mailbox actors read the account at each recipient check: the new quota holds at once.
        self.user_view(&account.address)
    }

    pub(crate) async fn user_edit(&self, request: UserEdit, caller: &Caller) -> anyhow::Result<UserView> {
        let account = self.account_named(&request.address)?;
        let first = edited_name("first name", request.first_name, &account.first_name)?;
        let last = edited_name("last name", request.last_name, &account.last_name)?;
        let contact = match request.contact_email {
            None => account.contact_email.clone(),
            Some(contact) => {
                Address::parse(&contact).with_context(|| format!("invalid contact e-mail {contact:?}"))?.to_string()
            }
        };
        let mut changed = Vec::new();
        if first != account.first_name || last != account.last_name {
            changed.push("names");
        }
        if contact != account.contact_email {
            changed.push("contact e-mail");
        }
        let detail = if changed.is_empty() { "no change".into() } else { changed.join(", ") };
        let audit = caller.draft(self.clock.now(), AuditAction::Update, format!("account {}", account.address), detail);
        self.store.edit_account(account.id, first, last, contact, audit).await?;
        self.user_view(&account.address)
    }

    pub(crate) async fn user_reset_password(
        &self,
        request: caducee_admin_protocol::UserResetPassword,
        caller: &Caller,
    ) -> anyhow::Result<PasswordReset> {
        let account: Account = self.account_named(&request.address)?;
        let password = generate_password();
        let hash = hash_off_thread(&password).await?;
        let audit = caller.draft(
            self.clock.now(),
            AuditAction::Update,
            "password".into(),
            format!("reset for {}", account.address),
        );
        // Every personal-space session of the account ends: whoever held the old password
        // is out.
        self.store.set_password(account.id, hash, None, audit).await?;
        tracing::info!(address = %account.address, "password reset by the administrator");
        Ok(PasswordReset { address: account.address.to_string(), password })
    }

    pub(crate) async fn user_state(&self, request: UserState) -> anyhow::Result<UserView> {
        use caducee_storage::{DisabledReason, StateChange};
        let UserState { address, action } = request;
        let account = self.account_named(&address)?;
        let change = match action {
            StateAction::Unblock => StateChange::Unblock,
            StateAction::Enable => StateChange::Enable,
            StateAction::Suspend => StateChange::Disable { reason: DisabledReason::Suspended, at: self.clock.now() },
            StateAction::Close => StateChange::Close { at: self.clock.now() },
            StateAction::Reopen => StateChange::Reopen,
            StateAction::Hold => StateChange::LegalHold(true),
            StateAction::Release => StateChange::LegalHold(false),
        };
        if let (StateAction::Unblock, Some(monitor)) = (action, &self.monitor) {
            monitor.send(caducee_actors::monitor::ForgetSender { sender: account.id }).await?;
        }
        self.store.update_state(account.id, change, None).await?;
        tracing::info!(address = %account.address, ?action, "account state changed by the administrator");
        self.user_view(&account.address)
    }
}

/// A name as edited: unchanged when not given, checked and never empty when given.
fn edited_name(field: &str, value: Option<String>, current: &str) -> anyhow::Result<String> {
    match value {
        None => Ok(current.to_owned()),
        Some(value) => {
            let value = caducee_storage::check_text(field, &value, NAME_CHARS_MAX).map_err(anyhow::Error::msg)?;
            if value.is_empty() {
                bail!("{field} cannot be empty");
            }
            Ok(value)
        }
    }
}

/// Hashes a password on a blocking thread (argon2id takes tens of milliseconds).
async fn hash_off_thread(password: &str) -> anyhow::Result<String> {
    let password = password.to_owned();
    Ok(tokio::task::spawn_blocking(move || hash_password(&password)).await??)
}
