//! The installation bundle (SPEC R-KEY-2): one text file a practice installs with its
//! installation code.
//!
//! ```text
//! Caducée installation bundle
//! Format: caducee-bundle-2
//! Address: dr.martin@caducee.example
//! Edition: 1
//! Fingerprint: 0123…
//! Expires: 2027-01-01 (1798761600000)
//! Host: relay.caducee.example
//! Submissions-Port: 465
//! Pop3s-Port: 995
//! Https-Port: 443
//! Relay-Key: 4567…
//! Salt: <base64>
//! Mac: <base64>
//!
//! -----BEGIN PGP PRIVATE KEY BLOCK-----   the secret keys, encrypted under the code
//! -----BEGIN PGP PUBLIC KEY BLOCK-----    the relay's own OpenPGP certificate
//! -----BEGIN CERTIFICATE-----             the CA the relay's TLS certificate chains to
//! ```
//!
//! The secret keys are OpenPGP-encrypted under the code, so `gpg --import` takes the file
//! as it is and asks for the code (and imports the relay's certificate with them). The
//! `Mac` line authenticates everything else in the file (HMAC-SHA-256 under a key derived
//! from the code with HKDF and the salt), so that a bundle whose address, endpoints, relay
//! key or CA were changed in transit is refused even though its keys would still decrypt.
//!
//! Format 2 added the relay's certificate (`Relay-Key:` and its block); bundles of format
//! 1, written before, still open, without it.

use base64::Engine as _;
use openpgp::crypto::Password;
use openpgp::parse::Parse;
use openpgp::Cert;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};
use sequoia_openpgp as openpgp;

use crate::keys::normalise_code;

const FORMAT: &str = "caducee-bundle-2";
/// The format before the relay's certificate was added: still read.
const FORMAT_1: &str = "caducee-bundle-1";
const TITLE: &str = "Caducée installation bundle";
const MAC_INFO: &[u8] = b"caducee installation bundle 1 mac";

/// Where the practice reaches the relay; written into every bundle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, bincode::Encode, bincode::Decode)]
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

/// What a bundle says, besides its secret keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFields {
    pub address: String,
    pub edition: u32,
    pub fingerprint: String,
    /// Milliseconds since the epoch.
    pub expires_at: u64,
    pub endpoints: Endpoints,
    pub ca_pem: String,
    /// The armoured transferable secret key, encrypted under the code.
    pub secret_keys: String,
    /// The relay's own certificate, armoured: the key that signs what the relay writes and
    /// certifies its users' keys. `None` in a format-1 bundle.
    pub relay_certificate: Option<String>,
}

/// Why a bundle does not open.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The text lacks the bundle's armour, title, format or fields.
    #[error("this is not a Caducée installation bundle: {0}")]
    NotABundle(String),
    /// The typed code is not four groups of five Crockford base32 characters.
    #[error("the installation code is malformed: expected four groups of five letters and digits")]
    MalformedCode,
    /// The code is well formed but does not decrypt the bundle's secret keys.
    #[error("the installation code does not open this bundle; check it (O, I and L are read as 0, 1 and 1)")]
    WrongCode,
    /// The bundle changed after it was issued: the code opens its keys but not its MAC, the
    /// key block does not parse, or the keys are not the ones its header names.
    #[error("the bundle was altered after it was issued ({0}); ask the relay's administrator for a new edition")]
    Tampered(String),
    /// A bundle could not be written: the system's random source failed, or the relay's
    /// certificate given does not parse.
    #[error("the bundle cannot be written: {0}")]
    Unwritable(String),
}

fn mac_key(salt: &[u8], code: &str) -> hmac::Key {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(code.as_bytes());
    // expand only fails for an output longer than 255 blocks; 32 bytes is one.
    match prk.expand(&[MAC_INFO], hmac::HMAC_SHA256) {
        Ok(okm) => hmac::Key::from(okm),
        Err(_) => hmac::Key::new(hmac::HMAC_SHA256, code.as_bytes()),
    }
}

/// The text the MAC covers: the whole file without its `Mac:` line.
fn mac_input(text: &str) -> String {
    text.split_inclusive('\n').filter(|line| !line.starts_with("Mac: ")).collect()
}

