//! The selected state (RFC 3501 §6.4): FETCH, STORE, SEARCH, EXPUNGE and CLOSE on the
//! session's view of INBOX, IDLE (RFC 2177), and the changes other sessions and new mail
//! make to the mailbox, told to the client when the protocol allows.

use std::collections::VecDeque;
use std::num::NonZeroU32;

use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::fetch::{Macro, MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName};
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

use super::{fetch, Awaiting, Effect, Entry, Flags, ImapServer, State};
use crate::Vocabulary;

/// A change to the mailbox made elsewhere: new mail, another session's flags or expunge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<V: Vocabulary> {
    Arrived(Entry<V>),
    Flags { uid: u32, flags: Flags },
    Expunged { uid: u32 },
}

/// A SEARCH whose keys need the messages' headers or text: each message is read in turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SearchJob {
    tag: Tag<'static>,
    uid: bool,
    criteria: Vec<SearchKey<'static>>,
    /// Index in the view of the next message to read.
    next: usize,
    found: Vec<NonZeroU32>,
}

/// A FETCH that reads messages one after the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FetchJob {
    tag: Tag<'static>,
    uid: bool,
    names: Vec<MessageDataItemName<'static>>,
    /// Indexes in the view still to answer.
    queue: VecDeque<usize>,
    /// Flags changed by reading (`\Seen`), to keep.
    changed: Vec<(u32, Flags)>,
}

