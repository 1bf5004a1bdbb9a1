//! `caducee-client` as a practice runs it, without a relay: its help and examples, the exit
//! codes (0 done, 1 a check found problems, 2 could not run), the HPRIM check in text and
//! JSON, and the clear refusal of a folder that is not a profile. The exchanges with a
//! relay are in the top-level tests/client.rs.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_caducee-client");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run caducee-client")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A valid HPRIM document: the twelve header lines, the text, the end marks.
const VALID: &str = "\r\nDUPONT\r\nMarie\r\n\r\n\r\n\r\n15/03/1970\r\n\r\n\r\n26/11/2026\r\n\
                     Cabinet <cabinet@relay.test>\r\nLabo <labo@relay.test>\r\nHemoglobine 14,2 g/dL\r\n\
                     ****FIN****\r\n****FINFICHIER****\r\n";

#[test]
fn help_shows_every_command_and_an_example_in_this_programs_name() {
    let help = run(&["--help"]);
    assert!(help.status.success());
    for command in ["install", "profile", "send", "fetch", "lint-hprim", "keygen"] {
        assert!(stdout(&help).contains(command), "{command} missing from:\n{}", stdout(&help));
    }
    let install = run(&["install", "--help"]);
    assert!(install.status.success());
    assert!(stdout(&install).contains("Example:\n  caducee-client install --bundle"), "{}", stdout(&install));
    assert!(run(&["--version"]).status.success());
}

#[test]
fn lint_hprim_says_valid_or_lists_the_problems_with_its_exit_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.hpr");
    std::fs::write(&good, VALID).expect("write");
    let checked = run(&["lint-hprim", good.to_str().expect("utf-8")]);
    assert_eq!(checked.status.code(), Some(0), "{}{}", stdout(&checked), stderr(&checked));
    assert!(stdout(&checked).ends_with("valid HPRIM header\n"), "{}", stdout(&checked));

    let bad = dir.path().join("bad.hpr");
    std::fs::write(&bad, VALID.replace("15/03/1970", "31/02/1970")).expect("write");
    let checked = run(&["--json", "lint-hprim", bad.to_str().expect("utf-8")]);
    assert_eq!(checked.status.code(), Some(1), "{}", stdout(&checked));
    let report: serde_json::Value = serde_json::from_slice(&checked.stdout).expect("JSON");
    assert_eq!(report["valid"], false);
    let problems = report["problems"].as_array().expect("problems");
    assert!(problems.iter().any(|p| p.as_str().is_some_and(|p| p.contains("31/02/1970"))), "{report}");
}

#[test]
fn what_cannot_run_exits_2_with_the_reason() {
    let usage = run(&["send", "--profile", "x"]);
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));
    let dir = tempfile::tempdir().expect("tempdir");
    let not_a_profile = run(&["profile", "--profile", dir.path().to_str().expect("utf-8")]);
    assert_eq!(not_a_profile.status.code(), Some(2));
    assert!(stderr(&not_a_profile).contains("is not a client profile"), "{}", stderr(&not_a_profile));
    let missing = run(&["lint-hprim", &dir.path().join("absent.hpr").to_string_lossy()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).starts_with("caducee-client: reading "), "{}", stderr(&missing));
}
