//! The key vault end to end: keys issued on `user add`, found by gpg over HKP and WKD,
//! renewed, revoked — and the submission check that follows the revocation at once.

// An end-to-end scenario reads as one story, step after step: the 100-line rule is for the
// relay's own code.
#![allow(clippy::too_many_lines)]

mod common;

use common::{compose, python, Relay};
use serde_json::Value;

fn cli_json(relay: &Relay, args: &[&str]) -> Value {
    let output = relay.cli(args);
    assert!(output.status.success(), "caducee {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

fn https_get(relay: &Relay, path: &str, import_into: Option<&std::path::Path>) -> Value {
    let url = format!("https://127.0.0.1:{}{path}", relay.port("https"));
    let ca = relay.ca();
    let mut args = vec!["https-get", "--url", &url, "--ca", &ca];
    let home = import_into.map(|p| p.to_str().expect("utf-8 path").to_owned());
    if let Some(home) = &home {
        args.extend(["--import-into", home]);
    }
    python(&args)
}

/// gpg's `--with-colons` record for a primary key: its validity field ("r" when revoked).
fn gpg_validity(listing: &str, fingerprint: &str) -> String {
    let lines: Vec<&str> = listing.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("fpr:") && l.contains(fingerprint))
        .unwrap_or_else(|| panic!("{fingerprint} in {listing}"));
    let pub_line = lines[..at].iter().rev().find(|l| l.starts_with("pub:")).expect("pub record");
    pub_line.split(':').nth(1).expect("validity").to_owned()
}

#[test]
fn keys_are_found_over_hkp_and_wkd_and_a_revocation_is_published_and_enforced_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let (alice, alice_password) = relay.add_user("alice", None);
    let (bob, bob_password) = relay.add_user("bob", None);

    let shown = cli_json(&relay, &["keys", "show", "--address", &bob, "--json"]);
    let bob_first = shown["certificates"][0]["fingerprint"].as_str().expect("fingerprint").to_owned();
    assert_eq!(shown["certificates"][0]["status"], "valid", "{shown}");
    let subkeys = shown["certificates"][0]["subkeys"].as_array().expect("subkeys");
    assert!(subkeys.iter().any(|k| k[1] == "sign") && subkeys.iter().any(|k| k[1] == "encrypt"), "{shown}");

    // HKP, as any OpenPGP client asks: by address, fingerprint, key ID; the index.
    let outsider = dir.path().join("outsider");
    let by_address = https_get(&relay, &format!("/pks/lookup?op=get&search={bob}"), Some(&outsider));
    assert_eq!(by_address["status"], 200, "{by_address}");
    assert_eq!(by_address["content_type"], "application/pgp-keys");
    let listing = by_address["gpg_keys"].as_str().expect("gpg listing");
    assert_eq!(gpg_validity(listing, &bob_first), "-", "{listing}");
    assert!(listing.contains("<bob@relay.test>"), "{listing}");
    let by_fingerprint = https_get(&relay, &format!("/pks/lookup?op=get&search=0x{bob_first}"), None);
    assert_eq!(by_fingerprint["status"], 200);
    let key_id = &bob_first[bob_first.len() - 16..];
    assert_eq!(https_get(&relay, &format!("/pks/lookup?op=get&search=0x{key_id}"), None)["status"], 200);
    let index = https_get(&relay, &format!("/pks/lookup?op=index&options=mr&search={bob}"), None);
    let index_text = index["text"].as_str().expect("index");
    assert!(
        index_text.starts_with("info:1:1\n") && index_text.contains(&format!("pub:{bob_first}:22:256:")),
        "{index}"
    );
    assert_eq!(https_get(&relay, "/pks/lookup?op=get&search=nobody@relay.test", None)["status"], 404);
    assert_eq!(https_get(&relay, "/pks/lookup?op=get&search=not-a-search", None)["status"], 400);

    // WKD, both methods; the hash computed by the client, not the relay.
    let hash = python(&["wkd-hash", "--local", "bob"])["hash"].as_str().expect("hash").to_owned();
    let wkd_home = dir.path().join("wkd");
    let advanced = https_get(&relay, &format!("/.well-known/openpgpkey/relay.test/hu/{hash}?l=bob"), Some(&wkd_home));
    assert_eq!(advanced["status"], 200, "{advanced}");
    assert!(advanced["gpg_keys"].as_str().expect("listing").contains(&bob_first));
    assert_eq!(https_get(&relay, &format!("/.well-known/openpgpkey/hu/{hash}"), None)["status"], 200);
    assert_eq!(https_get(&relay, "/.well-known/openpgpkey/relay.test/policy", None)["status"], 200);
    assert_eq!(https_get(&relay, &format!("/.well-known/openpgpkey/other.test/hu/{hash}"), None)["status"], 404);

    // gpg's own key-server client (dirmngr), trusting the relay's CA: search and receive.
    let gpg_home = dir.path().join("gpg-keyserver");
    std::fs::create_dir_all(&gpg_home).expect("gpg home");
    std::fs::set_permissions(&gpg_home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("mode");
    std::fs::write(gpg_home.join("dirmngr.conf"), format!("hkp-cacert {}\n", relay.ca())).expect("dirmngr.conf");
    // dirmngr checks only dotted host names, and the relay's certificate names it by its
    // domain: gpg, and the dirmngr it starts, run in a mount namespace whose /etc/hosts sends
    // relay.test to the loopback address.
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost relay.test\n").expect("hosts file");
    let keyserver = format!("hkps://relay.test:{}", relay.port("https"));
    let gpg = |args: &[&str]| {
        std::process::Command::new("unshare")
            .args(["-rm", "sh", "-c", "mount --bind \"$0\" /etc/hosts && exec gpg \"$@\""])
            .arg(&hosts)
            .env("GNUPGHOME", &gpg_home)
            .args(["--batch", "--keyserver", &keyserver])
            .args(args)
            .output()
            .expect("gpg")
    };
    let searched = gpg(&["--search-keys", &bob]);
    let said = String::from_utf8_lossy(&searched.stdout).into_owned() + &String::from_utf8_lossy(&searched.stderr);
    assert!(said.contains("<bob@relay.test>") && said.contains(&bob_first[24..]), "{said}");
    let received = gpg(&["--recv-keys", &bob_first]);
    assert!(received.status.success(), "{}", String::from_utf8_lossy(&received.stderr));
    let listing = gpg(&["--with-colons", "--list-keys"]);
    assert_eq!(gpg_validity(&String::from_utf8_lossy(&listing.stdout), &bob_first), "-");

    // A document encrypted to bob's current key, kept for after the revocation.
    let before = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    let kept = dir.path().join("encrypted-before-revocation.eml");
    std::fs::rename(&before, &kept).expect("keep the message");

    // Bob's laptop was stolen.
    let revoked = cli_json(&relay, &["keys", "revoke", "--address", &bob, "--reason", "compromised", "--json"]);
    assert_eq!(revoked["revoked"], serde_json::json!([bob_first]), "{revoked}");
    assert_eq!(revoked["issued"]["edition"], 2, "{revoked}");
    let first = &revoked["certificates"][0];
    assert_eq!((first["status"].as_str(), first["revocation_published"].as_bool()), (Some("revoked"), Some(true)));
    assert_eq!(first["revoked"]["reason"], "compromised");
    assert_eq!(revoked["certificates"][1]["status"], "valid");

    // gpg learns of the revocation from the key server, by itself and by a plain lookup.
    assert!(gpg(&["--recv-keys", &bob_first]).status.success());
    let listing = gpg(&["--with-colons", "--list-keys"]);
    assert_eq!(gpg_validity(&String::from_utf8_lossy(&listing.stdout), &bob_first), "r");
    let again = https_get(&relay, &format!("/pks/lookup?op=get&search={bob}"), Some(&outsider));
    assert_eq!(gpg_validity(again["gpg_keys"].as_str().expect("listing"), &bob_first), "r", "{again}");
    let _ = std::process::Command::new("gpgconf").env("GNUPGHOME", &gpg_home).args(["--kill", "dirmngr"]).status();

    // The message encrypted to the revoked key is refused, naming bob and why.
    let refused = relay.send(&alice, &alice_password, &format!("{alice},{bob}"), &kept);
    assert_eq!(refused["data"]["code"], 554, "{refused}");
    let text = refused["data"]["text"].as_str().expect("text");
    assert!(text.contains("5.7.1") && text.contains(&format!("<{bob}>")) && text.contains("revoked"), "{text}");

    // Bob installs his new bundle; what is encrypted to it now travels.
    relay.import_bundle(&bob, &revoked["issued"]);
    let after = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    let accepted = relay.send(&alice, &alice_password, &format!("{alice},{bob}"), &after);
    assert_eq!(accepted["data"]["code"], 250, "{accepted}");
    assert_eq!(relay.fetch(&bob, &bob_password, true).len(), 1);

    // Renewal: next year's keys beside this year's, both valid until this year's expire.
    let renewed = cli_json(&relay, &["keys", "renew", "--address", &alice, "--json"]);
    let editions = renewed["certificates"].as_array().expect("editions");
    assert_eq!(editions.len(), 2, "{renewed}");
    assert!(editions.iter().all(|c| c["status"] == "valid"), "{renewed}");
    let (this_year, next_year) = (editions[0]["expires_at"].as_u64(), editions[1]["expires_at"].as_u64());
    assert!(next_year > this_year, "{renewed}");
    let bundle = std::path::Path::new(renewed["issued"]["bundle"].as_str().expect("bundle"));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(bundle).expect("bundle").permissions().mode() & 0o777, 0o600);

    // The relay's own secrets (R-KEY-6) are readable by the service user only, and never
    // logged.
    let data = dir.path().join("data");
    for secret in ["keys/master.key", "tls/server.key", "tls/ca.key"] {
        let mode = std::fs::metadata(data.join(secret)).expect(secret).permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{secret}");
    }

    // Every key operation is in the audit trail.
    let verified = cli_json(&relay, &["audit", "verify", "--json"]);
    assert_eq!(verified["ok"], true, "{verified}");
    assert!(relay.stop().success());
}

