//! The practice client end to end: install from a bundle and its code, send an HPRIM
//! document, fetch and verify it — and interoperate with gpg both ways.

// An end-to-end scenario reads as one story, step after step: the 100-line rule is for the
// relay's own code.
#![allow(clippy::too_many_lines)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{caducee_plain, client_binary, compose_with, python, Issuer, Relay};
use serde_json::Value;

fn client(args: &[&str]) -> Output {
    caducee_plain(args)
}

/// Runs a client command (`args` start with `client`) as `caducee client …`, or with the
/// practice client's own binary, `caducee-client …`.
fn client_as(standalone: bool, args: &[&str]) -> Output {
    if standalone {
        std::process::Command::new(client_binary()).args(&args[1..]).output().expect("run caducee-client")
    } else {
        client(args)
    }
}

fn ok(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

struct Practice {
    /// Whether this practice runs `caducee-client` rather than `caducee client`.
    standalone: bool,
    address: String,
    password: String,
    profile: PathBuf,
    created: Value,
}

fn subscribe(relay: &Relay, dir: &Path, local: &str) -> Practice {
    subscribe_with(relay, dir, local, false)
}

fn subscribe_with(relay: &Relay, dir: &Path, local: &str, standalone: bool) -> Practice {
    let created = relay.add_user_full(local, None);
    let address = created["address"].as_str().expect("address").to_owned();
    let password = created["password"].as_str().expect("password").to_owned();
    let password_file = dir.join(format!("{local}.password"));
    std::fs::write(&password_file, &password).expect("password file");
    let profile = dir.join(format!("{local}-profile"));
    let install = common::client_install_args(&created, &profile, &password_file);
    ok(client_as(standalone, &install.iter().map(String::as_str).collect::<Vec<_>>()), "client install");
    Practice { standalone, address, password, profile, created }
}

fn send(from: &Practice, to: &[&str], document: &Path) -> Output {
    let mut args = vec!["client", "send", "--profile", from.profile.to_str().expect("utf-8")];
    for address in to {
        args.extend(["--to", address]);
    }
    args.extend([
        "--patient-last-name",
        "DUPONT",
        "--patient-first-name",
        "Marie",
        "--patient-birth-date",
        "1970-03-15",
        "--file",
        document.to_str().expect("utf-8"),
    ]);
    client_as(from.standalone, &args)
}

/// Fetches into `out`; the result files, by document, as (file text, result JSON).
fn fetch(practice: &Practice, out: &Path) -> Vec<(Vec<u8>, Value)> {
    ok(
        client_as(
            practice.standalone,
            &[
                "client",
                "fetch",
                "--profile",
                practice.profile.to_str().expect("utf-8"),
                "--out",
                out.to_str().expect("utf-8"),
            ],
        ),
        "client fetch",
    );
    let mut results = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(out).expect("out").map(|e| e.expect("entry").path()).collect();
    names.sort();
    for path in names.iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let result: Value = serde_json::from_slice(&std::fs::read(path).expect("result")).expect("JSON");
        let file = out.join(result["file"].as_str().expect("file"));
        results.push((std::fs::read(file).expect("document"), result));
    }
    results
}

