//! Crash safety: the relay is killed with SIGKILL at varied points while practices submit
//! and collect, then restarted, again and again. A client-side ledger then proves that every
//! message answered `250` reached a collector, that no deletion was confirmed twice and
//! nothing collected and confirmed (POP3 QUIT answered `+OK`) came back, that nothing
//! appeared that no sender submitted, and that the store's invariants hold.
//!
//! `CADUCEE_CRASH_CYCLES` (default 20) and `CADUCEE_CRASH_SEED` set the run; a failure
//! prints its seed so that the same kill points replay.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::Value;

/// A small deterministic generator (SplitMix64): the kill points follow from the seed.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn spawn_python(args: &[&str]) -> Child {
    Command::new("python3")
        .arg(client_script())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start python3")
}

/// A POP3 collector polling `user`'s mailbox until the relay goes away.
fn start_collector(relay: &Relay, user: &str, password: &str) -> Child {
    let (port, ca) = (relay.port("pop3s"), relay.ca());
    spawn_python(&["collect", "--port", &port, "--ca", &ca, "--user", user, "--password", password])
}

/// Reads a child's JSON lines to the end, on a thread.
fn drain(child: &mut Child) -> std::thread::JoinHandle<Vec<Value>> {
    let stdout = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        BufReader::new(stdout).lines().map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()).collect()
    })
}

#[derive(Default)]
struct Ledger {
    /// Subjects answered 250.
    accepted: HashSet<String>,
    /// Subjects per sender stream (`c<cycle>-load-<worker>`), in order, to tell which
    /// unacknowledged message may legitimately exist: the one in flight at the kill.
    last_accepted: HashMap<String, u64>,
    /// Collections confirmed by QUIT +OK, per subject.
    confirmed: HashMap<String, u32>,
    /// Retrievals of subjects after they were confirmed collected.
    resurrected: Vec<String>,
    /// Every subject retrieved (RETR answered in full), confirmed or not.
    retrieved: HashSet<String>,
}

impl Ledger {
    fn record_load(&mut self, lines: &[Value]) {
        for subject in lines.iter().filter_map(|l| l["accepted"].as_str()) {
            self.accepted.insert(subject.to_owned());
            let (stream, n) = split_subject(subject);
            let last = self.last_accepted.entry(stream).or_default();
            *last = (*last).max(n + 1);
        }
    }

    fn record_collect(&mut self, lines: &[Value]) {
        let mut session: Option<i64> = None;
        let mut retrieved: Vec<String> = Vec::new();
        for line in lines {
            let this = line["session"].as_i64();
            if this != session {
                retrieved.clear();
                session = this;
            }
            if let Some(subject) = line["retrieved"].as_str() {
                if self.confirmed.contains_key(subject) {
                    self.resurrected.push(subject.to_owned());
                }
                retrieved.push(subject.to_owned());
                self.retrieved.insert(subject.to_owned());
            }
            if line["quit_ok"] == true {
                for subject in retrieved.drain(..) {
                    *self.confirmed.entry(subject).or_default() += 1;
                }
            }
        }
    }
}

/// `c3-load-1-17` → (`c3-load-1`, 17).
fn split_subject(subject: &str) -> (String, u64) {
    let (stream, n) = subject.rsplit_once('-').expect("load subject");
    (stream.to_owned(), n.parse().expect("message number"))
}

