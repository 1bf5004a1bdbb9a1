//! The key vault (SPEC R-KEY-1…4): the only code that ever holds a user's secret keys, and
//! only for the moment it takes to issue them.
//!
//! Issuing makes one OpenPGP certificate per edition — a certification-only Ed25519 primary
//! key, an Ed25519 signing subkey and an X25519 encryption subkey, user ID `<address>`,
//! valid until the end of a calendar year (UTC) — and, in the same breath, the revocation
//! signatures the relay may need later. The secret keys leave at once in an installation
//! bundle, encrypted under a random installation code; what stays is the public certificate
//! and those revocations ([`CertificateRecord`]). Nobody can make a new signature with the
//! key afterwards, which is why revocations are prepared up front.
//!
//! Keys are version 4 (RFC 4880 profile) on Curve25519 so that gpg 2.2, found on every
//! practice's Debian or Windows machine, reads them.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::{Actor, Handler, Message, SyncContext};
use caducee_storage::{
    AccountId, Address, CertificateKeys, CertificateRecord, CertificateStatus, Fingerprint, Millis, PreparedRevocation,
    Revocation, RevocationReason, DAY_MILLIS,
};
use openpgp::cert::CertRevocationBuilder;
use openpgp::crypto::{Password, S2K};
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::MarshalInto;
use openpgp::types::{HashAlgorithm, KeyFlags, ReasonForRevocation, SymmetricAlgorithm};
use openpgp::{Cert, KeyHandle, Packet};
use ring::rand::{SecureRandom, SystemRandom};
use sequoia_openpgp as openpgp;

use caducee_client::keys::{CODE_ALPHABET, CODE_CHARS};
use caducee_client::{calendar, keys};

use crate::relay_key::RelayKey;

/// Hash bytes fed to the S2K when the secret keys are encrypted under the installation
/// code. Small on purpose: S2K stretching protects guessable passwords, and the code is
/// 100 random bits — no count would make guessing it any less hopeless, while a large one
/// costs a second per issue and per install.
const S2K_HASH_BYTES: u32 = 1 << 20;

/// Why the key vault did not issue, revoke or describe a certificate.
#[derive(Debug, thiserror::Error)]
pub enum KeyVaultError {
    /// Sequoia refused to build, sign, parse or serialise OpenPGP material.
    #[error("OpenPGP: {0}")]
    OpenPgp(String),
    /// The system's random source failed (installation codes, bundle salts).
    #[error("the system's random source failed")]
    Random,
    /// The request cannot be honoured (an expiry before the creation time, a certificate
    /// already revoked, no revocation prepared for the reason given), said for the
    /// administrator.
    #[error("{0}")]
    Refused(String),
    /// The store could not be read or written (certifying published editions).
    #[error(transparent)]
    Store(#[from] caducee_storage::StoreError),
    /// The key issuer (`[keys] issuer`) could not be reached, or answered what the relay
    /// does not store; said for the administrator.
    #[error("{0}")]
    Issuer(String),
    /// A key file of the relay's could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn pgp(error: impl std::fmt::Display) -> KeyVaultError {
    KeyVaultError::OpenPgp(error.to_string())
}

/// Where the practice reaches the relay; written into every bundle.
pub use caducee_client::bundle::Endpoints;

/// What the vault is asked to issue.
#[derive(Debug, Clone, bincode::Encode, bincode::Decode)]
pub struct IssueRequest {
    pub account: AccountId,
    pub address: Address,
    /// The name shown with the address in the user ID (`Anne Durand <address>`), so that
    /// mail programs show correspondents by name; `None`: the address alone.
    pub name: Option<String>,
    pub edition: u32,
    pub at: Millis,
    pub expires_at: Millis,
    pub endpoints: Endpoints,
    /// The CA certificate (PEM) the practice should trust for the relay's TLS.
    pub ca_pem: String,
}

/// A new edition: the public record the store keeps, the bundle the practice gets, and the
/// installation code, shown once.
#[derive(Debug)]
pub struct Issued {
    pub record: CertificateRecord,
    pub bundle: String,
    pub code: String,
}

impl Message for IssueRequest {
    type Result = Result<Issued, KeyVaultError>;
}

/// The key-vault actor: key generation on its own thread (a `SyncArbiter`), away from the
/// session and accept loops. With the relay's key, every edition it issues is certified by
/// the relay.
#[derive(Debug, Default)]
pub struct KeyVault {
    relay: Option<Arc<RelayKey>>,
}

impl Actor for KeyVault {
    type Context = SyncContext<Self>;
}

impl Handler<IssueRequest> for KeyVault {
    type Result = Result<Issued, KeyVaultError>;

