//! The directory's administrative side: `directory set|import|export`.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::{bail, Context as _};
use caducee_storage::{Address, AuditDraft, DirectoryEntry};
use serde::Serialize;

use crate::admin::{Admin, Caller, UserAdd};
use crate::directory::{self, DirectoryFields, ExportFormat};

#[derive(Debug, Serialize)]
pub struct DirectoryShown {
    pub address: String,
    pub entry: DirectoryEntry,
}

#[derive(Debug, Serialize)]
pub struct Imported {
    /// Existing accounts whose entry was updated.
    pub updated: usize,
    /// New accounts created (with their keys).
    pub created: usize,
    /// Where the new accounts' credentials went.
    pub credentials: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct Exported {
    pub format: ExportFormat,
    pub entries: usize,
    pub text: String,
}

impl Admin {
    pub(crate) async fn directory_set(
        &self,
        address: &str,
        fields: &DirectoryFields,
        caller: &Caller,
    ) -> anyhow::Result<DirectoryShown> {
        let account = self.account_named(address)?;
        let before = self.store.directory_entry(account.id)?;
        let now = self.clock.now();
        let after = fields
            .apply(before.clone(), now)
            .map_err(|problems| anyhow::anyhow!("nothing changed: {}", problems.join("; ")))?;
        let audit = AuditDraft {
            at: now,
            actor: caller.actor.clone(),
            source: caller.source.clone(),
            action: "update".into(),
            object: format!("directory entry of {}", account.address),
            detail: changed_fields(&before, &after),
        };
        self.store.put_directory(account.id, after.clone(), audit).await?;
        Ok(DirectoryShown { address: account.address.to_string(), entry: after })
    }

    /// All or nothing: every line is checked first; one bad line and nothing is written.
    pub(crate) async fn directory_import(
        &self,
        csv: &str,
        credentials_out: Option<&Path>,
        caller: &Caller,
    ) -> anyhow::Result<Imported> {
        enum Plan {
            Update { account: caducee_storage::AccountId, address: Address, entry: DirectoryEntry },
            Create(UserAdd),
        }
        let now = self.clock.now();
        let mut plans = Vec::new();
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (line, parsed) in directory::read_import(csv.as_bytes())? {
            let checked = parsed.map_err(|e| vec![e]).and_then(|l| {
                let address = Address::parse(&l.address).map_err(|e| vec![format!("address {:?}: {e}", l.address)])?;
                if !seen.insert(address.clone()) {
                    return Err(vec![format!("{address} appears twice")]);
                }
                // Every problem of the line, not just the first.
                let mut line_problems = Vec::new();
                let fields = l.to_fields().unwrap_or_else(|why| {
                    line_problems.push(why);
                    DirectoryFields::default()
                });
                let existing = self.store.account_by_address(&address).map_err(|e| vec![e.to_string()])?;
                let plan = match existing {
                    Some(account) => {
                        let before = self.store.directory_entry(account.id).map_err(|e| vec![e.to_string()])?;
                        match fields.apply(before, now) {
                            Ok(entry) => Some(Plan::Update { account: account.id, address: address.clone(), entry }),
                            Err(problems) => {
                                line_problems.extend(problems);
                                None
                            }
                        }
                    }
                    None => {
                        if l.first_name.trim().is_empty() || l.last_name.trim().is_empty() {
                            line_problems
                                .push(format!("{address} is a new account: first_name and last_name are needed"));
                        }
                        if Address::parse(&l.contact_email).is_err() {
                            line_problems.push(format!(
                                "{address} is a new account: contact_email {:?} is not an address",
                                l.contact_email
                            ));
                        }
                        if let Err(problems) = fields.apply(DirectoryEntry::default(), now) {
                            line_problems.extend(problems);
                        }
                        Some(Plan::Create(UserAdd {
                            address: address.to_string(),
                            first_name: l.first_name.clone(),
                            last_name: l.last_name.clone(),
                            contact_email: l.contact_email.clone(),
                            quota_mb: None,
                            directory: fields,
                        }))
                    }
                };
                match (plan, line_problems.is_empty()) {
                    (Some(plan), true) => Ok(plan),
                    _ => Err(line_problems),
                }
            });
            match checked {
                Ok(plan) => plans.push(plan),
                Err(whys) => problems.extend(whys.into_iter().map(|why| format!("line {line}: {why}"))),
            }
        }
        let creates = plans.iter().filter(|p| matches!(p, Plan::Create(_))).count();
        if creates > 0 && credentials_out.is_none() {
            problems.push(format!(
                "{creates} new accounts: give --credentials-out FILE for their passwords and installation codes"
            ));
        }
        if let Some(path) = credentials_out.filter(|p| p.exists()) {
            problems.push(format!("{} exists already: credentials are never written over", path.display()));
        }
        if !problems.is_empty() {
            bail!("nothing imported; {} problems:\n{}", problems.len(), problems.join("\n"));
        }
        let mut credentials = match (creates, credentials_out) {
            (0, _) | (_, None) => None,
            (_, Some(path)) => Some((
                path.to_path_buf(),
                csv::Writer::from_writer(
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(path)
                        .with_context(|| format!("creating {}", path.display()))?,
                ),
            )),
        };
        if let Some((_, writer)) = &mut credentials {
            writer.write_record(["address", "password", "installation_code", "bundle", "fingerprint"])?;
        }
        let (mut updated, mut created) = (0, 0);
        for plan in plans {
            match plan {
                Plan::Update { account, address, entry } => {
                    let before = self.store.directory_entry(account)?;
                    let audit = AuditDraft {
                        at: now,
                        actor: caller.actor.clone(),
                        source: caller.source.clone(),
                        action: "update".into(),
                        object: format!("directory entry of {address}"),
                        detail: format!("import: {}", changed_fields(&before, &entry)),
                    };
                    self.store.put_directory(account, entry, audit).await?;
                    updated += 1;
                }
                Plan::Create(add) => {
                    let made = self.user_add(add, caller).await?;
                    if let Some((_, writer)) = &mut credentials {
                        writer.write_record([
                            made.address.as_str(),
                            &made.password,
                            &made.keys.installation_code,
                            &made.keys.bundle.display().to_string(),
                            &made.keys.fingerprint,
                        ])?;
                    }
                    created += 1;
                }
            }
        }
        if let Some((_, writer)) = &mut credentials {
            writer.flush()?;
        }
        tracing::info!(updated, created, "directory imported");
        Ok(Imported { updated, created, credentials: credentials.map(|(path, _)| path) })
    }

