//! The client's commands (`caducee-client …`, or `caducee client …` on the appliance).
//!
//! - `install`: opens an installation bundle with its code and writes a profile folder.
//! - `send`: builds an HPRIM document, finds each recipient's current certificate over HKP,
//!   signs, encrypts to every recipient and to the sender, submits over SMTP with TLS.
//! - `fetch`: collects over POP3 with TLS, decrypts, checks the signature against the
//!   sender's certificates from HKP, writes each document and its result into an
//!   integration folder, then deletes it from the relay.
//! - `lint-hprim`: says what is wrong with an HPRIM header.
//! - `keygen`: makes the next keys on the practice's machine; the relay certifies and
//!   publishes the public certificate (`keygen.rs`).
//!
//! A profile folder (mode 0700) holds `profile.json` (address, endpoints, installed
//! editions), `ca.pem`, `relay.pgp` (the relay's own OpenPGP certificate, from the bundle),
//! `password` and `keys/<fingerprint>.pgp` — the secret keys, decrypted, mode 0600, as a
//! practice's gpg keyring would hold them.
//!
//! Next year's keys arrive as a renewal message; they are installed only if the message
//! bears a good signature of the relay key of `relay.pgp` (and the relay publishes them):
//! anything else that looks like a renewal is kept as received and flagged.

mod keygen;
mod pgp;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{bail, Context as _};
use clap::Subcommand;
use sequoia_openpgp::serialize::SerializeInto as _;
use sequoia_openpgp::Cert;
use serde::{Deserialize, Serialize};

pub use pgp::SignatureCheck;

use crate::charset::Charset;
use crate::{bundle, calendar, hprim, keys, probe};

/// Largest certificate response read from the key server.
const KEYS_RESPONSE_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// The subject every sent message carries: headers travel in clear, so no patient detail
/// ever goes there.
const SUBJECT: &str = "Document medical chiffre";
/// The relay's certificate in a profile folder.
const RELAY_KEY_FILE: &str = "relay.pgp";

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Install the keys of an installation bundle into a profile folder.
    Install {
        /// The installation bundle file (`caducee-bundle-…`), from the relay's administrator.
        #[arg(long)]
        bundle: PathBuf,
        /// The installation code that came with the bundle (separately).
        #[arg(long, env = "CADUCEE_INSTALLATION_CODE")]
        code: String,
        /// The practice's profile folder (made by `client install`).
        #[arg(long)]
        profile: PathBuf,
        /// A file holding the account's password (first install only; kept in the profile).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// The character set the practice's software reads documents in: `fetch` writes
        /// them so (kept in the profile; `client profile` changes it).
        #[arg(long, value_enum)]
        charset: Option<Charset>,
    },
    /// Show a profile (address, relay, installed keys, character set), and change its
    /// character set.
    Profile {
        /// The practice's profile folder (made by `client install`).
        #[arg(long)]
        profile: PathBuf,
        /// The character set `fetch` writes documents in from now on.
        #[arg(long, value_enum)]
        charset: Option<Charset>,
    },
    /// Send a document: HPRIM header, signed, encrypted to every recipient and to you.
    Send {
        /// The practice's profile folder (made by `client install`).
        #[arg(long)]
        profile: PathBuf,
        /// A recipient's secure address; repeat for several.
        #[arg(long = "to", required = true)]
        to: Vec<String>,
        /// The patient's last name (written into the HPRIM header, never into clear headers).
        #[arg(long)]
        patient_last_name: String,
        /// The patient's first name.
        #[arg(long)]
        patient_first_name: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        patient_birth_date: String,
        /// The document's text: UTF-8, ISO-8859-1 or Windows-1252.
        #[arg(long)]
        file: PathBuf,
        /// The document's character set (by default, found from its bytes).
        #[arg(long, value_enum)]
        charset: Option<Charset>,
    },
    /// Collect, decrypt and verify every waiting document into an integration folder, then
    /// delete them from the relay.
    Fetch {
        /// The practice's profile folder (made by `client install`).
        #[arg(long)]
        profile: PathBuf,
        /// The integration folder: each document and its result (.json) are written there.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check the HPRIM header of a document and say precisely what is wrong.
    LintHprim {
        /// The document whose HPRIM header to check.
        file: PathBuf,
    },
    /// Make the next keys here (their secret parts never leave this machine): the relay
    /// certifies and publishes the public certificate, and this profile uses them.
    Keygen {
        /// The practice's profile folder (made by `client install`).
        #[arg(long)]
        profile: PathBuf,
        /// The name shown with the address in the keys' user ID (as "Anne Durand").
        #[arg(long)]
        name: Option<String>,
    },
}

