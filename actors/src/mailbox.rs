//! Mailbox actors: one per account being collected from, owning its POP3 lock and
//! serialising the changes made to it (collection records, expunges). A registry actor,
//! [`Mailboxes`], opens an account's mailbox when a session asks for it and stops it when
//! the last session lets go.
//!
//! Messages: [`Lookup`] to the registry, whose answer holds the mailbox open until it is
//! dropped; [`OpenMaildrop`], [`CloseMaildrop`], [`ReleaseMaildrop`] to a mailbox, and its
//! IMAP side's (`imap.rs`): [`SelectInbox`], [`PeekInbox`], [`StoreFlags`],
//! [`ExpungeInbox`], [`LeaveInbox`], [`Arrived`]; [`TellArrived`] to the registry, after a
//! message was stored. [`check_recipient`] answers a session's RCPT from the store, without
//! a message.

mod imap;

pub use self::imap::{
    changes, Arrived, ChangesSender, ExpungeInbox, LeaveInbox, PeekInbox, SelectInbox, StoreFlags, TellArrived,
    CHANGES_WAITING_MAX,
};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use actix::prelude::*;
use caducee_storage::{
    AccountId, AccountState, Address, DisabledReason, MailboxFigures, Millis, Store, StoreError, Uid,
};

use crate::pop3::{Maildrop, MaildropEntry, MaildropError};
use crate::smtp::{ReceptionDisabled, RecipientVerdict};
use crate::vocabulary::Destination;

/// Why a mailbox refused a change.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    /// The session asking does not hold the maildrop lock (it was released, or another
    /// session holds it).
    #[error("maildrop not held by this session")]
    NotHeld,
    /// The store refused the change.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Identifies the session holding a maildrop lock.
pub type SessionId = u64;

/// An open mailbox, as a session holds it: while any handle to it lives, its actor runs.
#[derive(Debug)]
pub struct MailboxHandle {
    pub addr: Addr<Mailbox>,
    _lease: Lease,
}

/// How many handles to a mailbox live, how many were ever handed out, and whether it has
/// closed: shared by the registry, the handles and the mailbox.
#[derive(Debug, Default)]
struct Usage {
    handles: AtomicUsize,
    handed_out: AtomicU64,
    closed: AtomicBool,
}

/// One handle's count in its mailbox's usage: dropping the last asks the mailbox to close,
/// however the session ends, behind whatever the session sent it (its release, its
/// leaving INBOX, a change it did not wait for).
#[derive(Debug)]
struct Lease {
    usage: Arc<Usage>,
    mailbox: Addr<Mailbox>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.usage.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.mailbox.do_send(Close { handed_out: self.usage.handed_out.load(Ordering::Acquire) });
        }
    }
}

/// The registry: the mailbox actors open now. A mailbox holds nothing between sessions
/// (its POP3 lock and IMAP viewers belong to sessions), so it runs only while one holds it:
/// an account nobody collects from costs no actor (one per account, started up front, held
/// 110 MB for 100,000 accounts).
///
/// The registry and the mailboxes run on one thread, so a lookup and a mailbox's closing
/// never interleave: a lookup either finds the mailbox still open, and the handle it hands
/// out keeps it so, or closed, and starts a new one. A mailbox closes on the `Close` of the
/// last handle handed out, not on an earlier one still queued, so whatever a later handle's
/// holder sent it is done first; two actors never work on one mailbox at once.
#[derive(Debug)]
pub struct Mailboxes {
    store: Store,
    open: HashMap<AccountId, OpenMailbox>,
    /// The accounts in `open`, for the sessions to read.
    shown: OpenMailboxes,
}

/// The accounts whose mailbox is open, as the registry keeps them, readable from any
/// thread: a session that stored a message tells the registry only when a recipient's
/// mailbox is open (otherwise no session is there to hear it). An account is added before
/// the handle that opened its mailbox is handed out, so a session that opens it later reads
/// the store after the message is in it.
#[derive(Debug, Clone, Default)]
pub struct OpenMailboxes(Arc<RwLock<HashSet<AccountId>>>);

impl OpenMailboxes {
    /// Of `accounts`, those whose mailbox is open now.
    pub fn among(&self, accounts: &[AccountId]) -> Vec<AccountId> {
        let open = self.0.read().unwrap_or_else(PoisonError::into_inner);
        accounts.iter().copied().filter(|account| open.contains(account)).collect()
    }

