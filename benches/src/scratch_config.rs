//! `caducee-scratch-config`: prints the configuration of a scratch relay for the bench
//! scripts (benches/src/scratch.rs), which write it to the data folder's `caducee.toml`,
//! append their own sections, and read the ports from the relay's `ready:` lines.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "caducee-scratch-config",
    about = "Print a scratch relay's configuration, every door on a free loopback port"
)]
struct Args {
    /// The relay's mail domain.
    #[arg(long)]
    domain: String,
    /// A door for peer operators too (`relay`).
    #[arg(long)]
    relay_door: bool,
    /// The sessions a load holds open at once: the per-address limits and the mass-mailing
    /// breaker are set out of its way.
    #[arg(long)]
    load_sessions: Option<usize>,
}

fn main() {
    let args = Args::parse();
    let scratch = caducee_bench::scratch::Scratch {
        domain: &args.domain,
        relay_door: args.relay_door,
        listen_settings: "",
        load_sessions: args.load_sessions,
    };
    print!("{}", scratch.config());
}
