//! `caducee config show|check`: the configuration as the relay reads it, and whether it
//! holds together before a restart.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use serde::Serialize;

use super::exit;
use super::print::print_json;
use crate::config::{config_path, Config};

#[derive(Debug, Subcommand)]
pub(super) enum ConfigCommand {
    /// Print the configuration the relay runs with: the file's settings and every default
    /// it leaves, as TOML (or JSON).
    Show {
        /// The defaults alone, as a relay without a configuration file runs.
        #[arg(long)]
        defaults: bool,
        /// Print JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
    /// Check the configuration file before a restart: it parses, its values fit together,
    /// the files it names are there, no two services share an address. Exit 0: it holds;
    /// 1: problems (listed); 2: it could not be read.
    Check {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// What `config check --json` prints (shape version 1).
#[derive(Debug, Serialize)]
struct Checked {
    config: PathBuf,
    /// Whether the file exists (without it, every setting is its default).
    exists: bool,
    problems: Vec<String>,
}

pub(super) fn run(data_dir: &Path, command: ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Show { defaults, json } => {
            let config = if defaults { Config::default() } else { Config::load(data_dir)? };
            if json {
                print_json(&config)?;
            } else {
                print!("{}", toml::to_string_pretty(&config).context("writing the configuration as TOML")?);
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Check { json } => {
            let path = config_path(data_dir);
            // An unreadable file is an error: the check did not run.
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => Some(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            };
            let exists = text.is_some();
            let problems = text.map_or_else(Vec::new, |text| problems(data_dir, &text));
            if json {
                print_json(&Checked { config: path, exists, problems: problems.clone() })?;
            } else if !exists {
                println!("{}: absent: every setting is its default (caducee config show --defaults)", path.display());
            } else if problems.is_empty() {
                println!("{}: OK", path.display());
            } else {
                for problem in &problems {
                    println!("{}: {problem}", path.display());
                }
            }
            Ok(if problems.is_empty() { ExitCode::SUCCESS } else { exit::problems_found() })
        }
    }
}

/// Everything wrong with the file's text. Each line printed starts with the file's path, so
/// the problems do not name it again.
fn problems(data_dir: &Path, text: &str) -> Vec<String> {
    // A parse error names its line and column; a rule that does not hold, its setting.
    let config: Config = match toml::from_str(text) {
        Ok(config) => config,
        Err(error) => return vec![error.to_string()],
    };
    if let Err(error) = config.check() {
        return vec![format!("{error:#}")];
    }
    let mut problems = Vec::new();
    if let Err(error) = config.notices_config() {
        problems.push(format!("{error:#}"));
    }
    let federation = &config.federation;
    let named = [
        ("[federation] ca_bundle", &federation.ca_bundle),
        ("[federation] certificate", &federation.certificate),
        ("[federation] key", &federation.key),
    ];
    for (setting, file) in named {
        if let Some(file) = file {
            if let Err(error) = std::fs::File::open(data_dir.join(file)) {
                problems.push(format!("{setting} {}: {error}", file.display()));
            }
        }
    }
    if let Some(ca) = config.tls.acme.as_ref().and_then(|acme| acme.ca.as_ref()) {
        if let Err(error) = std::fs::File::open(data_dir.join(ca)) {
            problems.push(format!("[tls.acme] ca {}: {error}", ca.display()));
        }
    }
    if federation.certificate.is_some() != federation.key.is_some() {
        problems.push("[federation] certificate and key go together: set both or neither".into());
    }
    if let Some(folder) = &config.backup.folder {
        if !data_dir.join(folder).is_dir() {
            problems.push(format!("[backup] folder {}: not a folder (attach or create it)", folder.display()));
        }
    }
    problems.extend(shared_addresses(&config));
    problems
}

/// Two services on one address and port: the second could not listen.
fn shared_addresses(config: &Config) -> Vec<String> {
    let l = &config.listen;
    let services = [
        ("submission", Some(&l.submission)),
        ("submissions", Some(&l.submissions)),
        ("pop3", Some(&l.pop3)),
        ("pop3s", Some(&l.pop3s)),
        ("imap", Some(&l.imap)),
        ("imaps", Some(&l.imaps)),
        ("https", Some(&l.https)),
        ("ldap", Some(&l.ldap)),
        ("ldaps", Some(&l.ldaps)),
        ("metrics", l.metrics.as_ref()),
        ("relay", l.relay.as_ref()),
    ];
    let mut seen: HashMap<SocketAddr, &str> = HashMap::new();
    let mut problems = Vec::new();
    for (service, addresses) in services {
        for address in addresses.into_iter().flat_map(|a| a.iter()) {
            if address.port() == 0 {
                continue; // any free port: never shared
            }
            if let Some(other) = seen.insert(*address, service) {
                problems.push(format!("[listen] {service} and {other} both on {address}"));
            }
        }
    }
    problems
}
