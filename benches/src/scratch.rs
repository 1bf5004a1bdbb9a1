//! The configuration of a scratch relay for a bench: every door on a free loopback port
//! (the relay prints the ports it bound on its `ready:` lines), and, for a load, the limits
//! meant for real clients set out of its way. Used by caducee-load and, through
//! `caducee-scratch-config`, by the scripts in benches/, which append their own sections.

use std::fmt::Write;

/// The doors every relay has, as `[listen]` names them.
const DOORS: [&str; 10] =
    ["submission", "submissions", "pop3", "pop3s", "imap", "imaps", "https", "ldap", "ldaps", "metrics"];

/// A scratch relay's configuration.
#[derive(Debug)]
pub struct Scratch<'a> {
    pub domain: &'a str,
    /// A door for peer operators too (`relay`).
    pub relay_door: bool,
    /// More `[listen]` settings, each on its line.
    pub listen_settings: &'a str,
    /// How many sessions the load holds open at once from 127.0.0.1: the per-address limits
    /// are raised above it and the mass-mailing breaker is set out of the way (a load test
    /// is a mass mailing by design).
    pub load_sessions: Option<usize>,
}

impl Scratch<'_> {
    /// The configuration file's text; sections added after it belong to the caller.
    pub fn config(&self) -> String {
        let mut text = format!("domain = \"{}\"\n\n[listen]\n", self.domain);
        let relay = self.relay_door.then_some("relay");
        for door in DOORS.into_iter().chain(relay) {
            let _ = writeln!(text, "{door} = \"127.0.0.1:0\"");
        }
        text.push_str(self.listen_settings);
        if let Some(sessions) = self.load_sessions {
            // Headroom for the tool's own connections beside the load's sessions.
            let _ = write!(
                text,
                "\n[limits]\nsessions_per_ip = {}\nconnections_per_ip_per_minute = 0\n\
                 sessions_reserved_for_login = 0\nlogin_within_secs = 3600\n\n\
                 [monitor]\nmessages_per_minute = 4000000000\ndistinct_recipients_per_day = 4000000000\n",
                sessions + 16
            );
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_door_is_on_a_free_loopback_port_and_the_limits_follow_the_load() {
        let scratch = Scratch { domain: "x.test", relay_door: true, listen_settings: "", load_sessions: Some(50) };
        let text = scratch.config();
        for door in DOORS.iter().chain(&["relay"]) {
            assert!(text.contains(&format!("\n{door} = \"127.0.0.1:0\"\n")), "{door} in {text}");
        }
        assert!(text.contains("sessions_per_ip = 66\n"), "{text}");
        let quiet = Scratch { domain: "x.test", relay_door: false, listen_settings: "", load_sessions: None };
        assert!(!quiet.config().contains("relay =") && !quiet.config().contains("[limits]"));
    }
}
