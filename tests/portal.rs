//! The personal space end to end over HTTPS, with a scripted browser
//! (tests/clients/portal.py: cookies, forms, TOTP computed on its own).

// An end-to-end scenario reads as one story, step after step: the 100-line rule is for the
// relay's own code.
#![allow(clippy::too_many_lines)]

mod common;

use std::path::{Path, PathBuf};

use common::{compose, Relay};
use serde_json::Value;

struct Browser<'a> {
    relay: &'a Relay,
    jar: PathBuf,
}

impl Browser<'_> {
    fn run(&self, args: &[&str]) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/portal.py");
        let base = format!("https://127.0.0.1:{}", self.relay.port("https"));
        let output = std::process::Command::new("python3")
            .arg(script)
            .args(["--base", &base, "--ca", &self.relay.ca(), "--state", self.jar.to_str().expect("utf-8")])
            .args(args)
            .envs(self.relay.clock.iter().map(|(n, v)| (n, v)))
            .output()
            .expect("python3");
        assert!(output.status.success(), "portal.py {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("JSON")
    }

    fn get(&self, path: &str) -> Value {
        self.run(&["get", path])
    }

    fn post(&self, path: &str, form_page: &str, fields: &[&str]) -> Value {
        let mut args = vec!["post", path, "--form-page", form_page];
        for field in fields {
            args.extend(["--field", field]);
        }
        self.run(&args)
    }

    fn login(&self, address: &str, password: &str, extra: &[&str]) -> Value {
        let mut args = vec!["login", "--address", address, "--password", password];
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

fn body(page: &Value) -> &str {
    page["body"].as_str().unwrap_or_default()
}

fn cookie_flags_are_strict(set_cookie: &Value) -> bool {
    set_cookie.as_array().is_some_and(|all| {
        all.iter().filter_map(Value::as_str).filter(|c| c.starts_with("caducee_session=")).all(|c| {
            c.contains("HttpOnly") && c.contains("Secure") && c.contains("SameSite=Strict") && c.contains("Path=/")
        })
    })
}

#[test]
fn a_doctor_logs_in_with_a_second_factor_and_manages_the_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "[limits]\nlogin_failures_max = 3\n");
    let (alice, alice_password) = relay.add_user("alice", None);
    let (bob, bob_password) = relay.add_user("bob", None);
    let terms = dir.path().join("terms.txt");
    std::fs::write(&terms, "Conditions générales d'utilisation, version de test.\n").expect("terms");
    assert!(relay.cli(&["terms", "publish", "--file", terms.to_str().expect("utf-8")]).status.success());
    let browser = Browser { relay: &relay, jar: dir.path().join("alice.cookies") };

    // Not logged in: to the login page, which says what it is and what to do when lost.
    assert_eq!(browser.get("/account")["location"], "/login");
    let login = browser.get("/login");
    let login = body(&login);
    for said in [
        "Espace personnel — relay.test",
        "Le mot de passe de votre messagerie",
        "href=\"/directory?lang=fr\"",
        "Mot de passe perdu",
        "codes de secours",
    ] {
        assert!(login.contains(said), "{said:?} on the login page: {login}");
    }
    // A wrong password says so, and no session starts.
    let wrong = browser.login(&alice, "not-the-password", &[]);
    assert_eq!(wrong["password"]["status"], 401, "{wrong}");
    assert!(wrong["password"]["body"].as_str().expect("body").contains("Adresse ou mot de passe incorrect"));

    // Password, then TOTP enrolment: a seed, a first code, ten recovery codes.
    let login = browser.login(&alice, &alice_password, &[]);
    assert_eq!(login["password"]["location"], "/login/second-factor", "{login}");
    assert_eq!(login["enrolment"], true);
    assert_eq!(login["second_factor"]["status"], 200, "{login}");
    let recovery: Vec<String> = login["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    assert!(cookie_flags_are_strict(&login["password"]["set_cookie"]), "{login}");
    assert!(cookie_flags_are_strict(&login["second_factor"]["set_cookie"]), "{login}");
    assert_ne!(login["password"]["set_cookie"][0], login["second_factor"]["set_cookie"][0], "a new token after 2FA");
    let secret = login["secret"].as_str().expect("seed").to_owned();

    // New terms of use: accepted before anything else.
    assert_eq!(browser.get("/account")["location"], "/terms");
    let terms_page = browser.get("/terms");
    assert!(body(&terms_page).contains("version de test"));
    assert_eq!(browser.post("/terms/accept", "/terms", &["version=1"])["location"], "/account");

    // The account page, with its security headers.
    let account = browser.get("/account");
    assert_eq!(account["status"], 200);
    // In French: French numbers, the key's state in words, times in Paris time.
    assert!(body(&account).contains(&alice) && body(&account).contains("0,00 Mo / 50 Mo"), "{}", body(&account));
    assert!(body(&account).contains("<td>valide</td>") && body(&account).contains(" CET"), "{}", body(&account));
    let headers = &account["headers"];
    assert!(headers["content-security-policy"].as_str().expect("CSP").contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(headers["strict-transport-security"].as_str().expect("HSTS").contains("max-age="));
    assert_eq!(headers["cache-control"], "no-store");
    // This login is in "my connections", in words: a stranger's would show there too.
    assert!(
        body(&account).contains("Espace personnel") && body(&account).contains("terminée normalement"),
        "{}",
        body(&account)
    );

    // A message arrives: the usage shows it.
    let message = compose(dir.path(), &[&bob, &alice], "Compte rendu");
    assert_eq!(relay.send(&bob, &bob_password, &alice, &message)["data"]["code"], 250);
    let account = browser.get("/account");
    assert!(body(&account).contains("<span id=\"messages\">1</span>"), "{}", body(&account));

    // Directory preferences: the red list takes effect in the directory at once.
    let search = |who: &str| {
        let url = format!("https://127.0.0.1:{}/directory/search?q={who}", relay.port("https"));
        let out = common::python(&["https-get", "--url", &url, "--ca", &relay.ca()]);
        out["text"].as_str().unwrap_or_default().to_owned()
    };
    assert!(search("alice").contains(&alice));
    assert_eq!(browser.post("/account/preferences", "/account", &["red_list=on"])["location"], "/account?done=saved");
    assert!(!search("alice").contains(&alice), "red-listed from the personal space");
    assert!(body(&browser.get("/account?done=saved")).contains("Enregistré"));
    // A forged form (no valid token) is refused and changes nothing.
    let forged = browser.post("/account/preferences", "/account", &["csrf=forged", "publish_phone=on"]);
    assert_eq!(forged["status"], 403, "{forged}");
    // A form without its token, and an address the relay does not serve: pages in the
    // user's language, no parser's words, no empty body.
    let url = format!("https://localhost:{}/account/preferences", relay.port("https"));
    let bare = std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--cacert", &relay.ca(), "-d", "publish_phone=on", &url])
        .output()
        .expect("curl");
    let bare = String::from_utf8_lossy(&bare.stdout);
    assert!(bare.ends_with("\n400") && bare.contains("Ce formulaire a expiré"), "{bare}");
    assert!(!bare.contains("Parse error") && !bare.contains("missing field"), "{bare}");
    let nowhere = browser.get("/nulle-part");
    assert_eq!(nowhere["status"], 404, "{nowhere}");
    assert!(body(&nowhere).contains("Cette page n&#39;existe pas."), "{nowhere}");
    assert!(!search("alice").contains(&alice), "still red-listed");
    browser.post("/account/preferences", "/account", &[]);
    assert!(search("alice").contains(&alice));
    // A refused password change says which mistake it was.
    let short = format!("current={alice_password}");
    let refused = browser.post("/account/password", "/account", &[short.as_str(), "new=court"]);
    assert_eq!(refused["location"], "/account?done=password-short", "{refused}");
    assert!(body(&browser.get("/account?done=password-short")).contains("trop court : 12 caractères au moins"));
    let refused =
        browser.post("/account/password", "/account", &["current=pas-le-bon", "new=un-mot-de-passe-assez-long"]);
    assert_eq!(refused["location"], "/account?done=password-wrong", "{refused}");
    assert!(body(&browser.get("/account?done=password-wrong")).contains("mot de passe actuel saisi est incorrect"));

    // Data rights: the export holds the account; a request reaches the administrator.
    let export = browser.get("/account/data.json");
    let data: Value = serde_json::from_str(body(&export)).expect("JSON export");
    assert_eq!(data["account"]["address"], alice.as_str());
    assert_eq!(data["personal_space"]["terms_accepted"][0][0], 1);
    assert!(data["certificates"][0]["fingerprint"].is_string());
    assert_eq!(data["message_trails"][0]["sender"], bob.as_str(), "the message's metadata");
    // The same data as a page a person reads: labelled sections, local times, no raw
    // paths or millisecond counts.
    let readable = browser.get("/account/data");
    let readable = body(&readable);
    assert!(readable.contains(&alice), "{readable}");
    for label in ["Mon compte", "Adresse de contact", "Mes clés", "Empreinte", "Mes connexions", "Espace personnel"] {
        assert!(readable.contains(label), "{label:?} on the data page: {readable}");
    }
    assert!(!readable.contains("[1]") && !readable.contains("subkeys[") && readable.contains(" CET"), "{readable}");
    // A millisecond count is a number of 13 digits standing alone (a fingerprint's hex may
    // hold long runs of digits: it is a word of letters and digits).
    let words = readable.split(|c: char| !c.is_ascii_alphanumeric());
    let milliseconds = words.filter(|w| w.len() == 13 && w.bytes().all(|b| b.is_ascii_digit())).count();
    assert_eq!(milliseconds, 0, "a time shown as milliseconds: {readable}");
    let filed = browser.post("/account/requests", "/account", &["kind=erasure", "text=Merci d'effacer mon compte."]);
    assert_eq!(filed["location"], "/account?done=request");
    let queue = relay.cli(&["requests", "--json"]);
    let queue: Value = serde_json::from_slice(&queue.stdout).expect("JSON");
    assert_eq!(queue[0]["kind"], "erasure");
    assert_eq!(queue[0]["address"], alice.as_str());
    let seq = queue[0]["seq"].as_u64().expect("seq").to_string();
    assert!(relay.cli(&["requests", "--close", &seq]).status.success());
    let queue: Value = serde_json::from_slice(&relay.cli(&["requests", "--json"]).stdout).expect("JSON");
    assert!(queue[0]["closed_at"].is_number(), "{queue}");
    assert!(!relay.cli(&["requests", "--close", &seq]).status.success(), "closed once");

    // Quality indicators, the certificate, English.
    let quality = browser.get("/account/quality");
    assert!(body(&quality).contains("<svg") && body(&quality).contains("Temps de traitement"));
    let fingerprint = data["certificates"][0]["fingerprint"].as_str().expect("fingerprint");
    let certificate = browser.get(&format!("/account/certificate/{fingerprint}.asc"));
    assert!(body(&certificate).starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    let english = browser.get("/account?lang=en");
    let english = body(&english);
    assert!(english.contains("My account") && english.contains("Personal space") && english.contains("ended normally"));
    assert!(english.contains("0.00 MB / 50 MB") && english.contains("<td>valid</td>"), "{english}");
    assert!(!english.contains("Pop3") && !english.contains("Smtp"), "protocols in words: {english}");

    // Log out; the old session is worth nothing.
    assert_eq!(browser.post("/logout", "/account", &[])["location"], "/login");
    assert_eq!(browser.get("/account")["location"], "/login");

    // A code is good once: the enrolment code again is refused; a recovery code works once.
    let enrolment_code = login["code"].as_str().expect("code");
    let replay = browser.login(&alice, &alice_password, &["--secret", &secret, "--code", enrolment_code]);
    assert_eq!(replay["second_factor"]["status"], 401, "{replay}");
    let with_recovery = browser.login(&alice, &alice_password, &["--secret", &secret, "--code", &recovery[0]]);
    assert_eq!(with_recovery["second_factor"]["location"], "/account", "{with_recovery}");
    assert_eq!(browser.get("/account")["status"], 200);
    browser.post("/logout", "/account", &[]);
    let again = browser.login(&alice, &alice_password, &["--secret", &secret, "--code", &recovery[0]]);
    assert_eq!(again["second_factor"]["status"], 401, "a recovery code is good once: {again}");

    // Signed in from two browsers, then the administrator resets the password: both are out.
    let laptop = Browser { relay: &relay, jar: dir.path().join("laptop.cookies") };
    for (device, code) in [(&browser, &recovery[1]), (&laptop, &recovery[2])] {
        let signed_in = device.login(&alice, &alice_password, &["--secret", &secret, "--code", code]);
        assert_eq!(signed_in["second_factor"]["location"], "/account", "{signed_in}");
        assert_eq!(device.get("/account")["status"], 200);
    }
    let reset = relay.cli(&["user", "reset-password", "--address", &alice]);
    assert!(reset.status.success(), "{}", String::from_utf8_lossy(&reset.stderr));
    assert_eq!(browser.get("/account")["location"], "/login", "a reset password ends every session");
    assert_eq!(laptop.get("/account")["location"], "/login");

    // Failed passwords lock further tries for the account (login_failures_max = 3 here).
    let other = Browser { relay: &relay, jar: dir.path().join("bob.cookies") };
    for _ in 0..3 {
        assert_eq!(other.login(&bob, "guess", &[])["password"]["status"], 401);
    }
    let locked = other.login(&bob, &bob_password, &[]);
    assert_eq!(locked["password"]["status"], 429, "{locked}");
    // The page says how long, from the throttle's window (15 minutes by default).
    assert!(locked["password"]["body"]
        .as_str()
        .expect("body")
        .contains("Trop de tentatives : réessayez dans 15 minutes"));

    // Every access and change is in the audit trail, under the user's name.
    let created = relay.created_day(&alice);
    let (from, to) = ((created - chrono::Days::new(1)).to_string(), (created + chrono::Days::new(1)).to_string());
    let audit = relay.cli(&["audit", "export", "--from", &from, "--to", &to]);
    let audit = String::from_utf8_lossy(&audit.stdout).into_owned();
    for what in
        ["account page", "directory preferences", "personal data", "data-protection request", "terms of use acceptance"]
    {
        assert!(
            audit.lines().any(|l| l.contains(what) && l.contains(&format!("\"actor\":\"{alice}\""))),
            "{what} audited: {audit}"
        );
    }
    assert!(relay.cli(&["audit", "verify"]).status.success());
    assert!(relay.stop().success());
}

/// The same in a real browser: the system's Chromium driven by playwright-core
/// (tests/browser/portal.mjs); screenshots kept in the test target's tmp folder.
#[test]
fn in_a_real_browser_a_doctor_logs_in_sees_the_mailbox_and_leaves_the_public_directory() {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser/node_modules/playwright-core");
    assert!(modules.exists(), "run `npm ci` in tests/browser (.ci/run does)");
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("chromium (apt-get install chromium)");
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let (alice, alice_password) = relay.add_user("alice", None);
    let (bob, bob_password) = relay.add_user("bob", None);
    let terms = dir.path().join("terms.txt");
    std::fs::write(&terms, "Conditions générales d'utilisation.\n").expect("terms");
    assert!(relay.cli(&["terms", "publish", "--file", terms.to_str().expect("utf-8")]).status.success());
    let message = compose(dir.path(), &[&bob, &alice], "Compte rendu");
    assert_eq!(relay.send(&bob, &bob_password, &alice, &message)["data"]["code"], 250);
    // A practice the directory shows with everything a page can hold.
    let added = relay.cli(&[
        "user",
        "add",
        "--address",
        "dr.claire.petit-lefebvre@relay.test",
        "--first-name",
        "Claire",
        "--last-name",
        "Petit-Lefebvre",
        "--contact-email",
        "claire@example.org",
        "--civility",
        "Dr",
        "--specialty",
        "Cardiologie",
        "--city",
        "Lille",
        "--postcode",
        "59000",
        "--phone",
        "03 20 00 00 02",
        "--publish-phone",
        "on",
    ]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));

    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser/portal.mjs");
    let output = std::process::Command::new("node")
        .arg(script)
        .env("BASE", format!("https://127.0.0.1:{}", relay.port("https")))
        .env("ADDRESS", &alice)
        .env("PASSWORD", &alice_password)
        .env("SCREENSHOTS", screenshots)
        .env("CHROMIUM", chromium)
        .env("DIRECTORY_QUERY", "Lille")
        .output()
        .expect("node");
    assert!(output.status.success(), "portal.mjs: {}", String::from_utf8_lossy(&output.stderr));
    let found: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(found["redirected_to_login"], "/login", "{found}");
    assert_eq!(found["qr_code_shown"], true);
    assert_eq!(found["recovery_codes"], 10);
    assert_eq!(found["terms_first"], "/terms");
    assert_eq!(found["after_terms"], "/account");
    assert_eq!(found["messages"], "1", "{found}");
    assert_eq!((found["listed_before"].as_u64(), found["listed_after_red_list"].as_u64()), (Some(1), Some(0)));
    assert_eq!(found["red_list_checked"], true);
    assert_eq!(found["export_address"], alice.as_str());
    for shot in ["portal-enrolment.png", "portal-terms.png", "portal-account.png"] {
        let png = std::fs::read(screenshots.join(shot)).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "{shot}");
    }
    // The pages practices meet, photographed on a desktop and a phone in both languages
    // (kept in the test target's tmp folder, pages/): each the page asked for, in its
    // language, the width of its screen, and never wider than it.
    let pages = found["pages"].as_array().expect("pages");
    assert_eq!(pages.len(), 16, "{found}");
    for shot in pages {
        let file = shot["file"].as_str().expect("file");
        let png = std::fs::read(screenshots.join("pages").join(file)).expect("screenshot");
        let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
        let expected = if file.ends_with("-phone.png") { 390 } else { 1280 };
        assert!(png.starts_with(b"\x89PNG") && width == expected, "{file}: {width} pixels wide");
        let name = file.split('-').next().expect("page");
        let path = shot["path"].as_str().expect("path");
        assert!(path.ends_with(if name == "data" { "/account/data" } else { name }), "{file} shows {path}");
        assert_eq!(shot["lang"].as_str(), file.split('-').nth(1), "{file}");
        assert!(shot["overflow"].as_i64().is_some_and(|o| o <= 0), "{file} is wider than its screen: {shot}");
    }
    assert!(relay.stop().success());
}

