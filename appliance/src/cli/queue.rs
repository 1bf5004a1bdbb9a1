//! `caducee queue`: the outbound queue to peer operators — list it, show an entry, retry,
//! hold, release or delete entries.

use std::path::Path;
use std::process::ExitCode;

use caducee_admin_protocol::{QueueAct, QueueAction, QueueEntryView, QueueListing, QueueShow};
use clap::{Args, Subcommand};

use super::print::{print_json, utc_time, Shown};
use super::transport::call;

#[derive(Debug, Subcommand)]
pub(super) enum QueueCommand {
    /// The messages waiting for peer operators, oldest first.
    List {
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
    /// One entry: its recipients, their state, the last error.
    Show {
        /// The entry's number (`caducee queue list`).
        id: u64,
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
    /// Try now rather than at the next scheduled attempt.
    Retry(Target),
    /// No attempt until released.
    Hold(Target),
    /// Attempts resume, the next one now.
    Release(Target),
    /// Out of the queue: the waiting recipients are given up and their senders told.
    Delete {
        /// The entry's number (`caducee queue list`).
        id: u64,
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
}

/// One entry, or every one.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(super) struct Target {
    /// The entry's number (`caducee queue list`).
    id: Option<u64>,
    /// Every entry of the queue.
    #[arg(long)]
    all: bool,
    /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
    #[arg(long)]
    json: bool,
}

pub(super) fn queue(data_dir: &Path, command: QueueCommand) -> anyhow::Result<ExitCode> {
    let (target, action, json) = match command {
        QueueCommand::List { json } => return list(data_dir, json),
        QueueCommand::Show { id, json } => {
            let entry = call(data_dir, QueueShow { id })?;
            if json {
                print_json(&entry)?;
            } else {
                print_entry(&entry);
            }
            return Ok(ExitCode::SUCCESS);
        }
        QueueCommand::Retry(target) => (target.id, QueueAction::Retry, target.json),
        QueueCommand::Hold(target) => (target.id, QueueAction::Hold, target.json),
        QueueCommand::Release(target) => (target.id, QueueAction::Release, target.json),
        QueueCommand::Delete { id, json } => (Some(id), QueueAction::Delete, json),
    };
    let acted = call(data_dir, QueueAct { id: target, action })?;
    if json {
        print_json(&acted)?;
        return Ok(ExitCode::SUCCESS);
    }
    let word = match action {
        QueueAction::Retry => "to be tried now",
        QueueAction::Hold => "held",
        QueueAction::Release => "released",
        QueueAction::Delete => "deleted; their senders are told",
    };
    println!("{} entr{} {word}", acted.entries, if acted.entries == 1 { "y" } else { "ies" });
    Ok(ExitCode::SUCCESS)
}

fn list(data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let queue = call(data_dir, QueueListing {})?;
    if json {
        print_json(&queue)?;
        return Ok(ExitCode::SUCCESS);
    }
    if queue.entries.is_empty() {
        println!("the outbound queue is empty");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>6}  {:<20}  {:<28}  {:>4}  {:>8}  next attempt / state",
        "entry", "queued", "domain", "rcpt", "attempts"
    );
    for entry in &queue.entries {
        let waiting = entry.recipients.iter().filter(|r| r.state == "waiting").count();
        let next = if entry.held { "held".to_owned() } else { utc_time(entry.next_attempt_at.0) };
        println!(
            "{:>6}  {:<20}  {:<28}  {:>4}  {:>8}  {next}",
            entry.id,
            utc_time(entry.queued_at.0),
            Shown(&entry.domain).to_string(),
            waiting,
            entry.attempts,
        );
        if let Some(error) = &entry.last_error {
            println!("        last error: {}", Shown(error));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_entry(entry: &QueueEntryView) {
    println!("entry:        {}", entry.id);
    println!("message:      {} ({} bytes)", entry.message, entry.size);
    println!("sender:       {}", Shown(&entry.sender));
    println!("domain:       {}", Shown(&entry.domain));
    println!("queued:       {}", utc_time(entry.queued_at.0));
    println!("attempts:     {}", entry.attempts);
    let next = if entry.held { "held (caducee queue release)".to_owned() } else { utc_time(entry.next_attempt_at.0) };
    println!("next attempt: {next}");
    if let Some(error) = &entry.last_error {
        println!("last error:   {}", Shown(error));
    }
    for recipient in &entry.recipients {
        let reply = recipient.reply.as_deref().map(|r| format!(": {}", Shown(r))).unwrap_or_default();
        println!("recipient:    {} {}{reply}", Shown(&recipient.address), recipient.state);
    }
}
