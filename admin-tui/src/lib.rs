//! Caducée's administrator console: a ratatui terminal interface over the appliance's
//! admin API. It never opens the store: every figure comes from, and every action goes
//! through, admin requests (JSON, protocol version 1) that the caller carries to the
//! running relay — `caducee console` passes the admin socket.
//!
//! [`App`] holds what the console knows and decides what a key does; [`render`] draws it,
//! from nothing else, so every screen is snapshot-tested with ratatui's `TestBackend`;
//! [`run`] is the terminal loop (refresh every second, reconnect with a banner when the
//! relay goes away, terminal restored on exit and on panic).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Gauge, Paragraph, Row, Sparkline, Table, TableState, Wrap};
use ratatui::Frame;
use serde_json::{json, Value};

/// How often the console asks the relay for its status.
const REFRESH: Duration = Duration::from_secs(1);
/// Points kept for the throughput sparkline (one per refresh).
const HISTORY_POINTS_MAX: usize = 120;

/// Carries one admin request (`{"command": …}`) to the relay and returns its result, or
/// why it failed.
pub trait AdminApi {
    fn call(&mut self, request: Value) -> Result<Value, String>;
}

impl<F: FnMut(Value) -> Result<Value, String>> AdminApi for F {
    fn call(&mut self, request: Value) -> Result<Value, String> {
        self(request)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Dashboard,
    Mailboxes,
    Keys,
    Requests,
    Backups,
    Audit,
    Alerts,
}

impl Screen {
    const ALL: [Screen; 7] = [
        Screen::Dashboard,
        Screen::Mailboxes,
        Screen::Keys,
        Screen::Requests,
        Screen::Backups,
        Screen::Audit,
        Screen::Alerts,
    ];

    fn name(self) -> &'static str {
        match self {
            Screen::Dashboard => "Dashboard",
            Screen::Mailboxes => "Mailboxes",
            Screen::Keys => "Keys",
            Screen::Requests => "Requests",
            Screen::Backups => "Backups",
            Screen::Audit => "Audit",
            Screen::Alerts => "Alerts",
        }
    }

    /// The name in the tab bar when 80 columns cannot hold the full names.
    fn short_name(self) -> &'static str {
        match self {
            Screen::Dashboard => "Dash",
            Screen::Mailboxes => "Boxes",
            Screen::Keys => "Keys",
            Screen::Requests => "Reqs",
            Screen::Backups => "Backup",
            Screen::Audit => "Audit",
            Screen::Alerts => "Alerts",
        }
    }

    fn index(self) -> usize {
        Screen::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// An action waiting for the administrator's `y`: what it is, on whom, and the admin
/// request that carries it out.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub action: String,
    pub address: String,
    pub request: Value,
}

/// Publishing from the dashboard: terms of use (`T`) or an announcement (`A`), each read
/// from a text file on this machine, and sent after a confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publish {
    TermsFile(String),
    AnnouncementSubject(String),
    AnnouncementFile { subject: String, path: String },
}

/// The new-account form (Mailboxes, `a`): one field at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserForm {
    pub values: [String; 4],
    pub field: usize,
}

impl UserForm {
    pub const LABELS: [&'static str; 4] = ["Address", "First name", "Last name", "Contact e-mail"];
}

/// The account-editing form (Mailboxes, `E`), filled with what the account has now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditForm {
    pub address: String,
    pub values: [String; 3],
    pub field: usize,
}