    fn set(&self, account: AccountId, open: bool) {
        // A set left by a panic elsewhere is still right: each change is one insert or remove.
        let mut accounts = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if open {
            accounts.insert(account);
        } else {
            accounts.remove(&account);
        }
    }
}

#[derive(Debug)]
struct OpenMailbox {
    addr: Addr<Mailbox>,
    usage: Arc<Usage>,
}

impl Actor for Mailboxes {
    type Context = Context<Self>;
}

/// Starts the registry on the current arbiter; mailboxes start there as they are opened.
/// With it, the set of open mailboxes it keeps.
pub fn start(store: Store) -> Result<(Addr<Mailboxes>, OpenMailboxes), StoreError> {
    let shown = OpenMailboxes::default();
    Ok((Mailboxes { store, open: HashMap::new(), shown: shown.clone() }.start(), shown))
}

/// Opens the mailbox of an address (`None` when no account has it); the mailbox stays open
/// while the handle lives.
#[derive(Debug, Message)]
#[rtype(result = "Option<MailboxHandle>")]
pub struct Lookup(pub Address);

impl Handler<Lookup> for Mailboxes {
    type Result = Option<MailboxHandle>;
    fn handle(&mut self, Lookup(address): Lookup, ctx: &mut Context<Self>) -> Self::Result {
        let account = match self.store.account_by_address(&address) {
            Ok(account) => account?,
            Err(error) => {
                tracing::error!(%error, "mailbox lookup failed");
                return None;
            }
        };
        let running = self.open.get(&account.id).is_some_and(|open| !open.usage.closed.load(Ordering::Acquire));
        if !running {
            let usage = Arc::new(Usage::default());
            let mailbox = Mailbox {
                store: self.store.clone(),
                account: account.id,
                holder: None,
                viewers: HashMap::new(),
                usage: usage.clone(),
                registry: ctx.address(),
            };
            self.open.insert(account.id, OpenMailbox { addr: mailbox.start(), usage });
            self.shown.set(account.id, true);
        }
        let open = self.open.get(&account.id)?;
        open.usage.handles.fetch_add(1, Ordering::AcqRel);
        open.usage.handed_out.fetch_add(1, Ordering::AcqRel);
        Some(MailboxHandle {
            addr: open.addr.clone(),
            _lease: Lease { usage: open.usage.clone(), mailbox: open.addr.clone() },
        })
    }
}

/// The last handle to a mailbox was dropped, when `handed_out` handles had been: it closes
/// unless a lookup has handed out another since.
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct Close {
    handed_out: u64,
}

impl Handler<Close> for Mailbox {
    type Result = ();
    fn handle(&mut self, close: Close, ctx: &mut Context<Self>) {
        let usage = &self.usage;
        if usage.handles.load(Ordering::Acquire) == 0 && usage.handed_out.load(Ordering::Acquire) == close.handed_out {
            self.usage.closed.store(true, Ordering::Release);
            self.registry.do_send(Closed(self.account));
            ctx.stop();
        }
    }
}

/// A mailbox closed: the registry forgets it, unless a new one was opened since.
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct Closed(AccountId);

impl Handler<Closed> for Mailboxes {
    type Result = ();
    fn handle(&mut self, Closed(account): Closed, _: &mut Context<Self>) {
        if self.open.get(&account).is_some_and(|open| open.usage.closed.load(Ordering::Acquire)) {
            self.open.remove(&account);
            self.shown.set(account, false);
        }
    }
}

/// One account's mailbox.
#[derive(Debug)]
pub struct Mailbox {
    store: Store,
    account: AccountId,
    /// The POP3 session holding the maildrop lock (RFC 1939 §8: one at a time).
    holder: Option<SessionId>,
    /// The IMAP sessions with INBOX selected, and where each hears of changes.
    viewers: HashMap<SessionId, ChangesSender>,
    /// How many sessions hold it; it closes when none does.
    usage: Arc<Usage>,
    registry: Addr<Mailboxes>,
}

impl Actor for Mailbox {
    type Context = Context<Self>;
}

