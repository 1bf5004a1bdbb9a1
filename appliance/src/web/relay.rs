//! The certificates the relay publishes for itself — its own certification and signing key,
//! with a user ID such as `Caducée <keys@DOMAIN>` — served by WKD (by the hash of each user
//! ID's local part, in that user ID's domain) and HKP (by address, fingerprint or key ID,
//! subkeys included) exactly as a user's edition is.
//!
//! They are handed to [`super::start`] as sequoia [`Cert`]s (`Web::relay_certificates`;
//! empty when the relay publishes none). They do not change while the relay runs, so what a
//! lookup compares (addresses, fingerprints) is worked out once, here; whether a certificate
//! is expired or revoked is decided at each lookup, with the relay's clock.

use std::time::{Duration, UNIX_EPOCH};

use caducee_storage::{CertificateStatus, Millis};
use sequoia_openpgp::policy::StandardPolicy;
use sequoia_openpgp::serialize::SerializeInto as _;
use sequoia_openpgp::types::RevocationStatus;
use sequoia_openpgp::Cert;

use super::hkp::Edition;

/// The relay's own published certificates, ready for lookups.
#[derive(Debug, Default)]
pub(super) struct RelayKeys {
    certs: Vec<RelayCert>,
}

#[derive(Debug)]
struct RelayCert {
    /// Public parts only.
    cert: Cert,
    /// The transferable public key, binary, as WKD serves it.
    public: Vec<u8>,
    /// Each user ID's address, lower case, as (local part, domain).
    addresses: Vec<(String, String)>,
    /// The fingerprint of every key, primary first, then the subkeys (raw bytes).
    fingerprints: Vec<Vec<u8>>,
}

impl RelayKeys {
    /// Prepares `certs` for lookups. A certificate that cannot be serialised is left out,
    /// with an error in the log: the relay still serves its users' keys.
    pub(super) fn new(certs: &[Cert]) -> RelayKeys {
        let mut prepared = Vec::new();
        for cert in certs {
            // Only public material is ever served, whatever the caller handed over.
            let cert = cert.clone().strip_secret_key_material();
            let public = match cert.to_vec() {
                Ok(public) => public,
                Err(error) => {
                    tracing::error!(%error, fingerprint = %cert.fingerprint(), "the relay's certificate cannot be served");
                    continue;
                }
            };
            let addresses = cert
                .userids()
                .filter_map(|userid| userid.userid().email().ok().flatten().map(str::to_ascii_lowercase))
                .filter_map(|email| email.split_once('@').map(|(local, domain)| (local.to_owned(), domain.to_owned())))
                .collect();
            let fingerprints = cert.keys().map(|key| key.key().fingerprint().as_bytes().to_vec()).collect();
            prepared.push(RelayCert { cert, public, addresses, fingerprints });
        }
        RelayKeys { certs: prepared }
    }

    /// WKD: the binary certificates, not expired at `now`, with a user ID whose domain
    /// `domain_matches` and whose local part hashes to `hash` (and is `local`, when the
    /// client says it).
    pub(super) fn wkd(
        &self,
        domain_matches: impl Fn(&str) -> bool,
        hash: &str,
        local: Option<&str>,
        now: Millis,
    ) -> Vec<u8> {
        let mut body = Vec::new();
        for relay in &self.certs {
            let named = relay.addresses.iter().any(|(address_local, domain)| {
                domain_matches(domain)
                    && super::wkd::wkd_hash(address_local) == hash
                    && local.is_none_or(|l| l.eq_ignore_ascii_case(address_local))
            });
            if named && relay.status(now) != CertificateStatus::Expired {
                body.extend_from_slice(&relay.public);
            }
        }
        body
    }

    /// HKP by address (lower case).
    pub(super) fn by_address(&self, address: &str, now: Millis) -> Vec<Edition> {
        self.editions(|relay| relay.addresses.iter().any(|(local, domain)| format!("{local}@{domain}") == address), now)
    }

    /// HKP by the fingerprint of any of a certificate's keys.
    pub(super) fn by_fingerprint(&self, fingerprint: &[u8], now: Millis) -> Vec<Edition> {
        self.editions(|relay| relay.fingerprints.iter().any(|f| f == fingerprint), now)
    }

    /// HKP by the 64-bit key ID of any of a certificate's keys.
    pub(super) fn by_key_id(&self, key_id: &[u8; 8], now: Millis) -> Vec<Edition> {
        self.editions(|relay| relay.fingerprints.iter().any(|f| crate::directory::key_id(f) == Some(*key_id)), now)
    }