#[test]
fn practices_exchange_signed_documents_with_the_client_and_with_gpg() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let alice = subscribe(&relay, dir.path(), "alice");
    let bob = subscribe(&relay, dir.path(), "bob");
    let alice_fingerprint = alice.created["fingerprint"].as_str().expect("fingerprint").to_owned();

    // Client to client.
    let report = dir.path().join("report.txt");
    std::fs::write(&report, "Hémoglobine 14,2 g/dL\nPlaquettes 250 G/L\n").expect("document");
    ok(send(&alice, &[&bob.address], &report), "client send");
    let inbox = dir.path().join("bob-inbox");
    let fetched = fetch(&bob, &inbox);
    assert_eq!(fetched.len(), 1);
    let (document, result) = &fetched[0];
    assert_eq!(result["kind"], "document", "{result}");
    assert_eq!(result["signature"], "valid", "{result}");
    assert_eq!(result["signer_fingerprint"], alice_fingerprint.as_str());
    assert_eq!(result["from"], alice.address.as_str());
    assert_eq!(result["patient"]["last_name"], "DUPONT");
    assert_eq!(result["patient"]["first_name"], "Marie");
    assert_eq!(result["patient"]["birth_date"], "1970-03-15");
    assert_eq!(result["hprim_problems"], serde_json::json!([]));
    let text = String::from_utf8(document.clone()).expect("utf-8");
    assert!(text.starts_with("\r\nDUPONT\r\nMarie\r\n"), "{text:?}");
    assert!(text.contains("\r\nHémoglobine 14,2 g/dL\r\nPlaquettes 250 G/L\r\n****FIN****\r\n****FINFICHIER****\r\n"));
    let fetched_file = inbox.join(result["file"].as_str().expect("file"));
    ok(client(&["client", "lint-hprim", fetched_file.to_str().expect("utf-8")]), "lint of a fetched document");
    // Fetched means deleted from the relay.
    assert_eq!(relay.fetch(&bob.address, &bob.password, false).len(), 0);

    // gpg to client: a document written and encrypted with gpg alone (alice's bundle
    // imported into gpg, bob's key as the relay issued it), submitted with smtplib.
    let hprim_text = dir.path().join("hprim.txt");
    std::fs::write(&hprim_text, text.replace("\r\n", "\n")).expect("hprim text");
    let from_gpg = compose_with(
        dir.path(),
        &[&alice.address, &bob.address],
        "Compte rendu",
        &format!("@{}", hprim_text.display()),
        0,
    );
    let sent = relay.send(&alice.address, &alice.password, &bob.address, &from_gpg);
    assert_eq!(sent["data"]["code"], 250, "{sent}");
    let inbox = dir.path().join("bob-inbox-2");
    let fetched = fetch(&bob, &inbox);
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].1["signature"], "valid", "{}", fetched[0].1);
    assert_eq!(fetched[0].1["patient"]["last_name"], "DUPONT", "{}", fetched[0].1);

    // Client to gpg: bob, with gpg alone, decrypts what the client sent and verifies it with
    // alice's certificate from the relay's key server.
    ok(send(&alice, &[&bob.address], &report), "client send");
    let raw = relay.fetch(&bob.address, &bob.password, true);
    assert_eq!(raw.len(), 1);
    // What the client wrote is a whole message: dated, identified in the sender's domain.
    let parsed = mail_parser::MessageParser::default().parse(&raw[0]).expect("a message");
    assert!(parsed.date().is_some(), "{}", String::from_utf8_lossy(&raw[0]));
    assert!(parsed.message_id().is_some_and(|id| id.ends_with("@relay.test")), "{}", String::from_utf8_lossy(&raw[0]));
    let raw_file = dir.path().join("for-gpg.eml");
    std::fs::write(&raw_file, &raw[0]).expect("raw message");
    let bob_gpg = dir.path().join("bob-gpg");
    python(&[
        "import-bundle",
        "--home",
        bob_gpg.to_str().expect("utf-8"),
        "--bundle",
        bob.created["bundle"].as_str().expect("bundle"),
        "--code",
        bob.created["installation_code"].as_str().expect("code"),
        "--address",
        &bob.address,
    ]);
    let url = format!("https://127.0.0.1:{}/pks/lookup?op=get&search={}", relay.port("https"), alice.address);
    python(&["https-get", "--url", &url, "--ca", &relay.ca(), "--import-into", bob_gpg.to_str().expect("utf-8")]);
    let opened = python(&[
        "gpg-open",
        "--home",
        bob_gpg.to_str().expect("utf-8"),
        "--code",
        bob.created["installation_code"].as_str().expect("code"),
        "--file",
        raw_file.to_str().expect("utf-8"),
    ]);
    assert_eq!(opened["exit"], 0, "{opened}");
    assert_eq!(opened["goodsig"], true, "{opened}");
    assert!(opened["validsig"].as_str().is_some(), "{opened}");
    assert!(opened["plaintext"].as_str().expect("plaintext").contains("DUPONT\r\nMarie"), "{opened}");

    // sq (Debian's 0.27, sequoia 1.x) both ways, with the certificates from the key server
    // and the keys of the client profiles.
    let alice_cert = dir.path().join("alice.asc");
    let bob_cert = dir.path().join("bob.asc");
    for (practice, file) in [(&alice, &alice_cert), (&bob, &bob_cert)] {
        let url = format!("https://127.0.0.1:{}/pks/lookup?op=get&search={}", relay.port("https"), practice.address);
        let got = python(&["https-get", "--url", &url, "--ca", &relay.ca()]);
        std::fs::write(file, got["text"].as_str().expect("certificate")).expect("certificate file");
    }
    let key_of = |practice: &Practice| {
        let keys = practice.profile.join("keys");
        std::fs::read_dir(keys).expect("keys").next().expect("a key").expect("entry").path()
    };
    let sq = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new("sq").args(args).output().expect("sq (apt-get install sq)")
    };
    let encrypted = sq(&[
        "encrypt".as_ref(),
        "--recipient-cert".as_ref(),
        bob_cert.as_os_str(),
        "--signer-key".as_ref(),
        key_of(&alice).as_os_str(),
        hprim_text.as_os_str(),
    ]);
    let armoured = ok(encrypted, "sq encrypt");
    let inline = dir.path().join("from-sq.eml");
    std::fs::write(
        &inline,
        format!(
            "From: <{}>\r\nTo: <{}>\r\nSubject: Document\r\n\r\n{}",
            alice.address,
            bob.address,
            armoured.replace('\n', "\r\n")
        ),
    )
    .expect("inline message");
    assert_eq!(relay.send(&alice.address, &alice.password, &bob.address, &inline)["data"]["code"], 250);
    let fetched = fetch(&bob, &dir.path().join("bob-inbox-sq"));
    assert_eq!((fetched.len(), &fetched[0].1["signature"]), (1, &serde_json::json!("valid")), "{fetched:?}");
    assert_eq!(fetched[0].1["patient"]["first_name"], "Marie");

    ok(send(&alice, &[&bob.address], &report), "client send");
    let raw = relay.fetch(&bob.address, &bob.password, true);
    let raw = String::from_utf8(raw[0].clone()).expect("ascii message");
    let start = raw.find("-----BEGIN PGP MESSAGE-----").expect("armour");
    let end = raw.find("-----END PGP MESSAGE-----").expect("armour end") + "-----END PGP MESSAGE-----".len();
    let for_sq = dir.path().join("for-sq.asc");
    std::fs::write(&for_sq, raw[start..end].replace("\r\n", "\n")).expect("armour file");
    let decrypted = sq(&[
        "decrypt".as_ref(),
        "--recipient-key".as_ref(),
        key_of(&bob).as_os_str(),
        "--signer-cert".as_ref(),
        alice_cert.as_os_str(),
        for_sq.as_os_str(),
    ]);
    let said = String::from_utf8_lossy(&decrypted.stderr).into_owned();
    assert!(ok(decrypted, "sq decrypt").contains("DUPONT\r\nMarie"));
    assert!(said.contains("1 good signature"), "{said}");

    // A message claiming to be from alice but signed by carol: saved, flagged, never dropped.
    let carol = subscribe(&relay, dir.path(), "carol");
    let forged = compose_with(
        dir.path(),
        &[&carol.address, &bob.address],
        "Compte rendu",
        &format!("@{}", hprim_text.display()),
        0,
    );
    let forged_text = std::fs::read_to_string(&forged).expect("forged").replace(&carol.address, &alice.address);
    std::fs::write(&forged, forged_text).expect("forge");
    assert_eq!(relay.send(&alice.address, &alice.password, &bob.address, &forged)["data"]["code"], 250);
    // And one whose encrypted data was damaged on the way.
    let damaged = compose_with(dir.path(), &[&alice.address, &bob.address], "Compte rendu", "texte", 0);
    let mut damaged_text = std::fs::read_to_string(&damaged).expect("damaged");
    let armour_end = damaged_text.find("-----END PGP MESSAGE-----").expect("armour");
    let at = damaged_text[..armour_end].rfind("\n=").unwrap_or(armour_end) - 40;
    let flipped = if &damaged_text[at..=at] == "A" { "B" } else { "A" };
    damaged_text.replace_range(at..=at, flipped);
    std::fs::write(&damaged, damaged_text).expect("damage");
    assert_eq!(relay.send(&alice.address, &alice.password, &bob.address, &damaged)["data"]["code"], 250);

    let inbox = dir.path().join("bob-inbox-3");
    let fetched = fetch(&bob, &inbox);
    assert_eq!(fetched.len(), 2, "both saved");
    let forged = fetched.iter().find(|(_, r)| r["kind"] == "document").expect("the forged one opens");
    assert_eq!(forged.1["signature"], "unknown-key", "{}", forged.1);
    let broken = fetched.iter().find(|(_, r)| r["kind"] == "undecryptable").expect("the damaged one is kept");
    assert!(broken.1["file"].as_str().expect("file").ends_with(".eml"));
    assert_eq!(relay.fetch(&bob.address, &bob.password, false).len(), 0);
    assert!(relay.stop().success());
}

