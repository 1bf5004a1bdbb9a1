//! The relay port's answers: which operator the certificates a peer presented name, and
//! whether the trust list in force lets it send for a sender's domain.
//!
//! The port's TLS asks for a client certificate but lets the handshake finish whatever is
//! presented (the handshake's signature is still verified: the peer holds the key of the
//! certificate it shows). The chain is verified against the trust space's CA bundle when
//! the peer says `MAIL FROM`, so that "no certificate" and "unknown authority" reach its
//! postmaster as SMTP replies, not as a TLS alert nobody reads.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use caducee_actors::clock::Clock;
use caducee_actors::session::{OperatorCheck, Operators};
use caducee_storage::{Address, Millis, Store};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme};

use super::trust::{OperatorName, TrustList, Unbound};

/// The trust space as the relay port sees it: its authority and the list in force.
pub struct TrustSpace {
    store: Store,
    clock: Arc<dyn Clock>,
    /// Verifies a presented chain against the trust space's CA bundle.
    authority: Arc<dyn ClientCertVerifier>,
    /// The bundle's certificates, for the outbound deliveries' server verification.
    roots: Arc<RootCertStore>,
    /// The list last read, with when it was imported: read again when that changes.
    list: Mutex<Option<(Millis, Arc<TrustList>)>>,
}

impl std::fmt::Debug for TrustSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustSpace").finish_non_exhaustive()
    }
}

impl TrustSpace {
    /// The trust space of the CA bundle `bundle_pem`, its list read from `store`.
    pub fn new(store: Store, clock: Arc<dyn Clock>, bundle_pem: &[u8]) -> anyhow::Result<TrustSpace> {
        let roots = Arc::new(roots(bundle_pem)?);
        Ok(TrustSpace { store, clock, authority: authority(roots.clone())?, roots, list: Mutex::new(None) })
    }

    /// The relay port's TLS: this operator's certificate from the trust space (`identity`),
    /// else the relay's own (`served`: the same resolver as every listener); a client
    /// certificate asked for and checked at `MAIL FROM`.
    pub fn server_config(
        &self,
        served: &ServerConfig,
        identity: Option<Arc<CertifiedKey>>,
    ) -> anyhow::Result<Arc<ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let resolver: Arc<dyn rustls::server::ResolvesServerCert> = match identity {
            Some(identity) => Arc::new(OperatorCertificate(identity)),
            None => served.cert_resolver.clone(),
        };
        let config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_client_cert_verifier(Arc::new(Presented { authority: self.authority.clone() }))
            .with_cert_resolver(resolver);
        Ok(Arc::new(config))
    }

    /// The trust space's certificate authorities.
    pub fn roots(&self) -> Arc<RootCertStore> {
        self.roots.clone()
    }

    /// The list in force, read again only when a new one was imported.
    pub fn list(&self) -> anyhow::Result<Option<Arc<TrustList>>> {
        let Some(record) = self.store.trust_list()? else {
            return Ok(None);
        };
        let mut cached = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((imported_at, list)) = cached.as_ref() {
            if *imported_at == record.imported_at {
                return Ok(Some(list.clone()));
            }
        }
        let list = Arc::new(TrustList::parse(&record.xml).context("the trust list in force no longer reads")?);
        *cached = Some((record.imported_at, list.clone()));
        Ok(Some(list))
    }
}

impl Operators for TrustSpace {
    fn check(&self, certificates: &[CertificateDer<'static>], sender: Option<&Address>) -> OperatorCheck {
        let Some((end_entity, intermediates)) = certificates.split_first() else {
            return OperatorCheck::Refused(
                "no client certificate was presented: operators relay with their certificate from the trust \
                 space's authority"
                    .into(),
            );
        };
        let now = UnixTime::since_unix_epoch(Duration::from_millis(self.clock.now().0));
        if let Err(error) = self.authority.verify_client_cert(end_entity, intermediates, now) {
            return OperatorCheck::Refused(format!(
                "the certificate presented is not one of the trust space's authority ({error})"
            ));
        }
        let Some(subject) = subject(end_entity) else {
            return OperatorCheck::Refused("the certificate presented has no readable subject".into());
        };
        let list = match self.list() {
            Ok(Some(list)) => list,
            Ok(None) => return OperatorCheck::Refused("this operator has no trust list in force yet".into()),
            Err(error) => {
                tracing::error!(%error, "reading the trust list");
                return OperatorCheck::TryLater;
            }
        };
        let Some(sender) = sender else {
            // The null sender: a delivery status notification, from any operator of the list.
            return match list.domains().find(|d| d.admits(&subject)) {
                Some(bound) => OperatorCheck::Bound { operator: subject.to_string(), domain: bound.name.clone() },
                None => OperatorCheck::Refused(format!(
                    "the certificate's subject ({subject}) is bound to no domain of the trust list"
                )),
            };
        };
        let domain = sender.domain();
        match list.check(domain, &subject) {
            Ok(()) => OperatorCheck::Bound { operator: subject.to_string(), domain: domain.to_owned() },
            Err(Unbound::DomainNotListed) => OperatorCheck::Refused(format!("{domain} is not in the trust list")),
            Err(Unbound::SubjectNotBound) => OperatorCheck::Refused(format!(
                "the certificate's subject ({subject}) is not bound to {domain} in the trust list"
            )),
        }
    }
}

/// The subject of a DER certificate, as the trust list names operators.
pub fn subject(certificate: &CertificateDer<'_>) -> Option<OperatorName> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    let attributes = parsed.subject().iter_attributes().filter_map(|attribute| {
        let key = x509_parser::objects::oid2abbrev(attribute.attr_type(), x509_parser::objects::oid_registry()).ok()?;
        Some((key.to_owned(), attribute.as_str().ok()?.to_owned()))
    });
    let name = OperatorName::from_attributes(attributes.collect::<Vec<_>>());
    name.attributes.iter().any(|(key, _)| key == "CN").then_some(name)
}

/// This operator's certificate from the trust space, whatever name the peer asks for.
#[derive(Debug)]
struct OperatorCertificate(Arc<CertifiedKey>);

impl rustls::server::ResolvesServerCert for OperatorCertificate {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// The certificates of the trust space's CA bundle.
fn roots(bundle_pem: &[u8]) -> anyhow::Result<RootCertStore> {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(bundle_pem) {
        roots.add(certificate.context("reading the trust space's CA bundle")?).context("a CA of the bundle")?;
    }
    anyhow::ensure!(!roots.is_empty(), "the trust space's CA bundle holds no certificate");
    Ok(roots)
}

/// The trust space's authority as a client-certificate verifier.
fn authority(roots: Arc<RootCertStore>) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    WebPkiClientVerifier::builder_with_provider(roots, provider)
        .allow_unauthenticated()
        .build()
        .context("the trust space's CA bundle")
}

/// Lets the handshake finish with whatever certificate is presented (its signature
/// verified), leaving the chain to [`TrustSpace::check`].
#[derive(Debug)]
struct Presented {
    authority: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for Presented {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.authority.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.authority.verify_tls12_signature(message, certificate, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.authority.verify_tls13_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.authority.supported_verify_schemes()
    }
}