/// May this account's mailbox receive a message (of the declared size, if any)? Judged from
/// its figures and monitor state, read from the store on the asking session's thread: the
/// answer needs no mailbox actor, and a round trip to one for every recipient cost two
/// thread wake-ups.
pub fn check_recipient(
    account: &MailboxFigures,
    state: &AccountState,
    declared_bytes: Option<u64>,
) -> RecipientVerdict {
    let incoming = declared_bytes.unwrap_or(1);
    if state.closed_at.is_some() {
        RecipientVerdict::Disabled(ReceptionDisabled::Closed)
    } else if let Some((reason, _)) = &state.disabled {
        RecipientVerdict::Disabled(match reason {
            DisabledReason::Inactivity => {
                let since = account.last_collection.unwrap_or(account.created_at);
                let since = std::time::UNIX_EPOCH + std::time::Duration::from_millis(since.0);
                ReceptionDisabled::Inactive { since: httpdate::fmt_http_date(since) }
            }
            DisabledReason::Suspended => ReceptionDisabled::Suspended,
        })
    } else if incoming > account.quota_bytes {
        RecipientVerdict::LargerThanQuota(account.quota_bytes)
    } else if account.used_bytes.saturating_add(incoming) > account.quota_bytes {
        RecipientVerdict::OverQuota
    } else {
        RecipientVerdict::Accept(Destination::Mailbox(account.id))
    }
}

/// Locks the maildrop for a POP3 session, lists it, and records the collection.
#[derive(Debug, Message)]
#[rtype(result = "Result<Maildrop, MaildropError>")]
pub struct OpenMaildrop {
    pub session: SessionId,
    pub at: Millis,
}

impl Handler<OpenMaildrop> for Mailbox {
    type Result = AtomicResponse<Self, Result<Maildrop, MaildropError>>;
    fn handle(&mut self, msg: OpenMaildrop, _: &mut Context<Self>) -> Self::Result {
        if self.holder.is_some() {
            return AtomicResponse::new(Box::pin(fut::ready(Err(MaildropError::InUse))));
        }
        let store = self.store.clone();
        let account = self.account;
        self.holder = Some(msg.session);
        let work = async move {
            let record = store.account(account).ok().flatten().ok_or(MaildropError::Unavailable)?;
            let entries = store.mailbox(account).map_err(|_| MaildropError::Unavailable)?;
            // SPEC R-MSG-6: a successful login that lists the mailbox is a collection.
            store.record_collection(account, msg.at).await.map_err(|_| MaildropError::Unavailable)?;
            Ok(Maildrop {
                entries: entries
                    .into_iter()
                    .map(|e| MaildropEntry { uid: e.uid, message: e.message, size: e.size })
                    .collect(),
                delete_on_retrieve: record.delete_on_retrieve,
            })
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(move |result, actor, _| {
            if result.is_err() {
                actor.holder = None;
            }
            result
        })))
    }
}

/// Ends a POP3 session's UPDATE state: removes the deleted messages in one durable commit
/// (erasing those no other mailbox holds) and releases the lock. Answers how many messages
/// were erased for good.
#[derive(Debug, Message)]
#[rtype(result = "Result<caducee_storage::Expunged, MailboxError>")]
pub struct CloseMaildrop {
    pub session: SessionId,
    pub deleted: Vec<Uid>,
    pub at: Millis,
}

impl Handler<CloseMaildrop> for Mailbox {
    type Result = AtomicResponse<Self, Result<caducee_storage::Expunged, MailboxError>>;
    fn handle(&mut self, msg: CloseMaildrop, _: &mut Context<Self>) -> Self::Result {
        if self.holder != Some(msg.session) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(MailboxError::NotHeld))));
        }
        let store = self.store.clone();
        let account = self.account;
        let deleted = msg.deleted.clone();
        let work = async move {
            if msg.deleted.is_empty() {
                return Ok(caducee_storage::Expunged::default());
            }
            store.expunge(account, msg.deleted, msg.at).await.map_err(MailboxError::Store)
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(move |result, actor, _| {
            actor.holder = None;
            if result.is_ok() {
                for uid in deleted {
                    actor.tell(&crate::imap::Change::Expunged { uid: uid.0 }, None);
                }
            }
            result
        })))
    }
}

/// Releases a maildrop lock without changes (connection lost, timeout, shutdown).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ReleaseMaildrop {
    pub session: SessionId,
}

impl Handler<ReleaseMaildrop> for Mailbox {
    type Result = ();
    fn handle(&mut self, msg: ReleaseMaildrop, _: &mut Context<Self>) {
        if self.holder == Some(msg.session) {
            self.holder = None;
        }
    }
}