    fn handle(&mut self, request: IssueRequest, _: &mut SyncContext<Self>) -> Self::Result {
        issue_certified(&request, self.relay.as_deref())
    }
}

/// Starts the key vault on its own thread; `relay` certifies what it issues.
pub fn start(relay: Option<Arc<RelayKey>>) -> actix::Addr<KeyVault> {
    actix::SyncArbiter::start(1, move || KeyVault { relay: relay.clone() })
}

/// The first instant of the year after the one `at` falls in (UTC): when keys issued
/// during that year expire (the calendar is the client's, shared with practices).
pub fn end_of_year(at: Millis) -> Millis {
    Millis(calendar::end_of_year(at.0))
}

/// The first instant of the year `at` falls in (UTC).
pub fn start_of_year(at: Millis) -> Millis {
    Millis(calendar::start_of_year(at.0))
}

/// `YYYY-MM-DD` of a time (UTC).
pub fn iso_date(at: Millis) -> String {
    at.utc_date().to_string()
}

/// The expiry of a first issue at `at`: the end of this year, or of the next when fewer than
/// `next_year_within_days` days of this year remain ([`calendar::first_expiry`]).
pub fn first_expiry(at: Millis, next_year_within_days: u64) -> Millis {
    Millis(calendar::first_expiry(at.0, next_year_within_days))
}

/// The expiry of the edition that follows one expiring at `expires_at`: a calendar year
/// later (an edition that expires on 1 January is followed by one valid to the end of that
/// year).
pub fn next_edition_expiry(expires_at: Millis) -> Millis {
    end_of_year(expires_at)
}

/// The expiry of a renewal at `at` of an account holding `editions`: the year after the
/// newest edition still to be used (valid now, or not yet valid), or a first issue's when
/// none is left.
pub fn renewal_expiry(editions: &[CertificateRecord], at: Millis, next_year_within_days: u64) -> Millis {
    editions
        .iter()
        .filter(|c| c.in_use(at))
        .map(|c| c.expires_at)
        .max()
        .map_or_else(|| first_expiry(at, next_year_within_days), next_edition_expiry)
}

/// The expiry of the edition issued at `at` in place of revoked ones that ran to
/// `replaced_until`: a first issue's, and never shorter than what it replaces (a user
/// whose next year's keys were revoked gets a new edition that covers next year too).
pub fn reissue_expiry(at: Millis, replaced_until: Option<Millis>, next_year_within_days: u64) -> Millis {
    first_expiry(at, next_year_within_days).max(replaced_until.unwrap_or(Millis(0)))
}

/// An edition that expires within this many days is pointed out to its user (personal
/// space) and to the administrator (`keys show`).
pub const EXPIRY_WARNING_DAYS: u64 = 30;

/// An edition in use that expires within [`EXPIRY_WARNING_DAYS`], and a certificate as
/// `keys show` reports it: the administration protocol's types, defined there once.
pub use caducee_admin_protocol::{CertificateView, ExpiryWarning};

/// The editions valid at `at` that expire within [`EXPIRY_WARNING_DAYS`], each with the
/// edition that takes over from it, if any.
pub fn expiry_warnings(editions: &[CertificateRecord], at: Millis) -> Vec<ExpiryWarning> {
    editions
        .iter()
        .filter(|c| c.status(at) == CertificateStatus::Valid)
        .filter(|c| c.expires_at.0.saturating_sub(at.0) <= EXPIRY_WARNING_DAYS * DAY_MILLIS)
        .map(|c| ExpiryWarning {
            edition: c.edition,
            fingerprint: c.fingerprint.to_string(),
            expires_at: c.expires_at,
            days_left: c.expires_at.0.saturating_sub(at.0).div_ceil(DAY_MILLIS),
            successor: editions
                .iter()
                .filter(|later| later.in_use(at) && later.expires_at > c.expires_at)
                .max_by_key(|later| (later.expires_at, later.edition))
                .map(|later| later.edition),
        })
        .collect()
}

pub(crate) fn system_time(at: Millis) -> SystemTime {
    // OpenPGP times have one-second resolution.
    UNIX_EPOCH + Duration::from_secs(at.0 / 1000)
}

/// Issues one edition without the relay's certification (tools and tests without a relay
/// key). CPU work (a few milliseconds): call it from the vault's thread.
pub fn issue(request: &IssueRequest) -> Result<Issued, KeyVaultError> {
    issue_certified(request, None)
}

/// Issues one edition; `relay` certifies its user ID and its public certificate goes into
/// the bundle. CPU work (a few milliseconds): call it from the vault's thread.
pub fn issue_certified(request: &IssueRequest, relay: Option<&RelayKey>) -> Result<Issued, KeyVaultError> {
    if request.expires_at.0 / 1000 <= request.at.0 / 1000 {
        return Err(KeyVaultError::Refused("the expiry must come after the creation time".into()));
    }
    let created = system_time(request.at);
    let validity = Duration::from_secs(request.expires_at.0 / 1000 - request.at.0 / 1000);
    let cert = build(userid(&request.address, request.name.as_deref()), created, validity)?;
    let cert = match relay {
        Some(relay) => relay.certify(cert, created)?,
        None => cert,
    };
    let prepared = prepare_revocations(&cert, created)?;

    let code = installation_code()?;
    let locked = lock_secrets(&cert, &code)?;
    let tsk = locked.as_tsk().armored().to_vec().map_err(pgp)?;
    let tsk = String::from_utf8(tsk).map_err(pgp)?;

    let public = cert.clone().strip_secret_key_material();
    let record = CertificateRecord {
        account: request.account,
        edition: request.edition,
        fingerprint: Fingerprint::from_bytes(public.fingerprint().as_bytes()),
        created_at: Millis(request.at.0 / 1000 * 1000),
        expires_at: Millis(request.expires_at.0 / 1000 * 1000),
        revoked: None,
        encryption_keys: encryption_fingerprints(&public),
        public: public.to_vec().map_err(pgp)?,
        prepared_revocations: prepared,
    };
    let bundle = caducee_client::bundle::write(
        &caducee_client::bundle::BundleFields {
            address: request.address.to_string(),
            edition: request.edition,
            fingerprint: record.fingerprint.to_string(),
            expires_at: record.expires_at.0,
            endpoints: request.endpoints.clone(),
            ca_pem: request.ca_pem.clone(),
            secret_keys: tsk,
            relay_certificate: relay.map(RelayKey::armored_public).transpose()?,
        },
        &code,
    )
    .map_err(|error| KeyVaultError::Refused(error.to_string()))?;
    Ok(Issued { record, bundle, code })
}

/// Writes an installation bundle into `folder` (made if missing), mode 0600, never over an
/// existing file, and returns its path. The name carries the fingerprint's end, which tells
/// apart the editions of an address that was closed, removed and subscribed again.
pub fn write_bundle(
    folder: &std::path::Path,
    address: &Address,
    edition: u32,
    fingerprint: &Fingerprint,
    text: &str,
) -> Result<std::path::PathBuf, KeyVaultError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let failed = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| KeyVaultError::File { path, source }
    };
    std::fs::create_dir_all(folder).map_err(failed(folder))?;
    let fingerprint = fingerprint.as_str();
    let short = &fingerprint[fingerprint.len().saturating_sub(8)..];
    let path = folder.join(format!("{address}.{edition}.{short}.caducee-bundle"));
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(failed(&path))?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(failed(&path))?;
    Ok(std::fs::canonicalize(&path).unwrap_or(path))
}

