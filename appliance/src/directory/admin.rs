//! The directory's administrative side: `directory set|import|export`.

use std::collections::HashSet;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use caducee_storage::{AccountId, Address, AuditAction, DirectoryEntry, Millis};

use crate::admin::{Admin, Caller, UserAdd, UserCreated};
use crate::directory::{self, ApplyFields as _, DirectoryFields, ExportFormat, ImportLine, KeyIndexing};

/// The replies of `directory-set`, `directory-import` and `directory-export`.
pub use caducee_admin_protocol::{DirectoryShown, Exported, Imported};

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
        let object = format!("directory entry of {}", account.address);
        let audit = caller.draft(now, AuditAction::Update, object, changed_fields(&before, &after));
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
        let now = self.clock.now();
        let (plans, mut problems) = self.plan_import(csv, now)?;
        let creates = plans.iter().filter(|p| matches!(p, Plan::Create(_))).count();
        problems.extend(credentials_problems(creates, credentials_out));
        if !problems.is_empty() {
            bail!("nothing imported; {} problems:\n{}", problems.len(), problems.join("\n"));
        }
        let mut credentials = match (creates, credentials_out) {
            (0, _) | (_, None) => None,
            (_, Some(path)) => Some(CredentialsFile::create(path)?),
        };
        let (mut updated, mut created) = (0, 0);
        for plan in plans {
            match plan {
                Plan::Update { account, address, entry } => {
                    self.import_update(account, &address, entry, caller, now).await?;
                    updated += 1;
                }
                Plan::Create(add) => {
                    let made = self.user_add(add, caller).await?;
                    if let Some(file) = &mut credentials {
                        file.write(&made)?;
                    }
                    created += 1;
                }
            }
        }
        let credentials = credentials.map(CredentialsFile::finish).transpose()?;
        tracing::info!(updated, created, "directory imported");
        Ok(Imported { updated, created, credentials })
    }

    /// Checks every line of an import file: the plans of the good lines, and every problem
    /// of the others, named by line number.
    fn plan_import(&self, csv: &str, now: Millis) -> anyhow::Result<(Vec<Plan>, Vec<String>)> {
        let mut plans = Vec::new();
        let mut problems = Vec::new();
        let mut seen = HashSet::new();
        for (line, parsed) in directory::read_import(csv.as_bytes())? {
            let checked = parsed.map_err(|e| vec![e]).and_then(|l| self.plan_line(&l, &mut seen, now));
            match checked {
                Ok(plan) => plans.push(plan),
                Err(whys) => problems.extend(whys.into_iter().map(|why| format!("line {line}: {why}"))),
            }
        }
        Ok((plans, problems))
    }

    /// One line's plan, or every problem of the line (not just the first).
    fn plan_line(&self, l: &ImportLine, seen: &mut HashSet<Address>, now: Millis) -> Result<Plan, Vec<String>> {
        let address = Address::parse(&l.address).map_err(|e| vec![format!("address {:?}: {e}", l.address)])?;
        if !seen.insert(address.clone()) {
            return Err(vec![format!("{address} appears twice")]);
        }
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
                    Ok(entry) => Some(Plan::Update { account: account.id, address, entry }),
                    Err(problems) => {
                        line_problems.extend(problems);
                        None
                    }
                }
            }
            None => {
                line_problems.extend(new_account_problems(l, &address, &fields, now));
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
    }

    /// Writes an existing account's new entry, with an audit entry naming the fields changed.
    async fn import_update(
        &self,
        account: AccountId,
        address: &Address,
        entry: DirectoryEntry,
        caller: &Caller,
        now: Millis,
    ) -> anyhow::Result<()> {
        let before = self.store.directory_entry(account)?;
        let detail = format!("import: {}", changed_fields(&before, &entry));
        let audit = caller.draft(now, AuditAction::Update, format!("directory entry of {address}"), detail);
        self.store.put_directory(account, entry, audit).await?;
        Ok(())
    }

    pub(crate) fn directory_export(&self, format: ExportFormat) -> anyhow::Result<Exported> {
        let config = crate::config::Config::load(&self.data_dir)?;
        let base = directory::base_dn(&config.domain);
        let generation = self.store.directory_generation();
        let view = directory::build_view(&self.store, generation, self.clock.now(), &base, KeyIndexing::Skip)?;
        let (entries, bytes) = match format {
            ExportFormat::Csv => (view.public().count(), directory::export_csv(&view)?),
            ExportFormat::Ldif => (view.public().count(), directory::export_ldif(&view)),
            ExportFormat::National => (view.all.len(), directory::export_national(&view)?),
        };
        Ok(Exported { format, entries, text: String::from_utf8(bytes)? })
    }
}

/// One checked line of an import, ready to be written.
enum Plan {
    Update { account: AccountId, address: Address, entry: DirectoryEntry },
    Create(UserAdd),
}

/// What a line for a new account lacks: names, a contact address, valid directory fields.
fn new_account_problems(l: &ImportLine, address: &Address, fields: &DirectoryFields, now: Millis) -> Vec<String> {
    let mut problems = Vec::new();
    if l.first_name.trim().is_empty() || l.last_name.trim().is_empty() {
        problems.push(format!("{address} is a new account: first_name and last_name are needed"));
    }
    if Address::parse(&l.contact_email).is_err() {
        problems.push(format!("{address} is a new account: contact_email {:?} is not an address", l.contact_email));
    }
    if let Err(field_problems) = fields.apply(DirectoryEntry::default(), now) {
        problems.extend(field_problems);
    }
    problems
}

/// What stops the new accounts' credentials from being written: no file named, or one that
/// exists already.
fn credentials_problems(creates: usize, credentials_out: Option<&Path>) -> Vec<String> {
    let mut problems = Vec::new();
    if creates > 0 && credentials_out.is_none() {
        problems.push(format!(
            "{creates} new accounts: give --credentials-out FILE for their passwords and installation codes"
        ));
    }
    if let Some(path) = credentials_out.filter(|p| p.exists()) {
        problems.push(format!("{} exists already: credentials are never written over", path.display()));
    }
    problems
}

/// The new accounts' passwords and installation codes, as CSV in a file readable by its
/// owner only, never written over.
struct CredentialsFile {
    path: PathBuf,
    writer: csv::Writer<std::fs::File>,
}

impl CredentialsFile {
    fn create(path: &Path) -> anyhow::Result<CredentialsFile> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        let mut writer = csv::Writer::from_writer(file);
        writer.write_record(["address", "password", "installation_code", "bundle", "fingerprint"])?;
        Ok(CredentialsFile { path: path.to_path_buf(), writer })
    }

    fn write(&mut self, made: &UserCreated) -> anyhow::Result<()> {
        self.writer.write_record([
            made.address.as_str(),
            &made.password,
            &made.keys.installation_code,
            &made.keys.bundle.display().to_string(),
            &made.keys.fingerprint,
        ])?;
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<PathBuf> {
        self.writer.flush()?;
        Ok(self.path)
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
