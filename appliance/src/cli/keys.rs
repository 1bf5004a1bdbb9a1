//! `caducee keys …`: an account's OpenPGP keys.

use std::path::Path;
use std::process::ExitCode;

use caducee_admin_protocol::{EditionIssued, Keys, KeysAction, KeysReport};
use caducee_storage::RevocationReason;
use clap::Subcommand;

use super::print::{print_json, utc_time, validity, wire_name};
use super::transport::call;
use super::AddressArg;

#[derive(Debug, Subcommand)]
pub(super) enum KeysCommand {
    /// Every edition of the user's certificate, with its state.
    Show(AddressArg),
    /// Issue next year's keys now (this year's stay valid until they expire): a new bundle
    /// and installation code.
    Renew(AddressArg),
    /// Revoke the current keys at once and publish the revocation, then issue a new
    /// edition (new bundle and installation code).
    Revoke {
        /// The user's secure address (name@domain).
        #[arg(long)]
        address: String,
        /// `compromised` (stolen or exposed) or `lost`.
        #[arg(long, value_parser = parse_reason)]
        reason: RevocationReason,
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
}

fn parse_reason(text: &str) -> Result<RevocationReason, String> {
    match text {
        "compromised" => Ok(RevocationReason::Compromised),
        "lost" => Ok(RevocationReason::Lost),
        other => Err(format!("unknown reason {other:?}: use compromised or lost")),
    }
}

pub(super) fn run(data_dir: &Path, command: KeysCommand) -> anyhow::Result<ExitCode> {
    let (address, action, json) = match command {
        KeysCommand::Show(a) => (a.address, KeysAction::Show, a.json),
        KeysCommand::Renew(a) => (a.address, KeysAction::Renew, a.json),
        KeysCommand::Revoke { address, reason, json } => (address, KeysAction::Revoke { reason }, json),
    };
    let report = call(data_dir, Keys { address, action })?;
    if json {
        print_json(&report)?;
    } else {
        print_keys(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_keys(report: &KeysReport) {
    println!("{}", report.address);
    for revoked in &report.revoked {
        println!("revoked {revoked}");
    }
    for c in &report.certificates {
        println!(
            "  edition {} {}  {:<13} expires {}",
            c.edition,
            c.fingerprint,
            wire_name(&c.status),
            utc_time(c.expires_at.0),
        );
    }
    for warning in &report.warnings {
        let takes_over = match warning.successor {
            Some(next) => format!("edition {next} takes over (the practice's next fetch installs it)"),
            None => format!("no later edition is issued: caducee keys renew --address {}", report.address),
        };
        println!(
            "warning: edition {} expires {}, in {} day(s); {takes_over}",
            warning.edition,
            utc_time(warning.expires_at.0),
            warning.days_left,
        );
    }
    if let Some(issued) = &report.issued {
        print_edition(issued);
        println!("(the code is shown once: send it apart from the bundle)");
    }
}

/// The lines that tell an administrator about a new edition of keys.
pub(super) fn print_edition(edition: &EditionIssued) {
    println!(
        "keys: edition {} fingerprint {}, {}",
        edition.edition,
        edition.fingerprint,
        validity(edition.expires_at.0)
    );
    println!("installation bundle: {}", edition.bundle.display());
    println!("installation code: {}", edition.installation_code);
}
