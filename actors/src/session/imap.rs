//! The IMAP collection session: performs what the IMAP machine asks — logins, opening INBOX
//! through the account's mailbox actor, reading messages, keeping flags, expunging — and
//! hands the machine what the mailbox tells it between commands (new mail, other sessions'
//! flags and expunges), so that an idling client hears of a new message at once.
//!
//! The same rules as POP3: selecting INBOX is a collection (the 30/60-day rule); an expunge
//! is this recipient's deletion, the message erased, key included, once every recipient has
//! deleted it; every login goes through the check every door shares.

use std::time::Duration;

use actix::Addr;
use caducee_storage::{Account, ConnectionRecord};
use tokio::sync::mpsc;

use super::driver::{Flow, Protocol};
use super::SessionContext;
use crate::imap::{self, Change, ImapServer, MailboxView, OpenError};
use crate::login::Login;
use crate::mailbox::{self, Lookup, SessionId};
use crate::monitor::Collected;

/// RFC 3501 §5.4: an authenticated IMAP session's inactivity timer is at least 30
/// minutes (clients re-issue IDLE within 29). A minute more, so a client on the edge is
/// not cut off.
pub const IMAP_IDLE_AFTER_LOGIN: Duration = Duration::from_secs(31 * 60);

/// What a session hears from its mailbox: a change, or `None` when the mailbox dropped it
/// (it let too many changes pile up).
pub(super) type Heard = Option<Change>;

/// One IMAP session's part of the relay.
pub(super) struct Inbox {
    context: SessionContext,
    session: SessionId,
    user: Option<Account>,
    /// The account's mailbox, once looked up: open until the session ends.
    mailbox: Option<mailbox::MailboxHandle>,
    /// Where the mailbox tells this session of changes while INBOX is selected.
    changes: Option<mpsc::Receiver<Change>>,
}

impl Inbox {
    pub(super) fn new(context: SessionContext, session: SessionId) -> Self {
        Inbox { context, session, user: None, mailbox: None, changes: None }
    }

    /// However the session ends, its mailbox stops telling it of changes.
    pub(super) fn leave(mut self) {
        self.leave_inbox();
    }

    /// The session no longer has INBOX selected (CLOSE, UNSELECT, logout, the end).
    fn leave_inbox(&mut self) {
        if self.changes.take().is_some() {
            if let Some(held) = &self.mailbox {
                held.addr.do_send(mailbox::LeaveInbox { session: self.session });
            }
        }
    }

    fn outcome(&self) -> &'static str {
        super::login_outcome(self.user.is_some())
    }

    /// The logged-in account's mailbox actor, looked up once.
    async fn mailbox(&mut self) -> Option<Addr<mailbox::Mailbox>> {
        if self.mailbox.is_none() {
            let address = self.user.as_ref()?.address.clone();
            self.mailbox = Some(self.context.mailboxes.send(Lookup(address)).await.ok()??);
        }
        self.mailbox.as_ref().map(|held| held.addr.clone())
    }

    /// SELECT/EXAMINE: opens INBOX (a collection) and starts hearing of its changes.
    async fn select(&mut self) -> Result<MailboxView, OpenError> {
        self.leave_inbox();
        let addr = self.mailbox().await.ok_or(OpenError::Unavailable)?;
        let (sender, receiver) = mailbox::changes();
        let at = self.context.clock.now();
        let opened = addr
            .send(mailbox::SelectInbox { session: self.session, at, changes: sender })
            .await
            .unwrap_or(Err(OpenError::Unavailable));
        if opened.is_ok() {
            self.changes = Some(receiver);
        }
        opened
    }

    /// STATUS, GETQUOTAROOT: the mailbox without opening it.
    async fn peek(&mut self) -> Result<MailboxView, OpenError> {
        let addr = self.mailbox().await.ok_or(OpenError::Unavailable)?;
        addr.send(mailbox::PeekInbox).await.unwrap_or(Err(OpenError::Unavailable))
    }

    async fn store_flags(&mut self, changes: Vec<(u32, imap::Flags)>) -> bool {
        let Some(addr) = self.mailbox().await else {
            return false;
        };
        matches!(addr.send(mailbox::StoreFlags { session: self.session, changes }).await, Ok(Ok(())))
    }

    /// Erases the messages for this recipient in one durable commit; the monitor hears of
    /// the collection.
    async fn expunge(&mut self, uids: Vec<u32>) -> bool {
        let Some(addr) = self.mailbox().await else {
            return false;
        };
        let at = self.context.clock.now();
        match addr.send(mailbox::ExpungeInbox { session: self.session, uids, at }).await {
            Ok(Ok(expunged)) => {
                self.context.monitor.record(Collected { at, accepted_at: expunged.accepted_at });
                true
            }
            _ => false,
        }
    }
}

impl Protocol for Inbox {
    type Machine = ImapServer;
    type Event = Heard;

    async fn event(&mut self) -> Heard {
        match &mut self.changes {
            Some(changes) => changes.recv().await,
            None => std::future::pending().await,
        }
    }

    fn heard(&mut self, heard: Heard, machine: &mut ImapServer) {
        match heard {
            Some(change) if machine.selected().is_some() => machine.mailbox_changed(change),
            // The client closed INBOX since: the mailbox need not tell it anything more.
            Some(_) => self.leave_inbox(),
            None => {
                self.changes = None;
                machine.shutdown("Too many changes unread; reconnect");
            }
        }
    }

    fn idle_after_login(&self, configured: Duration) -> Duration {
        configured.max(IMAP_IDLE_AFTER_LOGIN)
    }

    async fn perform(
        &mut self,
        effect: imap::Effect,
        machine: &mut ImapServer,
        record: &mut ConnectionRecord,
    ) -> Flow<imap::Effect> {
        if machine.selected().is_none() && !matches!(effect, imap::Effect::Select { .. }) {
            self.leave_inbox();
        }
        match effect {
            imap::Effect::Authenticate { username, password } => {
                match self.context.log_in("imap", &record.peer, &username, password).await {
                    Login::Throttled { retry_minutes } => machine.login_throttled(retry_minutes),
                    login => {
                        self.user = login.account();
                        record.account = self.user.as_ref().map(|a| a.address.to_string());
                        if let Some(effect) = machine.authenticated(self.user.is_some()) {
                            return Flow::Then(effect);
                        }
                    }
                }
            }
            imap::Effect::Select { .. } => {
                let opened = self.select().await;
                machine.mailbox_opened(opened);
            }
            imap::Effect::Peek => {
                let view = self.peek().await;
                machine.peeked(view);
            }
            imap::Effect::Retrieve { message } => {
                let content = self.context.store.read_message(message).ok();
                record.messages += 1;
                if let Some(effect) = machine.retrieved(content) {
                    return Flow::Then(effect);
                }
            }
            imap::Effect::StoreFlags { changes } => {
                let kept = self.store_flags(changes).await;
                machine.flags_stored(kept);
            }
            imap::Effect::Expunge { uids } => {
                let done = self.expunge(uids).await;
                machine.expunged(done);
            }
            imap::Effect::StartTls => return Flow::StartTls,
            imap::Effect::Close => return Flow::Close(self.outcome()),
        }
        Flow::Continue
    }

    fn closed_outcome(&self) -> &'static str {
        self.outcome()
    }
}