/// The practice client's own binary, `caducee-client` (its crate depends on no server
/// crate), talks to the relay as `caducee client` does, both ways.
#[test]
fn the_standalone_client_installs_sends_and_fetches_beside_the_appliance_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let alice = subscribe_with(&relay, dir.path(), "alice", true);
    let bob = subscribe(&relay, dir.path(), "bob");
    let report = dir.path().join("report.txt");
    std::fs::write(&report, "Créatinine 80 µmol/L\n").expect("document");

    ok(send(&alice, &[&bob.address], &report), "caducee-client send");
    let fetched = fetch(&bob, &dir.path().join("bob-inbox"));
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].1["signature"], "valid", "{}", fetched[0].1);
    assert_eq!(fetched[0].1["signer_fingerprint"], alice.created["fingerprint"]);

    ok(send(&bob, &[&alice.address], &report), "caducee client send");
    let fetched = fetch(&alice, &dir.path().join("alice-inbox"));
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].1["signature"], "valid", "{}", fetched[0].1);
    assert!(String::from_utf8_lossy(&fetched[0].0).contains("Créatinine 80 µmol/L"));

    // Its profile reads the same from both programs.
    let profile = alice.profile.to_str().expect("utf-8");
    let shown = ok(client_as(true, &["client", "profile", "--profile", profile, "--json"]), "profile");
    let same = ok(client_as(false, &["client", "profile", "--profile", profile, "--json"]), "profile");
    assert_eq!(shown, same);
    let shown: Value = serde_json::from_str(&shown).expect("JSON");
    assert_eq!(shown["address"], alice.address.as_str());
}