/// What the relay knows when a practice submits a certificate it made itself.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub account: AccountId,
    pub address: Address,
    /// The edition number the certificate will have.
    pub edition: u32,
    pub at: Millis,
    /// The latest expiry the relay accepts now (its yearly policy, [`first_expiry`]).
    pub expires_at_max: Millis,
}

/// Largest certificate a practice may submit.
pub const SUBMITTED_CERTIFICATE_BYTES_MAX: usize = 64 * 1024;

/// A certificate a practice generated itself (its secret keys never left the practice),
/// checked and certified by the relay's key: public material only; every user ID the
/// account's address; alive now, expiring no later than the yearly policy allows; a
/// signing key and an encryption key alive. The relay holds no secret key of it, so no
/// revocation is prepared: revoking it withdraws the relay's certification.
pub fn certify_submitted(
    bytes: &[u8],
    submitted: &Submitted,
    relay: &RelayKey,
) -> Result<CertificateRecord, KeyVaultError> {
    let refused = |why: &str| KeyVaultError::Refused(why.to_owned());
    if bytes.len() > SUBMITTED_CERTIFICATE_BYTES_MAX {
        return Err(refused("the certificate is larger than 64 KiB"));
    }
    let cert =
        Cert::from_bytes(bytes).map_err(|e| KeyVaultError::Refused(format!("not an OpenPGP certificate: {e}")))?;
    if cert.is_tsk() {
        return Err(refused("the certificate carries secret keys: send the public certificate only"));
    }
    let address = submitted.address.as_str();
    let mut userids = cert.userids().peekable();
    if userids.peek().is_none() {
        return Err(refused("the certificate has no user ID"));
    }
    for uid in userids {
        let email = uid.userid().email().ok().flatten().map(str::to_ascii_lowercase);
        if email.as_deref() != Some(address) {
            return Err(KeyVaultError::Refused(format!(
                "every user ID must be the account's address <{address}>; found {:?}",
                String::from_utf8_lossy(uid.userid().value())
            )));
        }
    }
    let policy = StandardPolicy::new();
    let now = system_time(submitted.at);
    let valid = cert
        .with_policy(&policy, now)
        .map_err(|e| KeyVaultError::Refused(format!("the certificate is not valid now: {e}")))?;
    let expires = valid
        .primary_key()
        .key_expiration_time()
        .ok_or_else(|| refused("the certificate must expire: keys are issued for one year at a time"))?;
    let expires_at = Millis(expires.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() * 1000));
    if expires_at > submitted.expires_at_max {
        return Err(KeyVaultError::Refused(format!(
            "the certificate expires after {}, the latest this relay certifies now",
            iso_date(submitted.expires_at_max)
        )));
    }
    if valid.keys().alive().revoked(false).for_signing().next().is_none() {
        return Err(refused("the certificate has no signing key valid now"));
    }
    if valid.keys().alive().revoked(false).for_transport_encryption().next().is_none() {
        return Err(refused("the certificate has no encryption key valid now"));
    }
    let created = cert.primary_key().key().creation_time();
    let created_at = Millis(created.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() * 1000));
    let certified = relay.certify(cert, now)?;
    Ok(CertificateRecord {
        account: submitted.account,
        edition: submitted.edition,
        fingerprint: Fingerprint::from_bytes(certified.fingerprint().as_bytes()),
        created_at,
        expires_at,
        revoked: None,
        encryption_keys: encryption_fingerprints(&certified),
        public: certified.to_vec().map_err(pgp)?,
        prepared_revocations: Vec::new(),
    })
}

