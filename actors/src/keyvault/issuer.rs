//! The key issuer: users' keys made in a process of their own rather than the relay's
//! (`[keys] issuer`). `caducee issuer` answers the two requests below on a Unix socket, as
//! a user of its own in a sandbox of its own (the appliance's `caducee-issuer.service`:
//! no network, nothing writable but its bundle folder). The relay gets back only what it
//! may hold: the public record, the installation code, and either the path of a bundle
//! the issuer wrote into a folder the relay cannot read, or the renewal message already
//! encrypted to the user's current keys. Code running as the relay therefore never sees a
//! user's secret key, not even in the December renewal, when it used to make every user's
//! next keys in its own memory.
//!
//! One request per connection: a 4-byte big-endian length, then the request in bincode;
//! the answer the same way. The framing is written here because both ends are this code
//! and the types already encode with bincode for the store; a general RPC crate would
//! bring an HTTP stack into a process whose point is to hold little.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bincode::{Decode, Encode};
use caducee_storage::{CertificateRecord, Millis};
use openpgp::parse::Parse as _;
use sequoia_openpgp as openpgp;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{issue_certified, renewal_message, IssueRequest, KeyVaultError};
use crate::relay_key::RelayKey;

/// The largest request or answer: a renewal message is a few kilobytes.
pub const FRAME_MAX: usize = 1 << 20;
/// How long the relay waits for an answer (an issue takes milliseconds; the issuer serves
/// one request at a time).
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

/// What the relay asks of the issuer.
#[derive(Debug, Encode, Decode)]
pub enum Ask {
    /// A new edition (`user add`, `keys renew|revoke`): the issuer writes its bundle into
    /// its own folder, for the administrator to hand over.
    Bundle(IssueRequest),
    /// Next year's edition (the monitor's renewal), inside a renewal message signed by the
    /// relay's key at `signed_at` and encrypted to `current`, the public certificate of the
    /// edition in use.
    Renewal { request: IssueRequest, current: Vec<u8>, from: String, signed_at: Millis },
}

/// What the issuer answers.
#[derive(Debug, Encode, Decode)]
pub enum Answer {
    Bundle {
        record: CertificateRecord,
        code: String,
        bundle: String,
    },
    Renewal {
        record: CertificateRecord,
        message: Vec<u8>,
    },
    /// The request could not be honoured; the reason is for the administrator.
    Refused(String),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<FRAME_MAX>()
}

