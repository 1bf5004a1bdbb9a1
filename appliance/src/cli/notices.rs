//! `caducee terms`, `requests`, `alerts`, `announce`: what the administrator tells users
//! and answers them, and the alerts raised for the administrator.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use caducee_admin_protocol::{AlertAcknowledge, Alerts, Announce, RightsRequestClose, RightsRequests, TermsPublish};
use clap::{Args, Subcommand};

use super::print::{print_json, utc_time, Shown};
use super::transport::call;

#[derive(Debug, Subcommand)]
pub(super) enum TermsCommand {
    /// Publish the text of FILE as the new version.
    Publish {
        /// The terms' text (plain text, UTF-8).
        #[arg(long)]
        file: PathBuf,
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub(super) struct RequestsArgs {
    /// Mark request N as dealt with.
    #[arg(long)]
    close: Option<u64>,
    /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(super) struct AlertsArgs {
    /// Acknowledge alert N.
    #[arg(long)]
    ack: Option<u64>,
    /// Only the alerts not yet acknowledged.
    #[arg(long)]
    open: bool,
    /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
    #[arg(long)]
    json: bool,
}

pub(super) fn terms(data_dir: &Path, command: TermsCommand) -> anyhow::Result<ExitCode> {
    let TermsCommand::Publish { file, json } = command;
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let published = call(data_dir, TermsPublish { text })?;
    if json {
        print_json(&published)?;
    } else {
        println!("terms of use version {} published; users accept them at their next login", published.version);
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn requests(data_dir: &Path, args: RequestsArgs) -> anyhow::Result<ExitCode> {
    if let Some(seq) = args.close {
        let closed = call(data_dir, RightsRequestClose { seq })?;
        if args.json {
            print_json(&closed)?;
        } else {
            println!("request {seq} closed");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let requests = call(data_dir, RightsRequests {})?;
    if args.json {
        print_json(&requests)?;
    } else {
        for r in &requests {
            println!(
                "{}  {:<6} {:<14} {:<32} {}",
                r.seq,
                if r.closed_at.is_none() { "open" } else { "closed" },
                Shown(&r.kind),
                r.address,
                Shown(&r.text)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn alerts(data_dir: &Path, args: AlertsArgs) -> anyhow::Result<ExitCode> {
    if let Some(seq) = args.ack {
        let acknowledged = call(data_dir, AlertAcknowledge { seq })?;
        if args.json {
            print_json(&acknowledged)?;
        } else {
            println!("alert {seq} acknowledged by {}", Shown(&acknowledged.by));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut alerts = call(data_dir, Alerts {})?;
    alerts.retain(|a| !args.open || a.acknowledged_at.is_none());
    if args.json {
        print_json(&alerts)?;
        return Ok(ExitCode::SUCCESS);
    }
    for a in &alerts {
        let state = match &a.acknowledged_by {
            Some(by) => format!("acknowledged by {}", Shown(by)),
            None => "open".to_owned(),
        };
        println!(
            "{}  {}  {:<20} {}{}  [{state}]",
            a.seq,
            utc_time(a.raised_at.0),
            Shown(&a.kind),
            Shown(&a.text),
            if a.repeats > 0 { format!(" (again ×{})", a.repeats) } else { String::new() },
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn announce(data_dir: &Path, subject: String, file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let body = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let announced = call(data_dir, Announce { subject, body })?;
    if json {
        print_json(&announced)?;
    } else {
        println!("announcement queued for {} contact addresses", announced.queued);
    }
    Ok(ExitCode::SUCCESS)
}
