//! Crash safety: the relay is killed with SIGKILL at varied points while practices submit
//! and collect, then restarted, again and again. A client-side ledger then proves that every
//! message answered `250` reached a collector, that no deletion was confirmed twice and
//! nothing collected and confirmed (POP3 QUIT answered `+OK`) came back, that nothing
//! appeared that no sender submitted, and that the store's invariants hold.
//!
//! The same loop runs again on a lossy disk: the relay writes its store through
//! tests/lossy/lossy.c (LD_PRELOAD), which journals every write not yet made durable by an
//! fsync; after each kill the test plays a power cut from that journal — the writes that
//! were not durable are lost, except a seeded share that the disk wrote back on its own,
//! and the last one is torn at a sector boundary — and the same ledger checks apply.
//!
//! And once more on the outbound path: the relay is killed while its queue delivers to a
//! peer operator (a second relay, up throughout); every message answered `250` reaches the
//! peer at least once, and the copies delivered twice are counted.
//!
//! `CADUCEE_CRASH_CYCLES` (default 20) and `CADUCEE_CRASH_SEED` set the run; a failure
//! prints its seed so that the same kill points and the same power cuts replay.

// An end-to-end scenario reads as one story, step after step: the 100-line rule is for the
// relay's own code.
#![allow(clippy::too_many_lines)]

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
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

/// One write the store file had not made durable when the power went.
struct Pending {
    offset: u64,
    /// The file's size before the write.
    size_before: u64,
    old: Vec<u8>,
    new: Vec<u8>,
}

/// Reads the lossy disk's journal; a record cut short (the relay died writing it, before
/// the write itself) ends it.
fn read_journal(path: &Path) -> Vec<Pending> {
    let mut bytes = Vec::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        file.read_to_end(&mut bytes).expect("read the journal");
    }
    let mut pending = Vec::new();
    let mut at = 0;
    let word = |b: &[u8], i: usize| u64::from_ne_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    while at + 40 <= bytes.len() {
        assert_eq!(word(&bytes, at), 0x4c_4f53_5359, "journal record header");
        let (offset, len, size_before, old_len) = (
            word(&bytes, at + 8),
            word(&bytes, at + 16) as usize,
            word(&bytes, at + 24),
            word(&bytes, at + 32) as usize,
        );
        let body = at + 40;
        if body + old_len + len > bytes.len() {
            break;
        }
        let old = bytes[body..body + old_len].to_vec();
        let new = bytes[body + old_len..body + old_len + len].to_vec();
        pending.push(Pending { offset, size_before, old, new });
        at = body + old_len + len;
    }
    pending
}

/// What the power cuts did to the store file.
#[derive(Default)]
struct PowerCuts {
    /// Cuts that found writes not yet durable.
    with_writes_in_flight: usize,
    /// 512-byte sectors of those writes that reached the disk anyway, and that did not.
    sectors_kept: usize,
    sectors_lost: usize,
    /// Writes that reached the disk in part.
    torn: usize,
}

/// Plays a power cut on the store file from the lossy disk's journal: every write that was
/// not durable is taken back, then each of their 512-byte sectors reaches the disk or not,
/// as the seed says — a disk may have written any of them back on its own, in any order,
/// and a write may be torn anywhere between sectors.
fn power_cut(store_file: &Path, journal: &Path, random: &mut Seeded, cuts: &mut PowerCuts) {
    let pending = read_journal(journal);
    if let Some(first) = pending.first() {
        cuts.with_writes_in_flight += 1;
        let file = std::fs::OpenOptions::new().write(true).open(store_file).expect("open the store file");
        for write in pending.iter().rev() {
            file.write_all_at(&write.old, write.offset).expect("take a write back");
        }
        file.set_len(first.size_before).expect("the durable size");
        for write in &pending {
            let (mut kept, mut lost) = (0, 0);
            for (i, sector) in write.new.chunks(512).enumerate() {
                if random.below(2) == 0 {
                    file.write_all_at(sector, write.offset + 512 * i as u64).expect("a sector written back");
                    kept += 1;
                } else {
                    lost += 1;
                }
            }
            cuts.sectors_kept += kept;
            cuts.sectors_lost += lost;
            cuts.torn += usize::from(kept > 0 && lost > 0);
        }
        file.sync_all().expect("sync the store file");
    }
    // The next run's writes start a new journal.
    std::fs::write(journal, b"").expect("empty the journal");
}