impl EditForm {
    pub const LABELS: [&'static str; 3] = ["First name", "Last name", "Contact e-mail"];
}

/// Everything the console shows.
#[derive(Debug)]
pub struct App {
    pub screen: Screen,
    /// The last status the relay sent (`caducee status --json`).
    pub status: Option<Value>,
    /// Audit entries (`caducee audit export`), oldest first; fetched on the audit screen.
    pub audit: Option<Value>,
    /// Accepted messages per refresh, newest last.
    pub accepted_per_second: VecDeque<u64>,
    /// The processing-time p99 of the last five minutes at each refresh, in µs, newest last.
    pub p99_micros: VecDeque<u64>,
    last_accepted: Option<u64>,
    /// Set while the relay does not answer.
    pub connection_lost: Option<String>,
    pub selected: usize,
    pub search: String,
    pub searching: bool,
    pub confirm: Option<Confirm>,
    /// The account whose keys the Keys screen shows, and what the relay said of them.
    pub keys_for: Option<String>,
    pub keys: Option<Value>,
    /// Data-protection requests (`requests`), fetched on the Requests screen.
    pub requests: Option<Value>,
    /// Scheduled backups and the last drill (`backup-list`), fetched on the Backups screen.
    pub backups: Option<Value>,
    /// Every alert, newest first (`alerts`), fetched on the Alerts screen.
    pub alerts: Option<Value>,
    /// The restore drill the relay runs for the console (`drill-status`): polled while it runs.
    pub drill: Option<Value>,
    pub form: Option<UserForm>,
    pub edit: Option<EditForm>,
    /// The quota prompt (Mailboxes, `Q`): the account and the figure typed so far.
    pub quota: Option<(String, String)>,
    pub publish: Option<Publish>,
    /// Something shown once (a new password, an installation code): any key closes it.
    pub shown: Option<(String, String)>,
    pub help: bool,
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
            audit: None,
            accepted_per_second: VecDeque::new(),
            p99_micros: VecDeque::new(),
            last_accepted: None,
            connection_lost: None,
            selected: 0,
            search: String::new(),
            searching: false,
            confirm: None,
            keys_for: None,
            keys: None,
            requests: None,
            backups: None,
            alerts: None,
            drill: None,
            form: None,
            edit: None,
            quota: None,
            publish: None,
            shown: None,
            help: false,
            message: None,
            colour,
            quit: false,
        }
    }

    /// Asks the relay for its status; on failure keeps the last one and raises the banner.
    pub fn refresh(&mut self, api: &mut impl AdminApi) {
        match api.call(json!({ "command": "status" })) {
            Ok(status) => {
                self.connection_lost = None;
                self.take_status(status);
            }
            Err(why) => self.connection_lost = Some(why),
        }
        if self.drill.as_ref().is_some_and(|d| d["running"] == true) {
            match api.call(json!({ "command": "drill-status" })) {
                Ok(drill) => {
                    if drill["running"] != true {
                        let report = &drill["report"];
                        self.message = Some(if report["ok"] == true {
                            format!(
                                "restore drill passed: first message accepted {:.1} s after the restore began",
                                report["first_accept_seconds"].as_f64().unwrap_or_default()
                            )
                        } else {
                            format!("restore drill FAILED: {}", report["error"].as_str().unwrap_or("see the report"))
                        });
                        if self.screen == Screen::Backups {
                            if let Ok(backups) = api.call(json!({ "command": "backup-list" })) {
                                self.backups = Some(backups);
                            }
                        }
                    }
                    self.drill = Some(drill);
                }
                Err(why) => self.connection_lost = Some(why),
            }
        }
    }

    /// Fetches the audit trail. Only on demand (entering the screen, `r`): reading it is
    /// itself an audited export, so it is not polled.
    pub fn load_audit(&mut self, api: &mut impl AdminApi) {
        // Everything up to tomorrow: the relay's clock decides what "now" is.
        let to = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(u64::MAX, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).saturating_add(86_400_000));
        match api.call(json!({ "command": "audit-export", "from": 0, "to": to })) {
            Ok(entries) => self.audit = Some(entries),
            Err(why) => self.connection_lost = Some(why),
        }
    }

    /// Audit entries shown, newest first: all, or those whose actor, action or object
    /// contains the search.
    pub fn audit_entries(&self) -> Vec<&Value> {
        let needle = self.search.to_lowercase();
        let mut entries: Vec<&Value> = self
            .audit
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|e| {
                needle.is_empty()
                    || ["actor", "action", "object", "detail"].iter().any(|field| {
                        e["entry"][field].as_str().is_some_and(|text| text.to_lowercase().contains(&needle))
                    })
            })
            .collect();
        entries.reverse();
        entries
    }

    pub fn take_status(&mut self, status: Value) {
        let accepted = status["quality"]["accepted_total"].as_u64();
        if let (Some(now), Some(before)) = (accepted, self.last_accepted) {
            self.accepted_per_second.push_back(now.saturating_sub(before));
            while self.accepted_per_second.len() > HISTORY_POINTS_MAX {
                self.accepted_per_second.pop_front();
            }
        }
        self.last_accepted = accepted.or(self.last_accepted);
        if let Some(p99) = status["quality"]["processing_ms"][0]["p99"].as_f64() {
            self.p99_micros.push_back((p99 * 1000.0).round() as u64);
            while self.p99_micros.len() > HISTORY_POINTS_MAX {
                self.p99_micros.pop_front();
            }
        }
        self.status = Some(status);
        self.selected = self.selected.min(self.mailboxes().len().saturating_sub(1));
    }

    /// The mailboxes shown: all, or those whose address contains the search.
    pub fn mailboxes(&self) -> Vec<&Value> {
        let all = self.status.as_ref().and_then(|s| s["mailboxes"].as_array());
        let needle = self.search.to_lowercase();
        all.into_iter()
            .flatten()
            .filter(|m| needle.is_empty() || m["address"].as_str().is_some_and(|a| a.to_lowercase().contains(&needle)))
            .collect()
    }

    /// The requests still open, newest first (the Requests screen's list).
    pub fn open_requests(&self) -> Vec<&Value> {
        let mut open: Vec<&Value> = self
            .requests
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|r| r["closed_at"].is_null())
            .collect();
        open.reverse();
        open
    }

    /// Every alert, newest first (the Alerts screen's list).
    pub fn alert_list(&self) -> Vec<&Value> {
        self.alerts.as_ref().and_then(Value::as_array).into_iter().flatten().collect()
    }

    fn selected_address(&self) -> Option<String> {
        self.mailboxes().get(self.selected).and_then(|m| m["address"].as_str()).map(str::to_owned)
    }

    /// What a key does. Actions that change something go through a confirmation first.
    pub fn key(&mut self, key: KeyEvent, api: &mut impl AdminApi) {
        if key.kind != KeyEventKind::Press {
            return;
        }
        if self.shown.take().is_some() {
            return;
        }
        if let Some(confirm) = self.confirm.take() {
            if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                match api.call(confirm.request.clone()) {
                    Ok(result) => {
                        self.message = Some(format!("{} {}: done", confirm.action, confirm.address));
                        if let Some(file) = result.get("file").and_then(Value::as_str) {
                            let text = format!(
                                "{file}\n{} in {:.1} s",
                                bytes(&result["file_bytes"]),
                                result["seconds"].as_f64().unwrap_or_default()
                            );
                            self.shown = Some((" Backup written ".into(), text));
                        }
                        if let Some(password) = result.get("password").and_then(Value::as_str) {
                            let text = format!(
                                "{}\n\npassword: {password}\n(give it to the user separately)",
                                confirm.address
                            );
                            self.shown = Some((" New password — shown once ".into(), text));
                        }
                        if let Some(issued) = result.get("issued").filter(|i| i.is_object()) {
                            self.shown = Some((" New keys — shown once ".into(), issued_text(issued)));
                            self.keys = Some(result.clone());
                        }
                        if result.get("running") == Some(&Value::Bool(true)) {
                            self.message = Some("restore drill started: its progress shows on this screen".into());
                            self.drill = Some(result.clone());
                        }
                    }
                    Err(why) => self.message = Some(format!("{} {} failed: {why}", confirm.action, confirm.address)),
                }
                self.refresh(api);
                if matches!(self.screen, Screen::Requests | Screen::Backups | Screen::Alerts) {
                    self.load_screen(api);
                }
            } else {
                self.message = Some("cancelled".into());
            }
            return;
        }
        if let Some(mut edit) = self.edit.take() {
            match key.code {
                KeyCode::Esc => self.message = Some("cancelled".into()),
                KeyCode::Enter if edit.field + 1 < EditForm::LABELS.len() => {
                    edit.field += 1;
                    self.edit = Some(edit);
                }
                KeyCode::Enter => {
                    let [first_name, last_name, contact_email] = edit.values.clone();
                    let request = json!({ "command": "user-edit", "address": edit.address,
                        "first_name": first_name.trim(), "last_name": last_name.trim(), "contact_email": contact_email.trim() });
                    self.message = Some(match api.call(request) {
                        Ok(_) => format!("{} saved", edit.address),
                        Err(why) => format!("{} not changed: {why}", edit.address),
                    });
                    self.refresh(api);
                }
                KeyCode::Backspace => {
                    edit.values[edit.field].pop();
                    self.edit = Some(edit);
                }
                KeyCode::Char(c) => {
                    edit.values[edit.field].push(c);
                    self.edit = Some(edit);
                }
                _ => self.edit = Some(edit),
            }
            return;
        }
        if let Some(publish) = self.publish.take() {
            self.publish_key(publish, key.code);
            return;
        }
        if let Some((address, mut typed)) = self.quota.take() {
            match key.code {
                KeyCode::Esc => self.message = Some("cancelled".into()),
                KeyCode::Enter => {
                    let request = match typed.parse::<u64>() {
                        Ok(mb) => json!({ "command": "user-quota", "address": address, "quota_mb": mb }),
                        Err(_) => {
                            self.message = Some(format!("{typed:?} is not a number of MB"));
                            return;
                        }
                    };
                    self.message = Some(match api.call(request) {
                        Ok(_) => format!("quota of {address}: {typed} MB"),
                        Err(why) => format!("quota of {address} not changed: {why}"),
                    });
                    self.refresh(api);
                }
                KeyCode::Backspace => {
                    typed.pop();
                    self.quota = Some((address, typed));
                }
                KeyCode::Char(c) if c.is_ascii_digit() => {
                    typed.push(c);
                    self.quota = Some((address, typed));
                }
                _ => self.quota = Some((address, typed)),
            }
            return;
        }
        if let Some(mut form) = self.form.take() {
            match key.code {
                KeyCode::Esc => self.message = Some("cancelled".into()),
                KeyCode::Enter if form.field + 1 < UserForm::LABELS.len() => {
                    form.field += 1;
                    self.form = Some(form);
                }
                KeyCode::Enter => self.create_user(&form, api),
                KeyCode::Backspace => {
                    form.values[form.field].pop();
                    self.form = Some(form);
                }
                KeyCode::Char(c) => {
                    form.values[form.field].push(c);
                    self.form = Some(form);
                }
                _ => self.form = Some(form),
            }
            return;
        }
        if self.searching {
            match key.code {
                KeyCode::Esc => {
                    self.searching = false;
                    self.search.clear();
                }
                KeyCode::Enter => self.searching = false,
                KeyCode::Backspace => {
                    self.search.pop();
                }
                KeyCode::Char(c) => self.search.push(c),
                _ => {}
            }
            self.selected = 0;
            return;
        }
        if self.help {
            self.help = false;
            return;
        }
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Tab => {
                let next = Screen::ALL[(self.screen.index() + 1) % Screen::ALL.len()];
                self.show(next, api);
            }
            KeyCode::BackTab => {
                let previous = Screen::ALL[(self.screen.index() + Screen::ALL.len() - 1) % Screen::ALL.len()];
                self.show(previous, api);
            }
            KeyCode::Char(c @ '1'..='7') => {
                let screen = Screen::ALL[usize::from(c as u8 - b'1')];
                self.show(screen, api);
            }
            KeyCode::Char('a') if self.screen == Screen::Mailboxes => {
                self.form = Some(UserForm { values: Default::default(), field: 0 });
            }
            KeyCode::Char('c') if self.screen == Screen::Requests => {
                let open: Vec<&Value> = self.open_requests();
                if let Some(request) = open.get(self.selected) {
                    let seq = request["seq"].as_u64().unwrap_or_default();
                    let address = request["address"].as_str().unwrap_or_default().to_owned();
                    self.confirm = Some(Confirm {
                        action: format!("close {} request {seq} of", request["kind"].as_str().unwrap_or_default()),
                        address,
                        request: json!({ "command": "rights-request-close", "seq": seq }),
                    });
                }
            }
            KeyCode::Char('a') if self.screen == Screen::Alerts => {
                let Some(alert) = self.alert_list().get(self.selected).map(|a| (*a).clone()) else {
                    return;
                };
                let seq = alert["seq"].as_u64().unwrap_or_default();
                if !alert["acknowledged_at"].is_null() {
                    self.message = Some(format!("alert {seq} is acknowledged already"));
                    return;
                }
                self.message = Some(match api.call(json!({ "command": "alert-acknowledge", "seq": seq })) {
                    Ok(_) => format!("alert {seq} acknowledged"),
                    Err(why) => format!("alert {seq} not acknowledged: {why}"),
                });
                self.refresh(api);
                self.load_screen(api);
            }
            KeyCode::Char('d') if self.screen == Screen::Backups => {
                let newest = self
                    .backups
                    .as_ref()
                    .and_then(|b| b["backups"].as_array())
                    .and_then(|list| list.iter().max_by_key(|b| b["at"].as_u64()))
                    .and_then(|b| b["file"].as_str())
                    .unwrap_or("the newest backup")
                    .to_owned();
                self.confirm = Some(Confirm {
                    action: "run a restore drill (scratch relay on spare local ports) from".into(),
                    address: newest,
                    request: json!({ "command": "drill-start", "from": null }),
                });
            }
            KeyCode::Char('b') if self.screen == Screen::Backups => {
                let request = json!({ "command": "backup", "to": null, "key_file": null, "compact": null });
                self.confirm = Some(Confirm {
                    action: "take a backup into".into(),
                    address: self
                        .backups
                        .as_ref()
                        .and_then(|b| b["folder"].as_str())
                        .unwrap_or("the backup folder")
                        .to_owned(),
                    request,
                });
            }
            KeyCode::Char('T') if self.screen == Screen::Dashboard => {
                self.publish = Some(Publish::TermsFile(String::new()));
            }
            KeyCode::Char('A') if self.screen == Screen::Dashboard => {
                self.publish = Some(Publish::AnnouncementSubject(String::new()));
            }
            KeyCode::Char('E') if self.screen == Screen::Mailboxes => {
                if let Some(mailbox) = self.mailboxes().get(self.selected) {
                    let text = |field: &str| mailbox[field].as_str().unwrap_or_default().to_owned();
                    self.edit = Some(EditForm {
                        address: text("address"),
                        values: [text("first_name"), text("last_name"), text("contact_email")],
                        field: 0,
                    });
                }
            }
            KeyCode::Char('Q') if self.screen == Screen::Mailboxes => {
                if let Some(address) = self.selected_address() {
                    self.quota = Some((address, String::new()));
                }
            }
            KeyCode::Char('P') if self.screen == Screen::Mailboxes => {
                if let Some(address) = self.selected_address() {
                    let request = json!({ "command": "user-reset-password", "address": address });
                    self.confirm = Some(Confirm { action: "reset the password of".into(), address, request });
                }
            }
            KeyCode::Enter | KeyCode::Char('K') if self.screen == Screen::Mailboxes => {
                if let Some(address) = self.selected_address() {
                    self.keys_for = Some(address);
                    self.show(Screen::Keys, api);
                }
            }
            KeyCode::Char(c @ ('n' | 'x')) if self.screen == Screen::Keys => {
                if let Some(address) = self.keys_for.clone() {
                    let (action, request) = if c == 'n' {
                        ("renew the keys of", json!({ "command": "keys", "address": address, "action": "renew" }))
                    } else {
                        (
                            "REVOKE (compromised) and re-issue the keys of",
                            json!({ "command": "keys", "address": address, "action": { "revoke": { "reason": "compromised" } } }),
                        )
                    };
                    self.confirm = Some(Confirm { action: action.into(), address, request });
                }
            }
            KeyCode::Char('/') => {
                if self.screen == Screen::Dashboard {
                    self.screen = Screen::Mailboxes;
                }
                self.searching = true;
            }
            KeyCode::Down | KeyCode::Char('j') => {
                let rows = match self.screen {
                    Screen::Requests => self.open_requests().len(),
                    Screen::Alerts => self.alert_list().len(),
                    _ => self.mailboxes().len(),
                };
                self.selected = (self.selected + 1).min(rows.saturating_sub(1));
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Char(c @ ('u' | 's' | 'e')) if self.screen == Screen::Mailboxes => {
                let action = match c {
                    'u' => "unblock",
                    's' => "suspend",
                    _ => "enable",
                };
                if let Some(address) = self.selected_address() {
                    let request = json!({ "command": "user-state", "address": address, "action": action });
                    self.confirm = Some(Confirm { action: action.into(), address, request });
                }
            }
            KeyCode::Char('r') => {
                self.refresh(api);
                self.load_screen(api);
            }
            _ => {}
        }
    }

    fn show(&mut self, screen: Screen, api: &mut impl AdminApi) {
        if screen == Screen::Keys && self.keys_for.is_none() {
            self.keys_for = self.selected_address();
        }
        self.screen = screen;
        if screen != Screen::Mailboxes {
            self.selected = 0;
        }
        self.load_screen(api);
    }

    /// What a screen fetches when shown (or on `r`).
    fn load_screen(&mut self, api: &mut impl AdminApi) {
        match self.screen {
            Screen::Audit => self.load_audit(api),
            Screen::Keys => {
                if let Some(address) = &self.keys_for {
                    match api.call(json!({ "command": "keys", "address": address, "action": "show" })) {
                        Ok(keys) => self.keys = Some(keys),
                        Err(why) => self.message = Some(format!("keys of {address}: {why}")),
                    }
                }
            }
            Screen::Requests => match api.call(json!({ "command": "rights-requests" })) {
                Ok(requests) => self.requests = Some(requests),
                Err(why) => self.connection_lost = Some(why),
            },
            Screen::Alerts => match api.call(json!({ "command": "alerts" })) {
                Ok(alerts) => self.alerts = Some(alerts),
                Err(why) => self.message = Some(format!("alerts: {why}")),
            },
            Screen::Backups => {
                match api.call(json!({ "command": "backup-list" })) {
                    Ok(backups) => self.backups = Some(backups),
                    Err(why) => self.connection_lost = Some(why),
                }
                if let Ok(drill) = api.call(json!({ "command": "drill-status" })) {
                    self.drill = Some(drill);
                }
            }
            Screen::Dashboard | Screen::Mailboxes => {}
        }
    }

    /// A key while publishing: typing, then reading the file and asking for confirmation.
    fn publish_key(&mut self, publish: Publish, code: KeyCode) {
        fn typed(publish: &mut Publish) -> &mut String {
            match publish {
                Publish::TermsFile(path) | Publish::AnnouncementFile { path, .. } => path,
                Publish::AnnouncementSubject(subject) => subject,
            }
        }
        let mut publish = publish;
        match code {
            KeyCode::Esc => self.message = Some("cancelled".into()),
            KeyCode::Char(c) => {
                typed(&mut publish).push(c);
                self.publish = Some(publish);
            }
            KeyCode::Backspace => {
                typed(&mut publish).pop();
                self.publish = Some(publish);
            }
            KeyCode::Enter => match publish {
                Publish::AnnouncementSubject(subject) => {
                    self.publish = Some(Publish::AnnouncementFile { subject, path: String::new() });
                }
                Publish::TermsFile(path) => match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        self.confirm = Some(Confirm {
                            action: "publish as the new terms of use the text of".into(),
                            address: path,
                            request: json!({ "command": "terms-publish", "text": text }),
                        })
                    }
                    Err(error) => self.message = Some(format!("cannot read {path}: {error}")),
                },
                Publish::AnnouncementFile { subject, path } => match std::fs::read_to_string(&path) {
                    Ok(body) => {
                        self.confirm = Some(Confirm {
                            action: format!("send to every user the announcement \"{subject}\" in"),
                            address: path,
                            request: json!({ "command": "announce", "subject": subject, "body": body }),
                        })
                    }
                    Err(error) => self.message = Some(format!("cannot read {path}: {error}")),
                },
            },
            _ => self.publish = Some(publish),
        }
    }

    fn create_user(&mut self, form: &UserForm, api: &mut impl AdminApi) {
        let [address, first_name, last_name, contact_email] = form.values.clone();
        let request = json!({
            "command": "user-add",
            "address": address.trim(),
            "first_name": first_name.trim(),
            "last_name": last_name.trim(),
            "contact_email": contact_email.trim(),
            "quota_mb": null,
        });
        match api.call(request) {
            Ok(created) => {
                let text = format!(
                    "{}\n\npassword: {}\n{}",
                    created["address"].as_str().unwrap_or_default(),
                    created["password"].as_str().unwrap_or_default(),
                    issued_text(&created)
                );
                self.shown = Some((" New account — shown once ".into(), text));
                self.message = Some(format!("created {}", address.trim()));
                self.refresh(api);
            }
            Err(why) => self.message = Some(format!("not created: {why}")),
        }
    }

    fn style(&self, style: Style) -> Style {
        if self.colour {
            style
        } else {
            Style::default()
        }
    }
}

