//! Reading certificates back (x509-parser): the served certificate's lifetime, names and
//! issuer, and the local CA's lifetime and name constraints.

use std::net::IpAddr;

use anyhow::Context as _;
use rustls::pki_types::CertificateDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use super::names::{Constraints, Names};
use super::{CA_COMMON_NAME_PREFIX, CA_ORGANISATION};

/// What the relay needs to know of a certificate.
#[derive(Debug, Clone)]
pub struct Inspected {
    /// Validity, in seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// Its subject alternative names.
    pub names: Names,
    /// Issued by a local CA of this relay (by the issuer's name: a CA moved aside still
    /// counts, an administrator's chain never does).
    pub issued_by_local_ca: bool,
    /// Its permitted subtrees, when it carries name constraints (a CA).
    pub constraints: Option<Constraints>,
    /// Its public key (SubjectPublicKeyInfo, DER).
    pub public_key: Vec<u8>,
}

/// Parses one DER certificate.
pub fn inspect(der: &CertificateDer<'_>) -> anyhow::Result<Inspected> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).context("parsing a certificate")?;
    let validity = certificate.validity();
    Ok(Inspected {
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        names: names(&certificate)?,
        issued_by_local_ca: issued_by_local_ca(&certificate),
        constraints: constraints(&certificate)?,
        public_key: certificate.public_key().raw.to_vec(),
    })
}

/// Whether `ca`'s key signed `certificate`.
pub fn signed_by(certificate: &CertificateDer<'_>, ca: &CertificateDer<'_>) -> bool {
    let (Ok((_, certificate)), Ok((_, ca))) =
        (x509_parser::parse_x509_certificate(certificate), x509_parser::parse_x509_certificate(ca))
    else {
        return false;
    };
    certificate.verify_signature(Some(ca.public_key())).is_ok()
}

fn names(certificate: &X509Certificate<'_>) -> anyhow::Result<Names> {
    let mut names = Names::default();
    let subject = certificate.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok());
    names.subject = subject.unwrap_or_default().to_owned();
    let Some(extension) = certificate.subject_alternative_name().context("reading the certificate's names")? else {
        return Ok(names);
    };
    for name in &extension.value.general_names {
        match name {
            GeneralName::DNSName(dns) => names.add(dns),
            GeneralName::IPAddress(bytes) => {
                if let Some(ip) = ip_address(bytes) {
                    names.ips.insert(ip);
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

fn ip_address(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

fn issued_by_local_ca(certificate: &X509Certificate<'_>) -> bool {
    let issuer = certificate.issuer();
    let organisation = issuer.iter_organization().next().and_then(|o| o.as_str().ok());
    let common_name = issuer.iter_common_name().next().and_then(|cn| cn.as_str().ok());
    organisation == Some(CA_ORGANISATION) && common_name.is_some_and(|cn| cn.starts_with(CA_COMMON_NAME_PREFIX))
}

fn constraints(certificate: &X509Certificate<'_>) -> anyhow::Result<Option<Constraints>> {
    let Some(extension) = certificate.name_constraints().context("reading the certificate's name constraints")? else {
        return Ok(None);
    };
    let mut constraints = Constraints::default();
    for subtree in extension.value.permitted_subtrees.iter().flatten() {
        match subtree.base {
            GeneralName::DNSName(dns) => constraints.dns.push(dns.to_owned()),
            GeneralName::IPAddress(bytes) if bytes.len() % 2 == 0 => {
                let (address, mask) = bytes.split_at(bytes.len() / 2);
                constraints.ips.push((address.to_vec(), mask.to_vec()));
            }
            _ => {}
        }
    }
    Ok(Some(constraints))
}
