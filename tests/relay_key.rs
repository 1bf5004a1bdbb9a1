//! The relay's own OpenPGP key end to end: published over WKD and HKP, carried by every
//! bundle, certifying each user's key, signing renewals and delivery status notifications —
//! checked with gpg as a practice would — and the practice client refusing a "renewal" the
//! relay did not sign.

// An end-to-end scenario reads as one story, step after step: the 100-line rule is for the
// relay's own code.
#![allow(clippy::too_many_lines)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{caducee_plain, python, Relay};
use mail_parser::MimeHeaders as _;
use serde_json::Value;

fn said(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// The relay key's fingerprint, from the `Relay-Key:` line of a bundle.
fn relay_fingerprint(created: &Value) -> String {
    let bundle = std::fs::read_to_string(created["bundle"].as_str().expect("bundle")).expect("bundle file");
    assert!(bundle.contains("Format: caducee-bundle-2\n"), "{bundle}");
    assert!(bundle.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----"), "{bundle}");
    bundle.lines().find_map(|l| l.strip_prefix("Relay-Key: ")).expect("a Relay-Key line").to_owned()
}

/// A private gpg home.
fn gpg_home(dir: &Path, name: &str) -> PathBuf {
    let home = dir.join(name);
    std::fs::create_dir_all(&home).expect("gpg home");
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("mode");
    home
}

fn gpg(home: &Path, args: &[&str], input: Option<&[u8]>) -> Output {
    let mut command = Command::new("gpg");
    command.env("GNUPGHOME", home).arg("--batch").args(args);
    let Some(input) = input else {
        return command.output().expect("gpg");
    };
    command.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = command.stderr(std::process::Stdio::piped()).spawn().expect("gpg");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input).expect("gpg input");
    child.wait_with_output().expect("gpg")
}

fn kill_agents(home: &Path) {
    let _ = Command::new("gpgconf").env("GNUPGHOME", home).args(["--kill", "all"]).status();
}

/// An HTTPS GET trusting the relay's CA; a 200 body goes to `gpg --import` in `home`.
fn https_get(relay: &Relay, path: &str, home: &Path) -> Value {
    let url = format!("https://127.0.0.1:{}{path}", relay.port("https"));
    python(&["https-get", "--url", &url, "--ca", &relay.ca(), "--import-into", home.to_str().expect("utf-8")])
}

/// gpg's validity of the user ID `<address>` (`--with-colons`, field 2 of its `uid` record).
fn uid_validity(listing: &str, address: &str) -> String {
    let needle = format!("<{address}>");
    let line = listing.lines().find(|l| l.starts_with("uid:") && l.contains(&needle)).expect("uid record");
    line.split(':').nth(1).expect("validity").to_owned()
}

#[test]
fn gpg_finds_the_relay_key_over_wkd_and_hkp_and_trusting_it_validates_users_and_renewals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "[keys]\nauto_renew = true\n");
    let alice = relay.add_user_full("alice", None);
    let (alice_address, alice_password) = (
        alice["address"].as_str().expect("address").to_owned(),
        alice["password"].as_str().expect("password").to_owned(),
    );
    let relay_fpr = relay_fingerprint(&alice);
    let key_mode = std::fs::metadata(relay.data.join("keys/relay.pgp")).expect("relay key file");
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&key_mode.permissions()) & 0o777, 0o600);

    // WKD, as any client computes the hash of `keys`.
    let hash = python(&["wkd-hash", "--local", "keys"])["hash"].as_str().expect("hash").to_owned();
    let wkd_home = dir.path().join("wkd");
    let url = format!("https://127.0.0.1:{}/.well-known/openpgpkey/relay.test/hu/{hash}?l=keys", relay.port("https"));
    let wkd =
        python(&["https-get", "--url", &url, "--ca", &relay.ca(), "--import-into", wkd_home.to_str().expect("utf-8")]);
    assert_eq!(wkd["status"], 200, "{wkd}");
    let listing = wkd["gpg_keys"].as_str().expect("listing");
    assert!(listing.contains(&relay_fpr) && listing.contains("Caducée <keys@relay.test>"), "{listing}");

    // HKP, by fingerprint and by address, into a practice's gpg keyring: the relay key,
    // then alice's.
    let home = gpg_home(dir.path(), "practice");
    let alice_fpr = alice["fingerprint"].as_str().expect("fingerprint").to_owned();
    for search in [format!("0x{relay_fpr}"), "keys@relay.test".to_owned(), alice_address.clone()] {
        let found = https_get(&relay, &format!("/pks/lookup?op=get&search={search}"), &home);
        assert_eq!(found["status"], 200, "{search}: {found}");
    }
    let listing = gpg(&home, &["--with-colons", "--list-keys"], None);
    assert!(said(&listing).contains(&relay_fpr) && said(&listing).contains(&alice_fpr), "{}", said(&listing));
    // The relay's certification is on alice's user ID, and it checks.
    let sigs = gpg(&home, &["--with-colons", "--check-sigs", &alice_fpr], None);
    let relay_key_id = &relay_fpr[relay_fpr.len() - 16..];
    assert!(
        said(&sigs).lines().any(|l| l.starts_with("sig:!:") && l.contains(relay_key_id)),
        "a good certification by the relay: {}",
        said(&sigs)
    );

    // Untrusted, alice's key is unusable in batch mode; once the practice trusts the relay
    // key (the recipe of docs/clients), it is valid, and so is every user's it certified.
    let untrusted = gpg(&home, &["--armor", "--encrypt", "-r", &alice_address], Some(b"compte rendu"));
    assert!(!untrusted.status.success(), "{}", said(&untrusted));
    assert!(said(&untrusted).contains("Unusable public key"), "{}", said(&untrusted));
    let trusted = gpg(&home, &["--import-ownertrust"], Some(format!("{relay_fpr}:6:\n").as_bytes()));
    assert!(trusted.status.success(), "{}", said(&trusted));
    let listing = gpg(&home, &["--with-colons", "--list-keys", &alice_fpr], None);
    assert_eq!(uid_validity(&said(&listing), &alice_address), "f", "{}", said(&listing));
    let encrypted = gpg(&home, &["--armor", "--encrypt", "-r", &alice_address], Some(b"compte rendu"));
    assert!(encrypted.status.success(), "{}", said(&encrypted));

    // Next year's keys: the renewal message opens with alice's keys and bears a good
    // signature of the relay key, which gpg trusts.
    let expires_at = alice["expires_at"].as_u64().expect("expiry");
    let day = chrono::DateTime::from_timestamp_millis((expires_at - 21 * 86_400_000) as i64)
        .expect("date")
        .format("%Y-%m-%d")
        .to_string();
    let run = relay.cli(&["monitor", "run", "--as-of", &day, "--json"]);
    let run: Value = serde_json::from_slice(&run.stdout).expect("JSON");
    assert_eq!(run["keys_renewed"], 1, "{run}");
    let mail = relay.fetch(&alice_address, &alice_password, false);
    assert_eq!(mail.len(), 1);
    let raw = String::from_utf8_lossy(&mail[0]).into_owned();
    assert_eq!(sender_of(&raw), ("Caducée".to_owned(), "keys@relay.test".to_owned()), "{raw}");
    let start = raw.find("-----BEGIN PGP MESSAGE-----").expect("armour");
    let end = raw.find("-----END PGP MESSAGE-----").expect("armour end") + "-----END PGP MESSAGE-----".len();
    let code = alice["installation_code"].as_str().expect("code");
    let bundle = alice["bundle"].as_str().expect("bundle");
    let imported = gpg(&home, &["--pinentry-mode", "loopback", "--passphrase", code, "--import", bundle], None);
    assert!(imported.status.success(), "{}", said(&imported));
    let opened = gpg(
        &home,
        &["--pinentry-mode", "loopback", "--passphrase", code, "--status-fd", "2", "--decrypt"],
        Some(raw[start..end].replace("\r\n", "\n").as_bytes()),
    );
    let status = said(&opened);
    assert!(opened.status.success(), "{status}");
    assert!(status.contains("[GNUPG:] GOODSIG") && status.contains("Caducée <keys@relay.test>"), "{status}");
    let validsig = status.lines().find(|l| l.starts_with("[GNUPG:] VALIDSIG ")).expect("VALIDSIG");
    assert!(validsig.ends_with(&relay_fpr), "signed by a subkey of the relay key: {validsig}");
    assert!(status.contains("[GNUPG:] TRUST_ULTIMATE"), "{status}");
    assert!(String::from_utf8_lossy(&opened.stdout).starts_with("Caducée key renewal\n"));
    kill_agents(&home);
    kill_agents(&wkd_home);
    assert!(relay.stop().success());
}