/// Draws the whole console from `app`.
pub fn render(app: &App, frame: &mut Frame<'_>) {
    let area = frame.area();
    let [banner, body, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)]).areas(area);
    let open_alerts = app.status.as_ref().and_then(|s| s["open_alerts"].as_array()).map_or(0, Vec::len);
    let tabs = |name: fn(Screen) -> &'static str| -> String {
        Screen::ALL
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let label = match *s {
                    Screen::Alerts if open_alerts > 0 => format!("{} {} {open_alerts}!", i + 1, name(*s)),
                    _ => format!("{} {}", i + 1, name(*s)),
                };
                if *s == app.screen {
                    format!(" {label} ")
                } else {
                    format!("[{label}]")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut title = tabs(Screen::name);
    if title.chars().count() + 9 > usize::from(area.width) {
        title = tabs(Screen::short_name);
    }
    let header = match &app.connection_lost {
        Some(why) => Line::from(Span::styled(
            format!(" CONNECTION TO THE RELAY LOST — retrying every second ({why})"),
            app.style(Style::default().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD)),
        )),
        None => Line::from(vec![
            Span::styled(" Caducée ", app.style(Style::default().add_modifier(Modifier::BOLD))),
            Span::raw(title.clone()),
        ]),
    };
    frame.render_widget(Paragraph::new(header), banner);
    match app.screen {
        Screen::Dashboard => render_dashboard(app, frame, body),
        Screen::Mailboxes => render_mailboxes(app, frame, body),
        Screen::Keys => render_keys(app, frame, body),
        Screen::Requests => render_requests(app, frame, body),
        Screen::Backups => render_backups(app, frame, body),
        Screen::Audit => render_audit(app, frame, body),
        Screen::Alerts => render_alerts(app, frame, body),
    }
    let keys = if app.searching {
        format!(" search: {}▏ Enter keep · Esc clear", app.search)
    } else if let Some(form) = &app.form {
        format!(" {}: {}▏ Enter next · Esc cancel", UserForm::LABELS[form.field], form.values[form.field])
    } else if let Some(edit) = &app.edit {
        format!(" {}: {}▏ Enter next · Esc cancel", EditForm::LABELS[edit.field], edit.values[edit.field])
    } else if let Some(publish) = &app.publish {
        match publish {
            Publish::TermsFile(path) => format!(" terms of use, text file: {path}▏ Enter · Esc cancel"),
            Publish::AnnouncementSubject(subject) => format!(" announcement subject: {subject}▏ Enter · Esc cancel"),
            Publish::AnnouncementFile { path, .. } => format!(" announcement, text file: {path}▏ Enter · Esc cancel"),
        }
    } else if let Some((address, typed)) = &app.quota {
        format!(" quota of {address} in MB: {typed}▏ Enter set · Esc cancel")
    } else if let Some(message) = &app.message {
        format!(" {message} · ? help · q quit")
    } else {
        match app.screen {
            Screen::Dashboard => " Tab screens · / search · T terms of use · A announcement · r · ? · q".to_owned(),
            Screen::Mailboxes => {
                " ↑↓ · / · a add · E edit · Enter keys · u s e · Q quota · P password · ? · q".to_owned()
            }
            Screen::Keys => " n renew · x revoke (compromised) · r reload · ? help · q quit".to_owned(),
            Screen::Requests => " ↑↓ move · c close the request · r reload · ? help · q quit".to_owned(),
            Screen::Backups => " b back up now · d restore drill · r reload · ? help · q quit".to_owned(),
            Screen::Audit => " / filter by actor, action or object · r reload · ? help · q quit".to_owned(),
            Screen::Alerts => " ↑↓ move · a acknowledge · r reload · ? help · q quit".to_owned(),
        }
    };
    frame.render_widget(Paragraph::new(keys), footer);
    if let Some((title, text)) = &app.shown {
        popup(app, frame, area, title, &format!("{text}\n\nany key: close"));
    } else if let Some(confirm) = &app.confirm {
        let text = format!("{} {}?\n\ny: yes   any other key: no", confirm.action, confirm.address);
        popup(app, frame, area, " Confirm ", &text);
    } else if let Some(edit) = &app.edit {
        let text: String = EditForm::LABELS
            .iter()
            .zip(&edit.values)
            .enumerate()
            .map(|(i, (label, value))| format!("{} {label}: {value}\n", if i == edit.field { "▶" } else { " " }))
            .collect();
        popup(app, frame, area, &format!(" {} ", edit.address), &text);
    } else if let Some(form) = &app.form {
        let text: String = UserForm::LABELS
            .iter()
            .zip(&form.values)
            .enumerate()
            .map(|(i, (label, value))| format!("{} {label}: {value}\n", if i == form.field { "▶" } else { " " }))
            .collect();
        popup(app, frame, area, " New account ", &text);
    } else if app.help {
        popup(app, frame, area, " Keys ", HELP);
    }
}

