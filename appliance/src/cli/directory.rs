//! `caducee directory …`: entries and preferences, import and export.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use caducee_admin_protocol::{DirectoryExport, DirectoryFields, DirectoryImport, DirectorySet, ExportFormat};
use clap::{Args, Subcommand};

use super::print::print_json;
use super::transport::call;
use crate::charset::{decode, Charset};

/// The directory entry's fields (SPEC R-DIR-1); each left out stays as it is.
#[derive(Debug, Args, Default)]
pub(super) struct DirectoryArgs {
    /// How the user is addressed: Dr, Pr, M., Mme…
    #[arg(long)]
    civility: Option<String>,
    /// The city (as "Lille").
    #[arg(long)]
    city: Option<String>,
    /// The postcode (5 digits).
    #[arg(long)]
    postcode: Option<String>,
    /// The specialty (as "Cardiologie").
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
    /// The phone number (shown only with --publish-phone on).
    #[arg(long)]
    phone: Option<String>,
    /// FINESS of the structure behind a non-personal mailbox.
    #[arg(long, conflicts_with_all = ["siren", "siret"])]
    finess: Option<String>,
    /// SIREN of the structure behind a non-personal mailbox (9 digits).
    #[arg(long, conflicts_with = "siret")]
    siren: Option<String>,
    /// SIRET of the structure behind a non-personal mailbox (14 digits).
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
    pub(super) fn into_fields(self: Box<Self>) -> DirectoryFields {
        DirectoryFields {
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
pub(super) enum DirectoryCommand {
    /// Change a user's directory entry or preferences.
    Set {
        /// The user's secure address (name@domain).
        #[arg(long)]
        address: String,
        #[command(flatten)]
        fields: Box<DirectoryArgs>,
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
    /// Load entries from a CSV file: existing accounts are updated, new ones created with
    /// their keys. Every line is checked first; one bad line and nothing is written.
    Import {
        /// The file: comma- or semicolon-separated (as French Excel saves it), UTF-8 with or
        /// without a byte order mark, ISO-8859-1 or Windows-1252.
        #[arg(long)]
        csv: PathBuf,
        /// The file's character set (by default, found from its bytes).
        #[arg(long, value_enum)]
        charset: Option<Charset>,
        /// Where new accounts' passwords and installation codes go (mode 0600).
        #[arg(long)]
        credentials_out: Option<PathBuf>,
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
    /// The directory as CSV, LDIF or the national export.
    Export {
        /// csv (the public directory), ldif (the LDAP entries) or national (every field, for the national directory).
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// A file (mode 0600) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Begin with a UTF-8 byte order mark, by which Excel knows the file is UTF-8.
        #[arg(long)]
        bom: bool,
    },
}

pub(super) fn run(data_dir: &Path, command: DirectoryCommand) -> anyhow::Result<ExitCode> {
    match command {
        DirectoryCommand::Set { address, fields, json } => {
            let shown = call(data_dir, DirectorySet { address, fields: fields.into_fields() })?;
            if json {
                print_json(&shown)?;
            } else {
                println!("directory entry of {} saved", shown.address);
            }
        }
        DirectoryCommand::Import { csv, charset, credentials_out, json } => {
            let bytes = std::fs::read(&csv).with_context(|| format!("reading {}", csv.display()))?;
            let (text, read_as) = decode(&bytes, charset).with_context(|| format!("{}", csv.display()))?;
            if read_as != Charset::Utf8 {
                eprintln!("{}: read as {read_as}", csv.display());
            }
            // The relay may run as another user from another folder: absolute paths only.
            let credentials_out = credentials_out.map(|p| std::path::absolute(&p)).transpose()?;
            let imported = call(data_dir, DirectoryImport { csv: text, credentials_out })?;
            if json {
                print_json(&imported)?;
            } else {
                println!("{} entries updated, {} accounts created", imported.updated, imported.created);
                if let Some(path) = &imported.credentials {
                    println!(
                        "new accounts' passwords and installation codes: {} (hand over, then delete)",
                        path.display()
                    );
                }
            }
        }
        DirectoryCommand::Export { format, out, bom } => {
            let mut exported = call(data_dir, DirectoryExport { format })?;
            if bom {
                exported.text.insert(0, '\u{FEFF}');
            }
            match out {
                Some(path) => {
                    crate::directory::admin::write_private(&path, &exported.text)?;
                    eprintln!("{} entries written to {}", exported.entries, path.display());
                }
                None => print!("{}", exported.text),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
