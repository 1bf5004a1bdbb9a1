//! The dashboard: the relay's figures from its last status, the throughput and latency
//! history of this session, and the open alerts. `T` and `A` publish terms of use and
//! announcements.

use std::collections::VecDeque;

use caducee_admin_protocol::{DrillOutcome, QualityReport, StatusReport, WindowFigures};
use caducee_storage::Alert;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};
use ratatui::Frame;
use serde_json::Value;

use super::{bytes, first_accept_seconds, when};
use crate::modal::{Modal, Publish};
use crate::{shown, App};

/// Points kept for the sparklines (one per refresh).
const HISTORY_POINTS_MAX: usize = 120;

/// What the dashboard remembers between statuses.
#[derive(Debug, Default)]
pub struct DashboardScreen {
    /// Accepted messages per refresh, newest last.
    pub accepted_per_second: VecDeque<u64>,
    /// The processing-time p99 of the last five minutes at each refresh, in µs, newest last.
    pub p99_micros: VecDeque<u64>,
    last_accepted: Option<u64>,
}

impl DashboardScreen {
    /// Adds a status's figures to the history.
    pub(crate) fn record(&mut self, status: &StatusReport) {
        let accepted = status.quality.as_ref().map(|q| q.accepted_total);
        if let (Some(now), Some(before)) = (accepted, self.last_accepted) {
            push_bounded(&mut self.accepted_per_second, now.saturating_sub(before));
        }
        self.last_accepted = accepted.or(self.last_accepted);
        if let Some(p99) = five_minutes(status).map(|window| window.p99) {
            push_bounded(&mut self.p99_micros, (p99 * 1000.0).round() as u64);
        }
    }
}

fn push_bounded(history: &mut VecDeque<u64>, point: u64) {
    history.push_back(point);
    while history.len() > HISTORY_POINTS_MAX {
        history.pop_front();
    }
}

/// The dashboard's keys: publishing, each from a text file on this machine.
pub(crate) fn key(app: &mut App, code: KeyCode) {
    match code {
        KeyCode::Char('T') => app.modal = Some(Modal::Publish(Publish::TermsFile(String::new()))),
        KeyCode::Char('A') => app.modal = Some(Modal::Publish(Publish::AnnouncementSubject(String::new()))),
        _ => {}
    }
}

pub(crate) fn render(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let Some(status) = &app.status else {
        frame.render_widget(Paragraph::new(" waiting for the relay's first status…"), area);
        return;
    };
    let lines = relay_figures(status);
    let height = u16::try_from(lines.len()).unwrap_or(u16::MAX).saturating_add(2);
    let [figures, spark, bottom] =
        Layout::vertical([Constraint::Length(height), Constraint::Length(5), Constraint::Min(3)]).areas(area);
    let block = Block::default().borders(Borders::ALL).title(" Relay ");
    frame.render_widget(Paragraph::new(lines).block(block), figures);
    render_history(app, frame, spark);
    render_open_alerts(app, status, frame, bottom);
}

/// The processing figures of the shortest window (five minutes).
fn five_minutes(status: &StatusReport) -> Option<&WindowFigures> {
    status.quality.as_ref().and_then(|q| q.processing_ms.first())
}

