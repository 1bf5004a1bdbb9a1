//! The relay as a system service: `caducee setup` names a new relay, and `caducee serve`
//! speaks the service manager's protocol (readiness, watchdog, stopping) on the datagram
//! socket systemd names in $NOTIFY_SOCKET — here a socket the test binds itself.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use common::{caducee_plain, Relay};
use serde_json::Value;

fn next_datagram(socket: &UnixDatagram) -> String {
    let mut buffer = [0u8; 4096];
    let n = socket.recv(&mut buffer).expect("a notification before the timeout");
    String::from_utf8_lossy(&buffer[..n]).into_owned()
}

#[test]
fn serve_tells_the_service_manager_it_is_ready_alive_and_stopping() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notification socket");
    // Generous: the relay must speak first, the timeout only stops a broken test.
    socket.set_read_timeout(Some(Duration::from_secs(60))).expect("socket timeout");

    // A watchdog of 0.4 s: the relay pings every 0.2 s once its health check passes.
    let relay = Relay::start_env(
        &dir.path().join("data"),
        "",
        &[("NOTIFY_SOCKET", socket_path.to_str().expect("utf-8 path")), ("WATCHDOG_USEC", "400000")],
    );
    // First the store's check, with more time asked for it; then readiness.
    let checking = next_datagram(&socket);
    assert!(checking.lines().any(|l| l.starts_with("STATUS=checking the store (")), "{checking:?}");
    assert!(checking.lines().any(|l| l == "EXTEND_TIMEOUT_USEC=15000000"), "{checking:?}");
    let ready = next_datagram(&socket);
    assert!(ready.lines().any(|l| l == "READY=1"), "after the check: {ready:?}");
    assert!(ready.contains("STATUS=serving relay.test"), "{ready:?}");
    // Readiness comes after the admin socket answers: the status is there at once.
    assert_eq!(relay.status()["running"], Value::Bool(true));

    for _ in 0..3 {
        assert_eq!(next_datagram(&socket).trim_end(), "WATCHDOG=1");
    }

    let exit = relay.stop();
    assert!(exit.success(), "{exit:?}");
    // The relay has exited: everything it said is queued on the socket.
    socket.set_nonblocking(true).expect("non-blocking socket");
    let mut said = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buffer) {
        said.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
    }
    assert!(said.iter().any(|d| d.lines().any(|l| l == "STOPPING=1")), "after SIGTERM: {said:?}");
}

