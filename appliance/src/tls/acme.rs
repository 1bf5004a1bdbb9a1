//! Public certificates by ACME (RFC 8555, `instant-acme`), so that practices' mail programs,
//! gpg and browsers trust the relay without being handed its local CA. The challenge is
//! TLS-ALPN-01 (RFC 8737), answered on the HTTPS port itself: no port opens for it. While
//! an order is pending, [`super::Certificates`] answers a handshake that asks for the
//! `acme-tls/1` protocol with the challenge's certificate for its server name; every other
//! handshake, on every listener, gets the ACME certificate once there is one, else the
//! local CA's.
//!
//! The account's credentials and the certificate live in `<data>/tls/acme/` (mode 0600):
//! a restart serves the certificate at once. It is renewed from [`RENEW_BEFORE_DAYS`]
//! before its end; a failure is logged and filed as an administrator alert, the relay keeps
//! serving what it has (the last ACME certificate, else the local CA's), and it tries again
//! an hour later, then less often.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use caducee_actors::clock::Clock;
use caducee_storage::{Millis, Store};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};

use super::{days, load_certified_key, seconds, Certificates};

/// The protocol a TLS-ALPN-01 validation asks for (RFC 8737 6.2).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// An ACME certificate with fewer days left than this is renewed (Let's Encrypt's are 90
/// days long: renewed from day 60).
pub const RENEW_BEFORE_DAYS: u64 = 30;
/// After a failure: the first retry's wait, doubled up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(3600);
const RETRY_MAX: Duration = Duration::from_secs(24 * 3600);
/// How long an order's validation and issuance may take.
const ORDER_TIMEOUT: Duration = Duration::from_secs(120);

/// A public certificate from an ACME server (absent: the local CA's alone): where to ask, who
/// to tell, which names (docs/operations/running.md, "Public certificates").
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AcmeConfig {
    /// The ACME server's directory URL (Let's Encrypt's by default).
    pub directory: String,
    /// The address the ACME server writes to about the account (expiry, incidents).
    pub contact: String,
    /// The CA that signs the ACME server's own HTTPS certificate, when it is not a public
    /// one (a private ACME server, a test one).
    pub ca: Option<PathBuf>,
    /// The names the certificate is for (default: the host name, `[keys] public_host` when
    /// it is a name, `autoconfig.` and `openpgpkey.` of the domain). Each must resolve to
    /// this relay.
    pub names: Vec<String>,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            directory: "https://acme-v02.api.letsencrypt.org/directory".into(),
            contact: String::new(),
            ca: None,
            names: Vec::new(),
        }
    }
}