const HELP: &str = "Tab, 1…7    switch screens\n\
↑ ↓ j k     move in the list\n\
/           search mailboxes by address\n\
a E         add an account, edit its names and contact (Mailboxes)\n\
Enter       the selected account's keys\n\
u s e       unblock, suspend, enable the selected mailbox\n\
Q P         set the quota, reset the password\n\
T A         publish terms of use, send an announcement\n\
b d         back up now, run a restore drill (Backups)\n\
n x         renew, revoke the keys (Keys)\n\
a           acknowledge the selected alert (Alerts)\n\
r           refresh now (every second anyway)\n\
q, Esc      quit\n\n\
Every change asks first, and is audited.";

fn popup(app: &App, frame: &mut Frame<'_>, area: Rect, title: &str, text: &str) {
    let width = area.width.saturating_sub(4).min(64);
    let height = (text.lines().count() as u16 + 2).min(area.height);
    let x = area.x + (area.width - width) / 2;
    let y = area.y + (area.height - height) / 2;
    let rect = Rect::new(x, y, width, height);
    frame.render_widget(Clear, rect);
    let block =
        Block::default().borders(Borders::ALL).title(title).border_style(app.style(Style::default().fg(Color::Yellow)));
    frame.render_widget(Paragraph::new(text.to_owned()).block(block).wrap(Wrap { trim: false }), rect);
}

