//! TLS material in `<data>/tls/`: a local CA (`ca.pem`, its key `ca.key` mode 0600) and the
//! server certificate it signs (`server.pem`: the certificate then the CA; `server.key`);
//! practices trust `ca.pem`. An administrator may put a chain of their own in `server.pem` /
//! `server.key` instead: it is served as it is, never replaced, only warned about near its
//! end.
//!
//! The CA is name-constrained to the relay's own names ([`Names::of`]), so that its key, were
//! it stolen, could not vouch for any other site to a practice that trusts it. Lifetimes are
//! finite and taken from the relay's clock: [`CA_LIFETIME_DAYS`] for the CA,
//! [`SERVER_LIFETIME_DAYS`] for a server certificate. [`Certificates`] is every listener's
//! certificate resolver: it renews the server certificate at start and once a day
//! ([`keep_renewed`]) when less than [`RENEW_BEFORE_DAYS`] are left or its names no longer
//! match the configuration, and swaps it in without a restart.
//!
//! A CA is never replaced quietly: a new one means every practice installs it again. The
//! relay warns (log and administrator alert) from [`CA_WARN_BEFORE_DAYS`] before the CA's end
//! and when its key is absent (backups leave `ca.key` out); it makes a new CA only when a
//! server certificate is due and the CA cannot sign it, and says so loudly.
//!
//! - `names.rs`: the names a certificate carries, and what name constraints permit.
//! - `inspect.rs`: certificates read back (x509-parser).
//! - `issue.rs`: certificates made (rcgen).

pub mod acme;
mod inspect;
mod issue;
mod names;
#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use caducee_actors::clock::Clock;
use caducee_storage::{Alert, AlertKind, Millis, Store};
use rcgen::KeyPair;
use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use self::inspect::Inspected;
use self::issue::SigningCa;
pub use self::names::Names;
use crate::config::Config;

/// The local CA's lifetime: five years. Its end means every practice installs a new one.
pub const CA_LIFETIME_DAYS: u64 = 5 * 365 + 1;
/// A server certificate's lifetime: at most 398 days is what browsers accept (CA/Browser
/// Forum Baseline Requirements 6.3.2); one day less leaves room for clocks.
pub const SERVER_LIFETIME_DAYS: u64 = 397;
/// A server certificate with fewer days left than this is renewed.
pub const RENEW_BEFORE_DAYS: u64 = 30;
/// From this many days before the CA's end, the relay warns the administrator.
pub const CA_WARN_BEFORE_DAYS: u64 = 180;
/// How often a running relay looks at its certificates.
pub const CHECK_EVERY: Duration = Duration::from_secs(DAY_SECS);
/// Certificates start this long before they are made, so that a client whose clock runs a
/// little behind accepts a certificate renewed a moment ago.
const BACKDATE_SECS: i64 = 3600;
const DAY_SECS: u64 = 24 * 60 * 60;
/// The local CA's organisation; with [`CA_COMMON_NAME_PREFIX`], how the relay tells the
/// certificates it signed from an administrator's.
const CA_ORGANISATION: &str = "Caducée";
const CA_COMMON_NAME_PREFIX: &str = "Caducée local CA";

/// The served certificate, shared by every listener (SMTP, POP3, LDAP, HTTPS) through
/// rustls' certificate resolver: [`Certificates::reload`] swaps the local CA's for all of
/// them at once, and so does an ACME certificate obtained or renewed ([`acme`]), which is
/// served in its place while it lasts.
#[derive(Debug)]
pub struct Certificates {
    dir: PathBuf,
    names: Names,
    current: RwLock<Arc<CertifiedKey>>,
    /// With `[tls.acme]`: the names ordered, the certificate obtained, and the answers to
    /// pending TLS-ALPN-01 challenges by server name.
    acme_names: Vec<String>,
    acme: RwLock<Option<Arc<CertifiedKey>>>,
    challenges: RwLock<std::collections::HashMap<String, Arc<CertifiedKey>>>,
}