#[test]
fn the_client_refuses_bad_input_clearly_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let created = relay.add_user_full("dora", None);
    let bundle = created["bundle"].as_str().expect("bundle");
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, created["password"].as_str().expect("password")).expect("password");
    let profile = dir.path().join("profile");
    let install = |bundle: &str, code: &str| {
        client(&[
            "client",
            "install",
            "--bundle",
            bundle,
            "--code",
            code,
            "--profile",
            profile.to_str().expect("utf-8"),
            "--password-file",
            password_file.to_str().expect("utf-8"),
        ])
    };
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();

    let wrong = install(bundle, "AAAAA-AAAAA-AAAAA-AAAAA");
    assert!(!wrong.status.success());
    assert!(stderr(&wrong).contains("does not open this bundle"), "{}", stderr(&wrong));
    assert!(!profile.exists(), "nothing written on a wrong code");

    let tampered = dir.path().join("tampered.bundle");
    let text = std::fs::read_to_string(bundle).expect("bundle").replace("Host: 127.0.0.1", "Host: 10.6.6.6");
    std::fs::write(&tampered, text).expect("tampered");
    let refused = install(tampered.to_str().expect("utf-8"), created["installation_code"].as_str().expect("code"));
    assert!(stderr(&refused).contains("altered"), "{}", stderr(&refused));
    assert!(!profile.exists());

    ok(install(bundle, created["installation_code"].as_str().expect("code")), "install");
    let dora = Practice {
        standalone: false,
        address: "dora@relay.test".into(),
        password: String::new(),
        profile: profile.clone(),
        created: created.clone(),
    };
    let document = dir.path().join("doc.txt");
    std::fs::write(&document, "Compte rendu\n").expect("doc");
    let unknown = send(&dora, &["nobody@relay.test"], &document);
    assert!(stderr(&unknown).contains("nobody@relay.test is not a user of this relay"), "{}", stderr(&unknown));

    let bad_hprim = dir.path().join("bad.hpr");
    std::fs::write(&bad_hprim, "12\nDUPONT\nMarie\n\n\n\n31/02/1980\n\n\n01/01/2026\nA\nB\ntexte\n****FIN****\n")
        .expect("bad");
    let lint = client(&["client", "lint-hprim", bad_hprim.to_str().expect("utf-8")]);
    assert!(!lint.status.success());
    let said = String::from_utf8_lossy(&lint.stdout);
    assert!(said.contains("line 7") && said.contains("31/02/1980"), "{said}");
    assert!(said.contains("FINFICHIER"), "{said}");
    assert!(relay.stop().success());

    // The relay is down: the practice is told so, not left guessing.
    let down = send(&dora, &["erin@relay.test"], &document);
    assert!(!down.status.success());
    assert!(stderr(&down).contains("unreachable"), "{}", stderr(&down));
}