#[test]
fn bad_key_requests_get_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    relay.add_user("carol", None);
    let unknown = relay.cli(&["keys", "show", "--address", "nobody@relay.test"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no account nobody@relay.test"));
    let reason = relay.cli(&["keys", "revoke", "--address", "carol@relay.test", "--reason", "bored"]);
    assert!(!reason.status.success());
    assert!(String::from_utf8_lossy(&reason.stderr).contains("use compromised or lost"));
    assert!(relay.stop().success());
}

/// `user add` as an administrator runs it (text, not JSON), with the relay's clock at
/// `instant`: the line that tells the keys' validity.
fn validity_line_of_user_add_at(dir: &std::path::Path, instant: &str) -> String {
    let folder = dir.join(instant.replace([' ', ':'], "-"));
    let relay = Relay::start_at(&folder.join("data"), "", instant);
    let printed = relay.user_add("dr.durand@relay.test", "Anne", "Durand");
    assert!(relay.stop().success());
    printed.lines().find(|l| l.starts_with("keys: edition 1")).unwrap_or_else(|| panic!("{printed}")).to_owned()
}

#[test]
fn keys_issued_late_in_the_year_run_to_the_end_of_the_next_whatever_the_day_the_test_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (instant, expected) in [
        // Within 90 days of the year's end: the end of the next year, not a bundle for a month.
        ("2026-12-20 10:00:00", "valid to the end of 2027 (expires 2028-01-01 00:00 UTC)"),
        ("2026-11-29 09:00:00", "valid to the end of 2027"),
        ("2026-12-31 23:59:40", "valid to the end of 2027"),
        // Earlier: this year's end.
        ("2027-01-01 00:00:30", "valid to the end of 2027"),
        ("2026-06-15 12:00:00", "valid to the end of 2026 (expires 2027-01-01 00:00 UTC)"),
        ("2028-02-29 12:00:00", "valid to the end of 2028 (expires 2029-01-01 00:00 UTC)"),
    ] {
        let line = validity_line_of_user_add_at(dir.path(), instant);
        assert!(line.contains(expected), "user add at {instant}: {line}");
    }

    // December: the first keys already cover next year, so a renewal gives the year after;
    // a revocation gives a new edition that covers no less than the revoked ones.
    let relay = Relay::start_at(&dir.path().join("december/data"), "", "2026-12-15 12:00:00");
    let created = relay.user_add_json("dr.roy@relay.test", "Paul", "Roy");
    const END_2027: u64 = 1_830_297_600_000; // 2028-01-01T00:00:00Z
    const END_2028: u64 = 1_861_920_000_000; // 2029-01-01T00:00:00Z
    assert_eq!(created["expires_at"], END_2027, "{created}");
    let renewed = cli_json(&relay, &["keys", "renew", "--address", "dr.roy@relay.test", "--json"]);
    assert_eq!(renewed["issued"]["expires_at"], END_2028, "{renewed}");
    let revoked = cli_json(&relay, &["keys", "revoke", "--address", "dr.roy@relay.test", "--reason", "lost", "--json"]);
    assert_eq!(revoked["revoked"].as_array().map(Vec::len), Some(2), "{revoked}");
    assert_eq!(revoked["issued"]["expires_at"], END_2028, "{revoked}");
    assert!(relay.stop().success());
}

