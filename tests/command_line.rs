//! The command line as an administrator and a packager meet it: the manual pages read with
//! `man`, the completions loaded by bash, zsh and fish, `config show|check`, and the exit
//! codes (0 done, 1 a check found problems, 2 could not run).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{caducee, caducee_plain, Relay};
use serde_json::Value;

fn said(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn the_manual_pages_read_with_man_and_show_each_commands_example() {
    let dir = tempfile::tempdir().expect("tempdir");
    let written = caducee_plain(&["generate", "man", "--out", dir.path().to_str().expect("utf-8")]);
    assert!(written.status.success(), "{}", said(&written));
    for page in ["caducee.1", "caducee-user.1", "caducee-user-add.1", "caducee-config-check.1", "caducee-client-send.1"]
    {
        assert!(dir.path().join(page).exists(), "{page}: {}", said(&written));
    }
    let shown = Command::new("man")
        .args(["-P", "cat", "-l"])
        .arg(dir.path().join("caducee-user-add.1"))
        .env("MANWIDTH", "100")
        // man-db's seccomp sandbox refuses what libfaketime does (the calendar check runs
        // this test under it); the page's rendering does not depend on the clock.
        .env("MAN_DISABLE_SECCOMP", "1")
        .output()
        .expect("man (apt-get install man-db)");
    assert!(shown.status.success(), "{}", said(&shown));
    let page = String::from_utf8_lossy(&shown.stdout);
    assert!(page.contains("caducee-user-add") && page.contains("--contact-email"), "{page}");
    assert!(page.contains("caducee user add --address anne.martin@caducee.example.org"), "the example: {page}");
}

#[test]
fn the_completions_load_in_bash_zsh_and_fish() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = |shell: &str| {
        let generated = caducee_plain(&["generate", "completions", "--shell", shell]);
        assert!(generated.status.success(), "{}", said(&generated));
        let path = dir.path().join(format!("caducee.{shell}"));
        std::fs::write(&path, &generated.stdout).expect("script");
        path
    };
    // bash: the completion function offers the commands for a word begun.
    let bash = Command::new("bash")
        .arg("-c")
        .arg("source \"$1\"; COMP_WORDS=(caducee us); COMP_CWORD=1; _caducee caducee us caducee; echo \"${COMPREPLY[@]}\"")
        .arg("bash")
        .arg(script("bash"))
        .output()
        .expect("bash");
    assert!(String::from_utf8_lossy(&bash.stdout).split_whitespace().any(|w| w == "user"), "{}", said(&bash));
    // fish: its completion engine, asked as a user's Tab asks it.
    let fish = Command::new("fish")
        .arg("-c")
        .arg(format!("source {}; complete -C 'caducee config '", script("fish").display()))
        .output()
        .expect("fish (apt-get install fish)");
    let offered = String::from_utf8_lossy(&fish.stdout);
    assert!(
        offered.lines().any(|l| l.starts_with("show")) && offered.lines().any(|l| l.starts_with("check")),
        "{offered}"
    );
    // zsh: the script defines the completion function when read.
    let zsh = Command::new("zsh")
        .arg("-fc")
        .arg("autoload -U compinit && compinit -u && source \"$1\" && whence -w _caducee")
        .arg("zsh")
        .arg(script("zsh"))
        .output()
        .expect("zsh (apt-get install zsh)");
    assert!(String::from_utf8_lossy(&zsh.stdout).contains("_caducee: function"), "{}", said(&zsh));
}

fn write_config(data: &Path, text: &str) {
    std::fs::create_dir_all(data).expect("data");
    std::fs::write(data.join("caducee.toml"), text).expect("config");
}