/// The relay's figures, one line per subject; `—` for what a relay without quality
/// figures does not say.
fn relay_figures(status: &StatusReport) -> Vec<Line<'static>> {
    let quality = status.quality.as_ref();
    let window = five_minutes(status);
    let of_quality = |figure: fn(&QualityReport) -> String| quality.map_or("—".to_owned(), figure);
    let ms = |figure: fn(&WindowFigures) -> f64| window.map_or("—".to_owned(), |w| format!("{:.2} ms", figure(w)));
    // Each load figure as JSON writes it (`1.0`, not `1`), `null` when unknown.
    let load = |i: usize| quality.map_or(Value::Null, |q| Value::from(q.load_average[i]));
    let drill = match status.last_drill.as_ref().map(DrillOutcome::ok) {
        Some(true) => format!("passed, first 250 at {:.1} s", first_accept_seconds(status.last_drill.as_ref())),
        Some(false) => "FAILED — see caducee status".to_owned(),
        None => "never run".to_owned(),
    };
    let mut lines = vec![
        Line::from(format!(
            " Stored: {} messages, {}    Mailboxes: {}",
            status.stored_messages,
            bytes(status.stored_bytes),
            status.mailbox_count
        )),
        Line::from(format!(
            " Processing (5 min): {} messages, p50 {}, p99 {}, max {}",
            window.map_or("—".to_owned(), |w| w.count.to_string()),
            ms(|w| w.p50),
            ms(|w| w.p99),
            ms(|w| w.max)
        )),
        Line::from(format!(
            " Accepted {}, collected {} since start",
            of_quality(|q| q.accepted_total.to_string()),
            of_quality(|q| q.collected_total.to_string())
        )),
        Line::from(format!(" Sessions open: {}", sessions_open(status))),
        Line::from(format!(
            " Store file {}, {} free    Load {} {} {}",
            of_quality(|q| bytes(q.store_file_bytes)),
            of_quality(|q| bytes(q.store_free_bytes)),
            load(0),
            load(1),
            load(2)
        )),
        Line::from(format!(" Notices waiting: {}    Restore drill: {drill}", status.notices_waiting.len())),
    ];
    if let Some(pair) = &status.pair {
        let member = pair.member.as_deref().unwrap_or("this member");
        let state = match (&pair.problem, pair.sync_percent) {
            (None, _) => format!("replicated ({}, disks {}/{})", pair.connection, pair.disk, pair.peer_disk),
            (Some(_), Some(percent)) => format!("RESYNCING {percent:.1} %"),
            (Some(_), None) => format!("DEGRADED ({}, peer disk {})", pair.connection, pair.peer_disk),
        };
        lines.push(Line::from(format!(" Pair: {member} {}, {state}", pair.role.to_lowercase())));
    }
    lines
}

/// The sessions open now by protocol (its doors added up: `submission` and `submissions`
/// are SMTP), or `—` from a relay that does not say.
fn sessions_open(status: &StatusReport) -> String {
    if status.sessions_open.is_empty() {
        return "—".to_owned();
    }
    let protocols = [
        ("SMTP", &["submission", "submissions", "relay"][..]),
        ("POP3", &["pop3", "pop3s"][..]),
        ("IMAP", &["imap", "imaps"][..]),
        ("LDAP", &["ldap", "ldaps"][..]),
    ];
    let count = |doors: &[&str]| -> u64 {
        status.sessions_open.iter().filter(|(door, _)| doors.contains(&door.as_str())).map(|(_, n)| n).sum()
    };
    protocols.iter().map(|(name, doors)| format!("{name} {}", count(doors))).collect::<Vec<_>>().join(", ")
}

/// The two sparklines: accepted per second, and the p99 of processing.
fn render_history(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let [rate_area, latency_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let data: Vec<u64> = app.dashboard.accepted_per_second.iter().copied().collect();
    let last = data.last().copied().unwrap_or(0);
    let sparkline = Sparkline::default()
        .block(Block::default().borders(Borders::ALL).title(format!(" Accepted/s: {last} ")))
        .data(&data)
        .style(app.style(Style::default().fg(Color::Green)));
    frame.render_widget(sparkline, rate_area);
    let p99: Vec<u64> = app.dashboard.p99_micros.iter().copied().collect();
    let last = p99.last().map_or("—".to_owned(), |us| format!("{:.2} ms", *us as f64 / 1000.0));
    let sparkline = Sparkline::default()
        .block(Block::default().borders(Borders::ALL).title(format!(" p99 (5 min): {last} ")))
        .data(&p99)
        .style(app.style(Style::default().fg(Color::Yellow)));
    frame.render_widget(sparkline, latency_area);
}

fn render_open_alerts(app: &App, status: &StatusReport, frame: &mut Frame<'_>, area: Rect) {
    let open = &status.open_alerts;
    let text: Vec<Line> = if open.is_empty() {
        vec![Line::from(" none open")]
    } else {
        open.iter().map(|a| Line::from(format!(" {}", alert_line(a)))).collect()
    };
    let title = if open.is_empty() {
        " Alerts ".to_owned()
    } else {
        format!(" Alerts: {} open — 7 to acknowledge ", open.len())
    };
    let style = if open.is_empty() { Style::default() } else { app.style(Style::default().fg(Color::Red)) };
    let block = Block::default().borders(Borders::ALL).title(title).border_style(style);
    frame.render_widget(Paragraph::new(text).block(block), area);
}

/// `16:02 blocked   blocked for mass mailing: … (again ×3)`
fn alert_line(alert: &Alert) -> String {
    format!(
        "{} {:<19} {}{}",
        when(Some(alert.raised_at)),
        alert.kind,
        shown(&alert.text),
        if alert.repeats > 0 { format!(" (again ×{})", alert.repeats) } else { String::new() }
    )
}
