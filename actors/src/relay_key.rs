//! The relay's own OpenPGP key: what lets a practice tell the relay's messages from
//! forgeries, and every user's certificate from a stranger's.
//!
//! One certificate per relay — a certification-capable Ed25519 primary key and an Ed25519
//! signing subkey, no encryption key (nobody writes to the relay encrypted), user IDs
//! `Caducée <keys@DOMAIN>` and `Caducée <postmaster@DOMAIN>` (the sender of delivery
//! reports) for each mail domain served — generated on the first start and kept
//! with its secret keys in `<data>/keys/relay.pgp` (mode 0600), beside the store's master
//! key and like it outside the store. With it the relay:
//!
//! - certifies the user ID of every edition it issues (a third-party certification), so
//!   that a practice that trusts this one key validates every correspondent's key;
//! - signs what it writes into mailboxes itself: the renewal message (signed, then
//!   encrypted) and delivery status notifications (PGP/MIME, RFC 3156 `multipart/signed`).
//!
//! The key does not expire: it is a trust anchor that practices install once (it travels in
//! every installation bundle), and an expiry would stop every practice's validation on a
//! fixed day unless each fetched an extended certificate. If the secret leaks, the
//! revocation certificate written beside it at creation
//! (`<data>/keys/relay-revocation.asc`) is published, and a new key reaches the practices
//! with their next bundle. Its creation time is back-dated to 1 January of the year before
//! the first start, so that a sweep run "as of" a recent past day still signs with a key
//! that already existed then.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use caducee_storage::{
    Account, AuditAction, AuditDraft, CertificateRecord, CertificateStatus, Fingerprint, Millis, Store,
};
use openpgp::cert::{CertBuilder, CertRevocationBuilder, CipherSuite};
use openpgp::crypto::KeyPair;
use openpgp::packet::signature::SignatureBuilder;
use openpgp::packet::UserID;
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::stream::{Armorer, Message as Stream, Signer};
use openpgp::serialize::MarshalInto;
use openpgp::types::{Features, HashAlgorithm, KeyFlags, ReasonForRevocation, SignatureType};
use openpgp::{Cert, Packet, Profile};
use sequoia_openpgp as openpgp;

use crate::keyvault::KeyVaultError;

/// The relay key's file under the data folder.
pub const RELAY_KEY_FILE: &str = "keys/relay.pgp";
/// Its revocation certificate, written once when the key is made.
pub const RELAY_REVOCATION_FILE: &str = "keys/relay-revocation.asc";
/// The local part of the relay's own address in every domain it serves (renewals).
pub const RELAY_LOCAL_PART: &str = "keys";
/// The local part delivery status notifications come from.
pub const POSTMASTER_LOCAL_PART: &str = "postmaster";
/// The name in the relay key's user IDs.
const RELAY_NAME: &str = "Caducée";
/// The hash the relay signs with (`micalg=pgp-sha256` in PGP/MIME).
pub const SIGNATURE_HASH: HashAlgorithm = HashAlgorithm::SHA256;

fn pgp(error: impl std::fmt::Display) -> KeyVaultError {
    KeyVaultError::OpenPgp(error.to_string())
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyVaultError + '_ {
    move |source| KeyVaultError::File { path: path.to_path_buf(), source }
}

/// The relay's certificate with its secret keys (unencrypted, as the master key is).
#[derive(Clone)]
pub struct RelayKey {
    cert: Cert,
}

impl std::fmt::Debug for RelayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayKey").field("fingerprint", &self.cert.fingerprint().to_hex()).finish()
    }
}

/// The user IDs of the relay key for one mail domain: the relay's own address, and the one
/// its delivery reports come from (so that a mail program finds the signer's address equal
/// to the report's `From:`).
pub fn relay_user_ids(domain: &str) -> [String; 2] {
    [RELAY_LOCAL_PART, POSTMASTER_LOCAL_PART].map(|local| format!("{RELAY_NAME} <{local}@{domain}>"))
}

