//! Recovery end to end: backups taken while the relay serves, verified and restored with the
//! real `caducee` binary, then served and collected from with python's poplib; damaged and
//! foreign backups refused; a full store — its map, then its filesystem — answering 452 and
//! recovering.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

fn json(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "caducee failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

fn failure(output: &std::process::Output) -> String {
    assert!(!output.status.success(), "expected a refusal: {}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn a_backup_taken_while_serving_restores_into_a_relay_that_delivers_what_it_held() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start(&data, "");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &message)["data"]), 250);

    // Backup while the relay serves, through its admin socket.
    let backup = dir.path().join("backups").join("monday.cbk");
    std::fs::create_dir_all(backup.parent().expect("parent")).expect("backup folder");
    let done = json(&relay.cli(&["backup", "--to", path(&backup), "--json"]));
    assert_eq!(done["manifest"]["messages_at_start"], 1, "{done}");
    assert_eq!(done["manifest"]["mailboxes_at_start"], 2, "{done}");
    assert!(done["file_bytes"].as_u64().expect("size") > 0);
    let names: Vec<&str> =
        done["manifest"]["files"].as_array().expect("files").iter().filter_map(|f| f["name"].as_str()).collect();
    for name in ["store/data.mdb", "keys/master.key", "tls/ca.pem", "tls/server.key", "caducee.toml"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    assert!(!names.iter().any(|n| n.contains("backup.key")), "the backup key never travels with a backup");
    // The first backup made the key, and says where and what to do with it; later ones do not.
    assert!(done["key_created"].as_str().is_some_and(|k| k.ends_with("keys/backup.key")), "{done}");
    let tuesday = dir.path().join("backups").join("tuesday.cbk");
    let said = relay.cli(&["backup", "--to", path(&tuesday)]);
    assert!(!String::from_utf8_lossy(&said.stdout).contains("new backup key"), "{said:?}");
    let raw = std::fs::read(&backup).expect("backup file");
    assert!(raw.starts_with(b"CADUCEE-BACKUP\n"));
    assert!(!raw.windows(alice.len()).any(|w| w == alice.as_bytes()), "nothing readable in the backup file");

    // The key kept offline verifies the backup without installing it.
    let offline_key = dir.path().join("offline.key");
    let exported = relay.cli(&["backup", "key", "--export", path(&offline_key)]);
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    let verified = json(&caducee(
        &dir.path().join("elsewhere"),
        &["backup", "verify", path(&backup), "--key-file", path(&offline_key), "--json"],
    ));
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["messages"], 1);
    assert_eq!(verified["mailboxes"], 2);

    // Bob collects on the live relay: the message is erased there...
    let collected = relay.fetch(&bob, &bob_pw, true);
    assert_eq!(collected.len(), 1);
    assert_eq!(relay.status()["stored_messages"], 0);

    // ...and a restore onto a running relay's folder is refused, whatever the flags.
    let refused = failure(&caducee(&data, &["restore", "--from", path(&backup), "--key-file", path(&offline_key)]));
    assert!(refused.contains("in use"), "{refused}");
    let refused =
        failure(&caducee(&data, &["restore", "--from", path(&backup), "--key-file", path(&offline_key), "--force"]));
    assert!(refused.contains("in use"), "{refused}");

    // A new machine: restore into an empty folder, start, and Bob finds what the backup held,
    // with his password, byte for byte (a restore resurrects what was uncollected at backup).
    let new_data = dir.path().join("new-machine");
    let restored =
        json(&caducee(&new_data, &["restore", "--from", path(&backup), "--key-file", path(&offline_key), "--json"]));
    assert_eq!(restored["ok"], true, "{restored}");
    let fsck = caducee(&new_data, &["fsck"]);
    assert!(fsck.status.success(), "{}", String::from_utf8_lossy(&fsck.stdout));
    let second = Relay::start(&new_data, "");
    let again = second.fetch(&bob, &bob_pw, true);
    assert_eq!(again, collected, "the restored message is the one that was stored");
    assert_eq!(second.status()["stored_messages"], 0);
    assert!(second.stop().success());

    // Back on the first machine, stopped: restoring over a store needs --force, and moves
    // what it replaces aside instead of deleting it.
    assert!(relay.stop().success());
    let refused = failure(&caducee(&data, &["restore", "--from", path(&backup), "--key-file", path(&offline_key)]));
    assert!(refused.contains("--force"), "{refused}");
    json(&caducee(&data, &["restore", "--from", path(&backup), "--key-file", path(&offline_key), "--force", "--json"]));
    let aside: Vec<_> = std::fs::read_dir(&data)
        .expect("data folder")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("replaced-"))
        .collect();
    assert_eq!(aside.len(), 1, "the replaced store is kept");
    assert!(aside[0].path().join("store/data.mdb").exists());
    let status = json(&caducee(&data, &["status", "--json"]));
    assert_eq!(status["stored_messages"], 1, "the restored store holds the backed-up message");
    // The restore is in the restored store's audit trail, and the chain still holds.
    let audit = caducee(&data, &["audit", "export", "--from", "2000-01-01", "--to", "2999-12-31"]);
    let audit = String::from_utf8(audit.stdout).expect("utf-8");
    let restore = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .find(|e| e["entry"]["detail"].as_str().is_some_and(|d| d.starts_with("restored from")))
        .expect("the restore is audited");
    assert!(restore["entry"]["detail"].as_str().is_some_and(|d| d.contains(path(&backup))), "{restore}");
    assert!(caducee(&data, &["audit", "verify"]).status.success());
}

#[test]
fn damaged_or_foreign_backups_are_refused_and_nothing_is_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let relay = Relay::start(&data, "");
    relay.add_user("alice", None);
    let backup = dir.path().join("b.cbk");
    json(&relay.cli(&["backup", "--to", path(&backup), "--json"]));
    let again = failure(&relay.cli(&["backup", "--to", path(&backup)]));
    assert!(again.contains("exists already"), "a backup never overwrites a file: {again}");
    let nowhere = failure(&relay.cli(&["backup"]));
    assert!(nowhere.contains("set [backup] folder"), "{nowhere}");
    // Usage mistakes are answered, not alerted on.
    assert_eq!(relay.status()["open_alerts"].as_array().map(Vec::len), Some(0), "no alert for a usage mistake");
    // A backup that fails is an alert for the administrator (scheduled ones run unattended):
    // a backup folder that cannot be made.
    let config = data.join("caducee.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, format!("{text}\n[backup]\nfolder = \"/proc/caducee-backups\"\n")).expect("config");
    let failed = failure(&relay.cli(&["backup"]));
    assert!(failed.contains("/proc/caducee-backups"), "{failed}");
    std::fs::write(&config, text).expect("config");
    let status = relay.status();
    let alert = status["open_alerts"].as_array().and_then(|a| a.first()).expect("an open alert");
    assert_eq!(alert["kind"], "backup-failed", "{status}");
    assert!(alert["text"].as_str().is_some_and(|t| t.contains("/proc/caducee-backups")), "{alert}");
    assert!(relay.stop().success());
    let key = dir.path().join("key");
    assert!(caducee(&data, &["backup", "key", "--export", path(&key)]).status.success());

    // Another installation's key.
    let foreign_key = dir.path().join("foreign.key");
    assert!(caducee(&dir.path().join("other"), &["backup", "key", "--export", path(&foreign_key)]).status.success());
    let refused = failure(&caducee(&data, &["backup", "verify", path(&backup), "--key-file", path(&foreign_key)]));
    assert!(refused.contains("another backup key"), "{refused}");

    // One flipped bit in the middle, and a cut tail.
    let original = std::fs::read(&backup).expect("backup");
    let flipped = dir.path().join("flipped.cbk");
    let mut bytes = original.clone();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&flipped, &bytes).expect("write");
    let refused = failure(&caducee(&data, &["backup", "verify", path(&flipped), "--key-file", path(&key)]));
    assert!(refused.contains("damaged or altered"), "{refused}");
    let cut = dir.path().join("cut.cbk");
    std::fs::write(&cut, &original[..original.len() - 100]).expect("write");
    let refused = failure(&caducee(&data, &["backup", "verify", path(&cut), "--key-file", path(&key)]));
    assert!(refused.contains("truncated") || refused.contains("damaged"), "{refused}");

    // A drill of the damaged backup fails, says why, and leaves an alert.
    let drill = caducee(&data, &["drill", "--from", path(&flipped), "--key-file", path(&key), "--json"]);
    assert!(!drill.status.success());
    let report: Value = serde_json::from_slice(&drill.stdout).expect("drill --json");
    assert_eq!(report["ok"], false, "{report}");
    let alerts = json(&caducee(&data, &["alerts", "--open", "--json"]));
    assert!(
        alerts.as_array().expect("alerts").iter().any(
            |a| a["kind"] == "drill-failed" && a["text"].as_str().is_some_and(|t| t.contains("damaged or altered"))
        ),
        "{alerts}"
    );

    // A damaged restore with --force leaves the existing store exactly as it was.
    let refused = failure(&caducee(&data, &["restore", "--from", path(&flipped), "--key-file", path(&key), "--force"]));
    assert!(refused.contains("damaged or altered"), "{refused}");
    let users = json(&caducee(&data, &["user", "list", "--json"]));
    assert_eq!(users.as_array().map(Vec::len), Some(1));
    assert!(!std::fs::read_dir(&data).expect("data").any(|e| e
        .expect("entry")
        .file_name()
        .to_string_lossy()
        .starts_with("replaced-")));
    assert!(caducee(&data, &["fsck"]).status.success());
}

