//! TLS material: on first start a local CA and a server certificate signed by it are
//! generated in `<data>/tls/`; clients trust `<data>/tls/ca.pem`. An administrator may put
//! a real certificate chain and key in `server.pem` / `server.key` instead.

use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// Makes sure the TLS files exist, then builds the rustls configuration (TLS 1.2 and 1.3
/// only, ring's default cipher suites: AEAD with forward secrecy).
pub fn server_config(data_dir: &Path, hostname: &str) -> anyhow::Result<Arc<ServerConfig>> {
    let dir = data_dir.join("tls");
    let chain_path = dir.join("server.pem");
    let key_path = dir.join("server.key");
    if !chain_path.exists() || !key_path.exists() {
        generate(&dir, hostname).context("generating the local CA and server certificate")?;
    }
    let chain = certificates(&chain_path)?;
    let key = private_key(&key_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("loading the server certificate")?;
    Ok(Arc::new(config))
}

/// Every certificate in a PEM file, in order.
fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading the certificates in {}", path.display()))
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
fn private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| match error {
        pem::Error::NoItemsFound => anyhow::anyhow!("no private key in {}", path.display()),
        other => anyhow::Error::new(other).context(format!("reading the private key in {}", path.display())),
    })
}

fn generate(dir: &Path, hostname: &str) -> anyhow::Result<()> {
    fs::create_dir_all(dir)?;
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(DnType::OrganizationName, "Caducée");
    ca_params.distinguished_name.push(DnType::CommonName, format!("Caducée local CA for {hostname}"));
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca = ca_params.self_signed(&ca_key)?;

    let server_key = KeyPair::generate()?;
    let mut names = vec![hostname.to_owned()];
    if hostname != "localhost" {
        names.push("localhost".into());
    }
    // gpg's key fetcher (dirmngr) refuses to check a host name without a dot, so a
    // development relay is also "localhost." (the same name, fully qualified).
    names.push("localhost.".into());
    let mut params = CertificateParams::new(names)?;
    params.subject_alt_names.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params.distinguished_name.push(DnType::CommonName, hostname);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let server = params.signed_by(&server_key, &ca, &ca_key)?;

    write_private(&dir.join("ca.key"), ca_key.serialize_pem().as_bytes())?;
    write_private(&dir.join("server.key"), server_key.serialize_pem().as_bytes())?;
    fs::write(dir.join("ca.pem"), ca.pem())?;
    fs::write(dir.join("server.pem"), format!("{}{}", server.pem(), ca.pem()))?;
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// The SHA-256 fingerprint of the first certificate in a PEM file, as colon-separated hex
/// (the form browsers and `openssl x509 -fingerprint -sha256` show).
pub fn certificate_sha256(path: &Path) -> anyhow::Result<String> {
    let pem = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let certificate = CertificateDer::from_pem_slice(&pem).map_err(|error| match error {
        pem::Error::NoItemsFound => anyhow::anyhow!("no certificate in {}", path.display()),
        other => anyhow::Error::new(other).context(format!("reading the certificate in {}", path.display())),
    })?;
    let digest = ring::digest::digest(&ring::digest::SHA256, certificate.as_ref());
    Ok(digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":"))
}
