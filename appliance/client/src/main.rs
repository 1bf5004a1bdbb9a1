//! `caducee-client`: the practice client on its own, for the practice's machine (Linux,
//! Windows or macOS). The same commands as `caducee client` on the appliance.

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _, Parser};

/// Caducée's practice client: install the keys of an installation bundle, send
/// OpenPGP-encrypted HPRIM documents and fetch the ones waiting, over TLS.
#[derive(Debug, Parser)]
#[command(name = "caducee-client", version)]
struct Cli {
    #[command(flatten)]
    args: caducee_client::ClientArgs,
}

fn main() -> ExitCode {
    // clap ends a usage error with exit code 2 ("could not run"), help with 0.
    let matches = caducee_client::examples::attach(Cli::command(), "caducee-client").get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    match caducee_client::run(cli.args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("caducee-client: {error:#}");
            caducee_client::exit::could_not_run()
        }
    }
}