    pub(crate) fn directory_export(&self, format: ExportFormat) -> anyhow::Result<Exported> {
        let config = crate::config::Config::load(&self.data_dir)?;
        let base = directory::base_dn(&config.domain);
        let view = directory::build_view(&self.store, self.store.directory_generation(), self.clock.now(), &base)?;
        let (entries, bytes) = match format {
            ExportFormat::Csv => (view.public().count(), directory::export_csv(&view)?),
            ExportFormat::Ldif => (view.public().count(), directory::export_ldif(&view)),
            ExportFormat::National => (view.all.len(), directory::export_national(&view)?),
        };
        Ok(Exported { format, entries, text: String::from_utf8(bytes)? })
    }
}

/// Names the fields that differ, for the audit trail (values left out: they are personal
/// data, and the trail must not become a copy of the directory).
fn changed_fields(before: &DirectoryEntry, after: &DirectoryEntry) -> String {
    let mut changed = Vec::new();
    let mut check = |name: &str, differs: bool| {
        if differs {
            changed.push(name.to_owned());
        }
    };
    check("civility", before.civility != after.civility);
    check("city", before.city != after.city);
    check("postcode", before.postcode != after.postcode);
    check("specialty", before.specialty != after.specialty);
    check("practitioner id", before.practitioner_id != after.practitioner_id);
    check("mailbox type", before.mailbox_type != after.mailbox_type);
    check("organisation id", before.organisation_id != after.organisation_id);
    check("phone", before.phone != after.phone);
    check("category", before.category != after.category);
    check("description", before.description != after.description);
    check("responsible persons", before.responsible_persons != after.responsible_persons);
    check("red list", before.red_list != after.red_list);
    check("phone publication", before.publish_phone != after.publish_phone);
    check("dematerialisation", before.dematerialisation != after.dematerialisation);
    if changed.is_empty() {
        "no change".into()
    } else {
        changed.join(", ")
    }
}

/// Writes text to a file readable by its owner only (exports hold personal data).
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}