/// The part a `multipart/signed` message signs and its armoured signature (RFC 3156 5).
/// A message's `From:` display name and address, as a mail program reads them.
fn sender_of(raw: &str) -> (String, String) {
    let parsed = mail_parser::MessageParser::default().parse(raw.as_bytes()).expect("a message");
    let from = parsed.from().and_then(|from| from.first()).expect("a From:");
    (from.name().unwrap_or_default().to_owned(), from.address().unwrap_or_default().to_owned())
}

fn signed_parts(raw: &str) -> (String, String) {
    let boundary =
        raw.split("boundary=\"").nth(1).and_then(|rest| rest.split('"').next()).expect("the multipart/signed boundary");
    let delimiter = format!("\r\n--{boundary}");
    let first = raw.find(&format!("--{boundary}\r\n")).expect("first part") + boundary.len() + 4;
    let first_end = first + raw[first..].find(&delimiter).expect("second part");
    let signature_start = raw.find("-----BEGIN PGP SIGNATURE-----").expect("signature");
    let signature_end = raw.find("-----END PGP SIGNATURE-----").expect("signature end") + 27;
    (raw[first..first_end].to_owned(), raw[signature_start..signature_end].replace("\r\n", "\n"))
}

#[test]
fn delivery_status_notifications_are_pgp_mime_signed_by_the_relay_and_gpg_verifies_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let alice = relay.add_user_full("alice", None);
    let (alice_address, alice_password) =
        (alice["address"].as_str().expect("address"), alice["password"].as_str().expect("password"));
    let (bob, _) = relay.add_user("bob", None);
    let relay_fpr = relay_fingerprint(&alice);
    // Day 61 without collecting: bob's reception is disabled, and alice's message to him
    // comes back as a delivery status notification in her mailbox.
    let day = relay.created_day(alice_address) + chrono::Days::new(61);
    let run = relay.cli(&["monitor", "run", "--as-of", &day.format("%Y-%m-%d").to_string(), "--json"]);
    assert!(run.status.success(), "{}", said(&run));
    let message = common::compose(dir.path(), &[alice_address, &bob], "Compte rendu");
    let refused = relay.send(alice_address, alice_password, &bob, &message);
    assert_eq!(common::code(&refused["rcpt"][0]), 550, "{refused}");
    let mut polls = 0;
    let mut mail = Vec::new();
    while mail.is_empty() && polls < 200 {
        polls += 1;
        mail = relay.fetch(alice_address, alice_password, false);
    }
    let raw = String::from_utf8(mail.first().expect("a DSN").clone()).expect("utf-8");
    let parsed = mail_parser::MessageParser::default().parse(raw.as_bytes()).expect("a message");
    let content_type = parsed.content_type().expect("a content type");
    assert_eq!((content_type.ctype(), content_type.subtype()), ("multipart", Some("signed")), "{raw}");
    assert_eq!(content_type.attribute("micalg"), Some("pgp-sha256"), "{raw}");
    assert_eq!(content_type.attribute("protocol"), Some("application/pgp-signature"), "{raw}");
    assert!(raw.is_ascii(), "headers encoded (RFC 2047), the signed text quoted-printable: {raw}");
    assert!(parsed.date().is_some() && parsed.message_id().is_some_and(|id| id.ends_with("@relay.test")), "{raw}");
    assert!(raw.contains("multipart/report; report-type=\"delivery-status\""), "{raw}");
    let (signed, signature) = signed_parts(&raw);
    std::fs::write(dir.path().join("part"), &signed).expect("part");
    std::fs::write(dir.path().join("part.asc"), &signature).expect("signature");
    let home = gpg_home(dir.path(), "verifier");
    let found = https_get(&relay, "/pks/lookup?op=get&search=keys@relay.test", &home);
    assert_eq!(found["status"], 200, "{found}");
    let part = dir.path().join("part");
    let asc = dir.path().join("part.asc");
    let verify = |data: &Path| {
        gpg(&home, &["--status-fd", "2", "--verify", asc.to_str().expect("utf-8"), data.to_str().expect("utf-8")], None)
    };
    let verified = verify(&part);
    assert!(verified.status.success(), "{}", said(&verified));
    assert!(said(&verified).lines().any(|l| l.starts_with("[GNUPG:] VALIDSIG ") && l.ends_with(&relay_fpr)));
    // One character changed in the report: the signature no longer holds.
    std::fs::write(dir.path().join("altered"), signed.replacen("5.2.1", "2.0.0", 1)).expect("altered");
    let altered = verify(&dir.path().join("altered"));
    assert!(!altered.status.success() && said(&altered).contains("BADSIG"), "{}", said(&altered));
    // The practice client files it as a notice with the relay's good signature.
    let results = client_fetch(&install_profile(dir.path(), &alice), &dir.path().join("inbox"));
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["kind"], "notice", "{}", results[0]);
    assert_eq!(results[0]["signature"], "valid", "{}", results[0]);
    assert_eq!(results[0]["signer_fingerprint"], relay_fpr.as_str(), "{}", results[0]);
    kill_agents(&home);
    assert!(relay.stop().success());
}