#[test]
fn config_show_and_check_say_what_the_relay_reads_and_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The defaults, written out, are a configuration that checks.
    let defaults = caducee_plain(&["config", "show", "--defaults"]);
    assert!(defaults.status.success(), "{}", said(&defaults));
    let text = String::from_utf8(defaults.stdout).expect("utf-8");
    assert!(text.contains("time_zone = \"Europe/Paris\"") && text.contains("[listen]"), "{text}");
    let good = dir.path().join("good");
    write_config(&good, &text);
    let checked = caducee(&good, &["config", "check"]);
    assert_eq!(checked.status.code(), Some(0), "{}", said(&checked));
    assert!(said(&checked).contains("caducee.toml: OK"), "{}", said(&checked));

    // A misspelt setting: exit 1, with its line.
    let misspelt = dir.path().join("misspelt");
    write_config(&misspelt, "domain = \"relay.test\"\n[limits]\nsesions_max = 10\n");
    let checked = caducee(&misspelt, &["config", "check"]);
    assert_eq!(checked.status.code(), Some(1), "{}", said(&checked));
    assert!(said(&checked).contains("sesions_max") && said(&checked).contains("line 3"), "{}", said(&checked));

    // A value out of its range: exit 1, the setting and its range, the file named once.
    let too_long = dir.path().join("too-long");
    write_config(&too_long, "domain = \"relay.test\"\n[federation]\nexpire_after_hours = 9000\n");
    let checked = caducee(&too_long, &["config", "check"]);
    assert_eq!(checked.status.code(), Some(1), "{}", said(&checked));
    assert!(
        said(&checked).contains("[federation] expire_after_hours = 9000: a time from 1 to 8760 hours"),
        "{}",
        said(&checked)
    );
    assert_eq!(said(&checked).matches("caducee.toml").count(), 1, "{}", said(&checked));

    // Files that are not there, and two services on one port: every problem, exit 1.
    let wrong = dir.path().join("wrong");
    write_config(
        &wrong,
        "domain = \"relay.test\"\n[listen]\npop3 = \"127.0.0.1:2110\"\npop3s = [\"127.0.0.1:2110\", \"[::1]:2995\"]\n\
         [federation]\nca_bundle = \"/nonexistent/ca.pem\"\ncertificate = \"operator.pem\"\n[backup]\nfolder = \"/nonexistent/backups\"\n",
    );
    let checked = caducee(&wrong, &["config", "check", "--json"]);
    assert_eq!(checked.status.code(), Some(1), "{}", said(&checked));
    let report: Value = serde_json::from_slice(&checked.stdout).expect("JSON");
    let problems: Vec<&str> =
        report["problems"].as_array().expect("problems").iter().filter_map(Value::as_str).collect();
    for expected in [
        "[federation] ca_bundle /nonexistent/ca.pem",
        "certificate and key go together",
        "[backup] folder",
        "pop3s and pop3 both on 127.0.0.1:2110",
    ] {
        assert!(problems.iter().any(|p| p.contains(expected)), "{expected}: {problems:?}");
    }

    // What the relay reads: the file's settings and the defaults it leaves.
    let shown = caducee(&wrong, &["config", "show", "--json"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    assert_eq!(shown["listen"]["pop3s"], serde_json::json!(["127.0.0.1:2110", "[::1]:2995"]));
    assert_eq!(shown["limits"]["sessions_max"], 4096, "a default beside the file's settings");

    // A configuration that cannot be read: the check could not run, exit 2.
    let unreadable = dir.path().join("unreadable");
    std::fs::create_dir_all(unreadable.join("caducee.toml")).expect("a folder where the file should be");
    let checked = caducee(&unreadable, &["config", "check"]);
    assert_eq!(checked.status.code(), Some(2), "{}", said(&checked));
}

#[test]
fn exit_codes_tell_problems_found_from_could_not_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A usage error: 2, with clap's message.
    let usage = caducee_plain(&["user", "add", "--adress", "x@relay.test"]);
    assert_eq!(usage.status.code(), Some(2), "{}", said(&usage));
    // A check that holds: 0; a request that cannot be done: 2.
    let relay = Relay::start(&dir.path().join("data"), "");
    assert_eq!(relay.cli(&["fsck"]).status.code(), Some(0));
    let refused = relay.cli(&["user", "quota", "--address", "nobody@relay.test", "--mb", "10"]);
    assert_eq!(refused.status.code(), Some(2), "{}", said(&refused));
    // A check that finds problems: 1 (a document whose HPRIM header is wrong).
    let document = dir.path().join("bad.hpr");
    std::fs::write(&document, "not an HPRIM header\n").expect("document");
    let linted = caducee_plain(&["client", "lint-hprim", document.to_str().expect("utf-8")]);
    assert_eq!(linted.status.code(), Some(1), "{}", said(&linted));
    assert!(relay.stop().success());
}