/// The keys' expiry as the administrator meets it: `keys show` warns within 30 days, and
/// says whether a newer edition takes over.
#[test]
fn keys_show_warns_when_keys_expire_within_thirty_days() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start_at(&data, "", "2027-03-01 09:00:00");
    let args = |more: &[&'static str]| -> Vec<&'static str> {
        [&["keys"][..], more, &["--address", "dr.durand@relay.test"]].concat()
    };
    relay.user_add("dr.durand@relay.test", "Anne", "Durand");
    let shown = relay.cli(&args(&["show"]));
    assert!(!String::from_utf8_lossy(&shown.stdout).contains("warning"), "nothing to say in March");
    assert!(relay.stop().success());

    // 10 December 2027: 22 days left, and no renewal (automatic renewal is off here).
    let relay = Relay::start_at(&data, "", "2027-12-10 09:00:00");
    let shown = relay.cli(&args(&["show"]));
    let text = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        text.contains(
            "warning: edition 1 expires 2028-01-01 00:00 UTC, in 22 day(s); no later edition is issued: \
                       caducee keys renew --address dr.durand@relay.test"
        ),
        "{text}"
    );
    let json = cli_json(&relay, &args(&["show", "--json"]));
    assert_eq!(json["warnings"][0]["days_left"], 22, "{json}");
    assert!(json["warnings"][0]["successor"].is_null(), "{json}");

    // Renewed: the warning names the edition that takes over.
    assert!(relay.cli(&args(&["renew"])).status.success());
    let text = String::from_utf8_lossy(&relay.cli(&args(&["show"])).stdout).into_owned();
    assert!(
        text.contains("warning: edition 1 expires 2028-01-01 00:00 UTC, in 22 day(s); edition 2 takes over"),
        "{text}"
    );
    assert!(relay.stop().success());
}

