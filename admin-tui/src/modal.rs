//! What takes the keys before the screen does: a confirmation, a form, a prompt, something
//! shown once, the help, the search. One [`Modal`] at most, held by the
//! [`App`]; its keys are handled here, and it is drawn over the screen (a popup) or in
//! the footer (a prompt).

use caducee_admin_protocol::{
    call, Announce, BackupDone, DirectoryFields, DrillState, KeysReport, PasswordReset, Request, TermsPublish,
    Transport, UserAdd, UserEdit, UserQuota,
};
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::screens::keys::issued_text;
use crate::screens::{bytes, Screen};
use crate::{shown, App};

/// The one thing, if any, that takes the keys before the screen.
#[derive(Debug, Clone)]
pub enum Modal {
    /// An action waiting for the administrator's `y`.
    Confirm(Confirm),
    /// The new-account form (Mailboxes, `a`).
    NewAccount(UserForm),
    /// The account-editing form (Mailboxes, `E`).
    EditAccount(EditForm),
    /// The quota prompt (Mailboxes, `Q`).
    Quota(QuotaPrompt),
    /// Publishing terms of use or an announcement (Dashboard, `T`, `A`).
    Publish(Publish),
    /// Something shown once (a new password, an installation code): any key closes it.
    ShownOnce { title: String, text: String },
    /// The keys of every screen (`?`): any key closes it.
    Help,
    /// Typing the search (`/`) that narrows the mailboxes and the audit trail.
    Search,
}

/// An action waiting for the administrator's `y`: what it is, on whom, and the admin
/// request that carries it out.
#[derive(Debug, Clone)]
pub struct Confirm {
    pub action: String,
    pub address: String,
    /// Boxed: the largest requests (a new account with its directory entry) would make
    /// every modal as large.
    pub request: Box<Request>,
}

/// What the reply to a confirmed request brings to show.
enum Confirmed {
    /// Nothing beyond "done".
    Done,
    BackupWritten(BackupDone),
    Password(PasswordReset),
    Keys(KeysReport),
    Drill(DrillState),
}

/// Sends a confirmed request and reads its reply as its type says.
fn send_confirmed(api: &mut dyn Transport, request: Request) -> Result<Confirmed, String> {
    Ok(match request {
        Request::Backup(request) => Confirmed::BackupWritten(call(api, request)?),
        Request::UserResetPassword(request) => Confirmed::Password(call(api, request)?),
        Request::Keys(request) => Confirmed::Keys(call(api, request)?),
        Request::DrillStart(request) => Confirmed::Drill(call(api, request)?),
        Request::UserState(request) => call(api, request).map(|_| Confirmed::Done)?,
        Request::RightsRequestClose(request) => call(api, request).map(|_| Confirmed::Done)?,
        Request::TermsPublish(request) => call(api, request).map(|_| Confirmed::Done)?,
        Request::Announce(request) => call(api, request).map(|_| Confirmed::Done)?,
        Request::QueueAct(request) => call(api, request).map(|_| Confirmed::Done)?,
        Request::AlertAcknowledge(request) => call(api, request).map(|_| Confirmed::Done)?,
        // The console asks for no other confirmation; such a request is not sent.
        _ => return Err("not a request the console sends after a confirmation".into()),
    })
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// The quota prompt (Mailboxes, `Q`): the account and the figure typed so far, in MB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaPrompt {
    pub address: String,
    pub typed: String,
}

/// Where a key leaves a form.
enum FormStep {
    Typing,
    Cancelled,
    Submitted,
}

/// A key in a form: typing into the current field, Enter to the next one, Enter on the
/// last one submits, Esc cancels.
fn form_key(values: &mut [String], field: &mut usize, code: KeyCode) -> FormStep {
    match code {
        KeyCode::Esc => return FormStep::Cancelled,
        KeyCode::Enter if *field + 1 < values.len() => *field += 1,
        KeyCode::Enter => return FormStep::Submitted,
        KeyCode::Backspace => {
            values[*field].pop();
        }
        KeyCode::Char(c) => values[*field].push(c),
        _ => {}
    }
    FormStep::Typing
}

