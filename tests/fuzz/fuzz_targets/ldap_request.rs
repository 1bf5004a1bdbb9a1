//! The LDAP server on arbitrary requests: the fuzz input's bytes, after a first byte that
//! chooses the plain listener (before StartTLS) or the LDAPS one, go to a real connection
//! served by `ldap::serve_connection` over loopback — PDU decoding, binds, searches with
//! their filters and controls, refusals — against a small directory of three entries (one
//! red-listed). The login throttle is renewed for every input by moving its clock.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use caducee_actors::clock::{Clock, ManualClock};
use caducee_actors::login::LoginThrottle;
use caducee_appliance::directory::DirectoryCache;
use caducee_appliance::ldap::{serve_connection, LdapContext, Searches};
use caducee_storage::{Address, DirectoryEntry, MailboxType, Millis, NewAccount, Preference, Store, StoreOptions};
use libfuzzer_sys::fuzz_target;
use rustls::pki_types::{PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The password of every account of the fixture (hashed with cheap argon2 parameters, so
/// that a successful bind costs little; a failed one costs the relay's real check).
const PASSWORD: &str = "secret";
/// Longer than any exchange may take: past it, the server is stuck.
const EXCHANGE_MAX: Duration = Duration::from_secs(60);

struct Fixture {
    runtime: tokio::runtime::Runtime,
    listener: TcpListener,
    address: SocketAddr,
    context: LdapContext,
    clock: Arc<ManualClock>,
    connector: tokio_rustls::TlsConnector,
    _data: tempfile::TempDir,
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, requests)) = data.split_first() else { return };
    let fixture = FIXTURE.get_or_init(fixture);
    // A new throttle window for every input: each may fail a bind once before it is locked.
    fixture.clock.advance(3_600_000);
    fixture.runtime.block_on(async {
        if tokio::time::timeout(EXCHANGE_MAX, exchange(fixture, mode & 1 == 1, requests)).await.is_err() {
            panic!("the LDAP server neither answered nor closed the connection");
        }
    });
});

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

/// One connection: `requests` written (then the write side closed) while every reply is read.
async fn exchange(fixture: &Fixture, tls: bool, requests: &[u8]) {
    let client = TcpStream::connect(fixture.address).await.expect("connecting over loopback");
    let (server, _) = fixture.listener.accept().await.expect("accepting over loopback");
    let serving = tokio::spawn(serve_connection(server, tls, fixture.context.clone()));
    if tls {
        let name = ServerName::try_from("relay.test").expect("a DNS name");
        let stream = fixture.connector.connect(name, client).await.expect("the TLS handshake");
        talk(stream, requests).await;
    } else {
        talk(client, requests).await;
    }
    serving.await.expect("the session ends without panicking");
}

async fn talk<S: AsyncRead + AsyncWrite>(stream: S, requests: &[u8]) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let write = async {
        let _ = writer.write_all(requests).await;
        let _ = writer.shutdown().await;
    };
    let read = async {
        let mut replies = Vec::new();
        let _ = reader.read_to_end(&mut replies).await;
    };
    tokio::join!(write, read);
}

fn fixture() -> Fixture {
    let data = tempfile::tempdir().expect("a scratch folder");
    let store = Store::open(data.path(), &StoreOptions::default()).expect("a store");
    let clock = Arc::new(ManualClock::new(Millis(1_800_000_000_000)));
    for (address, first, last, city, red_list, mailbox_type) in [
        ("anne@relay.test", "Anne", "Martin", "Lille", false, MailboxType::Personal),
        ("bruno@relay.test", "Bruno", "Durand", "Paris", true, MailboxType::Personal),
        ("labo@relay.test", "Laboratoire", "Central", "Lyon", false, MailboxType::Organisational),
    ] {
        let now = clock.now();
        let directory = DirectoryEntry {
            civility: "Dr".into(),
            city: city.into(),
            postcode: "59000".into(),
            specialty: "Cardiologie pédiatrique".into(),
            mailbox_type,
            phone: "03 20 00 00 00".into(),
            red_list: Preference::set(red_list, now),
            publish_phone: Preference::set(true, now),
            ..DirectoryEntry::default()
        };
        let account = NewAccount {
            address: Address::parse(address).expect("an address"),
            first_name: first.into(),
            last_name: last.into(),
            contact_email: String::new(),
            password_hash: cheap_hash(PASSWORD),
            quota_bytes: 1 << 20,
            created_at: now,
            directory: Some(directory),
        };
        store.create_account_blocking(account).expect("an account");
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).expect("a loopback port");
    let address = listener.local_addr().expect("its address");
    let (acceptor, connector) = tls_pair();
    let context = LdapContext {
        directory: Arc::new(DirectoryCache::new(store.clone(), clock.clone(), "relay.test")),
        store,
        tls: acceptor,
        password_checks: Arc::new(tokio::sync::Semaphore::new(1)),
        logins: Arc::new(LoginThrottle::new(1, 60)),
        clock: clock.clone(),
        searches: Searches::new(1),
        write_timeout: Duration::from_secs(30),
    };
    Fixture { runtime, listener, address, context, clock, connector, _data: data }
}

/// An argon2id hash with the smallest parameters: the relay checks with the hash's own.
fn cheap_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).expect("argon2 parameters");
    let argon2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::from_b64("ZnV6emluZ3NhbHQ").expect("a salt");
    argon2.hash_password(password.as_bytes(), &salt).expect("a hash").to_string()
}

/// A CA, a certificate for `relay.test` it signs, and the two ends of TLS trusting it.
fn tls_pair() -> (tokio_rustls::TlsAcceptor, tokio_rustls::TlsConnector) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ca_key = rcgen::KeyPair::generate().expect("a CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("a CA");
    let key = rcgen::KeyPair::generate().expect("a key");
    let params = rcgen::CertificateParams::new(vec!["relay.test".to_owned()]).expect("parameters");
    let certificate = params.signed_by(&key, &ca, &ca_key).expect("a certificate");
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![certificate.der().clone()], PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .expect("a server configuration");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).expect("the CA as a root");
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    (tokio_rustls::TlsAcceptor::from(Arc::new(server)), tokio_rustls::TlsConnector::from(Arc::new(client)))
}
