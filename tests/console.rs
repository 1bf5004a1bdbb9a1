//! The console in a real terminal: tmux runs `caducee console` against a running relay;
//! keys create an account, find it, suspend it; the screen is read with capture-pane and
//! the relay's state checked with `caducee user list`.

mod common;

use common::tmux::Tmux;
use common::{python, Relay, BIN};
use serde_json::Value;

#[test]
fn an_administrator_creates_finds_and_suspends_an_account_in_a_real_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let backups = dir.path().join("backups");
    let relay = Relay::start(&data, &format!("[backup]\nfolder = \"{}\"\n", backups.display()));
    relay.add_user("alice", None);
    let tmux = Tmux::new("console");
    let command = format!("{BIN} --data-dir {} console", data.display());
    let started = tmux.run(&["new-session", "-d", "-s", "console", "-x", "120", "-y", "40", &command]);
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    tmux.wait_for("Dashboard");

    // Mailboxes, `a`: the new-account form, one field after the other.
    tmux.keys(&["2"]);
    tmux.wait_for("alice@relay.test");
    tmux.keys(&["a"]);
    tmux.wait_for("New account");
    for field in ["erin.durand@relay.test", "Erin", "Durand", "erin@example.org"] {
        tmux.text(field);
        tmux.keys(&["Enter"]);
    }
    let created = tmux.wait_for("installation code");
    assert!(created.contains("password:"), "{created}");
    tmux.keys(&["z"]);

    // Find it, suspend it (after the confirmation).
    tmux.keys(&["/"]);
    tmux.text("erin");
    tmux.keys(&["Enter"]);
    let found = tmux.wait_for("Mailboxes matching \"erin\" (1)");
    assert!(found.contains("erin.durand@relay.test") && !found.contains("alice@relay.test"), "{found}");
    tmux.keys(&["s"]);
    tmux.wait_for("suspend erin.durand@relay.test?");
    tmux.keys(&["y"]);
    let suspended = tmux.wait_for("disabled (suspended)");
    assert!(suspended.contains("suspend erin.durand@relay.test: done"), "{suspended}");

    // A new contact e-mail (the names kept as they are).
    tmux.keys(&["E"]);
    tmux.wait_for("▶ First name: Erin");
    tmux.keys(&["Enter"]);
    tmux.keys(&["Enter"]);
    tmux.keys(&["-N", "40", "BSpace"]);
    tmux.text("secretariat@example.org");
    tmux.keys(&["Enter"]);
    tmux.wait_for("erin.durand@relay.test saved");

    // A bigger quota, and a new password shown once.
    tmux.keys(&["Q"]);
    tmux.wait_for("quota of erin.durand@relay.test in MB");
    tmux.text("75");
    tmux.keys(&["Enter"]);
    tmux.wait_for("quota of erin.durand@relay.test: 75 MB");
    tmux.keys(&["P"]);
    tmux.wait_for("reset the password of erin.durand@relay.test?");
    tmux.keys(&["y"]);
    let shown = tmux.wait_for("New password");
    let password = shown
        .lines()
        .find_map(|l| l.split("password: ").nth(1))
        .map(|rest| rest.trim_end_matches(|c: char| c == '│' || c.is_whitespace()).to_owned())
        .expect("the password on screen");
    tmux.keys(&["z"]);

    // A backup, from the Backups screen.
    tmux.keys(&["5"]);
    tmux.wait_for("Scheduled backups (0)");
    tmux.keys(&["b"]);
    tmux.wait_for("take a backup into");
    tmux.keys(&["y"]);
    tmux.wait_for("Backup written");
    tmux.keys(&["z"]);
    tmux.wait_for("Scheduled backups (1)");
    assert_eq!(std::fs::read_dir(&backups).expect("backup folder").count(), 1);

    // A restore drill of that backup, run by the relay while the console shows its progress.
    tmux.keys(&["d"]);
    tmux.wait_for("run a restore drill");
    tmux.keys(&["y"]);
    let done = tmux.wait_for("restore drill passed");
    assert!(done.contains("Restore drill: passed"), "the backups screen shows the new report:\n{done}");
    assert_eq!(relay.status()["last_drill"]["ok"], true);

    // The relay agrees, and q leaves the terminal as it was.
    let list = relay.cli(&["user", "list", "--json"]);
    let list: Value = serde_json::from_slice(&list.stdout).expect("JSON");
    let erin =
        list.as_array().expect("accounts").iter().find(|u| u["address"] == "erin.durand@relay.test").expect("erin");
    assert_eq!(erin["state"]["disabled"][0], "suspended", "{erin}");
    assert_eq!(erin["quota_bytes"], 75_000_000u64, "{erin}");
    assert_eq!(
        (erin["first_name"].as_str(), erin["contact_email"].as_str()),
        (Some("Erin"), Some("secretariat@example.org"))
    );
    // A suspended account logs in nowhere; once enabled, the new password works.
    let refused = python(&[
        "fetch",
        "--port",
        &relay.port("pop3s"),
        "--tls",
        "implicit",
        "--ca",
        &relay.ca(),
        "--user",
        "erin.durand@relay.test",
        "--password",
        &password,
    ]);
    assert!(refused["login_error"].is_string(), "a suspended account collects nothing: {refused}");
    assert!(relay.cli(&["user", "enable", "--address", "erin.durand@relay.test"]).status.success());
    assert!(relay.fetch("erin.durand@relay.test", &password, false).is_empty(), "the new password logs in");
    tmux.keys(&["q"]);
    assert!(relay.stop().success());
}

/// The dashboard shows what `caducee status --json` says, for the same moment.
#[test]
fn the_dashboard_shows_the_status_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let (alice, _) = relay.add_user("alice", None);
    let (bob, bob_password) = relay.add_user("bob", None);
    let message = common::compose(dir.path(), &[&bob, &alice], "Compte rendu");
    assert_eq!(relay.send(&bob, &bob_password, &alice, &message)["data"]["code"], 250);
    let status: Value = serde_json::from_slice(&relay.cli(&["status", "--json"]).stdout).expect("status");
    let mut app = caducee_console::App::new(false);
    app.take_status(serde_json::from_value(status.clone()).expect("a status report"));
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).expect("terminal");
    terminal.draw(|frame| caducee_console::render(&app, frame)).expect("draw");
    let screen = terminal.backend().to_string();
    let stored = format!("Stored: {} messages", status["stored_messages"]);
    let mailboxes = format!("Mailboxes: {}", status["mailbox_count"]);
    assert!(screen.contains(&stored) && screen.contains(&mailboxes), "{stored}, {mailboxes}:\n{screen}");
    let accepted = format!("Accepted {}", status["quality"]["accepted_total"]);
    assert!(screen.contains(&accepted), "{accepted}:\n{screen}");
    assert!(relay.stop().success());
}