/// Builds tests/lossy/lossy.c into a shared library for LD_PRELOAD.
fn build_lossy_disk(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/lossy/lossy.c");
    let library = dir.join("liblossy.so");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&library)
        .arg(&source)
        .args(["-ldl", "-lpthread"])
        .output()
        .expect("run cc");
    assert!(built.status.success(), "building the lossy disk: {}", String::from_utf8_lossy(&built.stderr));
    library
}

#[test]
fn kill_9_at_varied_points_loses_nothing_accepted_and_resurrects_nothing_collected() {
    crash_loop(false);
}

#[test]
fn power_cuts_on_a_lossy_disk_lose_nothing_accepted_and_resurrect_nothing_collected() {
    crash_loop(true);
}

fn crash_loop(lossy: bool) {
    let cycles = env_or("CADUCEE_CRASH_CYCLES", 20);
    let seed = env_or("CADUCEE_CRASH_SEED", 0x0C4D_0CEE);
    let mut random = Seeded(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let journal = dir.path().join("lossy.journal");
    let env: Vec<(String, String)> = if lossy {
        let library = build_lossy_disk(dir.path()).to_str().expect("utf-8 path").to_owned();
        // Beside what is preloaded already (the calendar check's libfaketime: the relay
        // keeps the test's clock).
        let preload = match std::env::var("LD_PRELOAD") {
            Ok(already) if !already.is_empty() => format!("{library}:{already}"),
            _ => library,
        };
        vec![("LD_PRELOAD".into(), preload), ("LOSSY_JOURNAL".into(), journal.to_str().expect("utf-8 path").into())]
    } else {
        Vec::new()
    };
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let start = || Relay::start_env(&data, "", &env);
    let mut cuts = PowerCuts::default();

    let relay = start();
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "load");
    let message = message.to_str().expect("utf-8 path").to_owned();
    let mut relay = Some(relay);
    let mut ledger = Ledger::default();

    for cycle in 0..cycles {
        let current = relay.take().unwrap_or_else(start);
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
        if lossy {
            // Its own generator per cycle: the kill points do not depend on what the cut drew.
            let mut cut = Seeded(seed ^ (cycle + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
            power_cut(&data.join("store/data.mdb"), &journal, &mut cut, &mut cuts);
        }
        load_lines.extend(lines.map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()));
        let _ = load.wait();
        let _ = collect.wait();
        ledger.record_load(&load_lines);
        ledger.record_collect(&collected.join().expect("collector output"));
    }

    // Restart once more; the store must be sound, and the rest collectable.
    let current = relay.take().unwrap_or_else(start);
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
        "crash loop: seed {seed:#x}, {cycles} {} cycles, {} messages acknowledged, {collections} confirmed \
         collections, {unacknowledged} committed without their 250 reaching the sender, {unconfirmed} deleted \
         without their QUIT +OK reaching the collector",
        if lossy { "power-cut" } else { "kill -9" },
        ledger.accepted.len()
    );
    if lossy {
        eprintln!(
            "lossy disk: {} of {cycles} cuts found writes in flight; {} sectors of them reached the disk, {} did \
             not; {} writes torn",
            cuts.with_writes_in_flight, cuts.sectors_kept, cuts.sectors_lost, cuts.torn
        );
        assert!(
            cuts.with_writes_in_flight > 0 && cuts.sectors_lost > 0 && cuts.torn > 0,
            "seed {seed:#x}: the power cuts met writes in flight and took some back"
        );
    }
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

/// The kill -9 loop on the outbound path: operator A is killed at varied points while a
/// practice submits to a recipient at operator B and A's queue delivers to B; B stays up.
/// Every message A answered `250` for reaches B at least once; a copy arrives twice only
/// when A died between B's `250` and recording it (one delivery in flight per connection at
/// a kill), and the ledger counts those.
#[test]
fn kill_9_while_delivering_to_a_peer_loses_nothing_accepted() {
    use common::operators::*;

    let cycles = env_or("CADUCEE_CRASH_CYCLES", 20);
    let seed = env_or("CADUCEE_CRASH_SEED", 0x0C4D_0CEE);
    let mut random = Seeded(seed ^ 0xFEDE);
    let dir = tempfile::tempdir().expect("tempdir");
    let space = two_operator_space(dir.path());
    let b = operator(dir.path(), "data-b", "b.test", &space, "b", "");
    let route = format!("\"b.test\" = \"127.0.0.1:{}\"", b.port("relay"));
    let start_a = || operator(dir.path(), "data-a", "relay.test", &space, "a", &route);
    let a = start_a();
    let (alice, alice_pw) = a.add_user("alice", None);
    let bob = "bob@b.test";
    let bob_pw = practice(&b, bob);
    let message = compose(dir.path(), &[&alice, bob], "load");
    let message = message.to_str().expect("utf-8 path").to_owned();

    let mut accepted: HashSet<String> = HashSet::new();
    let mut last_accepted: HashMap<String, u64> = HashMap::new();
    let mut a = Some(a);
    for cycle in 0..cycles {
        let current = a.take().unwrap_or_else(start_a);
        let tag = format!("c{cycle}-");
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
            bob,
            "--file",
            &message,
            "--senders",
            "2",
            "--count",
            "100000",
            "--tag",
            &tag,
        ]);
        let kill_after = random.below(30) as usize;
        let mut lines = BufReader::new(load.stdout.take().expect("piped stdout")).lines();
        let mut load_lines = Vec::new();
        while load_lines.iter().filter(|v: &&Value| v["accepted"].is_string()).count() < kill_after {
            let Some(Ok(line)) = lines.next() else { break };
            load_lines.push(serde_json::from_str(&line).expect("JSON line"));
        }
        current.kill_9();
        load_lines.extend(lines.map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()));
        let _ = load.wait();
        for subject in load_lines.iter().filter_map(|l| l["accepted"].as_str()) {
            accepted.insert(subject.to_owned());
            let (stream, n) = split_subject(subject);
            let last = last_accepted.entry(stream).or_default();
            *last = (*last).max(n + 1);
        }
    }

    // A once more: what it still holds leaves (at once, not at its backoff's time), and B
    // collects everything.
    let a = start_a();
    let fsck = a.cli(&["fsck"]);
    assert!(fsck.status.success(), "seed {seed:#x}: {}", String::from_utf8_lossy(&fsck.stdout));
    assert!(a.cli(&["queue", "retry", "--all"]).status.success());
    queue_when(&a, |q| q["entries"].as_array().is_some_and(Vec::is_empty));
    let mut collect = start_collector(&b, bob, &bob_pw);
    let collected = drain(&mut collect);
    eventually(|| (b.status()["stored_messages"] == 0).then_some(())).expect("B's mailbox empties");
    assert!(b.stop().success());
    let _ = collect.wait();
    let mut copies: HashMap<String, u32> = HashMap::new();
    for subject in collected.join().expect("collector").iter().filter_map(|l| l["retrieved"].as_str()) {
        *copies.entry(subject.to_owned()).or_default() += 1;
    }
    let duplicates = copies.values().filter(|n| **n > 1).count();
    eprintln!(
        "outbound crash loop: seed {seed:#x}, {cycles} kills, {} messages acknowledged, {} reached B, {duplicates} \
         delivered twice (B's 250 in, A's record not)",
        accepted.len(),
        copies.len()
    );
    assert!(accepted.len() > 20, "seed {seed:#x}: the load did run ({} accepted)", accepted.len());
    for subject in &accepted {
        assert!(copies.contains_key(subject), "seed {seed:#x}: {subject} was accepted by A but never reached B");
    }
    // One delivery in flight per connection at a kill, and the queue opens at most four
    // connections to a domain.
    assert!(duplicates as u64 <= cycles * 4, "seed {seed:#x}: at most four deliveries are in flight at each kill");
    for subject in copies.keys().filter(|s| !accepted.contains(*s)) {
        // Committed at A but killed before its 250 reached the sender: only the message
        // right after a stream's last acknowledged one.
        let (stream, n) = split_subject(subject);
        assert_eq!(n, last_accepted.get(&stream).copied().unwrap_or(0), "seed {seed:#x}: {subject} never submitted");
    }
    assert!(a.cli(&["fsck"]).status.success());
}
