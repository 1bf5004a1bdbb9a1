//! Operators of the health-messaging trust space for the federation tests: a test
//! authority made with openssl, relays configured as operators with its certificates, and
//! the waits for what their outbound queues do on their own.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::*;

pub fn ok_json(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A test authority made with openssl in its own folder, and the certificates it issues.
pub struct Authority<'a> {
    dir: &'a Path,
    name: &'a str,
}

impl<'a> Authority<'a> {
    /// A new authority `name` (its files `name.pem`, `name.key` in `dir`).
    pub fn new(dir: &'a Path, name: &'a str) -> Authority<'a> {
        let subject = format!("/CN=Autorite de test {name}");
        openssl(
            dir,
            &[
                &["req", "-x509"][..],
                &NEW_KEY,
                &[&format!("{name}.key"), "-out", &format!("{name}.pem")],
                &["-days", CERTIFICATE_DAYS, "-subj", &subject],
            ]
            .concat(),
        );
        Authority { dir, name }
    }

    /// A certificate for `subject` (`file.pem`, `file.key`), a server's and a client's, with
    /// the given subjectAltName.
    pub fn issue(&self, file: &str, subject: &str, alt_name: &str) {
        let csr = format!("{file}.csr");
        openssl(
            self.dir,
            &[&["req"][..], &NEW_KEY, &[&format!("{file}.key"), "-out", &csr, "-subj", subject]].concat(),
        );
        let ext = format!("{file}.cnf");
        let text =
            format!("subjectAltName={alt_name}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n");
        std::fs::write(self.dir.join(&ext), text).expect("ext");
        let (ca, ca_key) = (format!("{}.pem", self.name), format!("{}.key", self.name));
        openssl(
            self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &format!("{file}.pem"),
                "-days",
                CERTIFICATE_DAYS,
                "-extfile",
                &ext,
            ],
        );
    }
}

pub const NEW_KEY: [&str; 6] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout"];

/// The test authority's certificates are made at this instant and last 50 years: valid
/// whatever the day the suite runs, on the calendar check's moved clocks and on the real
/// clock of a Postfix (which keeps its daemons' environment to itself).
pub const CERTIFICATES_MADE_AT: &str = "2020-01-01 00:00:00";
pub const CERTIFICATE_DAYS: &str = "18250";