/// Keys that expire within 30 days are pointed out on the account page, with what to do;
/// the relay's clock is moved to December of a chosen year whatever the day the test runs.
#[test]
fn the_account_page_warns_when_the_keys_expire_within_thirty_days() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start_at(&data, "", "2027-03-01 09:00:00");
    let created = relay.user_add_json("dr.durand@relay.test", "Anne", "Durand");
    let password = created["password"].as_str().expect("password").to_owned();
    let browser = Browser { relay: &relay, jar: dir.path().join("march.cookies") };
    let login = browser.login("dr.durand@relay.test", &password, &[]);
    assert_eq!(login["second_factor"]["status"], 200, "enrolled: {login}");
    let secret = login["secret"].as_str().expect("seed").to_owned();
    let march = browser.get("/account");
    assert!(body(&march).contains("dr.durand@relay.test") && !body(&march).contains("class=\"warning\""));
    assert!(relay.stop().success());

    // 10 December 2027: the keys expire on 1 January, in 22 days, and none follow them.
    let relay = Relay::start_at(&data, "", "2027-12-10 09:00:00");
    let browser = Browser { relay: &relay, jar: dir.path().join("december.cookies") };
    let login = browser.login("dr.durand@relay.test", &password, &["--secret", &secret]);
    assert_eq!(login["second_factor"]["location"], "/account", "{login}");
    let december = browser.get("/account");
    let page = body(&december);
    // Midnight UTC on 1 January is 01:00 in Paris.
    assert!(page.contains("Vos clés (édition 1) expirent le 01/01/2028 01:00 CET, dans 22 jour(s)."), "{page}");
    assert!(page.contains("Aucune nouvelle édition n"), "{page}");

    // Once renewed, the page says which edition takes over.
    assert!(relay.cli(&["keys", "renew", "--address", "dr.durand@relay.test"]).status.success());
    let renewed = browser.get("/account");
    let page = body(&renewed);
    assert!(page.contains("dition 2 prend le relais"), "{page}");
    assert!(!page.contains("Aucune nouvelle édition"), "{page}");
    assert!(relay.stop().success());
}