/// What [`Certificates::load`] hands the server.
pub struct Loaded {
    pub certificates: Arc<Certificates>,
    /// TLS 1.2 and 1.3 only, ring's default cipher suites (AEAD with forward secrecy), the
    /// certificate from `certificates`.
    pub server_config: Arc<ServerConfig>,
    /// What the administrator should hear about (already logged).
    pub warnings: Vec<String>,
}

impl Loaded {
    /// Files the warnings found at start as administrator alerts, starts the daily check,
    /// and returns the configuration every listener serves with.
    pub async fn serve(
        self,
        clock: &Arc<dyn Clock>,
        store: &Store,
        acme: Option<acme::AcmeConfig>,
    ) -> Arc<ServerConfig> {
        raise_alerts(store, self.warnings, clock.now()).await;
        if let Some(acme) = acme {
            actix_rt::spawn(acme::keep_issued(self.certificates.clone(), acme, clock.clone(), store.clone()));
        }
        actix_rt::spawn(keep_renewed(self.certificates, clock.clone(), store.clone()));
        self.server_config
    }
}

impl Certificates {
    /// Makes the TLS files on first start, renews the server certificate if it is due (as of
    /// `now`), and loads it.
    pub fn load(data_dir: &Path, config: &Config, now: Millis) -> anyhow::Result<Loaded> {
        let dir = data_dir.join("tls");
        let names = Names::of(config);
        let warnings = maintain(&dir, &names, seconds(now)).context("preparing the TLS certificates")?;
        let current = RwLock::new(certified_key(&dir)?);
        let acme_names = config
            .tls
            .acme
            .as_ref()
            .map(|a| a.names(config.hostname(), config.keys.public_host.as_deref(), &config.domain))
            .unwrap_or_default();
        let saved = if acme_names.is_empty() { None } else { acme::load_saved(&dir, now) };
        let certificates = Arc::new(Certificates {
            dir,
            names,
            current,
            acme_names,
            acme: RwLock::new(saved),
            challenges: RwLock::new(std::collections::HashMap::new()),
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(certificates.clone());
        log(&warnings);
        Ok(Loaded { certificates, server_config: Arc::new(server_config), warnings })
    }

    /// Renews the server certificate if it is due (as of `now`), then serves what
    /// `server.pem` and `server.key` hold from the next handshake on. Returns the warnings
    /// (already logged).
    pub fn reload(&self, now: Millis) -> anyhow::Result<Vec<String>> {
        let warnings = maintain(&self.dir, &self.names, seconds(now))?;
        let key = certified_key(&self.dir)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = key;
        log(&warnings);
        Ok(warnings)
    }
}

impl Certificates {
    /// The certificate served now: the ACME one when there is one, else the local CA's (or
    /// the administrator's).
    fn served(&self) -> Arc<CertifiedKey> {
        let acme = self.acme.read().unwrap_or_else(PoisonError::into_inner).clone();
        acme.unwrap_or_else(|| self.current.read().unwrap_or_else(PoisonError::into_inner).clone())
    }

    fn has_acme(&self) -> bool {
        self.acme.read().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    /// Serves `certified` from the next handshake on, on every listener.
    fn serve_acme(&self, certified: Arc<CertifiedKey>) {
        *self.acme.write().unwrap_or_else(PoisonError::into_inner) = Some(certified);
    }

    fn acme_not_after(&self) -> Option<i64> {
        let acme = self.acme.read().unwrap_or_else(PoisonError::into_inner).clone()?;
        acme.cert.first().and_then(|der| inspect::inspect(der).ok()).map(|leaf| leaf.not_after)
    }

    /// `None` when an ACME certificate should be ordered now (none, near its end, or not for
    /// every configured name); else how long until the next look.
    fn acme_renewal_due(&self, now: Millis) -> Option<Duration> {
        let acme = self.acme.read().unwrap_or_else(PoisonError::into_inner).clone()?;
        let leaf = acme.cert.first().and_then(|der| inspect::inspect(der).ok())?;
        if !self.acme_names.iter().all(|name| leaf.names.dns.contains(name)) {
            return None;
        }
        acme::renewal_wait(Some(leaf.not_after), now)
    }

    fn add_challenge(&self, name: String, answer: Arc<CertifiedKey>) {
        self.challenges.write().unwrap_or_else(PoisonError::into_inner).insert(name.to_ascii_lowercase(), answer);
    }

    fn clear_challenges(&self) {
        self.challenges.write().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// When the served certificate and the local CA end (seconds since the epoch), as
    /// (`served` | `local-ca`, time): what a provider alerts on.
    pub fn expiries(&self) -> Vec<(&'static str, i64)> {
        let mut ends = Vec::new();
        let served = self.served();
        if let Some(leaf) = served.cert.first().and_then(|der| inspect::inspect(der).ok()) {
            ends.push(("served", leaf.not_after));
        }
        let ca = certificates(&self.dir.join("ca.pem")).ok().and_then(|mut chain| chain.drain(..).next());
        if let Some(ca) = ca.and_then(|der| inspect::inspect(&der).ok()) {
            ends.push(("local-ca", ca.not_after));
        }
        ends
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let validation = hello.alpn().is_some_and(|mut protocols| protocols.any(|p| p == acme::ACME_TLS_ALPN));
        if validation {
            // An ACME server validating a name (RFC 8737): its challenge's answer, or nothing.
            let name = hello.server_name()?.to_ascii_lowercase();
            return self.challenges.read().unwrap_or_else(PoisonError::into_inner).get(&name).cloned();
        }
        Some(self.served())
    }
}

/// Looks at the certificates every [`CHECK_EVERY`] for as long as the relay runs, raising
/// what the administrator must hear about as alerts.
async fn keep_renewed(certificates: Arc<Certificates>, clock: Arc<dyn Clock>, store: Store) {
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.tick().await;
    loop {
        every.tick().await;
        let (renewer, now) = (certificates.clone(), clock.now());
        match tokio::task::spawn_blocking(move || renewer.reload(now)).await {
            Ok(Ok(warnings)) => raise_alerts(&store, warnings, now).await,
            Ok(Err(error)) => {
                let text = format!("the TLS certificates could not be renewed: {error:#}");
                tracing::error!("{text}");
                raise_alerts(&store, vec![text], now).await;
            }
            Err(error) => tracing::error!(%error, "the TLS certificate check stopped"),
        }
    }
}

/// Files each warning as an administrator alert (`certificate`, about `tls`).
async fn raise_alerts(store: &Store, warnings: Vec<String>, now: Millis) {
    for text in warnings {
        if let Err(error) = store.raise_alert(Alert::new(AlertKind::Certificate, "tls", &text, now)).await {
            tracing::error!(%error, "could not file a certificate alert");
        }
    }
}

fn log(warnings: &[String]) {
    for warning in warnings {
        tracing::warn!("{warning}");
    }
}

fn seconds(now: Millis) -> i64 {
    (now.0 / 1000) as i64
}

fn days(count: u64) -> i64 {
    (count * DAY_SECS) as i64
}

/// A date for the administrator (UTC).
fn date(seconds: i64) -> String {
    Millis(u64::try_from(seconds).unwrap_or_default().saturating_mul(1000)).utc_date().to_string()
}

/// The local CA as found in `ca.pem`, with its key when `ca.key` holds the matching one.
struct LocalCa {
    certificate: Inspected,
    der: CertificateDer<'static>,
    pem: String,
    key: Option<KeyPair>,
}

impl LocalCa {
    fn read(dir: &Path, warnings: &mut Vec<String>) -> anyhow::Result<Option<LocalCa>> {
        let path = dir.join("ca.pem");
        if !path.exists() {
            return Ok(None);
        }
        let der =
            certificates(&path)?.into_iter().next().with_context(|| format!("no certificate in {}", path.display()))?;
        let pem = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let certificate = inspect::inspect(&der)?;
        let key_path = dir.join("ca.key");
        let key = match fs::read_to_string(&key_path) {
            Ok(text) => Some(KeyPair::from_pem(&text).with_context(|| format!("reading {}", key_path.display()))?),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(error).with_context(|| format!("reading {}", key_path.display())),
        };
        let key = key.filter(|key| {
            let matches = key.public_key_der() == certificate.public_key;
            if !matches {
                warnings.push(format!("{} does not belong to {}: it is not used", key_path.display(), path.display()));
            }
            matches
        });
        Ok(Some(LocalCa { certificate, der, pem, key }))
    }

    /// The CA with its key, if it can sign a certificate that lasts past the renewal window;
    /// otherwise its end and why it cannot.
    fn signing(self, now: i64) -> Result<SigningCa, (i64, String)> {
        match self.key {
            Some(key) if self.certificate.not_after - now >= days(RENEW_BEFORE_DAYS) => {
                Ok(SigningCa { der: self.der, pem: self.pem, key, not_after: self.certificate.not_after })
            }
            Some(_) => Err((self.certificate.not_after, format!("it ends on {}", date(self.certificate.not_after)))),
            None => {
                Err((self.certificate.not_after, "its key tls/ca.key is absent (a backup does not carry it)".into()))
            }
        }
    }
}

/// The server certificate `server.pem` starts with, and whether `server.key` is its key.
struct Served {
    certificate: Inspected,
    der: CertificateDer<'static>,
    key_matches: bool,
}

impl Served {
    fn read(dir: &Path) -> anyhow::Result<Option<Served>> {
        let (chain_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
        if !chain_path.exists() || !key_path.exists() {
            return Ok(None);
        }
        let der = certificates(&chain_path)?
            .into_iter()
            .next()
            .with_context(|| format!("no certificate in {}", chain_path.display()))?;
        let certificate = inspect::inspect(&der)?;
        let key = fs::read_to_string(&key_path).ok().and_then(|text| KeyPair::from_pem(&text).ok());
        let key_matches = key.is_some_and(|key| key.public_key_der() == certificate.public_key);
        Ok(Some(Served { certificate, der, key_matches }))
    }

    /// Why a certificate of ours must be renewed as of `now`, if it must.
    fn renewal_reason(&self, ca: &LocalCa, wanted: &Names, now: i64) -> Option<String> {
        let certificate = &self.certificate;
        if !self.key_matches {
            Some("tls/server.key is not the key of tls/server.pem".into())
        } else if !inspect::signed_by(&self.der, &ca.der) {
            Some("tls/ca.pem did not sign it".into())
        } else if certificate.not_after - now < days(RENEW_BEFORE_DAYS) {
            Some(format!("it ends on {}", date(certificate.not_after)))
        } else if certificate.not_before > now + BACKDATE_SECS {
            Some(format!("it starts on {}, after today", date(certificate.not_before)))
        } else if !certificate.names.same_as(wanted) {
            Some("its names differ from the configuration's".into())
        } else {
            None
        }
    }

    /// An administrator's chain is theirs to renew: a warning near its end.
    fn administrators_warning(&self, now: i64) -> Option<String> {
        let not_after = self.certificate.not_after;
        (not_after - now < days(RENEW_BEFORE_DAYS)).then(|| {
            format!(
                "the server certificate in tls/server.pem (not made by the relay) ends on {}: replace \
                 tls/server.pem and tls/server.key, then restart",
                date(not_after)
            )
        })
    }
}

/// Brings `dir` up to date as of `now`: makes the CA and the server certificate on first
/// start, renews the server certificate when due, and returns what the administrator must
/// hear about.
fn maintain(dir: &Path, names: &Names, now: i64) -> anyhow::Result<Vec<String>> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let served = Served::read(dir)?;
    if let Some(served) = served.as_ref().filter(|s| !s.certificate.issued_by_local_ca) {
        return Ok(served.administrators_warning(now).into_iter().collect());
    }
    let mut warnings = Vec::new();
    let ca = LocalCa::read(dir, &mut warnings)?;
    if let Some(ca) = &ca {
        ca_warnings(ca, served.as_ref(), now, &mut warnings);
    }
    let wanted = names.permitted_by(ca.as_ref().and_then(|ca| ca.certificate.constraints.as_ref()));
    let outside = names.missing_from(&wanted);
    if !outside.is_empty() {
        warnings.push(format!(
            "the local CA (tls/ca.pem) may not vouch for {}, which the configuration names: the server certificate \
             leaves them out; moving tls/ca.pem and tls/ca.key aside and restarting makes a CA that covers them, \
             which every practice must install",
            outside.join(", ")
        ));
    }
    let reason = match (&served, &ca) {
        (None, _) => Some("there is none yet".to_owned()),
        (Some(_), None) => Some("tls/ca.pem is absent".to_owned()),
        (Some(served), Some(ca)) => served.renewal_reason(ca, &wanted, now),
    };
    let Some(reason) = reason else {
        return Ok(warnings);
    };
    let (signing, wanted) = signing_ca(dir, ca, names, wanted, served.is_some(), now, &mut warnings)?;
    issue::new_server_certificate(dir, &signing, &wanted, now)?;
    tracing::info!(%reason, "a new server certificate was signed by the local CA");
    Ok(warnings)
}

/// The CA that signs the due certificate, and the names it may carry: the local CA when it
/// can, otherwise a new one (said loudly, unless this is the relay's first start).
fn signing_ca(
    dir: &Path,
    ca: Option<LocalCa>,
    names: &Names,
    wanted: Names,
    replacing: bool,
    now: i64,
    warnings: &mut Vec<String>,
) -> anyhow::Result<(SigningCa, Names)> {
    let why = match ca.map(|ca| ca.signing(now)) {
        Some(Ok(signing)) => return Ok((signing, wanted)),
        Some(Err((old_end, why))) => {
            let stamp = date(old_end);
            for (name, extension) in [("ca.pem", "pem"), ("ca.key", "key")] {
                let path = dir.join(name);
                if path.exists() {
                    fs::rename(&path, dir.join(format!("ca-replaced-{stamp}.{extension}")))?;
                }
            }
            why
        }
        None => "tls/ca.pem is absent".to_owned(),
    };
    let signing = issue::new_ca(dir, names, now)?;
    if replacing {
        warnings.push(format!(
            "a new local CA was made, as the previous one cannot sign ({why}): every practice must install the \
             new tls/ca.pem (SHA-256 {}), and the old one is no longer served",
            certificate_sha256(&dir.join("ca.pem"))?
        ));
    }
    Ok((signing, names.clone()))
}

/// What the administrator must hear about the local CA: its end approaching, its key
/// absent, names it does not permit, no name constraints at all.
fn ca_warnings(ca: &LocalCa, served: Option<&Served>, now: i64, warnings: &mut Vec<String>) {
    let not_after = ca.certificate.not_after;
    if not_after - now < days(CA_WARN_BEFORE_DAYS) {
        warnings.push(format!(
            "the local CA (tls/ca.pem) ends on {}: the relay then makes a new one, which every practice must \
             install; plan it with them",
            date(not_after)
        ));
    }
    // When the renewal is already due, the new CA it makes is announced instead.
    let renewal = served.map(|s| s.certificate.not_after - days(RENEW_BEFORE_DAYS)).filter(|at| *at > now);
    if let (None, Some(renewal)) = (&ca.key, renewal) {
        warnings.push(format!(
            "the local CA's key tls/ca.key is absent (a backup does not carry it): the server certificate can be \
             served but not renewed; put back tls/ca.key from the original machine before {}, or the relay \
             makes a new CA that every practice must install",
            date(renewal)
        ));
    }
    if ca.certificate.constraints.is_none() {
        warnings.push(
            "the local CA (tls/ca.pem) carries no name constraints (an earlier version made it): it could vouch \
             for any site to the practices that trust it; moving tls/ca.pem and tls/ca.key aside and restarting \
             makes a constrained one, which every practice must install"
                .to_owned(),
        );
    }
}

/// The chain and key in `server.pem` and `server.key`, checked to belong together.
fn certified_key(dir: &Path) -> anyhow::Result<Arc<CertifiedKey>> {
    load_certified_key(&dir.join("server.pem"), &dir.join("server.key"))
}

/// A certificate chain (PEM, end entity first) and its private key, checked to belong
/// together.
pub fn load_certified_key(chain: &Path, key: &Path) -> anyhow::Result<Arc<CertifiedKey>> {
    let chain_der = certificates(chain)?;
    anyhow::ensure!(!chain_der.is_empty(), "no certificate in {}", chain.display());
    let key = private_key(key)?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain_der, key, &provider)
        .with_context(|| format!("loading the certificate {} with its key", chain.display()))?;
    Ok(Arc::new(certified))
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