/// What `profile.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Profile {
    address: String,
    endpoints: bundle::Endpoints,
    editions: Vec<InstalledEdition>,
    /// The character set received documents are written in (UTF-8 unless the practice's
    /// software reads another).
    #[serde(default)]
    charset: Charset,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct InstalledEdition {
    edition: u32,
    fingerprint: String,
    expires_at: u64,
}

/// `caducee client …`: the command, and how it reports.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    #[command(subcommand)]
    command: ClientCommand,
    /// Print one JSON object instead of text (docs/clients/client.md gives each shape).
    #[arg(long, global = true)]
    json: bool,
}

/// What a client command reports: text lines for a person, the same as one JSON object
/// for practice software (`--json`), and the exit code.
struct Said {
    text: String,
    json: serde_json::Value,
    code: ExitCode,
}

impl Said {
    fn done(text: String, json: serde_json::Value) -> Said {
        Said { text, json, code: ExitCode::SUCCESS }
    }
}

pub fn run(args: ClientArgs) -> anyhow::Result<ExitCode> {
    let said = said(args.command)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&said.json)?);
    } else {
        print!("{}", said.text);
    }
    Ok(said.code)
}

fn said(command: ClientCommand) -> anyhow::Result<Said> {
    match command {
        ClientCommand::Install { bundle, code, profile, password_file, charset } => {
            install(&bundle, &code, &profile, password_file.as_deref(), charset)
        }
        ClientCommand::Profile { profile, charset } => show_profile(&profile, charset),
        ClientCommand::Send {
            profile,
            to,
            patient_last_name,
            patient_first_name,
            patient_birth_date,
            file,
            charset,
        } => {
            let patient = hprim::Patient {
                last_name: patient_last_name,
                first_name: patient_first_name,
                birth_date: hprim::Date::parse_iso(&patient_birth_date)
                    .map_err(|why| anyhow::anyhow!("--patient-birth-date: {why}"))?,
                ..hprim::Patient::default()
            };
            send(&profile, &to, patient, (&file, charset))
        }
        ClientCommand::Fetch { profile, out } => fetch(&profile, &out),
        ClientCommand::Keygen { profile, name } => keygen::keygen(&profile, name.as_deref()),
        ClientCommand::LintHprim { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let problems = hprim::lint(&text);
            let mut lines = String::new();
            for problem in &problems {
                lines.push_str(&format!("{}: {problem}\n", file.display()));
            }
            let valid = problems.iter().all(hprim::Problem::is_warning);
            if valid {
                lines.push_str(&format!("{}: valid HPRIM header\n", file.display()));
            }
            let json = serde_json::json!({
                "file": file, "valid": valid,
                "problems": problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
            });
            let code = if valid { ExitCode::SUCCESS } else { crate::exit::problems_found() };
            Ok(Said { text: lines, json, code })
        }
    }
}

fn install(
    bundle_file: &Path,
    code: &str,
    profile_dir: &Path,
    password_file: Option<&Path>,
    charset: Option<Charset>,
) -> anyhow::Result<Said> {
    let text = std::fs::read_to_string(bundle_file)
        .with_context(|| format!("reading the bundle {}", bundle_file.display()))?;
    let opened = bundle::open(&text, code)?;
    let fields = &opened.fields;
    let existing = load_profile(profile_dir).ok();
    if let Some(existing) = &existing {
        if existing.address != fields.address {
            bail!(
                "{} is the profile of {}, not of {}: install into another folder",
                profile_dir.display(),
                existing.address,
                fields.address
            );
        }
    }
    let password = match password_file {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("reading {}", file.display()))?
            .trim_end_matches(['\r', '\n'])
            .to_owned(),
        None if existing.is_some() => String::new(),
        None => bail!("the first install needs --password-file with the account's password"),
    };
    let fields = install_opened(profile_dir, &opened, existing, &password)?;
    if let Some(charset) = charset {
        set_charset(profile_dir, charset)?;
    }
    let expires = calendar::iso_date(fields.expires_at);
    let text = format!(
        "installed edition {} of the keys of {} ({}), expiring {expires} 00:00 UTC\n",
        fields.edition, fields.address, fields.fingerprint,
    );
    let json = serde_json::json!({
        "address": fields.address, "edition": fields.edition, "fingerprint": fields.fingerprint,
        "expires": expires, "profile": profile_dir,
    });
    Ok(Said::done(text, json))
}

