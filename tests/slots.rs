//! Connection slots and rates, against a real relay with small limits: a client that does
//! not log in, or stops reading, cannot hold its slot; an address cannot open connections
//! without bound; a session that logged in keeps its slot when clients that have not
//! fill theirs.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Relay;

/// The longest any test waits for the relay to act.
const DEADLINE: Duration = Duration::from_secs(30);

fn start(dir: &tempfile::TempDir, limits: &str) -> Relay {
    Relay::start(&dir.path().join("data"), &format!("[limits]\n{limits}\n"))
}

/// A plain connection to `service`, reading with the tests' deadline.
fn connect(relay: &Relay, service: &str) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", relay.ports[service])).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    BufReader::new(stream)
}

/// The next line from the relay; empty at the end of the connection.
fn line(client: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    match client.read_line(&mut line) {
        Ok(_) => line,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => String::new(),
        Err(e) => panic!("no answer within {DEADLINE:?}: {e}"),
    }
}

fn send(client: &mut BufReader<TcpStream>, text: &str) {
    client.get_mut().write_all(text.as_bytes()).expect("write");
}

/// Every line until the relay closes the connection.
fn rest(client: &mut BufReader<TcpStream>) -> Vec<String> {
    std::iter::from_fn(|| Some(line(client)).filter(|l| !l.is_empty())).collect()
}

#[test]
fn a_client_that_does_not_log_in_is_closed_after_the_login_lifetime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start(&dir, "login_within_secs = 2\nidle_before_login_secs = 600");
    let started = Instant::now();
    let mut smtp = connect(&relay, "submission");
    assert!(line(&mut smtp).starts_with("220 "));
    let mut pop3 = connect(&relay, "pop3");
    assert!(line(&mut pop3).starts_with("+OK"));
    let smtp_end = rest(&mut smtp);
    assert!(
        matches!(smtp_end.as_slice(), [reply] if reply.starts_with("421 4.7.0 ") && reply.contains("Login not completed in time")),
        "{smtp_end:?}"
    );
    let pop3_end = rest(&mut pop3);
    assert!(
        matches!(pop3_end.as_slice(), [reply] if reply.starts_with("-ERR [SYS/TEMP] Login not completed in time")),
        "{pop3_end:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(2), "not before the lifetime");
}

/// Waits `quiet` for the relay to say anything, and fails if it does (or closes).
fn assert_silent_for(client: &mut BufReader<TcpStream>, quiet: Duration) {
    client.get_ref().set_read_timeout(Some(quiet)).expect("read timeout");
    let mut byte = [0u8; 1];
    match client.read(&mut byte) {
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
        other => panic!("the relay spoke or closed within {quiet:?}: {other:?} {:?}", String::from_utf8_lossy(&byte)),
    }
    client.get_ref().set_read_timeout(Some(DEADLINE)).expect("read timeout");
}

/// The idle limit counts from the last input, however long the session has lasted: a
/// client that speaks more often than the limit is never cut, and one that falls silent is
/// cut one limit after its last command.
#[test]
fn a_client_that_keeps_speaking_outlasts_the_idle_limit_and_is_cut_once_silent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start(&dir, "idle_before_login_secs = 2\nlogin_within_secs = 600\ncommands_before_login = 100");
    let mut smtp = connect(&relay, "submission");
    assert!(line(&mut smtp).starts_with("220 "));
    let started = Instant::now();
    // A command after each half second of silence (the limit's quarter) for two and a half
    // limits: the relay says nothing meanwhile.
    while started.elapsed() < Duration::from_secs(5) {
        assert_silent_for(&mut smtp, Duration::from_millis(500));
        send(&mut smtp, "NOOP\r\n");
        let reply = line(&mut smtp);
        assert!(reply.starts_with("250 "), "still served {:?} in: {reply:?}", started.elapsed());
    }
    let last_command = Instant::now();
    let end = rest(&mut smtp);
    assert!(matches!(end.as_slice(), [reply] if reply.starts_with("421 ")), "{end:?}");
    // (The relay's limit counts from its own read, a moment before the reply came here.)
    assert!(
        last_command.elapsed() >= Duration::from_millis(1_500),
        "cut {:?} after the last command",
        last_command.elapsed()
    );
}

