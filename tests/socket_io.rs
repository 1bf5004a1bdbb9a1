//! The implicit-TLS mail doors with their sockets read and written through io_uring
//! (`[listen] socket_io = "io_uring"`): the real `caducee` binary on 127.0.0.1 and real
//! clients — python's smtplib, poplib and imaplib, curl — carry mail both ways as over
//! epoll, a message larger than TLS's buffers included, in records of any size; a session
//! idling hears of new mail (its read, cancelled by the push, loses nothing); a client that
//! does not speak TLS, or says more after its close_notify, is turned away without harm to
//! the others; one that stops reading is let go once a write has waited out its timeout.

mod common;

use std::io::{Read, Write};

use base64::Engine as _;
use std::path::Path;
use std::process::Command;

use common::operators::eventually;
use common::*;

/// A relay whose implicit-TLS doors use io_uring.
fn uring_relay(data: &Path) -> Relay {
    uring_relay_with(data, "")
}

/// As [`uring_relay`], with `limits` in its `[limits]` section.
fn uring_relay_with(data: &Path, limits: &str) -> Relay {
    write_uring_config(data, limits);
    Relay::start(data, "")
}

/// Writes the configuration of a relay whose implicit-TLS doors use io_uring.
fn write_uring_config(data: &Path, limits: &str) {
    std::fs::create_dir_all(data).expect("data dir");
    let config = format!(
        "domain = \"relay.test\"\n\n[listen]\nsocket_io = \"io_uring\"\nsubmission = \"127.0.0.1:0\"\n\
         submissions = \"127.0.0.1:0\"\npop3 = \"127.0.0.1:0\"\npop3s = \"127.0.0.1:0\"\n\
         imap = \"127.0.0.1:0\"\nimaps = \"127.0.0.1:0\"\nhttps = \"127.0.0.1:0\"\nldap = \"127.0.0.1:0\"\n\
         ldaps = \"127.0.0.1:0\"\nmetrics = \"127.0.0.1:0\"\n\n[limits]\n{limits}\n\n[keys]\nauto_renew = false\n"
    );
    std::fs::write(data.join("caducee.toml"), config).expect("write config");
}

/// Of the TCP connections from the client ports `clients`, how many the process `pid`
/// still holds open (by the socket inodes of /proc/net/tcp and of its descriptors).
fn held_connections(pid: u32, clients: &[u16]) -> usize {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the relay's descriptors")
        .filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(target.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let remote_port =
                fields.get(2).and_then(|a| a.rsplit(':').next()).and_then(|p| u16::from_str_radix(p, 16).ok());
            remote_port.is_some_and(|port| clients.contains(&port))
                && fields.get(9).is_some_and(|i| inodes.contains(*i))
        })
        .count()
}

#[test]
fn the_implicit_tls_doors_over_io_uring_carry_mail_both_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = uring_relay(&dir.path().join("data"));
    let shown = relay.cli(&["config", "show"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("socket_io = \"io_uring\""), "the setting is read");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);

    // 3 MB: many TLS records each way, more than rustls buffers before a write is flushed.
    let large = compose_padded(dir.path(), &[&alice, &bob], "Imagerie", 3 << 20);
    let large_bytes = std::fs::read(&large).expect("composed message");
    let sent = relay.send(&alice, &alice_pw, &bob, &large);
    assert_eq!(code(&sent["data"]), 250, "{sent}");
    let fetched = relay.fetch(&bob, &bob_pw, true);
    assert_eq!(fetched.len(), 1, "one message waiting");
    assert_eq!(without_trace_header(&fetched[0]), large_bytes.as_slice(), "byte-identical over POP3S");
    assert_eq!(relay.status()["stored_messages"], 0, "erased once collected");

    // A session idling over IMAPS: its read is cancelled by the push, and what the client
    // says next (DONE) still arrives.
    let idler = Idler::start(&relay, &bob, &bob_pw);
    let small = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    let small_bytes = std::fs::read(&small).expect("composed message");
    assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &small)["data"]), 250);
    let report = idler.report();
    assert_eq!(report["exists"], 1, "the new message announced while idling: {report}");
    assert!(report["done"].as_str().is_some_and(|d| d.contains("OK")), "DONE heard after the push: {report}");

    // curl reads it over IMAPS.
    let curl = Command::new("curl")
        .args(["--silent", "--show-error", "--cacert", &relay.ca(), "--user", &format!("{bob}:{bob_pw}")])
        .arg(format!("imaps://127.0.0.1:{}/INBOX;UID=2", relay.port("imaps")))
        .output()
        .expect("run curl");
    assert!(curl.status.success(), "curl: {}", String::from_utf8_lossy(&curl.stderr));
    assert_eq!(without_trace_header(&curl.stdout), small_bytes.as_slice(), "curl reads the message");
}