    fn editions(&self, matches: impl Fn(&RelayCert) -> bool, now: Millis) -> Vec<Edition> {
        self.certs.iter().filter(|relay| matches(relay)).map(|relay| relay.edition(now)).collect()
    }
}

impl RelayCert {
    fn status(&self, now: Millis) -> CertificateStatus {
        let policy = StandardPolicy::new();
        let at = UNIX_EPOCH + Duration::from_millis(now.0);
        if matches!(self.cert.revocation_status(&policy, at), RevocationStatus::Revoked(_)) {
            return CertificateStatus::Revoked;
        }
        match self.expires(now) {
            Some(expires) if now >= expires => CertificateStatus::Expired,
            _ if now < self.created() => CertificateStatus::NotYetValid,
            _ => CertificateStatus::Valid,
        }
    }

    fn created(&self) -> Millis {
        to_millis(self.cert.primary_key().key().creation_time())
    }

    /// When the primary key expires, as its self-signature says at `now` (none: never).
    fn expires(&self, now: Millis) -> Option<Millis> {
        let policy = StandardPolicy::new();
        let at = UNIX_EPOCH + Duration::from_millis(now.0);
        let valid = self.cert.with_policy(&policy, at).ok()?;
        valid.primary_key().key_expiration_time().map(to_millis)
    }

    fn edition(&self, now: Millis) -> Edition {
        let key = self.cert.primary_key().key();
        Edition {
            fingerprint: key.fingerprint().to_hex(),
            algorithm: key.pk_algo(),
            bits: key.mpis().bits().unwrap_or(0),
            created: self.created(),
            expires: self.expires(now),
            status: self.status(now),
            addresses: self.addresses.iter().map(|(local, domain)| format!("{local}@{domain}")).collect(),
            public: self.public.clone(),
        }
    }
}

fn to_millis(at: std::time::SystemTime) -> Millis {
    Millis(at.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
}

#[cfg(test)]
mod tests {
    use sequoia_openpgp::cert::{CertBuilder, CipherSuite};
    use sequoia_openpgp::parse::Parse as _;

    use super::*;

    /// 2025-01-01 00:00 UTC: the certificates of these tests are made then, and looked up
    /// in 2026, whatever day the tests run.
    const CREATED: Duration = Duration::from_secs(1_735_689_600);
    const LOOKED_UP: Millis = Millis(1_780_000_000_000);

    fn relay_cert() -> Cert {
        let (cert, _) = CertBuilder::new()
            .set_creation_time(std::time::UNIX_EPOCH + CREATED)
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_userid("Caducée <keys@relay.test>")
            .add_signing_subkey()
            .generate()
            .expect("a certificate");
        cert
    }

    #[test]
    fn a_relay_certificate_is_found_by_wkd_and_hkp_like_a_users() {
        let cert = relay_cert();
        let keys = RelayKeys::new(std::slice::from_ref(&cert));
        let now = LOOKED_UP;
        let hash = super::super::wkd::wkd_hash("keys");

        // WKD: by the local part's hash, in the user ID's domain only; public parts only.
        let served = keys.wkd(|domain| domain == "relay.test", &hash, Some("keys"), now);
        let back = Cert::from_bytes(&served).expect("a certificate");
        assert_eq!(back.fingerprint(), cert.fingerprint());
        assert!(!back.is_tsk(), "no secret key material is served");
        assert!(keys.wkd(|domain| domain == "other.test", &hash, None, now).is_empty());
        assert!(keys.wkd(|_| true, &super::super::wkd::wkd_hash("alice"), None, now).is_empty());

        // HKP: by address, by the fingerprint or key ID of the primary key or a subkey.
        let found = keys.by_address("keys@relay.test", now);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].fingerprint, cert.fingerprint().to_hex());
        assert_eq!(found[0].addresses, ["keys@relay.test"]);
        assert_eq!(found[0].status, CertificateStatus::Valid);
        let subkey = cert.keys().subkeys().next().expect("a subkey").key().fingerprint();
        assert_eq!(keys.by_fingerprint(subkey.as_bytes(), now).len(), 1);
        assert_eq!(keys.by_fingerprint(cert.fingerprint().as_bytes(), now).len(), 1);
        let key_id = crate::directory::key_id(subkey.as_bytes()).expect("a v4 fingerprint");
        assert_eq!(keys.by_key_id(&key_id, now).len(), 1);
        assert!(keys.by_address("alice@relay.test", now).is_empty());
        assert!(keys.by_key_id(&[0; 8], now).is_empty());
        assert!(RelayKeys::default().by_address("keys@relay.test", now).is_empty(), "none by default");
    }
}
