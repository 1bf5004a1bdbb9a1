//! One login rule on every door, with real clients: python's smtplib and poplib
//! (tests/clients/mailclient.py), ldapsearch, and a scripted browser for the personal space
//! (tests/clients/portal.py). A closed or suspended account is refused at SMTP, POP3, LDAP
//! and the personal space, and its open web session ends; a guesser at one source address
//! cannot lock a practice out of its account from another.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{browser, code, compose, imap_client, python, Relay};
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
    relay.pop3_attempt(user, password)
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

/// A server of an autoconfig document, as Thunderbird keeps it.
#[derive(Debug)]
struct ConfiguredServer {
    kind: String,
    hostname: String,
    port: u16,
    socket: String,
    username: String,
}

/// Reads `config-v1.1.xml` with the rules Thunderbird's reader applies (its
/// readFromXML): a `clientConfig` of version 1.1, an `emailProvider` for the domain, each
/// server with a host, a port in range, a socket type and an authentication it knows, a
/// user name that may use its placeholders; at least one incoming and one outgoing server,
/// the first of each being what it configures.
fn read_as_thunderbird(xml: &str, domain: &str) -> (Vec<ConfiguredServer>, Vec<ConfiguredServer>) {
    let document = roxmltree::Document::parse(xml).expect("well-formed XML");
    let root = document.root_element();
    assert!(root.has_tag_name("clientConfig") && root.attribute("version") == Some("1.1"), "{xml}");
    let provider = root.children().find(|n| n.has_tag_name("emailProvider")).expect("emailProvider");
    let text = |node: roxmltree::Node, tag: &str| {
        node.children().find(|c| c.has_tag_name(tag)).and_then(|c| c.text()).unwrap_or_default().trim().to_owned()
    };
    assert!(provider.children().any(|d| d.has_tag_name("domain") && d.text() == Some(domain)), "{xml}");
    let servers = |tag: &str, kinds: &[&str]| -> Vec<ConfiguredServer> {
        provider
            .children()
            .filter(|n| n.has_tag_name(tag))
            .map(|n| {
                let server = ConfiguredServer {
                    kind: n.attribute("type").unwrap_or_default().to_owned(),
                    hostname: text(n, "hostname"),
                    port: text(n, "port").parse().expect("a port number"),
                    socket: text(n, "socketType"),
                    username: text(n, "username"),
                };
                assert!(kinds.contains(&server.kind.as_str()), "{tag} type {server:?}");
                assert!(!server.hostname.is_empty() && server.port > 0, "{server:?}");
                assert!(["plain", "SSL", "STARTTLS"].contains(&server.socket.as_str()), "{server:?}");
                let auth = text(n, "authentication");
                assert!(
                    ["password-cleartext", "plain", "password-encrypted", "secure"].contains(&auth.as_str()),
                    "{auth}"
                );
                server
            })
            .collect()
    };
    let incoming = servers("incomingServer", &["pop3", "imap"]);
    let outgoing = servers("outgoingServer", &["smtp"]);
    assert!(!incoming.is_empty() && !outgoing.is_empty(), "{xml}");
    (incoming, outgoing)
}

/// A practice's mail client given only its address and password: it fetches the relay's
/// autoconfig document (both places clients look), takes the first servers offered, and
/// sends and collects a document with them.
#[test]
fn a_mail_client_configures_itself_from_the_relays_autoconfig_and_sends_and_collects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let (https, ca) = (relay.port("https"), relay.ca());
    let mut documents = Vec::new();
    for path in
        ["/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml?emailaddress=alice%40relay.test"]
    {
        let url = format!("https://127.0.0.1:{https}{path}");
        let got = python(&["https-get", "--url", &url, "--ca", &ca]);
        assert_eq!(got["status"], 200, "{path}: {got}");
        assert!(got["content_type"].as_str().is_some_and(|t| t.starts_with("text/xml")), "{got}");
        documents.push(got["text"].as_str().expect("the document").to_owned());
    }
    assert_eq!(documents[0], documents[1], "one document at both places");
    let (incoming, outgoing) = read_as_thunderbird(&documents[0], "relay.test");
    // Implicit TLS first; STARTTLS offered after it; the whole address as the user name.
    let (collect, send) = (&incoming[0], &outgoing[0]);
    assert_eq!((collect.kind.as_str(), collect.socket.as_str()), ("imap", "SSL"), "IMAP first: {incoming:?}");
    assert!(incoming.iter().any(|s| s.kind == "pop3"), "POP3 offered too: {incoming:?}");
    assert_eq!(send.socket, "SSL", "{outgoing:?}");
    assert!(incoming.iter().any(|s| s.socket == "STARTTLS") && outgoing.iter().any(|s| s.socket == "STARTTLS"));
    assert_eq!(collect.username, "%EMAILADDRESS%");
    assert_eq!((send.port.to_string(), collect.port.to_string()), (relay.port("submissions"), relay.port("imaps")));

    // What the client then does, with what it read.
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    let user = send.username.replace("%EMAILADDRESS%", &alice);
    let sent = relay.send_at(&send.port.to_string(), &user, &alice_pw, &bob, &message);
    assert_eq!(code(&sent["data"]), 250, "{sent}");
    let user = collect.username.replace("%EMAILADDRESS%", &bob);
    let (port, ca) = (collect.port.to_string(), relay.ca());
    let args = ["session", "--port", &port, "--tls", "implicit", "--ca", &ca, "--user", &user, "--password", &bob_pw];
    let fetched = imap_client(&args);
    assert_eq!(fetched["messages"].as_array().map(Vec::len), Some(1), "one message collected: {fetched}");
    assert_eq!(collect.hostname, "127.0.0.1", "the relay's name as its certificate carries it (loopback here)");
    assert!(relay.stop().success());
}