fn number(value: &Value) -> String {
    value.as_u64().map_or("—".to_owned(), |n| n.to_string())
}

/// Sizes in decimal units, as quotas are given (50 MB).
fn bytes(value: &Value) -> String {
    let Some(n) = value.as_u64() else { return "—".into() };
    match n {
        n if n >= 1_000_000_000 => format!("{:.1} GB", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} kB", n as f64 / 1e3),
        n => format!("{n} B"),
    }
}

/// `16:02 blocked   blocked for mass mailing: … (again ×3)`
fn alert_line(alert: &Value) -> String {
    let repeats = alert["repeats"].as_u64().unwrap_or_default();
    format!(
        "{} {:<19} {}{}",
        when(&alert["raised_at"]),
        alert["kind"].as_str().unwrap_or_default(),
        alert["text"].as_str().unwrap_or_default(),
        if repeats > 0 { format!(" (again ×{repeats})") } else { String::new() }
    )
}

fn render_dashboard(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let Some(status) = &app.status else {
        frame.render_widget(Paragraph::new(" waiting for the relay's first status…"), area);
        return;
    };
    let [figures, spark, bottom] =
        Layout::vertical([Constraint::Length(8), Constraint::Length(5), Constraint::Min(3)]).areas(area);
    let quality = &status["quality"];
    let window = &quality["processing_ms"][0];
    let ms = |v: &Value| v.as_f64().map_or("—".to_owned(), |f| format!("{f:.2} ms"));
    let load = &quality["load_average"];
    let drill = match status["last_drill"]["ok"].as_bool() {
        Some(true) => format!(
            "passed, first 250 at {:.1} s",
            status["last_drill"]["first_accept_seconds"].as_f64().unwrap_or_default()
        ),
        Some(false) => "FAILED — see caducee status".to_owned(),
        None => "never run".to_owned(),
    };
    let lines = vec![
        Line::from(format!(
            " Stored: {} messages, {}    Mailboxes: {}",
            number(&status["stored_messages"]),
            bytes(&status["stored_bytes"]),
            number(&status["mailbox_count"])
        )),
        Line::from(format!(
            " Processing (5 min): {} messages, p50 {}, p99 {}, max {}",
            number(&window["count"]),
            ms(&window["p50"]),
            ms(&window["p99"]),
            ms(&window["max"])
        )),
        Line::from(format!(
            " Accepted {}, collected {} since start",
            number(&quality["accepted_total"]),
            number(&quality["collected_total"])
        )),
        Line::from(format!(
            " Store file {}, {} free    Load {} {} {}",
            bytes(&quality["store_file_bytes"]),
            bytes(&quality["store_free_bytes"]),
            load[0],
            load[1],
            load[2]
        )),
        Line::from(format!(
            " Notices waiting: {}    Restore drill: {drill}",
            status["notices_waiting"].as_array().map_or(0, Vec::len)
        )),
    ];
    let block = Block::default().borders(Borders::ALL).title(" Relay ");
    frame.render_widget(Paragraph::new(lines).block(block), figures);
    let [rate_area, latency_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(spark);
    let data: Vec<u64> = app.accepted_per_second.iter().copied().collect();
    let last = data.last().copied().unwrap_or(0);
    let sparkline = Sparkline::default()
        .block(Block::default().borders(Borders::ALL).title(format!(" Accepted/s: {last} ")))
        .data(&data)
        .style(app.style(Style::default().fg(Color::Green)));
    frame.render_widget(sparkline, rate_area);
    let p99: Vec<u64> = app.p99_micros.iter().copied().collect();
    let last = p99.last().map_or("—".to_owned(), |us| format!("{:.2} ms", *us as f64 / 1000.0));
    let sparkline = Sparkline::default()
        .block(Block::default().borders(Borders::ALL).title(format!(" p99 (5 min): {last} ")))
        .data(&p99)
        .style(app.style(Style::default().fg(Color::Yellow)));
    frame.render_widget(sparkline, latency_area);
    let open = status["open_alerts"].as_array().map_or(&[][..], Vec::as_slice);
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
    frame.render_widget(Paragraph::new(text).block(block), bottom);
}

fn render_mailboxes(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let mailboxes = app.mailboxes();
    let [table_area, detail] = Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(area);
    let rows: Vec<Row> = mailboxes
        .iter()
        .map(|m| {
            let state = &m["state"];
            let mut words = Vec::new();
            if let Some(reason) = state["disabled"][0].as_str() {
                words.push(format!("disabled ({reason})"));
            }
            if state["blocked"].is_object() {
                words.push("BLOCKED".to_owned());
            }
            if state["closed_at"].is_number() {
                words.push("closed".to_owned());
            }
            if words.is_empty() {
                words.push("receiving".to_owned());
            }
            Row::new(vec![
                Cell::from(m["address"].as_str().unwrap_or_default().to_owned()),
                Cell::from(format!("{} / {}", bytes(&m["used_bytes"]), bytes(&m["quota_bytes"]))),
                Cell::from(number(&m["messages"])),
                Cell::from(match m["last_collection"].as_u64() {
                    Some(_) => when(&m["last_collection"]).get(5..).unwrap_or_default().to_owned(),
                    None => "never".to_owned(),
                }),
                Cell::from(words.join(", ")),
            ])
        })
        .collect();
    let title = if app.search.is_empty() {
        format!(" Mailboxes ({}) ", mailboxes.len())
    } else {
        format!(" Mailboxes matching \"{}\" ({}) ", app.search, mailboxes.len())
    };
    let table = Table::new(
        rows,
        [
            Constraint::Min(24),
            Constraint::Length(18),
            Constraint::Length(6),
            Constraint::Length(11),
            Constraint::Min(12),
        ],
    )
    .header(
        Row::new(vec!["Address", "Used / quota", "Msgs", "Collected", "State"])
            .style(app.style(Style::default().add_modifier(Modifier::BOLD))),
    )
    .block(Block::default().borders(Borders::ALL).title(title))
    .row_highlight_style(app.style(Style::default().add_modifier(Modifier::REVERSED)))
    .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected((!mailboxes.is_empty()).then_some(app.selected));
    frame.render_stateful_widget(table, table_area, &mut state);
    let Some(selected) = mailboxes.get(app.selected) else {
        return;
    };
    let used = selected["used_bytes"].as_u64().unwrap_or(0) as f64;
    let quota = selected["quota_bytes"].as_u64().unwrap_or(1).max(1) as f64;
    let gauge = Gauge::default()
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" {} — quota ", selected["address"].as_str().unwrap_or_default())),
        )
        .gauge_style(app.style(Style::default().fg(Color::Cyan)))
        .ratio((used / quota).clamp(0.0, 1.0));
    frame.render_widget(gauge, detail);
}