impl<V: Vocabulary> ImapServer<V> {
    /// Commands of the selected state; `None` when the command is not one of them.
    pub(super) fn selected_command(
        &mut self,
        tag: Tag<'static>,
        body: imap_codec::imap_types::command::CommandBody<'static>,
    ) -> Result<Option<Effect<V>>, imap_codec::imap_types::command::CommandBody<'static>> {
        use imap_codec::imap_types::command::CommandBody;
        let State::Selected { read_only } = self.state else {
            return Err(body);
        };
        Ok(match body {
            CommandBody::Check => {
                self.flush_changes();
                self.tagged_ok(&tag, None, "CHECK completed");
                None
            }
            CommandBody::Fetch { sequence_set, macro_or_item_names, uid, .. } => {
                self.fetch(tag, &sequence_set, macro_or_item_names, uid, read_only)
            }
            CommandBody::Store { sequence_set, kind, response, flags, uid, .. } => {
                self.store(tag, &sequence_set, (kind, response, &flags), uid, read_only)
            }
            CommandBody::Search { criteria, uid, .. } => self.search(tag, criteria.into_inner(), uid),
            CommandBody::Expunge if !read_only => self.expunge(tag, None),
            CommandBody::ExpungeUid { sequence_set } if !read_only => self.expunge(tag, Some(sequence_set)),
            CommandBody::Expunge | CommandBody::ExpungeUid { .. } => {
                self.tagged_no(&tag, Some("READ-ONLY"), "The mailbox was opened read-only (EXAMINE)");
                None
            }
            CommandBody::Close if !read_only => {
                let deleted = self.deleted_uids(None);
                self.state = State::Authenticated;
                self.closing = true;
                if deleted.is_empty() {
                    self.closed(&tag);
                    return Ok(None);
                }
                self.state = State::Waiting(Awaiting::Expunge { tag, silent: true, uids: deleted.clone() });
                Some(Effect::Expunge { uids: deleted })
            }
            other => return Err(other),
        })
    }

    /// `IDLE` (RFC 2177): changes are told as they come until the client sends `DONE`.
    pub(super) fn idle(&mut self, tag: Tag<'static>) {
        self.continuation("idling");
        self.state = State::Idle { tag };
        self.flush_changes();
    }

    fn closed(&mut self, tag: &Tag<'static>) {
        self.mailbox = None;
        self.pending.clear();
        self.closing = false;
        self.state = State::Authenticated;
        self.tagged_ok(tag, None, "Mailbox closed");
    }

    /// The view's indexes a set names: message numbers, or UIDs for the UID commands.
    fn targets(&self, set: &SequenceSet, uid: bool) -> Vec<usize> {
        let Some(view) = &self.mailbox else {
            return Vec::new();
        };
        let largest = if uid { view.entries.last().map_or(0, |e| e.uid) } else { view.entries.len() as u32 };
        view.entries
            .iter()
            .enumerate()
            .filter(|(index, entry)| {
                let number = if uid { entry.uid } else { *index as u32 + 1 };
                in_set(set, number, largest)
            })
            .map(|(index, _)| index)
            .collect()
    }

    fn fetch(
        &mut self,
        tag: Tag<'static>,
        set: &SequenceSet,
        names: MacroOrMessageDataItemNames<'static>,
        uid: bool,
        read_only: bool,
    ) -> Option<Effect<V>> {
        let mut names = match names {
            MacroOrMessageDataItemNames::Macro(Macro::Fast) => {
                vec![MessageDataItemName::Flags, MessageDataItemName::InternalDate, MessageDataItemName::Rfc822Size]
            }
            MacroOrMessageDataItemNames::Macro(_) => vec![
                MessageDataItemName::Flags,
                MessageDataItemName::InternalDate,
                MessageDataItemName::Rfc822Size,
                MessageDataItemName::Envelope,
            ],
            MacroOrMessageDataItemNames::MessageDataItemNames(names) => names,
        };
        if read_only {
            // EXAMINE: reading never marks a message seen (RFC 3501 §6.3.2).
            for name in &mut names {
                if let MessageDataItemName::BodyExt { peek, .. } = name {
                    *peek = true;
                }
            }
        }
        let job = FetchJob { tag, uid, names, queue: self.targets(set, uid).into(), changed: Vec::new() };
        self.next_fetch(job)
    }

    /// Answers the job's messages that need no content, and asks for the next one that does.
    fn next_fetch(&mut self, mut job: FetchJob) -> Option<Effect<V>> {
        let needs_content = fetch::needs_content(&job.names);
        while let Some(index) = job.queue.pop_front() {
            let Some(entry) = self.mailbox.as_ref().and_then(|view| view.entries.get(index)).copied() else {
                continue;
            };
            if needs_content {
                let message = entry.message;
                job.queue.push_front(index);
                self.state = State::Waiting(Awaiting::Retrieve(Box::new(job)));
                return Some(Effect::Retrieve { message });
            }
            self.fetch_answer(index, &entry, &job, None);
        }
        self.end_fetch(job)
    }

    /// The answer to [`Effect::Retrieve`]: the message's bytes, or `None` when it could not
    /// be read (it is left out of the answer, and the command ends in `NO`).
    pub fn retrieved(&mut self, content: Option<Vec<u8>>) -> Option<Effect<V>> {
        let job = match std::mem::replace(&mut self.state, State::Authenticated) {
            State::Waiting(Awaiting::Retrieve(job)) => job,
            State::Waiting(Awaiting::Search(job)) => {
                let Some(content) = content else {
                    self.state = self.selected_state();
                    self.tagged_no(&job.tag, Some("SERVERBUG"), "A message could not be read; try again");
                    return None;
                };
                return self.next_search(*job, Some(content));
            }
            other => {
                self.state = other;
                return None;
            }
        };
        let mut job = *job;
        self.state = self.selected_state();
        let index = job.queue.pop_front()?;
        let Some(mut entry) = self.mailbox.as_ref().and_then(|view| view.entries.get(index)).copied() else {
            return self.next_fetch(job);
        };
        let Some(content) = content else {
            self.tagged_no(&job.tag, Some("SERVERBUG"), "A message could not be read; try again");
            return None;
        };
        if fetch::sets_seen(&job.names) && !entry.flags.seen {
            entry.flags.seen = true;
            job.changed.push((entry.uid, entry.flags));
            if let Some(stored) = self.mailbox.as_mut().and_then(|view| view.entries.get_mut(index)) {
                stored.flags = entry.flags;
            }
        }
        self.fetch_answer(index, &entry, &job, Some(&content));
        self.next_fetch(job)
    }

    fn fetch_answer(&mut self, index: usize, entry: &Entry<V>, job: &FetchJob, content: Option<&[u8]>) {
        let mut items = fetch::items(entry, &job.names, content, job.uid);
        // A message this FETCH marked seen says so (RFC 3501 §6.4.5).
        if job.changed.iter().any(|(uid, _)| *uid == entry.uid)
            && !items.iter().any(|item| matches!(item, MessageDataItem::Flags(_)))
        {
            items.push(MessageDataItem::Flags(fetch::flags(entry.flags)));
        }
        let (Some(seq), Ok(items)) = (NonZeroU32::new(index as u32 + 1), items.try_into()) else {
            return;
        };
        self.data(Data::Fetch { seq, items });
    }

    fn end_fetch(&mut self, job: FetchJob) -> Option<Effect<V>> {
        self.state = self.selected_state();
        if job.changed.is_empty() {
            self.tagged_ok(&job.tag, None, "FETCH completed");
            return None;
        }
        self.state = State::Waiting(Awaiting::Flags { tag: job.tag, verb: "FETCH" });
        Some(Effect::StoreFlags { changes: job.changed })
    }

    /// The state to return to once a command on the selected mailbox is answered.
    pub(super) fn selected_state(&self) -> State {
        State::Selected { read_only: self.examine }
    }

    fn store(
        &mut self,
        tag: Tag<'static>,
        set: &SequenceSet,
        (kind, response, flags): (StoreType, StoreResponse, &[Flag<'static>]),
        uid: bool,
        read_only: bool,
    ) -> Option<Effect<V>> {
        if read_only {
            self.tagged_no(&tag, Some("READ-ONLY"), "The mailbox was opened read-only (EXAMINE)");
            return None;
        }
        let asked = flags_of(flags);
        let mut changes = Vec::new();
        for index in self.targets(set, uid) {
            let Some(entry) = self.mailbox.as_mut().and_then(|view| view.entries.get_mut(index)) else {
                continue;
            };
            entry.flags = match kind {
                StoreType::Replace => asked,
                StoreType::Add => union(entry.flags, asked, true),
                StoreType::Remove => union(entry.flags, asked, false),
            };
            let entry = *entry;
            changes.push((entry.uid, entry.flags));
            if response == StoreResponse::Answer {
                let mut items = vec![MessageDataItem::Flags(fetch::flags(entry.flags))];
                if uid {
                    items.extend(NonZeroU32::new(entry.uid).map(MessageDataItem::Uid));
                }
                if let (Some(seq), Ok(items)) = (NonZeroU32::new(index as u32 + 1), items.try_into()) {
                    self.data(Data::Fetch { seq, items });
                }
            }
        }
        if changes.is_empty() {
            self.tagged_ok(&tag, None, "STORE completed");
            return None;
        }
        self.state = State::Waiting(Awaiting::Flags { tag, verb: "STORE" });
        Some(Effect::StoreFlags { changes })
    }

    /// The answer to [`Effect::StoreFlags`]: true when the flags are kept.
    pub fn flags_stored(&mut self, kept: bool) {
        let State::Waiting(Awaiting::Flags { tag, verb }) = self.state.clone() else {
            return;
        };
        self.state = self.selected_state();
        if kept {
            self.tagged_ok(&tag, None, &format!("{verb} completed"));
        } else {
            self.tagged_no(&tag, Some("UNAVAILABLE"), "The flags could not be kept; try again");
        }
    }

    /// SEARCH: answered from the view when its keys allow, else by reading each message
    /// (FROM, SUBJECT, TO, CC, HEADER, TEXT, BODY, SENT…: the clear headers and the stored
    /// bytes, never anything decrypted).
    fn search(&mut self, tag: Tag<'static>, criteria: Vec<SearchKey<'static>>, uid: bool) -> Option<Effect<V>> {
        let job = SearchJob { tag, uid, criteria, next: 0, found: Vec::new() };
        self.next_search(job, None)
    }

    /// Goes on with a search: `content` is the bytes of the message at `job.next` when it
    /// was read for it.
    fn next_search(&mut self, mut job: SearchJob, mut content: Option<Vec<u8>>) -> Option<Effect<V>> {
        let Some(view) = &self.mailbox else {
            return None;
        };
        let bounds = (view.entries.len() as u32, view.entries.last().map_or(0, |e| e.uid));
        while let Some(entry) = view.entries.get(job.next).copied() {
            let number = job.next as u32 + 1;
            let parsed = content.as_deref().map(Parsed::new);
            let verdict = job
                .criteria
                .iter()
                .try_fold(true, |all, key| Some(all && matches(key, &entry, number, bounds, parsed.as_ref())?));
            match verdict {
                Some(hit) => {
                    if hit {
                        job.found.extend(NonZeroU32::new(if job.uid { entry.uid } else { number }));
                    }
                    job.next += 1;
                    content = None;
                }
                None => {
                    let message = entry.message;
                    self.state = State::Waiting(Awaiting::Search(Box::new(job)));
                    return Some(Effect::Retrieve { message });
                }
            }
        }
        self.state = self.selected_state();
        self.data(Data::Search(job.found));
        self.tagged_ok(&job.tag, None, "SEARCH completed");
        None
    }

    /// The UIDs marked `\Deleted`, within `set` when given (UID EXPUNGE, RFC 4315).
    fn deleted_uids(&self, set: Option<&SequenceSet>) -> Vec<u32> {
        let Some(view) = &self.mailbox else {
            return Vec::new();
        };
        let largest = view.entries.last().map_or(0, |e| e.uid);
        view.entries
            .iter()
            .filter(|entry| entry.flags.deleted)
            .filter(|entry| set.is_none_or(|set| in_set(set, entry.uid, largest)))
            .map(|entry| entry.uid)
            .collect()
    }

    fn expunge(&mut self, tag: Tag<'static>, set: Option<SequenceSet>) -> Option<Effect<V>> {
        let uids = self.deleted_uids(set.as_ref());
        if uids.is_empty() {
            self.flush_changes();
            self.tagged_ok(&tag, None, "EXPUNGE completed");
            return None;
        }
        self.state = State::Waiting(Awaiting::Expunge { tag, silent: false, uids: uids.clone() });
        Some(Effect::Expunge { uids })
    }

    /// The answer to [`Effect::Expunge`]: true when the messages are erased for this
    /// recipient (durably).
    pub fn expunged(&mut self, done: bool) {
        let State::Waiting(Awaiting::Expunge { tag, silent, uids }) = self.state.clone() else {
            return;
        };
        self.state = self.selected_state();
        if !done {
            self.closing = false;
            self.tagged_no(&tag, Some("UNAVAILABLE"), "The messages could not be erased; try again");
            return;
        }
        if silent || self.closing {
            self.closed(&tag);
            return;
        }
        self.pending.extend(uids.into_iter().map(|uid| Change::Expunged { uid }));
        self.flush_changes();
        self.tagged_ok(&tag, None, "EXPUNGE completed");
    }

    /// A change made elsewhere. New mail is told at once; flags and expunges when a command
    /// that allows them ends, or at once while idling (RFC 3501 §7.4.1, RFC 2177).
    pub fn mailbox_changed(&mut self, change: Change<V>) {
        if self.mailbox.is_none() {
            return;
        }
        match change {
            Change::Arrived(entry) => {
                let Some(view) = self.mailbox.as_mut() else { return };
                if view.entries.iter().any(|known| known.uid >= entry.uid) {
                    return;
                }
                view.uid_next = view.uid_next.max(entry.uid + 1);
                view.entries.push(entry);
                let count = view.entries.len() as u32;
                self.data(Data::Exists(count));
            }
            other => {
                self.pending.push(other);
                if matches!(self.state, State::Idle { .. }) {
                    self.flush_changes();
                }
            }
        }
    }

    /// Tells the client the changes held back: flags as `FETCH`, expunges as `EXPUNGE`
    /// (each renumbering those after it).
    pub(super) fn flush_changes(&mut self) {
        for change in std::mem::take(&mut self.pending) {
            let Some(view) = self.mailbox.as_mut() else { return };
            match change {
                Change::Flags { uid, flags } => {
                    let Some(index) = view.entries.iter().position(|e| e.uid == uid) else { continue };
                    view.entries[index].flags = flags;
                    let items = vec![
                        MessageDataItem::Flags(fetch::flags(flags)),
                        MessageDataItem::Uid(NonZeroU32::new(uid).unwrap_or(NonZeroU32::MIN)),
                    ];
                    if let (Some(seq), Ok(items)) = (NonZeroU32::new(index as u32 + 1), items.try_into()) {
                        self.data(Data::Fetch { seq, items });
                    }
                }
                Change::Expunged { uid } => {
                    let Some(index) = view.entries.iter().position(|e| e.uid == uid) else { continue };
                    view.entries.remove(index);
                    if let Some(seq) = NonZeroU32::new(index as u32 + 1) {
                        self.data(Data::Expunge(seq));
                    }
                }
                Change::Arrived(_) => {}
            }
        }
    }
}

/// Whether `number` (a message number or a UID) is in `set`, `*` being `largest`.
fn in_set(set: &SequenceSet, number: u32, largest: u32) -> bool {
    let value = |bound: &SeqOrUid| match bound {
        SeqOrUid::Value(value) => value.get(),
        SeqOrUid::Asterisk => largest,
    };
    set.0.as_ref().iter().any(|sequence| match sequence {
        Sequence::Single(single) => value(single) == number,
        Sequence::Range(a, b) => {
            let (low, high) = (value(a).min(value(b)), value(a).max(value(b)));
            (low..=high).contains(&number)
        }
    })
}

fn flags_of(flags: &[Flag<'_>]) -> Flags {
    Flags {
        seen: flags.contains(&Flag::Seen),
        flagged: flags.contains(&Flag::Flagged),
        deleted: flags.contains(&Flag::Deleted),
    }
}

fn union(flags: Flags, asked: Flags, add: bool) -> Flags {
    let apply = |have: bool, want: bool| if want { add } else { have };
    Flags {
        seen: apply(flags.seen, asked.seen),
        flagged: apply(flags.flagged, asked.flagged),
        deleted: apply(flags.deleted, asked.deleted),
    }
}

/// A message read for a search: its bytes and their header, parsed.
struct Parsed<'a> {
    bytes: &'a [u8],
    message: Option<mail_parser::Message<'a>>,
}

impl<'a> Parsed<'a> {
    fn new(bytes: &'a [u8]) -> Parsed<'a> {
        Parsed { bytes, message: mail_parser::MessageParser::default().parse_headers(bytes) }
    }

    /// The raw value of a header field, unfolded.
    fn header(&self, name: &str) -> String {
        self.message
            .as_ref()
            .and_then(|message| message.header_raw(name.to_owned()))
            .map(|value| value.replace(['\r', '\n'], ""))
            .unwrap_or_default()
    }

    fn sent(&self) -> Option<chrono::NaiveDate> {
        let date = self.message.as_ref()?.date()?;
        chrono::DateTime::from_timestamp(date.to_timestamp(), 0).map(|at| at.date_naive())
    }
}

/// RFC 3501 §6.4.4: a string matches when it is a substring, ignoring case.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|window| window.eq_ignore_ascii_case(needle))
}

/// Whether a message matches a search key; `None` when the key needs the message's headers
/// or text and `parsed` is not given.
fn matches<V: Vocabulary>(
    key: &SearchKey<'_>,
    entry: &Entry<V>,
    number: u32,
    (count, largest_uid): (u32, u32),
    parsed: Option<&Parsed<'_>>,
) -> Option<bool> {
    let day = |seconds: i64| chrono::DateTime::from_timestamp(seconds, 0).map(|at| at.date_naive());
    let internal = day(entry.accepted_at);
    Some(match key {
        SearchKey::All => true,
        SearchKey::Seen => entry.flags.seen,
        SearchKey::Unseen => !entry.flags.seen,
        SearchKey::Deleted => entry.flags.deleted,
        SearchKey::Undeleted => !entry.flags.deleted,
        SearchKey::Flagged => entry.flags.flagged,
        SearchKey::Unflagged => !entry.flags.flagged,
        SearchKey::Answered | SearchKey::Draft | SearchKey::Recent | SearchKey::New => false,
        SearchKey::Unanswered | SearchKey::Undraft | SearchKey::Old => true,
        SearchKey::Larger(size) => entry.size > u64::from(*size),
        SearchKey::Smaller(size) => entry.size < u64::from(*size),
        SearchKey::Since(date) => internal.is_some_and(|d| d >= *date.as_ref()),
        SearchKey::Before(date) => internal.is_some_and(|d| d < *date.as_ref()),
        SearchKey::On(date) => internal.is_some_and(|d| d == *date.as_ref()),
        SearchKey::SequenceSet(set) => in_set(set, number, count),
        SearchKey::Uid(set) => in_set(set, entry.uid, largest_uid),
        SearchKey::Not(inner) => !matches(inner, entry, number, (count, largest_uid), parsed)?,
        SearchKey::Or(a, b) => {
            let bounds = (count, largest_uid);
            matches(a, entry, number, bounds, parsed)? || matches(b, entry, number, bounds, parsed)?
        }
        SearchKey::And(keys) => {
            let mut all = true;
            for key in keys.as_ref() {
                all &= matches(key, entry, number, (count, largest_uid), parsed)?;
            }
            all
        }
        key => {
            let parsed = parsed?;
            let field = |name: &str, value: &[u8]| contains(parsed.header(name).as_bytes(), value);
            let header_end = parsed.message.as_ref().map_or(0, |m| m.root_part().offset_body as usize);
            match key {
                SearchKey::From(value) => field("From", value.as_ref()),
                SearchKey::To(value) => field("To", value.as_ref()),
                SearchKey::Cc(value) => field("Cc", value.as_ref()),
                SearchKey::Bcc(value) => field("Bcc", value.as_ref()),
                SearchKey::Subject(value) => field("Subject", value.as_ref()),
                SearchKey::Header(name, value) => field(&String::from_utf8_lossy(name.as_ref()), value.as_ref()),
                SearchKey::Text(value) => contains(parsed.bytes, value.as_ref()),
                SearchKey::Body(value) => contains(parsed.bytes.get(header_end..).unwrap_or_default(), value.as_ref()),
                SearchKey::SentBefore(date) => parsed.sent().is_some_and(|d| d < *date.as_ref()),
                SearchKey::SentOn(date) => parsed.sent().is_some_and(|d| d == *date.as_ref()),
                SearchKey::SentSince(date) => parsed.sent().is_some_and(|d| d >= *date.as_ref()),
                // Keywords are not kept; other keys (MODSEQ…) are not offered.
                _ => false,
            }
        }
    })
}
