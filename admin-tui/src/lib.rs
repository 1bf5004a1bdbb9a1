//! Caducée's administrator console: a ratatui terminal interface over the appliance's
//! admin API. It never opens the store: every figure comes from, and every action goes
//! through, the typed requests of the admin protocol (`caducee-admin-protocol`), each
//! reply read as its request's reply type, carried to the running relay by a
//! [`Transport`] — `caducee console` passes the admin socket.
//!
//! [`App`] holds what the console knows and decides what a key does: first the open
//! [`Modal`] if there is one (a confirmation, a form, a prompt…), then the keys every
//! screen shares, then the current screen's (one file per screen in [`screens`]).
//! [`render`] draws it, from nothing else, so every screen is snapshot-tested with
//! ratatui's `TestBackend`; [`run`] is the terminal loop (refresh every second, reconnect
//! with a banner when the relay goes away, terminal restored on exit and on panic). Texts
//! from elsewhere (what users wrote, alerts, the audit trail, the relay's replies) are
//! drawn through [`shown`]: their control and bidirectional characters made visible.

pub mod modal;
pub mod screens;
mod shown;
mod terminal;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub use caducee_admin_protocol::Transport;
use caducee_admin_protocol::{call, Status, StatusReport};
pub use modal::{Confirm, EditForm, Modal, Publish, QuotaPrompt, UserForm};
pub use screens::Screen;
pub use shown::shown;
pub use terminal::run;

use screens::{alerts, audit, backups, dashboard, keys, mailboxes, pair, peers, requests};

/// Everything the console shows.
#[derive(Debug)]
pub struct App {
    pub screen: Screen,
    /// The last status the relay sent (`caducee status --json`).
    pub status: Option<StatusReport>,
    /// The throughput and latency history drawn on the dashboard.
    pub dashboard: dashboard::DashboardScreen,
    pub keys: keys::KeysScreen,
    pub requests: requests::RequestsScreen,
    pub backups: backups::BackupsScreen,
    pub audit: audit::AuditScreen,
    pub alerts: alerts::AlertsScreen,
    pub peers: peers::PeersScreen,
    /// Set while the relay does not answer.
    pub connection_lost: Option<String>,
    pub selected: usize,
    pub search: String,
    /// What takes the keys before the screen, if anything.
    pub modal: Option<Modal>,
    /// The last action's outcome, shown in the footer.
    pub message: Option<String>,
    pub colour: bool,
    pub quit: bool,
}

impl App {
    pub fn new(colour: bool) -> App {
        App {
            screen: Screen::Dashboard,
            status: None,
            dashboard: dashboard::DashboardScreen::default(),
            keys: keys::KeysScreen::default(),
            requests: requests::RequestsScreen::default(),
            backups: backups::BackupsScreen::default(),
            audit: audit::AuditScreen::default(),
            alerts: alerts::AlertsScreen::default(),
            peers: peers::PeersScreen::default(),
            connection_lost: None,
            selected: 0,
            search: String::new(),
            modal: None,
            message: None,
            colour,
            quit: false,
        }
    }

    /// Asks the relay for its status; on failure keeps the last one and raises the banner.
    /// A restore drill that runs is polled too. Once a status is shown, the next ones are
    /// refreshes: the relay audits the administrator's reading once, not every second.
    pub fn refresh(&mut self, api: &mut dyn Transport) {
        match call(api, Status { refresh: self.status.is_some() }) {
            Ok(status) => {
                self.connection_lost = None;
                self.take_status(status);
            }
            Err(why) => self.connection_lost = Some(why),
        }
        if self.backups.drill_running() {
            backups::poll_drill(self, api);
        }
    }

    pub fn take_status(&mut self, status: StatusReport) {
        self.dashboard.record(&status);
        self.status = Some(status);
        self.selected = self.selected.min(self.mailboxes().len().saturating_sub(1));
    }

    /// What a key does: the open modal takes it if there is one, then the keys every
    /// screen shares, then the current screen's. Actions that change something go through
    /// a confirmation first.
    pub fn key(&mut self, key: KeyEvent, api: &mut dyn Transport) {
        if key.kind != KeyEventKind::Press {
            return;
        }
        if let Some(modal) = self.modal.take() {
            self.modal_key(modal, key.code, api);
            return;
        }
        if self.shared_key(key.code, api) {
            return;
        }
        match self.screen {
            Screen::Dashboard => dashboard::key(self, key.code),
            Screen::Mailboxes => mailboxes::key(self, key.code, api),
            Screen::Keys => keys::key(self, key.code),
            Screen::Requests => requests::key(self, key.code),
            Screen::Backups => backups::key(self, key.code),
            Screen::Audit | Screen::Pair => {}
            Screen::Alerts => alerts::key(self, key.code),
            Screen::Peers => peers::key(self, key.code, api),
        }
    }