/// `caducee client install` of a user's first bundle into a new profile folder.
fn install_profile(dir: &Path, created: &Value) -> PathBuf {
    let local = created["address"].as_str().expect("address").split('@').next().expect("local part");
    let password_file = dir.join(format!("{local}.password"));
    std::fs::write(&password_file, created["password"].as_str().expect("password")).expect("password");
    let profile = dir.join(format!("{local}-profile"));
    let install = common::client_install_args(created, &profile, &password_file);
    let installed = caducee_plain(&install.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(installed.status.success(), "{}", said(&installed));
    profile
}

/// `caducee client fetch` into `inbox`: the results it wrote.
fn client_fetch(profile: &Path, inbox: &Path) -> Vec<Value> {
    let fetched = caducee_plain(&[
        "client",
        "fetch",
        "--profile",
        profile.to_str().expect("utf-8"),
        "--out",
        inbox.to_str().expect("utf-8"),
    ]);
    assert!(fetched.status.success(), "{}", said(&fetched));
    std::fs::read_dir(inbox)
        .expect("inbox")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| serde_json::from_slice(&std::fs::read(&p).expect("result")).expect("JSON"))
        .collect()
}

/// A renewal message's plaintext carrying `bundle` and its `code`.
fn renewal_text(address: &str, code: &str, bundle: &str) -> String {
    format!("Caducée key renewal\nAddress: {address}\nInstallation-Code: {code}\n\n{bundle}")
}