#[test]
fn next_years_keys_arrive_in_the_mailbox_and_the_client_installs_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "[keys]\nauto_renew = true\n");
    let erin = subscribe(&relay, dir.path(), "erin");
    let expires_at = erin.created["expires_at"].as_u64().expect("expiry");
    // Three weeks before the keys expire: inside the 30-day renewal window.
    let day = chrono::DateTime::from_timestamp_millis((expires_at - 21 * 86_400_000) as i64)
        .expect("date")
        .format("%Y-%m-%d")
        .to_string();
    let run = |day: &str| {
        let output = relay.cli(&["monitor", "run", "--as-of", day, "--json"]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<Value>(&output.stdout).expect("JSON")
    };
    assert_eq!(run(&day)["keys_renewed"], 1);
    assert_eq!(run(&day)["keys_renewed"], 0, "renewed once");

    let shown = relay.cli(&["keys", "show", "--address", &erin.address, "--json"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    let editions = shown["certificates"].as_array().expect("editions");
    assert_eq!(editions.len(), 2, "{shown}");
    let renewed_fingerprint = editions[1]["fingerprint"].as_str().expect("fingerprint");
    assert!(editions[1]["expires_at"].as_u64() > Some(expires_at + 360 * 86_400_000), "{shown}");

    // The practice's next fetch installs them; nothing lands in the integration folder but
    // the result.
    let inbox = dir.path().join("inbox");
    let fetched = fetch(&erin, &inbox);
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].1["kind"], "keys", "{}", fetched[0].1);
    assert!(fetched[0].1["installed"].as_str().expect("installed").contains(renewed_fingerprint));
    let profile: Value =
        serde_json::from_slice(&std::fs::read(erin.profile.join("profile.json")).expect("profile")).expect("JSON");
    assert_eq!(profile["editions"].as_array().map(Vec::len), Some(2), "{profile}");
    assert!(erin.profile.join("keys").join(format!("{renewed_fingerprint}.pgp")).exists());
    assert!(!std::fs::read_dir(&inbox)
        .expect("inbox")
        .any(|e| { e.expect("entry").path().extension().is_some_and(|x| x == "hpr" || x == "eml") }));

    // Another user mails erin something that looks like a renewal (carol's own keys): it is
    // kept and flagged, never installed.
    let carol = subscribe(&relay, dir.path(), "carol");
    let lure = dir.path().join("lure.txt");
    let carol_bundle = std::fs::read_to_string(carol.created["bundle"].as_str().expect("bundle")).expect("bundle");
    let code = carol.created["installation_code"].as_str().expect("code");
    std::fs::write(&lure, format!("Caducée key renewal\nInstallation-Code: {code}\n\n{carol_bundle}")).expect("lure");
    let lure_message = compose_with(
        dir.path(),
        &[&carol.address, &erin.address],
        "Nouvelles cles",
        &format!("@{}", lure.display()),
        0,
    );
    assert_eq!(relay.send(&carol.address, &carol.password, &erin.address, &lure_message)["data"]["code"], 250);
    let fetched = fetch(&erin, &dir.path().join("inbox-2"));
    assert_eq!(fetched[0].1["kind"], "suspicious-keys", "{}", fetched[0].1);
    let profile: Value =
        serde_json::from_slice(&std::fs::read(erin.profile.join("profile.json")).expect("profile")).expect("JSON");
    assert_eq!(profile["editions"].as_array().map(Vec::len), Some(2), "nothing installed: {profile}");

    assert!(relay.cli(&["audit", "verify"]).status.success());
    assert!(relay.stop().success());
}