/// Writes an opened bundle's keys into a profile (creating it), beside any earlier edition.
fn install_opened(
    profile_dir: &Path,
    opened: &bundle::Opened,
    existing: Option<Profile>,
    password: &str,
) -> anyhow::Result<bundle::BundleFields> {
    let fields = &opened.fields;
    make_private_dir(profile_dir)?;
    make_private_dir(&profile_dir.join("keys"))?;
    let secret = opened.keys.as_tsk().to_vec()?;
    write_private(&profile_dir.join("keys").join(format!("{}.pgp", fields.fingerprint)), &secret)?;
    write_private(&profile_dir.join("ca.pem"), fields.ca_pem.as_bytes())?;
    if let Some(relay) = &opened.relay {
        write_private(&profile_dir.join(RELAY_KEY_FILE), &relay.armored().to_vec()?)?;
    }
    if !password.is_empty() {
        write_private(&profile_dir.join("password"), password.as_bytes())?;
    }
    let mut editions = existing.as_ref().map(|p| p.editions.clone()).unwrap_or_default();
    editions.retain(|e| e.fingerprint != fields.fingerprint);
    editions.push(InstalledEdition {
        edition: fields.edition,
        fingerprint: fields.fingerprint.clone(),
        expires_at: fields.expires_at,
    });
    let charset = existing.as_ref().map(|p| p.charset).unwrap_or_default();
    let profile = Profile { address: fields.address.clone(), endpoints: fields.endpoints.clone(), editions, charset };
    write_private(&profile_dir.join("profile.json"), &serde_json::to_vec_pretty(&profile)?)?;
    Ok(fields.clone())
}

/// `client profile`: what a profile holds, its character set changed if asked.
fn show_profile(dir: &Path, charset: Option<Charset>) -> anyhow::Result<Said> {
    if let Some(charset) = charset {
        set_charset(dir, charset)?;
    }
    let profile = load_profile(dir)?;
    let e = &profile.endpoints;
    let mut text = format!("address: {}\n", profile.address);
    text += &format!(
        "relay: {} (submission {}, POP3 {}, keys {})\n",
        e.host, e.submissions_port, e.pop3s_port, e.https_port
    );
    for edition in &profile.editions {
        let expires = calendar::iso_date(edition.expires_at);
        text += &format!("keys: edition {} ({}), expiring {expires} 00:00 UTC\n", edition.edition, edition.fingerprint);
    }
    text += &format!("documents written in: {}\n", profile.charset);
    Ok(Said::done(text, serde_json::to_value(&profile)?))
}

fn set_charset(dir: &Path, charset: Charset) -> anyhow::Result<()> {
    let mut profile = load_profile(dir)?;
    profile.charset = charset;
    write_private(&dir.join("profile.json"), &serde_json::to_vec_pretty(&profile)?)
}

/// Makes a folder its owner alone may enter (mode 0700 on Unix; elsewhere the folder keeps
/// the access of the user's profile it is made in).
fn make_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes a file readable by its owner only (mode 0600 on Unix), atomically: a temporary
/// file, synced, then renamed over the old one.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temporary = path.with_extension("partial");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary).with_context(|| format!("writing {}", temporary.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn load_profile(dir: &Path) -> anyhow::Result<Profile> {
    let path = dir.join("profile.json");
    let bytes = std::fs::read(&path).with_context(|| {
        format!("{} is not a client profile (install a bundle into it first: `install --profile`)", dir.display())
    })?;
    serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))
}

/// The TLS trust of a profile: the relay's local CA from its bundle (`ca.pem`), and the
/// system's roots — a relay serving a public certificate (ACME) is trusted like any site.
fn tls_roots(dir: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let path = dir.join("ca.pem");
    tls_roots_from(&std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?)
}

/// As [`tls_roots`], from the local CA's PEM.
fn tls_roots_from(ca_pem: &[u8]) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    Ok(probe::client_config_with_system_roots(ca_pem)?)
}

/// This profile's keys, every installed edition.
fn own_keys(dir: &Path, profile: &Profile) -> anyhow::Result<Vec<Cert>> {
    let mut keys = Vec::new();
    for edition in &profile.editions {
        let path = dir.join("keys").join(format!("{}.pgp", edition.fingerprint));
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        keys.extend(pgp::certs_from(&bytes)?);
    }
    Ok(keys)
}