/// `text` encrypted to `recipient` (armoured certificate), unsigned, or signed by `signer`.
fn encrypt(recipient: &str, text: &str, signer: Option<&sequoia_openpgp::Cert>) -> String {
    use sequoia_openpgp::parse::Parse;
    use sequoia_openpgp::policy::StandardPolicy;
    use sequoia_openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message, Signer};
    let cert = sequoia_openpgp::Cert::from_bytes(recipient.as_bytes()).expect("certificate");
    let policy = StandardPolicy::new();
    let keys = cert.keys().with_policy(&policy, None).supported().alive().for_transport_encryption();
    let mut armoured = Vec::new();
    let message = Armorer::new(Message::new(&mut armoured)).build().expect("armour");
    let mut message = Encryptor::for_recipients(message, keys).build().expect("encryptor");
    if let Some(signer) = signer {
        let key = signer.keys().with_policy(&policy, None).for_signing().secret().next().expect("signing key");
        message = Signer::new(message, key.key().clone().into_keypair().expect("pair"))
            .expect("signer")
            .build()
            .expect("signer");
    }
    let mut message = LiteralWriter::new(message).build().expect("literal");
    std::io::Write::write_all(&mut message, text.as_bytes()).expect("write");
    message.finalize().expect("finalise");
    String::from_utf8(armoured).expect("armour is text")
}