/// `POST /keys/submit` as practice software would send it: Basic credentials, a public
/// certificate; the status and the JSON answer.
fn submit(relay: &Relay, address: &str, password: &str, certificate: &[u8]) -> (u16, Value) {
    let ca = std::fs::read(relay.ca()).expect("CA");
    let agent = ureq::AgentBuilder::new().tls_config(caducee_actors::probe::client_config(&ca).expect("TLS")).build();
    let url = format!("https://localhost:{}/keys/submit", relay.port("https"));
    let credentials =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{address}:{password}"));
    let response = agent.post(&url).set("Authorization", &format!("Basic {credentials}")).send_bytes(certificate);
    let (status, response) = match response {
        Ok(response) => (response.status(), response),
        Err(ureq::Error::Status(status, response)) => (status, response),
        Err(error) => panic!("{url}: {error}"),
    };
    (status, serde_json::from_str(&response.into_string().expect("body")).expect("JSON"))
}

#[test]
fn a_practice_makes_its_own_keys_and_the_relay_certifies_and_publishes_them() {
    use sequoia_openpgp::parse::Parse as _;
    use sequoia_openpgp::serialize::SerializeInto as _;

    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let frank = subscribe(&relay, dir.path(), "frank");
    let dana = subscribe(&relay, dir.path(), "dana");

    // The practice makes its keys; only the public certificate leaves its machine.
    let made = ok(
        client(&["client", "keygen", "--profile", frank.profile.to_str().expect("utf-8"), "--name", "Frank Martin"]),
        "client keygen",
    );
    assert!(made.contains("edition 2") && made.contains("certified and published by the relay"), "{made}");
    let shown = relay.cli(&["keys", "show", "--address", &frank.address, "--json"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    let fingerprint = shown["certificates"][1]["fingerprint"].as_str().expect("edition 2").to_owned();
    assert!(made.contains(&fingerprint), "{made} {shown}");
    let secret = std::fs::read(frank.profile.join("keys").join(format!("{fingerprint}.pgp"))).expect("keys");
    let secret = sequoia_openpgp::Cert::from_bytes(&secret).expect("certificate");
    assert!(secret.is_tsk(), "the secret keys are on the practice's machine");
    let bundles = std::fs::read_dir(dir.path().join("data/bundles")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(bundles, 2, "no bundle was made for the practice's own keys (one each from user add)");

    // Published: a correspondent's client finds and uses them; frank reads the document.
    let document = dir.path().join("document.txt");
    std::fs::write(&document, "Compte rendu: glycemie 5,1 mmol/L\n").expect("document");
    ok(send(&dana, &[&frank.address], &document), "client send");
    let fetched = fetch(&frank, &dir.path().join("inbox"));
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].1["signature"], "valid", "{}", fetched[0].1);

    // What the relay refuses, in words: another address in the user ID; secret keys; a wrong
    // password.
    let (other, _) = sequoia_openpgp::cert::CertBuilder::general_purpose(Some("<mallory@relay.test>"))
        .generate()
        .expect("certificate");
    let public = other.clone().strip_secret_key_material().armored().to_vec().expect("armour");
    let (status, answer) = submit(&relay, &frank.address, &frank.password, &public);
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("must be the account's address")), "{answer}");
    let (status, answer) =
        submit(&relay, &frank.address, &frank.password, &other.as_tsk().armored().to_vec().expect("armour"));
    assert!(status == 422 && answer["error"].as_str().is_some_and(|e| e.contains("secret keys")), "{answer}");
    let (status, _) = submit(&relay, &frank.address, "not-the-password", &public);
    assert_eq!(status, 401);
    let audit = relay.cli(&["audit", "export", "--from", "2000-01-01", "--to", "2999-12-31"]);
    assert!(String::from_utf8_lossy(&audit.stdout).contains("submitted by the practice"), "audited");

    // Revoked: the relay withdraws its certification of the practice's keys (it never held
    // their secret key to revoke them with) and stops carrying mail encrypted to them.
    let revoked = relay.cli(&["keys", "revoke", "--address", &frank.address, "--reason", "compromised", "--json"]);
    let revoked: Value = serde_json::from_slice(&revoked.stdout).unwrap_or_else(|_| panic!("{revoked:?}"));
    assert!(revoked["revoked"].as_array().is_some_and(|r| r.iter().any(|f| f == fingerprint.as_str())), "{revoked}");
    let published = relay.cli(&["keys", "show", "--address", &frank.address, "--json"]);
    let published: Value = serde_json::from_slice(&published.stdout).expect("JSON");
    let edition = published["certificates"]
        .as_array()
        .expect("editions")
        .iter()
        .find(|c| c["fingerprint"] == fingerprint.as_str());
    assert_eq!(edition.expect("edition 2")["status"], "revoked", "{published}");
}