/// Keys issued in December already cover the next year: the monitor's automatic renewal
/// leaves them alone until the next December, then issues the year after.
#[test]
fn automatic_renewal_leaves_keys_issued_in_december_until_the_next_december() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start_at(&dir.path().join("data"), "[keys]\nauto_renew = true\n", "2026-12-15 12:00:00");
    let created = relay.user_add_json("labo.nord@relay.test", "Laboratoire", "Nord");
    const END_2027: u64 = 1_830_297_600_000; // 2028-01-01T00:00:00Z
    const END_2028: u64 = 1_861_920_000_000; // 2029-01-01T00:00:00Z
    assert_eq!(created["expires_at"], END_2027, "{created}");
    let renewed_on =
        |day: &str| cli_json(&relay, &["monitor", "run", "--as-of", day, "--json"])["keys_renewed"].clone();
    // Inside this year's renewal window, but the keys run to the end of next year.
    assert_eq!(renewed_on("2026-12-20"), 0);
    // Next year, before its renewal window (2 December): nothing yet.
    assert_eq!(renewed_on("2027-11-30"), 0);
    assert_eq!(renewed_on("2027-12-10"), 1);
    assert_eq!(renewed_on("2027-12-11"), 0, "renewed once");
    let shown = cli_json(&relay, &["keys", "show", "--address", "labo.nord@relay.test", "--json"]);
    let expiries: Vec<_> =
        shown["certificates"].as_array().expect("editions").iter().map(|c| c["expires_at"].clone()).collect();
    assert_eq!(expiries, [END_2027, END_2028], "{shown}");
    assert!(relay.stop().success());
}

/// The user IDs of an armoured certificate.
fn userids(armoured: &str) -> Vec<String> {
    use sequoia_openpgp::parse::Parse as _;
    let cert = sequoia_openpgp::Cert::from_bytes(armoured.as_bytes()).expect("a certificate");
    cert.userids().map(|u| String::from_utf8_lossy(u.userid().value()).into_owned()).collect()
}

#[test]
fn keys_name_their_holder_unless_the_holder_is_on_the_red_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let created = relay.add_user_full("anne", None);
    assert_eq!(userids(created["certificate"].as_str().expect("certificate")), ["Claire Martin <anne@relay.test>"]);
    let red = relay.cli(&["directory", "set", "--address", "anne@relay.test", "--red-list", "on"]);
    assert!(red.status.success(), "{}", String::from_utf8_lossy(&red.stderr));
    let renewed = relay.cli(&["keys", "renew", "--address", "anne@relay.test", "--json"]);
    let renewed: serde_json::Value = serde_json::from_slice(&renewed.stdout).expect("JSON");
    assert_eq!(userids(renewed["issued"]["certificate"].as_str().expect("certificate")), ["<anne@relay.test>"]);
}
