//! `caducee setup`: prepares a data folder for a named relay — its configuration
//! (`caducee.toml`) and its TLS material — before the relay first starts. The appliance
//! image runs it on first boot with `--appliance`, which listens on the standard ports of
//! every address; without it the development ports on 127.0.0.1 are kept.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::Serialize;

use crate::config::{self, Config};

/// What `setup` was asked to do.
#[derive(Debug, Clone)]
pub struct SetupRequest {
    pub domain: String,
    pub hostname: Option<String>,
    pub appliance: bool,
}

/// What `setup` did, for the person at the console.
#[derive(Debug, Serialize)]
pub struct SetupReport {
    pub config: PathBuf,
    pub domain: String,
    pub hostname: String,
    /// SHA-256 of the CA certificate (DER), colon-separated: what a practice compares
    /// before trusting `tls/ca.pem`.
    pub ca_sha256: String,
    pub ca_certificate: PathBuf,
    pub listeners: Vec<(String, String)>,
    /// The DNS records to publish (docs/operations/dns.md).
    pub zone: Option<String>,
}

/// Writes the configuration and the TLS material. Refuses a data folder that already has a
/// configuration: setup names the relay once, and a rename changes every bundle.
pub fn run(data_dir: &Path, request: &SetupRequest) -> anyhow::Result<SetupReport> {
    check_name("domain", &request.domain)?;
    if let Some(hostname) = &request.hostname {
        check_name("host name", hostname)?;
    }
    let path = config::config_path(data_dir);
    if path.exists() {
        bail!("{} already exists: this data folder is set up (edit the file to change it)", path.display());
    }
    let _lock = crate::lock_data_dir(data_dir)?;
    let text = config_text(request);
    let parsed: Config = toml::from_str(&text).context("the generated configuration does not parse")?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    let now = caducee_actors::clock::Clock::now(&caducee_actors::clock::SystemClock);
    crate::tls::Certificates::load(data_dir, &parsed, now).context("preparing the TLS material")?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;

    let ca_certificate = data_dir.join("tls/ca.pem");
    let ca_sha256 = crate::tls::certificate_sha256(&ca_certificate)?;
    let listen = &parsed.listen;
    let listeners = [
        ("SMTP submission (STARTTLS)", &listen.submission),
        ("SMTP submission (TLS)", &listen.submissions),
        ("POP3 (STLS)", &listen.pop3),
        ("POP3 (TLS)", &listen.pop3s),
        ("IMAP (STARTTLS)", &listen.imap),
        ("IMAP (TLS)", &listen.imaps),
        ("HTTPS: personal space, directory, keys", &listen.https),
        ("LDAP (StartTLS)", &listen.ldap),
        ("LDAP (TLS)", &listen.ldaps),
    ]
    .into_iter()
    .map(|(what, address)| (what.to_owned(), address.to_string()))
    .collect();
    Ok(SetupReport {
        config: path,
        domain: parsed.domain.clone(),
        hostname: parsed.hostname().to_owned(),
        ca_sha256,
        ca_certificate,
        listeners,
        zone: Some(crate::dns::zone(&parsed, &crate::dns::HostAddresses::default()).text()),
    })
}

/// A host or domain name as DNS allows it: labels of letters, digits and hyphens.
fn check_name(what: &str, name: &str) -> anyhow::Result<()> {
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.len() > 253 || !name.contains('.') || !name.split('.').all(valid_label) {
        bail!("{what} {name:?} is not a DNS name such as relay.example.org");
    }
    Ok(())
}

