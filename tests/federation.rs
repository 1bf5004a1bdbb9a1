//! Federation with the other operators of the trust space, end to end: the trust list
//! imported from a file and from an HTTPS server (openssl s_server with a certificate from a
//! test authority made here), listed and shown; a malformed copy refused whole, with an
//! alert, the last good list staying in force.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::Value;

/// A list as published, with the spellings real copies have (shared with the unit tests of
/// `appliance/src/federation/trust.rs`).
const LIST: &str = include_str!("fixtures/listeblanchemssante.xml");

fn ok_json(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn a_trust_list_is_put_in_force_whole_or_not_at_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let none = relay.cli(&["trust", "list"]);
    assert!(String::from_utf8_lossy(&none.stdout).contains("no trust list is in force"), "{none:?}");

    let file = dir.path().join("listeblanchemssante.xml");
    std::fs::write(&file, LIST).expect("list");
    let imported = relay.cli(&["trust", "import", path(&file)]);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    assert!(String::from_utf8_lossy(&imported.stdout).contains("2 domains (no list before)"), "{imported:?}");

    let listing = ok_json(&relay.cli(&["trust", "list", "--json"]));
    assert_eq!(listing["source"], path(&file));
    let domains: Vec<&str> =
        listing["domains"].as_array().expect("domains").iter().filter_map(|d| d["domain"].as_str()).collect();
    assert_eq!(domains, ["hopital-nord.mssante.test", "labo-sud.mssante.test"]);
    let labo = ok_json(&relay.cli(&["trust", "show", "Labo-Sud.MSSante.test", "--json"]));
    assert_eq!(
        labo["operators"][0], "CN=mx.operateur-b.test, OU=0002 987654321, O=OPERATEUR B, ST=Paris(75), C=FR",
        "quotes and double spaces tidied"
    );
    assert_eq!(labo["support_contact"], "support@operateur-b.test");
    let text = relay.cli(&["trust", "show", "hopital-nord.mssante.test"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("operator:    CN=mx.operateur-a.test"), "{text:?}");
    let unknown = relay.cli(&["trust", "show", "ailleurs.test"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("not in the trust list"), "{unknown:?}");

    // A copy without its closing root tag: refused whole, said why, an alert; the list stays.
    let cut = dir.path().join("cut.xml");
    std::fs::write(&cut, LIST.trim_end().strip_suffix("</ListeBlanche>").expect("root end")).expect("cut");
    let refused = relay.cli(&["trust", "import", path(&cut)]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("not well-formed XML") && why.contains("last good list"), "{why}");
    let alerts = ok_json(&relay.cli(&["alerts", "--open", "--json"]));
    assert!(alerts.as_array().expect("alerts").iter().any(|a| a["kind"] == "trust-list"), "{alerts}");
    assert_eq!(ok_json(&relay.cli(&["trust", "list", "--json"]))["domains"].as_array().map(Vec::len), Some(2));

    // The import is in the audit trail, and the list survives a restart.
    let audit = relay.cli(&["audit", "export", "--from", "2000-01-01", "--to", "2999-12-31"]);
    assert!(String::from_utf8_lossy(&audit.stdout).contains("2 domains from"), "the import is audited");
    assert!(relay.stop().success());
    let offline = ok_json(&caducee(&dir.path().join("data"), &["trust", "list", "--json"]));
    assert_eq!(offline["domains"].as_array().map(Vec::len), Some(2));
}

/// A test authority and a server certificate for 127.0.0.1 from it, made with openssl.
fn authority(dir: &Path) {
    let run = |args: &[&str]| {
        let output = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
        assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    let new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout"];
    let ca = ["-out", "ca.pem", "-days", "3650", "-subj", "/CN=Autorite de test"];
    run(&[&["req", "-x509"][..], &new_key, &["ca.key"], &ca].concat());
    run(&[&["req"][..], &new_key, &["server.key", "-out", "server.csr", "-subj", "/CN=listes.test"]].concat());
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "365",
        "-extfile",
        "ext.cnf",
    ]);
}

/// `openssl s_server -WWW` serving `dir` over HTTPS on a free loopback port.
struct HttpsFiles {
    child: Child,
    port: u16,
}

impl HttpsFiles {
    fn start(dir: &Path) -> HttpsFiles {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("port").port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-WWW", "-cert", "server.pem", "-key", "server.key", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .current_dir(dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let started = std::time::Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed().as_secs() < 30, "s_server did not listen");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        HttpsFiles { child, port }
    }
}

impl Drop for HttpsFiles {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_trust_list_is_fetched_over_https_from_a_server_of_the_trust_space() {
    let dir = tempfile::tempdir().expect("tempdir");
    let web = dir.path().join("web");
    std::fs::create_dir(&web).expect("web");
    authority(&web);
    std::fs::write(web.join("listeblanchemssante.xml"), LIST).expect("list");
    let server = HttpsFiles::start(&web);
    let url = format!("https://127.0.0.1:{}/listeblanchemssante.xml", server.port);

    let ca = web.join("ca.pem");
    let relay = Relay::start(&dir.path().join("data"), &format!("[federation]\nca_bundle = \"{}\"\n", path(&ca)));
    let imported = relay.cli(&["trust", "import", &url]);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    assert_eq!(ok_json(&relay.cli(&["trust", "list", "--json"]))["source"], url.as_str());

    // Verified against another authority (the relay's own CA), the server is refused.
    let other = dir.path().join("data/tls/ca.pem");
    let refused = relay.cli(&["trust", "import", &url, "--ca-bundle", path(&other)]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("fetching"), "{refused:?}");
    // Plain HTTP is not a way in.
    let plain = relay.cli(&["trust", "import", &url.replace("https", "http")]);
    assert!(String::from_utf8_lossy(&plain.stderr).contains("https:// only"), "{plain:?}");
}
