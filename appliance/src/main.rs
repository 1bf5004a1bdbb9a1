//! `caducee`: the appliance's one binary. It serves the relay (`caducee serve`) and
//! administers it (`caducee user …`, `status`, `fsck`) — through the running relay's admin
//! socket when it runs, directly on the store when it does not.
//!
//! This crate wires things together; it holds no protocol logic and never touches LMDB
//! except through `caducee-storage`.

mod admin;
mod backup;
mod client;
mod config;
mod directory;
mod ldap;
mod portal;
mod serve;
mod setup;
mod tls;
mod web;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use caducee_actors::clock::{Clock as _, SystemClock};
use caducee_storage::{Millis, Store};
use clap::{Args, Parser, Subcommand};

use crate::admin::{Admin, Request, Response, UserAdd};

/// mimalloc rather than glibc's allocator: with glibc, every argon2id check (19 MiB, on a
/// blocking-pool thread) left its memory in that thread's arena, and the relay's resident
/// memory grew by hundreds of MiB under a burst of logins (measured: docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "caducee", version, about = "Caducée secure health-messaging relay")]
struct Cli {
    /// The data folder: store, keys, TLS material, configuration (caducee.toml).
    #[arg(long, global = true, default_value = config::DEFAULT_DATA_DIR, env = "CADUCEE_DATA_DIR")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
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
    User(UserCommand),
    /// Show stored messages, mailboxes and their usage.
    Status(JsonFlag),
    /// Check every invariant of the store; exits 0 only when all hold.
    Fsck(JsonFlag),
    /// The monitor: inactivity, quotas, mass mailing.
    #[command(subcommand)]
    Monitor(MonitorCommand),
    /// Terms of use: publish a new version (users accept it at their next login).
    #[command(subcommand)]
    Terms(TermsCommand),
    /// Data-protection requests filed by users from their personal space.
    Requests(RequestsArgs),
    /// Alerts for the administrator (blocks, full mailboxes, disabled reception, failed
    /// backups and drills); acknowledge one with --ack N.
    Alerts(AlertsArgs),
    /// The directory of users: entries, preferences, import and export.
    #[command(subcommand)]
    Directory(DirectoryCommand),
    /// The practice client: install a bundle, send and fetch documents, check HPRIM.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// A user's OpenPGP keys: show, renew (next year's), revoke (loss or theft).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// A message's trail: accepted, size, recipients, collected when, erased when.
    Trail {
        /// The number before the dot in "stored as N.xxxx".
        #[arg(long)]
        message_id: u64,
        #[arg(long)]
        json: bool,
    },
    /// The audit trail of accesses to personal data.
    #[command(subcommand)]
    Audit(AuditCommand),
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
    Backup(BackupArgs),
    /// The administrator's console (a terminal interface) on the running relay.
    Console,
    /// Restore the latest backup into a scratch folder, start a relay from it on spare local
    /// ports, submit and collect a message, and report the time it took.
    Drill {
        /// The backup to drill (default: the newest in the configured backup folder).
        #[arg(long)]
        from: Option<PathBuf>,
        /// The backup key file (default: the data folder's keys/backup.key).
        #[arg(long)]
        key_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup into a data folder (the relay on it must be stopped).
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// The backup key file (as exported by `caducee backup key --export`).
        #[arg(long)]
        key_file: PathBuf,
        /// Replace an existing store; what it replaces is moved aside, not deleted.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
struct BackupArgs {
    #[command(subcommand)]
    command: Option<BackupCommand>,
    /// The backup file to write; without it, a scheduled backup goes to the configured
    /// `[backup] folder` and older ones are rotated out.
    #[arg(long)]
    to: Option<PathBuf>,
    /// The backup key file (default: the data folder's keys/backup.key, created on first use).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Copy LMDB's free pages too (faster on a large store, bigger, carries stale pages).
    #[arg(long)]
    no_compact: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum BackupCommand {
    /// Write the backup key to a file to keep offline: a restore on a new machine needs it.
    Key {
        #[arg(long)]
        export: PathBuf,
    },
    /// Decrypt a backup and check it (manifest, digests, store invariants) without installing it.
    Verify {
        file: PathBuf,
        #[arg(long)]
        key_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account and its mailbox; prints the generated password once.
    Add {
        #[arg(long)]
        address: String,
        #[arg(long)]
        first_name: String,
        #[arg(long)]
        last_name: String,
        /// Where notices to the user go (never health data).
        #[arg(long)]
        contact_email: String,
        /// Mailbox quota in MB (default 50).
        #[arg(long)]
        quota_mb: Option<u64>,
        #[command(flatten)]
        directory: Box<DirectoryArgs>,
        #[arg(long)]
        json: bool,
    },
    /// List accounts with their mailbox usage.
    List(JsonFlag),
    /// Lift a mass-mailing block.
    Unblock(AddressArg),
    /// Turn reception back on (after inactivity or a suspension).
    Enable(AddressArg),
    /// Suspend reception: senders are refused 550 5.2.1 until `enable`.
    Suspend(AddressArg),
    /// Close the account: no login, no reception; removed after the retention period.
    Close(AddressArg),
    /// Reopen a closed account.
    Reopen(AddressArg),
    /// Put a closed account under legal hold: retention keeps it.
    Hold(AddressArg),
    /// Lift a legal hold.
    Release(AddressArg),
    /// Change the mailbox quota.
    Quota {
        #[arg(long)]
        address: String,
        #[arg(long)]
        mb: u64,
        #[arg(long)]
        json: bool,
    },
    /// Give the account a new random password (printed once; the old one stops working).
    ResetPassword(AddressArg),
    /// Change an account's names or contact e-mail.
    Edit {
        #[arg(long)]
        address: String,
        #[arg(long)]
        first_name: Option<String>,
        #[arg(long)]
        last_name: Option<String>,
        #[arg(long)]
        contact_email: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct AddressArg {
    #[arg(long)]
    address: String,
    #[arg(long)]
    json: bool,
}

/// The directory entry's fields (SPEC R-DIR-1); each left out stays as it is.
#[derive(Debug, Args, Default)]
struct DirectoryArgs {
    /// How the user is addressed: Dr, Pr, M., Mme…
    #[arg(long)]
    civility: Option<String>,
    #[arg(long)]
    city: Option<String>,
    #[arg(long)]
    postcode: Option<String>,
    #[arg(long)]
    specialty: Option<String>,
    /// RPPS number (11 digits, checked).
    #[arg(long, conflicts_with = "adeli")]
    rpps: Option<String>,
    /// ADELI number (9 digits).
    #[arg(long)]
    adeli: Option<String>,
    /// personal, organisational or applicative.
    #[arg(long)]
    mailbox_type: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    /// FINESS of the structure behind a non-personal mailbox.
    #[arg(long, conflicts_with_all = ["siren", "siret"])]
    finess: Option<String>,
    #[arg(long, conflicts_with = "siret")]
    siren: Option<String>,
    #[arg(long)]
    siret: Option<String>,
    /// Category in the national directory (Médecin, Laboratoire…).
    #[arg(long)]
    category: Option<String>,
    /// What a non-personal mailbox is for.
    #[arg(long)]
    description: Option<String>,
    /// Who answers for a non-personal mailbox; repeat for several.
    #[arg(long = "responsible")]
    responsible: Vec<String>,
    /// Hide the entry from the public directory (web, files, anonymous LDAP).
    #[arg(long, value_parser = parse_on_off)]
    red_list: Option<bool>,
    /// Show the phone number in the directory.
    #[arg(long, value_parser = parse_on_off)]
    publish_phone: Option<bool>,
    /// Accepts documents by secure messaging instead of paper.
    #[arg(long, value_parser = parse_on_off)]
    dematerialisation: Option<bool>,
}

impl DirectoryArgs {
    fn into_fields(self: Box<Self>) -> directory::DirectoryFields {
        directory::DirectoryFields {
            civility: self.civility,
            city: self.city,
            postcode: self.postcode,
            specialty: self.specialty,
            rpps: self.rpps,
            adeli: self.adeli,
            mailbox_type: self.mailbox_type,
            phone: self.phone,
            finess: self.finess,
            siren: self.siren,
            siret: self.siret,
            category: self.category,
            description: self.description,
            responsible_persons: (!self.responsible.is_empty()).then_some(self.responsible),
            red_list: self.red_list,
            publish_phone: self.publish_phone,
            dematerialisation: self.dematerialisation,
        }
    }
}

fn parse_on_off(text: &str) -> Result<bool, String> {
    match text {
        "on" | "yes" | "true" => Ok(true),
        "off" | "no" | "false" => Ok(false),
        other => Err(format!("{other:?}: use on or off")),
    }
}

#[derive(Debug, Subcommand)]
enum DirectoryCommand {
    /// Change a user's directory entry or preferences.
    Set {
        #[arg(long)]
        address: String,
        #[command(flatten)]
        fields: Box<DirectoryArgs>,
        #[arg(long)]
        json: bool,
    },
    /// Load entries from a CSV file: existing accounts are updated, new ones created with
    /// their keys. Every line is checked first; one bad line and nothing is written.
    Import {
        #[arg(long)]
        csv: PathBuf,
        /// Where new accounts' passwords and installation codes go (mode 0600).
        #[arg(long)]
        credentials_out: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The directory as CSV, LDIF or the national export.
    Export {
        #[arg(long, value_enum)]
        format: directory::ExportFormat,
        /// A file (mode 0600) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct RequestsArgs {
    /// Mark request N as dealt with.
    #[arg(long)]
    close: Option<u64>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct AlertsArgs {
    /// Acknowledge alert N.
    #[arg(long)]
    ack: Option<u64>,
    /// Only the alerts not yet acknowledged.
    #[arg(long)]
    open: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum TermsCommand {
    /// Publish the text of FILE as the new version.
    Publish {
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Every edition of the user's certificate, with its state.
    Show(AddressArg),
    /// Issue next year's keys now (this year's stay valid until they expire): a new bundle
    /// and installation code.
    Renew(AddressArg),
    /// Revoke the current keys at once and publish the revocation, then issue a new
    /// edition (new bundle and installation code).
    Revoke {
        #[arg(long)]
        address: String,
        /// `compromised` (stolen or exposed) or `lost`.
        #[arg(long, value_parser = parse_reason)]
        reason: caducee_storage::RevocationReason,
        #[arg(long)]
        json: bool,
    },
}

fn parse_reason(text: &str) -> Result<caducee_storage::RevocationReason, String> {
    match text {
        "compromised" => Ok(caducee_storage::RevocationReason::Compromised),
        "lost" => Ok(caducee_storage::RevocationReason::Lost),
        other => Err(format!("unknown reason {other:?}: use compromised or lost")),
    }
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; exit 0 only if no entry was edited, inserted or deleted.
    Verify {
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

#[derive(Debug, Subcommand)]
enum MonitorCommand {
    /// Run every rule (inactivity, quotas) now, or as of the end of a given day (UTC).
    Run {
        /// YYYY-MM-DD: simulate that date (for checks and tests).
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// The lines that tell an administrator about a new edition of keys.
fn print_edition(edition: &serde_json::Value) {
    println!(
        "keys: edition {} fingerprint {}, {}",
        edition["edition"],
        edition["fingerprint"].as_str().unwrap_or_default(),
        edition["expires_at"].as_u64().map(validity).unwrap_or_default()
    );
    println!("installation bundle: {}", edition["bundle"].as_str().unwrap_or_default());
    println!("installation code: {}", edition["installation_code"].as_str().unwrap_or_default());
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CADUCEE_LOG")
                .unwrap_or_else(|_| "info,actix_server=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("caducee: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let data_dir = cli.data_dir;
    match cli.command {
        Command::Serve => {
            serve::serve(&data_dir)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::User(UserCommand::Add {
            address,
            first_name,
            last_name,
            contact_email,
            quota_mb,
            directory,
            json,
        }) => {
            let directory = directory.into_fields();
            let request =
                Request::UserAdd(UserAdd { address, first_name, last_name, contact_email, quota_mb, directory });
            let result = call(&data_dir, request)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                println!("created {}", result["address"].as_str().unwrap_or_default());
                println!("password: {}", result["password"].as_str().unwrap_or_default());
                print_edition(&result);
                println!("(password and code are shown once: give them to the user through separate channels)");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Client(command) => client::run(command),
        Command::Terms(TermsCommand::Publish { file }) => {
            let text = fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let result = call(&data_dir, Request::TermsPublish { text })?;
            println!("terms of use version {} published; users accept them at their next login", result["version"]);
            Ok(ExitCode::SUCCESS)
        }
        Command::Requests(RequestsArgs { close: Some(seq), .. }) => {
            call(&data_dir, Request::RightsRequestClose { seq })?;
            println!("request {seq} closed");
            Ok(ExitCode::SUCCESS)
        }
        Command::Alerts(AlertsArgs { ack: Some(seq), .. }) => {
            let result = call(&data_dir, Request::AlertAcknowledge { seq })?;
            println!("alert {seq} acknowledged by {}", result["by"].as_str().unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        Command::Alerts(args) => {
            let result = call(&data_dir, Request::Alerts)?;
            let alerts: Vec<&serde_json::Value> = result
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| !args.open || a["acknowledged_at"].is_null())
                .collect();
            if args.json {
                println!("{}", serde_json::to_string_pretty(&alerts)?);
            } else {
                for a in alerts {
                    let state = match a["acknowledged_by"].as_str() {
                        Some(by) => format!("acknowledged by {by}"),
                        None => "open".to_owned(),
                    };
                    let repeats = a["repeats"].as_u64().unwrap_or_default();
                    println!(
                        "{:>4}  {}  {:<20} {}{}  [{state}]",
                        a["seq"],
                        utc_time(a["raised_at"].as_u64().unwrap_or_default()),
                        a["kind"].as_str().unwrap_or_default(),
                        a["text"].as_str().unwrap_or_default(),
                        if repeats > 0 { format!(" (again ×{repeats})") } else { String::new() },
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Requests(flag) => {
            let result = call(&data_dir, Request::RightsRequests)?;
            if flag.json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                for r in result.as_array().into_iter().flatten() {
                    println!(
                        "{:>4}  {:<6} {:<14} {:<32} {}",
                        r["seq"],
                        if r["closed_at"].is_null() { "open" } else { "closed" },
                        r["kind"].as_str().unwrap_or_default(),
                        r["address"].as_str().unwrap_or_default(),
                        r["text"].as_str().unwrap_or_default().replace('\n', " ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Directory(DirectoryCommand::Set { address, fields, json }) => {
            let result = call(&data_dir, Request::DirectorySet { address, fields: fields.into_fields() })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                println!("directory entry of {} saved", result["address"].as_str().unwrap_or_default());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Directory(DirectoryCommand::Import { csv, credentials_out, json }) => {
            let text = fs::read_to_string(&csv).with_context(|| format!("reading {}", csv.display()))?;
            // The relay may run as another user from another folder: absolute paths only.
            let credentials_out = credentials_out.map(|p| std::path::absolute(&p)).transpose()?;
            let result = call(&data_dir, Request::DirectoryImport { csv: text, credentials_out })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                println!("{} entries updated, {} accounts created", result["updated"], result["created"]);
                if let Some(path) = result["credentials"].as_str() {
                    println!("new accounts' passwords and installation codes: {path} (hand over, then delete)");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Directory(DirectoryCommand::Export { format, out }) => {
            let result = call(&data_dir, Request::DirectoryExport { format })?;
            let text = result["text"].as_str().unwrap_or_default();
            match out {
                Some(path) => {
                    directory::admin::write_private(&path, text)?;
                    eprintln!("{} entries written to {}", result["entries"], path.display());
                }
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(command) => {
            let (address, action, json) = match command {
                KeysCommand::Show(a) => (a.address, admin::keys::KeysAction::Show, a.json),
                KeysCommand::Renew(a) => (a.address, admin::keys::KeysAction::Renew, a.json),
                KeysCommand::Revoke { address, reason, json } => (address, admin::keys::KeysAction::Revoke { reason }, json),
            };
            let result = call(&data_dir, Request::Keys { address, action })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!("{}", result["address"].as_str().unwrap_or_default());
            for revoked in result["revoked"].as_array().into_iter().flatten() {
                println!("revoked {}", revoked.as_str().unwrap_or_default());
            }
            for c in result["certificates"].as_array().into_iter().flatten() {
                println!(
                    "  edition {:<3} {}  {:<13} expires {}",
                    c["edition"],
                    c["fingerprint"].as_str().unwrap_or_default(),
                    c["status"].as_str().unwrap_or_default(),
                    c["expires_at"].as_u64().map(utc_time).unwrap_or_default(),
                );
            }
            for warning in result["warnings"].as_array().into_iter().flatten() {
                let takes_over = match warning["successor"].as_u64() {
                    Some(next) => format!("edition {next} takes over (the practice's next fetch installs it)"),
                    None => format!(
                        "no later edition is issued: caducee keys renew --address {}",
                        result["address"].as_str().unwrap_or_default()
                    ),
                };
                println!(
                    "warning: edition {} expires {}, in {} day(s); {takes_over}",
                    warning["edition"],
                    warning["expires_at"].as_u64().map(utc_time).unwrap_or_default(),
                    warning["days_left"],
                );
            }
            if !result["issued"].is_null() {
                print_edition(&result["issued"]);
                println!("(the code is shown once: send it apart from the bundle)");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::User(UserCommand::List(flag)) => {
            let result = call(&data_dir, Request::UserList)?;
            if flag.json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                for user in result.as_array().into_iter().flatten() {
                    println!(
                        "{:<40} {:>10} / {:>10} bytes  {:>5} messages",
                        user["address"].as_str().unwrap_or_default(),
                        user["used_bytes"],
                        user["quota_bytes"],
                        user["messages"]
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::User(UserCommand::Unblock(arg)) => user_state(&data_dir, arg, admin::StateAction::Unblock),
        Command::User(UserCommand::Enable(arg)) => user_state(&data_dir, arg, admin::StateAction::Enable),
        Command::User(UserCommand::Suspend(arg)) => user_state(&data_dir, arg, admin::StateAction::Suspend),
        Command::User(UserCommand::Close(arg)) => user_state(&data_dir, arg, admin::StateAction::Close),
        Command::User(UserCommand::Reopen(arg)) => user_state(&data_dir, arg, admin::StateAction::Reopen),
        Command::User(UserCommand::Hold(arg)) => user_state(&data_dir, arg, admin::StateAction::Hold),
        Command::User(UserCommand::Release(arg)) => user_state(&data_dir, arg, admin::StateAction::Release),
        Command::User(UserCommand::Quota { address, mb, json }) => {
            let result = call(&data_dir, Request::UserQuota { address, quota_mb: mb })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                println!("{}: quota {} MB", result["address"].as_str().unwrap_or_default(), mb);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::User(UserCommand::Edit { address, first_name, last_name, contact_email, json }) => {
            let result = call(&data_dir, Request::UserEdit { address, first_name, last_name, contact_email })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                println!(
                    "{}: {} {}, contact {}",
                    result["address"].as_str().unwrap_or_default(),
                    result["first_name"].as_str().unwrap_or_default(),
                    result["last_name"].as_str().unwrap_or_default(),
                    result["contact_email"].as_str().unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::User(UserCommand::ResetPassword(arg)) => {
            let result = call(&data_dir, Request::UserResetPassword { address: arg.address })?;
            if arg.json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                println!(
                    "new password for {}: {}",
                    result["address"].as_str().unwrap_or_default(),
                    result["password"].as_str().unwrap_or_default()
                );
                println!("(shown once: give it to the user through a separate channel)");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Trail { message_id, json } => {
            let trail = call(&data_dir, Request::Trail { message: message_id })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&trail)?);
            } else {
                let when = |v: &serde_json::Value| {
                    v.as_u64().map_or("—".to_owned(), |ms| backup::stamp(caducee_storage::Millis(ms)))
                };
                println!("message {message_id} from {}", trail["sender"].as_str().unwrap_or_default());
                println!("  accepted {}, {} bytes", when(&trail["accepted_at"]), trail["size"]);
                for copy in trail["recipients"].as_array().into_iter().flatten() {
                    println!(
                        "  to {:<40} collected {}",
                        copy["address"].as_str().unwrap_or_default(),
                        when(&copy["collected_at"])
                    );
                }
                println!("  erased {}", when(&trail["erased_at"]));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Announce { subject, file } => {
            let body = fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let done = call(&data_dir, Request::Announce { subject, body })?;
            println!("announcement queued for {} contact addresses", done["queued"]);
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCommand::Verify { json }) => {
            let verified = call(&data_dir, Request::AuditVerify)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&verified)?);
            } else if verified["ok"] == true {
                println!("audit trail intact: {} entries verified", verified["entries_checked"]);
            } else {
                for problem in verified["problems"].as_array().into_iter().flatten() {
                    println!("problem: {}", problem.as_str().unwrap_or_default());
                }
            }
            Ok(if verified["ok"] == true { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Audit(AuditCommand::Export { from, to }) => {
            let from = day_start(&from, "--from")?;
            let to = caducee_storage::Millis(day_start(&to, "--to")?.0 + 24 * 60 * 60 * 1000);
            let entries = call(&data_dir, Request::AuditExport { from, to })?;
            for entry in entries.as_array().into_iter().flatten() {
                println!("{entry}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Monitor(MonitorCommand::Run { as_of, json }) => {
            // The end of that day, UTC: "as of" the date means after all of it.
            let as_of = match as_of {
                Some(day) => Some(caducee_storage::Millis(day_start(&day, "--as-of")?.0 + 24 * 60 * 60 * 1000 - 1)),
                None => None,
            };
            let report = call(&data_dir, Request::MonitorRun { as_of })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "monitor: {} accounts checked; {} inactivity notices, {} mailboxes disabled, {} quota changes",
                    report["accounts"], report["inactivity_notices"], report["disabled"], report["quota_changes"]
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(flag) => {
            let status = call(&data_dir, Request::Status)?;
            if flag.json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print_status(&status);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup(BackupArgs { command: Some(BackupCommand::Key { export }), .. }) => {
            // The data folder is created if need be: a key can be made before the first backup.
            fs::create_dir_all(data_dir.join("keys"))?;
            let key = backup::BackupKey::load_or_create(&data_dir)?;
            key.write_to(&export)?;
            println!("backup key {} written to {}", key.id_hex(), export.display());
            println!("keep it offline and away from the backups: without it no backup can be restored");
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup(BackupArgs { command: Some(BackupCommand::Verify { file, key_file, json }), .. }) => {
            let key = match key_file {
                Some(path) => backup::BackupKey::load(&path)?,
                None => backup::BackupKey::load(&backup::BackupKey::path_in(&data_dir))
                    .context("no --key-file given and no backup key in the data folder")?,
            };
            let checked = backup::verify(&file, &key)?;
            print_checked(&checked, json, "verified")?;
            Ok(if checked.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Backup(BackupArgs { command: None, to, key_file, no_compact, json }) => {
            let absolute = |path: PathBuf| std::path::absolute(&path).unwrap_or(path);
            let request = admin::BackupRequest {
                to: to.map(absolute),
                key_file: key_file.map(absolute),
                compact: no_compact.then_some(false),
            };
            let done = call(&data_dir, Request::Backup(request))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&done)?);
            } else {
                println!(
                    "backup written: {} ({} bytes, {:.2} s, {} messages, {} mailboxes)",
                    done["file"].as_str().unwrap_or_default(),
                    done["file_bytes"],
                    done["seconds"].as_f64().unwrap_or_default(),
                    done["manifest"]["messages_at_start"],
                    done["manifest"]["mailboxes_at_start"]
                );
                for old in done["rotated_out"].as_array().into_iter().flatten() {
                    println!("rotated out: {}", old.as_str().unwrap_or_default());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Setup { domain, hostname, appliance, json } => {
            let report = setup::run(&data_dir, &setup::SetupRequest { domain, hostname, appliance })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                setup::print(&report);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Console => {
            if admin::call_running(&data_dir, &Request::Status)?.is_none() {
                bail!(
                    "no relay answers on {}: start it (caducee serve) first",
                    admin::socket_path(&data_dir).display()
                );
            }
            let api = |request: serde_json::Value| -> Result<serde_json::Value, String> {
                let request: Request = serde_json::from_value(request).map_err(|e| e.to_string())?;
                match admin::call_running(&data_dir, &request) {
                    Ok(Some(Response { ok: true, result, .. })) => Ok(result),
                    Ok(Some(Response { error, .. })) => Err(error.unwrap_or_else(|| "refused".into())),
                    Ok(None) => Err("the relay does not answer".into()),
                    Err(e) => Err(e.to_string()),
                }
            };
            caducee_console::run(api)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Drill { from, key_file, json } => {
            let progress = |step: usize| {
                eprintln!("[{step}/{}] {}…", backup::drill::STEPS.len(), backup::drill::STEPS[step - 1]);
            };
            let report = backup::drill::run(&data_dir, from, key_file, SystemClock.now(), &progress)?;
            if !report.ok {
                // Scheduled drills run unattended: the failure waits in the console's alerts.
                let error = report.error.clone().unwrap_or_else(|| "the drill message did not come back".into());
                if let Err(error) = call(&data_dir, Request::DrillFailed { error }) {
                    eprintln!("could not file the alert: {error:#}");
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_drill(&serde_json::to_value(&report)?);
            }
            Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Restore { from, key_file, force, json } => {
            let key = backup::BackupKey::load(&key_file)?;
            let _lock = lock_data_dir(&data_dir)?;
            let now = SystemClock.now();
            let checked = backup::restore(&from, &key, &data_dir, force, now)?;
            record_restore(&data_dir, &from, &checked, now)?;
            print_checked(&checked, json, "restored")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Fsck(flag) => {
            let problems = call(&data_dir, Request::Fsck)?;
            let problems: Vec<String> = serde_json::from_value(problems)?;
            if flag.json {
                println!("{}", serde_json::json!({ "ok": problems.is_empty(), "problems": problems }));
            } else if problems.is_empty() {
                println!("store sound: every invariant holds");
            } else {
                for problem in &problems {
                    println!("problem: {problem}");
                }
            }
            Ok(if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

fn print_drill(report: &serde_json::Value) {
    let seconds = |key: &str| report[key].as_f64().map_or("—".to_owned(), |s| format!("{s:.2} s"));
    let verdict = if report["ok"] == true { "passed" } else { "FAILED" };
    println!("restore drill {verdict}: {}", report["backup"].as_str().unwrap_or_default());
    println!(
        "  restored {} messages in {} mailboxes in {}; relay ready at {}; first message accepted at {}",
        report["messages_restored"],
        report["mailboxes_restored"],
        seconds("restore_seconds"),
        seconds("ready_seconds"),
        seconds("first_accept_seconds")
    );
    if let Some(error) = report["error"].as_str() {
        println!("  error: {error}");
    }
}

fn print_checked(checked: &backup::Checked, json: bool, verb: &str) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(checked)?);
        return Ok(());
    }
    let manifest = &checked.manifest;
    println!(
        "{verb}: backup of {} (caducee {}), {} messages ({} bytes) in {} mailboxes, in {:.2} s",
        backup::stamp(manifest.created_at),
        manifest.caducee_version,
        checked.messages,
        checked.message_bytes,
        checked.mailboxes,
        checked.seconds
    );
    for problem in &checked.problems {
        println!("problem: {problem}");
    }
    if checked.ok {
        println!("store sound: every invariant holds");
    }
    Ok(())
}

/// The start (00:00 UTC) of a YYYY-MM-DD day.
fn day_start(day: &str, flag: &str) -> anyhow::Result<caducee_storage::Millis> {
    let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .with_context(|| format!("{flag} {day:?} is not a YYYY-MM-DD date"))?;
    let start = date.and_hms_opt(0, 0, 0).context("start of day")?.and_utc();
    Ok(caducee_storage::Millis(u64::try_from(start.timestamp_millis()).context("a date before 1970")?))
}

fn user_state(data_dir: &Path, arg: AddressArg, action: admin::StateAction) -> anyhow::Result<ExitCode> {
    let user = call(data_dir, Request::UserState { address: arg.address, action })?;
    if arg.json {
        println!("{}", serde_json::to_string_pretty(&user)?);
    } else {
        println!("{}: {}", user["address"].as_str().unwrap_or_default(), describe_state(&user["state"]));
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_state(state: &serde_json::Value) -> String {
    let mut words = Vec::new();
    match state["disabled"].as_array().and_then(|d| d.first()).and_then(|r| r.as_str()) {
        Some(reason) => words.push(format!("reception disabled ({reason})")),
        None => words.push("receiving".to_owned()),
    }
    if state["inactivity_noticed_at"].is_number() {
        words.push("inactivity notice sent".to_owned());
    }
    if let Some(percent) = state["quota_warned_percent"].as_u64().filter(|p| *p > 0) {
        words.push(format!("quota warning {percent} %"));
    }
    if let Some(reason) = state["blocked"]["reason"].as_str() {
        words.push(format!("BLOCKED for mass mailing: {reason}"));
    }
    if state["closed_at"].is_number() {
        words.push("CLOSED".to_owned());
    }
    if state["legal_hold"] == true {
        words.push("under legal hold".to_owned());
    }
    words.join(", ")
}

/// Runs an admin request on the running relay, or on the store directly when it is stopped.
fn call(data_dir: &Path, request: Request) -> anyhow::Result<serde_json::Value> {
    let response = match admin::call_running(data_dir, &request)? {
        Some(response) => response,
        None => offline(data_dir, request)?,
    };
    match response {
        Response { ok: true, result, .. } => Ok(result),
        Response { error, .. } => bail!("{}", error.unwrap_or_else(|| "request failed".into())),
    }
}

fn offline(data_dir: &Path, request: Request) -> anyhow::Result<Response> {
    let _lock = lock_data_dir(data_dir)?;
    let config = config::Config::load(data_dir)?;
    let store = Store::open(data_dir, &config.store_options())?;
    let admin = Admin {
        store: store.clone(),
        data_dir: data_dir.to_path_buf(),
        mailboxes: None,
        monitor: None,
        notifier: None,
        key_vault: None,
        keys: admin::keys::KeysContext {
            endpoints: config.configured_endpoints(),
            bundle_folder: config.bundle_folder(data_dir),
            next_year_within_days: config.keys.next_year_within_days,
        },
        clock: Arc::new(SystemClock),
        drill: crate::backup::drill::DrillWatch::default(),
    };
    // Bundles carry the relay's CA: make sure it exists before the first start.
    crate::tls::server_config(data_dir, config.hostname())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let response = runtime.block_on(admin.execute(request, &admin::Caller::offline()));
    store.close();
    Ok(response)
}

/// Creates the data folder (mode 0700) and takes its lock, so that one process at a time
/// owns the store. Held until the returned file is dropped.
pub(crate) fn lock_data_dir(data_dir: &Path) -> anyhow::Result<fs::File> {
    fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    // Closed to other users. A folder set up by someone else (the appliance's: root-owned,
    // group caducee, sticky, so that the relay cannot move the appliance's own state aside)
    // is left as it is when it already keeps others out.
    let mode = fs::metadata(data_dir)?.permissions().mode();
    if mode & 0o007 != 0 {
        fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("{} is open to other users and cannot be closed", data_dir.display()))?;
    }
    let path = data_dir.join("caducee.lock");
    let file = fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => bail!(
            "{} is in use by another caducee process (a relay starting or stopping, or another command)",
            data_dir.display()
        ),
        Err(fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// Writes the restore into the restored store's own audit trail: who restored what, from
/// which backup, and when that backup was taken.
fn record_restore(data_dir: &Path, from: &Path, checked: &backup::Checked, now: Millis) -> anyhow::Result<()> {
    let config = config::Config::load(data_dir)?;
    let store = Store::open(data_dir, &config.store_options()).context("opening the restored store")?;
    let caller = admin::Caller::offline();
    let draft = caducee_storage::AuditDraft {
        at: now,
        actor: caller.actor,
        source: caller.source,
        action: "update".into(),
        object: "whole store".into(),
        detail: format!(
            "restored from {} (backup taken {}): {} messages, {} mailboxes",
            from.display(),
            utc_time(checked.manifest.created_at.0),
            checked.messages,
            checked.mailboxes
        ),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let recorded = runtime.block_on(store.audit(draft));
    store.close();
    recorded.context("recording the restore in the audit trail")
}

/// How long an edition of keys is valid: `valid to the end of 2027 (expires 2028-01-01
/// 00:00 UTC)` for the usual expiry on 1 January.
fn validity(expires_at: u64) -> String {
    use chrono::{Datelike as _, Timelike as _};
    let expiry = utc_time(expires_at);
    match chrono::DateTime::from_timestamp_millis(expires_at as i64) {
        Some(at) if (at.month(), at.day(), at.num_seconds_from_midnight()) == (1, 1, 0) => {
            format!("valid to the end of {} (expires {expiry})", at.year() - 1)
        }
        _ => format!("valid until {expiry}"),
    }
}

/// A time in milliseconds since the epoch, as `2026-11-26 08:30 UTC`.
fn utc_time(millis: u64) -> String {
    chrono::DateTime::from_timestamp_millis(millis as i64)
        .map_or_else(|| "?".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

fn print_status(status: &serde_json::Value) {
    println!("relay running:    {}", status["running"]);
    println!("stored messages:  {}", status["stored_messages"]);
    println!("stored bytes:     {}", status["stored_bytes"]);
    println!("mailboxes:        {}", status["mailbox_count"]);
    println!("store file bytes: {}", status["store_file_bytes"]);
    if let Some(commits) = status["commits"].as_object() {
        println!("commits:          {} for {} writes", commits["commits"], commits["writes"]);
    }
    if status["last_drill"].is_object() {
        print_drill(&status["last_drill"]);
    } else {
        println!("restore drill:    never run (caducee drill)");
    }
    if let Some(quality) = status["quality"].as_object() {
        for window in quality["processing_ms"].as_array().into_iter().flatten() {
            println!(
                "processing ({:>2} min): {} messages, end of data → stored p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                window["minutes"],
                window["count"],
                window["p50"].as_f64().unwrap_or_default(),
                window["p99"].as_f64().unwrap_or_default(),
                window["max"].as_f64().unwrap_or_default()
            );
        }
        let load = &quality["load_average"];
        println!(
            "system:           load {} {} {}, store {} bytes, {} bytes free",
            load[0], load[1], load[2], quality["store_file_bytes"], quality["store_free_bytes"]
        );
    }
    let waiting = status["notices_waiting"].as_array().map_or(0, Vec::len);
    println!("notices waiting:  {waiting}");
    for mailbox in status["mailboxes"].as_array().into_iter().flatten() {
        println!(
            "  {:<40} {:>10} / {:>10} bytes  {:>5} messages  {}",
            mailbox["address"].as_str().unwrap_or_default(),
            mailbox["used_bytes"],
            mailbox["quota_bytes"],
            mailbox["messages"],
            describe_state(&mailbox["state"])
        );
    }
}