/// A new edition of keys, as the administrator hands it over.
fn issued_text(issued: &Value) -> String {
    format!(
        "keys: edition {} {}\ninstallation code: {}\nbundle: {}\n(hand the bundle and the code over separately)",
        number(&issued["edition"]),
        issued["fingerprint"].as_str().unwrap_or_default(),
        issued["installation_code"].as_str().unwrap_or_default(),
        issued["bundle"].as_str().unwrap_or_default()
    )
}

fn render_keys(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let Some(address) = &app.keys_for else {
        frame.render_widget(Paragraph::new(" select an account on the Mailboxes screen, then Enter"), area);
        return;
    };
    let editions = app.keys.as_ref().map(|k| k["certificates"].clone()).unwrap_or(Value::Null);
    let rows: Vec<Row> = editions
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .map(|c| {
            Row::new(vec![
                Cell::from(number(&c["edition"])),
                Cell::from(c["fingerprint"].as_str().unwrap_or_default().to_owned()),
                Cell::from(c["status"].as_str().unwrap_or_default().to_owned()),
                Cell::from(when(&c["expires_at"]).chars().take(10).collect::<String>()),
            ])
        })
        .collect();
    let table =
        Table::new(rows, [Constraint::Length(7), Constraint::Min(40), Constraint::Length(13), Constraint::Length(10)])
            .header(
                Row::new(vec!["Edition", "Fingerprint", "State", "Expires"])
                    .style(app.style(Style::default().add_modifier(Modifier::BOLD))),
            )
            .block(Block::default().borders(Borders::ALL).title(format!(" Keys of {address} ")));
    frame.render_widget(table, area);
}

