//! A program in a real terminal: tmux on a server of the test's own, its screen read with
//! `capture-pane` and keys sent with `send-keys`.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// One tmux server (its own socket) with one session the test drives.
pub struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    /// No server yet: the test starts its session with `run(&["new-session", "-d", "-s",
    /// <session>, …])`.
    pub fn new(session: &str) -> Tmux {
        Tmux { socket: format!("caducee-test-{}-{session}", std::process::id()), session: session.to_owned() }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").args(["-L", &self.socket]).args(args).output().expect("tmux (apt-get install tmux)")
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    pub fn text(&self, text: &str) {
        assert!(self.run(&["send-keys", "-t", &self.session, "-l", text]).status.success());
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", &self.session]).stdout).into_owned()
    }

    /// The screen once it shows `what` (the program redraws on every key, and on its own).
    /// Each look is a `tmux capture-pane` run, which paces the polling; the deadline only
    /// bounds a program that never gets there.
    pub fn wait_for(&self, what: &str) -> String {
        // Bounded by the slowest step shown: a restore drill (restore, a second relay, a
        // submission and a collection).
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let screen = self.screen();
            if screen.contains(what) {
                return screen;
            }
            assert!(Instant::now() < deadline, "the screen never showed {what:?}:\n{screen}");
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}
