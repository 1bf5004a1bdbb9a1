//! A mailbox's IMAP side: the sessions that have INBOX selected (any number, each with its
//! own view), the changes each makes — flags, expunges — kept in the store and told to the
//! others, and new mail told to all. A POP3 session holding the maildrop keeps IMAP out
//! (`NO [INUSE]`); what it deletes is told to the IMAP sessions as expunges.

use actix::prelude::*;
use caducee_storage::{Expunged, Millis, Uid};
use tokio::sync::mpsc;

use super::{Mailbox, MailboxError, SessionId};
use crate::imap::{self, Change, MailboxView, OpenError, Quota};

/// Changes a session may have waiting before it is dropped from the mailbox's viewers: a
/// session that stops reading its changes does not hold the mailbox's memory.
pub const CHANGES_WAITING_MAX: usize = 1024;

/// Where a session with INBOX selected hears of changes.
pub type ChangesSender = mpsc::Sender<Change>;

impl Mailbox {
    /// The mailbox as IMAP shows it, with the account's quota and UID validity.
    fn view(&self) -> Result<MailboxView, OpenError> {
        let account = self.store.account(self.account).ok().flatten().ok_or(OpenError::Unavailable)?;
        let entries = self.store.imap_mailbox(self.account).map_err(|_| OpenError::Unavailable)?;
        Ok(MailboxView {
            entries: entries.iter().map(imap::entry).collect(),
            // UIDs are never reused within an account; an address given to a new account
            // starts again, with a new validity: the account's creation, in seconds.
            uid_validity: u32::try_from(account.created_at.0 / 1000).unwrap_or(u32::MAX).max(1),
            // The store's own counter: the uid the next message will get.
            uid_next: account.next_uid,
            quota: Quota { used_bytes: account.used_bytes, limit_bytes: account.quota_bytes },
        })
    }

    /// Tells every session with INBOX selected but `except` of a change; a session whose
    /// changes have piled up is dropped (its session ends when it sees its channel closed).
    pub(super) fn tell(&mut self, change: &Change, except: Option<SessionId>) {
        self.viewers.retain(|session, changes| Some(*session) == except || changes.try_send(change.clone()).is_ok());
    }
}

/// Opens INBOX for an IMAP session (SELECT, EXAMINE): records the collection, lists the
/// mailbox, and from now on tells the session of changes.
#[derive(Debug, Message)]
#[rtype(result = "Result<MailboxView, OpenError>")]
pub struct SelectInbox {
    pub session: SessionId,
    pub at: Millis,
    pub changes: ChangesSender,
}

impl Handler<SelectInbox> for Mailbox {
    type Result = AtomicResponse<Self, Result<MailboxView, OpenError>>;
    fn handle(&mut self, msg: SelectInbox, _: &mut Context<Self>) -> Self::Result {
        if self.holder.is_some() {
            return AtomicResponse::new(Box::pin(fut::ready(Err(OpenError::InUse))));
        }
        let store = self.store.clone();
        let account = self.account;
        // SPEC R-MSG-6, R-MSG-9: selecting INBOX is a collection, as listing it over POP3.
        let work = async move { store.record_collection(account, msg.at).await.map_err(|_| OpenError::Unavailable) };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(move |recorded, actor, _| {
            recorded?;
            let view = actor.view()?;
            actor.viewers.insert(msg.session, msg.changes);
            Ok(view)
        })))
    }
}

/// The mailbox without opening it (STATUS, GETQUOTAROOT before a selection).
#[derive(Debug, Message)]
#[rtype(result = "Result<MailboxView, OpenError>")]
pub struct PeekInbox;

impl Handler<PeekInbox> for Mailbox {
    type Result = Result<MailboxView, OpenError>;
    fn handle(&mut self, _: PeekInbox, _: &mut Context<Self>) -> Self::Result {
        self.view()
    }
}

/// Keeps a session's flag changes and tells the other sessions.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), MailboxError>")]
pub struct StoreFlags {
    pub session: SessionId,
    pub changes: Vec<(u32, imap::Flags)>,
}

impl Handler<StoreFlags> for Mailbox {
    type Result = AtomicResponse<Self, Result<(), MailboxError>>;
    fn handle(&mut self, msg: StoreFlags, _: &mut Context<Self>) -> Self::Result {
        let store = self.store.clone();
        let account = self.account;
        let stored = msg.changes.iter().map(|(uid, flags)| (Uid(*uid), imap::stored_flags(*flags))).collect();
        let work = async move { store.set_flags(account, stored).await.map_err(MailboxError::Store) };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(move |kept, actor, _| {
            kept?;
            for (uid, flags) in msg.changes {
                actor.tell(&Change::Flags { uid, flags }, Some(msg.session));
            }
            Ok(())
        })))
    }
}

/// Erases messages for this recipient (EXPUNGE, CLOSE) in one durable commit — each
/// message erased for good, key included, once no mailbox holds it — and tells the other
/// sessions.
#[derive(Debug, Message)]
#[rtype(result = "Result<Expunged, MailboxError>")]
pub struct ExpungeInbox {
    pub session: SessionId,
    pub uids: Vec<u32>,
    pub at: Millis,
}

impl Handler<ExpungeInbox> for Mailbox {
    type Result = AtomicResponse<Self, Result<Expunged, MailboxError>>;
    fn handle(&mut self, msg: ExpungeInbox, _: &mut Context<Self>) -> Self::Result {
        let store = self.store.clone();
        let account = self.account;
        let uids: Vec<Uid> = msg.uids.iter().map(|uid| Uid(*uid)).collect();
        let work = async move { store.expunge(account, uids, msg.at).await.map_err(MailboxError::Store) };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(move |expunged, actor, _| {
            let expunged = expunged?;
            for uid in msg.uids {
                actor.tell(&Change::Expunged { uid }, Some(msg.session));
            }
            Ok(expunged)
        })))
    }
}

/// A session leaves INBOX (CLOSE, UNSELECT, logout, a lost connection).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct LeaveInbox {
    pub session: SessionId,
}

impl Handler<LeaveInbox> for Mailbox {
    type Result = ();
    fn handle(&mut self, msg: LeaveInbox, _: &mut Context<Self>) {
        self.viewers.remove(&msg.session);
    }
}

/// A message was stored in this mailbox: every session with INBOX selected is told.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Arrived(pub caducee_storage::ImapEntry);

impl Handler<Arrived> for Mailbox {
    type Result = ();
    fn handle(&mut self, Arrived(entry): Arrived, _: &mut Context<Self>) {
        self.tell(&Change::Arrived(imap::entry(&entry)), None);
    }
}

/// A message was stored for these recipients (account, and the entry in its mailbox): the
/// registry tells each mailbox, whose IMAP sessions hear of it at once (IDLE push).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct TellArrived(pub Vec<(caducee_storage::AccountId, caducee_storage::ImapEntry)>);

impl Handler<TellArrived> for super::Mailboxes {
    type Result = ();
    fn handle(&mut self, TellArrived(arrivals): TellArrived, _: &mut Context<Self>) {
        // A mailbox that is not open has no session to tell.
        for (account, entry) in arrivals {
            if let Some(open) = self.open.get(&account) {
                open.addr.do_send(Arrived(entry));
            }
        }
    }
}

/// Makes the channel a session hears of changes on.
pub fn changes() -> (ChangesSender, mpsc::Receiver<Change>) {
    mpsc::channel(CHANGES_WAITING_MAX)
}