/// The name to put in an account's keys: its holder's, unless the account is on the red
/// list (the key servers answer anyone, and a red-listed user is named nowhere public).
pub fn published_name(account: &caducee_storage::Account, red_listed: bool) -> Option<String> {
    (!red_listed).then(|| format!("{} {}", account.first_name, account.last_name))
}

/// The user ID of keys for `address`: `Name <address>`, or `<address>` alone.
pub fn userid(address: &Address, name: Option<&str>) -> String {
    keys::userid(address.as_str(), name)
}

/// A new certificate with its secret keys, in the shape practices' keys have
/// ([`keys::build`]).
fn build(userid: String, created: SystemTime, validity: Duration) -> Result<Cert, KeyVaultError> {
    keys::build(userid, created, validity).map_err(pgp)
}

/// The revocations the relay may need later, signed now while the primary secret key
/// exists: one per reason a user can give.
fn prepare_revocations(cert: &Cert, created: SystemTime) -> Result<Vec<PreparedRevocation>, KeyVaultError> {
    let mut signer = cert.primary_key().key().clone().parts_into_secret().map_err(pgp)?.into_keypair().map_err(pgp)?;
    let mut prepared = Vec::new();
    for (reason, code, text) in [
        (RevocationReason::Compromised, ReasonForRevocation::KeyCompromised, "reported stolen or exposed"),
        (RevocationReason::Lost, ReasonForRevocation::Unspecified, "reported lost"),
    ] {
        let signature = CertRevocationBuilder::new()
            .set_reason_for_revocation(code, text.as_bytes())
            .map_err(pgp)?
            .set_signature_creation_time(created)
            .map_err(pgp)?
            .build(&mut signer, cert, None)
            .map_err(pgp)?;
        prepared.push(PreparedRevocation { reason, signature: Packet::from(signature).to_vec().map_err(pgp)? });
    }
    Ok(prepared)
}