/// A PGP/MIME message from `from` to `to` around `armoured`.
fn pgp_mime(from: &str, to: &str, armoured: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: Nouvelles cles / New keys\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n\
         --b\r\nContent-Type: application/octet-stream\r\n\r\n{}\r\n--b--\r\n",
        armoured.replace('\n', "\r\n").trim_end()
    )
}

#[test]
fn the_client_refuses_a_renewal_the_relay_did_not_sign_and_keeps_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let erin = relay.add_user_full("erin", None);
    let erin_address = erin["address"].as_str().expect("address");
    let (carol, carol_password) = relay.add_user("carol", None);
    let profile = install_profile(dir.path(), &erin);
    assert!(profile.join("relay.pgp").exists(), "the relay key is installed from the bundle");

    // Genuine next-year keys, published by the relay: only the message carrying them is
    // forged — unsigned, then signed by a key that calls itself the relay.
    let renewed = relay.cli(&["keys", "renew", "--address", erin_address, "--json"]);
    assert!(renewed.status.success(), "{}", said(&renewed));
    let renewed: Value = serde_json::from_slice(&renewed.stdout).expect("JSON");
    let issued = &renewed["issued"];
    let bundle = std::fs::read_to_string(issued["bundle"].as_str().expect("bundle")).expect("bundle");
    let text = renewal_text(erin_address, issued["installation_code"].as_str().expect("code"), &bundle);
    let erin_cert = erin["certificate"].as_str().expect("certificate");
    let (impostor, _) = sequoia_openpgp::cert::CertBuilder::general_purpose(Some("Caducée <keys@relay.test>"))
        .generate()
        .expect("impostor key");
    for (signer, why) in [(None, "it is not signed"), (Some(&impostor), "not by the relay's key")] {
        let forged = dir.path().join("forged.eml");
        std::fs::write(&forged, pgp_mime(&carol, erin_address, &encrypt(erin_cert, &text, signer))).expect("forged");
        let sent = relay.send(&carol, &carol_password, erin_address, &forged);
        assert_eq!(sent["data"]["code"], 250, "{sent}");
        let results = client_fetch(&profile, &dir.path().join("inbox"));
        let result = results.iter().find(|r| r["error"].as_str().is_some_and(|e| e.contains(why)));
        let result = result.unwrap_or_else(|| panic!("refused because {why}: {results:?}"));
        assert_eq!(result["kind"], "suspicious-keys", "{result}");
        let kept = dir.path().join("inbox").join(result["file"].as_str().expect("file"));
        assert!(kept.exists(), "kept as received: {result}");
        let profile_json: Value =
            serde_json::from_slice(&std::fs::read(profile.join("profile.json")).expect("profile")).expect("JSON");
        assert_eq!(profile_json["editions"].as_array().map(Vec::len), Some(1), "nothing installed: {profile_json}");
    }
    assert!(relay.stop().success());
}

#[test]
fn a_backup_carries_the_relay_key_and_a_restore_into_a_new_folder_brings_it_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start(&data, "");
    let original = std::fs::read(data.join("keys/relay.pgp")).expect("relay key");
    let backup = dir.path().join("backup.cdcb");
    let key = dir.path().join("backup.key");
    let path = |p: &Path| p.to_str().expect("utf-8").to_owned();
    let done = relay.cli(&["backup", "--to", &path(&backup), "--json"]);
    assert!(done.status.success(), "{}", said(&done));
    assert!(said(&done).contains("keys/relay.pgp"), "{}", said(&done));
    assert!(relay.cli(&["backup", "key", "--export", &path(&key)]).status.success());
    assert!(relay.stop().success());
    let restored_data = dir.path().join("restored");
    let restored =
        common::caducee(&restored_data, &["restore", "--from", &path(&backup), "--key-file", &path(&key), "--json"]);
    assert!(restored.status.success(), "{}", said(&restored));
    assert_eq!(std::fs::read(restored_data.join("keys/relay.pgp")).expect("restored relay key"), original);
}