    /// The keys every screen shares: quit, help, switching screens, search, moving in the
    /// list, reloading. Whether the key was one of them.
    fn shared_key(&mut self, code: KeyCode, api: &mut dyn Transport) -> bool {
        let screens = self.screens();
        let count = screens.len();
        let at = screens.iter().position(|s| *s == self.screen).unwrap_or(0);
        match code {
            KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
            KeyCode::Char('?') => self.modal = Some(Modal::Help),
            KeyCode::Tab => self.show(screens[(at + 1) % count], api),
            KeyCode::BackTab => self.show(screens[(at + count - 1) % count], api),
            KeyCode::Char(c @ '1'..='9') => {
                let wanted = Screen::ALL[usize::from(c as u8 - b'1')];
                if screens.contains(&wanted) {
                    self.show(wanted, api);
                }
            }
            KeyCode::Char('/') => {
                if self.screen == Screen::Dashboard {
                    self.screen = Screen::Mailboxes;
                }
                self.modal = Some(Modal::Search);
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.row_count().saturating_sub(1));
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Char('r') => {
                self.refresh(api);
                self.load_screen(api);
            }
            _ => return false,
        }
        true
    }

    /// The screens this relay has: the Pair screen on a pair member only.
    pub fn screens(&self) -> Vec<Screen> {
        let pair = self.status.as_ref().is_some_and(|s| s.pair.is_some());
        Screen::ALL.into_iter().filter(|s| *s != Screen::Pair || pair).collect()
    }

    /// The rows of the list the selection moves in.
    fn row_count(&self) -> usize {
        match self.screen {
            Screen::Requests => self.open_requests().len(),
            Screen::Alerts => self.alert_list().len(),
            Screen::Peers => self.queue_entries().len(),
            _ => self.mailboxes().len(),
        }
    }

    pub(crate) fn show(&mut self, screen: Screen, api: &mut dyn Transport) {
        if screen == Screen::Keys && self.keys.address.is_none() {
            self.keys.address = self.selected_address();
        }
        // A filter belongs to the screen it was typed on (the mailboxes' search is no filter
        // of the audit trail).
        if screen != self.screen {
            self.search.clear();
        }
        self.screen = screen;
        if screen != Screen::Mailboxes {
            self.selected = 0;
        }
        self.load_screen(api);
    }

    /// What a screen fetches when shown (or on `r`).
    pub(crate) fn load_screen(&mut self, api: &mut dyn Transport) {
        match self.screen {
            Screen::Audit => self.load_audit(api),
            Screen::Keys => keys::load(self, api),
            Screen::Requests => requests::load(self, api),
            Screen::Alerts => alerts::load(self, api),
            Screen::Peers => peers::load(self, api),
            Screen::Backups => backups::load(self, api),
            Screen::Dashboard | Screen::Mailboxes | Screen::Pair => {}
        }
    }

    pub(crate) fn style(&self, style: Style) -> Style {
        if self.colour {
            style
        } else {
            Style::default()
        }
    }
}

/// Draws the whole console from `app`: the tabs (or the lost-connection banner), the
/// screen, the footer, then the modal's popup if it has one.
pub fn render(app: &App, frame: &mut Frame<'_>) {
    let area = frame.area();
    let [banner, body, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)]).areas(area);
    frame.render_widget(Paragraph::new(banner_line(app, area.width)), banner);
    match app.screen {
        Screen::Dashboard => dashboard::render(app, frame, body),
        Screen::Mailboxes => mailboxes::render(app, frame, body),
        Screen::Keys => keys::render(app, frame, body),
        Screen::Requests => requests::render(app, frame, body),
        Screen::Backups => backups::render(app, frame, body),
        Screen::Audit => audit::render(app, frame, body),
        Screen::Alerts => alerts::render(app, frame, body),
        Screen::Peers => peers::render(app, frame, body),
        Screen::Pair => pair::render(app, frame, body),
    }
    let keys = app
        .modal
        .as_ref()
        .and_then(|modal| modal.footer(app))
        .or_else(|| app.message.as_ref().map(|message| format!(" {} · ? help · q quit", shown(message))))
        .unwrap_or_else(|| app.screen.footer().to_owned());
    frame.render_widget(Paragraph::new(keys), footer);
    if let Some(modal) = &app.modal {
        modal.render(app, frame, area);
    }
}

/// The top line: the tabs, shortened when the width cannot hold them, or the banner of a
/// lost connection.
fn banner_line(app: &App, width: u16) -> Line<'static> {
    if let Some(why) = &app.connection_lost {
        return Line::from(Span::styled(
            format!(" CONNECTION TO THE RELAY LOST — retrying every second ({})", shown(why)),
            app.style(Style::default().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD)),
        ));
    }
    let open_alerts = app.status.as_ref().map_or(0, |s| s.open_alerts.len());
    let screens = app.screens();
    let tabs = |name: &dyn Fn(Screen) -> &'static str| -> String {
        screens
            .iter()
            .map(|s| {
                let number = s.index() + 1;
                let mut label = match name(*s) {
                    "" => number.to_string(),
                    name => format!("{number} {name}"),
                };
                if *s == Screen::Alerts && open_alerts > 0 {
                    label = format!("{label} {open_alerts}!");
                }
                if *s == app.screen {
                    format!(" {label} ")
                } else {
                    format!("[{label}]")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut title = tabs(&Screen::name);
    if title.chars().count() + 9 > usize::from(width) {
        title = tabs(&Screen::short_name);
    }
    // Nine screens at 80 columns: the others by their number alone.
    if title.chars().count() + 1 > usize::from(width) {
        title = tabs(&|s| if s == app.screen { s.short_name() } else { "" });
    }
    // At 80 columns the short tabs take the line: the name gives way to them.
    let brand = if title.chars().count() + 9 > usize::from(width) { " " } else { " Caducée " };
    Line::from(vec![Span::styled(brand, app.style(Style::default().add_modifier(Modifier::BOLD))), Span::raw(title)])
}
