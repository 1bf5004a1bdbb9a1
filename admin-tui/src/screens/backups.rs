//! The backups: the configured folder, the scheduled backups in it, the last restore drill,
//! and the progress of a drill the relay runs for the console. `b` takes a backup now,
//! `d` starts a restore drill from the newest one; both ask first.

use caducee_admin_protocol::{
    call, BackupList, BackupListing, BackupRequest, DrillOutcome, DrillStart, DrillState, DrillStatus, Transport,
};
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::{bytes, first_accept_seconds, header, when, Screen};
use crate::App;

/// What the screen fetched.
#[derive(Debug, Default)]
pub struct BackupsScreen {
    /// Scheduled backups and the last drill (`backup-list`).
    pub list: Option<BackupListing>,
    /// The restore drill the relay runs for the console (`drill-status`): polled while it runs.
    pub drill: Option<DrillState>,
}

impl BackupsScreen {
    pub(crate) fn drill_running(&self) -> bool {
        self.drill.as_ref().is_some_and(|d| d.running)
    }
}

pub(crate) fn load(app: &mut App, api: &mut dyn Transport) {
    match call(api, BackupList {}) {
        Ok(backups) => app.backups.list = Some(backups),
        Err(why) => app.connection_lost = Some(why),
    }
    if let Ok(drill) = call(api, DrillStatus {}) {
        app.backups.drill = Some(drill);
    }
}

/// Where the running drill stands; when it has ended, its outcome in the footer and the
/// backup list read again (the drill's report is in it).
pub(crate) fn poll_drill(app: &mut App, api: &mut dyn Transport) {
    match call(api, DrillStatus {}) {
        Ok(drill) => {
            if !drill.running {
                let report = drill.report.as_ref();
                app.message = Some(if report.is_some_and(DrillOutcome::ok) {
                    format!(
                        "restore drill passed: first message accepted {:.1} s after the restore began",
                        first_accept_seconds(report)
                    )
                } else {
                    format!(
                        "restore drill FAILED: {}",
                        report.and_then(DrillOutcome::error).unwrap_or("see the report")
                    )
                });
                if app.screen == Screen::Backups {
                    if let Ok(backups) = call(api, BackupList {}) {
                        app.backups.list = Some(backups);
                    }
                }
            }
            app.backups.drill = Some(drill);
        }
        Err(why) => app.connection_lost = Some(why),
    }
}

/// The screen's keys: a backup now, or a restore drill, each after a confirmation.
pub(crate) fn key(app: &mut App, code: KeyCode) {
    let list = app.backups.list.as_ref();
    match code {
        KeyCode::Char('d') => {
            let newest = list
                .and_then(|b| b.backups.iter().max_by_key(|b| b.at))
                .map_or("the newest backup".to_owned(), |b| b.file.display().to_string());
            let action = "run a restore drill (scratch relay on spare local ports) from";
            app.confirm(action, newest, DrillStart::default());
        }
        KeyCode::Char('b') => match list.map(|b| b.folder.as_ref()) {
            Some(Some(folder)) => {
                let folder = folder.display().to_string();
                app.confirm("take a backup into", folder, BackupRequest::default());
            }
            // Said here rather than tried: a backup with nowhere to go is no failure to alert on.
            Some(None) => {
                app.message = Some("no backup folder: set [backup] folder in caducee.toml, then b".into());
            }
            None => app.message = Some("the backup folder is not read yet; r to reload".into()),
        },
        _ => {}
    }
}

pub(crate) fn render(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let Some(backups) = &app.backups.list else {
        frame.render_widget(Paragraph::new(" reading the backup folder…"), area);
        return;
    };
    let [summary, list] = Layout::vertical([Constraint::Length(5), Constraint::Min(3)]).areas(area);
    let mut lines = summary_lines(backups);
    if let Some(running) = app.backups.drill.as_ref().filter(|d| d.running) {
        lines.push(Line::from(Span::styled(drill_progress(running), app.style(Style::default().fg(Color::Yellow)))));
    }
    frame
        .render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" Backups ")), summary);
    let rows: Vec<Row> = backups
        .backups
        .iter()
        .map(|b| {
            Row::new(vec![
                Cell::from(when(Some(b.at))),
                Cell::from(bytes(b.bytes)),
                Cell::from(b.file.display().to_string()),
            ])
        })
        .collect();
    let count = rows.len();
    let table = Table::new(rows, [Constraint::Length(16), Constraint::Length(10), Constraint::Min(20)])
        .header(header(app, vec!["Taken (UTC)", "Size", "File"]))
        .block(Block::default().borders(Borders::ALL).title(format!(" Scheduled backups ({count}) ")));
    frame.render_widget(table, list);
}

/// The folder and its rotation, and the last restore drill.
fn summary_lines(backups: &BackupListing) -> Vec<Line<'static>> {
    let last = backups.last_drill.as_ref();
    let started_at = when(last.and_then(DrillOutcome::report).map(|report| report.started_at));
    let drill = match last.map(DrillOutcome::ok) {
        Some(true) => format!("passed {started_at}, first 250 after {:.1} s", first_accept_seconds(last)),
        Some(false) => format!("FAILED {started_at}: see caducee status"),
        None => "never run (caducee drill)".to_owned(),
    };
    let folder = backups.folder.as_ref().map_or_else(
        || "no [backup] folder configured: scheduled backups are off".to_owned(),
        |f| format!("{} (keep {} daily, {} weekly)", f.display(), backups.keep_daily, backups.keep_weekly),
    );
    vec![Line::from(format!(" Folder: {folder}")), Line::from(format!(" Restore drill: {drill}"))]
}

/// `Drill running [████░░…] step 2/5, 3.4 s: starting a relay…`
fn drill_progress(running: &DrillState) -> String {
    let step = running.step;
    let steps = running.steps.max(1);
    let filled = (step.saturating_sub(1).saturating_mul(20) / steps).min(20);
    format!(
        " Drill running [{}{}] step {step}/{steps}, {:.1} s: {}…",
        "█".repeat(filled),
        "░".repeat(20 - filled),
        running.elapsed_seconds,
        running.label
    )
}
