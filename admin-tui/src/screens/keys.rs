//! The keys of one account (chosen on the Mailboxes screen): every edition of its
//! certificate, newest first. `n` renews them, `x` revokes them as compromised and issues a
//! new edition, whose installation code is shown once.

use caducee_admin_protocol::{call, EditionIssued, Keys, KeysAction, KeysReport, Transport};
use caducee_storage::{CertificateStatus, RevocationReason};
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::{header, when};
use crate::App;

/// The account whose keys the screen shows, and what the relay said of them.
#[derive(Debug, Default)]
pub struct KeysScreen {
    pub address: Option<String>,
    pub report: Option<KeysReport>,
}

/// Fetches the account's keys.
pub(crate) fn load(app: &mut App, api: &mut dyn Transport) {
    if let Some(address) = &app.keys.address {
        match call(api, Keys { address: address.clone(), action: KeysAction::Show }) {
            Ok(keys) => app.keys.report = Some(keys),
            Err(why) => app.message = Some(format!("keys of {address}: {why}")),
        }
    }
}

/// The screen's keys: renew or revoke, each after a confirmation.
pub(crate) fn key(app: &mut App, code: KeyCode) {
    let KeyCode::Char(c @ ('n' | 'x')) = code else {
        return;
    };
    if let Some(address) = app.keys.address.clone() {
        let (what, action) = if c == 'n' {
            ("renew the keys of", KeysAction::Renew)
        } else {
            (
                "REVOKE (compromised) and re-issue the keys of",
                KeysAction::Revoke { reason: RevocationReason::Compromised },
            )
        };
        app.confirm(what, address.clone(), Keys { address, action });
    }
}

/// A new edition of keys, as the administrator hands it over.
pub(crate) fn issued_text(issued: &EditionIssued) -> String {
    format!(
        "keys: edition {} {}\ninstallation code: {}\nbundle: {}\n(hand the bundle and the code over separately)",
        issued.edition,
        issued.fingerprint,
        issued.installation_code,
        issued.bundle.display()
    )
}

pub(crate) fn render(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let Some(address) = &app.keys.address else {
        frame.render_widget(Paragraph::new(" select an account on the Mailboxes screen, then Enter"), area);
        return;
    };
    let editions = app.keys.report.as_ref().map_or(&[][..], |k| k.certificates.as_slice());
    let rows: Vec<Row> = editions
        .iter()
        .rev()
        .map(|c| {
            Row::new(vec![
                Cell::from(c.edition.to_string()),
                Cell::from(c.fingerprint.clone()),
                Cell::from(status_name(c.status)),
                Cell::from(when(Some(c.expires_at)).chars().take(10).collect::<String>()),
            ])
        })
        .collect();
    let table =
        Table::new(rows, [Constraint::Length(7), Constraint::Min(40), Constraint::Length(13), Constraint::Length(10)])
            .header(header(app, vec!["Edition", "Fingerprint", "State", "Expires"]))
            .block(Block::default().borders(Borders::ALL).title(format!(" Keys of {address} ")));
    frame.render_widget(table, area);
}

/// A certificate's state as the relay names it.
fn status_name(status: CertificateStatus) -> &'static str {
    match status {
        CertificateStatus::NotYetValid => "not-yet-valid",
        CertificateStatus::Valid => "valid",
        CertificateStatus::Expired => "expired",
        CertificateStatus::Revoked => "revoked",
    }
}