/// Writes a bundle; `code` is the canonical installation code.
pub fn write(fields: &BundleFields, code: &str) -> Result<String, BundleError> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| BundleError::Unwritable("the system's random source failed".into()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let e = &fields.endpoints;
    // Format 1 is exactly a bundle without the relay's certificate (tools without one).
    let (format, relay_line) = match &fields.relay_certificate {
        Some(armoured) => (FORMAT, format!("Relay-Key: {}\n", certificate_fingerprint(armoured)?)),
        None => (FORMAT_1, String::new()),
    };
    let head = format!(
        "{TITLE}\nFormat: {format}\nAddress: {}\nEdition: {}\nFingerprint: {}\nExpires: {} ({})\nHost: {}\n\
         Submissions-Port: {}\nPop3s-Port: {}\nHttps-Port: {}\n{}Salt: {}\n",
        fields.address,
        fields.edition,
        fields.fingerprint,
        crate::calendar::iso_date(fields.expires_at),
        fields.expires_at,
        e.host,
        e.submissions_port,
        e.pop3s_port,
        e.https_port,
        relay_line,
        b64.encode(salt),
    );
    let relay_block = fields.relay_certificate.as_deref().map(ensure_newline).unwrap_or_default();
    let body = format!("\n{}{relay_block}{}", ensure_newline(&fields.secret_keys), ensure_newline(&fields.ca_pem));
    let tag = hmac::sign(&mac_key(&salt, code), format!("{head}{body}").as_bytes());
    Ok(format!("{head}Mac: {}\n{body}", b64.encode(tag.as_ref())))
}

fn ensure_newline(text: &str) -> String {
    if text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    }
}

/// Reads a bundle's fields without the code (nothing is authenticated yet).
pub fn read(text: &str) -> Result<(BundleFields, Vec<u8>, Vec<u8>), BundleError> {
    let not = |why: &str| BundleError::NotABundle(why.to_owned());
    let (head, body) = text.split_once("\n\n").ok_or_else(|| not("no blank line after the header"))?;
    let mut lines = head.lines();
    if lines.next() != Some(TITLE) {
        return Err(not("the first line is not the bundle title"));
    }
    let mut field = std::collections::HashMap::new();
    for line in lines {
        let (name, value) = line.split_once(": ").ok_or_else(|| not(&format!("header line {line:?}")))?;
        field.insert(name, value);
    }
    let get = |name: &str| field.get(name).copied().ok_or_else(|| not(&format!("no {name} line")));
    let format = get("Format")?;
    if format != FORMAT && format != FORMAT_1 {
        return Err(not(&format!("unknown format {format:?}")));
    }
    let number = |name: &str| -> Result<u64, BundleError> {
        get(name)?.parse().map_err(|_| not(&format!("{name} is not a number")))
    };
    let expires = get("Expires")?;
    let expires_ms = expires
        .rsplit_once('(')
        .and_then(|(_, ms)| ms.strip_suffix(')'))
        .and_then(|ms| ms.parse().ok())
        .ok_or_else(|| not("Expires has no time"))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let salt = b64.decode(get("Salt")?).map_err(|_| not("Salt is not base64"))?;
    let mac = b64.decode(get("Mac")?).map_err(|_| not("Mac is not base64"))?;
    let key_start = body.find("-----BEGIN PGP PRIVATE KEY BLOCK-----").ok_or_else(|| not("no secret key block"))?;
    let key_end_marker = "-----END PGP PRIVATE KEY BLOCK-----";
    // The end line is looked for after the start line: one placed before it is no end.
    let key_end = body[key_start..].find(key_end_marker).ok_or_else(|| not("the secret key block is cut short"))?
        + key_start
        + key_end_marker.len();
    let ca_start = body.find("-----BEGIN CERTIFICATE-----").ok_or_else(|| not("no CA certificate"))?;
    let port = |name: &str| -> Result<u16, BundleError> {
        u16::try_from(number(name)?).map_err(|_| not(&format!("{name} is not a port")))
    };
    let fields = BundleFields {
        address: get("Address")?.to_owned(),
        edition: u32::try_from(number("Edition")?).map_err(|_| not("Edition is too large"))?,
        fingerprint: get("Fingerprint")?.to_owned(),
        expires_at: expires_ms,
        endpoints: Endpoints {
            host: get("Host")?.to_owned(),
            submissions_port: port("Submissions-Port")?,
            pop3s_port: port("Pop3s-Port")?,
            https_port: port("Https-Port")?,
        },
        ca_pem: body[ca_start..].to_owned(),
        secret_keys: format!("{}\n", &body[key_start..key_end]),
        relay_certificate: if format == FORMAT { Some(relay_block(body)?) } else { None },
    };
    Ok((fields, salt, mac))
}

