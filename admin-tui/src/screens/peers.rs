//! The other operators of the trust space: the outbound queue (what waits for a peer,
//! its attempts and last error) above, the trust list in force below. On the selected
//! entry, `t` tries it now, `h` holds it, `u` releases it, `d` deletes it (after a
//! confirmation: its senders are told it will not be delivered).

use caducee_admin_protocol::{
    call, QueueAct, QueueAction, QueueEntryView, QueueListing, QueueView, Transport, TrustListView, TrustListing,
};
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};
use ratatui::Frame;

use super::{header, highlight, when};
use crate::{shown, App};

/// The queue and the trust list, fetched on the screen.
#[derive(Debug, Default)]
pub struct PeersScreen {
    pub queue: Option<QueueView>,
    pub trust: Option<TrustListView>,
}

impl App {
    /// The outbound queue's entries, oldest first (the Peers screen's list).
    pub fn queue_entries(&self) -> Vec<&QueueEntryView> {
        self.peers.queue.iter().flat_map(|q| &q.entries).collect()
    }
}

pub(crate) fn load(app: &mut App, api: &mut dyn Transport) {
    match call(api, QueueListing {}) {
        Ok(queue) => app.peers.queue = Some(queue),
        Err(why) => app.message = Some(format!("outbound queue: {why}")),
    }
    match call(api, TrustListing {}) {
        Ok(trust) => app.peers.trust = Some(trust),
        Err(why) => app.message = Some(format!("trust list: {why}")),
    }
}

/// The screen's keys on the selected entry: `t`, `h` and `u` act at once (nothing is lost
/// by them); `d` asks first.
pub(crate) fn key(app: &mut App, code: KeyCode, api: &mut dyn Transport) {
    let Some((id, domain)) = app.queue_entries().get(app.selected).map(|e| (e.id, e.domain.clone())) else {
        return;
    };
    let action = match code {
        KeyCode::Char('t') => QueueAction::Retry,
        KeyCode::Char('h') => QueueAction::Hold,
        KeyCode::Char('u') => QueueAction::Release,
        KeyCode::Char('d') => {
            let what = format!("entry {id} for");
            app.confirm("Delete from the outbound queue (its senders are told)", format!("{what} {domain}"), {
                QueueAct { id: Some(id), action: QueueAction::Delete }
            });
            return;
        }
        _ => return,
    };
    let word = match action {
        QueueAction::Retry => "to be tried now",
        QueueAction::Hold => "held",
        _ => "released",
    };
    app.message = Some(match call(api, QueueAct { id: Some(id), action }) {
        Ok(acted) if acted.entries == 0 => format!("entry {id}: nothing to change"),
        Ok(_) => format!("entry {id} for {}: {word}", shown(&domain)),
        Err(why) => format!("entry {id}: {why}"),
    });
    load(app, api);
}

pub(crate) fn render(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let trust_rows = app.peers.trust.as_ref().map_or(0, |t| t.domains.len()).clamp(1, 8) as u16;
    let [queue_area, trust_area] =
        Layout::vertical([Constraint::Min(6), Constraint::Length(trust_rows + 3)]).areas(area);
    render_queue(app, frame, queue_area);
    render_trust(app, frame, trust_area);
}

fn render_queue(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let entries = app.queue_entries();
    let waiting: usize = entries.iter().map(|e| e.recipients.iter().filter(|r| r.state == "waiting").count()).sum();
    let rows: Vec<Row> = entries.iter().map(|e| entry_row(app, e)).collect();
    let widths = [
        Constraint::Length(5),
        Constraint::Length(11),
        Constraint::Length(22),
        Constraint::Length(3),
        Constraint::Length(5),
        Constraint::Min(10),
    ];
    let title = format!(" Outbound queue: {} entries, {waiting} recipients waiting ", entries.len());
    let table = Table::new(rows, widths)
        .header(header(app, vec!["#", "Queued UTC", "Domain", "Try", "Next", "Last error"]))
        .block(Block::default().borders(Borders::ALL).title(title))
        .row_highlight_style(highlight(app))
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected((!entries.is_empty()).then_some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

fn entry_row(app: &App, entry: &QueueEntryView) -> Row<'static> {
    let next = if entry.held {
        "HELD".to_owned()
    } else {
        when(Some(entry.next_attempt_at)).get(11..).unwrap_or_default().to_owned()
    };
    let row = Row::new(vec![
        Cell::from(entry.id.to_string()),
        Cell::from(when(Some(entry.queued_at)).get(5..).unwrap_or_default().to_owned()),
        Cell::from(shown(&entry.domain)),
        Cell::from(entry.attempts.to_string()),
        Cell::from(next),
        Cell::from(entry.last_error.as_deref().map(shown).unwrap_or_default()),
    ]);
    if entry.held || entry.last_error.is_some() {
        row.style(app.style(Style::default().fg(Color::Yellow)))
    } else {
        row
    }
}

fn render_trust(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let trust = app.peers.trust.as_ref();
    let title = match trust.and_then(|t| t.source.as_ref().map(|s| (s, t))) {
        Some((source, t)) => format!(
            " Trust list: {} domains, from {} since {} ",
            t.domains.len(),
            shown(source),
            when(t.imported_at).get(..16).unwrap_or_default()
        ),
        None => " Trust list: none in force (caducee trust import FILE|URL) ".to_owned(),
    };
    let rows: Vec<Row> = trust
        .map(|t| t.domains.iter())
        .into_iter()
        .flatten()
        .map(|d| Row::new(vec![Cell::from(shown(&d.domain)), Cell::from(shown(&d.operators.join(" | ")))]))
        .collect();
    let table = Table::new(rows, [Constraint::Length(30), Constraint::Min(20)])
        .header(header(app, vec!["Domain", "Operator (certificate subject)"]))
        .block(Block::default().borders(Borders::ALL).title(title));
    frame.render_widget(table, area);
}