#[test]
fn a_client_that_does_not_speak_tls_is_turned_away_and_the_door_stays_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = uring_relay(&dir.path().join("data"));
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);

    // Plain SMTP on the implicit-TLS port: the handshake fails and the connection closes.
    let port: u16 = relay.port("submissions").parse().expect("port");
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    plain.set_read_timeout(Some(std::time::Duration::from_secs(30))).expect("timeout");
    plain.write_all(b"EHLO practice.test\r\n").expect("write");
    let mut answer = Vec::new();
    let read = plain.read_to_end(&mut answer);
    assert!(read.is_ok() || !answer.is_empty(), "the relay closed the connection: {read:?}");
    assert!(!answer.starts_with(b"220"), "no SMTP spoken before TLS on this port");

    // A client that connects and leaves at once.
    drop(std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect"));

    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &message)["data"]), 250, "the door still serves");
    assert_eq!(relay.fetch(&bob, &bob_pw, true).len(), 1);
}

#[test]
fn a_large_message_in_tls_records_of_any_size_arrives_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = uring_relay(&dir.path().join("data"));
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let message = compose_padded(dir.path(), &[&alice, &bob], "Imagerie", 300 << 10);
    let sent_bytes = std::fs::read(&message).expect("composed message");
    // SMTP's DATA is stuffed and ended as a POP3 multi-line answer is (RFC 5321 §4.5.2).
    let mut data = Vec::new();
    caducee_actors::pop3::write_dot_stuffed(&mut data, &sent_bytes, None);
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("\0{alice}\0{alice_pw}"));

    // Records of 10,000 and 12,000 bytes end across the relay's reads, so one read can
    // complete two records: more decrypted bytes than rustls holds at once.
    for record in [10_000, 12_000, 1_000, 16_384] {
        let mut client = Raw::connect(&relay, "submissions");
        client.until("220 ");
        client.send("EHLO practice.test");
        client.until("250 ");
        client.send(&format!("AUTH PLAIN {credentials}"));
        assert!(client.until("235").starts_with("235"), "logged in");
        client.send(&format!("MAIL FROM:<{alice}>"));
        client.until("250");
        client.send(&format!("RCPT TO:<{bob}>"));
        client.until("250");
        client.send("DATA");
        client.until("354");
        client.write_in_chunks(&data, record);
        let answer = client.until("2");
        assert!(answer.starts_with("250"), "records of {record} bytes: {answer}");
        client.send("QUIT");
        client.until("221");
    }
    let fetched = relay.fetch(&bob, &bob_pw, true);
    assert_eq!(fetched.len(), 4, "each message stored once");
    for message in &fetched {
        let stored = without_trace_header(message);
        assert!(
            stored == sent_bytes.as_slice(),
            "byte-identical: {} bytes stored of {}",
            stored.len(),
            sent_bytes.len()
        );
    }
}

#[test]
fn bytes_after_a_clients_close_notify_are_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = uring_relay(&dir.path().join("data"));
    // One such client per worker thread and more: each says close_notify, then, in the
    // same packet, the start of a record longer than rustls takes in one go.
    for _ in 0..4 {
        let mut client = Raw::connect(&relay, "submissions");
        client.until("220 ");
        client.stream.conn.send_close_notify();
        let mut bytes = Vec::new();
        client.stream.conn.write_tls(&mut bytes).expect("close_notify");
        bytes.extend_from_slice(&[0x17, 0x03, 0x03, 0x40, 0x00]);
        bytes.extend_from_slice(&[0; 6000]);
        client.stream.sock.write_all(&bytes).expect("write");
    }
    // Every worker still serves: a new client is greeted, within the client's timeout.
    for _ in 0..4 {
        let mut client = Raw::connect(&relay, "submissions");
        assert!(client.until("220 ").starts_with("220 "), "greeted");
    }
}

