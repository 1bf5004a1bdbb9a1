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

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::{Actor, Handler, Message, SyncContext};
use caducee_storage::{
    AccountId, Address, CertificateRecord, CertificateStatus, Millis, PreparedRevocation, Revocation, RevocationReason,
};
use openpgp::cert::{CertBuilder, CertRevocationBuilder, CipherSuite};
use openpgp::crypto::{Password, S2K};
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::MarshalInto;
use openpgp::types::{Features, HashAlgorithm, KeyFlags, ReasonForRevocation, SymmetricAlgorithm};
use openpgp::{Cert, KeyHandle, Packet, Profile};
use ring::rand::{SecureRandom, SystemRandom};
use sequoia_openpgp as openpgp;

/// Hash bytes fed to the S2K when the secret keys are encrypted under the installation
/// code. Small on purpose: S2K stretching protects guessable passwords, and the code is
/// 100 random bits — no count would make guessing it any less hopeless, while a large one
/// costs a second per issue and per install.
const S2K_HASH_BYTES: u32 = 1 << 20;
/// Characters of an installation code: Crockford's base32 (no I, L, O, U).
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// 20 characters × 5 bits = 100 bits, shown as four groups of five.
const CODE_CHARS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum KeyVaultError {
    #[error("OpenPGP: {0}")]
    OpenPgp(String),
    #[error("the system's random source failed")]
    Random,
    #[error("{0}")]
    Refused(String),
}

fn pgp(error: impl std::fmt::Display) -> KeyVaultError {
    KeyVaultError::OpenPgp(error.to_string())
}

/// Where the practice reaches the relay; written into every bundle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoints {
    /// The host name the relay's TLS certificate carries.
    pub host: String,
    /// SMTP submission over implicit TLS.
    pub submissions_port: u16,
    /// POP3 over implicit TLS.
    pub pop3s_port: u16,
    /// HTTPS: key discovery (HKP, WKD), directory, personal space.
    pub https_port: u16,
}

/// What the vault is asked to issue.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    pub account: AccountId,
    pub address: Address,
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
/// session and accept loops.
#[derive(Debug, Default)]
pub struct KeyVault;

impl Actor for KeyVault {
    type Context = SyncContext<Self>;
}

impl Handler<IssueRequest> for KeyVault {
    type Result = Result<Issued, KeyVaultError>;

    fn handle(&mut self, request: IssueRequest, _: &mut SyncContext<Self>) -> Self::Result {
        issue(&request)
    }
}

/// Starts the key vault on its own thread.
pub fn start() -> actix::Addr<KeyVault> {
    actix::SyncArbiter::start(1, || KeyVault)
}

/// One day, in milliseconds.
const DAY: u64 = 86_400_000;

/// The first instant of the year after the one `at` falls in (UTC): when keys issued
/// during that year expire.
pub fn end_of_year(at: Millis) -> Millis {
    let year = civil_year(at);
    Millis(days_from_civil(year + 1, 1, 1) as u64 * DAY)
}

/// `YYYY-MM-DD` of a time (UTC).
pub fn iso_date(at: Millis) -> String {
    let year = civil_year(at);
    let mut days_left = (at.0 / DAY) as i64 - days_from_civil(year, 1, 1);
    let mut month = 1;
    while month < 12 && days_from_civil(year, month + 1, 1) - days_from_civil(year, month, 1) <= days_left {
        days_left -= days_from_civil(year, month + 1, 1) - days_from_civil(year, month, 1);
        month += 1;
    }
    format!("{year:04}-{month:02}-{:02}", days_left + 1)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm); written
/// here because this crate keeps to the clock-free standard library.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_year(at: Millis) -> i64 {
    let days = (at.0 / DAY) as i64;
    // The year is the one whose 1 January is the last not after `days`.
    let mut year = 1970 + days / 366;
    while days_from_civil(year + 1, 1, 1) <= days {
        year += 1;
    }
    year
}

/// The expiry of a first issue at `at`: the end of this year, or of the next when fewer than
/// `next_year_within_days` days of this year remain, so that a practice that subscribes in
/// the autumn does not install a second bundle weeks after its first.
pub fn first_expiry(at: Millis, next_year_within_days: u64) -> Millis {
    let end = end_of_year(at);
    if end.0.saturating_sub(at.0) < next_year_within_days.saturating_mul(DAY) {
        end_of_year(end)
    } else {
        end
    }
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

/// An edition in use that expires within [`EXPIRY_WARNING_DAYS`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExpiryWarning {
    pub edition: u32,
    pub fingerprint: String,
    pub expires_at: Millis,
    /// Days left, counted up: a key that expires in three hours has one day left.
    pub days_left: u64,
    /// The newest edition that stays valid after this one, when one is issued.
    pub successor: Option<u32>,
}

