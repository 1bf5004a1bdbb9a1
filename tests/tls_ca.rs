//! The relay's local CA end to end, at chosen instants: name constraints that openssl
//! enforces, finite lifetimes from the relay's clock, the server certificate renewed at start
//! and served by every listener (openssl s_client), the CA key left out of backups, and the
//! WKD host name `openpgpkey.<domain>` in the certificate (curl).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;
use x509_parser::extensions::GeneralName;

/// The relay's first start, and its instant in seconds since the epoch.
const FIRST_START: &str = "2026-03-01 10:00:00";
const FIRST_START_SECS: i64 = 1_772_359_200;
/// 380 days later: the first server certificate (397 days) has 17 left, under the 30 that
/// trigger a renewal.
const LATER: &str = "2027-03-16 10:00:00";
const LATER_SECS: i64 = FIRST_START_SECS + 380 * DAY_SECS;
const DAY_SECS: i64 = 86_400;

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn json(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "caducee failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

/// An openssl command on the relay's clock.
fn openssl(relay: &Relay, args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .envs(relay.clock.iter().map(|(n, v)| (n, v)))
        .stdin(Stdio::null())
        .output()
        .expect("openssl")
}

/// The first PEM certificate in `text`.
fn first_pem(text: &str) -> String {
    let start = text.find("-----BEGIN CERTIFICATE-----").expect("a certificate");
    let end = text[start..].find("-----END CERTIFICATE-----").expect("its end") + start;
    text[start..end].to_owned()
}

/// The certificate a listener serves, verified by `openssl s_client` against the relay's CA
/// for the name `relay.test` as of `at` (seconds since the epoch).
fn served(relay: &Relay, service: &str, starttls: Option<&str>, at: i64) -> String {
    let connect = format!("127.0.0.1:{}", relay.port(service));
    let at = at.to_string();
    let ca = relay.ca();
    let mut args = vec!["s_client", "-connect", &connect, "-CAfile", &ca, "-verify_return_error"];
    args.extend(["-verify_hostname", "relay.test", "-attime", &at, "-servername", "relay.test"]);
    if let Some(protocol) = starttls {
        args.extend(["-starttls", protocol]);
    }
    let output = Command::new("openssl").args(&args).stdin(Stdio::null()).output().expect("openssl s_client");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("Verify return code: 0 (ok)"),
        "{service}: {said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    first_pem(&said)
}

fn file_leaf(data: &Path) -> String {
    first_pem(&std::fs::read_to_string(data.join("tls/server.pem")).expect("server.pem"))
}

fn der(pem_file: &Path) -> Vec<u8> {
    let text = std::fs::read(pem_file).expect("PEM file");
    let (_, pem) = x509_parser::pem::parse_x509_pem(&text).expect("PEM");
    pem.contents
}

fn alerts(relay: &Relay) -> Vec<String> {
    let alerts = json(&relay.cli(&["alerts", "--json"]));
    let alerts = alerts.as_array().expect("alerts").iter();
    alerts.filter(|a| a["kind"] == "certificate").map(|a| a["text"].as_str().expect("text").to_owned()).collect()
}

#[test]
fn the_local_ca_may_vouch_for_the_relays_names_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start_at(&data, "", FIRST_START);
    let ca = relay.ca();
    let text = openssl(&relay, &["x509", "-in", &ca, "-noout", "-text"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("X509v3 Name Constraints") && text.contains("Permitted:"), "{text}");
    for name in ["DNS:relay.test", "DNS:openpgpkey.relay.test", "DNS:localhost", "IP:127.0.0.1/255.255.255.255"] {
        assert!(text.contains(name), "{name} in {text}");
    }

    // The relay's own certificate passes; one for another site, signed with the very key
    // found in the data folder, does not.
    let leaf = dir.path().join("leaf.pem");
    std::fs::write(&leaf, file_leaf(&data) + "-----END CERTIFICATE-----\n").expect("leaf");
    let ours = openssl(&relay, &["verify", "-CAfile", &ca, "-verify_hostname", "relay.test", path(&leaf)]);
    assert!(ours.status.success(), "{}", String::from_utf8_lossy(&ours.stdout));
    let (key, request, foreign) = (dir.path().join("k.pem"), dir.path().join("r.csr"), dir.path().join("f.pem"));
    let made = openssl(
        &relay,
        &["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path(&key)]
            .into_iter()
            .chain(["-subj", "/CN=bank.example", "-addext", "subjectAltName=DNS:bank.example", "-out", path(&request)])
            .collect::<Vec<_>>(),
    );
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let ca_key = data.join("tls/ca.key");
    let signed = openssl(
        &relay,
        &["x509", "-req", "-in", path(&request), "-CA", &ca, "-CAkey", path(&ca_key), "-set_serial", "7"]
            .into_iter()
            .chain(["-days", "30", "-copy_extensions", "copy", "-out", path(&foreign)])
            .collect::<Vec<_>>(),
    );
    assert!(signed.status.success(), "{}", String::from_utf8_lossy(&signed.stderr));
    let refused = openssl(&relay, &["verify", "-CAfile", &ca, path(&foreign)]);
    let said = String::from_utf8_lossy(&refused.stdout).into_owned() + &String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && said.contains("permitted subtree violation"), "{said}");
    assert!(relay.stop().success());
}

#[test]
fn lifetimes_follow_the_relays_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start_at(&data, "", FIRST_START);
    let ca = der(&data.join("tls/ca.pem"));
    let (_, ca) = x509_parser::parse_x509_certificate(&ca).expect("CA");
    let server = der(&data.join("tls/server.pem"));
    let (_, server) = x509_parser::parse_x509_certificate(&server).expect("server certificate");
    let (ca_from, ca_until) = (ca.validity().not_before.timestamp(), ca.validity().not_after.timestamp());
    // Both start an hour before they were made (clients whose clocks lag), on the relay's clock.
    let made = ca_from + 3600;
    assert!((FIRST_START_SECS..FIRST_START_SECS + 120).contains(&made), "made at {made}");
    assert_eq!(ca_until - made, (5 * 365 + 1) * DAY_SECS, "the CA lasts five years");
    let (from, until) = (server.validity().not_before.timestamp(), server.validity().not_after.timestamp());
    assert!((ca_from..ca_from + 5).contains(&from));
    assert_eq!(until - from, 397 * DAY_SECS + 3600, "the server certificate lasts 397 days");

    // Its names: the relay's, WKD's advanced host and the mail clients' autoconfig host
    // among them; no name a client would refuse.
    let names = server.subject_alternative_name().expect("names").expect("a SAN extension");
    let dns: Vec<&str> = names
        .value
        .general_names
        .iter()
        .filter_map(|n| if let GeneralName::DNSName(name) = n { Some(*name) } else { None })
        .collect();
    assert_eq!(dns, ["autoconfig.relay.test", "localhost", "openpgpkey.relay.test", "relay.test"]);
    assert_eq!(served(&relay, "pop3s", None, FIRST_START_SECS + 60), file_leaf(&data));
    assert!(relay.stop().success());
}

