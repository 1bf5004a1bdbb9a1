//! Unit tests of the local CA: names, constraints, lifetimes and renewal, at chosen instants.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{CertificateParams, KeyPair};
use rustls::client::danger::ServerCertVerifier as _;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{ServerName, UnixTime};

use super::*;

/// 2026-03-01 10:00:00 UTC.
const START: i64 = 1_772_359_200;

fn config() -> Config {
    let mut config = Config { domain: "relay.test".into(), ..Config::default() };
    config.listen.https = "192.0.2.7:443".parse::<std::net::SocketAddr>().expect("address").into();
    config.listen.ldaps = "0.0.0.0:636".parse::<std::net::SocketAddr>().expect("address").into();
    config
}

fn served(dir: &Path) -> Inspected {
    let chain = certificates(&dir.join("server.pem")).expect("server.pem");
    inspect::inspect(&chain[0]).expect("server certificate")
}

fn ca(dir: &Path) -> (CertificateDer<'static>, Inspected) {
    let der = certificates(&dir.join("ca.pem")).expect("ca.pem").remove(0);
    let inspected = inspect::inspect(&der).expect("CA certificate");
    (der, inspected)
}

/// Checks `leaf` for `name` at `at` with rustls' own verifier (webpki), trusting `ca.pem`.
fn verify(dir: &Path, leaf: &CertificateDer<'_>, name: &str, at: i64) -> Result<(), rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca(dir).0).expect("CA accepted as a root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().expect("verifier");
    let name = ServerName::try_from(name.to_owned()).expect("server name");
    let at = UnixTime::since_unix_epoch(Duration::from_secs(at as u64));
    verifier.verify_server_cert(leaf, &[], &name, &[], at).map(drop)
}

/// A certificate for `names` signed with the CA key found in `dir`, as a thief would.
fn signed_with_the_ca_key(dir: &Path, names: &[&str]) -> CertificateDer<'static> {
    let ca_key = KeyPair::from_pem(&fs::read_to_string(dir.join("ca.key")).expect("ca.key")).expect("CA key");
    let issuer = CertificateParams::from_ca_cert_der(&ca(dir).0).expect("CA").self_signed(&ca_key).expect("issuer");
    let params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).expect("params");
    params.signed_by(&KeyPair::generate().expect("key"), &issuer, &ca_key).expect("signed").der().clone()
}

#[test]
fn the_names_are_the_relays_own() {
    let names = Names::of(&config());
    let dns: Vec<&str> = names.dns.iter().map(String::as_str).collect();
    assert_eq!(dns, ["autoconfig.relay.test", "localhost", "openpgpkey.relay.test", "relay.test"]);
    let ips: Vec<String> = names.ips.iter().map(ToString::to_string).collect();
    assert_eq!(ips, ["127.0.0.1", "192.0.2.7", "::1"], "the loopbacks and bound addresses, not the wildcard");
}

#[test]
fn the_ca_vouches_for_the_relays_names_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names = Names::of(&config());
    assert!(maintain(dir.path(), &names, START).expect("first start").is_empty());
    let (_, ca_certificate) = ca(dir.path());
    let constraints = ca_certificate.constraints.expect("name constraints");
    assert_eq!(constraints.dns, ["autoconfig.relay.test", "localhost", "openpgpkey.relay.test", "relay.test"]);
    let v6_loopback = std::net::Ipv6Addr::LOCALHOST.octets().to_vec();
    assert_eq!(
        constraints.ips,
        [(vec![127, 0, 0, 1], vec![255; 4]), (vec![192, 0, 2, 7], vec![255; 4]), (v6_loopback, vec![255; 16])]
    );

    let leaf = certificates(&dir.path().join("server.pem")).expect("server.pem").remove(0);
    for name in ["relay.test", "openpgpkey.relay.test", "autoconfig.relay.test", "localhost", "127.0.0.1", "::1"] {
        verify(dir.path(), &leaf, name, START).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let foreign = signed_with_the_ca_key(dir.path(), &["bank.example"]);
    let refused = verify(dir.path(), &foreign, "bank.example", START).expect_err("a name outside the constraints");
    assert!(format!("{refused:?}").contains("NameConstraint"), "{refused:?}");
    // Inside the subtree, a name the relay does not serve is still its own domain's.
    verify(dir.path(), &signed_with_the_ca_key(dir.path(), &["www.relay.test"]), "www.relay.test", START)
        .expect("inside the permitted subtree");
}