/// The editions valid at `at` that expire within [`EXPIRY_WARNING_DAYS`], each with the
/// edition that takes over from it, if any.
pub fn expiry_warnings(editions: &[CertificateRecord], at: Millis) -> Vec<ExpiryWarning> {
    editions
        .iter()
        .filter(|c| c.status(at) == CertificateStatus::Valid)
        .filter(|c| c.expires_at.0.saturating_sub(at.0) <= EXPIRY_WARNING_DAYS * DAY)
        .map(|c| ExpiryWarning {
            edition: c.edition,
            fingerprint: c.fingerprint.clone(),
            expires_at: c.expires_at,
            days_left: c.expires_at.0.saturating_sub(at.0).div_ceil(DAY),
            successor: editions
                .iter()
                .filter(|later| later.in_use(at) && later.expires_at > c.expires_at)
                .max_by_key(|later| (later.expires_at, later.edition))
                .map(|later| later.edition),
        })
        .collect()
}

fn system_time(at: Millis) -> SystemTime {
    // OpenPGP times have one-second resolution.
    UNIX_EPOCH + Duration::from_secs(at.0 / 1000)
}

/// Issues one edition. CPU work (a few milliseconds): call it from the vault's thread.
pub fn issue(request: &IssueRequest) -> Result<Issued, KeyVaultError> {
    if request.expires_at.0 / 1000 <= request.at.0 / 1000 {
        return Err(KeyVaultError::Refused("the expiry must come after the creation time".into()));
    }
    let created = system_time(request.at);
    let validity = Duration::from_secs(request.expires_at.0 / 1000 - request.at.0 / 1000);
    let (cert, _unspecified) = CertBuilder::new()
        .set_profile(Profile::RFC4880)
        .map_err(pgp)?
        .set_cipher_suite(CipherSuite::Cv25519)
        // SEIPD version 1 (with MDC) only: gpg 2.2 reads nothing newer, so no sender may
        // choose version 2 for these keys.
        .set_features(Features::empty().set_seipdv1())
        .map_err(pgp)?
        .set_creation_time(created)
        .set_validity_period(validity)
        .set_primary_key_flags(KeyFlags::empty().set_certification())
        .add_userid(format!("<{}>", request.address))
        .add_signing_subkey()
        .add_subkey(KeyFlags::empty().set_transport_encryption().set_storage_encryption(), None, None)
        .generate()
        .map_err(pgp)?;

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
            .build(&mut signer, &cert, None)
            .map_err(pgp)?;
        prepared.push(PreparedRevocation { reason, signature: Packet::from(signature).to_vec().map_err(pgp)? });
    }
    drop(signer);

    let code = installation_code()?;
    let locked = lock_secrets(&cert, &code)?;
    let tsk = locked.as_tsk().armored().to_vec().map_err(pgp)?;
    let tsk = String::from_utf8(tsk).map_err(pgp)?;

    let public = cert.clone().strip_secret_key_material();
    let record = CertificateRecord {
        account: request.account,
        edition: request.edition,
        fingerprint: public.fingerprint().to_hex(),
        created_at: Millis(request.at.0 / 1000 * 1000),
        expires_at: Millis(request.expires_at.0 / 1000 * 1000),
        revoked: None,
        encryption_keys: encryption_fingerprints(&public),
        public: public.to_vec().map_err(pgp)?,
        prepared_revocations: prepared,
    };
    let bundle = crate::bundle::write(
        &crate::bundle::BundleFields {
            address: request.address.to_string(),
            edition: request.edition,
            fingerprint: record.fingerprint.clone(),
            expires_at: record.expires_at,
            endpoints: request.endpoints.clone(),
            ca_pem: request.ca_pem.clone(),
            secret_keys: tsk,
        },
        &code,
    )?;
    Ok(Issued { record, bundle, code })
}

/// The first line of the plaintext of a renewal message.
pub const RENEWAL_TITLE: &str = "Caducée key renewal";

