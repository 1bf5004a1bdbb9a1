//! Making certificates with rcgen: the local CA (name-constrained to the relay's own names)
//! and the server certificates it signs, each with a finite lifetime from the relay's clock.

use std::fs;
use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyPair,
    KeyUsagePurpose, NameConstraints, SanType, SerialNumber,
};
use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;

use super::names::Names;
use super::{BACKDATE_SECS, CA_COMMON_NAME_PREFIX, CA_LIFETIME_DAYS, CA_ORGANISATION, DAY_SECS, SERVER_LIFETIME_DAYS};

/// The local CA with its key: what signing a server certificate needs.
pub struct SigningCa {
    pub der: CertificateDer<'static>,
    /// `ca.pem` as written: it follows each server certificate in `server.pem`.
    pub pem: String,
    pub key: KeyPair,
    /// Its end, in seconds since the epoch: no certificate it signs lasts longer.
    pub not_after: i64,
}

/// Makes a new CA valid from `now` for [`CA_LIFETIME_DAYS`], permitted to vouch for `names`
/// only, and writes `ca.pem` and `ca.key` (mode 0600) in `dir`.
pub fn new_ca(dir: &Path, names: &Names, now: i64) -> anyhow::Result<SigningCa> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.distinguished_name.push(DnType::OrganizationName, CA_ORGANISATION);
    params.distinguished_name.push(DnType::CommonName, format!("{CA_COMMON_NAME_PREFIX} for {}", names.subject));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut permitted: Vec<GeneralSubtree> = names.dns.iter().cloned().map(GeneralSubtree::DnsName).collect();
    let host_prefix = |ip: &IpAddr| if ip.is_ipv4() { 32 } else { 128 };
    permitted.extend(
        names.ips.iter().map(|ip| GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(*ip, host_prefix(ip)))),
    );
    params.name_constraints = Some(NameConstraints { permitted_subtrees: permitted, excluded_subtrees: Vec::new() });
    let not_after = now + days(CA_LIFETIME_DAYS);
    set_validity(&mut params, now, not_after)?;
    let ca = params.self_signed(&key)?;
    write_private(&dir.join("ca.key"), key.serialize_pem().as_bytes())?;
    let pem = ca.pem();
    write_public(&dir.join("ca.pem"), pem.as_bytes())?;
    Ok(SigningCa { der: ca.der().clone(), pem, key, not_after })
}

/// Signs a new server certificate for `names` with `ca`, valid from `now` for
/// [`SERVER_LIFETIME_DAYS`] (never past the CA's end), and writes `server.key` and
/// `server.pem` (the certificate, then the CA) in `dir`.
pub fn new_server_certificate(dir: &Path, ca: &SigningCa, names: &Names, now: i64) -> anyhow::Result<()> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names.dns.iter().cloned().collect::<Vec<_>>())?;
    params.subject_alt_names.extend(names.ips.iter().copied().map(SanType::IpAddress));
    params.distinguished_name.push(DnType::CommonName, names.subject.as_str());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, now, (now + days(SERVER_LIFETIME_DAYS)).min(ca.not_after))?;
    // rcgen's issuer: the CA as read back (its name and key identifier), signing with its key.
    let issuer = CertificateParams::from_ca_cert_der(&ca.der)
        .context("reading the local CA certificate")?
        .self_signed(&ca.key)?;
    let certificate = params.signed_by(&key, &issuer, &ca.key)?;
    write_private(&dir.join("server.key"), key.serialize_pem().as_bytes())?;
    write_public(&dir.join("server.pem"), format!("{}{}", certificate.pem(), ca.pem).as_bytes())?;
    Ok(())
}

/// Validity from `now` less [`BACKDATE_SECS`] to `not_after`, with a random serial number
/// (rcgen's default derives it from the key).
fn set_validity(params: &mut CertificateParams, now: i64, not_after: i64) -> anyhow::Result<()> {
    params.not_before = OffsetDateTime::from_unix_timestamp(now - BACKDATE_SECS)?;
    params.not_after = OffsetDateTime::from_unix_timestamp(not_after)?;
    let mut serial = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut serial);
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok(())
}

fn days(count: u64) -> i64 {
    (count * DAY_SECS) as i64
}

/// Written beside, synced, then renamed: a crash leaves the old file or the new one.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&partial)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomically(path, bytes, 0o600)
}

fn write_public(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomically(path, bytes, 0o644)
}
