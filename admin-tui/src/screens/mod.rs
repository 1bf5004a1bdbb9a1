//! The screens (the ninth, Pair, on a pair member only). Each file holds what its screen fetches and keeps, what its keys do
//! (an action that changes something opens a [`Modal::Confirm`](crate::modal::Modal)
//! first), and how it is drawn; the [`App`](crate::App) calls into the one shown.

pub mod alerts;
pub mod audit;
pub mod backups;
pub mod dashboard;
pub mod keys;
pub mod mailboxes;
pub mod pair;
pub mod peers;
pub mod requests;

use caducee_admin_protocol::DrillOutcome;
use caducee_storage::Millis;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::Row;

use crate::App;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Dashboard,
    Mailboxes,
    Keys,
    Requests,
    Backups,
    Audit,
    Alerts,
    Peers,
    Pair,
}

impl Screen {
    pub(crate) const ALL: [Screen; 9] = [
        Screen::Dashboard,
        Screen::Mailboxes,
        Screen::Keys,
        Screen::Requests,
        Screen::Backups,
        Screen::Audit,
        Screen::Alerts,
        Screen::Peers,
        Screen::Pair,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Screen::Dashboard => "Dashboard",
            Screen::Mailboxes => "Mailboxes",
            Screen::Keys => "Keys",
            Screen::Requests => "Requests",
            Screen::Backups => "Backups",
            Screen::Audit => "Audit",
            Screen::Alerts => "Alerts",
            Screen::Peers => "Peers",
            Screen::Pair => "Pair",
        }
    }

    /// The name in the tab bar when 80 columns cannot hold the full names.
    pub(crate) fn short_name(self) -> &'static str {
        match self {
            Screen::Dashboard => "Dash",
            Screen::Mailboxes => "Box",
            Screen::Keys => "Keys",
            Screen::Requests => "Reqs",
            Screen::Backups => "Bkup",
            Screen::Audit => "Audit",
            Screen::Alerts => "Alert",
            Screen::Peers => "Peer",
            Screen::Pair => "Pair",
        }
    }

    pub(crate) fn index(self) -> usize {
        Screen::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    /// The screen's keys, in the footer when there is nothing else to say.
    pub(crate) fn footer(self) -> &'static str {
        match self {
            Screen::Dashboard => " Tab screens · / search · T terms of use · A announcement · r · ? · q",
            Screen::Mailboxes => " ↑↓ · / · a add · E edit · Enter keys · u s e · Q quota · P password · ? · q",
            Screen::Keys => " n renew · x revoke (compromised) · r reload · ? help · q quit",
            Screen::Requests => " ↑↓ move · c close the request · r reload · ? help · q quit",
            Screen::Backups => " b back up now · d restore drill · r reload · ? help · q quit",
            Screen::Audit => " / filter by actor, action or object · r reload · ? help · q quit",
            Screen::Alerts => " ↑↓ move · a acknowledge · r reload · ? help · q quit",
            Screen::Peers => " ↑↓ move · t try now · h hold · u release · d delete · r reload · ? · q",
            Screen::Pair => " r reload · ? help · q quit (caducee pair status as root says more)",
        }
    }
}

/// A table's header row, in bold.
fn header<'a>(app: &App, titles: Vec<&'a str>) -> Row<'a> {
    Row::new(titles).style(app.style(Style::default().add_modifier(Modifier::BOLD)))
}

/// The selected row of a list, in reverse video.
fn highlight(app: &App) -> Style {
    app.style(Style::default().add_modifier(Modifier::REVERSED))
}

/// Sizes in decimal units, as quotas are given (50 MB).
pub(crate) fn bytes(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.1} GB", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} kB", n as f64 / 1e3),
        n => format!("{n} B"),
    }
}

/// `2026-11-26 02:30` (UTC), or `—` for a moment that is not known.
pub(crate) fn when(at: Option<Millis>) -> String {
    at.map_or("—".to_owned(), |at| at.utc().without_zone().to_string())
}

/// The seconds from a drill's restore to its first accepted message (0 when not known).
fn first_accept_seconds(drill: Option<&DrillOutcome>) -> f64 {
    drill.and_then(DrillOutcome::report).and_then(|report| report.first_accept_seconds).unwrap_or_default()
}