#[test]
fn a_client_sending_commands_before_login_is_closed_after_the_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start(&dir, "commands_before_login = 5");
    let mut smtp = connect(&relay, "submission");
    assert!(line(&mut smtp).starts_with("220 "));
    // Pipelined: the machine never sees more than the budget.
    send(&mut smtp, &"NOOP\r\n".repeat(50));
    let replies = rest(&mut smtp);
    let (last, answered) = replies.split_last().expect("replies");
    assert_eq!(answered.len(), 5, "{replies:?}");
    assert!(answered.iter().all(|r| r.starts_with("250 ")), "{replies:?}");
    assert!(last.starts_with("421 4.7.0 ") && last.contains("Too many commands before login"), "{replies:?}");

    let mut pop3 = connect(&relay, "pop3");
    assert!(line(&mut pop3).starts_with("+OK"));
    for _ in 0..5 {
        send(&mut pop3, "CAPA\r\n");
        assert!(line(&mut pop3).starts_with("+OK"));
        while line(&mut pop3) != ".\r\n" {}
    }
    send(&mut pop3, "CAPA\r\n");
    let end = rest(&mut pop3);
    assert!(
        matches!(end.as_slice(), [reply] if reply.starts_with("-ERR [SYS/TEMP] Too many commands before login")),
        "{end:?}"
    );
}

/// Connects to submission until the relay greets (a slot is free) or the deadline passes;
/// the replies of the refused attempts.
fn greeted_within(relay: &Relay, deadline: Duration) -> Result<Vec<String>, Vec<String>> {
    let until = Instant::now() + deadline;
    let mut refusals = Vec::new();
    while Instant::now() < until {
        let mut probe = connect(relay, "submission");
        let reply = line(&mut probe);
        if reply.starts_with("220 ") {
            return Ok(refusals);
        }
        refusals.push(reply);
        // The refusal is written at accept: wait for the relay to have let go of the
        // connection before trying again.
        let _ = probe.get_mut().read(&mut [0; 1]);
    }
    Err(refusals)
}

#[test]
fn a_client_that_never_reads_is_dropped_after_the_write_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = "sessions_max = 1\nwrite_timeout_secs = 1\ncommands_before_login = 10000000\n\
                  connections_per_ip_per_minute = 0";
    let relay = start(&dir, limits);
    let mut hog = connect(&relay, "submission");
    assert!(line(&mut hog).starts_with("220 "));
    // Each EHLO gets a reply twenty times its size; the replies fill the socket buffers
    // and the relay's writes stall. The writer ends when the relay drops the connection.
    let mut writer = hog.get_ref().try_clone().expect("clone");
    let flood = std::thread::spawn(move || {
        let request = "EHLO client.test\r\n".repeat(10_000);
        while writer.write_all(request.as_bytes()).is_ok() {}
    });
    let mut probe = connect(&relay, "submission");
    let refused = line(&mut probe);
    assert!(refused.starts_with("421 4.7.0 Too many connections"), "the slot is held: {refused}");
    drop(probe);
    let freed = greeted_within(&relay, DEADLINE);
    assert!(freed.is_ok(), "the stalled session still holds its slot: {freed:?}");
    flood.join().expect("writer");
}

#[test]
fn a_client_that_never_finishes_its_tls_handshake_is_dropped_after_the_handshake_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = "sessions_max = 1\ntls_handshake_secs = 1\nconnections_per_ip_per_minute = 0";
    let relay = start(&dir, limits);
    // Connects to the implicit-TLS door and says nothing: no ClientHello.
    let mut hog = TcpStream::connect(("127.0.0.1", relay.ports["submissions"])).expect("connect");
    let held = common::operators::eventually(|| {
        let status = relay.status();
        let open = status["sessions_open"].as_array().cloned().unwrap_or_default();
        open.iter().any(|door| door[1].as_u64().is_some_and(|n| n > 0)).then_some(())
    });
    assert!(held.is_some(), "the handshake's session never counted: {}", relay.status());
    let mut probe = connect(&relay, "submission");
    let refused = line(&mut probe);
    assert!(refused.starts_with("421 4.7.0 Too many connections"), "the slot is held: {refused}");
    drop(probe);
    // Dropped after the one second set, well before the default's thirty.
    hog.set_read_timeout(Some(Duration::from_secs(15))).expect("read timeout");
    let ended = hog.read(&mut [0; 1]);
    assert!(
        matches!(ended, Ok(0)) || matches!(&ended, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "the relay still holds a handshake that never began: {ended:?}"
    );
    let freed = greeted_within(&relay, DEADLINE);
    assert!(freed.is_ok(), "the slot was not freed: {freed:?}");
}