impl App {
    /// Opens the confirmation of an action on `address`.
    pub(crate) fn confirm(&mut self, action: impl Into<String>, address: String, request: impl Into<Request>) {
        self.modal =
            Some(Modal::Confirm(Confirm { action: action.into(), address, request: Box::new(request.into()) }));
    }

    /// A key while `modal` is open (taken out of the app: it goes back unless the key
    /// closes it).
    pub(crate) fn modal_key(&mut self, modal: Modal, code: KeyCode, api: &mut dyn Transport) {
        match modal {
            Modal::ShownOnce { .. } | Modal::Help => {}
            Modal::Confirm(confirm) if matches!(code, KeyCode::Char('y') | KeyCode::Char('Y')) => {
                self.run_confirmed(confirm, api);
            }
            Modal::Confirm(_) => self.message = Some("cancelled".into()),
            Modal::NewAccount(mut form) => match form_key(&mut form.values, &mut form.field, code) {
                FormStep::Typing => self.modal = Some(Modal::NewAccount(form)),
                FormStep::Cancelled => self.message = Some("cancelled".into()),
                FormStep::Submitted => self.create_user(&form, api),
            },
            Modal::EditAccount(mut form) => match form_key(&mut form.values, &mut form.field, code) {
                FormStep::Typing => self.modal = Some(Modal::EditAccount(form)),
                FormStep::Cancelled => self.message = Some("cancelled".into()),
                FormStep::Submitted => self.save_account(&form, api),
            },
            Modal::Quota(prompt) => self.quota_key(prompt, code, api),
            Modal::Publish(publish) => self.publish_key(publish, code),
            Modal::Search => self.search_key(code),
        }
    }

    /// Sends a confirmed request; shows what the reply brings (a backup written, a new
    /// password, new keys, a drill started), then refreshes.
    fn run_confirmed(&mut self, confirm: Confirm, api: &mut dyn Transport) {
        let Confirm { action, address, request } = confirm;
        match send_confirmed(api, *request) {
            Ok(confirmed) => {
                self.message = Some(format!("{action} {address}: done"));
                self.take_confirmed_reply(&address, confirmed);
            }
            Err(why) => self.message = Some(format!("{action} {address} failed: {why}")),
        }
        self.refresh(api);
        if matches!(self.screen, Screen::Requests | Screen::Backups | Screen::Alerts | Screen::Peers) {
            self.load_screen(api);
        }
    }

    fn take_confirmed_reply(&mut self, address: &str, confirmed: Confirmed) {
        match confirmed {
            Confirmed::Done => {}
            Confirmed::BackupWritten(done) => {
                let text = format!("{}\n{} in {:.1} s", done.file.display(), bytes(done.file_bytes), done.seconds);
                self.show_once(" Backup written ", text);
            }
            Confirmed::Password(reset) => {
                let text = format!("{address}\n\npassword: {}\n(give it to the user separately)", reset.password);
                self.show_once(" New password — shown once ", text);
            }
            Confirmed::Keys(report) => {
                if let Some(issued) = &report.issued {
                    self.show_once(" New keys — shown once ", issued_text(issued));
                    self.keys.report = Some(report);
                }
            }
            Confirmed::Drill(drill) => {
                if drill.running {
                    self.message = Some("restore drill started: its progress shows on this screen".into());
                    self.backups.drill = Some(drill);
                }
            }
        }
    }

    fn show_once(&mut self, title: &str, text: String) {
        self.modal = Some(Modal::ShownOnce { title: title.into(), text });
    }

    fn create_user(&mut self, form: &UserForm, api: &mut dyn Transport) {
        let [address, first_name, last_name, contact_email] = form.values.clone();
        let request = UserAdd {
            address: address.trim().to_owned(),
            first_name: first_name.trim().to_owned(),
            last_name: last_name.trim().to_owned(),
            contact_email: contact_email.trim().to_owned(),
            quota_mb: None,
            directory: DirectoryFields::default(),
        };
        match call(api, request) {
            Ok(created) => {
                let text =
                    format!("{}\n\npassword: {}\n{}", created.address, created.password, issued_text(&created.keys));
                self.show_once(" New account — shown once ", text);
                self.message = Some(format!("created {}", address.trim()));
                self.refresh(api);
            }
            Err(why) => self.message = Some(format!("not created: {why}")),
        }
    }

