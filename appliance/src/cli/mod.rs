//! The command line: the clap definitions of `caducee …` and, per area, the handler that
//! sends the admin request and prints its typed reply (text, or the reply as JSON with
//! `--json`). Requests go through [`transport::AdminLink`]: the running relay's admin
//! socket, or the store directly when the relay is stopped.

mod audit;
mod backup;
mod config;
mod directory;
mod dns;
mod examples;
pub use caducee_client::exit;
mod generate;
mod keys;
mod notices;
mod print;
mod queue;
mod status;
pub mod transport;
mod trust;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::{client, serve, setup};

pub(crate) use transport::lock_data_dir;

#[derive(Debug, Parser)]
#[command(name = "caducee", version, about = "Caducée secure health-messaging relay")]
pub struct Cli {
    /// The data folder: store, keys, TLS material, configuration (caducee.toml).
    #[arg(long, global = true, default_value = crate::config::DEFAULT_DATA_DIR, env = "CADUCEE_DATA_DIR")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Whether the command prints a report and ends, like any command-line tool: then a
    /// reader that stops reading (`caducee status | head -3`) ends it quietly, as SIGPIPE
    /// ends `ls`. The relay and the console keep SIGPIPE ignored: a peer that goes away is
    /// an error they handle, not their end.
    pub fn is_a_report(&self) -> bool {
        !matches!(self.command, Command::Serve | Command::Console)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the relay in the foreground (SMTP submission, POP3, IMAP) until SIGTERM or SIGINT.
    Serve,
    /// Name a new relay: write its configuration and TLS material into the data folder.
    Setup {
        /// The mail domain the relay serves (addresses are user@DOMAIN).
        #[arg(long)]
        domain: String,
        /// The relay's host name, in greetings, certificates and bundles (default: the domain).
        #[arg(long)]
        hostname: Option<String>,
        /// Listen on the standard ports of every address (587, 465, 110, 995, 143, 993, 443,
        /// 389, 636) rather than the development ports on 127.0.0.1.
        #[arg(long)]
        appliance: bool,
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
    /// Manage user accounts.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Show stored messages, mailboxes and their usage.
    Status(JsonFlag),
    /// Check every invariant of the store; exits 0 only when all hold.
    Fsck(JsonFlag),
    /// The monitor: inactivity, quotas, mass mailing.
    #[command(subcommand)]
    Monitor(status::MonitorCommand),
    /// Terms of use: publish a new version (users accept it at their next login).
    #[command(subcommand)]
    Terms(notices::TermsCommand),
    /// The trust list of the health-messaging operators: which operator may send and
    /// receive for which domain.
    #[command(subcommand)]
    Trust(trust::TrustCommand),
    /// The outbound queue to peer operators: list, show, retry, hold, release, delete.
    #[command(subcommand)]
    Queue(queue::QueueCommand),
    /// Data-protection requests filed by users from their personal space.
    Requests(notices::RequestsArgs),
    /// Alerts for the administrator (blocks, full mailboxes, disabled reception, failed
    /// backups and drills); acknowledge one with --ack N.
    Alerts(notices::AlertsArgs),
    /// The directory of users: entries, preferences, import and export.
    #[command(subcommand)]
    Directory(directory::DirectoryCommand),
    /// The practice client: install a bundle, send and fetch documents, check HPRIM.
    Client(client::ClientArgs),
    /// A user's OpenPGP keys: show, renew (next year's), revoke (loss or theft).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// A message's trail: accepted, size, recipients, collected (or relayed to which
    /// operator) when, erased when.
    Trail {
        /// The number before the dot in "stored as N.xxxx".
        #[arg(long)]
        message_id: u64,
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
    /// The audit trail of accesses to personal data.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Send a maintenance announcement or a terms-of-use update to every user's contact
    /// e-mail (never health data: it is your text).
    Announce {
        /// The e-mail's subject.
        #[arg(long)]
        subject: String,
        /// A text file with the announcement.
        #[arg(long)]
        file: PathBuf,
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
    /// Write an encrypted backup of the store while the relay serves (or when it is
    /// stopped); manage and check backups.
    Backup(backup::BackupArgs),
    /// The administrator's console (a terminal interface) on the running relay.
    Console,
    /// Restore the latest backup into a scratch folder, start a relay from it on spare local
    /// ports, submit and collect a message, and report the time it took.
    Drill(backup::DrillArgs),
    /// Restore a backup into a data folder (the relay on it must be stopped).
    Restore(backup::RestoreArgs),
    /// The key issuer: makes users' keys in a process of its own, so that the relay never
    /// holds them (`[keys] issuer` names its socket; the appliance runs it as
    /// caducee-issuer.service).
    Issuer(crate::issuer::IssuerArgs),
    /// The DNS records to publish for this relay (a zone file's lines), and `check`:
    /// whether a resolver answers them.
    Dns(dns::DnsArgs),
    /// The configuration: show it as the relay reads it, or check it before a restart.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Write the manual pages and the shell completions (for packagers: the image installs
    /// them).
    #[command(subcommand)]
    Generate(generate::GenerateCommand),
    /// The appliance pair (two members, replicated disk, automatic failover): this
    /// member's role, the replication, the cluster's quorum and where the service runs.
    #[command(subcommand)]
    Pair(crate::pair::PairCommand),
}

/// `--json` alone.
#[derive(Debug, Args)]
struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// `--address` and `--json`.
#[derive(Debug, Args)]
struct AddressArg {
    /// The user's secure address (name@domain).
    #[arg(long)]
    address: String,
    /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
    #[arg(long)]
    json: bool,
}

/// The command line's definition, each command with its examples.
pub fn command() -> clap::Command {
    use clap::CommandFactory as _;
    examples::attach(Cli::command())
}

/// Parses the command line (exits with clap's message and code 2 on a usage error).
pub fn parse() -> Cli {
    use clap::FromArgMatches as _;
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
}

/// Runs one command; the exit code says whether what it checked holds.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let data_dir = cli.data_dir;
    match cli.command {
        Command::Serve => serve::serve(&data_dir).map(|()| ExitCode::SUCCESS),
        Command::Setup { domain, hostname, appliance, json } => {
            let report = setup::run(&data_dir, &setup::SetupRequest { domain, hostname, appliance })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                setup::print(&report);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::User(command) => user::run(&data_dir, command),
        Command::Status(flag) => status::status(&data_dir, flag.json),
        Command::Fsck(flag) => status::fsck(&data_dir, flag.json),
        Command::Monitor(command) => status::monitor(&data_dir, command),
        Command::Trail { message_id, json } => status::trail(&data_dir, message_id, json),
        Command::Terms(command) => notices::terms(&data_dir, command),
        Command::Trust(command) => trust::trust(&data_dir, command),
        Command::Queue(command) => queue::queue(&data_dir, command),
        Command::Requests(args) => notices::requests(&data_dir, args),
        Command::Alerts(args) => notices::alerts(&data_dir, args),
        Command::Announce { subject, file, json } => notices::announce(&data_dir, subject, &file, json),
        Command::Directory(command) => directory::run(&data_dir, command),
        Command::Client(command) => client::run(command),
        Command::Keys(command) => keys::run(&data_dir, command),
        Command::Audit(command) => audit::run(&data_dir, command),
        Command::Backup(args) => backup::backup(&data_dir, args),
        Command::Console => console(&data_dir),
        Command::Drill(args) => backup::drill(&data_dir, args),
        Command::Restore(args) => backup::restore(&data_dir, args),
        Command::Issuer(args) => crate::issuer::run(&data_dir, &args),
        Command::Pair(command) => crate::pair::run(&command),
        Command::Config(command) => config::run(&data_dir, command),
        Command::Dns(args) => dns::run(&data_dir, args),
        Command::Generate(command) => generate::run(command),
    }
}

/// The console, on the running relay's admin socket only: it never opens the store.
fn console(data_dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    use caducee_admin_protocol::{exchange_on_socket, socket_path, Request, SocketTransport, Status};
    let socket = socket_path(data_dir);
    if exchange_on_socket(&socket, &Request::Status(Status::default()))?.is_none() {
        anyhow::bail!("no relay answers on {}: start it (caducee serve) first", socket.display());
    }
    caducee_console::run(SocketTransport { path: socket })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command that reports takes `--json`; the others say why not.
    #[test]
    fn every_command_that_reports_takes_json() {
        // Not reports: a server, a terminal interface, files written, JSON already.
        let without = [
            "serve",
            "console",
            "issuer",
            "pair publish",
            "generate man",
            "generate completions",
            "generate config-reference",
            "audit export",
            "directory export",
        ];
        fn walk(command: &clap::Command, path: &str, without: &[&str], missing: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name()).trim().to_owned();
            let here = path.strip_prefix("caducee").unwrap_or(&path).trim();
            let leaf = command.get_subcommands().next().is_none() || command.is_args_conflicts_with_subcommands_set();
            if leaf && !without.contains(&here) && !command.get_arguments().any(|a| a.get_id() == "json") {
                missing.push(here.to_owned());
            }
            for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
                walk(sub, &path, without, missing);
            }
        }
        let mut missing = Vec::new();
        let mut command = command();
        command.build();
        walk(&command, "", &without, &mut missing);
        assert!(missing.is_empty(), "no --json: {missing:?}");
    }

    /// Every argument says what it is for, and every command that runs shows an example.
    #[test]
    fn every_argument_has_help_and_every_command_an_example() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name()).trim().to_owned();
            for arg in command.get_arguments() {
                let builtin = ["help", "version"].contains(&arg.get_id().as_str());
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{}: no help", arg.get_id()));
                }
            }
            let runs = command.get_subcommands().next().is_none() || command.is_args_conflicts_with_subcommands_set();
            let example = command.get_after_help().map(ToString::to_string).unwrap_or_default();
            if runs && !command.is_hide_set() && !example.contains("caducee ") {
                missing.push(format!("{path}: no example"));
            }
            for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&command(), "", &mut missing);
        assert!(missing.is_empty(), "{} missing:\n{}", missing.len(), missing.join("\n"));
    }
}
