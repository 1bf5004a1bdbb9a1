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
