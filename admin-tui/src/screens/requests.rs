//! The data-protection requests users filed from their personal space: the open ones,
//! newest first. `c` closes the selected one, after a confirmation.

use caducee_admin_protocol::{call, RightsRequestClose, RightsRequests, Transport};
use caducee_storage::RightsRequest;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};
use ratatui::Frame;

use super::{header, highlight, when};
use crate::{shown, App};

/// Every request the relay holds (`rights-requests`), fetched on the screen.
#[derive(Debug, Default)]
pub struct RequestsScreen {
    pub list: Option<Vec<RightsRequest>>,
}

impl App {
    /// The requests still open, newest first (the Requests screen's list).
    pub fn open_requests(&self) -> Vec<&RightsRequest> {
        let mut open: Vec<&RightsRequest> =
            self.requests.list.iter().flatten().filter(|r| r.closed_at.is_none()).collect();
        open.reverse();
        open
    }
}

pub(crate) fn load(app: &mut App, api: &mut dyn Transport) {
    match call(api, RightsRequests {}) {
        Ok(requests) => app.requests.list = Some(requests),
        Err(why) => app.connection_lost = Some(why),
    }
}

/// The screen's key: `c` closes the selected request, after a confirmation.
pub(crate) fn key(app: &mut App, code: KeyCode) {
    if code != KeyCode::Char('c') {
        return;
    }
    let Some(request) = app.open_requests().get(app.selected).map(|r| (*r).clone()) else {
        return;
    };
    let seq = request.seq;
    let action = format!("close {} request {seq} of", request.kind);
    app.confirm(action, request.address, RightsRequestClose { seq });
}

pub(crate) fn render(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let open = app.open_requests();
    let rows: Vec<Row> = open
        .iter()
        .map(|r| {
            Row::new(vec![
                Cell::from(r.seq.to_string()),
                Cell::from(when(Some(r.at))),
                Cell::from(shown(&r.kind)),
                Cell::from(shown(&r.address)),
                Cell::from(shown(&r.text)),
            ])
        })
        .collect();
    // The whole address, however long (up to what leaves the text a column of its own):
    // an administrator answers a request by who filed it.
    let widest = open.iter().map(|r| shown(&r.address).chars().count()).max().unwrap_or(0);
    let address_width = u16::try_from(widest).unwrap_or(u16::MAX).clamp(4, area.width.saturating_sub(52).max(24));
    let widths = [
        Constraint::Length(5),
        Constraint::Length(16),
        Constraint::Length(13),
        Constraint::Length(address_width),
        Constraint::Min(10),
    ];
    let table = Table::new(rows, widths)
        .header(header(app, vec!["#", "Filed (UTC)", "Request", "From", "Text"]))
        .block(
            Block::default().borders(Borders::ALL).title(format!(" Open data-protection requests ({}) ", open.len())),
        )
        .row_highlight_style(highlight(app))
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected((!open.is_empty()).then_some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
}
