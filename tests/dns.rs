//! `caducee dns` and `caducee dns check` against a real DNS server: Unbound, started by the
//! test on loopback, serving exactly the zone `caducee dns` printed (so the printed lines
//! are records a server loads), then a zone with one record missing and two different.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::unbound::Unbound;
use common::{caducee, unclaimed_port};
use serde_json::Value;

const ADDRESSES: [&str; 4] = ["--ipv4", "192.0.2.10", "--ipv6", "2001:db8::10"];

fn relay_folder(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("data");
    std::fs::write(
        data.join("caducee.toml"),
        "domain = \"caducee.test\"\nhostname = \"relay.caducee.test\"\n[listen]\nsubmission = \"0.0.0.0:587\"\n\
         submissions = \"0.0.0.0:465\"\npop3 = \"0.0.0.0:110\"\npop3s = \"0.0.0.0:995\"\nimap = \"0.0.0.0:143\"\nimaps = \"0.0.0.0:993\"\nldap = \"0.0.0.0:389\"\n\
         relay = \"0.0.0.0:25\"\n[notices]\nsmarthost = \"smtp.provider.test:587\"\n",
    )
    .expect("config");
    data
}

fn check(data: &Path, resolver: &str) -> Output {
    caducee(data, &[&["dns", "check", "--resolver", resolver, "--json"][..], &ADDRESSES].concat())
}

#[test]
fn the_printed_zone_loads_into_unbound_and_the_check_finds_every_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = relay_folder(dir.path());
    let printed = caducee(&data, &[&["dns"][..], &ADDRESSES].concat());
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let zone = String::from_utf8(printed.stdout).expect("utf-8");
    for expected in [
        "_submissions._tcp.caducee.test. 3600 IN SRV   0 1 465 relay.caducee.test.",
        "_submission._tcp.caducee.test.  3600 IN SRV   10 1 587 relay.caducee.test.",
        "_imap._tcp.caducee.test.        3600 IN SRV   10 1 143 relay.caducee.test.",
        "_imaps._tcp.caducee.test.       3600 IN SRV   0 1 993 relay.caducee.test.",
        "caducee.test.                   3600 IN MX    10 relay.caducee.test.",
        "autoconfig.caducee.test.        3600 IN CNAME relay.caducee.test.",
        "\"v=spf1 a:relay.caducee.test a:smtp.provider.test -all\"",
    ] {
        assert!(zone.contains(expected), "{expected}:\n{zone}");
    }
    // The records as a zone file holds them, comments left out.
    let records: Vec<String> = zone
        .lines()
        .filter(|l| !l.starts_with(';'))
        .map(|l| l.split(" ; ").next().expect("a record").split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(records.len(), 13, "{records:?}");

    let published = Unbound::start(dir.path(), "published", &records);
    let checked = check(&data, &published.address());
    assert_eq!(checked.status.code(), Some(0), "{}", String::from_utf8_lossy(&checked.stdout));
    let verdicts: Value = serde_json::from_slice(&checked.stdout).expect("JSON");
    assert!(verdicts.as_array().expect("list").iter().all(|v| v["verdict"] == "ok"), "{verdicts}");

    // One record left out, the MX and the SPF different: each said, exit 1.
    let wrong: Vec<String> = records
        .iter()
        .filter(|r| !r.starts_with("_submissions."))
        .map(|r| r.replace("MX 10 relay.caducee.test.", "MX 10 mx.elsewhere.test.").replace(" -all", " ~all"))
        .collect();
    let wrong_server = Unbound::start(dir.path(), "wrong", &wrong);
    let checked = check(&data, &wrong_server.address());
    assert_eq!(checked.status.code(), Some(1), "{}", String::from_utf8_lossy(&checked.stdout));
    let verdicts: Value = serde_json::from_slice(&checked.stdout).expect("JSON");
    let verdict = |name: &str, kind: &str| {
        verdicts
            .as_array()
            .expect("list")
            .iter()
            .find(|v| v["name"] == name && v["type"] == kind)
            .unwrap_or_else(|| panic!("{name} {kind}: {verdicts}"))
            .clone()
    };
    assert_eq!(verdict("_submissions._tcp.caducee.test.", "SRV")["verdict"], "missing");
    let mx = verdict("caducee.test.", "MX");
    assert_eq!((&mx["verdict"], &mx["found"][0]), (&"different".into(), &"10 mx.elsewhere.test.".into()), "{mx}");
    assert_eq!(verdict("caducee.test.", "TXT")["verdict"], "different");
    assert_eq!(verdict("_pop3s._tcp.caducee.test.", "SRV")["verdict"], "ok");

    // Text for the administrator, the same verdicts.
    let text = caducee(&data, &[&["dns", "check", "--resolver", &wrong_server.address()][..], &ADDRESSES].concat());
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.lines().any(|l| l.starts_with("missing   _submissions._tcp.caducee.test. SRV")), "{text}");

    // No server at all: the check could not run, exit 2.
    let nobody = format!("127.0.0.1:{}", unclaimed_port());
    let unanswered = check(&data, &nobody);
    assert_eq!(unanswered.status.code(), Some(2), "{}", String::from_utf8_lossy(&unanswered.stderr));
}
