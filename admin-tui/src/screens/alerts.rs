//! Every alert raised for the administrator, newest first, the open ones in red. `a`
//! acknowledges the selected one (the relay records who did).

use caducee_admin_protocol::{call, AlertAcknowledge, Alerts, Transport};
use caducee_storage::Alert;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};
use ratatui::Frame;

use super::{header, highlight, when};
use crate::{shown, App};

/// Every alert, newest first (`alerts`), fetched on the screen.
#[derive(Debug, Default)]
pub struct AlertsScreen {
    pub list: Option<Vec<Alert>>,
}

impl App {
    /// Every alert, newest first (the Alerts screen's list).
    pub fn alert_list(&self) -> Vec<&Alert> {
        self.alerts.list.iter().flatten().collect()
    }
}

pub(crate) fn load(app: &mut App, api: &mut dyn Transport) {
    match call(api, Alerts {}) {
        Ok(alerts) => app.alerts.list = Some(alerts),
        Err(why) => app.message = Some(format!("alerts: {why}")),
    }
}

/// The screen's key: `a` acknowledges the selected alert, after a `y` as every change.
pub(crate) fn key(app: &mut App, code: KeyCode) {
    if code != KeyCode::Char('a') {
        return;
    }
    let Some((seq, acknowledged)) = app.alert_list().get(app.selected).map(|a| (a.seq, a.acknowledged_at.is_some()))
    else {
        return;
    };
    if acknowledged {
        app.message = Some(format!("alert {seq} is acknowledged already"));
        return;
    }
    app.confirm("acknowledge", format!("alert {seq}"), AlertAcknowledge { seq });
}

pub(crate) fn render(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let alerts = app.alert_list();
    let open = alerts.iter().filter(|a| a.acknowledged_at.is_none()).count();
    let rows: Vec<Row> = alerts.iter().map(|a| alert_row(app, a)).collect();
    let table =
        Table::new(rows, [Constraint::Length(4), Constraint::Length(11), Constraint::Min(20), Constraint::Length(16)])
            .header(header(app, vec!["#", "UTC", "What", "State"]))
            .block(Block::default().borders(Borders::ALL).title(format!(" Alerts: {open} open of {} ", alerts.len())))
            .row_highlight_style(highlight(app))
            .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected((!alerts.is_empty()).then_some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

fn alert_row(app: &App, alert: &Alert) -> Row<'static> {
    let state = match &alert.acknowledged_by {
        Some(by) => format!("ack. by {}", shown(by)),
        None => "OPEN".to_owned(),
    };
    let repeats = alert.repeats;
    let row = Row::new(vec![
        Cell::from(alert.seq.to_string()),
        Cell::from(when(Some(alert.raised_at)).get(5..).unwrap_or_default().to_owned()),
        Cell::from(format!(
            "{}{}",
            shown(&alert.text),
            if repeats > 0 { format!(" (again ×{repeats})") } else { String::new() }
        )),
        Cell::from(state),
    ]);
    if alert.acknowledged_at.is_none() {
        row.style(app.style(Style::default().fg(Color::Red)))
    } else {
        row
    }
}