#[test]
fn scheduled_backups_go_to_the_configured_folder_and_rotate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("second-disk");
    let data = dir.path().join("data");
    let relay =
        Relay::start(&data, &format!("[backup]\nfolder = \"{}\"\nkeep_daily = 2\nkeep_weekly = 0\n", path(&folder)));
    relay.add_user("alice", None);
    // Older backups from earlier days, as a timer would have left them.
    std::fs::create_dir_all(&folder).expect("folder");
    for day in ["20260101T030000Z", "20260102T030000Z", "20260103T030000Z"] {
        std::fs::write(folder.join(format!("caducee-{day}.cbk")), b"old").expect("old backup");
    }
    std::fs::write(folder.join("notes.txt"), b"kept").expect("other file");
    let done = json(&relay.cli(&["backup", "--json"]));
    let file = done["file"].as_str().expect("file").to_owned();
    assert!(file.starts_with(path(&folder)), "{file}");
    let mut left: Vec<String> = std::fs::read_dir(&folder)
        .expect("folder")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    left.sort();
    assert_eq!(left.len(), 3, "today's, the newest older day, and the unrelated file: {left:?}");
    assert!(left.contains(&"caducee-20260103T030000Z.cbk".to_owned()), "{left:?}");
    assert!(left.contains(&"notes.txt".to_owned()));
    assert_eq!(done["rotated_out"].as_array().map(Vec::len), Some(2), "{done}");
}

