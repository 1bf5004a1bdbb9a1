//! The collection session: performs what the POP3 machine asks — logins, locking and
//! listing the maildrop through its mailbox actor, reading messages, the UPDATE state's
//! commit — and releases the lock however the session ends.

use caducee_storage::{Account, ConnectionRecord};

use super::driver::{Flow, Protocol};
use super::SessionContext;
use crate::login::Login;
use crate::mailbox::{self, Lookup, SessionId};
use crate::monitor::Collected;
use crate::pop3::{self, Maildrop, MaildropError, Pop3Server};

/// One collection session's part of the relay.
pub(super) struct Collection {
    context: SessionContext,
    session: SessionId,
    user: Option<Account>,
    /// The mailbox whose maildrop this session holds.
    mailbox: Option<mailbox::MailboxHandle>,
}

impl Collection {
    pub(super) fn new(context: SessionContext, session: SessionId) -> Self {
        Collection { context, session, user: None, mailbox: None }
    }

    /// Any way out but QUIT leaves the maildrop as it was (RFC 1939 §6).
    pub(super) fn release(self) {
        if let Some(held) = self.mailbox {
            held.addr.do_send(mailbox::ReleaseMaildrop { session: self.session });
        }
    }

    fn outcome(&self) -> &'static str {
        super::login_outcome(self.user.is_some())
    }
}

impl Protocol for Collection {
    type Machine = Pop3Server;
    type Event = std::convert::Infallible;

    async fn event(&mut self) -> Self::Event {
        std::future::pending().await
    }

    fn heard(&mut self, event: Self::Event, _: &mut Pop3Server) {
        match event {}
    }

    async fn perform(
        &mut self,
        effect: pop3::Effect,
        machine: &mut Pop3Server,
        record: &mut ConnectionRecord,
    ) -> Flow<pop3::Effect> {
        match effect {
            pop3::Effect::Authenticate { username, password } => {
                match self.context.log_in("pop3", &record.peer, &username, password).await {
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
            pop3::Effect::OpenMaildrop => {
                let result = self.open_maildrop().await;
                machine.maildrop_opened(result);
            }
            pop3::Effect::Retrieve { message, top_lines } => {
                let content = self.context.store.read_message(message).ok();
                machine.retrieved(content, top_lines);
                if top_lines.is_none() {
                    record.messages += 1;
                }
            }
            pop3::Effect::Update { deleted } => {
                let committed = self.update(deleted).await;
                return Flow::Then(machine.updated(committed));
            }
            pop3::Effect::StartTls => return Flow::StartTls,
            pop3::Effect::Close => return Flow::Close(self.outcome()),
        }
        Flow::Continue
    }

    fn closed_outcome(&self) -> &'static str {
        self.outcome()
    }
}

impl Collection {
    /// Locks and lists the logged-in account's maildrop.
    async fn open_maildrop(&mut self) -> Result<Maildrop, MaildropError> {
        let Some(account) = &self.user else {
            return Err(MaildropError::Unavailable);
        };
        let Ok(Some(handle)) = self.context.mailboxes.send(Lookup(account.address.clone())).await else {
            return Err(MaildropError::Unavailable);
        };
        let opened = handle
            .addr
            .send(mailbox::OpenMaildrop { session: self.session, at: self.context.clock.now() })
            .await
            .unwrap_or(Err(MaildropError::Unavailable));
        if opened.is_ok() {
            self.mailbox = Some(handle);
        }
        opened
    }

    /// The UPDATE state: removes the deleted messages in one commit and releases the lock.
    /// True when the deletions are durable.
    async fn update(&mut self, deleted: Vec<caducee_storage::Uid>) -> bool {
        let Some(held) = self.mailbox.take() else {
            return false;
        };
        let at = self.context.clock.now();
        match held.addr.send(mailbox::CloseMaildrop { session: self.session, deleted, at }).await {
            Ok(Ok(expunged)) => {
                let accepted_at = expunged.accepted_at;
                self.context.monitor.record(Collected { at, accepted_at });
                true
            }
            _ => false,
        }
    }
}
