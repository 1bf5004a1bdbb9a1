//! IMAP collection: the sans-I/O machine of [`caducee_protocol::imap`], speaking the store's
//! types ([`StoreVocabulary`]). The mailbox side (shared views, flags, expunges told to the
//! other sessions) is in [`crate::mailbox`].

pub use caducee_protocol::imap::{Flags, OpenError, Quota, IMAP_AUTH_FAILURES_MAX, IMAP_COMMAND_BYTES_MAX};

use caducee_storage::{ImapEntry, MessageFlags};

use crate::vocabulary::StoreVocabulary;

/// The IMAP server side of one connection.
pub type ImapServer = caducee_protocol::imap::ImapServer<StoreVocabulary>;
/// Something the session must do before the dialogue can go on.
pub type Effect = caducee_protocol::imap::Effect<StoreVocabulary>;
/// INBOX as a session sees it.
pub type MailboxView = caducee_protocol::imap::MailboxView<StoreVocabulary>;
/// One message of the view.
pub type Entry = caducee_protocol::imap::Entry<StoreVocabulary>;
/// A change to the mailbox made elsewhere, told to the sessions that have it selected.
pub type Change = caducee_protocol::imap::Change<StoreVocabulary>;

/// A stored entry as the machine sees it.
pub fn entry(stored: &ImapEntry) -> Entry {
    Entry {
        uid: stored.uid.0,
        message: stored.message,
        size: stored.size,
        accepted_at: i64::try_from(stored.accepted_at.0 / 1000).unwrap_or(i64::MAX),
        flags: flags(stored.flags),
    }
}

pub fn flags(stored: MessageFlags) -> Flags {
    Flags { seen: stored.seen, flagged: stored.flagged, deleted: stored.deleted }
}

pub fn stored_flags(flags: Flags) -> MessageFlags {
    MessageFlags { seen: flags.seen, flagged: flags.flagged, deleted: flags.deleted }
}
