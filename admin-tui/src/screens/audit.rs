//! The audit trail, newest first, filtered by the search. Reading it is itself an audited
//! export, so it is fetched on entering the screen and on `r`, never polled.

use caducee_admin_protocol::{call, AuditExport, Transport};
use caducee_storage::{AuditDraft, AuditEntry, Millis, DAY_MILLIS};
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};
use ratatui::Frame;

use super::{header, when};
use crate::{shown, App};

/// Audit entries (`audit-export`), oldest first, as last fetched.
#[derive(Debug, Default)]
pub struct AuditScreen {
    pub entries: Option<Vec<AuditEntry>>,
}

impl App {
    /// Fetches the audit trail. Only on demand (entering the screen, `r`): reading it is
    /// itself an audited export, so it is not polled.
    pub fn load_audit(&mut self, api: &mut dyn Transport) {
        // Everything up to tomorrow: the relay's clock decides what "now" is.
        let to = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(u64::MAX, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).saturating_add(DAY_MILLIS));
        match call(api, AuditExport { from: Millis(0), to: Millis(to) }) {
            Ok(entries) => self.audit.entries = Some(entries),
            Err(why) => self.connection_lost = Some(why),
        }
    }

    /// Audit entries shown, newest first: all, or those whose actor, action or object
    /// contains the search.
    pub fn audit_entries(&self) -> Vec<&AuditEntry> {
        let needle = self.search.to_lowercase();
        let mut entries: Vec<&AuditEntry> = self
            .audit
            .entries
            .iter()
            .flatten()
            .filter(|e| {
                let AuditDraft { actor, action, object, detail, .. } = &e.entry;
                needle.is_empty()
                    || [actor, action, object, detail].iter().any(|text| text.to_lowercase().contains(&needle))
            })
            .collect();
        entries.reverse();
        entries
    }
}

pub(crate) fn render(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let entries = app.audit_entries();
    let rows: Vec<Row> = entries
        .iter()
        .map(|e| {
            let entry = &e.entry;
            Row::new(vec![
                Cell::from(e.seq.to_string()),
                Cell::from(when(Some(entry.at))),
                Cell::from(shown(&entry.actor)),
                Cell::from(shown(&entry.action)),
                Cell::from(shown(format!("{} {}", entry.object, entry.detail).trim_end())),
            ])
        })
        .collect();
    let title = if app.search.is_empty() {
        format!(" Audit trail, newest first ({}) ", entries.len())
    } else {
        format!(" Audit entries matching \"{}\" ({}) ", app.search, entries.len())
    };
    let widths = [
        Constraint::Length(5),
        Constraint::Length(16),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Min(20),
    ];
    let table = Table::new(rows, widths)
        .header(header(app, vec!["#", "When (UTC)", "Who", "Action", "What"]))
        .block(Block::default().borders(Borders::ALL).title(title));
    frame.render_widget(table, area);
}