#[test]
fn a_session_that_ends_closes_its_socket_though_the_client_keeps_its_end_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = uring_relay_with(&dir.path().join("data"), "idle_before_login_secs = 1");
    let pid = relay.child.id();
    // Clients that connect, are greeted, then say nothing and never close: the idle limit
    // ends each session while its read waits in the ring.
    let mut clients: Vec<Raw> = (0..10).map(|_| Raw::connect(&relay, "submissions")).collect();
    let ports: Vec<u16> = clients.iter().map(|c| c.stream.sock.local_addr().expect("local address").port()).collect();
    for client in &mut clients {
        client.until("220 ");
    }
    assert_eq!(held_connections(pid, &ports), 10, "the relay holds each connection while it serves it");
    for client in &mut clients {
        assert!(client.until("421").starts_with("421"), "ended by the idle limit");
    }
    // The relay lets go of every one of those sockets, though no client has closed. Each
    // look asks the relay for its status first, so that the looks take the relay's time.
    let released = eventually(|| {
        relay.status();
        (held_connections(pid, &ports) == 0).then_some(())
    });
    assert!(released.is_some(), "{} sockets of ended sessions still held by the relay", held_connections(pid, &ports));
    drop(clients);
}

#[test]
fn a_client_that_stops_reading_is_let_go_after_the_write_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = "write_timeout_secs = 1\ncommands_before_login = 10000000\nconnections_per_ip_per_minute = 0";
    let data = dir.path().join("data");
    write_uring_config(&data, limits);
    let log = dir.path().join("relay.log");
    let relay = Relay::start_logged(&data, "", &log);
    let pid = relay.child.id();
    let mut hog = Raw::connect(&relay, "submissions");
    hog.until("220 ");
    let port = hog.stream.sock.local_addr().expect("local address").port();
    // Each EHLO gets a reply twenty times its size, which this client never reads: the
    // socket buffers fill and the relay's write through the ring stalls, cut off by the
    // write timeout. The flood ends when the relay lets the connection go.
    let flood = std::thread::spawn(move || {
        let request = "EHLO client.test\r\n".repeat(10_000);
        while hog.stream.write_all(request.as_bytes()).and_then(|()| hog.stream.flush()).is_ok() {}
    });
    let released = eventually(|| {
        relay.status();
        (held_connections(pid, &[port]) == 0).then_some(())
    });
    assert!(released.is_some(), "the relay still holds a connection whose write stalled");
    flood.join().expect("flood");
    let said = |text: &str| std::fs::read_to_string(&log).is_ok_and(|log| log.contains(text));
    let ended = eventually(|| {
        relay.status();
        said("outcome=write-timeout").then_some(())
    });
    assert!(ended.is_some(), "the session did not end on its write timeout");
    // Its worker goes on serving.
    for _ in 0..4 {
        let mut client = Raw::connect(&relay, "submissions");
        assert!(client.until("220 ").starts_with("220 "), "greeted");
    }
}

#[test]
fn a_client_whose_tls_fails_hears_why_in_an_alert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = uring_relay(&dir.path().join("data"));
    let port = relay.port("submissions");

    // In the handshake: openssl offering only TLS 1.2's RSA key exchange, which the relay
    // does not take, is told handshake_failure (alert 40) rather than left to find a closed
    // connection.
    let openssl = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl s_client");
    let said = format!("{}{}", String::from_utf8_lossy(&openssl.stdout), String::from_utf8_lossy(&openssl.stderr));
    assert!(!openssl.status.success(), "no handshake: {said}");
    assert!(said.contains("SSL alert number 40"), "the relay's handshake_failure alert: {said}");

    // After it: a record the client did not encrypt (its tag cannot verify) is answered with
    // bad_record_mac, encrypted under the session's keys, before the connection closes.
    let mut client = Raw::connect(&relay, "submissions");
    client.until("220 ");
    let mut forged = vec![0x17, 0x03, 0x03, 0x00, 0x40];
    forged.extend_from_slice(&[0x5a; 0x40]);
    client.stream.sock.write_all(&forged).expect("write the forged record");
    let mut answer = Vec::new();
    let read = client.stream.sock.read_to_end(&mut answer);
    assert!(read.is_ok() || !answer.is_empty(), "the relay answered before closing: {read:?}");
    let mut rest = &answer[..];
    let heard = loop {
        if let Err(error) = client.stream.conn.process_new_packets() {
            break Some(error);
        }
        if rest.is_empty() || client.stream.conn.read_tls(&mut rest).expect("read_tls") == 0 {
            break None;
        }
    };
    assert_eq!(
        heard,
        Some(rustls::Error::AlertReceived(rustls::AlertDescription::BadRecordMac)),
        "the relay's alert, in {} bytes received",
        answer.len()
    );

    // The door still serves.
    let mut next = Raw::connect(&relay, "submissions");
    assert!(next.until("220 ").starts_with("220 "), "greeted");
}