fn render_backups(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let Some(backups) = &app.backups else {
        frame.render_widget(Paragraph::new(" reading the backup folder…"), area);
        return;
    };
    let [summary, list] = Layout::vertical([Constraint::Length(5), Constraint::Min(3)]).areas(area);
    let drill = &backups["last_drill"];
    let drill = match drill["ok"].as_bool() {
        Some(true) => format!(
            "passed {}, first 250 after {:.1} s",
            when(&drill["started_at"]),
            drill["first_accept_seconds"].as_f64().unwrap_or_default()
        ),
        Some(false) => format!("FAILED {}: see caducee status", when(&drill["started_at"])),
        None => "never run (caducee drill)".to_owned(),
    };
    let folder = backups["folder"].as_str().map_or_else(
        || "no [backup] folder configured: scheduled backups are off".to_owned(),
        |f| format!("{f} (keep {} daily, {} weekly)", backups["keep_daily"], backups["keep_weekly"]),
    );
    let mut lines = vec![Line::from(format!(" Folder: {folder}")), Line::from(format!(" Restore drill: {drill}"))];
    if let Some(running) = app.drill.as_ref().filter(|d| d["running"] == true) {
        let step = running["step"].as_u64().unwrap_or(1);
        let steps = running["steps"].as_u64().unwrap_or(5).max(1);
        let filled = usize::try_from(step.saturating_sub(1) * 20 / steps).unwrap_or(0);
        lines.push(Line::from(Span::styled(
            format!(
                " Drill running [{}{}] step {step}/{steps}, {:.1} s: {}…",
                "█".repeat(filled),
                "░".repeat(20 - filled),
                running["elapsed_seconds"].as_f64().unwrap_or_default(),
                running["label"].as_str().unwrap_or_default()
            ),
            app.style(Style::default().fg(Color::Yellow)),
        )));
    }
    frame
        .render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" Backups ")), summary);
    let rows: Vec<Row> = backups["backups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            Row::new(vec![
                Cell::from(when(&b["at"])),
                Cell::from(bytes(&b["bytes"])),
                Cell::from(b["file"].as_str().unwrap_or_default().to_owned()),
            ])
        })
        .collect();
    let count = rows.len();
    let table = Table::new(rows, [Constraint::Length(16), Constraint::Length(10), Constraint::Min(20)])
        .header(
            Row::new(vec!["Taken (UTC)", "Size", "File"])
                .style(app.style(Style::default().add_modifier(Modifier::BOLD))),
        )
        .block(Block::default().borders(Borders::ALL).title(format!(" Scheduled backups ({count}) ")));
    frame.render_widget(table, list);
}

