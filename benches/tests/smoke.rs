//! A short run of the load generator against a real relay: it must end without errors, with
//! every message it sent accepted, and every accepted message collected over POP3.

use std::path::Path;
use std::process::Command;

#[test]
fn a_short_load_with_collectors_loses_nothing() {
    let load = Path::new(env!("CARGO_BIN_EXE_caducee-load"));
    let relay = load.with_file_name("caducee");
    assert!(relay.exists(), "{} is built with the workspace (cargo test --workspace)", relay.display());
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("report.json");
    let output = Command::new(load)
        .args(["--sessions", "4", "--messages", "200", "--collectors", "2", "--seconds-max", "300"])
        .arg("--relay-bin")
        .arg(&relay)
        .arg("--json")
        .arg(&report)
        .output()
        .expect("run caducee-load");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON");
    assert_eq!(report["accepted"], 200, "{report}");
    assert_eq!(report["collected"], 200, "{report}");
    assert_eq!(report["errors"].as_array().map(Vec::len), Some(0), "{report}");
    assert_eq!(report["stored_messages"], 0, "collected messages are erased");
    assert!(report["end_of_data_to_250"]["p50_ms"].as_f64().expect("p50") > 0.0);
    assert!(report["writes_per_commit"].as_f64().expect("ratio") >= 1.0);
}

#[test]
fn a_load_against_an_already_running_relay_uses_its_accounts() {
    use std::io::{BufRead, BufReader};
    let load = Path::new(env!("CARGO_BIN_EXE_caducee-load"));
    let relay_bin = load.with_file_name("caducee");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data");
    let scratch = caducee_bench::scratch::Scratch {
        domain: "load.test",
        relay_door: false,
        listen_settings: "",
        load_sessions: None,
    };
    std::fs::write(data.join("caducee.toml"), scratch.config()).expect("config");
    // Killed at the end: under the calendar check it must not share the test's libfaketime
    // lock (tests/common/mod.rs, `own_clock_lock`).
    let mut relay = Command::new(&relay_bin)
        .env_remove("FAKETIME_SHARED")
        .arg("--data-dir")
        .arg(&data)
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the relay");
    let mut ports = std::collections::HashMap::new();
    for line in BufReader::new(relay.stdout.take().expect("stdout")).lines() {
        let line = line.expect("line");
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.get(1) == Some(&"admin") {
            break;
        }
        if let (Some(service), Some(address)) = (words.get(1), words.get(2)) {
            ports.insert(service.to_string(), address.rsplit(':').next().expect("port").to_owned());
        }
    }
    let mut accounts = String::new();
    for i in 0..2 {
        let address = format!("p{i}@load.test");
        let output = Command::new(&relay_bin)
            .arg("--data-dir")
            .arg(&data)
            .args(["user", "add", "--address", &address, "--first-name", "P", "--last-name", "Q"])
            .args(["--contact-email", "c@example.org", "--json"])
            .output()
            .expect("user add");
        let created: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let certificate = dir.path().join(format!("p{i}.asc"));
        std::fs::write(&certificate, created["certificate"].as_str().expect("certificate")).expect("certificate file");
        accounts +=
            &format!("{address} {} {}\n", created["password"].as_str().expect("password"), certificate.display());
    }
    let accounts_file = dir.path().join("accounts.txt");
    std::fs::write(&accounts_file, accounts).expect("accounts");
    let report = dir.path().join("report.json");
    let output = Command::new(load)
        .args(["--sessions", "2", "--messages", "40", "--collectors", "1"])
        .args(["--target-submissions-port", &ports["submissions"], "--target-pop3s-port", &ports["pop3s"]])
        .arg("--target-ca")
        .arg(data.join("tls/ca.pem"))
        .arg("--target-accounts")
        .arg(&accounts_file)
        .args(["--target-pid", &relay.id().to_string()])
        .arg("--json")
        .arg(&report)
        .output()
        .expect("run caducee-load");
    let _ = relay.kill();
    let _ = relay.wait();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON");
    assert_eq!(report["accepted"], 40, "{report}");
    assert_eq!(report["collected"], 40, "{report}");
    assert!(report["relay_cpu_seconds"].as_f64().expect("cpu") > 0.0, "the target's CPU is measured: {report}");
}

/// The documents the load sends are the practice client's PGP/MIME messages: the content
/// check reads them directly (`content::pgp_mime`), with the general check's findings, so
/// the figures of docs/benchmarks.md measure that reading. Keys and message made at a chosen
/// time.
#[test]
fn the_practice_clients_messages_are_read_directly() {
    use caducee_actors::{content, probe};
    use std::time::{Duration, SystemTime};
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_583_200); // 2025-12-01 10:00 UTC
    let certificate = probe::throwaway_certificate_at("b@relay.test", Some(at)).expect("certificate");
    let armoured = probe::encrypted_document_at(4096, &certificate, Some(at)).expect("encrypt");
    let data = probe::pgp_mime("a@relay.test", "b@relay.test", "Compte rendu", &armoured, 1_764_583_200_000);
    let message = data.strip_suffix(b".\r\n").expect("DATA's end mark");
    let direct = content::pgp_mime::accept(message).expect("the practice client's layout is read directly");
    assert_eq!(Ok(direct.clone()), content::check_parsed_message(message));
    assert_eq!(direct.encrypted_parts, 1);
    assert!(!direct.recipients.is_empty());
}