#[test]
fn an_ldaps_client_that_never_finishes_its_handshake_is_dropped_after_the_same_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start(&dir, "tls_handshake_secs = 1\nconnections_per_ip_per_minute = 0");
    // Connects to the directory's implicit-TLS door and says nothing: no ClientHello.
    let mut hog = TcpStream::connect(("127.0.0.1", relay.ports["ldaps"])).expect("connect");
    // Dropped after the one second set: well before the read gives up at ten.
    hog.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
    let ended = hog.read(&mut [0; 1]);
    assert!(
        matches!(ended, Ok(0)) || matches!(&ended, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "the directory still holds a handshake that never began: {ended:?}"
    );
}

#[test]
fn the_connection_rate_refuses_the_next_connection_from_one_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start(&dir, "connections_per_ip_per_minute = 3");
    for _ in 0..3 {
        let mut client = connect(&relay, "submission");
        assert!(line(&mut client).starts_with("220 "));
    }
    let mut smtp = connect(&relay, "submission");
    let refused = rest(&mut smtp);
    assert!(
        matches!(refused.as_slice(), [r] if r.starts_with("421 4.7.0 Too many connections from your address; try again in ")),
        "{refused:?}"
    );
    // One rate for every door.
    let mut pop3 = connect(&relay, "pop3");
    let refused = rest(&mut pop3);
    assert!(
        matches!(refused.as_slice(), [r] if r.starts_with("-ERR [SYS/TEMP] Too many connections from your address")),
        "{refused:?}"
    );
}

/// A POP3 client over implicit TLS that logs in and answers STAT when told to, one step per
/// line on its standard input; it prints what it did.
const POP3_STEPS: &str = r#"
import poplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
client = poplib.POP3_SSL("127.0.0.1", int(sys.argv[1]), context=ctx, timeout=30)
print("connected", flush=True)
sys.stdin.readline()
client.user(sys.argv[3]); client.pass_(sys.argv[4])
print("logged-in", flush=True)
sys.stdin.readline()
print(client.stat(), flush=True)
client.quit()
"#;

#[test]
fn a_logged_in_session_keeps_a_slot_when_sessions_before_login_fill_theirs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start(&dir, "sessions_max = 3\nsessions_reserved_for_login = 1");
    let (address, password) = relay.add_user("claire", None);
    let mut user = Command::new("python3")
        .args(["-c", POP3_STEPS, &relay.port("pop3s"), &relay.ca(), &address, &password])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut said = BufReader::new(user.stdout.take().expect("stdout"));
    let mut tell = user.stdin.take().expect("stdin");
    let mut next = || {
        let mut text = String::new();
        said.read_line(&mut text).expect("python's output");
        text
    };
    assert_eq!(next(), "connected\n");
    // Two slots before login: the user's connection and one other.
    let mut idle = connect(&relay, "submission");
    assert!(line(&mut idle).starts_with("220 "));
    let mut refused = connect(&relay, "submission");
    let reply = line(&mut refused);
    assert!(reply.starts_with("421 4.7.0 Too many connections"), "the third slot is reserved: {reply}");
    // Logged in, the user's session leaves the share of sessions before login.
    tell.write_all(b"login\n").expect("tell");
    assert_eq!(next(), "logged-in\n");
    let mut another = connect(&relay, "submission");
    assert!(line(&mut another).starts_with("220 "), "the login freed a slot before login");
    let mut full = connect(&relay, "submission");
    assert!(line(&mut full).starts_with("421 4.7.0 Too many connections"), "three in all");
    tell.write_all(b"stat\n").expect("tell");
    let stat = next();
    assert!(stat.starts_with('('), "the logged-in session is still served: {stat}");
    assert!(user.wait().expect("python").success());
}

/// Opens three HTTPS connections at once, each asking for the WKD policy in turn (an answer
/// proves the relay counted the connection); prints each status line.
const HTTPS_THREE: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
held = []
for _ in range(3):
    tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30), server_hostname="relay.test")
    tls.sendall(b"GET /.well-known/openpgpkey/policy HTTP/1.1\r\nHost: relay.test\r\n\r\n")
    print(tls.recv(65536).split(b"\r\n")[0].decode(), flush=True)
    held.append(tls)
"#;

#[test]
fn https_connections_beyond_an_address_share_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start(&dir, "https_connections_per_ip = 2");
    let output =
        Command::new("python3").args(["-c", HTTPS_THREE, &relay.port("https"), &relay.ca()]).output().expect("python3");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let statuses = String::from_utf8(output.stdout).expect("utf-8");
    let statuses: Vec<&str> = statuses.lines().collect();
    assert_eq!(statuses, ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 429 Too Many Requests"]);
}