/// The message that brings a user next year's keys (SPEC R-KEY-3): the new bundle and its
/// installation code, OpenPGP-encrypted to the user's current keys — only the holder of
/// this year's keys can read it, and the relay keeps nothing it could open. Returned as an
/// RFC 5322 message (PGP/MIME, CRLF lines) ready to be stored in the user's mailbox.
pub fn renewal_message(
    current: &CertificateRecord,
    issued: &Issued,
    from: &str,
    to: &Address,
    at: Millis,
) -> Result<Vec<u8>, KeyVaultError> {
    use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message as Stream};
    use std::io::Write as _;

    let plaintext = format!(
        "{RENEWAL_TITLE}\nAddress: {to}\nEdition: {}\nFingerprint: {}\nInstallation-Code: {}\n\n\
         Vos clés de l'an prochain. Le client Caducée (caducee client fetch) les installe de lui-même ;\n\
         avec gpg, importez le bloc ci-dessous avec le code ci-dessus.\n\
         Next year's keys. The Caducée client (caducee client fetch) installs them by itself; with gpg,\n\
         import the block below with the code above.\n\n{}",
        issued.record.edition, issued.record.fingerprint, issued.code, issued.bundle
    );
    let cert = Cert::from_bytes(&current.public).map_err(pgp)?;
    let policy = StandardPolicy::new();
    let recipients =
        cert.keys().with_policy(&policy, system_time(at)).supported().alive().revoked(false).for_transport_encryption();
    let mut armoured = Vec::new();
    let message = Stream::new(&mut armoured);
    let message = Armorer::new(message).build().map_err(pgp)?;
    let message = Encryptor::for_recipients(message, recipients).build().map_err(pgp)?;
    let mut message = LiteralWriter::new(message).build().map_err(pgp)?;
    message.write_all(plaintext.as_bytes()).map_err(pgp)?;
    message.finalize().map_err(pgp)?;
    let armoured = String::from_utf8(armoured).map_err(pgp)?.replace('\n', "\r\n");
    let date = httpdate::fmt_http_date(system_time(at));
    Ok(format!(
        "From: Caducee <{from}>\r\nTo: <{to}>\r\nDate: {date}\r\nSubject: Nouvelles cles / New keys\r\n\
         X-Caducee-Keys: renewal\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"caducee-keys\"\r\n\r\n\
         --caducee-keys\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n\
         --caducee-keys\r\nContent-Type: application/octet-stream\r\n\r\n{armoured}\r\n--caducee-keys--\r\n"
    )
    .into_bytes())
}

