//! Backups and restore drills: `backup`, `backup-list`, `drill-start`, `drill-failed`
//! (`drill-status` reads the relay's [`crate::backup::drill::DrillWatch`] directly).

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use caducee_admin_protocol::{Alerted, BackupDone, BackupFile, BackupListing, BackupRequest, DrillOutcome, DrillState};
use caducee_storage::AlertKind;

use crate::admin::Admin;
use crate::backup::BackupKey;

impl Admin {
    /// Writes a backup on a blocking thread (the copy streams the whole store); a failure
    /// raises an alert, since scheduled backups run unattended.
    pub(crate) async fn backup_alerting(&self, request: BackupRequest) -> anyhow::Result<BackupDone> {
        // A request that cannot be carried out as asked is answered, not alerted on: the
        // alert is for backups that fail.
        let config = crate::config::Config::load(&self.data_dir)?;
        if request.to.is_none() && config.backup.folder.is_none() {
            bail!("give --to FILE, or set [backup] folder in caducee.toml for scheduled backups");
        }
        if let Some(to) = request.to.as_ref().filter(|to| to.exists()) {
            bail!("{} exists already: a backup never overwrites a file", to.display());
        }
        let admin = self.clone();
        let done = match tokio::task::spawn_blocking(move || admin.backup(request)).await {
            Ok(done) => done,
            Err(error) => Err(anyhow::anyhow!("the backup task failed: {error}")),
        };
        if let Err(error) = &done {
            let text = format!("backup failed: {error:#}");
            let alert = caducee_storage::Alert::new(AlertKind::BackupFailed, "backup", &text, self.clock.now());
            if let Err(error) = self.store.raise_alert(alert).await {
                tracing::error!(%error, "raising an alert failed");
            }
        }
        done
    }

    /// Runs on a blocking thread: the copy streams the whole store.
    fn backup(&self, request: BackupRequest) -> anyhow::Result<BackupDone> {
        let config = crate::config::Config::load(&self.data_dir)?;
        let key_path = BackupKey::path_in(&self.data_dir);
        let key_created = (request.key_file.is_none() && !key_path.exists()).then_some(key_path);
        let key = match &request.key_file {
            Some(path) => BackupKey::load(path)?,
            None => BackupKey::load_or_create(&self.data_dir)?,
        };
        if let Some(path) = &key_created {
            tracing::warn!(key = %path.display(), "a backup key was made: export it (caducee backup key --export FILE) and keep it offline");
        }
        let now = self.clock.now();
        let (file, folder) = match (&request.to, &config.backup.folder) {
            (Some(to), _) => (to.clone(), None),
            (None, Some(folder)) => {
                std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
                (folder.join(crate::backup::scheduled_name(now)), Some(folder.clone()))
            }
            (None, None) => bail!("give --to FILE, or set [backup] folder in caducee.toml for scheduled backups"),
        };
        if file.exists() {
            bail!("{} exists already: a backup never overwrites a file", file.display());
        }
        let started = std::time::Instant::now();
        let compact = request.compact.unwrap_or(config.backup.compact);
        let manifest = crate::backup::create(&self.store, &self.data_dir, &file, &key, compact, now)?;
        let seconds = started.elapsed().as_secs_f64();
        let rotated_out = match folder {
            Some(folder) => rotate(&folder, &file, config.backup.keep_daily, config.backup.keep_weekly)?,
            None => Vec::new(),
        };
        let file_bytes = std::fs::metadata(&file)?.len();
        tracing::info!(file = %file.display(), file_bytes, seconds, "backup written");
        Ok(BackupDone { file, file_bytes, seconds, manifest, rotated_out, key_created })
    }

    pub(crate) fn backup_list(&self) -> anyhow::Result<BackupListing> {
        let config = crate::config::Config::load(&self.data_dir)?;
        let backups = match &config.backup.folder {
            Some(folder) => crate::backup::list(folder)?
                .into_iter()
                .map(|(file, at, bytes)| BackupFile { at, bytes, file })
                .collect(),
            None => Vec::new(),
        };
        Ok(BackupListing {
            backups,
            folder: config.backup.folder,
            keep_daily: config.backup.keep_daily,
            keep_weekly: config.backup.keep_weekly,
            last_drill: self.last_drill(),
        })
    }

    /// The last restore drill's outcome, as `drill-last.json` keeps it.
    pub(crate) fn last_drill(&self) -> Option<DrillOutcome> {
        let report = crate::backup::drill::last_report(&self.data_dir)?;
        serde_json::from_value(report).ok()
    }

    pub(crate) fn drill_start(&self, from: Option<PathBuf>) -> anyhow::Result<DrillState> {
        if self.mailboxes.is_none() {
            bail!("no relay runs here to hold the drill: run `caducee drill`");
        }
        self.drill.start(self.data_dir.clone(), from, self.clock.now(), self.store.clone())
    }

    pub(crate) async fn drill_failed(&self, error: String) -> anyhow::Result<Alerted> {
        let text = format!("restore drill failed: {error}");
        let alert = caducee_storage::Alert::new(AlertKind::DrillFailed, "drill", &text, self.clock.now());
        self.store.raise_alert(alert).await?;
        Ok(Alerted { alerted: true })
    }
}

/// Removes the scheduled backups in `folder` that rotation lets go (never `kept`, the one
/// just written); the files removed.
fn rotate(
    folder: &std::path::Path,
    kept: &std::path::Path,
    daily: usize,
    weekly: usize,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut rotated_out = Vec::new();
    for old in crate::backup::rotation(folder, daily, weekly)? {
        if old != kept {
            std::fs::remove_file(&old).with_context(|| format!("removing {}", old.display()))?;
            rotated_out.push(old);
        }
    }
    Ok(rotated_out)
}