/// Every listener takes a list of addresses: here IPv4 and IPv6 loopback side by side. Over
/// `::1`, python's smtplib submits, poplib collects, ldapsearch searches over StartTLS and
/// LDAPS, curl reads the personal space's login page, the autoconfig and the metrics — each
/// TLS door proving the relay's name for `::1` in its certificate.
#[test]
fn every_door_answers_over_ipv6_beside_ipv4() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data");
    let both = "[\"127.0.0.1:0\", \"[::1]:0\"]";
    let listen: String =
        ["submission", "submissions", "pop3", "pop3s", "imap", "imaps", "https", "ldap", "ldaps", "metrics"]
            .iter()
            .map(|service| format!("{service} = {both}\n"))
            .collect();
    std::fs::write(data.join("caducee.toml"), format!("domain = \"relay.test\"\n[listen]\n{listen}")).expect("config");
    let relay = Relay::start(&data, "");
    let v6 = |service: &str| {
        let addresses = relay.addresses(service);
        assert_eq!(addresses.len(), 2, "{service}: {addresses:?}");
        assert!(addresses[0].is_ipv4(), "the first named is the first configured");
        addresses.iter().find(|a| a.is_ipv6()).expect("an IPv6 listener").port().to_string()
    };

    let (alice, alice_password) = relay.add_user("alice", None);
    let (bob, bob_password) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    let ca = relay.ca();
    let file = message.to_str().expect("utf-8");
    let sent = python(&[
        "send",
        "--host",
        "::1",
        "--port",
        &v6("submissions"),
        "--tls",
        "implicit",
        "--ca",
        &ca,
        "--user",
        &alice,
        "--password",
        &alice_password,
        "--sender",
        &alice,
        "--to",
        &bob,
        "--file",
        file,
    ]);
    assert_eq!(code(&sent["data"]), 250, "{sent}");
    let fetched = python(&[
        "fetch",
        "--host",
        "::1",
        "--port",
        &v6("pop3"),
        "--tls",
        "stls",
        "--ca",
        &ca,
        "--user",
        &bob,
        "--password",
        &bob_password,
        "--delete",
    ]);
    assert_eq!(fetched["messages"].as_array().map(Vec::len), Some(1), "{fetched}");

    for (scheme, service, starttls) in [("ldap", "ldap", true), ("ldaps", "ldaps", false)] {
        let uri = format!("{scheme}://[::1]:{}", v6(service));
        let mut search = Command::new("ldapsearch");
        search.env("LDAPTLS_CACERT", &ca).args(["-LLL", "-x", "-H", &uri]);
        if starttls {
            search.arg("-ZZ");
        }
        let found = search.args(["-b", "ou=directory,dc=relay,dc=test", "(mail=bob@relay.test)", "mail"]).output();
        let found = found.expect("ldapsearch (apt-get install ldap-utils)");
        assert!(found.status.success(), "{uri}: {}", String::from_utf8_lossy(&found.stderr));
        assert!(String::from_utf8_lossy(&found.stdout).contains("mail: bob@relay.test"), "{uri}");
    }

    let curl = |url: &str| common::http_get(url, Some(&ca)).0;
    let https = v6("https");
    assert_eq!(curl(&format!("https://[::1]:{https}/login")), "200");
    assert_eq!(curl(&format!("https://[::1]:{https}/.well-known/autoconfig/mail/config-v1.1.xml")), "200");
    assert_eq!(curl(&format!("http://[::1]:{}/metrics", v6("metrics"))), "200");
    // Both families reach the same mailboxes: bob's message was collected over IPv6.
    assert!(relay.fetch(&bob, &bob_password, false).is_empty());
    assert!(relay.stop().success());
}