/// The relay's certificate installed from a bundle; `None` for a profile installed from a
/// bundle that predates it (format 1).
fn relay_certificate(dir: &Path) -> anyhow::Result<Option<Cert>> {
    let path = dir.join(RELAY_KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(pgp::certs_from(&bytes)?.into_iter().next()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// Whether a renewal's signature is the relay's own; `Err` says why not, for the practice.
fn signed_by_relay(relay: Option<&Cert>, signature: &SignatureCheck) -> Result<(), String> {
    let Some(relay) = relay else {
        return Err("this profile holds no relay key (it was installed from an older bundle), so the \
                    renewal cannot be authenticated: not installed; install the new bundle by hand with \
                    `install`"
            .into());
    };
    let expected = relay.fingerprint().to_hex();
    Err(match signature {
        SignatureCheck::Valid { signer_fingerprint } if *signer_fingerprint == expected => return Ok(()),
        SignatureCheck::Valid { signer_fingerprint } => {
            format!("signed by {signer_fingerprint}, not by the relay's key {expected}: not installed")
        }
        SignatureCheck::UnknownKey { issuer } => {
            format!("signed by the unknown key {issuer}, not by the relay's key {expected}: not installed")
        }
        SignatureCheck::Invalid { problem } => {
            format!("its signature does not verify with the relay's key {expected} ({problem}): not installed")
        }
        SignatureCheck::Unsigned => {
            format!("it is not signed; a renewal must bear the signature of the relay's key {expected}: not installed")
        }
    })
}

fn password(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("password");
    Ok(std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?.trim_end().to_owned())
}

/// The key server of this profile's relay (HKP over HTTPS, trusting the relay's CA).
struct KeyServer {
    agent: ureq::Agent,
    base: String,
}

impl KeyServer {
    fn new(dir: &Path, profile: &Profile) -> anyhow::Result<KeyServer> {
        let ca = std::fs::read(dir.join("ca.pem")).context("reading the profile's CA certificate")?;
        let agent = ureq::AgentBuilder::new()
            .tls_config(tls_roots_from(&ca)?)
            .timeout(std::time::Duration::from_secs(30))
            .build();
        let e = &profile.endpoints;
        Ok(KeyServer { agent, base: format!("https://{}:{}", e.host, e.https_port) })
    }

    /// Every certificate the relay publishes for `address`; empty when it knows none.
    fn lookup(&self, address: &str) -> anyhow::Result<Vec<Cert>> {
        let url = format!("{}/pks/lookup", self.base);
        let response = match self.agent.get(&url).query("op", "get").query("search", address).call() {
            Ok(response) => response,
            Err(ureq::Error::Status(404, _)) => return Ok(Vec::new()),
            Err(ureq::Error::Status(code, response)) => {
                bail!("the key server refused the lookup of {address}: {code} {}", response.status_text())
            }
            Err(error) => bail!("the relay's key server is unreachable at {}: {error}", self.base),
        };
        let mut body = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(response.into_reader(), KEYS_RESPONSE_BYTES_MAX),
            &mut body,
        )?;
        pgp::certs_from(&body)
    }
}

fn send(
    dir: &Path,
    to: &[String],
    patient: hprim::Patient,
    (file, charset): (&Path, Option<Charset>),
) -> anyhow::Result<Said> {
    let profile = load_profile(dir)?;
    let own = own_keys(dir, &profile)?;
    let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    // Sent as UTF-8 whatever it was read in: the recipient's client writes it in the
    // character set its practice's software reads.
    let (body, read_as) = crate::charset::decode(&body, charset).with_context(|| format!("{}", file.display()))?;
    let now = SystemTime::now();
    let today = calendar::iso_date(calendar::millis(now));
    let header = hprim::Header {
        patient,
        reference: String::new(),
        document_date: hprim::Date::parse_iso(&today).map_err(|why| anyhow::anyhow!("today's date: {why}"))?,
        sender: hprim::format_party("", &profile.address).unwrap_or_default(),
        recipient: hprim::format_party("", &to.join(", ")).unwrap_or_default(),
    };
    let document = hprim::build(&header, &body)?;

    let keys = KeyServer::new(dir, &profile)?;
    let mut recipients = Vec::new();
    for address in to {
        let certs = keys.lookup(address)?;
        if certs.is_empty() {
            bail!("{address} is not a user of this relay (no certificate published)");
        }
        recipients.push((address.clone(), certs));
    }
    let armoured = pgp::sign_and_encrypt(&own, &recipients, document.as_bytes(), now)?;
    let message = probe::pgp_mime_to(&profile.address, to, SUBJECT, &armoured, calendar::millis(now));

    let e = &profile.endpoints;
    let tls = tokio_rustls::TlsConnector::from(tls_roots(dir)?);
    let password = password(dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut smtp = probe::SmtpProbe::login_at(&e.host, e.submissions_port, &tls, &profile.address, &password)
            .await
            .with_context(|| format!("logging in to {}:{}", e.host, e.submissions_port))?;
        smtp.submit_to(&profile.address, to, &message).await.context("the relay refused the document")?;
        smtp.quit().await?;
        anyhow::Ok(())
    })?;
    let text = format!("sent to {} ({read_as} text, {} bytes encrypted)\n", to.join(", "), message.len());
    Ok(Said::done(text, serde_json::json!({"to": to, "read_as": read_as, "bytes": message.len()})))
}

/// What `fetch` writes beside each document.
#[derive(Debug, Serialize)]
struct FetchResult {
    /// The document (`.hpr`), or the message as received (`.eml`) when it could not be
    /// opened.
    file: String,
    from: String,
    /// `document`; `keys` (next year's keys from the relay, installed into the profile);
    /// `undecryptable`; `suspicious-keys` (a "renewal" not signed by the relay's key, or keys
    /// the relay does not publish: not installed); or `notice` (a relay notice, in clear by
    /// design).
    kind: &'static str,
    /// For `keys`: the edition installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    installed: Option<String>,
    #[serde(flatten)]
    signature: Option<SignatureCheck>,
    /// The HPRIM patient fields, when the header reads.
    patient: Option<PatientFields>,
    hprim_problems: Vec<String>,
    /// For a document: the character set it was written in.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    charset: Option<Written>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The character set a document was written in, and how many of its characters that set
/// could not hold (each written as `?`).
#[derive(Debug, Serialize)]
struct Written {
    charset: Charset,
    replaced_characters: usize,
}

#[derive(Debug, Serialize)]
struct PatientFields {
    last_name: String,
    first_name: String,
    birth_date: String,
    document_date: String,
    sender: String,
}

fn fetch(dir: &Path, out: &Path) -> anyhow::Result<Said> {
    let profile = load_profile(dir)?;
    let own = own_keys(dir, &profile)?;
    let keys = KeyServer::new(dir, &profile)?;
    let relay = relay_certificate(dir)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let e = profile.endpoints.clone();
    let tls = tokio_rustls::TlsConnector::from(tls_roots(dir)?);
    let password = password(dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (fetched, flagged) = runtime.block_on(async {
        let mut pop3 = probe::Pop3Probe::login_at(&e.host, e.pop3s_port, &tls, &profile.address, &password)
            .await
            .with_context(|| format!("logging in to {}:{}", e.host, e.pop3s_port))?;
        let count = pop3.count().await?;
        let mut flagged = 0;
        for number in 1..=count {
            eprint!("\rfetching {number}/{count}");
            let raw = pop3.retrieve(number).await?;
            // Written (and synced) before the deletion is even asked for.
            let result = integrate(dir, &own, (&keys, relay.as_ref()), &raw, (out, profile.charset))?;
            let fine = match result.kind {
                "document" => matches!(result.signature, Some(SignatureCheck::Valid { .. })),
                "keys" => true,
                _ => false,
            };
            if !fine {
                flagged += 1;
            }
            if let Some(written) = result.charset.as_ref().filter(|w| w.replaced_characters > 0) {
                eprintln!(
                    "\r{}: {} characters that {} cannot hold are written as ?",
                    result.file, written.replaced_characters, written.charset
                );
            }
            if let Some(installed) = &result.installed {
                eprintln!("\rinstalled next year's keys: {installed}");
            }
            pop3.delete(number).await?;
        }
        if count > 0 {
            eprintln!();
        }
        pop3.quit().await?;
        anyhow::Ok((count, flagged))
    })?;
    let text = format!("{fetched} documents fetched into {} ({flagged} flagged: see their .json)\n", out.display());
    Ok(Said::done(text, serde_json::json!({"fetched": fetched, "flagged": flagged, "out": out})))
}

/// Opens one received message and writes it and its result into `out`.
fn integrate(
    profile_dir: &Path,
    own: &[Cert],
    (keys, relay): (&KeyServer, Option<&Cert>),
    raw: &[u8],
    (out, charset): (&Path, Charset),
) -> anyhow::Result<FetchResult> {
    let parsed = mail_parser::MessageParser::default().parse(raw);
    let from = parsed
        .as_ref()
        .and_then(|m| m.from())
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_owned();
    let stem = received_stem(raw);
    let armoured = parsed.as_ref().and_then(encrypted_payload);
    let mut result = FetchResult {
        file: String::new(),
        from: from.clone(),
        kind: "document",
        installed: None,
        signature: None,
        patient: None,
        hprim_problems: Vec::new(),
        charset: None,
        error: None,
    };
    let opened = match &armoured {
        None => Err(None),
        Some(armoured) => {
            // The relay's messages are checked against the relay key of the bundle alone.
            let senders = match relay.filter(|relay| is_relay_address(relay, &from)) {
                Some(relay) => vec![relay.clone()],
                None => keys.lookup(&from).unwrap_or_default(),
            };
            pgp::decrypt_and_verify(own, senders, armoured, None).map_err(|e| Some(format!("{e:#}")))
        }
    };
    let received = Received { raw, stem: &stem, out, charset };
    match opened {
        Ok(opened) => match keys::read_renewal(&String::from_utf8_lossy(&opened.plaintext)) {
            Some((code, bundle_text)) => {
                let verdict = signed_by_relay(relay, &opened.signature);
                result.signature = Some(opened.signature);
                match verdict {
                    Ok(()) => received.file_renewal(profile_dir, keys, &code, &bundle_text, &mut result)?,
                    Err(why) => {
                        result.kind = "suspicious-keys";
                        result.error = Some(why);
                        received.keep_as_received(&mut result)?;
                    }
                }
            }
            None => received.file_document(opened, &mut result)?,
        },
        Err(error) => {
            result.kind = if armoured.is_none() { "notice" } else { "undecryptable" };
            if armoured.is_none() {
                // A relay notice is PGP/MIME signed by the relay key.
                result.signature =
                    relay.zip(parsed.as_ref()).and_then(|(relay, message)| signed_notice(raw, message, relay));
            }
            result.error = error;
            received.keep_as_received(&mut result)?;
        }
    }
    write_private(&out.join(format!("{stem}.json")), &serde_json::to_vec_pretty(&result)?)?;
    Ok(result)
}

/// The signature of a PGP/MIME signed message (RFC 3156), checked against the relay key;
/// `None` when the message is not `multipart/signed`.
fn signed_notice(raw: &[u8], message: &mail_parser::Message<'_>, relay: &Cert) -> Option<SignatureCheck> {
    use mail_parser::MimeHeaders as _;
    let content_type = message.content_type()?;
    if !content_type.ctype().eq_ignore_ascii_case("multipart")
        || !content_type.subtype().is_some_and(|s| s.eq_ignore_ascii_case("signed"))
    {
        return None;
    }
    let boundary = content_type.attribute("boundary")?;
    let find = |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).position(|w| w == needle);
    // The signed part runs from after the first delimiter line to the line break that
    // belongs to the next delimiter.
    let opening = format!("\r\n--{boundary}\r\n");
    let start = find(raw, opening.as_bytes())? + opening.len();
    let end = start + find(&raw[start..], format!("\r\n--{boundary}\r\n").as_bytes())?;
    let signature = armoured_block(message, b"-----BEGIN PGP SIGNATURE-----")?;
    Some(pgp::verify_detached(vec![relay.clone()], &raw[start..end], &signature))
}

/// Whether `address` is one of the relay certificate's own addresses (`keys@DOMAIN`).
fn is_relay_address(relay: &Cert, address: &str) -> bool {
    relay
        .userids()
        .any(|uid| uid.userid().email().ok().flatten().is_some_and(|email| email.eq_ignore_ascii_case(address)))
}

/// The name every file of a received message starts with: the time it was fetched and the
/// start of its SHA-256.
fn received_stem(raw: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, raw);
    let short: String = digest.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect();
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S");
    format!("{stamp}-{short}")
}

/// A received message and where its files go.
struct Received<'a> {
    raw: &'a [u8],
    stem: &'a str,
    out: &'a Path,
    /// What documents are written in (the profile's character set).
    charset: Charset,
}