#[test]
fn setup_names_a_relay_once_and_refuses_bad_names() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8 path");

    let bad = caducee_plain(&["--data-dir", data_arg, "setup", "--domain", "not a domain"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a DNS name"), "{bad:?}");
    assert!(!data.join("caducee.toml").exists(), "a refused name wrote a configuration");

    let args = ["--data-dir", data_arg, "setup", "--domain", "caducee.example.org"];
    let out = caducee_plain(&[&args[..], &["--hostname", "relay.caducee.example.org", "--json"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("setup --json prints JSON");
    assert_eq!(report["hostname"], "relay.caducee.example.org");
    // The zone to publish comes with it (docs/operations/dns.md).
    let zone = report["zone"].as_str().expect("the zone");
    assert!(
        zone.contains("_submissions._tcp.caducee.example.org. 3600 IN SRV   0 1 1465 relay.caducee.example.org."),
        "{zone}"
    );
    let pem = std::fs::read_to_string(data.join("tls/ca.pem")).expect("tls/ca.pem written");
    assert!(pem.contains("BEGIN CERTIFICATE"));
    // The fingerprint shown is the CA certificate's, as openssl computes it.
    let openssl = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(data.join("tls/ca.pem"))
        .output()
        .expect("openssl");
    let openssl = String::from_utf8_lossy(&openssl.stdout);
    assert!(openssl.trim().ends_with(report["ca_sha256"].as_str().expect("ca_sha256")), "{openssl} vs {report}");

    let again = caducee_plain(&args);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // The configuration carries the host name practices will see in bundles and certificates.
    let config = std::fs::read_to_string(data.join("caducee.toml")).expect("caducee.toml written");
    assert!(config.contains("hostname = \"relay.caducee.example.org\""), "{config}");
}

#[test]
fn a_command_whose_reader_stops_reading_ends_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start(&data, "");
    for local in ["a", "b", "c"] {
        relay.add_user(local, None);
    }
    // The reading end is closed before the command writes: every write meets a closed pipe,
    // as after `| head -3`. (The pipe is made here rather than by a shell: a shell's forked
    // side of a pipeline ending first would take the faked clock's shared lock with it
    // when the calendar check runs this test under libfaketime.)
    for args in [&["status"][..], &["user", "list"], &["audit", "export", "--from", "2000-01-01", "--to", "2999-12-31"]]
    {
        let mut child = std::process::Command::new(common::BIN)
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("caducee");
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("caducee ends");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        let quiet = output.status.code() == Some(0)
            || std::os::unix::process::ExitStatusExt::signal(&output.status) == Some(13);
        assert!(quiet, "{args:?}: {:?} {stderr}", output.status);
    }
}

/// A GET over plain HTTP: (status, body).
fn http_get(url: &str) -> (String, String) {
    common::http_get(url, None)
}

/// What a hosting provider probes and alerts on: `/healthz`, `/readyz`, and the figures of
/// `/metrics` — the build, the store's map, the backups, sessions and refused logins by door,
/// the notice queue, certificate expiry.
#[test]
fn the_metrics_listener_answers_probes_and_carries_what_a_provider_alerts_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backups = dir.path().join("backups");
    let relay = Relay::start(&dir.path().join("data"), &format!("[backup]\nfolder = {backups:?}\n"));
    let metrics = format!("http://127.0.0.1:{}", relay.port("metrics"));
    assert_eq!(http_get(&format!("{metrics}/healthz")), ("200".into(), "ok\n".into()));
    assert_eq!(http_get(&format!("{metrics}/readyz")), ("200".into(), "ready\n".into()));

    let (alice, _) = relay.add_user("alice", None);
    let refused = relay.pop3_attempt(&alice, "not the password");
    assert!(refused["login_error"].is_string(), "{refused}");
    let backup = relay.cli(&["backup"]);
    assert!(backup.status.success(), "{}", String::from_utf8_lossy(&backup.stderr));

    let (status, text) = http_get(&format!("{metrics}/metrics"));
    assert_eq!(status, "200");
    let has = |line: &str| text.lines().any(|l| l.starts_with(line));
    assert!(has(&format!("caducee_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(has("caducee_store_map_bytes 1") && has("caducee_store_map_used_bytes "), "{text}");
    assert!(has("caducee_sessions_open{door=\"pop3s\"} ") && has("caducee_sessions_open{door=\"ldaps\"} 0"), "{text}");
    assert!(has("caducee_logins_refused_total{door=\"pop3\",reason=\"credentials\"} 1"), "{text}");
    assert!(has("caducee_sessions_open{door=\"imaps\"} 0"), "IMAP sessions counted by door: {text}");
    assert!(has("caducee_notices_queued 0") && has("caducee_notices_oldest_age_seconds 0"), "{text}");
    assert!(has("caducee_backup_last_success_timestamp_seconds 1"), "a backup was taken: {text}");
    assert!(!has("caducee_backup_last_success_bytes 0"), "{text}");
    for certificate in ["served", "local-ca"] {
        assert!(
            has(&format!("caducee_certificate_expiry_timestamp_seconds{{certificate=\"{certificate}\"}} 1")),
            "{text}"
        );
    }
    assert!(text.ends_with("# EOF\n"), "one exposition, ended once");
    rules_name_only_exposed_metrics(&text);
    assert!(relay.stop().success());
}

/// The alert rules the image ships are well formed (python's YAML reader) and name only
/// metrics this scrape shows — or ones a relay shows only in some setups, named here with
/// the source that exposes them.
fn rules_name_only_exposed_metrics(scrape: &str) {
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../image/rootfs/usr/share/caducee/prometheus/caducee-alerts.yml");
    let read = std::process::Command::new("python3")
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", rules])
        .output()
        .expect("python3 with yaml");
    assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stderr));
    let rules: Value = serde_json::from_slice(&read.stdout).expect("JSON");
    let conditional = [
        ("caducee_outbound_queue_oldest_age_seconds", include_str!("../appliance/src/federation/outbound.rs")),
        ("caducee_pair_replication_healthy", include_str!("../appliance/src/pair.rs")),
        ("caducee_restore_drill_ok", include_str!("../appliance/src/serve/metrics.rs")),
    ];
    let exposed: Vec<&str> =
        scrape.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['{', ' ']).next()).collect();
    let mut alerts = 0;
    for rule in rules["groups"][0]["rules"].as_array().expect("rules") {
        alerts += 1;
        assert!(rule["alert"].is_string() && rule["annotations"]["summary"].is_string(), "{rule}");
        assert!(["warning", "critical"].contains(&rule["labels"]["severity"].as_str().unwrap_or_default()), "{rule}");
        let expr = rule["expr"].as_str().expect("expr");
        for name in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("caducee_"))
        {
            let shown = exposed.contains(&name);
            let elsewhere = conditional.iter().any(|(n, source)| *n == name && source.contains(name));
            assert!(shown || elsewhere, "{name} (alert {}) is no metric of the relay", rule["alert"]);
        }
    }
    assert!(alerts >= 10, "{alerts} rules");
}