#[test]
fn a_full_store_answers_452_and_accepts_again_once_mail_is_collected() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A 1 MiB store fills after a few hundred messages.
    let relay =
        Relay::start(&dir.path().join("data"), "[store]\nmap_size_mib = 1\n[monitor]\nmessages_per_minute = 100000");
    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, bob_pw) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "load");
    let (accepted, refusal) = send_until_refused(&relay, &alice, &alice_pw, &bob, &message);
    assert_eq!(refusal["refused"], 452, "{refusal}");
    assert!(refusal["text"].as_str().is_some_and(|t| t.starts_with("4.3.1")), "{refusal}");
    assert!(accepted > 10, "the store filled after {accepted} messages");
    let status = relay.status();
    assert_eq!(status["stored_messages"], accepted as u64, "every 250 is stored, nothing else: {status}");
    assert!(relay.cli(&["fsck"]).status.success(), "a full store is not a corrupt one");

    // Bob collects; the space comes back and mail flows again.
    assert_eq!(relay.fetch(&bob, &bob_pw, true).len(), accepted);
    let sent = relay.send(&alice, &alice_pw, &bob, &message);
    assert_eq!(code(&sent["data"]), 250, "{sent}");
    assert!(relay.cli(&["fsck"]).status.success());
}

#[test]
fn the_restore_drill_brings_the_latest_backup_back_and_measures_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("backups");
    let data = dir.path().join("data");

    // Without a backup, the drill says what is missing.
    let relay = Relay::start(&data, &format!("[backup]\nfolder = \"{}\"\n", path(&folder)));
    let refused = failure(&relay.cli(&["drill"]));
    assert!(refused.contains("no backup in"), "{refused}");

    let (alice, alice_pw) = relay.add_user("alice", None);
    let (bob, _) = relay.add_user("bob", None);
    let message = compose(dir.path(), &[&alice, &bob], "Compte rendu");
    assert_eq!(code(&relay.send(&alice, &alice_pw, &bob, &message)["data"]), 250);
    json(&relay.cli(&["backup", "--json"]));

    let report = json(&relay.cli(&["drill", "--json"]));
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["collected"], true);
    assert_eq!(report["messages_restored"], 1, "{report}");
    assert_eq!(report["mailboxes_restored"], 2, "{report}");
    let restore = report["restore_seconds"].as_f64().expect("restore time");
    let first = report["first_accept_seconds"].as_f64().expect("first accept time");
    assert!(restore > 0.0 && first >= restore, "{report}");

    // The drill left the live relay alone, and its result shows in the status.
    let status = relay.status();
    assert_eq!(status["stored_messages"], 1);
    assert_eq!(status["mailbox_count"], 2, "the drill account lives only in the scratch copy");
    assert_eq!(status["last_drill"]["ok"], true, "{status}");
    let text = String::from_utf8(relay.cli(&["status"]).stdout).expect("utf-8");
    assert!(text.contains("restore drill passed"), "{text}");
    // And in the metrics, for the provider's monitoring.
    let metrics = std::process::Command::new("python3")
        .args(["-c", "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())"])
        .arg(format!("http://127.0.0.1:{}/metrics", relay.port("metrics")))
        .output()
        .expect("python3");
    let metrics = String::from_utf8(metrics.stdout).expect("utf-8");
    assert!(metrics.contains("\ncaducee_restore_drill_ok 1\n"), "{metrics}");
    assert!(metrics.contains("\ncaducee_restore_drill_first_accept_seconds "), "{metrics}");
    assert!(metrics.trim_end().ends_with("# EOF"), "the exposition still ends with # EOF");
}

