//! Public certificates by ACME against Pebble (Let's Encrypt's test server, Debian's
//! `pebble`), started by the test on loopback with Unbound as its DNS: the relay orders a
//! certificate for its names, answers the TLS-ALPN-01 challenge on its HTTPS port, and serves
//! the certificate on every listener without a restart; a restart serves it at once from
//! disk; an ACME server out of reach leaves the local CA's certificate served and an alert.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use common::unbound::Unbound;
use common::{unclaimed_port, Relay};
use serde_json::Value;

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("run");
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// A test CA and, signed by it, the certificate Pebble serves its API with (127.0.0.1).
fn pebble_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let path = |name: &str| dir.join(name);
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    run(Command::new("openssl")
        .args(["req", "-x509"])
        .args(ec)
        .args(["-days", "30", "-subj", "/CN=test CA"])
        .arg("-keyout")
        .arg(path("ca.key"))
        .arg("-out")
        .arg(path("ca.pem")));
    run(Command::new("openssl")
        .arg("req")
        .args(ec)
        .args(["-subj", "/CN=127.0.0.1"])
        .arg("-keyout")
        .arg(path("pebble.key"))
        .arg("-out")
        .arg(path("pebble.csr")));
    std::fs::write(path("pebble.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").expect("ext");
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "30", "-in"])
        .arg(path("pebble.csr"))
        .arg("-CA")
        .arg(path("ca.pem"))
        .arg("-CAkey")
        .arg(path("ca.key"))
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(path("pebble.ext"))
        .arg("-out")
        .arg(path("pebble.pem")));
    (path("ca.pem"), path("pebble.pem"), path("pebble.key"))
}

struct Pebble {
    child: Child,
    directory: String,
    management: u16,
}

impl Pebble {
    /// Pebble validating TLS-ALPN-01 on `tls_port`, resolving names through `dns`.
    fn start(dir: &Path, tls_port: u16, dns: &Unbound) -> (Pebble, PathBuf) {
        let (ca, certificate, key) = pebble_certificate(dir);
        let (api, management, http) = (unclaimed_port(), unclaimed_port(), unclaimed_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{api}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": certificate, "privateKey": key,
            "httpPort": http, "tlsPort": tls_port,
            "ocspResponderURL": "", "externalAccountBindingRequired": false,
        }});
        let path = dir.join("pebble.json");
        std::fs::write(&path, config.to_string()).expect("pebble.json");
        let mut child = Command::new("pebble")
            .arg("-config")
            .arg(&path)
            .args(["-dnsserver", &dns.address()])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(Stdio::piped())
            .spawn()
            .expect("pebble (apt-get install pebble)");
        // Its management interface, then its API, say they listen.
        let said = child.stdout.take().expect("piped stdout");
        assert!(common::read_until(said, &format!("Listening on: 127.0.0.1:{api}")), "pebble did not start");
        (Pebble { child, directory: format!("https://127.0.0.1:{api}/dir"), management }, ca)
    }

    /// The root Pebble made at its start, which signs what it issues.
    fn root(&self, ca: &Path, out: &Path) {
        let url = format!("https://127.0.0.1:{}/roots/0", self.management);
        run(Command::new("curl").args(["-sSf", "--cacert"]).arg(ca).arg("-o").arg(out).arg(url));
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A relay on `data`, its log read by the test: returns once a log line holds `said`.
fn relay_saying(data: &Path, said: &str) -> Relay {
    let mut command = Command::new(common::BIN);
    command.args(["--data-dir", data.to_str().expect("utf-8"), "serve"]);
    let mut relay = Relay::spawn(command, data, Stdio::piped());
    let log = relay.child.stderr.take().expect("piped stderr");
    assert!(common::read_until(log, said), "the relay never logged {said:?}");
    relay
}

/// Whether the certificate served on `port` for relay.caducee.test verifies against `root`
/// (implicit TLS, as a mail program or a browser connects).
fn verifies(port: &str, root: &Path) -> bool {
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "relay.caducee.test"])
        .args(["-verify_hostname", "relay.caducee.test", "-verify_return_error", "-CAfile"])
        .arg(root)
        .stdin(Stdio::null())
        .output()
        .expect("openssl");
    output.status.success()
}

fn relay_config(data: &Path, https: u16, directory: &str, ca: &Path) {
    std::fs::create_dir_all(data).expect("data");
    let zero = ["submission", "submissions", "pop3", "pop3s", "imap", "imaps", "ldap", "ldaps", "metrics"]
        .iter()
        .map(|s| format!("{s} = \"127.0.0.1:0\"\n"))
        .collect::<String>();
    std::fs::write(
        data.join("caducee.toml"),
        format!(
            "domain = \"caducee.test\"\nhostname = \"relay.caducee.test\"\n[listen]\n{zero}https = \"127.0.0.1:{https}\"\n\
             [tls.acme]\ndirectory = \"{directory}\"\ncontact = \"admin@caducee.test\"\nca = {ca:?}\n"
        ),
    )
    .expect("config");
}

#[test]
fn a_certificate_from_pebble_is_served_on_every_listener_without_a_restart_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names = ["relay", "autoconfig", "openpgpkey"];
    let records: Vec<String> = names.iter().map(|n| format!("{n}.caducee.test. 300 IN A 127.0.0.1")).collect();
    let dns = Unbound::start(dir.path(), "dns", &records);
    let https = unclaimed_port();
    let (pebble, ca) = Pebble::start(dir.path(), https, &dns);
    let data = dir.path().join("data");
    relay_config(&data, https, &pebble.directory, &ca);
    // The order completes in the background; the listeners serve its certificate from then on.
    let relay = relay_saying(&data, "ACME certificate obtained and served");
    let root = dir.path().join("pebble-root.pem");
    pebble.root(&ca, &root);
    for door in ["https", "submissions", "pop3s", "ldaps"] {
        assert!(verifies(&relay.port(door), &root), "{door} serves the ACME certificate without a restart");
    }
    // Browsers and key discovery on HTTPS work with it, without the local CA.
    let page = run(Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(&root)
        .args(["--resolve", &format!("relay.caducee.test:{https}:127.0.0.1")])
        .arg(format!("https://relay.caducee.test:{https}/login")));
    assert_eq!(String::from_utf8_lossy(&page.stdout), "200");
    use std::os::unix::fs::PermissionsExt as _;
    let key = std::fs::metadata(data.join("tls/acme/key.pem")).expect("the key kept");
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert!(relay.stop().success());

    // Pebble gone: a restart serves the kept certificate at once.
    drop(pebble);
    let relay = Relay::start(&data, "");
    assert!(verifies(&relay.port("pop3s"), &root), "the saved certificate, at the first connection");
    assert!(relay.stop().success());
}

#[test]
fn an_acme_server_out_of_reach_leaves_the_local_ca_served_and_an_alert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (ca, _, _) = pebble_certificate(dir.path());
    let (https, nobody) = (unclaimed_port(), unclaimed_port());
    relay_config(&data, https, &format!("https://127.0.0.1:{nobody}/dir"), &ca);
    // The relay logs the failure once its alert is filed.
    let relay = relay_saying(&data, "no ACME certificate from");
    let alerts: Value = serde_json::from_slice(&relay.cli(&["alerts", "--json"]).stdout).expect("JSON");
    assert!(alerts.to_string().contains("serving the local CA's meanwhile"), "{alerts}");
    assert!(verifies(&relay.port("submissions"), &data.join("tls/ca.pem")), "the local CA's certificate still served");
    assert!(relay.stop().success());
}
