//! `caducee`: the appliance's one binary. It serves the relay (`caducee serve`) and
//! administers it (`caducee user …`, `status`, `fsck`) — through the running relay's admin
//! socket when it runs, directly on the store when it does not.
//!
//! Everything it runs lives in the `caducee_appliance` library (`src/lib.rs`); this file
//! only sets up logging and the allocator and hands the command line over.

use std::process::ExitCode;

use caducee_appliance::cli;

/// mimalloc rather than glibc's allocator: with glibc, every argon2id check (19 MiB, on a
/// blocking-pool thread) left its memory in that thread's arena, and the relay's resident
/// memory grew by hundreds of MiB under a burst of logins (measured: docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    caducee_appliance::logging::init();
    let command = cli::parse();
    if command.is_a_report() {
        // Rust ignores SIGPIPE, and `println!` then panics on a closed pipe (exit 101).
        sigpipe::reset();
    }
    match cli::run(command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("caducee: {error:#}");
            cli::exit::could_not_run()
        }
    }
}