impl Received<'_> {
    /// Next year's keys: installed if the relay publishes them, else kept as received.
    fn file_renewal(
        &self,
        profile_dir: &Path,
        keys: &KeyServer,
        code: &str,
        bundle_text: &str,
        result: &mut FetchResult,
    ) -> anyhow::Result<()> {
        match install_renewal(profile_dir, keys, code, bundle_text) {
            Ok(fields) => {
                result.kind = "keys";
                result.installed = Some(format!(
                    "edition {} ({}), expiring {} 00:00 UTC",
                    fields.edition,
                    fields.fingerprint,
                    calendar::iso_date(fields.expires_at)
                ));
                result.file = format!("{}.json", self.stem);
                Ok(())
            }
            Err(error) => {
                result.kind = "suspicious-keys";
                result.error = Some(format!("{error:#}"));
                self.keep_as_received(result)
            }
        }
    }

    /// A document: written as `.hpr`, its HPRIM header read (or its problems listed).
    fn file_document(&self, opened: pgp::Opened, result: &mut FetchResult) -> anyhow::Result<()> {
        // UTF-8 from this client; a sender's other software may have written Latin-1.
        let text = match crate::charset::decode(&opened.plaintext, None) {
            Ok((text, _)) => text,
            Err(_) => String::from_utf8_lossy(&opened.plaintext).into_owned(),
        };
        match hprim::parse(&text) {
            Ok(document) => {
                let h = &document.header;
                result.patient = Some(PatientFields {
                    last_name: h.patient.last_name.clone(),
                    first_name: h.patient.first_name.clone(),
                    birth_date: h.patient.birth_date.to_iso(),
                    document_date: h.document_date.to_iso(),
                    sender: hprim::split_party(&h.sender).1.to_owned(),
                });
            }
            Err(problems) => result.hprim_problems = problems.iter().map(ToString::to_string).collect(),
        }
        result.signature = Some(opened.signature);
        result.file = format!("{}.hpr", self.stem);
        let (bytes, replaced) = crate::charset::encode(&text, self.charset);
        result.charset = Some(Written { charset: self.charset, replaced_characters: replaced });
        write_private(&self.out.join(&result.file), &bytes)
    }

    /// The message as received, as `.eml`.
    fn keep_as_received(&self, result: &mut FetchResult) -> anyhow::Result<()> {
        result.file = format!("{}.eml", self.stem);
        write_private(&self.out.join(&result.file), self.raw)
    }
}