/// A renewal message's plaintext, read back: (installation code, bundle text).
pub fn read_renewal(plaintext: &str) -> Option<(String, String)> {
    let rest = plaintext.strip_prefix(RENEWAL_TITLE)?;
    let code = rest.lines().find_map(|line| line.strip_prefix("Installation-Code: "))?.trim().to_owned();
    let start = rest.find("Caducée installation bundle\n")?;
    Some((code, rest[start..].to_owned()))
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

/// A typed installation code in its canonical form: upper case, groups of five, the
/// look-alikes O/I/L read as 0/1/1, spaces and dashes anywhere. `None` if it cannot be one.
pub fn normalise_code(typed: &str) -> Option<String> {
    let mut chars = String::with_capacity(CODE_CHARS);
    for c in typed.chars() {
        let c = match c.to_ascii_uppercase() {
            ' ' | '-' | '\t' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c if CODE_ALPHABET.contains(&(c as u8)) && c.is_ascii() => c,
            _ => return None,
        };
        chars.push(c);
    }
    if chars.len() != CODE_CHARS {
        return None;
    }
    let groups: Vec<&str> = (0..4).map(|i| &chars[i * 5..i * 5 + 5]).collect();
    Some(groups.join("-"))
}

/// Revokes an edition at `at` with the signature prepared for `reason`: the record to store
/// (its public certificate now carries the revocation).
pub fn revoke(
    record: &CertificateRecord,
    reason: RevocationReason,
    at: Millis,
) -> Result<CertificateRecord, KeyVaultError> {
    if record.revoked.is_some() {
        return Err(KeyVaultError::Refused(format!("certificate {} is already revoked", record.fingerprint)));
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
    certificates: &[CertificateRecord],
    pkesk: &[Option<KeyHandle>],
    at: Millis,
) -> Result<(), String> {
    let valid: Vec<&CertificateRecord> =
        certificates.iter().filter(|c| c.status(at) == CertificateStatus::Valid).collect();
    if valid.is_empty() {
        return Ok(()); // no current key known: nothing to hold the message to
    }
    let names_any = |record: &CertificateRecord| {
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
        fingerprint: record.fingerprint.clone(),
        status: record.status(at),
        created_at: record.created_at,
        expires_at: record.expires_at,
        revoked: record.revoked.clone(),
        revocation_published,
        subkeys,
    })
}

/// A certificate as `keys show` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertificateView {
    pub edition: u32,
    pub fingerprint: String,
    pub status: CertificateStatus,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub revoked: Option<Revocation>,
    /// The public certificate served carries the revocation signature.
    pub revocation_published: bool,
    /// (fingerprint, "sign" | "encrypt")
    pub subkeys: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An instant given as a UTC calendar date and time.
    fn utc(year: i64, month: i64, day: i64, hour: u64, minute: u64, second: u64) -> Millis {
        Millis(days_from_civil(year, month, day) as u64 * DAY + (hour * 3600 + minute * 60 + second) * 1000)
    }

    #[test]
    fn year_boundaries() {
        let at = utc(2026, 11, 26, 0, 0, 0);
        assert_eq!(at, Millis(1_795_651_200_000));
        assert_eq!(civil_year(at), 2026);
        assert_eq!(end_of_year(at), Millis(1_798_761_600_000)); // 2027-01-01T00:00:00Z
        assert_eq!(end_of_year(Millis(1_798_761_600_000 - 1)), Millis(1_798_761_600_000));
        assert_eq!(civil_year(Millis(1_798_761_600_000)), 2027);
        // 2024 is a leap year: 2024-12-31 is day 366.
        assert_eq!(days_from_civil(2025, 1, 1) - days_from_civil(2024, 1, 1), 366);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(iso_date(at), "2026-11-26");
        assert_eq!(iso_date(Millis(1_798_761_600_000 - 1)), "2026-12-31");
        assert_eq!(iso_date(Millis(1_798_761_600_000)), "2027-01-01");
        assert_eq!(iso_date(utc(2024, 2, 29, 12, 0, 0)), "2024-02-29");
        assert_eq!(iso_date(utc(2028, 2, 29, 23, 59, 59)), "2028-02-29");
        assert_eq!(iso_date(utc(2028, 3, 1, 0, 0, 0)), "2028-03-01");
        assert_eq!(end_of_year(utc(2028, 2, 29, 12, 0, 0)), utc(2029, 1, 1, 0, 0, 0));
    }

    proptest::proptest! {
        /// The calendar arithmetic agrees with chrono's on every day from 1970 to 2200.
        #[test]
        fn calendar_agrees_with_chrono(millis in 0u64..7_258_118_400_000) {
            let chrono = chrono::DateTime::from_timestamp_millis(millis as i64).expect("in range");
            proptest::prop_assert_eq!(iso_date(Millis(millis)), chrono.format("%Y-%m-%d").to_string());
            let next = chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&chrono) + 1, 1, 1).expect("date");
            let next = next.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis() as u64;
            proptest::prop_assert_eq!(end_of_year(Millis(millis)), Millis(next));
        }
    }

    #[test]
    fn a_first_issue_late_in_the_year_runs_to_the_end_of_the_next() {
        let end_2026 = utc(2027, 1, 1, 0, 0, 0);
        let end_2027 = utc(2028, 1, 1, 0, 0, 0);
        // 29 November: 33 days left, fewer than 90: valid to the end of next year, not for a month.
        assert_eq!(first_expiry(utc(2026, 11, 29, 10, 0, 0), 90), end_2027);
        assert_eq!(first_expiry(utc(2026, 12, 20, 9, 0, 0), 90), end_2027);
        assert_eq!(first_expiry(utc(2026, 12, 31, 23, 59, 30), 90), end_2027);
        // The boundary: exactly 90 days left runs to this year's end; one second less, to next.
        let ninety_days_before = Millis(end_2026.0 - 90 * DAY);
        assert_eq!(iso_date(ninety_days_before), "2026-10-03");
        assert_eq!(first_expiry(ninety_days_before, 90), end_2026);
        assert_eq!(first_expiry(Millis(ninety_days_before.0 + 1000), 90), end_2027);
        // Early in the year: this year's end.
        assert_eq!(first_expiry(utc(2026, 6, 15, 12, 0, 0), 90), end_2026);
        assert_eq!(first_expiry(utc(2027, 1, 1, 0, 0, 30), 90), end_2027);
        assert_eq!(first_expiry(utc(2028, 2, 29, 12, 0, 0), 90), utc(2029, 1, 1, 0, 0, 0));
        // 0 days: always this year's end.
        assert_eq!(first_expiry(utc(2026, 12, 31, 23, 59, 59), 0), end_2026);
    }

    fn edition(edition: u32, created_at: Millis, expires_at: Millis) -> CertificateRecord {
        CertificateRecord {
            account: AccountId(1),
            edition,
            fingerprint: format!("{edition:040X}"),
            created_at,
            expires_at,
            revoked: None,
            encryption_keys: Vec::new(),
            public: Vec::new(),
            prepared_revocations: Vec::new(),
        }
    }

    #[test]
    fn a_renewal_follows_the_newest_edition_in_use() {
        let end_2026 = utc(2027, 1, 1, 0, 0, 0);
        let end_2027 = utc(2028, 1, 1, 0, 0, 0);
        let end_2028 = utc(2029, 1, 1, 0, 0, 0);
        let june = utc(2026, 6, 1, 8, 0, 0);
        let this_year = edition(1, june, end_2026);
        // This year's keys: next year's.
        assert_eq!(renewal_expiry(std::slice::from_ref(&this_year), utc(2026, 12, 10, 0, 0, 0), 90), end_2027);
        // Keys issued in December already run to the end of next year: the year after.
        let december = edition(1, utc(2026, 12, 15, 12, 0, 0), end_2027);
        assert_eq!(renewal_expiry(std::slice::from_ref(&december), utc(2026, 12, 16, 0, 0, 0), 90), end_2028);
        // Nothing in use (revoked, expired): as a first issue.
        let mut revoked = this_year.clone();
        revoked.revoked = Some(Revocation { at: utc(2026, 7, 1, 0, 0, 0), reason: RevocationReason::Lost });
        assert_eq!(renewal_expiry(&[revoked], utc(2026, 8, 1, 0, 0, 0), 90), end_2026);
        assert_eq!(renewal_expiry(&[this_year], utc(2027, 3, 1, 0, 0, 0), 90), end_2027);
        // A re-issue never covers less than the editions it replaces.
        assert_eq!(reissue_expiry(utc(2026, 7, 1, 0, 0, 0), Some(end_2027), 90), end_2027);
        assert_eq!(reissue_expiry(utc(2026, 12, 1, 0, 0, 0), Some(end_2026), 90), end_2027);
        assert_eq!(reissue_expiry(utc(2026, 7, 1, 0, 0, 0), None, 90), end_2026);
    }

    #[test]
    fn keys_that_expire_within_thirty_days_are_pointed_out_with_what_takes_over() {
        let end_2026 = utc(2027, 1, 1, 0, 0, 0);
        let this_year = edition(1, utc(2026, 3, 1, 0, 0, 0), end_2026);
        // 32 days before: nothing to say. 30 days before: a warning.
        assert!(expiry_warnings(std::slice::from_ref(&this_year), Millis(end_2026.0 - 32 * DAY)).is_empty());
        let warned = expiry_warnings(std::slice::from_ref(&this_year), Millis(end_2026.0 - 30 * DAY));
        assert_eq!(warned.len(), 1);
        assert_eq!((warned[0].edition, warned[0].days_left, warned[0].successor), (1, 30, None));
        // Three hours before: one day left, counted up.
        let late = expiry_warnings(std::slice::from_ref(&this_year), Millis(end_2026.0 - 3 * 3_600_000));
        assert_eq!(late[0].days_left, 1);
        // Once next year's edition is issued, it is named as the one that takes over.
        let renewed = edition(2, utc(2026, 12, 2, 3, 0, 0), utc(2028, 1, 1, 0, 0, 0));
        let both = [this_year.clone(), renewed];
        let warned = expiry_warnings(&both, utc(2026, 12, 20, 0, 0, 0));
        assert_eq!(warned.len(), 1, "only the edition that expires: {warned:?}");
        assert_eq!((warned[0].edition, warned[0].days_left, warned[0].successor), (1, 12, Some(2)));
        // Expired keys are history, not a warning.
        assert!(expiry_warnings(&[this_year], utc(2027, 1, 2, 0, 0, 0)).is_empty());
    }

    #[test]
    fn codes_normalise() {
        let code = installation_code().expect("random");
        assert_eq!(code.len(), 23);
        assert_eq!(normalise_code(&code).as_deref(), Some(code.as_str()));
        assert_eq!(normalise_code(&code.to_lowercase().replace('-', " ")).as_deref(), Some(code.as_str()));
        assert_eq!(normalise_code("0O1IL-22222-33333-44444").as_deref(), Some("00111-22222-33333-44444"));
        assert_eq!(normalise_code("ABCDE-FGHJK"), None);
        assert_eq!(normalise_code("ABCDE-FGHJK-MNPQR-STVW!"), None);
    }
}
