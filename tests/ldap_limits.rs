//! The LDAP directory's write timeout, against a real relay: a client that sends searches
//! and never reads their answers is dropped after `[limits] write_timeout_secs`, and its
//! connection slot is free again.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Relay;

/// The longest any step waits for the relay to act.
const DEADLINE: Duration = Duration::from_secs(30);

/// A search of the rootDSE (base "", scope base, `(objectClass=*)`, every attribute), BER
/// encoded: the one search the plain listener answers before StartTLS.
const ROOT_DSE_SEARCH: &[u8] = b"\x30\x25\x02\x01\x01\x63\x20\x04\x00\x0a\x01\x00\x0a\x01\x00\x02\x01\x00\x02\x01\x00\
\x01\x01\x00\x87\x0bobjectClass\x30\x00";

/// Connects over LDAPS, says so, then sends rootDSE searches without ever reading an
/// answer; prints how it ended: `dropped` when the relay closed the connection, `stuck` when
/// its writes blocked for the whole deadline.
const HOG: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
tls = ctx.wrap_socket(raw, server_hostname="relay.test")
print("connected", flush=True)
request = bytes.fromhex(sys.argv[3]) * 200
try:
    while True:
        tls.sendall(request)
except socket.timeout:
    print("stuck", flush=True)
except (OSError, ssl.SSLError):
    print("dropped", flush=True)
"#;

/// Sends a rootDSE search in clear on the plain listener: `true` when an answer comes,
/// `false` when the relay closes the connection at once (no slot for it).
fn served(relay: &Relay) -> bool {
    let mut stream = TcpStream::connect(("127.0.0.1", relay.ports["ldap"])).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    if stream.write_all(ROOT_DSE_SEARCH).is_err() {
        return false;
    }
    let mut first = [0u8; 1];
    matches!(stream.read(&mut first), Ok(1))
}

#[test]
fn an_ldap_client_that_never_reads_is_dropped_after_the_write_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = "[limits]\nldap_sessions_max = 1\nwrite_timeout_secs = 1\nconnections_per_ip_per_minute = 0\n";
    let relay = Relay::start(&dir.path().join("data"), limits);
    let request: String = ROOT_DSE_SEARCH.iter().map(|b| format!("{b:02x}")).collect();
    let mut hog = Command::new("python3")
        .args(["-c", HOG, &relay.port("ldaps"), &relay.ca(), &request])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut said = BufReader::new(hog.stdout.take().expect("stdout"));
    let mut next = || {
        let mut text = String::new();
        said.read_line(&mut text).expect("python's output");
        text
    };
    assert_eq!(next(), "connected\n");
    assert!(!served(&relay), "the only LDAP slot is the hog's");
    assert_eq!(next(), "dropped\n", "the relay kept writing to a client that does not read");
    assert!(hog.wait().expect("python").success());
    // The slot comes back once the relay has let go of the connection.
    let started = Instant::now();
    // Each refused probe is closed by the relay before the next one connects.
    while !served(&relay) {
        assert!(started.elapsed() < DEADLINE, "the dropped client's slot was not freed");
    }
}