    fn save_account(&mut self, form: &EditForm, api: &mut dyn Transport) {
        let [first_name, last_name, contact_email] = form.values.clone();
        let request = UserEdit {
            address: form.address.clone(),
            first_name: Some(first_name.trim().to_owned()),
            last_name: Some(last_name.trim().to_owned()),
            contact_email: Some(contact_email.trim().to_owned()),
        };
        self.message = Some(match call(api, request) {
            Ok(_) => format!("{} saved", form.address),
            Err(why) => format!("{} not changed: {why}", form.address),
        });
        self.refresh(api);
    }

    fn quota_key(&mut self, mut prompt: QuotaPrompt, code: KeyCode, api: &mut dyn Transport) {
        match code {
            KeyCode::Esc => self.message = Some("cancelled".into()),
            KeyCode::Enter => {
                let QuotaPrompt { address, typed } = prompt;
                let Ok(mb) = typed.parse::<u64>() else {
                    self.message = Some(format!("{typed:?} is not a number of MB"));
                    return;
                };
                self.message = Some(match call(api, UserQuota { address: address.clone(), quota_mb: mb }) {
                    Ok(_) => format!("quota of {address}: {typed} MB"),
                    Err(why) => format!("quota of {address} not changed: {why}"),
                });
                self.refresh(api);
            }
            KeyCode::Backspace => {
                prompt.typed.pop();
                self.modal = Some(Modal::Quota(prompt));
            }
            KeyCode::Char(c) if c.is_ascii_digit() => {
                prompt.typed.push(c);
                self.modal = Some(Modal::Quota(prompt));
            }
            _ => self.modal = Some(Modal::Quota(prompt)),
        }
    }

    /// A key while publishing: typing, then reading the file and asking for confirmation.
    fn publish_key(&mut self, mut publish: Publish, code: KeyCode) {
        let typed = match &mut publish {
            Publish::TermsFile(path) | Publish::AnnouncementFile { path, .. } => path,
            Publish::AnnouncementSubject(subject) => subject,
        };
        match code {
            KeyCode::Esc => self.message = Some("cancelled".into()),
            KeyCode::Char(c) => {
                typed.push(c);
                self.modal = Some(Modal::Publish(publish));
            }
            KeyCode::Backspace => {
                typed.pop();
                self.modal = Some(Modal::Publish(publish));
            }
            KeyCode::Enter => self.publish(publish),
            _ => self.modal = Some(Modal::Publish(publish)),
        }
    }

    /// Enter while publishing: on to the file after the subject, or the file read and the
    /// publication confirmed.
    fn publish(&mut self, publish: Publish) {
        match publish {
            Publish::AnnouncementSubject(subject) => {
                self.modal = Some(Modal::Publish(Publish::AnnouncementFile { subject, path: String::new() }));
            }
            Publish::TermsFile(path) => match std::fs::read_to_string(&path) {
                Ok(text) => self.confirm("publish as the new terms of use the text of", path, TermsPublish { text }),
                Err(error) => self.message = Some(format!("cannot read {path}: {error}")),
            },
            Publish::AnnouncementFile { subject, path } => match std::fs::read_to_string(&path) {
                Ok(body) => {
                    let action = format!("send to every user the announcement \"{subject}\" in");
                    self.confirm(action, path, Announce { subject, body });
                }
                Err(error) => self.message = Some(format!("cannot read {path}: {error}")),
            },
        }
    }

    /// A key while typing the search: it narrows the list as it is typed.
    fn search_key(&mut self, code: KeyCode) {
        match code {
            KeyCode::Esc => self.search.clear(),
            KeyCode::Enter => {}
            KeyCode::Backspace => {
                self.search.pop();
                self.modal = Some(Modal::Search);
            }
            KeyCode::Char(c) => {
                self.search.push(c);
                self.modal = Some(Modal::Search);
            }
            _ => self.modal = Some(Modal::Search),
        }
        self.selected = 0;
    }
}

