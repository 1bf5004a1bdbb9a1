//! `caducee backup`, `drill`, `restore`: backups, restore drills, restoring.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use caducee_actors::clock::{Clock as _, SystemClock};
use caducee_admin_protocol::{BackupDone, BackupRequest, DrillFailed, DrillOutcome};
use caducee_storage::{AuditAction, Millis, Store};
use clap::{Args, Subcommand};

use super::print::{count_or_null, print_json, utc_time};
use super::transport::{call, lock_data_dir};
use crate::backup::{self, drill};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct BackupArgs {
    #[command(subcommand)]
    command: Option<BackupCommand>,
    /// The backup file to write; without it, a scheduled backup goes to the configured
    /// `[backup] folder` and older ones are rotated out.
    #[arg(long)]
    to: Option<PathBuf>,
    /// The backup key file (default: the data folder's keys/backup.key, created on first use).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Copy LMDB's free pages too (faster on a large store, bigger, carries stale pages).
    #[arg(long)]
    no_compact: bool,
    /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum BackupCommand {
    /// Write the backup key to a file to keep offline: a restore on a new machine needs it.
    Key {
        /// Where to write the key (mode 0600): then move it offline.
        #[arg(long)]
        export: PathBuf,
        /// Print JSON instead of text: `{"key_id": …, "file": …}`.
        #[arg(long)]
        json: bool,
    },
    /// Decrypt a backup and check it (manifest, digests, store invariants) without installing it.
    Verify {
        /// The backup file (`caducee-<time>.cbk`).
        file: PathBuf,
        /// The backup key file (default: the data folder's keys/backup.key).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub(super) struct DrillArgs {
    /// The backup to drill (default: the newest in the configured backup folder).
    #[arg(long)]
    from: Option<PathBuf>,
    /// The backup key file (default: the data folder's keys/backup.key).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(super) struct RestoreArgs {
    /// The backup file.
    #[arg(long)]
    from: PathBuf,
    /// The backup key file (as exported by `caducee backup key --export`).
    #[arg(long)]
    key_file: PathBuf,
    /// Replace an existing store; what it replaces is moved aside, not deleted.
    #[arg(long)]
    force: bool,
    /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
    #[arg(long)]
    json: bool,
}

pub(super) fn backup(data_dir: &Path, args: BackupArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        None => {
            let absolute = |path: PathBuf| std::path::absolute(&path).unwrap_or(path);
            let request = BackupRequest {
                to: args.to.map(absolute),
                key_file: args.key_file.map(absolute),
                compact: args.no_compact.then_some(false),
            };
            let done = call(data_dir, request)?;
            if args.json {
                print_json(&done)?;
            } else {
                print_backup(&done);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(BackupCommand::Key { export, json }) => {
            // The data folder is created if need be: a key can be made before the first backup.
            std::fs::create_dir_all(data_dir.join("keys"))?;
            let key = backup::BackupKey::load_or_create(data_dir)?;
            key.write_to(&export)?;
            if json {
                print_json(&serde_json::json!({"key_id": key.id_hex(), "file": export}))?;
            } else {
                println!("backup key {} written to {}", key.id_hex(), export.display());
            }
            println!("keep it offline and away from the backups: without it no backup can be restored");
            Ok(ExitCode::SUCCESS)
        }
        Some(BackupCommand::Verify { file, key_file, json }) => {
            let key = match key_file {
                Some(path) => backup::BackupKey::load(&path)?,
                None => backup::BackupKey::load(&backup::BackupKey::path_in(data_dir))
                    .context("no --key-file given and no backup key in the data folder")?,
            };
            let checked = backup::verify(&file, &key)?;
            print_checked(&checked, json, "verified")?;
            Ok(if checked.ok { ExitCode::SUCCESS } else { super::exit::problems_found() })
        }
    }
}

fn print_backup(done: &BackupDone) {
    println!(
        "backup written: {} ({} bytes, {:.2} s, {} messages, {} mailboxes)",
        done.file.display(),
        done.file_bytes,
        done.seconds,
        done.manifest.messages_at_start,
        done.manifest.mailboxes_at_start
    );
    for old in &done.rotated_out {
        println!("rotated out: {}", old.display());
    }
    if let Some(key) = &done.key_created {
        println!(
            "a new backup key was made at {}: export it now (caducee backup key --export FILE) and keep it \
             offline, apart from the backups — no backup can be restored without it",
            key.display()
        );
    }
}

pub(super) fn drill(data_dir: &Path, args: DrillArgs) -> anyhow::Result<ExitCode> {
    let progress = |step: usize| {
        eprintln!("[{step}/{}] {}…", drill::STEPS.len(), drill::STEPS[step - 1]);
    };
    let report = drill::run(data_dir, args.from, args.key_file, SystemClock.now(), &progress)?;
    if !report.ok {
        // Scheduled drills run unattended: the failure waits in the console's alerts.
        let error = report.error.clone().unwrap_or_else(|| "the drill message did not come back".into());
        if let Err(error) = call(data_dir, DrillFailed { error }) {
            eprintln!("could not file the alert: {error:#}");
        }
    }
    let ok = report.ok;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_drill(&DrillOutcome::Report(report));
    }
    Ok(if ok { ExitCode::SUCCESS } else { super::exit::problems_found() })
}

/// A drill's outcome in a few lines (`caducee drill`, and `caducee status`).
pub(super) fn print_drill(outcome: &DrillOutcome) {
    let report = outcome.report();
    let seconds = |s: Option<f64>| s.map_or("—".to_owned(), |s| format!("{s:.2} s"));
    let verdict = if outcome.ok() { "passed" } else { "FAILED" };
    let backup = report.map_or_else(String::new, |r| r.backup.display().to_string());
    println!("restore drill {verdict}: {backup}");
    println!(
        "  restored {} messages in {} mailboxes in {}; relay ready at {}; first message accepted at {}",
        count_or_null(report.and_then(|r| r.messages_restored)),
        count_or_null(report.and_then(|r| r.mailboxes_restored)),
        seconds(report.and_then(|r| r.restore_seconds)),
        seconds(report.and_then(|r| r.ready_seconds)),
        seconds(report.and_then(|r| r.first_accept_seconds))
    );
    if let Some(held) = report.and_then(|r| r.notices_held).filter(|held| *held > 0) {
        println!("  {held} notices waiting in the backup were not sent by the drill (the live relay sends them)");
    }
    if let Some(error) = outcome.error() {
        println!("  error: {error}");
    }
}

pub(super) fn restore(data_dir: &Path, args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let key = backup::BackupKey::load(&args.key_file)?;
    let _lock = lock_data_dir(data_dir)?;
    let now = SystemClock.now();
    let checked = backup::restore(&args.from, &key, data_dir, args.force, now)?;
    record_restore(data_dir, &args.from, &checked, now)?;
    print_checked(&checked, args.json, "restored")?;
    Ok(ExitCode::SUCCESS)
}

fn print_checked(checked: &backup::Checked, json: bool, verb: &str) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(checked)?);
        return Ok(());
    }
    let manifest = &checked.manifest;
    println!(
        "{verb}: backup of {} (caducee {}), {} messages ({} bytes) in {} mailboxes, in {:.2} s",
        backup::stamp(manifest.created_at),
        manifest.caducee_version,
        checked.messages,
        checked.message_bytes,
        checked.mailboxes,
        checked.seconds
    );
    if checked.notices_waiting > 0 {
        println!(
            "{} notices were waiting for the smarthost: a relay started from this backup sends them",
            checked.notices_waiting
        );
    }
    for problem in &checked.problems {
        println!("problem: {problem}");
    }
    if checked.ok {
        println!("store sound: every invariant holds");
    }
    Ok(())
}

/// Writes the restore into the restored store's own audit trail: who restored what, from
/// which backup, and when that backup was taken.
fn record_restore(data_dir: &Path, from: &Path, checked: &backup::Checked, now: Millis) -> anyhow::Result<()> {
    let config = crate::config::Config::load(data_dir)?;
    let store = Store::open(data_dir, &config.store_options()).context("opening the restored store")?;
    let caller = crate::admin::Caller::offline();
    let detail = format!(
        "restored from {} (backup taken {}): {} messages, {} mailboxes",
        from.display(),
        utc_time(checked.manifest.created_at.0),
        checked.messages,
        checked.mailboxes
    );
    let draft = caller.draft(now, AuditAction::Update, "whole store".into(), detail);
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let recorded = runtime.block_on(store.audit(draft));
    store.close();
    recorded.context("recording the restore in the audit trail")
}
