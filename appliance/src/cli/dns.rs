//! `caducee dns` and `caducee dns check`: the zone to publish, and whether the DNS says it.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::exit;
use super::print::print_json;
use crate::config::Config;
use crate::dns::{self, HostAddresses};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct DnsArgs {
    #[command(subcommand)]
    command: Option<DnsCommand>,
    #[command(flatten)]
    addresses: AddressArgs,
    /// Print JSON instead of the zone file's lines.
    #[arg(long)]
    json: bool,
}

/// The host's public addresses.
#[derive(Debug, Args, Default)]
struct AddressArgs {
    /// A public IPv4 address of the relay's host (for its A record); repeat for several.
    #[arg(long = "ipv4")]
    ipv4: Vec<std::net::Ipv4Addr>,
    /// A public IPv6 address of the relay's host (for its AAAA record); repeat for several.
    #[arg(long = "ipv6")]
    ipv6: Vec<std::net::Ipv6Addr>,
}

impl AddressArgs {
    fn host(&self) -> HostAddresses {
        let v4 = self.ipv4.iter().copied().map(IpAddr::V4);
        HostAddresses(v4.chain(self.ipv6.iter().copied().map(IpAddr::V6)).collect())
    }
}

#[derive(Debug, Subcommand)]
enum DnsCommand {
    /// Ask a resolver for every record and say which are missing or different. Exit 0: all
    /// there; 1: some missing or different (listed); 2: no resolver answered.
    Check {
        /// The DNS server to ask, as IP or IP:PORT (default: the system's resolvers).
        #[arg(long)]
        resolver: Option<String>,
        #[command(flatten)]
        addresses: AddressArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn run(data_dir: &Path, args: DnsArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(data_dir)?;
    match args.command {
        None => {
            let zone = dns::zone(&config, &args.addresses.host());
            if args.json {
                print_json(&zone)?;
            } else {
                print!("{}", zone.text());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(DnsCommand::Check { resolver, addresses, json }) => {
            let server = resolver.as_deref().map(parse_server).transpose()?;
            let zone = dns::zone(&config, &addresses.host());
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let checked = runtime.block_on(async {
                let resolver = dns::resolver(server)?;
                dns::check(&zone, &resolver).await
            })?;
            if json {
                print_json(&checked)?;
            } else {
                for c in &checked {
                    let found =
                        if c.found.is_empty() { String::new() } else { format!(" (found: {})", c.found.join(", ")) };
                    let r = &c.record;
                    println!("{:<9} {} {:?} {}{found}", c.verdict, r.name, r.kind, r.data);
                }
            }
            let fine = checked.iter().all(|c| c.verdict == "ok");
            Ok(if fine { ExitCode::SUCCESS } else { exit::problems_found() })
        }
    }
}

/// `IP` or `IP:PORT` (IPv6 as `[::1]:53`).
fn parse_server(text: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    let ip: IpAddr = text
        .trim_matches(['[', ']'])
        .parse()
        .map_err(|_| anyhow::anyhow!("--resolver {text:?}: give an address, as 192.0.2.53 or 127.0.0.1:5353"))?;
    Ok(SocketAddr::new(ip, 53))
}