/// Under systemd, with standard error connected to the journal (`$JOURNAL_STREAM` names
/// it), the log goes to the journal's native socket with each line's priority — here a
/// socket standing in for journald's, in a mount namespace of the relay's own; elsewhere,
/// `CADUCEE_LOG_FORMAT=json` makes every line a JSON object.
#[test]
fn the_log_goes_to_the_journal_with_priorities_or_is_json_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data");
    // The relay port without a trust space: the relay warns about it as it starts.
    let listen: String =
        ["submission", "submissions", "pop3", "pop3s", "imap", "imaps", "https", "ldap", "ldaps", "metrics", "relay"]
            .iter()
            .map(|service| format!("{service} = \"127.0.0.1:0\"\n"))
            .collect();
    std::fs::write(data.join("caducee.toml"), format!("domain = \"relay.test\"\n[listen]\n{listen}")).expect("config");
    // The sink writes its entries into a pipe the test reads to its end ("stopped"), and
    // says on another that its socket is bound: waits on what it says, not on the clock.
    let entries = dir.path().join("journal.pipe");
    for pipe in [&entries, &dir.path().join("ready.pipe")] {
        assert!(std::process::Command::new("mkfifo").arg(pipe).status().expect("mkfifo").success());
    }
    let reader = {
        let entries = entries.clone();
        std::thread::spawn(move || std::fs::read_to_string(entries).expect("the journal entries"))
    };
    let script = r#"set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal
python3 "$SINK" /run/systemd/journal/socket "$OUT" stopped "$READY" &
read -r _ < "$READY"
JOURNAL_STREAM="$(stat -L -c '%d:%i' /proc/self/fd/2)"
export JOURNAL_STREAM
exec "$BIN" --data-dir "$DATA" serve"#;
    let mut command = std::process::Command::new("unshare");
    command
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", script])
        .env("SINK", common::client_script().with_file_name("journal_sink.py"))
        .env("OUT", &entries)
        .env("READY", dir.path().join("ready.pipe"))
        .env("DATA", &data)
        .env("BIN", common::BIN);
    let stderr = dir.path().join("stderr");
    let file = std::fs::File::create(&stderr).expect("stderr file");
    let relay = Relay::spawn(command, &data, std::process::Stdio::from(file));
    assert!(relay.stop().success());
    // The last entry ("stopped") was sent before the relay exited; the sink then ends.
    let journal = reader.join().expect("the reader");
    let entries: Vec<Value> = journal.lines().map(|l| serde_json::from_str(l).expect("an entry")).collect();
    let entry = |message: &str| {
        entries
            .iter()
            .find(|e| e["MESSAGE"].as_str().is_some_and(|m| m.contains(message)))
            .unwrap_or_else(|| panic!("no {message:?} in {journal}"))
    };
    assert_eq!(entry("the relay port refuses every operator")["PRIORITY"], "4", "a warning");
    assert_eq!(entry("listening")["PRIORITY"], "5", "information");
    assert_eq!(entry("listening")["SYSLOG_IDENTIFIER"], "caducee");
    assert_eq!(entry("listening")["F_SERVICE"], "submission", "fields travel as journal fields");
    let said = std::fs::read_to_string(&stderr).expect("stderr");
    assert!(!said.contains("listening"), "nothing logged twice: {said}");

    // Outside the journal, JSON when asked: one object per line, with its level.
    let logged = dir.path().join("json.log");
    let mut command = std::process::Command::new(common::BIN);
    command.args(["--data-dir", data.to_str().expect("utf-8"), "serve"]).env("CADUCEE_LOG_FORMAT", "json");
    let relay = Relay::spawn(command, &data, std::process::Stdio::from(std::fs::File::create(&logged).expect("log")));
    assert!(relay.stop().success());
    let lines: Vec<Value> = std::fs::read_to_string(&logged)
        .expect("log")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let warning = lines.iter().find(|l| l["message"].as_str().is_some_and(|m| m.contains("the relay port refuses")));
    assert_eq!(warning.expect("the warning")["level"], "WARN");
    assert!(lines.iter().any(|l| l["message"] == "listening" && l["service"].is_string()), "{lines:?}");
}