/// The configuration file, written as text so that it reads as documentation: every other
/// setting keeps its default (see docs/operations/configuration.md).
fn config_text(request: &SetupRequest) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "# Written by `caducee setup`. Every setting not here keeps its default.");
    let _ = writeln!(text, "domain = {:?}", request.domain.to_ascii_lowercase());
    if let Some(hostname) = &request.hostname {
        let _ = writeln!(text, "hostname = {:?}", hostname.to_ascii_lowercase());
    }
    if request.appliance {
        let public_host = request.hostname.as_deref().unwrap_or(&request.domain).to_ascii_lowercase();
        let _ = write!(
            text,
            r#"
# The standard ports on every address, IPv4 and IPv6 (without IPv6 on the machine, the
# IPv4 ones alone); 25 is the relay port between the operators of the trust space (it
# refuses every sender until [federation] below is filled in).
[listen]
relay = ["0.0.0.0:25", "[::]:25"]
submission = ["0.0.0.0:587", "[::]:587"]
submissions = ["0.0.0.0:465", "[::]:465"]
pop3 = ["0.0.0.0:110", "[::]:110"]
pop3s = ["0.0.0.0:995", "[::]:995"]
imap = ["0.0.0.0:143", "[::]:143"]
imaps = ["0.0.0.0:993", "[::]:993"]
https = ["0.0.0.0:443", "[::]:443"]
ldap = ["0.0.0.0:389", "[::]:389"]
ldaps = ["0.0.0.0:636", "[::]:636"]
# Metrics stay on the machine; forward them over SSH or a management network.
metrics = "127.0.0.1:9464"

[keys]
# The name written into installation bundles: practices connect to it.
public_host = {public_host:?}
# Users' keys are made by the key issuer (caducee-issuer.service), a process of its own;
# the relay never holds them. Bundles are in /var/lib/caducee-issuer/bundles.
issuer = "/run/caducee-issuer/issuer.sock"

[backup]
# The appliance's backup disk (labelled caducee-backup), written nightly by its timer.
folder = "/var/backups/caducee"

# Joining the health-messaging trust space (docs/operations/federation.md): the trust
# space's CA bundle, this operator's certificate from it and its key; then
# `caducee trust import URL` puts the trust list in force.
# [federation]
# ca_bundle = "/var/lib/caducee/federation/ca.pem"
# certificate = "/var/lib/caducee/federation/operator.pem"
# key = "/var/lib/caducee/federation/operator.key"
"#
        );
    }
    text
}

/// Prints the report the way the appliance's first-boot screen shows it.
pub fn print(report: &SetupReport) {
    println!("configuration:   {}", report.config.display());
    println!("domain:          {}", report.domain);
    println!("host name:       {}", report.hostname);
    println!("CA certificate:  {}", report.ca_certificate.display());
    println!("CA SHA-256:      {}", report.ca_sha256);
    for (what, address) in &report.listeners {
        println!("{what:<40} {address}");
    }
    if let Some(zone) = &report.zone {
        println!(
            "\nPublish these DNS records (caducee dns --ipv4 … --ipv6 … adds the host's addresses; \
                  caducee dns check checks them):\n{zone}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appliance_configuration_listens_on_standard_ports() {
        let request = SetupRequest {
            domain: "Caducee.Example.org".into(),
            hostname: Some("relay.caducee.example.org".into()),
            appliance: true,
        };
        let config: Config = toml::from_str(&config_text(&request)).expect("the configuration parses");
        assert_eq!(config.domain, "caducee.example.org");
        assert_eq!(config.hostname(), "relay.caducee.example.org");
        assert_eq!(config.listen.submission.to_string(), "0.0.0.0:587, [::]:587");
        assert_eq!(config.listen.pop3s.to_string(), "0.0.0.0:995, [::]:995");
        assert_eq!(config.listen.imap.to_string(), "0.0.0.0:143, [::]:143");
        assert_eq!(config.listen.imaps.to_string(), "0.0.0.0:993, [::]:993");
        assert_eq!(config.listen.https.to_string(), "0.0.0.0:443, [::]:443");
        assert_eq!(config.listen.ldaps.to_string(), "0.0.0.0:636, [::]:636");
        assert_eq!(config.listen.relay.as_ref().map(ToString::to_string).as_deref(), Some("0.0.0.0:25, [::]:25"));
        assert!(config.listen.metrics.as_ref().expect("a metrics listener").first().ip().is_loopback());
        assert_eq!(config.configured_endpoints().host, "relay.caducee.example.org");
        assert_eq!(config.keys.issuer.as_deref(), Some(Path::new("/run/caducee-issuer/issuer.sock")));
    }

    #[test]
    fn development_configuration_keeps_loopback_ports() {
        let request = SetupRequest { domain: "caducee.example.org".into(), hostname: None, appliance: false };
        let config: Config = toml::from_str(&config_text(&request)).expect("the configuration parses");
        assert!(config.listen.submission.first().ip().is_loopback());
        assert!(config.keys.issuer.is_none(), "a development relay makes keys itself");
    }

    #[test]
    fn names_are_checked() {
        for bad in ["localhost", "exa mple.org", "-a.example.org", "a..example.org", "relay.example.org\"\n[x]"] {
            assert!(check_name("domain", bad).is_err(), "{bad:?} accepted");
        }
        check_name("domain", "relay-1.caducee.example.org").expect("a valid name");
    }

    #[test]
    fn setup_writes_configuration_and_tls_once() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let request = SetupRequest {
            domain: "caducee.example.org".into(),
            hostname: Some("relay.caducee.example.org".into()),
            appliance: true,
        };
        let report = run(dir.path(), &request).expect("setup");
        assert!(dir.path().join("tls/server.pem").exists());
        assert_eq!(report.ca_sha256.len(), 32 * 3 - 1);
        let again = run(dir.path(), &request).expect_err("a second setup").to_string();
        assert!(again.contains("already exists"), "{again}");
    }
}