impl Modal {
    /// The prompt in the footer, for a modal typed there.
    pub(crate) fn footer(&self, app: &App) -> Option<String> {
        let typing = |label: &str, value: &str| format!(" {label}: {}▏ Enter next · Esc cancel", shown(value));
        Some(match self {
            Modal::Search => format!(" search: {}▏ Enter keep · Esc clear", app.search),
            Modal::NewAccount(form) => typing(UserForm::LABELS[form.field], &form.values[form.field]),
            Modal::EditAccount(form) => typing(EditForm::LABELS[form.field], &form.values[form.field]),
            Modal::Publish(Publish::TermsFile(path)) => {
                format!(" terms of use, text file: {path}▏ Enter · Esc cancel")
            }
            Modal::Publish(Publish::AnnouncementSubject(subject)) => {
                format!(" announcement subject: {subject}▏ Enter · Esc cancel")
            }
            Modal::Publish(Publish::AnnouncementFile { path, .. }) => {
                format!(" announcement, text file: {path}▏ Enter · Esc cancel")
            }
            Modal::Quota(QuotaPrompt { address, typed }) => {
                format!(" quota of {address} in MB: {typed}▏ Enter set · Esc cancel")
            }
            Modal::Confirm(_) | Modal::ShownOnce { .. } | Modal::Help => return None,
        })
    }

    /// Draws the modal's popup over the whole `area`, for a modal shown as one.
    pub(crate) fn render(&self, app: &App, frame: &mut Frame<'_>, area: Rect) {
        match self {
            Modal::ShownOnce { title, text } => popup(app, frame, area, title, &format!("{text}\n\nany key: close")),
            Modal::Confirm(confirm) => {
                let text = format!("{} {}?\n\ny: yes   any other key: no", confirm.action, confirm.address);
                popup(app, frame, area, " Confirm ", &text);
            }
            Modal::EditAccount(form) => {
                let text = form_text(&EditForm::LABELS, &form.values, form.field);
                popup(app, frame, area, &format!(" {} ", form.address), &text);
            }
            Modal::NewAccount(form) => {
                popup(app, frame, area, " New account ", &form_text(&UserForm::LABELS, &form.values, form.field));
            }
            Modal::Help => popup(app, frame, area, " Keys ", HELP),
            Modal::Quota(_) | Modal::Publish(_) | Modal::Search => {}
        }
    }
}

/// A form's fields, one a line, the current one marked.
fn form_text(labels: &[&str], values: &[String], field: usize) -> String {
    labels
        .iter()
        .zip(values)
        .enumerate()
        .map(|(i, (label, value))| format!("{} {label}: {value}\n", if i == field { "▶" } else { " " }))
        .collect()
}

const HELP: &str = "Tab, 1…9    switch screens (9 Pair: on a pair member)\n\
↑ ↓ j k     move in the list\n\
/           search mailboxes by address\n\
a E         add an account, edit one (Mailboxes)\n\
Enter       the selected account's keys\n\
u s e       unblock, suspend, enable the selected mailbox\n\
Q P         set the quota, reset the password\n\
T A         publish terms of use, send an announcement\n\
c           close a data-protection request (Requests)\n\
b d         back up now, run a restore drill (Backups)\n\
n x         renew, revoke the keys (Keys)\n\
a           acknowledge the selected alert (Alerts)\n\
t h u d     try, hold, release, delete queued mail (Peers)\n\
r · q, Esc  refresh now (every second anyway) · quit\n\n\
Changes ask first (but try, hold, release); all are audited.";

fn popup(app: &App, frame: &mut Frame<'_>, area: Rect, title: &str, text: &str) {
    let width = area.width.saturating_sub(4).min(64);
    let height = (text.lines().count() as u16 + 2).min(area.height);
    let x = area.x + (area.width - width) / 2;
    let y = area.y + (area.height - height) / 2;
    let rect = Rect::new(x, y, width, height);
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(shown(title))
        .border_style(app.style(Style::default().fg(Color::Yellow)));
    let text = shown::shown_lines(text);
    frame.render_widget(Paragraph::new(text).block(block).wrap(Wrap { trim: false }), rect);
}
