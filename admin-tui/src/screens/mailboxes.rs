//! The mailboxes: every account from the last status (narrowed by the search), its use of
//! its quota and its state. Keys add and edit accounts, change their state and quota,
//! reset a password, and open the selected account's keys.

use caducee_admin_protocol::{StateAction, UserResetPassword, UserState, UserView};
use caducee_storage::DisabledReason;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::widgets::{Block, Borders, Cell, Gauge, Row, Table, TableState};
use ratatui::Frame;

use super::{bytes, header, highlight, when, Screen};
use crate::modal::{EditForm, Modal, QuotaPrompt, UserForm};
use crate::{App, Transport};

impl App {
    /// The mailboxes shown: all, or those whose address contains the search.
    pub fn mailboxes(&self) -> Vec<&UserView> {
        let all = self.status.as_ref().map(|s| &s.mailboxes);
        let needle = self.search.to_lowercase();
        all.into_iter().flatten().filter(|m| needle.is_empty() || m.address.to_lowercase().contains(&needle)).collect()
    }

    pub(crate) fn selected_address(&self) -> Option<String> {
        self.mailboxes().get(self.selected).map(|m| m.address.clone())
    }
}

/// The mailboxes' keys. Every change asks first, or opens a form.
pub(crate) fn key(app: &mut App, code: KeyCode, api: &mut dyn Transport) {
    match code {
        KeyCode::Char('a') => app.modal = Some(Modal::NewAccount(UserForm::default())),
        KeyCode::Char('E') => {
            if let Some(mailbox) = app.mailboxes().get(app.selected) {
                let form = EditForm {
                    address: mailbox.address.clone(),
                    values: [mailbox.first_name.clone(), mailbox.last_name.clone(), mailbox.contact_email.clone()],
                    field: 0,
                };
                app.modal = Some(Modal::EditAccount(form));
            }
        }
        KeyCode::Char('Q') => {
            if let Some(address) = app.selected_address() {
                app.modal = Some(Modal::Quota(QuotaPrompt { address, typed: String::new() }));
            }
        }
        KeyCode::Char('P') => {
            if let Some(address) = app.selected_address() {
                let request = UserResetPassword { address: address.clone() };
                app.confirm("reset the password of", address, request);
            }
        }
        KeyCode::Enter | KeyCode::Char('K') => {
            if let Some(address) = app.selected_address() {
                app.keys.address = Some(address);
                app.show(Screen::Keys, api);
            }
        }
        KeyCode::Char(c @ ('u' | 's' | 'e')) => {
            let (action, name) = match c {
                'u' => (StateAction::Unblock, "unblock"),
                's' => (StateAction::Suspend, "suspend"),
                _ => (StateAction::Enable, "enable"),
            };
            if let Some(address) = app.selected_address() {
                app.confirm(name, address.clone(), UserState { address, action });
            }
        }
        _ => {}
    }
}

pub(crate) fn render(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let mailboxes = app.mailboxes();
    let [table_area, detail] = Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(area);
    let rows: Vec<Row> = mailboxes.iter().map(|m| mailbox_row(m)).collect();
    let title = if app.search.is_empty() {
        format!(" Mailboxes ({}) ", mailboxes.len())
    } else {
        format!(" Mailboxes matching \"{}\" ({}) ", app.search, mailboxes.len())
    };
    let widths = [
        Constraint::Min(24),
        Constraint::Length(18),
        Constraint::Length(6),
        Constraint::Length(11),
        Constraint::Min(12),
    ];
    let table = Table::new(rows, widths)
        .header(header(app, vec!["Address", "Used / quota", "Msgs", "Collected", "State"]))
        .block(Block::default().borders(Borders::ALL).title(title))
        .row_highlight_style(highlight(app))
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected((!mailboxes.is_empty()).then_some(app.selected));
    frame.render_stateful_widget(table, table_area, &mut state);
    let Some(selected) = mailboxes.get(app.selected) else {
        return;
    };
    let used = selected.used_bytes as f64;
    let quota = selected.quota_bytes.max(1) as f64;
    let gauge = Gauge::default()
        .block(Block::default().borders(Borders::ALL).title(format!(" {} — quota ", selected.address)))
        .gauge_style(app.style(Style::default().fg(Color::Cyan)))
        .ratio((used / quota).clamp(0.0, 1.0));
    frame.render_widget(gauge, detail);
}

fn mailbox_row(mailbox: &UserView) -> Row<'static> {
    let state = &mailbox.state;
    let mut words = Vec::new();
    if let Some((reason, _)) = &state.disabled {
        let reason = match reason {
            DisabledReason::Inactivity => "inactivity",
            DisabledReason::Suspended => "suspended",
        };
        words.push(format!("disabled ({reason})"));
    }
    if state.blocked.is_some() {
        words.push("BLOCKED".to_owned());
    }
    if state.closed_at.is_some() {
        words.push("closed".to_owned());
    }
    if words.is_empty() {
        words.push("receiving".to_owned());
    }
    Row::new(vec![
        Cell::from(mailbox.address.clone()),
        Cell::from(format!("{} / {}", bytes(mailbox.used_bytes), bytes(mailbox.quota_bytes))),
        Cell::from(mailbox.messages.to_string()),
        Cell::from(match mailbox.last_collection {
            Some(at) => when(Some(at)).get(5..).unwrap_or_default().to_owned(),
            None => "never".to_owned(),
        }),
        Cell::from(words.join(", ")),
    ])
}