#[test]
fn kill_9_at_varied_points_loses_nothing_accepted_and_resurrects_nothing_collected() {
    let cycles = env_or("CADUCEE_CRASH_CYCLES", 20);
    let seed = env_or("CADUCEE_CRASH_SEED", 0x0C4D_0CEE);
    let mut random = Seeded(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");

    let relay = Relay::start(&data, "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "load");
    let message = message.to_str().expect("utf-8 path").to_owned();
    let mut relay = Some(relay);
    let mut ledger = Ledger::default();

    for cycle in 0..cycles {
        let current = relay.take().unwrap_or_else(|| Relay::start(&data, ""));
        let tag = format!("c{cycle}-");
        let senders = (1 + random.below(4)).to_string();
        let mut load = spawn_python(&[
            "load",
            "--port",
            &current.port("submission"),
            "--tls",
            "starttls",
            "--ca",
            &current.ca(),
            "--user",
            &alice,
            "--password",
            &alice_pw,
            "--sender",
            &alice,
            "--to",
            &bob,
            "--file",
            &message,
            "--senders",
            &senders,
            "--count",
            "100000",
            "--tag",
            &tag,
        ]);
        let mut collect = start_collector(&current, &bob, &bob_pw);
        let collected = drain(&mut collect);

        // Kill after a varied number of acknowledged messages: sometimes at once, sometimes
        // mid-stream, while collections are under way.
        let kill_after = random.below(40) as usize;
        let stdout = load.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut load_lines = Vec::new();
        let mut acknowledged = 0;
        while acknowledged < kill_after {
            let Some(Ok(line)) = lines.next() else { break };
            let value: Value = serde_json::from_str(&line).expect("JSON line");
            acknowledged += usize::from(value["accepted"].is_string());
            load_lines.push(value);
        }
        current.kill_9();
        load_lines.extend(lines.map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()));
        let _ = load.wait();
        let _ = collect.wait();
        ledger.record_load(&load_lines);
        ledger.record_collect(&collected.join().expect("collector output"));
    }

    // Restart once more; the store must be sound, and the rest collectable.
    let current = relay.take().unwrap_or_else(|| Relay::start(&data, ""));
    let fsck = current.cli(&["fsck"]);
    assert!(fsck.status.success(), "seed {seed:#x}: {}", String::from_utf8_lossy(&fsck.stdout));
    let mut collect = start_collector(&current, &bob, &bob_pw);
    let collected = drain(&mut collect);
    // The collector polls until the server goes; stop it once the mailbox is empty.
    let mut polls = 0;
    while current.status()["stored_messages"] != 0 && polls < 3000 {
        polls += 1;
    }
    assert_eq!(current.status()["stored_messages"], 0, "seed {seed:#x}: the mailbox empties");
    assert!(current.stop().success());
    let _ = collect.wait();
    ledger.record_collect(&collected.join().expect("collector output"));

    let unacknowledged = ledger.confirmed.keys().filter(|s| !ledger.accepted.contains(*s)).count();
    let collections: u32 = ledger.confirmed.values().sum();
    let unconfirmed = ledger.accepted.iter().filter(|s| !ledger.confirmed.contains_key(*s)).count();
    eprintln!(
        "crash loop: seed {seed:#x}, {cycles} kill -9 cycles, {} messages acknowledged, {collections} confirmed \
         collections, {unacknowledged} committed without their 250 reaching the sender, {unconfirmed} deleted \
         without their QUIT +OK reaching the collector",
        ledger.accepted.len()
    );
    assert!(ledger.accepted.len() > 20, "seed {seed:#x}: the load did run ({} accepted)", ledger.accepted.len());
    assert!(ledger.resurrected.is_empty(), "seed {seed:#x}: collected messages came back: {:?}", ledger.resurrected);
    for subject in &ledger.accepted {
        // Every acknowledged message reached a collector. Its deletion was confirmed once,
        // or — when the relay died after committing the deletion but before its +OK to QUIT
        // reached the client, the POP3 twin of a lost 250 — not at all; never twice.
        assert!(ledger.retrieved.contains(subject), "seed {seed:#x}: {subject} was accepted but never retrieved");
        assert!(ledger.confirmed.get(subject).copied().unwrap_or(0) <= 1, "seed {seed:#x}: {subject} collected twice");
    }
    for subject in ledger.confirmed.keys() {
        if ledger.accepted.contains(subject) {
            continue;
        }
        // Committed but killed before its 250 reached the sender: only the message right
        // after a stream's last acknowledged one can be in that state.
        let (stream, n) = split_subject(subject);
        let next = ledger.last_accepted.get(&stream).copied().unwrap_or(0);
        assert_eq!(n, next, "seed {seed:#x}: {subject} was never submitted as far as any sender knows");
    }
    let fsck = caducee(&data, &["fsck"]);
    assert!(fsck.status.success(), "seed {seed:#x}: {}", String::from_utf8_lossy(&fsck.stdout));
}
