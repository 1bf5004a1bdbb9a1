//! `caducee audit …`: the audit trail of accesses to personal data.

use std::path::Path;
use std::process::ExitCode;

use caducee_admin_protocol::{AuditExport, AuditVerify};
use caducee_storage::{Millis, DAY_MILLIS};
use clap::Subcommand;

use super::print::{day_start, print_json};
use super::transport::call;

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// Walk the hash chain; exit 0 only if no entry was edited, inserted or deleted.
    Verify {
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
    /// Print the entries of a period as JSON lines (for an authority).
    Export {
        /// First day, YYYY-MM-DD (UTC), included.
        #[arg(long)]
        from: String,
        /// Last day, YYYY-MM-DD (UTC), included.
        #[arg(long)]
        to: String,
    },
}

pub(super) fn run(data_dir: &Path, command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify { json } => {
            let verified = call(data_dir, AuditVerify {})?;
            if json {
                print_json(&verified)?;
            } else if verified.ok {
                println!("audit trail intact: {} entries verified", verified.entries_checked);
            } else {
                for problem in &verified.problems {
                    println!("problem: {problem}");
                }
            }
            Ok(if verified.ok { ExitCode::SUCCESS } else { super::exit::problems_found() })
        }
        AuditCommand::Export { from, to } => {
            let from = day_start(&from, "--from")?;
            let to = Millis(day_start(&to, "--to")?.0 + DAY_MILLIS);
            for entry in call(data_dir, AuditExport { from, to })? {
                // One JSON object per line, keys in order, as an authority's tools read it.
                println!("{}", serde_json::to_value(&entry)?);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
