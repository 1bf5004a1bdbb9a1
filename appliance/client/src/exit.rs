//! The exit codes of `caducee` commands, the same for every one (docs/operations/running.md,
//! "Exit codes"), as grep and diff use them:
//!
//! - 0: done; for a check (`fsck`, `config check`, `audit verify`, `backup verify`,
//!   `pair status`, `client lint-hprim`), everything it checked holds;
//! - 1: the check ran and found problems (it lists them);
//! - 2: the command could not run: a wrong argument (clap's usage error), no relay
//!   answering when one is needed, a file that cannot be read, a refused request.

use std::process::ExitCode;

/// A check ran and found problems.
pub const PROBLEMS_FOUND: u8 = 1;
/// The command could not do what it was asked.
pub const COULD_NOT_RUN: u8 = 2;

pub fn problems_found() -> ExitCode {
    ExitCode::from(PROBLEMS_FOUND)
}

pub fn could_not_run() -> ExitCode {
    ExitCode::from(COULD_NOT_RUN)
}
