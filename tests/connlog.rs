//! The connection log under a storm of silent connections: a stranger connecting and
//! closing hundreds of times adds a tally, not a line per connection.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Relay;

/// Connects to `port`, reads the greeting and closes without a word; true when a session
/// served it (a 220), false when the relay turned the connection away before any session
/// (a 421: too many connections from the address), which logs nothing.
fn connect_and_close(port: &str) -> bool {
    let stream = TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut greeting = String::new();
    BufReader::new(&stream).read_line(&mut greeting).is_ok() && greeting.starts_with("220")
}

fn committed_writes(relay: &Relay) -> u64 {
    relay.status()["commits"]["writes"].as_u64().expect("a running relay reports its commits")
}

#[test]
fn three_hundred_silent_connections_from_one_address_add_at_most_a_few_log_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let port = relay.port("submission");
    let lines_before = relay.status()["connection_log_lines"].as_u64().expect("lines");
    let writes_before = committed_writes(&relay);

    let served = (0..300).filter(|_| connect_and_close(&port)).count() as u64;
    assert!(served >= 50, "only {served} of 300 connections were served");
    // Each served session ends with one write to the connection log: wait until the
    // relay has committed at least that many.
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed_writes(&relay) < writes_before + served {
        assert!(Instant::now() < deadline, "the sessions' log writes never committed");
    }

    let lines = relay.status()["connection_log_lines"].as_u64().expect("lines") - lines_before;
    // One tally per minute the storm spans (one or two), not one line per connection.
    assert!(lines <= 3, "{served} silent sessions added {lines} connection log lines");
    assert!(lines >= 1, "the storm is still in the connection log");
}