pub fn openssl(dir: &Path, args: &[&str]) {
    let output = own_clock_lock(&mut Command::new("openssl"))
        .envs(clock_at(CERTIFICATES_MADE_AT))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A trust list of two operators: `relay.test` is operator A's, `b.test` operator B's.
pub const TWO_OPERATORS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListeBlanche>
  <Domaine><Nom>relay.test</Nom><Description>Operateur A</Description>
    <DNCertificatOperateur>CN=mx.relay.test, O=OPERATEUR A, C=FR</DNCertificatOperateur>
    <ResponsableContact>rssi@relay.test</ResponsableContact><SupportContact>support@relay.test</SupportContact>
    <DateMAJ>2026-01-01</DateMAJ></Domaine>
  <Domaine><Nom>b.test</Nom><Description>Operateur B</Description>
    <DNCertificatOperateur>CN=mx.b.test, O=OPERATEUR B, C=FR</DNCertificatOperateur>
    <ResponsableContact>rssi@b.test</ResponsableContact><SupportContact>support@b.test</SupportContact>
    <DateMAJ>2026-01-01</DateMAJ></Domaine>
</ListeBlanche>
"#;

/// An operator's relay: `domain`, a relay port, its certificate `name` of the trust space
/// in `space`, the routes given (`domain = "host:port"` lines) and the two-operator list.
pub fn operator(dir: &Path, data: &str, domain: &str, space: &Path, name: &str, routes: &str) -> Relay {
    operator_with(dir, data, domain, space, name, routes, "")
}

/// As [`operator`], with more `[federation]` settings (`settings`: TOML lines).
pub fn operator_with(
    dir: &Path,
    data: &str,
    domain: &str,
    space: &Path,
    name: &str,
    routes: &str,
    settings: &str,
) -> Relay {
    let data = dir.join(data);
    std::fs::create_dir_all(&data).expect("data");
    let config = format!(
        "domain = \"{domain}\"\n[federation]\nca_bundle = \"{ca}\"\ncertificate = \"{cert}\"\nkey = \"{key}\"\n\
         {settings}\n[federation.routes]\n{routes}\n[keys]\nauto_renew = false\n[listen]\n\
         submission = \"127.0.0.1:0\"\nsubmissions = \"127.0.0.1:0\"\npop3 = \"127.0.0.1:0\"\npop3s = \"127.0.0.1:0\"\nimap = \"127.0.0.1:0\"\nimaps = \"127.0.0.1:0\"\n\
         https = \"127.0.0.1:0\"\nldap = \"127.0.0.1:0\"\nldaps = \"127.0.0.1:0\"\nmetrics = \"127.0.0.1:0\"\n\
         relay = \"127.0.0.1:0\"\n",
        ca = path(&space.join("ca.pem")),
        cert = path(&space.join(format!("{name}.pem"))),
        key = path(&space.join(format!("{name}.key"))),
    );
    std::fs::write(data.join("caducee.toml"), config).expect("config");
    let relay = Relay::start(&data, "");
    let list = dir.join("operators.xml");
    std::fs::write(&list, TWO_OPERATORS).expect("list");
    assert!(relay.cli(&["trust", "import", path(&list)]).status.success());
    relay
}

/// A practice of `relay` at `address` (any domain of it), its keys in the tests' keyring.
pub fn practice(relay: &Relay, address: &str) -> String {
    let output = relay.cli(&[
        "user",
        "add",
        "--address",
        address,
        "--first-name",
        "Paul",
        "--last-name",
        "Durand",
        "--contact-email",
        "contact@example.org",
        "--json",
    ]);
    let created = ok_json(&output);
    relay.import_bundle(address, &created);
    created["password"].as_str().expect("password").to_owned()
}

/// Collects `user`'s mailbox at `relay` once the relay stores `count` messages (the outbound
/// queue delivers asynchronously).
pub fn collect_when_arrived(relay: &Relay, user: &str, password: &str, count: u64) -> Vec<Vec<u8>> {
    let arrived = eventually(|| (relay.status()["stored_messages"].as_u64() >= Some(count)).then_some(())).is_some();
    assert!(arrived, "{user} never got {count} messages: {}", relay.status());
    relay.fetch(user, password, true)
}

/// A loopback port nothing listens on: a peer that is away.
pub fn closed_port() -> u16 {
    unclaimed_port()
}

/// The outbound queue as `caducee queue list --json` shows it, once `ready` holds of it
/// (the deliverer works on its own).
pub fn queue_when(relay: &Relay, ready: impl Fn(&Value) -> bool) -> Value {
    let queue = eventually(|| {
        let queue = ok_json(&relay.cli(&["queue", "list", "--json"]));
        ready(&queue).then_some(queue)
    });
    queue.unwrap_or_else(|| {
        let listing = relay.cli(&["queue", "list"]);
        let text = String::from_utf8_lossy(&listing.stdout);
        // The first lines say enough: a long queue's listing would bury the failure.
        let head: Vec<&str> = text.lines().take(12).collect();
        panic!("the queue never got there: {}", head.join("\n"))
    })
}

/// Looks allowed for something the deliverer or Postfix does on its own: each look runs a
/// process (a `caducee` command, `postqueue`), so a few thousand take about a minute, and no
/// look depends on the clock.
pub const LOOKS: usize = 4000;

/// What `look` finds within [`LOOKS`] looks. Each look must itself ask a process (the relay,
/// Postfix), never only reread a file, so that the looks take real time.
pub fn eventually<T>(mut look: impl FnMut() -> Option<T>) -> Option<T> {
    (0..LOOKS).find_map(|_| look())
}

/// A trust space in `dir/space`: its authority `ca`, operator A's certificate `a` (for
/// `relay.test`) and operator B's `b` (for `b.test`), both valid for 127.0.0.1.
pub fn two_operator_space(dir: &Path) -> std::path::PathBuf {
    let space = dir.join("space");
    std::fs::create_dir(&space).expect("space");
    let authority = Authority::new(&space, "ca");
    authority.issue("a", "/C=FR/O=OPERATEUR A/CN=mx.relay.test", "DNS:mx.relay.test,IP:127.0.0.1");
    authority.issue("b", "/C=FR/O=OPERATEUR B/CN=mx.b.test", "DNS:mx.b.test,IP:127.0.0.1");
    space
}