#[test]
fn a_certificate_near_its_end_is_renewed_at_start_and_served_by_every_listener() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start_at(&data, "", FIRST_START);
    let first = served(&relay, "submissions", None, FIRST_START_SECS + 60);
    let ca_pem = std::fs::read(data.join("tls/ca.pem")).expect("ca.pem");
    assert!(relay.stop().success());

    let relay = Relay::start_at(&data, "", LATER);
    let renewed = file_leaf(&data);
    assert_ne!(renewed, first, "a new certificate after 380 days");
    assert_eq!(std::fs::read(data.join("tls/ca.pem")).expect("ca.pem"), ca_pem, "signed by the same CA");
    let doors = [
        ("submission", Some("smtp")),
        ("submissions", None),
        ("pop3", Some("pop3")),
        ("pop3s", None),
        ("ldap", Some("ldap")),
        ("ldaps", None),
        ("https", None),
    ];
    for (service, starttls) in doors {
        assert_eq!(served(&relay, service, starttls, LATER_SECS + 60), renewed, "{service}");
    }
    assert!(alerts(&relay).is_empty(), "a renewal by the CA the practices hold is no news");
    assert!(relay.stop().success());
}

#[test]
fn backups_leave_the_ca_key_out_and_a_restored_relay_says_what_follows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start_at(&data, "", FIRST_START);
    let backup = dir.path().join("monday.cbk");
    let done = json(&relay.cli(&["backup", "--to", path(&backup), "--json"]));
    let names: Vec<&str> =
        done["manifest"]["files"].as_array().expect("files").iter().filter_map(|f| f["name"].as_str()).collect();
    assert!(!names.contains(&"tls/ca.key"), "the CA key never travels with a backup: {names:?}");
    for name in ["tls/ca.pem", "tls/server.pem", "tls/server.key"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let key = dir.path().join("offline.key");
    assert!(relay.cli(&["backup", "key", "--export", path(&key)]).status.success());
    let original = file_leaf(&data);
    assert!(relay.stop().success());

    // A new machine: the restored certificate is served, and the administrator warned.
    let restored = dir.path().join("restored");
    json(&caducee(&restored, &["restore", "--from", path(&backup), "--key-file", path(&key), "--json"]));
    assert!(!restored.join("tls/ca.key").exists());
    let relay = Relay::start_at(&restored, "", "2026-03-11 10:00:00");
    assert_eq!(served(&relay, "pop3s", None, FIRST_START_SECS + 10 * DAY_SECS), original);
    let warned = alerts(&relay);
    assert!(warned.iter().any(|t| t.contains("tls/ca.key is absent") && t.contains("2027-03-03")), "{warned:?}");
    assert!(relay.stop().success());

    // When the certificate is due, a new CA signs it, loudly.
    let relay = Relay::start_at(&restored, "", LATER);
    let warned = alerts(&relay);
    assert!(warned.iter().any(|t| t.contains("a new local CA was made") && t.contains("every practice")), "{warned:?}");
    assert_ne!(std::fs::read(restored.join("tls/ca.pem")).ok(), std::fs::read(data.join("tls/ca.pem")).ok());
    assert_eq!(served(&relay, "pop3s", None, LATER_SECS + 60), file_leaf(&restored), "verified with the new CA");
    assert!(relay.stop().success());
}

#[test]
fn wkd_advanced_lookups_reach_the_relay_by_openpgpkey_domain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let port = relay.port("https");
    let host = format!("openpgpkey.relay.test:{port}");
    let output = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", &relay.ca()])
        .args(["--resolve", &format!("{host}:127.0.0.1")])
        .arg(format!("https://{host}/.well-known/openpgpkey/relay.test/policy"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "200", "{}", String::from_utf8_lossy(&output.stderr));
    assert!(relay.stop().success());
}