pub use caducee_client::keys::{normalise_code, read_renewal, RENEWAL_TITLE};

/// The message that brings a user next year's keys (SPEC R-KEY-3): the new bundle and its
/// installation code, signed by the relay's key (at `signed_at`) and then OpenPGP-encrypted to the user's
/// current keys — only the holder of this year's keys can read it, the relay keeps nothing
/// it could open, and the practice sees a good signature from the relay, which nobody else
/// can make. Returned as an RFC 5322 message (PGP/MIME, CRLF lines) ready to be stored in
/// the user's mailbox.
pub fn renewal_message(
    current: &[u8],
    issued: &Issued,
    (relay, signed_at): (&RelayKey, Millis),
    from: &str,
    to: &Address,
    at: Millis,
) -> Result<Vec<u8>, KeyVaultError> {
    use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message as Stream, Signer};
    use std::io::Write as _;

    let plaintext = format!(
        "{RENEWAL_TITLE}\nAddress: {to}\nEdition: {}\nFingerprint: {}\nInstallation-Code: {}\n\n\
         Vos clés de l'an prochain. Le client Caducée (caducee client fetch) les installe de lui-même ;\n\
         avec gpg, importez le bloc ci-dessous avec le code ci-dessus.\n\
         Next year's keys. The Caducée client (caducee client fetch) installs them by itself; with gpg,\n\
         import the block below with the code above.\n\n{}",
        issued.record.edition, issued.record.fingerprint, issued.code, issued.bundle
    );
    let cert = Cert::from_bytes(current).map_err(pgp)?;
    let policy = StandardPolicy::new();
    let recipients =
        cert.keys().with_policy(&policy, system_time(at)).supported().alive().revoked(false).for_transport_encryption();
    let mut armoured = Vec::new();
    let message = Stream::new(&mut armoured);
    let message = Armorer::new(message).build().map_err(pgp)?;
    let message = Encryptor::for_recipients(message, recipients).build().map_err(pgp)?;
    let signed_at = relay.signing_time(system_time(signed_at));
    let message = Signer::new(message, relay.signing_keypair(signed_at)?)
        .map_err(pgp)?
        .hash_algo(crate::relay_key::SIGNATURE_HASH)
        .map_err(pgp)?
        .creation_time(signed_at)
        .build()
        .map_err(pgp)?;
    let mut message = LiteralWriter::new(message).build().map_err(pgp)?;
    message.write_all(plaintext.as_bytes()).map_err(pgp)?;
    message.finalize().map_err(pgp)?;
    let armoured = String::from_utf8(armoured).map_err(pgp)?;
    let to = to.to_string();
    let headers = crate::mail::Headers {
        from: (Some(crate::mail::RELAY_NAME), from),
        to: vec![to.as_str()],
        subject: "Nouvelles clés / New keys",
        at: at.0,
    };
    let message = headers
        .builder()
        .header("X-Caducee-Keys", mail_send::mail_builder::headers::raw::Raw::new("renewal"))
        .body(crate::mail::pgp_encrypted_body(&armoured, "caducee-keys"));
    Ok(crate::mail::write(message))
}

/// The raw fingerprints of a certificate's encryption-capable subkeys.
fn encryption_fingerprints(cert: &Cert) -> Vec<Vec<u8>> {
    cert.keys()
        .subkeys()
        .filter(|key| {
            key.self_signatures()
                .next()
                .and_then(|signature| signature.key_flags())
                .is_some_and(|flags| flags.for_transport_encryption() || flags.for_storage_encryption())
        })
        .map(|key| key.key().fingerprint().as_bytes().to_vec())
        .collect()
}

