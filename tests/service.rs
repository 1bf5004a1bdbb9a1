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
    let ready = next_datagram(&socket);
    assert!(ready.lines().any(|l| l == "READY=1"), "first notification: {ready:?}");
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