/// An opened bundle: its fields, authenticated, and the certificate with its secret keys
/// decrypted.
#[derive(Debug)]
pub struct Opened {
    pub fields: BundleFields,
    pub keys: Cert,
    /// The relay's certificate (format 2), checked against the `Relay-Key` line.
    pub relay: Option<Cert>,
}

/// Opens a bundle with the installation code as typed.
pub fn open(text: &str, typed_code: &str) -> Result<Opened, BundleError> {
    let code = normalise_code(typed_code).ok_or(BundleError::MalformedCode)?;
    let (fields, salt, mac) = read(text)?;
    let authentic = hmac::verify(&mac_key(&salt, &code), mac_input(text).as_bytes(), &mac).is_ok();
    let keys = Cert::from_bytes(fields.secret_keys.as_bytes())
        .map_err(|e| BundleError::Tampered(format!("the secret key block does not parse: {e}")))?;
    let keys = unlock(keys, &code);
    match (authentic, keys) {
        (true, Ok(keys)) => {
            if keys.fingerprint().to_hex() != fields.fingerprint {
                return Err(BundleError::Tampered("the keys are not the ones the bundle names".into()));
            }
            let relay = relay_certificate(text, &fields)?;
            Ok(Opened { fields, keys, relay })
        }
        // The code opens the keys but not the MAC: the text around them changed.
        (false, Ok(_)) => Err(BundleError::Tampered("its header, endpoints or CA certificate changed".into())),
        // Authentic text whose keys do not open: the key block changed after signing —
        // impossible without the code — so this is a wrong code all the same.
        (_, Err(())) => Err(BundleError::WrongCode),
    }
}

/// The fingerprint of an armoured certificate, for the `Relay-Key` line.
fn certificate_fingerprint(armoured: &str) -> Result<String, BundleError> {
    let cert = Cert::from_bytes(armoured.as_bytes())
        .map_err(|e| BundleError::Unwritable(format!("the relay's certificate does not parse: {e}")))?;
    Ok(cert.fingerprint().to_hex())
}

/// The relay's public key block of a format-2 bundle's body.
fn relay_block(body: &str) -> Result<String, BundleError> {
    const BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
    const END: &str = "-----END PGP PUBLIC KEY BLOCK-----";
    let not = |why: &str| BundleError::NotABundle(why.to_owned());
    let start = body.find(BEGIN).ok_or_else(|| not("no relay key block"))?;
    let end = body[start..].find(END).ok_or_else(|| not("the relay key block is cut short"))? + start + END.len();
    Ok(format!("{}\n", &body[start..end]))
}

/// The relay's certificate of an authenticated bundle, if it has one: it must be the key
/// its `Relay-Key` line names, holding no secret.
fn relay_certificate(text: &str, fields: &BundleFields) -> Result<Option<Cert>, BundleError> {
    let Some(armoured) = &fields.relay_certificate else {
        return Ok(None);
    };
    let named = text
        .split_once("\n\n")
        .and_then(|(head, _)| head.lines().find_map(|line| line.strip_prefix("Relay-Key: ")))
        .ok_or_else(|| BundleError::NotABundle("no Relay-Key line".into()))?;
    let cert = Cert::from_bytes(armoured.as_bytes())
        .map_err(|e| BundleError::Tampered(format!("the relay key block does not parse: {e}")))?;
    if cert.fingerprint().to_hex() != named || cert.is_tsk() {
        return Err(BundleError::Tampered("the relay key is not the one the bundle names".into()));
    }
    Ok(Some(cert))
}

/// Decrypts every secret key of `cert` with `code`.
fn unlock(cert: Cert, code: &str) -> Result<Cert, ()> {
    let password = Password::from(code);
    let mut packets: Vec<openpgp::Packet> = Vec::new();
    let primary = cert.primary_key().key().clone().parts_into_secret().map_err(drop)?;
    packets.push(primary.decrypt_secret(&password).map_err(drop)?.into());
    for subkey in cert.keys().subkeys().secret() {
        packets.push(subkey.key().clone().decrypt_secret(&password).map_err(drop)?.into());
    }
    if packets.len() < 2 {
        return Err(());
    }
    Ok(cert.insert_packets(packets).map_err(drop)?.0)
}
