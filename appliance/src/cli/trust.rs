//! `caducee trust`: the trust list of the operators' trust space — import it from a file or
//! an HTTPS URL, list its domains, show one.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use caducee_actors::probe;
use caducee_admin_protocol::{TrustDomainView, TrustImport, TrustListing, TrustShow};
use clap::Subcommand;

use super::print::{print_json, utc_time, Shown};
use super::transport::call;
use crate::federation::trust::FILE_BYTES_MAX;

#[derive(Debug, Subcommand)]
pub(super) enum TrustCommand {
    /// Put a trust list in force (`listeblanchemssante.xml`), whole or not at all: a file,
    /// or an https:// URL whose server is verified against the trust space's CA bundle.
    Import {
        /// The list: a file, or an https:// URL.
        source: String,
        /// The CA bundle (PEM) that verifies an https:// source; default: `[federation]
        /// ca_bundle`.
        #[arg(long)]
        ca_bundle: Option<PathBuf>,
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
    /// The domains of the list in force and their operators.
    List {
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
    /// One domain of the list in force.
    Show {
        /// The domain, as in `hopital.mssante.fr`.
        domain: String,
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn trust(data_dir: &Path, command: TrustCommand) -> anyhow::Result<ExitCode> {
    match command {
        TrustCommand::Import { source, ca_bundle, json } => import(data_dir, source, ca_bundle.as_deref(), json),
        TrustCommand::List { json } => {
            let listing = call(data_dir, TrustListing {})?;
            if json {
                print_json(&listing)?;
                return Ok(ExitCode::SUCCESS);
            }
            let Some(source) = &listing.source else {
                println!("no trust list is in force: import one with `caducee trust import FILE|URL`");
                return Ok(ExitCode::SUCCESS);
            };
            let since = listing.imported_at.map_or_else(String::new, |at| utc_time(at.0));
            println!("trust list from {} in force since {since}: {} domains", Shown(source), listing.domains.len());
            for domain in &listing.domains {
                let operators: Vec<String> = domain.operators.iter().map(|o| Shown(o).to_string()).collect();
                println!("{}  {}", Shown(&domain.domain), operators.join(" | "));
            }
            Ok(ExitCode::SUCCESS)
        }
        TrustCommand::Show { domain, json } => {
            let shown = call(data_dir, TrustShow { domain })?;
            if json {
                print_json(&shown)?;
            } else {
                print_domain(&shown);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn import(data_dir: &Path, source: String, ca_bundle: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let xml = if source.starts_with("https://") {
        fetch(data_dir, &source, ca_bundle)?
    } else if source.contains("://") {
        bail!("{source}: a trust list is fetched over https:// only, or read from a file");
    } else {
        let file = std::fs::File::open(&source).with_context(|| format!("reading {source}"))?;
        read_bounded(file).with_context(|| format!("reading {source}"))?
    };
    let imported = call(data_dir, TrustImport { xml, source: source.clone() })?;
    if json {
        print_json(&imported)?;
        return Ok(ExitCode::SUCCESS);
    }
    let before = imported.replaced_domains.map_or_else(|| "no list before".to_owned(), |n| format!("{n} before"));
    println!("trust list from {} in force: {} domains ({before})", Shown(&source), imported.domains);
    Ok(ExitCode::SUCCESS)
}

/// The list at an https:// URL, its server verified against the trust space's CA.
fn fetch(data_dir: &Path, url: &str, ca_bundle: Option<&Path>) -> anyhow::Result<String> {
    let configured = crate::config::Config::load(data_dir)?.federation.ca_bundle;
    let Some(bundle) = ca_bundle.map(Path::to_path_buf).or(configured) else {
        bail!("an https:// trust list is verified against the trust space's CA: set [federation] ca_bundle or pass --ca-bundle");
    };
    let pem = std::fs::read(&bundle).with_context(|| format!("reading the CA bundle {}", bundle.display()))?;
    let agent = ureq::AgentBuilder::new()
        .tls_config(probe::client_config(&pem)?)
        .timeout(std::time::Duration::from_secs(60))
        .build();
    let response = match agent.get(url).call() {
        Ok(response) => response,
        Err(ureq::Error::Status(code, response)) => bail!("{url} answered {code} {}", response.status_text()),
        Err(error) => bail!("fetching {url}: {error}"),
    };
    read_bounded(response.into_reader()).with_context(|| format!("reading {url}"))
}

/// At most [`FILE_BYTES_MAX`] bytes of UTF-8.
fn read_bounded(reader: impl std::io::Read) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    reader.take(FILE_BYTES_MAX as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > FILE_BYTES_MAX {
        bail!("larger than {FILE_BYTES_MAX} bytes: not a trust list");
    }
    String::from_utf8(bytes).context("not UTF-8 text")
}

fn print_domain(domain: &TrustDomainView) {
    println!("domain:      {}", Shown(&domain.domain));
    println!("description: {}", Shown(&domain.description));
    for operator in &domain.operators {
        println!("operator:    {}", Shown(operator));
    }
    println!("responsible: {}", Shown(&domain.responsible_contact));
    println!("support:     {}", Shown(&domain.support_contact));
    println!("updated:     {}", Shown(&domain.updated));
}
