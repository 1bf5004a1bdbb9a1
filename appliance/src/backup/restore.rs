//! Restoring a backup into a data folder: extracted and checked in a staging folder first,
//! what it replaces moved aside, never deleted.

use std::fs;
use std::path::Path;

use anyhow::bail;
use caducee_storage::Millis;

use super::read::{extract_and_check, Checked};
use super::rotation::stamp;
use super::{BackupKey, EARLIER_FOLDER_FILES, FOLDER_FILES, RELAY_KEY_FILES, STORE_FILE};

/// Restores a backup into `data_dir`, whose lock the caller holds.
///
/// The archive is extracted and checked in a staging folder inside `data_dir` first; only a
/// backup that passes every check replaces anything. What it replaces (with `force`) is
/// moved aside into `data_dir/replaced-<time>/`, never deleted.
pub fn restore(archive: &Path, key: &BackupKey, data_dir: &Path, force: bool, now: Millis) -> anyhow::Result<Checked> {
    let live = data_dir.join(STORE_FILE);
    if live.exists() && !force {
        bail!(
            "{} already holds a store; restoring would replace it. Stop the relay and pass --force to move it \
             aside and restore",
            data_dir.display()
        );
    }
    let staging = data_dir.join(format!(".restore-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let checked = extract_and_check(archive, key, &staging);
    let checked = match checked {
        Ok(checked) if checked.ok => checked,
        Ok(checked) => {
            let _ = fs::remove_dir_all(&staging);
            bail!("the backup's store fails its checks: {}", checked.problems.join("; "));
        }
        Err(error) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(error);
        }
    };
    let aside = data_dir.join(format!("replaced-{}", stamp(now)));
    let mut names: Vec<&str> = vec![STORE_FILE];
    names.extend(FOLDER_FILES);
    // A file only earlier backups carry replaces the live one only when this backup has it.
    names.extend(EARLIER_FOLDER_FILES.into_iter().filter(|name| staging.join(name).exists()));
    names.extend(RELAY_KEY_FILES.into_iter().filter(|name| staging.join(name).exists()));
    for name in names {
        let from = staging.join(name);
        let to = data_dir.join(name);
        if to.exists() {
            let kept = aside.join(name);
            fs::create_dir_all(kept.parent().unwrap_or(&aside))?;
            fs::rename(&to, &kept)?;
        }
        if from.exists() {
            fs::create_dir_all(to.parent().unwrap_or(data_dir))?;
            fs::rename(&from, &to)?;
        }
    }
    // LMDB's lock file belongs to the store it came with.
    let _ = fs::remove_file(data_dir.join("store").join("lock.mdb"));
    fs::remove_dir_all(&staging)?;
    // The renames are durable only once every folder they touched is synced.
    for dir in ["store", "keys", "tls", ""].map(|d| data_dir.join(d)) {
        if dir.exists() {
            fs::File::open(&dir)?.sync_all()?;
        }
    }
    if aside.exists() {
        for dir in ["store", "keys", "tls", ""].map(|d| aside.join(d)) {
            if dir.exists() {
                fs::File::open(&dir)?.sync_all()?;
            }
        }
    }
    Ok(checked)
}