/// Sends `message` from alice to bob with the python client until the relay refuses one;
/// returns how many were accepted and the refusal.
fn send_until_refused(relay: &Relay, alice: &str, alice_pw: &str, bob: &str, message: &Path) -> (usize, Value) {
    let load = Command::new("python3")
        .arg(client_script())
        .args(["load", "--port", &relay.port("submission"), "--tls", "starttls", "--ca", &relay.ca()])
        .args(["--user", alice, "--password", alice_pw, "--sender", alice, "--to", bob])
        .args(["--file", path(message), "--senders", "1", "--count", "5000"])
        .stdout(Stdio::piped())
        .output()
        .expect("run load");
    let lines: Vec<Value> = BufReader::new(&load.stdout[..])
        .lines()
        .map(|l| serde_json::from_str(&l.expect("line")).expect("JSON line"))
        .collect();
    let accepted = lines.iter().filter(|l| l["accepted"].is_string()).count();
    let refusal = lines.iter().find(|l| l["refused"].is_number()).cloned().expect("the load ends on a refusal");
    (accepted, refusal)
}

/// The filesystem under the store fills up — a 16 MiB tmpfs that only the relay sees, in a
/// mount namespace made with `unshare` — rather than the store's map: `452 4.3.1`, every
/// `250` kept, nothing corrupted, and mail flows again once space is freed, without a
/// restart.
#[test]
fn a_full_filesystem_answers_452_loses_nothing_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Accounts and keys are made in an ordinary folder, which is then copied onto the small
    // filesystem.
    let prepared = dir.path().join("prepared");
    // A reserve of 1 MiB on a 16 MiB filesystem.
    let setup = Relay::start(&prepared, "[monitor]\nmessages_per_minute = 100000\n[store]\ndisk_reserve_mib = 1");
    let (alice, alice_pw) = setup.add_user("alice", None);
    let (bob, bob_pw) = setup.add_user("bob", None);
    assert!(setup.stop().success());
    let message = compose_padded(dir.path(), &[&alice, &bob], "imagerie", 60_000);

    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).expect("mount point");
    // 4 MiB of ballast stands for whatever else filled the disk; the test frees it later.
    let script = r#"set -e