/// Encrypts every secret key of `cert` under `code` (iterated-salted S2K, AES-256, CFB with
/// SHA-1 check: what gpg 2.2 imports).
fn lock_secrets(cert: &Cert, code: &str) -> Result<Cert, KeyVaultError> {
    let password = Password::from(code);
    let s2k = || S2K::new_iterated(HashAlgorithm::SHA256, S2K_HASH_BYTES).map_err(pgp);
    let mut packets: Vec<Packet> = Vec::new();
    let primary = cert.primary_key().key().clone().parts_into_secret().map_err(pgp)?;
    let (public, secret) = primary.take_secret();
    let secret = secret.encrypt_with(&public, s2k()?, SymmetricAlgorithm::AES256, None, &password).map_err(pgp)?;
    packets.push(public.add_secret(secret).0.into());
    for subkey in cert.keys().subkeys().secret() {
        let (public, secret) = subkey.key().clone().take_secret();
        let secret = secret.encrypt_with(&public, s2k()?, SymmetricAlgorithm::AES256, None, &password).map_err(pgp)?;
        packets.push(public.add_secret(secret).0.into());
    }
    Ok(cert.clone().insert_packets(packets).map_err(pgp)?.0)
}

/// A fresh installation code: `XXXXX-XXXXX-XXXXX-XXXXX`, 100 random bits.
fn installation_code() -> Result<String, KeyVaultError> {
    let mut bytes = [0u8; CODE_CHARS];
    SystemRandom::new().fill(&mut bytes).map_err(|_| KeyVaultError::Random)?;
    let mut code = String::with_capacity(CODE_CHARS + 3);
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 && i % 5 == 0 {
            code.push('-');
        }
        code.push(CODE_ALPHABET[usize::from(byte & 31)] as char);
    }
    Ok(code)
}

/// Revokes an edition at `at` with the signature prepared for `reason`: the record to store
/// (its public certificate now carries the revocation).
pub fn revoke(
    record: &CertificateRecord,
    reason: RevocationReason,
    at: Millis,
    relay: Option<&RelayKey>,
) -> Result<CertificateRecord, KeyVaultError> {
    if record.revoked.is_some() {
        return Err(KeyVaultError::Refused(format!("certificate {} is already revoked", record.fingerprint)));
    }
    if record.prepared_revocations.is_empty() {
        // Keys the practice made itself: the relay holds no secret key to revoke them with,
        // and withdraws its certification instead; it publishes them no more as current.
        let relay = relay.ok_or_else(|| {
            KeyVaultError::Refused("keys a practice made are revoked with the relay's key, which is absent".into())
        })?;
        let cert = Cert::from_bytes(&record.public).map_err(pgp)?;
        let cert = relay.withdraw_certification(cert, system_time(at), reason.as_str())?;
        let mut revoked = record.clone();
        revoked.public = cert.to_vec().map_err(pgp)?;
        revoked.revoked = Some(Revocation { at, reason });
        return Ok(revoked);
    }
    let prepared = record
        .prepared_revocations
        .iter()
        .find(|p| p.reason == reason)
        .ok_or_else(|| KeyVaultError::Refused(format!("no {} revocation was prepared", reason.as_str())))?;
    let Packet::Signature(signature) = Packet::from_bytes(&prepared.signature).map_err(pgp)? else {
        return Err(KeyVaultError::Refused("the prepared revocation is not a signature".into()));
    };
    let cert = Cert::from_bytes(&record.public).map_err(pgp)?;
    let (cert, _) = cert.insert_packets(Some(signature)).map_err(pgp)?;
    let mut revoked = record.clone();
    revoked.public = cert.to_vec().map_err(pgp)?;
    revoked.revoked = Some(Revocation { at, reason });
    Ok(revoked)
}

/// The public certificate, ASCII-armoured (what HKP and downloads serve).
pub fn armored(record: &CertificateRecord) -> Result<String, KeyVaultError> {
    let cert = Cert::from_bytes(&record.public).map_err(pgp)?;
    let armored = cert.armored().to_vec().map_err(pgp)?;
    String::from_utf8(armored).map_err(pgp)
}