impl AcmeConfig {
    /// The names to order, as configured or by default: the host name, the name bundles
    /// give practices (`[keys] public_host`, when it is a name), `autoconfig.` and
    /// `openpgpkey.` of the domain.
    pub fn names(&self, hostname: &str, public_host: Option<&str>, domain: &str) -> Vec<String> {
        if !self.names.is_empty() {
            return self.names.iter().map(|n| n.to_ascii_lowercase()).collect();
        }
        let public = public_host.filter(|host| host.parse::<std::net::IpAddr>().is_err());
        let labels = ["autoconfig", "openpgpkey"].map(|label| format!("{label}.{domain}"));
        let mut names: Vec<String> = Vec::new();
        for name in [hostname].into_iter().chain(public).chain(labels.iter().map(String::as_str)) {
            let name = name.to_ascii_lowercase();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// What is wrong with the settings, said for the administrator.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.directory.starts_with("https://"), "[tls.acme] directory must be an https:// URL");
        anyhow::ensure!(
            self.contact.contains('@') && !self.contact.contains(char::is_whitespace),
            "[tls.acme] contact must be an e-mail address: the ACME server writes there about the certificates"
        );
        Ok(())
    }
}

/// The account as kept on disk: its credentials and the directory they belong to.
#[derive(Serialize, Deserialize)]
struct SavedAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// The folder of the ACME files.
fn folder(tls_dir: &Path) -> PathBuf {
    tls_dir.join("acme")
}

/// The certificate a previous run obtained, if any and still valid at `now`: an expired
/// one is not served (the local CA's is, while a new one is ordered).
pub fn load_saved(tls_dir: &Path, now: Millis) -> Option<Arc<CertifiedKey>> {
    let dir = folder(tls_dir);
    let (chain, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if !chain.exists() {
        return None;
    }
    let certified = match load_certified_key(&chain, &key) {
        Ok(certified) => certified,
        Err(error) => {
            let error = format!("{error:#}");
            tracing::warn!(error, "the saved ACME certificate does not load: a new one is ordered");
            return None;
        }
    };
    let not_after = certified.cert.first().and_then(|der| super::inspect::inspect(der).ok()).map(|leaf| leaf.not_after);
    if not_after.is_none_or(|end| end <= seconds(now)) {
        tracing::warn!("the saved ACME certificate has ended: the local CA's is served until a new one comes");
        return None;
    }
    Some(certified)
}

/// Obtains and renews the ACME certificate for as long as the relay runs.
pub async fn keep_issued(certificates: Arc<Certificates>, acme: AcmeConfig, clock: Arc<dyn Clock>, store: Store) {
    let mut retry = RETRY_FIRST;
    loop {
        let now = clock.now();
        let wait = match certificates.acme_renewal_due(now) {
            Some(wait) => wait,
            None => match obtain(&certificates, &acme).await {
                Ok(not_after) => {
                    tracing::info!(not_after = super::date(not_after), names = ?certificates.acme_names, "ACME certificate obtained and served");
                    retry = RETRY_FIRST;
                    Duration::ZERO
                }
                Err(error) => {
                    let text = format!(
                        "no ACME certificate from {} ({error:#}); serving {} meanwhile, next try in {} min",
                        acme.directory,
                        if certificates.has_acme() { "the current one" } else { "the local CA's" },
                        retry.as_secs() / 60
                    );
                    // Filed first: whoever reads the log finds the alert there already.
                    super::raise_alerts(&store, vec![text.clone()], now).await;
                    tracing::error!("{text}");
                    let wait = retry;
                    retry = (retry * 2).min(RETRY_MAX);
                    wait
                }
            },
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// When the served ACME certificate is due for renewal: `None` now, else how long until
/// then (at most a day: the next look).
pub fn renewal_wait(not_after: Option<i64>, now: Millis) -> Option<Duration> {
    let renew_at = not_after? - days(RENEW_BEFORE_DAYS);
    let left = renew_at - seconds(now);
    (left > 0).then(|| Duration::from_secs(u64::try_from(left).unwrap_or(0).min(24 * 3600)))
}

/// One order: account, authorizations answered by TLS-ALPN-01, issuance; the new
/// certificate saved and served. Returns its end (seconds since the epoch).
async fn obtain(certificates: &Certificates, acme: &AcmeConfig) -> anyhow::Result<i64> {
    let account = account(&certificates.dir, acme).await?;
    let identifiers: Vec<Identifier> = certificates.acme_names.iter().cloned().map(Identifier::Dns).collect();
    let mut order = account.new_order(&NewOrder::new(&identifiers)).await.context("placing the order")?;
    let answered = answer_challenges(certificates, &mut order).await;
    let ready = match answered {
        Ok(()) => order.poll_ready(&RetryPolicy::new().timeout(ORDER_TIMEOUT)).await.context("validating the names"),
        Err(error) => Err(error),
    };
    certificates.clear_challenges();
    let status = ready?;
    anyhow::ensure!(status == OrderStatus::Ready, "the order is {status:?}: the names were not validated");
    let key_pem = order.finalize().await.context("finalising the order")?;
    let chain_pem = order
        .poll_certificate(&RetryPolicy::new().timeout(ORDER_TIMEOUT))
        .await
        .context("downloading the certificate")?;
    let dir = folder(&certificates.dir);
    write_private(&dir.join("key.pem"), key_pem.as_bytes())?;
    write_private(&dir.join("cert.pem"), chain_pem.as_bytes())?;
    let certified = load_certified_key(&dir.join("cert.pem"), &dir.join("key.pem"))?;
    certificates.serve_acme(certified);
    certificates.acme_not_after().context("reading the new certificate")
}

/// Provisions the TLS-ALPN-01 answer of every pending authorization and tells the server.
async fn answer_challenges(certificates: &Certificates, order: &mut instant_acme::Order) -> anyhow::Result<()> {
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let mut authorization = authorization.context("reading an authorization")?;
        match authorization.status {
            AuthorizationStatus::Valid => continue,
            AuthorizationStatus::Pending => {}
            other => anyhow::bail!("an authorization is {other:?}"),
        }
        let mut challenge = authorization
            .challenge(ChallengeType::TlsAlpn01)
            .context("the ACME server offers no tls-alpn-01 challenge")?;
        let name = challenge.identifier().to_string();
        let answer = challenge_certificate(&name, challenge.key_authorization().digest().as_ref())?;
        certificates.add_challenge(name, answer);
        challenge.set_ready().await.context("telling the ACME server the challenge is ready")?;
    }
    Ok(())
}

/// The self-signed certificate RFC 8737 3 asks for: the name, and the SHA-256 of the key
/// authorization in the critical `id-pe-acmeIdentifier` extension.
fn challenge_certificate(name: &str, digest: &[u8]) -> anyhow::Result<Arc<CertifiedKey>> {
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).context("the challenge's name")?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate().context("a challenge key")?;
    let certificate = params.self_signed(&key).context("the challenge certificate")?;
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| anyhow::anyhow!("the challenge key: {e}"))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key_der).context("the challenge key")?;
    Ok(Arc::new(CertifiedKey::new(vec![certificate.der().clone()], signing)))
}

/// The ACME account: the saved one for this directory, else a new one (saved).
async fn account(tls_dir: &Path, acme: &AcmeConfig) -> anyhow::Result<Account> {
    let builder = || match &acme.ca {
        Some(ca) => Account::builder_with_root(ca).with_context(|| format!("[tls.acme] ca {}", ca.display())),
        None => Account::builder().context("the HTTPS client for the ACME server"),
    };
    let path = folder(tls_dir).join("account.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(saved) = serde_json::from_str::<SavedAccount>(&text) {
            if saved.directory == acme.directory {
                return builder()?.from_credentials(saved.credentials).await.context("the saved ACME account");
            }
        }
    }
    let contact = format!("mailto:{}", acme.contact);
    let new = NewAccount { contact: &[&contact], terms_of_service_agreed: true, only_return_existing: false };
    let (account, credentials) = builder()?
        .create(&new, acme.directory.clone(), None)
        .await
        .with_context(|| format!("creating an account at {}", acme.directory))?;
    let saved = SavedAccount { directory: acme.directory.clone(), credentials };
    write_private(&path, &serde_json::to_vec_pretty(&saved)?)?;
    Ok(account)
}

