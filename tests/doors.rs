//! One login rule on every door, with real clients: python's smtplib and poplib
//! (tests/clients/mailclient.py), ldapsearch, and a scripted browser for the personal space
//! (tests/clients/portal.py). A closed or suspended account is refused at SMTP, POP3, LDAP
//! and the personal space, and its open web session ends; a guesser at one source address
//! cannot lock a practice out of its account from another.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{browser, code, compose, python, Relay};
use serde_json::Value;

/// A simple bind as `address` over StartTLS, then a search of the directory; ldapsearch's
/// exit status (0, or 49 for invalid credentials).
fn ldap_bind(relay: &Relay, address: &str, password: &str) -> Option<i32> {
    let uri = format!("ldap://127.0.0.1:{}", relay.port("ldap"));
    let dn = format!("mail={address},ou=directory,dc=relay,dc=test");
    let output = Command::new("ldapsearch")
        .env("LDAPTLS_CACERT", relay.ca())
        .args(["-LLL", "-x", "-ZZ", "-H", &uri, "-D", &dn, "-w", password])
        .args(["-b", "ou=directory,dc=relay,dc=test", "(objectClass=*)", "mail"])
        .output()
        .expect("ldapsearch (apt-get install ldap-utils)");
    output.status.code()
}

fn pop3_login(relay: &Relay, user: &str, password: &str) -> Value {
    let (port, ca) = (relay.port("pop3s"), relay.ca());
    python(&["fetch", "--port", &port, "--tls", "implicit", "--ca", &ca, "--user", user, "--password", password])
}

/// Logs in to the personal space (password, then the second factor, enrolling) and checks
/// the account page opens; the cookie jar holding the session.
fn open_web_session(relay: &Relay, dir: &Path, address: &str, password: &str) -> PathBuf {
    let jar = dir.join(format!("{address}.cookies"));
    let login = browser(relay, &jar, &["login", "--address", address, "--password", password]);
    assert_eq!(login["password"]["status"], 303, "{login}");
    assert_eq!(login["second_factor"]["status"], 200, "enrolled: {login}");
    assert_eq!(browser(relay, &jar, &["get", "/account"])["status"], 200);
    jar
}

/// Every door refuses `address` now, and its open web session (cookies in `jar`) has ended.
fn every_door_refuses(relay: &Relay, dir: &Path, jar: &Path, address: &str, password: &str, why: &str) {
    let message = compose(dir, &[address], "Compte rendu");
    let sent = relay.send(address, password, address, &message);
    assert_eq!(code(&sent["auth"]), 535, "{why}: SMTP AUTH refused: {sent}");
    let pop = pop3_login(relay, address, password);
    assert!(pop["login_error"].is_string(), "{why}: POP3 refused: {pop}");
    assert_eq!(ldap_bind(relay, address, password), Some(49), "{why}: LDAP bind refused (invalidCredentials)");
    let page = browser(relay, jar, &["get", "/account"]);
    assert_eq!(page["location"], "/login", "{why}: the open web session ended: {page}");
    let fresh = dir.join(format!("{address}.again.cookies"));
    let login = browser(relay, &fresh, &["login", "--address", address, "--password", password]);
    assert_eq!(login["password"]["status"], 401, "{why}: the personal space refuses the login: {login}");
}

#[test]
fn a_closed_or_suspended_account_is_refused_at_every_door_and_its_web_session_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    for (address, password) in [(&alice, &alice_pw), (&bob, &bob_pw)] {
        assert_eq!(ldap_bind(&relay, address, password), Some(0), "{address} binds while open");
        assert!(pop3_login(&relay, address, password)["messages"].is_array(), "{address} collects while open");
    }
    let alice_jar = open_web_session(&relay, dir.path(), &alice, &alice_pw);
    let bob_jar = open_web_session(&relay, dir.path(), &bob, &bob_pw);

    assert!(relay.cli(&["user", "close", "--address", &alice]).status.success());
    every_door_refuses(&relay, dir.path(), &alice_jar, &alice, &alice_pw, "closed");
    assert!(relay.cli(&["user", "suspend", "--address", &bob]).status.success());
    every_door_refuses(&relay, dir.path(), &bob_jar, &bob, &bob_pw, "suspended");

    // Enabled again, the doors open again.
    assert!(relay.cli(&["user", "enable", "--address", &bob]).status.success());
    assert_eq!(ldap_bind(&relay, &bob, &bob_pw), Some(0));
    assert!(pop3_login(&relay, &bob, &bob_pw)["messages"].is_array());
}

/// SMTP AUTH from 127.0.0.2 (Linux routes all of 127/8 to the loopback interface): one
/// session, one login with `password`; the reply code.
const GUESS_FROM_ELSEWHERE: &str = r#"
import smtplib, ssl, sys
port, ca, user, password = sys.argv[1:5]
context = ssl.create_default_context(cafile=ca)
client = smtplib.SMTP_SSL("127.0.0.1", int(port), context=context, timeout=30, source_address=("127.0.0.2", 0))
client.ehlo("guesser.example")
try:
    print(client.login(user, password)[0])
except smtplib.SMTPResponseException as e:
    print(e.smtp_code)
client.close()
"#;

#[test]
fn a_guesser_at_one_address_cannot_lock_the_practice_out_from_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = "[limits]\nlogin_failures_max = 4\nlogin_failure_window_secs = 3600\n";
    let relay = Relay::start(&dir.path().join("data"), limits);
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (port, ca) = (relay.port("submissions"), relay.ca());
    let guess = |name: &str| {
        let output = Command::new("python3")
            .args(["-c", GUESS_FROM_ELSEWHERE, &port, &ca, name, "not-the-password"])
            .output()
            .expect("python3");
        assert!(output.status.success(), "guesser: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    // The published address under several spellings: one account, one count.
    let spellings = [alice.to_uppercase(), format!(" {alice}"), format!("{alice}\t"), alice.clone()];
    let replies: Vec<String> = spellings.iter().cycle().take(6).map(|name| guess(name)).collect();
    assert_eq!(replies.last().map(String::as_str), Some("454"), "the guesser is throttled: {replies:?}");

    // The practice, at its own address, still sends and collects.
    let message = compose(dir.path(), &[&alice], "Compte rendu");
    let sent = relay.send(&alice, &alice_pw, &alice, &message);
    assert_eq!(code(&sent["auth"]), 235, "{sent}");
    assert_eq!(code(&sent["data"]), 250, "{sent}");
    assert_eq!(relay.fetch(&alice, &alice_pw, true).len(), 1);
    assert_eq!(ldap_bind(&relay, &alice, &alice_pw), Some(0));
    // The guesser stays locked out, even with the right password.
    let output = Command::new("python3")
        .args(["-c", GUESS_FROM_ELSEWHERE, &port, &ca, &alice, &alice_pw])
        .output()
        .expect("python3");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "454");
}
