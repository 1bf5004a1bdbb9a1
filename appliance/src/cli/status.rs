//! `caducee status`, `fsck`, `monitor run`, `trail`: the relay's state.

use std::path::Path;
use std::process::ExitCode;

use caducee_admin_protocol::{Fsck, MonitorRun, QualityReport, Status, StatusReport, Trail, TrailView};
use caducee_storage::{AccountState, Millis, DAY_MILLIS};
use clap::Subcommand;

use super::backup::print_drill;
use super::print::{day_start, json_number, print_json, wire_name, Shown};
use super::transport::call;

#[derive(Debug, Subcommand)]
pub(super) enum MonitorCommand {
    /// Run every rule (inactivity, quotas) now, or as of the end of a given day (UTC).
    Run {
        /// YYYY-MM-DD: simulate that date (for checks and tests).
        #[arg(long)]
        as_of: Option<String>,
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn status(data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let status = call(data_dir, Status::default())?;
    if json {
        print_json(&status)?;
    } else {
        print_status(&status);
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn fsck(data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let problems = call(data_dir, Fsck {})?;
    if json {
        println!("{}", serde_json::json!({ "ok": problems.is_empty(), "problems": problems }));
    } else if problems.is_empty() {
        println!("store sound: every invariant holds");
    } else {
        for problem in &problems {
            println!("problem: {problem}");
        }
    }
    Ok(if problems.is_empty() { ExitCode::SUCCESS } else { super::exit::problems_found() })
}

pub(super) fn monitor(data_dir: &Path, command: MonitorCommand) -> anyhow::Result<ExitCode> {
    let MonitorCommand::Run { as_of, json } = command;
    // The end of that day, UTC: "as of" the date means after all of it.
    let as_of = match as_of {
        Some(day) => Some(Millis(day_start(&day, "--as-of")?.0 + DAY_MILLIS - 1)),
        None => None,
    };
    let report = call(data_dir, MonitorRun { as_of })?;
    if json {
        print_json(&report)?;
    } else {
        println!(
            "monitor: {} accounts checked; {} inactivity notices, {} mailboxes disabled, {} quota changes",
            report.accounts, report.inactivity_notices, report.disabled, report.quota_changes
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn trail(data_dir: &Path, message_id: u64, json: bool) -> anyhow::Result<ExitCode> {
    let trail = call(data_dir, Trail { message: message_id })?;
    if json {
        print_json(&trail)?;
        return Ok(ExitCode::SUCCESS);
    }
    let when = |at: Option<Millis>| at.map_or("—".to_owned(), crate::backup::stamp);
    let TrailView { trail, federation } = trail;
    let federation = federation.unwrap_or_default();
    println!("message {message_id} from {}", trail.sender);
    if let Some(operator) = &federation.received_from {
        println!("  received from operator {}", Shown(operator));
    }
    println!("  accepted {}, {} bytes", when(Some(trail.accepted_at)), trail.size);
    for copy in &trail.recipients {
        let relayed = federation.relayed.iter().find(|r| r.address == copy.address);
        match relayed {
            Some(r) => println!(
                "  to {:<40} {} {} by operator {}: {}",
                copy.address.as_str(),
                if r.outcome.delivered { "relayed" } else { "failed" },
                when(Some(r.outcome.at)),
                Shown(r.outcome.operator.as_deref().unwrap_or("—")),
                Shown(&r.outcome.reply)
            ),
            None => println!("  to {:<40} collected {}", copy.address.as_str(), when(copy.collected_at)),
        }
    }
    println!("  erased {}", when(trail.erased_at));
    Ok(ExitCode::SUCCESS)
}

fn print_status(status: &StatusReport) {
    println!("relay running:    {}", status.running);
    println!("stored messages:  {}", status.stored_messages);
    println!("stored bytes:     {}", status.stored_bytes);
    println!("mailboxes:        {}", status.mailbox_count);
    println!("store file bytes: {}", status.store_file_bytes);
    if let Some(commits) = &status.commits {
        println!("commits:          {} for {} writes", commits.commits, commits.writes);
    }
    match &status.last_drill {
        Some(drill) => print_drill(drill),
        None => println!("restore drill:    never run (caducee drill)"),
    }
    if let Some(quality) = &status.quality {
        print_quality(quality);
    }
    println!("notices waiting:  {}", status.notices_waiting.len());
    for mailbox in &status.mailboxes {
        println!(
            "  {:<40} {} / {} bytes  {} messages  {}",
            mailbox.address,
            mailbox.used_bytes,
            mailbox.quota_bytes,
            mailbox.messages,
            describe_state(&mailbox.state)
        );
    }
}

fn print_quality(quality: &QualityReport) {
    for window in &quality.processing_ms {
        println!(
            "processing ({} min): {} messages, end of data → stored p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            window.minutes, window.count, window.p50, window.p99, window.max
        );
    }
    let load = quality.load_average.map(json_number);
    println!(
        "system:           load {} {} {}, store {} bytes, {} bytes free",
        load[0], load[1], load[2], quality.store_file_bytes, quality.store_free_bytes
    );
}

/// An account's state in words: reception, notices, warnings, block, closing, hold.
pub(super) fn describe_state(state: &AccountState) -> String {
    let mut words = Vec::new();
    match &state.disabled {
        Some((reason, _)) => words.push(format!("reception disabled ({})", wire_name(reason))),
        None => words.push("receiving".to_owned()),
    }
    if state.inactivity_noticed_at.is_some() {
        words.push("inactivity notice sent".to_owned());
    }
    if state.quota_warned_percent > 0 {
        words.push(format!("quota warning {} %", state.quota_warned_percent));
    }
    if let Some(blocked) = &state.blocked {
        words.push(format!("BLOCKED for mass mailing: {}", blocked.reason));
    }
    if state.closed_at.is_some() {
        words.push("CLOSED".to_owned());
    }
    if state.legal_hold {
        words.push("under legal hold".to_owned());
    }
    words.join(", ")
}