#[test]
fn lifetimes_come_from_the_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    maintain(dir.path(), &Names::of(&config()), START).expect("first start");
    let (_, ca_certificate) = ca(dir.path());
    assert_eq!(ca_certificate.not_before, START - BACKDATE_SECS);
    assert_eq!(ca_certificate.not_after, START + days(CA_LIFETIME_DAYS));
    let server = served(dir.path());
    assert_eq!(server.not_before, START - BACKDATE_SECS);
    assert_eq!(server.not_after, START + days(SERVER_LIFETIME_DAYS));
    assert!(server.names.dns.contains("openpgpkey.relay.test"), "{:?}", server.names);
}

#[test]
fn the_server_certificate_is_renewed_when_due_or_renamed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names = Names::of(&config());
    maintain(dir.path(), &names, START).expect("first start");
    let first = fs::read(dir.path().join("server.pem")).expect("server.pem");
    let ca_pem = fs::read(dir.path().join("ca.pem")).expect("ca.pem");
    maintain(dir.path(), &names, START + days(SERVER_LIFETIME_DAYS - RENEW_BEFORE_DAYS) - 60).expect("not yet");
    assert_eq!(fs::read(dir.path().join("server.pem")).expect("server.pem"), first, "not yet due");

    let later = START + days(SERVER_LIFETIME_DAYS - RENEW_BEFORE_DAYS) + 60;
    assert!(maintain(dir.path(), &names, later).expect("renewal").is_empty());
    let renewed = served(dir.path());
    assert_eq!(renewed.not_after, later + days(SERVER_LIFETIME_DAYS));
    assert_eq!(fs::read(dir.path().join("ca.pem")).expect("ca.pem"), ca_pem, "the same CA signs");
    let leaf = certificates(&dir.path().join("server.pem")).expect("server.pem").remove(0);
    verify(dir.path(), &leaf, "relay.test", later).expect("the renewal chains to the CA practices hold");

    // A name the CA does not permit is left out, and the administrator told.
    let mut renamed = config();
    renamed.keys.public_host = Some("relay.example.org".into());
    renamed.listen.https = "192.0.2.8:443".parse::<std::net::SocketAddr>().expect("address").into();
    let warnings = maintain(dir.path(), &Names::of(&renamed), later).expect("renamed");
    let server = served(dir.path());
    assert!(!server.names.ips.contains(&"192.0.2.7".parse().expect("ip")), "{:?}", server.names);
    assert!(!server.names.dns.contains("relay.example.org"), "{:?}", server.names);
    assert!(warnings.iter().any(|w| w.contains("relay.example.org") && w.contains("192.0.2.8")), "{warnings:?}");
}

#[test]
fn an_administrators_chain_is_never_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names = Names::of(&config());
    maintain(dir.path(), &names, START).expect("first start");
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["relay.test".to_owned()]).expect("params");
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "Some public CA");
    params.not_after = time::OffsetDateTime::from_unix_timestamp(START + days(10)).expect("date");
    let theirs = params.self_signed(&key).expect("certificate");
    fs::write(dir.path().join("server.pem"), theirs.pem()).expect("server.pem");
    fs::write(dir.path().join("server.key"), key.serialize_pem()).expect("server.key");
    let warnings = maintain(dir.path(), &names, START).expect("kept");
    assert_eq!(fs::read_to_string(dir.path().join("server.pem")).expect("server.pem"), theirs.pem());
    assert!(warnings.iter().any(|w| w.contains("not made by the relay") && w.contains("2026-03-11")), "{warnings:?}");
}