/// Installs next year's keys received in a renewal message — only if they are this
/// profile's address and the relay publishes them: anyone can send this practice an
/// encrypted message that looks like a renewal, only the relay can publish its keys.
fn install_renewal(
    profile_dir: &Path,
    keys: &KeyServer,
    code: &str,
    bundle_text: &str,
) -> anyhow::Result<bundle::BundleFields> {
    let profile = load_profile(profile_dir)?;
    let opened = bundle::open(bundle_text, code)?;
    if opened.fields.address != profile.address {
        bail!("the keys are for {}, not for this profile's {}", opened.fields.address, profile.address);
    }
    let published = keys.lookup(&profile.address)?;
    if !published.iter().any(|cert| cert.fingerprint().to_hex() == opened.fields.fingerprint) {
        bail!("the relay does not publish {} for {}: not installed", opened.fields.fingerprint, profile.address);
    }
    install_opened(profile_dir, &opened, Some(profile), "")
}

/// The OpenPGP message of a received mail: the second part of a PGP/MIME body, or an
/// armoured block in a single-part body.
fn encrypted_payload(message: &mail_parser::Message<'_>) -> Option<Vec<u8>> {
    armoured_block(message, b"-----BEGIN PGP MESSAGE-----")
}

/// The first part of a received mail holding an armoured block that starts with `begin`,
/// from that line on.
fn armoured_block(message: &mail_parser::Message<'_>, begin: &[u8]) -> Option<Vec<u8>> {
    message.parts.iter().find_map(|part| {
        let bytes: &[u8] = match &part.body {
            mail_parser::PartType::Binary(b) | mail_parser::PartType::InlineBinary(b) => b,
            mail_parser::PartType::Text(t) => t.as_bytes(),
            _ => return None,
        };
        let start = bytes.windows(begin.len()).position(|w| w == begin)?;
        Some(bytes[start..].to_vec())
    })
}
