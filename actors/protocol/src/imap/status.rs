//! `STATUS` (RFC 3501 §6.3.10) and the quota (RFC 9208 `GETQUOTAROOT`, `GETQUOTA`): INBOX's
//! counts and the account's storage, from the selected view or, before a selection, from a
//! look at the mailbox that is not a collection.

use std::borrow::Cow;
use std::num::NonZeroU32;

use imap_codec::imap_types::core::{AString, Tag, Vec1};
use imap_codec::imap_types::extensions::quota::{QuotaGet, Resource};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::status::{StatusDataItem, StatusDataItemName};

use super::{Awaiting, Effect, ImapServer, MailboxView, OpenError, State};
use crate::Vocabulary;

/// What a look at the mailbox is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Asked {
    Status(Vec<StatusDataItemName>),
    QuotaRoot,
    Quota,
}

impl<V: Vocabulary> ImapServer<V> {
    pub(super) fn status(
        &mut self,
        tag: Tag<'static>,
        mailbox: &Mailbox<'_>,
        names: Vec<StatusDataItemName>,
    ) -> Option<Effect<V>> {
        if *mailbox != Mailbox::Inbox {
            self.tagged_no(&tag, Some("NONEXISTENT"), "Only INBOX exists");
            return None;
        }
        self.with_view(tag, Asked::Status(names))
    }

    pub(super) fn quota_root(&mut self, tag: Tag<'static>, mailbox: &Mailbox<'_>) -> Option<Effect<V>> {
        if *mailbox != Mailbox::Inbox {
            self.tagged_no(&tag, Some("NONEXISTENT"), "Only INBOX exists");
            return None;
        }
        self.with_view(tag, Asked::QuotaRoot)
    }

    pub(super) fn quota(&mut self, tag: Tag<'static>, root: &[u8]) -> Option<Effect<V>> {
        if !root.is_empty() {
            self.tagged_no(&tag, Some("NONEXISTENT"), "The only quota root is \"\"");
            return None;
        }
        self.with_view(tag, Asked::Quota)
    }

    /// Answers from the selected view, or asks for a look at the mailbox.
    fn with_view(&mut self, tag: Tag<'static>, asked: Asked) -> Option<Effect<V>> {
        match self.mailbox.clone() {
            Some(view) => {
                self.answer(&tag, &asked, &view);
                None
            }
            None => {
                self.state = State::Waiting(Awaiting::Peek { tag, then: asked });
                Some(Effect::Peek)
            }
        }
    }

    /// The answer to [`Effect::Peek`].
    pub fn peeked(&mut self, view: Result<MailboxView<V>, OpenError>) {
        let State::Waiting(Awaiting::Peek { tag, then }) = self.state.clone() else {
            return;
        };
        self.state = State::Authenticated;
        match view {
            Ok(view) => self.answer(&tag, &then, &view),
            Err(_) => self.tagged_no(&tag, Some("UNAVAILABLE"), "The mailbox cannot be read now; try again"),
        }
    }

    fn answer(&mut self, tag: &Tag<'static>, asked: &Asked, view: &MailboxView<V>) {
        match asked {
            Asked::Status(names) => {
                let count = |filter: fn(&super::Flags) -> bool| {
                    u32::try_from(view.entries.iter().filter(|e| filter(&e.flags)).count()).unwrap_or(u32::MAX)
                };
                let items: Vec<StatusDataItem> = names
                    .iter()
                    .filter_map(|name| match name {
                        StatusDataItemName::Messages => Some(StatusDataItem::Messages(count(|_| true))),
                        StatusDataItemName::Recent => Some(StatusDataItem::Recent(0)),
                        StatusDataItemName::Unseen => Some(StatusDataItem::Unseen(count(|f| !f.seen))),
                        StatusDataItemName::Deleted => Some(StatusDataItem::Deleted(count(|f| f.deleted))),
                        StatusDataItemName::UidNext => NonZeroU32::new(view.uid_next).map(StatusDataItem::UidNext),
                        StatusDataItemName::UidValidity => {
                            NonZeroU32::new(view.uid_validity).map(StatusDataItem::UidValidity)
                        }
                        _ => None,
                    })
                    .collect();
                self.data(Data::Status { mailbox: Mailbox::Inbox, items: Cow::Owned(items) });
                self.tagged_ok(tag, None, "STATUS completed");
            }
            Asked::QuotaRoot => {
                let root = AString::try_from("").ok();
                self.data(Data::QuotaRoot { mailbox: Mailbox::Inbox, roots: root.into_iter().collect() });
                self.quota_data(view);
                self.tagged_ok(tag, None, "GETQUOTAROOT completed");
            }
            Asked::Quota => {
                self.quota_data(view);
                self.tagged_ok(tag, None, "GETQUOTA completed");
            }
        }
    }

    /// `* QUOTA "" (STORAGE used limit)`, in units of 1024 octets (RFC 9208 §5.1).
    fn quota_data(&mut self, view: &MailboxView<V>) {
        let kib = |bytes: u64| bytes.div_ceil(1024);
        let storage = QuotaGet::new(Resource::Storage, kib(view.quota.used_bytes), kib(view.quota.limit_bytes));
        if let Ok(root) = AString::try_from("") {
            self.data(Data::Quota { root, quotas: Vec1::from(storage) });
        }
    }
}