mount -t tmpfs -o size=16m tmpfs "$MNT"
cp -a "$PREPARED/." "$MNT/"
head -c 4194304 /dev/zero > "$MNT/ballast"
exec "$BIN" --data-dir "$MNT" serve"#;
    let mut command = Command::new("unshare");
    command
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", script])
        .env("MNT", &mount)
        .env("PREPARED", &prepared)
        .env("BIN", BIN);
    let mut relay = Relay::spawn(command, &mount, Stdio::inherit());
    // The relay's view of its data folder, from outside its mount namespace.
    relay.data = PathBuf::from(format!("/proc/{}/root{}", relay.child.id(), mount.display()));
    assert!(relay.data.join("ballast").exists(), "the test sees the relay's filesystem");

    let (accepted, refusal) = send_until_refused(&relay, &alice, &alice_pw, &bob, &message);
    assert_eq!(refusal["refused"], 452, "{refusal}");
    assert!(refusal["text"].as_str().is_some_and(|t| t.starts_with("4.3.1")), "{refusal}");
    assert!(accepted > 10, "the filesystem filled after {accepted} messages");
    let status = relay.status();
    assert_eq!(status["stored_messages"], accepted as u64, "every 250 is stored, nothing else: {status}");
    assert!(relay.cli(&["fsck"]).status.success(), "a full filesystem leaves the store sound");

    // Space comes back: the next message is accepted by the same running relay.
    std::fs::remove_file(relay.data.join("ballast")).expect("free the ballast");
    let sent = relay.send(&alice, &alice_pw, &bob, &message);
    assert_eq!(code(&sent["data"]), 250, "{sent}");

    // Full again, with no ballast left to free: this time bob's collection makes the room
    // (the erased messages' pages inside the store file), and mail flows again.
    let (more, refusal) = send_until_refused(&relay, &alice, &alice_pw, &bob, &message);
    assert_eq!(refusal["refused"], 452, "{refusal}");
    assert_eq!(relay.fetch(&bob, &bob_pw, true).len(), accepted + 1 + more, "each accepted message, once");
    // LMDB reuses freed pages once no transaction can still see them: an accept right after
    // the collection may still find the disk full (452, never a failed store), the next ones
    // not.
    let mut answers = Vec::new();
    for _ in 0..5 {
        let answer = code(&relay.send(&alice, &alice_pw, &bob, &message)["data"]);
        answers.push(answer);
        if answer == 250 {
            break;
        }
    }
    assert_eq!(answers.last(), Some(&250), "mail flows again after the collection: {answers:?}");
    assert!(answers.iter().all(|a| *a == 250 || *a == 452), "{answers:?}");
    assert!(relay.cli(&["fsck"]).status.success());
    assert!(relay.stop().success(), "a clean stop after the disk was full");
}

#[test]
fn the_restore_drill_sends_no_notice_that_was_waiting_at_backup_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let backup = dir.path().join("b.cbk");
    // A smarthost that is down: the notices wait in the spool, and are in the backup.
    let port = unclaimed_port();
    let config = format!("[notices]\nsmarthost = \"127.0.0.1:{port}\"\nstarttls = false\nflush_interval_secs = 1\n");
    let relay = Relay::start_at(&data, &config, "2026-03-02 09:00:00");
    relay.add_user("alice", None);
    let text = dir.path().join("announce.txt");
    std::fs::write(&text, "Maintenance samedi.\n").expect("text");
    assert!(relay.cli(&["announce", "--subject", "Maintenance", "--file", path(&text)]).status.success());
    assert!(!relay.status()["notices_waiting"].as_array().expect("notices").is_empty());
    json(&relay.cli(&["backup", "--to", path(&backup), "--json"]));
    assert!(relay.stop().success());
    let key = dir.path().join("key");
    assert!(caducee(&data, &["backup", "key", "--export", path(&key)]).status.success());

    // The next day the smarthost is back and every waiting notice is due; the drill's relay,
    // a copy of the one above, must not send them.
    let sink = Sink::start_on(port);
    let drill = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args(["drill", "--from", path(&backup), "--key-file", path(&key), "--json"])
        .envs(clock_at("2026-03-03 09:00:00"))
        .output()
        .expect("caducee drill");
    let report: Value = serde_json::from_slice(&drill.stdout).expect("drill --json");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["notices_held"], 1, "{report}");
    assert!(!sink.has_received(), "the drill sent a notice of the live relay's again");
}