fn render_requests(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let open = app.open_requests();
    let rows: Vec<Row> = open
        .iter()
        .map(|r| {
            Row::new(vec![
                Cell::from(number(&r["seq"])),
                Cell::from(when(&r["at"])),
                Cell::from(r["kind"].as_str().unwrap_or_default().to_owned()),
                Cell::from(r["address"].as_str().unwrap_or_default().to_owned()),
                Cell::from(r["text"].as_str().unwrap_or_default().replace('\n', " ")),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Length(16),
            Constraint::Length(13),
            Constraint::Length(24),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new(vec!["#", "Filed (UTC)", "Request", "From", "Text"])
            .style(app.style(Style::default().add_modifier(Modifier::BOLD))),
    )
    .block(Block::default().borders(Borders::ALL).title(format!(" Open data-protection requests ({}) ", open.len())))
    .row_highlight_style(app.style(Style::default().add_modifier(Modifier::REVERSED)))
    .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected((!open.is_empty()).then_some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

/// `2026-11-26 02:30` (UTC) from milliseconds since the epoch.
fn when(millis: &Value) -> String {
    millis
        .as_u64()
        .and_then(|ms| i64::try_from(ms).ok())
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or("—".to_owned(), |at| at.format("%Y-%m-%d %H:%M").to_string())
}

fn render_alerts(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let alerts = app.alert_list();
    let open = alerts.iter().filter(|a| a["acknowledged_at"].is_null()).count();
    let rows: Vec<Row> = alerts
        .iter()
        .map(|a| {
            let state = match a["acknowledged_by"].as_str() {
                Some(by) => format!("ack. by {by}"),
                None => "OPEN".to_owned(),
            };
            let repeats = a["repeats"].as_u64().unwrap_or_default();
            let row = Row::new(vec![
                Cell::from(number(&a["seq"])),
                Cell::from(when(&a["raised_at"]).get(5..).unwrap_or_default().to_owned()),
                Cell::from(format!(
                    "{}{}",
                    a["text"].as_str().unwrap_or_default(),
                    if repeats > 0 { format!(" (again ×{repeats})") } else { String::new() }
                )),
                Cell::from(state),
            ]);
            if a["acknowledged_at"].is_null() {
                row.style(app.style(Style::default().fg(Color::Red)))
            } else {
                row
            }
        })
        .collect();
    let table =
        Table::new(rows, [Constraint::Length(4), Constraint::Length(11), Constraint::Min(20), Constraint::Length(16)])
            .header(
                Row::new(vec!["#", "UTC", "What", "State"])
                    .style(app.style(Style::default().add_modifier(Modifier::BOLD))),
            )
            .block(Block::default().borders(Borders::ALL).title(format!(" Alerts: {open} open of {} ", alerts.len())))
            .row_highlight_style(app.style(Style::default().add_modifier(Modifier::REVERSED)))
            .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected((!alerts.is_empty()).then_some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

fn render_audit(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let entries = app.audit_entries();
    let rows: Vec<Row> = entries
        .iter()
        .map(|e| {
            let entry = &e["entry"];
            let text = |field: &str| entry[field].as_str().unwrap_or_default().to_owned();
            Row::new(vec![
                Cell::from(number(&e["seq"])),
                Cell::from(when(&entry["at"])),
                Cell::from(text("actor")),
                Cell::from(text("action")),
                Cell::from(format!("{} {}", text("object"), text("detail")).trim_end().to_owned()),
            ])
        })
        .collect();
    let title = if app.search.is_empty() {
        format!(" Audit trail, newest first ({}) ", entries.len())
    } else {
        format!(" Audit entries matching \"{}\" ({}) ", app.search, entries.len())
    };
    let table = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Length(16),
            Constraint::Length(10),
            Constraint::Length(7),
            Constraint::Min(20),
        ],
    )
    .header(
        Row::new(vec!["#", "When (UTC)", "Who", "Action", "What"])
            .style(app.style(Style::default().add_modifier(Modifier::BOLD))),
    )
    .block(Block::default().borders(Borders::ALL).title(title));
    frame.render_widget(table, area);
}

/// The terminal loop: refresh every second, keys in between, until `q`.
pub fn run(mut api: impl AdminApi) -> std::io::Result<()> {
    let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut app = App::new(colour);
    app.refresh(&mut api);
    // `init` restores the terminal on panic as well as through `restore` below.
    let mut terminal = ratatui::init();
    let result = (|| {
        let mut next_refresh = Instant::now() + REFRESH;
        while !app.quit {
            terminal.draw(|frame| render(&app, frame))?;
            let wait = next_refresh.saturating_duration_since(Instant::now());
            if event::poll(wait)? {
                if let Event::Key(key) = event::read()? {
                    app.key(key, &mut api);
                }
            }
            if Instant::now() >= next_refresh {
                app.refresh(&mut api);
                next_refresh = Instant::now() + REFRESH;
            }
        }
        Ok(())
    })();
    ratatui::restore();
    result
}