fn framed<T: Encode>(value: &T) -> Vec<u8> {
    let body = bincode::encode_to_vec(value, config()).unwrap_or_default();
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

fn decoded<T: Decode<()>>(body: &[u8]) -> Result<T, String> {
    bincode::decode_from_slice(body, config()).map(|(value, _)| value).map_err(|e| format!("an unreadable frame: {e}"))
}

fn frame_length(prefix: [u8; 4]) -> Result<usize, String> {
    let length = u32::from_be_bytes(prefix) as usize;
    if length > FRAME_MAX {
        return Err(format!("a frame of {length} bytes, over the {FRAME_MAX} allowed"));
    }
    Ok(length)
}

/// The relay's side: asks the issuer listening on a socket.
#[derive(Debug, Clone)]
pub struct IssuerClient {
    socket: PathBuf,
}

impl IssuerClient {
    pub fn new(socket: impl Into<PathBuf>) -> IssuerClient {
        IssuerClient { socket: socket.into() }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// A new edition whose bundle the issuer keeps: (record, installation code, bundle path).
    pub async fn bundle(&self, request: IssueRequest) -> Result<(CertificateRecord, String, PathBuf), KeyVaultError> {
        let address = request.address.clone();
        match self.ask(&Ask::Bundle(request)).await? {
            Answer::Bundle { record, code, bundle } => Ok((checked(record, &address)?, code, PathBuf::from(bundle))),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Next year's edition inside its renewal message: (record, message).
    pub async fn renewal(
        &self,
        request: IssueRequest,
        current: &CertificateRecord,
        from: String,
        signed_at: Millis,
    ) -> Result<(CertificateRecord, Vec<u8>), KeyVaultError> {
        let address = request.address.clone();
        let ask = Ask::Renewal { request, current: current.public.clone(), from, signed_at };
        match self.ask(&ask).await? {
            Answer::Renewal { record, message } => Ok((checked(record, &address)?, message)),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Whether the issuer listens (a connection opened and closed without a request), so
    /// that `user add` refuses before creating an account whose keys could not be made.
    pub async fn reachable(&self) -> Result<(), KeyVaultError> {
        match tokio::time::timeout(ANSWER_WITHIN, tokio::net::UnixStream::connect(&self.socket)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(self.failed(error.to_string())),
            Err(_) => Err(self.failed(format!("no answer within {} s", ANSWER_WITHIN.as_secs()))),
        }
    }

    async fn ask(&self, ask: &Ask) -> Result<Answer, KeyVaultError> {
        let exchange = async {
            let mut stream = tokio::net::UnixStream::connect(&self.socket).await?;
            stream.write_all(&framed(ask)).await?;
            let mut prefix = [0u8; 4];
            stream.read_exact(&mut prefix).await?;
            let length = frame_length(prefix).map_err(std::io::Error::other)?;
            let mut body = vec![0u8; length];
            stream.read_exact(&mut body).await?;
            decoded::<Answer>(&body).map_err(std::io::Error::other)
        };
        let answer = tokio::time::timeout(ANSWER_WITHIN, exchange)
            .await
            .map_err(|_| self.failed(format!("no answer within {} s", ANSWER_WITHIN.as_secs())))?
            .map_err(|e| self.failed(e.to_string()))?;
        match answer {
            Answer::Refused(reason) => Err(KeyVaultError::Refused(format!("the key issuer refused: {reason}"))),
            answer => Ok(answer),
        }
    }

    fn failed(&self, why: String) -> KeyVaultError {
        KeyVaultError::Issuer(format!(
            "the key issuer at {} did not answer ({why}); is it running? (systemctl status caducee-issuer)",
            self.socket.display()
        ))
    }

    fn unexpected(&self, answer: &Answer) -> KeyVaultError {
        let kind = match answer {
            Answer::Bundle { .. } => "a bundle",
            Answer::Renewal { .. } => "a renewal",
            Answer::Refused(_) => "a refusal",
        };
        self.failed(format!("it answered with {kind} to another question"))
    }
}

/// What the relay checks of a record before storing it: a public certificate (no secret key
/// material: the store never holds one), for the address asked, under the fingerprint
/// recorded.
fn checked(record: CertificateRecord, address: &caducee_storage::Address) -> Result<CertificateRecord, KeyVaultError> {
    let refused = |why: &str| KeyVaultError::Issuer(format!("the key issuer's certificate for {address} {why}"));
    let cert = openpgp::Cert::from_bytes(&record.public).map_err(|_| refused("does not read as OpenPGP"))?;
    if cert.is_tsk() {
        return Err(refused("carries secret key material"));
    }
    if record.fingerprint != caducee_storage::Fingerprint::from_bytes(cert.fingerprint().as_bytes()) {
        return Err(refused("is not the one its record names"));
    }
    let wanted = address.as_str();
    if !cert.userids().any(|u| u.userid().email().ok().flatten().is_some_and(|e| e.eq_ignore_ascii_case(wanted))) {
        return Err(refused("does not name that address"));
    }
    Ok(record)
}

/// The issuer's side: one request read from `stream` and answered; `None` when the
/// connection closed before a request (the relay checking that the issuer listens).
/// `bundles` is the issuer's own folder.
pub fn serve_one(stream: &mut (impl Read + Write), relay: &RelayKey, bundles: &Path) -> Result<Option<Answer>, String> {
    let mut prefix = [0u8; 4];
    match stream.read(&mut prefix[..1]) {
        Ok(0) => return Ok(None),
        Ok(_) => {}
        Err(e) => return Err(format!("reading the request: {e}")),
    }
    stream.read_exact(&mut prefix[1..]).map_err(|e| format!("reading the request: {e}"))?;
    let mut body = vec![0u8; frame_length(prefix)?];
    stream.read_exact(&mut body).map_err(|e| format!("reading the request: {e}"))?;
    let answer = match decoded::<Ask>(&body) {
        Ok(ask) => answer(ask, relay, bundles).unwrap_or_else(|e| Answer::Refused(e.to_string())),
        Err(why) => Answer::Refused(why),
    };
    stream.write_all(&framed(&answer)).map_err(|e| format!("writing the answer: {e}"))?;
    Ok(Some(answer))
}

fn answer(ask: Ask, relay: &RelayKey, bundles: &Path) -> Result<Answer, KeyVaultError> {
    match ask {
        Ask::Bundle(request) => {
            let issued = issue_certified(&request, Some(relay))?;
            let path = super::write_bundle(
                bundles,
                &request.address,
                request.edition,
                &issued.record.fingerprint,
                &issued.bundle,
            )?;
            Ok(Answer::Bundle { record: issued.record, code: issued.code, bundle: path.display().to_string() })
        }
        Ask::Renewal { request, current, from, signed_at } => {
            let issued = issue_certified(&request, Some(relay))?;
            let message = renewal_message(&current, &issued, (relay, signed_at), &from, &request.address, request.at)?;
            Ok(Answer::Renewal { record: issued.record, message })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caducee_storage::{AccountId, Address};

    /// A stream that reads `input` and keeps what is written.
    struct Exchange {
        input: std::io::Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Exchange {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            Read::read(&mut self.input, buf)
        }
    }

    impl Write for Exchange {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Write::write(&mut self.output, buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    const AT: Millis = Millis(1_795_651_200_000); // 2026-11-26

    fn request(edition: u32) -> IssueRequest {
        IssueRequest {
            account: AccountId(7),
            address: Address::parse("erin@relay.test").expect("address"),
            name: Some("Erin Roux".into()),
            edition,
            at: AT,
            expires_at: Millis(AT.0 + 400 * caducee_storage::DAY_MILLIS),
            endpoints: crate::keyvault::Endpoints {
                host: "relay.test".into(),
                submissions_port: 465,
                pop3s_port: 995,
                https_port: 443,
            },
            ca_pem: String::new(),
        }
    }

    fn exchange(bytes: Vec<u8>, relay: &RelayKey, bundles: &Path) -> (Option<Answer>, Vec<u8>) {
        let mut stream = Exchange { input: std::io::Cursor::new(bytes), output: Vec::new() };
        let answer = serve_one(&mut stream, relay, bundles).expect("served");
        (answer, stream.output)
    }

    #[test]
    fn the_answers_carry_public_keys_and_a_sealed_renewal_and_the_bundle_stays_in_the_issuers_folder() {
        let relay = RelayKey::generate(&["relay.test".into()], AT).expect("relay key");
        let folder = tempfile::tempdir().expect("tempdir");
        let (answer, written) = exchange(framed(&Ask::Bundle(request(1))), &relay, folder.path());
        let Some(Answer::Bundle { record, code, bundle }) = answer else { panic!("{answer:?}") };
        let record = checked(record, &Address::parse("erin@relay.test").expect("address")).expect("a public record");
        assert_eq!(code.len(), 23, "four groups of five: {code}");
        assert!(Path::new(&bundle).starts_with(std::fs::canonicalize(folder.path()).expect("folder")));
        assert!(std::fs::read_to_string(&bundle).expect("bundle").contains("PRIVATE KEY BLOCK"));
        assert!(!String::from_utf8_lossy(&written).contains("PRIVATE KEY"), "a secret key in the answer");
        let Answer::Bundle { .. } = decoded::<Answer>(&written[4..]).expect("the answer decodes") else { panic!() };

        let ask = Ask::Renewal {
            request: request(2),
            current: record.public.clone(),
            from: "keys@relay.test".into(),
            signed_at: AT,
        };
        let (answer, written) = exchange(framed(&ask), &relay, folder.path());
        let Some(Answer::Renewal { record: next, message }) = answer else { panic!("{answer:?}") };
        assert_eq!(next.edition, 2);
        let message = String::from_utf8(message).expect("text");
        assert!(message.contains("-----BEGIN PGP MESSAGE-----") && !message.contains("PRIVATE KEY"), "{message}");
        assert!(!String::from_utf8_lossy(&written).contains("PRIVATE KEY"));
        assert_eq!(std::fs::read_dir(folder.path()).expect("folder").count(), 1, "a renewal writes no bundle");
    }

    #[test]
    fn bad_requests_are_refused_and_a_bare_connection_is_a_reachability_check() {
        let relay = RelayKey::generate(&["relay.test".into()], AT).expect("relay key");
        let folder = tempfile::tempdir().expect("tempdir");
        assert!(exchange(Vec::new(), &relay, folder.path()).0.is_none());
        let (answer, _) = exchange(vec![0, 0, 0, 3, 0xff, 0xff, 0xff], &relay, folder.path());
        assert!(matches!(answer, Some(Answer::Refused(why)) if why.contains("unreadable")));
        let mut stream = Exchange { input: std::io::Cursor::new(vec![0x7f, 0, 0, 0]), output: Vec::new() };
        assert!(serve_one(&mut stream, &relay, folder.path()).is_err_and(|why| why.contains("over the")));
        let expired = IssueRequest { expires_at: AT, ..request(1) };
        let (answer, _) = exchange(framed(&Ask::Bundle(expired)), &relay, folder.path());
        assert!(matches!(answer, Some(Answer::Refused(why)) if why.contains("expiry")));
    }

    #[test]
    fn a_record_with_secret_keys_or_for_another_address_is_not_stored() {
        let folder = tempfile::tempdir().expect("tempdir");
        let relay = RelayKey::generate(&["relay.test".into()], AT).expect("relay key");
        let (answer, _) = exchange(framed(&Ask::Bundle(request(1))), &relay, folder.path());
        let Some(Answer::Bundle { record, .. }) = answer else { panic!() };
        let other = Address::parse("mallory@relay.test").expect("address");
        assert!(checked(record.clone(), &other).is_err_and(|e| e.to_string().contains("does not name")));
        let (secret, _) =
            openpgp::cert::CertBuilder::general_purpose(Some("<erin@relay.test>")).generate().expect("cert");
        let with_secrets = CertificateRecord {
            fingerprint: caducee_storage::Fingerprint::from_bytes(secret.fingerprint().as_bytes()),
            public: openpgp::serialize::MarshalInto::to_vec(&secret.as_tsk()).expect("bytes"),
            ..record
        };
        let erin = Address::parse("erin@relay.test").expect("address");
        assert!(checked(with_secrets, &erin).is_err_and(|e| e.to_string().contains("secret key")));
    }
}
