//! The command line: the clap definitions of `caducee …` and, per area, the handler that
//! sends the admin request and prints its typed reply (text, or the reply as JSON with
//! `--json`). Requests go through [`transport::AdminLink`]: the running relay's admin
//! socket, or the store directly when the relay is stopped.

mod audit;
mod backup;
mod directory;
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

use crate::{client, config, serve, setup};

pub(crate) use transport::lock_data_dir;

#[derive(Debug, Parser)]
#[command(name = "caducee", version, about = "Caducée secure health-messaging relay")]
pub struct Cli {
    /// The data folder: store, keys, TLS material, configuration (caducee.toml).
    #[arg(long, global = true, default_value = config::DEFAULT_DATA_DIR, env = "CADUCEE_DATA_DIR")]
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
    /// Run the relay in the foreground (SMTP submission, POP3) until SIGTERM or SIGINT.
    Serve,
    /// Name a new relay: write its configuration and TLS material into the data folder.
    Setup {
        /// The mail domain the relay serves (addresses are user@DOMAIN).
        #[arg(long)]
        domain: String,
        /// The relay's host name, in greetings, certificates and bundles (default: the domain).
        #[arg(long)]
        hostname: Option<String>,
        /// Listen on the standard ports of every address (587, 465, 110, 995, 443, 389, 636)
        /// rather than the development ports on 127.0.0.1.
        #[arg(long)]
        appliance: bool,
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
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// A user's OpenPGP keys: show, renew (next year's), revoke (loss or theft).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// A message's trail: accepted, size, recipients, collected (or relayed to which
    /// operator) when, erased when.
    Trail {
        /// The number before the dot in "stored as N.xxxx".
        #[arg(long)]
        message_id: u64,
        #[arg(long)]
        json: bool,
    },
    /// The audit trail of accesses to personal data.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Send a maintenance announcement or a terms-of-use update to every user's contact
    /// e-mail (never health data: it is your text).
    Announce {
        #[arg(long)]
        subject: String,
        /// A text file with the announcement.
        #[arg(long)]
        file: PathBuf,
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
    #[arg(long)]
    address: String,
    #[arg(long)]
    json: bool,
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
        Command::Announce { subject, file } => notices::announce(&data_dir, subject, &file),
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