/// Several public certificates in one armoured block.
pub fn armored_many(records: &[CertificateRecord]) -> Result<String, KeyVaultError> {
    let mut binary = Vec::new();
    for record in records {
        binary.extend_from_slice(&record.public);
    }
    let mut out = Vec::new();
    let mut writer = openpgp::armor::Writer::new(&mut out, openpgp::armor::Kind::PublicKey).map_err(pgp)?;
    std::io::Write::write_all(&mut writer, &binary).map_err(pgp)?;
    writer.finalize().map_err(pgp)?;
    String::from_utf8(out).map_err(pgp)
}

/// Whether a PKESK's recipient handle names the key with this fingerprint. A v4 key ID is
/// the fingerprint's last 8 bytes, a v6 one its first 8.
pub fn names_key(handle: &KeyHandle, fingerprint: &[u8]) -> bool {
    match handle {
        KeyHandle::Fingerprint(named) => named.as_bytes() == fingerprint,
        KeyHandle::KeyID(id) => {
            let id = id.as_bytes();
            match fingerprint.len() {
                20 => &fingerprint[12..] == id,
                32 => &fingerprint[..8] == id,
                _ => false,
            }
        }
    }
}

/// The submission check (SPEC R-MSG-3): when a recipient has a certificate valid at `at`,
/// the message must be encrypted to one of its valid encryption subkeys. `Err` says, for the
/// sender, what the message was encrypted to instead.
pub fn check_recipient_keys(
    certificates: &[CertificateKeys],
    pkesk: &[Option<KeyHandle>],
    at: Millis,
) -> Result<(), String> {
    let valid: Vec<&CertificateKeys> =
        certificates.iter().filter(|c| c.status(at) == CertificateStatus::Valid).collect();
    if valid.is_empty() {
        return Ok(()); // no current key known: nothing to hold the message to
    }
    let names_any = |record: &CertificateKeys| {
        record.encryption_keys.iter().any(|key| pkesk.iter().flatten().any(|handle| names_key(handle, key)))
    };
    if valid.iter().any(|record| names_any(record)) {
        return Ok(());
    }
    let named = certificates.iter().filter(|c| c.status(at) != CertificateStatus::Valid).find(|c| names_any(c));
    let current = valid.iter().map(|c| c.fingerprint.as_str()).collect::<Vec<_>>().join(", ");
    Err(match named.map(|c| (c.status(at), &c.fingerprint)) {
        Some((CertificateStatus::Revoked, old)) => {
            format!("it is encrypted to the revoked key {old}, not to the current key {current}")
        }
        Some((CertificateStatus::Expired, old)) => {
            format!("it is encrypted to the expired key {old}, not to the current key {current}")
        }
        _ if pkesk.iter().all(Option::is_none) => {
            format!("its recipients are hidden, so it cannot be shown to be encrypted to the current key {current}")
        }
        _ => format!("it is encrypted to an unknown key, not to the current key {current}"),
    })
}

/// A certificate as `keys show` reports it, read back from the stored public key.
pub fn describe(record: &CertificateRecord, at: Millis) -> Result<CertificateView, KeyVaultError> {
    use openpgp::types::RevocationStatus;
    let cert = Cert::from_bytes(&record.public).map_err(pgp)?;
    let policy = StandardPolicy::new();
    let subkeys = cert
        .keys()
        .subkeys()
        .map(|key| {
            let flags = key.self_signatures().next().and_then(|s| s.key_flags()).unwrap_or_else(KeyFlags::empty);
            let usage = if flags.for_signing() {
                "sign"
            } else if flags.for_transport_encryption() || flags.for_storage_encryption() {
                "encrypt"
            } else {
                "other"
            };
            (key.key().fingerprint().to_hex(), usage.to_owned())
        })
        .collect();
    let revocation_published = matches!(cert.revocation_status(&policy, None), RevocationStatus::Revoked(_));
    Ok(CertificateView {
        edition: record.edition,
        fingerprint: record.fingerprint.to_string(),
        status: record.status(at),
        created_at: record.created_at,
        expires_at: record.expires_at,
        revoked: record.revoked.clone(),
        revocation_published,
        subkeys,
    })
}

#[cfg(test)]
mod tests;

pub mod issuer;