/// Writes a file readable by the relay's user alone, whole or not at all (the client's
/// writer, in the folder made first).
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("a file in a folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::client::write_private(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_comes_thirty_days_before_the_end_and_is_looked_at_daily() {
        let now = Millis(1_800_000_000_000);
        let end = seconds(now) + days(90);
        assert_eq!(renewal_wait(Some(end), now), Some(Duration::from_secs(24 * 3600)), "60 days to go: look tomorrow");
        assert_eq!(renewal_wait(Some(seconds(now) + days(30) + 60), now), Some(Duration::from_secs(60)));
        assert_eq!(renewal_wait(Some(seconds(now) + days(29)), now), None, "due");
        assert_eq!(renewal_wait(None, now), None, "none yet: order one");
    }

    #[test]
    fn names_default_to_the_host_and_the_clients_names() {
        let acme = AcmeConfig::default();
        assert_eq!(
            acme.names("relay.caducee.test", None, "caducee.test"),
            ["relay.caducee.test", "autoconfig.caducee.test", "openpgpkey.caducee.test"]
        );
        assert_eq!(
            acme.names("relay.caducee.test", Some("mail.caducee.test"), "caducee.test")[1],
            "mail.caducee.test",
            "the name bundles give practices"
        );
        assert_eq!(acme.names("relay.caducee.test", Some("192.0.2.1"), "caducee.test").len(), 3, "not an address");
        assert!(AcmeConfig { contact: "admin@caducee.test".into(), ..acme.clone() }.check().is_ok());
        assert!(acme.check().is_err(), "a contact is needed");
    }
}