#[test]
fn without_its_key_the_ca_is_replaced_only_when_a_renewal_needs_it_and_loudly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names = Names::of(&config());
    maintain(dir.path(), &names, START).expect("first start");
    let (ca_pem, server_pem) = (dir.path().join("ca.pem"), dir.path().join("server.pem"));
    let (first_ca, first_server) = (fs::read(&ca_pem).expect("ca"), fs::read(&server_pem).expect("server"));
    fs::remove_file(dir.path().join("ca.key")).expect("as after a restore");

    let warnings = maintain(dir.path(), &names, START + days(10)).expect("restored");
    assert_eq!(
        (fs::read(&ca_pem).expect("ca"), fs::read(&server_pem).expect("server")),
        (first_ca.clone(), first_server)
    );
    assert!(warnings.iter().any(|w| w.contains("tls/ca.key is absent") && w.contains("2027-03-03")), "{warnings:?}");

    let due = START + days(SERVER_LIFETIME_DAYS - 10);
    let warnings = maintain(dir.path(), &names, due).expect("renewal with a new CA");
    assert!(
        warnings.iter().any(|w| w.contains("a new local CA was made") && w.contains("every practice")),
        "{warnings:?}"
    );
    assert_ne!(fs::read(&ca_pem).expect("ca"), first_ca);
    assert!(dir.path().join("ca-replaced-2031-03-01.pem").exists(), "the old CA is kept aside");
    let leaf = certificates(&server_pem).expect("server.pem").remove(0);
    verify(dir.path(), &leaf, "relay.test", due).expect("signed by the new CA");
}

#[test]
fn the_ca_end_is_announced_then_a_new_ca_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names = Names::of(&config());
    maintain(dir.path(), &names, START).expect("first start");
    let quiet = maintain(dir.path(), &names, START + days(CA_LIFETIME_DAYS - CA_WARN_BEFORE_DAYS) - 60);
    assert!(quiet.expect("renewals").is_empty());
    let warned = maintain(dir.path(), &names, START + days(CA_LIFETIME_DAYS - CA_WARN_BEFORE_DAYS) + 60);
    let warned = warned.expect("renewals");
    assert!(warned.iter().any(|w| w.contains("ends on 2031-03-01")), "{warned:?}");
    // The server certificate never outlives its CA.
    assert_eq!(served(dir.path()).not_after, ca(dir.path()).1.not_after);
    let near = START + days(CA_LIFETIME_DAYS - 20);
    let replaced = maintain(dir.path(), &names, near).expect("a new CA");
    assert!(replaced.iter().any(|w| w.contains("a new local CA was made")), "{replaced:?}");
    assert_eq!(ca(dir.path()).1.not_after, near + days(CA_LIFETIME_DAYS));
}

#[test]
fn reload_swaps_what_every_listener_serves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let loaded = Certificates::load(dir.path(), &config(), Millis(START as u64 * 1000)).expect("load");
    let served_now = |c: &Certificates| c.current.read().expect("lock").cert[0].clone();
    let first = served_now(&loaded.certificates);
    let later = Millis((START + days(SERVER_LIFETIME_DAYS)) as u64 * 1000);
    assert!(loaded.certificates.reload(later).expect("reload").is_empty());
    assert_ne!(served_now(&loaded.certificates), first, "the renewed certificate is served");
    assert_eq!(served(&dir.path().join("tls")).not_after, seconds(later) + days(SERVER_LIFETIME_DAYS));
}

#[test]
fn a_ca_moved_aside_is_replaced_at_the_next_start_and_said_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names = Names::of(&config());
    maintain(dir.path(), &names, START).expect("first start");
    for name in ["ca.pem", "ca.key"] {
        fs::rename(dir.path().join(name), dir.path().join(format!("old-{name}"))).expect("moved aside");
    }
    let warnings = maintain(dir.path(), &names, START + days(1)).expect("next start");
    assert!(warnings.iter().any(|w| w.contains("a new local CA was made") && w.contains("absent")), "{warnings:?}");
    let leaf = certificates(&dir.path().join("server.pem")).expect("server.pem").remove(0);
    verify(dir.path(), &leaf, "relay.test", START + days(1)).expect("signed by the new CA");
    assert!(ca(dir.path()).1.constraints.is_some());
}