/// 1 January (UTC) of the year before the one `now` falls in.
fn backdated(now: Millis) -> SystemTime {
    let this_year = crate::keyvault::start_of_year(now);
    let last_year = crate::keyvault::start_of_year(Millis(this_year.0.saturating_sub(1)));
    UNIX_EPOCH + Duration::from_secs(last_year.0 / 1000)
}

impl RelayKey {
    /// Loads `<data>/keys/relay.pgp`, making it on first use (with user IDs for `domains`,
    /// created as of `now`, back-dated); a domain served since gets its user ID added.
    pub fn load_or_create(data_dir: &Path, domains: &[String], now: Millis) -> Result<RelayKey, KeyVaultError> {
        let path = data_dir.join(RELAY_KEY_FILE);
        let key = match std::fs::read(&path) {
            Ok(bytes) => RelayKey::from_secret_bytes(&bytes).map_err(|why| {
                KeyVaultError::Refused(format!(
                    "{} is not the relay's key ({why}); restore it from a backup",
                    path.display()
                ))
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = RelayKey::generate(domains, now)?;
                write_private(&path, &key.cert.as_tsk().to_vec().map_err(pgp)?)?;
                let revocation = key.revocation()?;
                write_private(&data_dir.join(RELAY_REVOCATION_FILE), revocation.as_bytes())?;
                tracing::info!(fingerprint = %key.fingerprint(), "the relay's OpenPGP key was made");
                return Ok(key);
            }
            Err(error) => return Err(file_error(&path)(error)),
        };
        let (key, added) = key.with_domains(domains, now)?;
        if added {
            write_private(&path, &key.cert.as_tsk().to_vec().map_err(pgp)?)?;
        }
        Ok(key)
    }

    /// A new relay key with a user ID per domain, created on 1 January of the year before
    /// `now`.
    pub fn generate(domains: &[String], now: Millis) -> Result<RelayKey, KeyVaultError> {
        let mut builder = CertBuilder::new()
            .set_profile(Profile::RFC4880)
            .map_err(pgp)?
            .set_cipher_suite(CipherSuite::Cv25519)
            .set_features(Features::empty().set_seipdv1())
            .map_err(pgp)?
            .set_creation_time(backdated(now))
            .set_validity_period(None)
            .set_primary_key_flags(KeyFlags::empty().set_certification())
            .add_signing_subkey();
        for domain in domains {
            for uid in relay_user_ids(domain) {
                builder = builder.add_userid(uid);
            }
        }
        let (cert, _) = builder.generate().map_err(pgp)?;
        Ok(RelayKey { cert })
    }

    /// Reads a relay key: a certificate whose primary key may certify and one of whose
    /// subkeys may sign, both with their secrets.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<RelayKey, String> {
        let cert = Cert::from_bytes(bytes).map_err(|e| e.to_string())?;
        let key = RelayKey { cert };
        key.primary_signer().map_err(|e| e.to_string())?;
        key.signing_keypair(key.created()).map_err(|e| e.to_string())?;
        Ok(key)
    }

    /// Adds the user ID of each domain the key lacks; true if it added one.
    fn with_domains(self, domains: &[String], now: Millis) -> Result<(RelayKey, bool), KeyVaultError> {
        let missing: Vec<String> = domains
            .iter()
            .flat_map(|d| relay_user_ids(d))
            .filter(|uid| !self.cert.userids().any(|known| known.userid().value() == uid.as_bytes()))
            .collect();
        if missing.is_empty() {
            return Ok((self, false));
        }
        let mut signer = self.primary_signer()?;
        let at = crate::keyvault::system_time(now).max(self.created());
        let mut packets: Vec<Packet> = Vec::new();
        for uid in missing {
            let uid = UserID::from(uid);
            let binding = SignatureBuilder::new(SignatureType::PositiveCertification)
                .set_signature_creation_time(at)
                .map_err(pgp)?
                .set_key_flags(KeyFlags::empty().set_certification())
                .map_err(pgp)?
                .set_features(Features::empty().set_seipdv1())
                .map_err(pgp)?;
            let binding = uid.bind(&mut signer, &self.cert, binding).map_err(pgp)?;
            packets.push(uid.into());
            packets.push(binding.into());
        }
        let cert = self.cert.insert_packets(packets).map_err(pgp)?.0;
        Ok((RelayKey { cert }, true))
    }