#[test]
fn with_a_key_issuer_the_relay_process_never_holds_a_users_secret_keys() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start(&data, &Issuer::config(dir.path()));

    // The issuer is down: `user add` refuses before creating anything.
    let refused = relay.cli(&[
        "user",
        "add",
        "--address",
        "gus@relay.test",
        "--first-name",
        "Gus",
        "--last-name",
        "Petit",
        "--contact-email",
        "gus@example.org",
    ]);
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(why.contains("no account was created") && why.contains("is it running?"), "{why}");
    assert!(!String::from_utf8_lossy(&relay.cli(&["user", "list"]).stdout).contains("gus@"), "nothing created");

    // Up: every edition is made there, its bundle in the issuer's folder (mode 0600), none
    // in the relay's.
    let issuer = Issuer::start(dir.path(), &data);
    let erin = subscribe(&relay, dir.path(), "erin");
    let hugo = subscribe(&relay, dir.path(), "hugo");
    let issued = std::fs::canonicalize(&issuer.bundles).expect("issuer's folder");
    for practice in [&erin, &hugo] {
        let bundle = PathBuf::from(practice.created["bundle"].as_str().expect("bundle"));
        assert!(bundle.starts_with(&issued), "{} is not in {}", bundle.display(), issued.display());
        let mode = std::fs::metadata(&bundle).expect("bundle").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", bundle.display());
    }
    assert!(!data.join("bundles").exists(), "the relay wrote a bundle of its own");

    // The keys work: a document from erin to hugo, signed and verified.
    let report = dir.path().join("report.txt");
    std::fs::write(&report, "Créatinine 80 µmol/L\n").expect("document");
    ok(send(&erin, &[&hugo.address], &report), "client send");
    let fetched = fetch(&hugo, &dir.path().join("hugo-inbox"));
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].1["signature"], "valid", "{}", fetched[0].1);

    // December: the monitor's renewal is made by the issuer too, already encrypted to
    // erin's keys, and her client installs it.
    let expires_at = erin.created["expires_at"].as_u64().expect("expiry");
    let day = chrono::DateTime::from_timestamp_millis((expires_at - 21 * 86_400_000) as i64)
        .expect("date")
        .format("%Y-%m-%d")
        .to_string();
    let swept = relay.cli(&["monitor", "run", "--as-of", &day, "--json"]);
    let swept: Value = serde_json::from_slice(&swept.stdout).unwrap_or_else(|_| panic!("{swept:?}"));
    assert_eq!(swept["keys_renewed"], 2, "{swept}");
    let fetched = fetch(&erin, &dir.path().join("erin-inbox"));
    let keys: Vec<_> = fetched.iter().filter(|(_, result)| result["kind"] == "keys").collect();
    assert_eq!(keys.len(), 1, "{fetched:?}");
    assert!(keys[0].1["installed"].as_str().is_some_and(|i| !i.is_empty()), "{}", keys[0].1);
    let profile: Value =
        serde_json::from_slice(&std::fs::read(erin.profile.join("profile.json")).expect("profile")).expect("JSON");
    assert_eq!(profile["editions"].as_array().map(Vec::len), Some(2), "{profile}");
    // A renewal leaves no bundle file anywhere: it travelled inside the message.
    assert_eq!(std::fs::read_dir(&issued).expect("issuer's folder").count(), 2);
    issuer.stop();
}

/// Practice software writes HPRIM in Latin-1 or Windows-1252 and reads it back in the set it
/// was made for: `client send` reads either (found from the bytes), and `client fetch`
/// writes each document in the profile's set, saying how many characters it could not hold.
#[test]
fn documents_in_latin1_and_windows_1252_travel_and_arrive_in_the_practices_charset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let alice = subscribe(&relay, dir.path(), "alice");
    let bob = subscribe(&relay, dir.path(), "bob");
    let windows = "Compte rendu : œdème résorbé, dépassement 12 €.\r\nÉchographie à revoir.\r\n";
    let latin = "Échographie : résultat négatif, contrôle à 3 mois.\r\n";
    let (windows_file, latin_file) = (dir.path().join("cr-1252.txt"), dir.path().join("cr-latin1.txt"));
    std::fs::write(&windows_file, common::iconv_from_utf8("CP1252", windows)).expect("file");
    std::fs::write(&latin_file, common::iconv_from_utf8("ISO-8859-1", latin)).expect("file");
    assert!(ok(send(&alice, &[&bob.address], &windows_file), "send cp1252").contains("windows-1252 text"));
    assert!(ok(send(&alice, &[&bob.address], &latin_file), "send latin-1").contains("iso-8859-1 text"));

    let profile = bob.profile.to_str().expect("utf-8");
    let shown = ok(client(&["client", "profile", "--profile", profile, "--charset", "windows-1252"]), "profile");
    assert!(shown.contains("documents written in: windows-1252"), "{shown}");
    let fetched = fetch(&bob, &dir.path().join("inbox-1252"));
    assert_eq!(fetched.len(), 2);
    // Both collected in one session: their files' names order them by second and hash.
    let texts: Vec<String> = fetched.iter().map(|(file, _)| common::iconv_to_utf8("CP1252", file)).collect();
    for (_, result) in &fetched {
        assert_eq!((&result["charset"], &result["replaced_characters"]), (&"windows-1252".into(), &0.into()));
        assert_eq!(result["signature"], "valid", "{result}");
    }
    for expected in [windows, latin] {
        assert_eq!(texts.iter().filter(|text| text.contains(expected)).count(), 1, "{expected}: {texts:?}");
    }

    // A Latin-1 practice cannot hold œ and €: each becomes ?, and the result says how many.
    // Practice software reads the profile as JSON.
    let shown =
        ok(client(&["client", "profile", "--profile", profile, "--charset", "iso-8859-1", "--json"]), "profile");
    let shown: Value = serde_json::from_str(&shown).expect("JSON");
    assert_eq!((&shown["charset"], &shown["address"]), (&"iso-8859-1".into(), &bob.address.clone().into()), "{shown}");
    ok(send(&alice, &[&bob.address], &windows_file), "send cp1252");
    let fetched = fetch(&bob, &dir.path().join("inbox-latin1"));
    let (file, result) = &fetched[0];
    assert_eq!((&result["charset"], &result["replaced_characters"]), (&"iso-8859-1".into(), &2.into()), "{result}");
    let text = common::iconv_to_utf8("ISO-8859-1", file);
    assert!(text.contains("Compte rendu : ?dème résorbé, dépassement 12 ?."), "{text}");

    // Said to be UTF-8 when it is not: refused, saying where and what to do.
    let refused = client(&[
        "client",
        "send",
        "--profile",
        alice.profile.to_str().expect("utf-8"),
        "--to",
        &bob.address,
        "--patient-last-name",
        "DUPONT",
        "--patient-first-name",
        "Marie",
        "--patient-birth-date",
        "1970-03-15",
        "--file",
        latin_file.to_str().expect("utf-8"),
        "--charset",
        "utf-8",
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not UTF-8 (line 1, byte 0)"), "{refused:?}");
    assert!(relay.stop().success());
}