    /// The key's fingerprint (its primary key's).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::from_bytes(self.cert.fingerprint().as_bytes())
    }

    fn created(&self) -> SystemTime {
        self.cert.primary_key().key().creation_time()
    }

    /// The time a signature made "at `at`" carries: never before the key itself.
    pub fn signing_time(&self, at: SystemTime) -> SystemTime {
        at.max(self.created())
    }

    /// The public certificate (no secret).
    pub fn public(&self) -> Cert {
        self.cert.clone().strip_secret_key_material()
    }

    /// The public certificate, binary (what WKD serves).
    pub fn public_bytes(&self) -> Result<Vec<u8>, KeyVaultError> {
        self.public().to_vec().map_err(pgp)
    }

    /// The public certificate, ASCII-armoured (what HKP serves and bundles carry).
    pub fn armored_public(&self) -> Result<String, KeyVaultError> {
        let public = self.public();
        let armoured = public.armored().to_vec().map_err(pgp)?;
        String::from_utf8(armoured).map_err(pgp)
    }

    /// A revocation certificate for the key, armoured, to publish should its secret leak.
    fn revocation(&self) -> Result<String, KeyVaultError> {
        let mut signer = self.primary_signer()?;
        let signature = CertRevocationBuilder::new()
            .set_reason_for_revocation(ReasonForRevocation::KeyCompromised, b"the relay key was exposed")
            .map_err(pgp)?
            .set_signature_creation_time(self.created())
            .map_err(pgp)?
            .build(&mut signer, &self.cert, None)
            .map_err(pgp)?;
        let revoked = self.public().insert_packets(Some(signature)).map_err(pgp)?.0;
        let armoured = revoked.armored().to_vec().map_err(pgp)?;
        String::from_utf8(armoured).map_err(pgp)
    }

    fn primary_signer(&self) -> Result<KeyPair, KeyVaultError> {
        let primary = self.cert.primary_key().key().clone().parts_into_secret().map_err(pgp)?;
        primary.into_keypair().map_err(pgp)
    }

    /// The signing subkey's key pair, as valid at `at`.
    pub(crate) fn signing_keypair(&self, at: SystemTime) -> Result<KeyPair, KeyVaultError> {
        let policy = StandardPolicy::new();
        let key = self
            .cert
            .keys()
            .with_policy(&policy, at)
            .supported()
            .alive()
            .revoked(false)
            .for_signing()
            .secret()
            .next()
            .ok_or_else(|| KeyVaultError::Refused("the relay key has no signing key valid now".into()))?;
        key.key().clone().into_keypair().map_err(pgp)
    }

    /// `user` with a certification by the relay of each of its user IDs, made at `at`.
    pub fn certify(&self, user: Cert, at: SystemTime) -> Result<Cert, KeyVaultError> {
        let mut signer = self.primary_signer()?;
        let at = at.max(self.created());
        let mut certifications: Vec<Packet> = Vec::new();
        for uid in user.userids() {
            let signature = uid
                .userid()
                .certify(&mut signer, &user, SignatureType::GenericCertification, SIGNATURE_HASH, at)
                .map_err(pgp)?;
            certifications.push(signature.into());
        }
        Ok(user.insert_packets(certifications).map_err(pgp)?.0)
    }

    /// `user` with this key's certification of each user ID withdrawn at `at` (a
    /// certification revocation, RFC 9580 §5.2.1.15): how the relay revokes keys a practice
    /// made itself, whose secret keys it never held.
    pub fn withdraw_certification(&self, user: Cert, at: SystemTime, why: &str) -> Result<Cert, KeyVaultError> {
        let mut signer = self.primary_signer()?;
        let at = at.max(self.created());
        let mut withdrawals: Vec<Packet> = Vec::new();
        for uid in user.userids() {
            let signature = SignatureBuilder::new(SignatureType::CertificationRevocation)
                .set_signature_creation_time(at)
                .map_err(pgp)?
                .set_reason_for_revocation(ReasonForRevocation::Unspecified, why.as_bytes())
                .map_err(pgp)?
                .set_hash_algo(SIGNATURE_HASH)
                .sign_userid_binding(&mut signer, user.primary_key().key(), uid.userid())
                .map_err(pgp)?;
            withdrawals.push(signature.into());
        }
        Ok(user.insert_packets(withdrawals).map_err(pgp)?.0)
    }

    /// Whether every user ID of a stored edition carries a certification by this key.
    fn has_certified(&self, record: &CertificateRecord) -> Result<bool, KeyVaultError> {
        let cert = Cert::from_bytes(&record.public).map_err(pgp)?;
        let relay = self.cert.key_handle();
        Ok(cert.userids().all(|uid| {
            uid.certifications().any(|signature| signature.get_issuers().iter().any(|issuer| issuer.aliases(&relay)))
        }))
    }

    /// Adds this key's certification to every published edition still in use that lacks it
    /// (editions issued before the relay had its key), one audited commit each; returns how
    /// many. Run at start, before anything else may write certificates.
    pub async fn certify_published(&self, store: &Store, now: Millis) -> Result<usize, KeyVaultError> {
        let mut certified = 0;
        // A page of accounts at a time: the start of a relay with many accounts does not
        // hold them all.
        for page in store.account_pages() {
            for account in page? {
                certified += self.certify_account(store, &account, now).await?;
            }
        }
        Ok(certified)
    }

    /// [`Self::certify_published`] for one account's editions.
    async fn certify_account(&self, store: &Store, account: &Account, now: Millis) -> Result<usize, KeyVaultError> {
        let mut certified = 0;
        for record in store.certificates(account.id)? {
            let in_use = record.revoked.is_none() && record.status(now) != CertificateStatus::Expired;
            if !in_use || self.has_certified(&record)? {
                continue;
            }
            let cert =
                self.certify(Cert::from_bytes(&record.public).map_err(pgp)?, crate::keyvault::system_time(now))?;
            let detail = format!(
                "edition {}, {}: certified by the relay key {}",
                record.edition,
                record.fingerprint,
                self.fingerprint()
            );
            let audit = AuditDraft::new(
                now,
                "relay",
                "start",
                AuditAction::Update,
                format!("keys of {}", account.address),
                detail,
            );
            let updated = CertificateRecord { public: cert.to_vec().map_err(pgp)?, ..record };
            store.put_certificate(updated, audit).await?;
            certified += 1;
        }
        Ok(certified)
    }

    /// An armoured detached signature of `data` (binary signature: PGP/MIME signs the
    /// part's canonical CRLF form), made at `at`.
    pub fn sign_detached(&self, data: &[u8], at: SystemTime) -> Result<String, KeyVaultError> {
        let at = at.max(self.created());
        let mut armoured = Vec::new();
        let message = Stream::new(&mut armoured);
        let message = Armorer::new(message).kind(openpgp::armor::Kind::Signature).build().map_err(pgp)?;
        let mut signer = Signer::new(message, self.signing_keypair(at)?)
            .map_err(pgp)?
            .hash_algo(SIGNATURE_HASH)
            .map_err(pgp)?
            .creation_time(at)
            .detached()
            .build()
            .map_err(pgp)?;
        signer.write_all(data).map_err(pgp)?;
        signer.finalize().map_err(pgp)?;
        String::from_utf8(armoured).map_err(pgp)
    }
}

/// Writes a file readable by the relay's user only, atomically (temporary file, rename).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyVaultError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(file_error(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(file_error(dir))?;
    }
    let temporary: PathBuf = path.with_extension("partial");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(file_error(&temporary))?;
    file.write_all(bytes).map_err(file_error(&temporary))?;
    file.sync_all().map_err(file_error(&temporary))?;
    std::fs::rename(&temporary, path).map_err(file_error(path))
}

#[cfg(test)]
mod tests;
