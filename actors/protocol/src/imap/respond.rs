//! The machine's responses, built as imap-codec's types and encoded by its codecs: tagged and
//! untagged status lines with their response codes, continuation requests, the greeting and
//! the capability list, and the untagged data a selection sends.

use std::borrow::Cow;
use std::num::NonZeroU32;

use imap_codec::encode::Encoder as _;
use imap_codec::imap_types::core::{Tag, Text, Vec1};
use imap_codec::imap_types::flag::{Flag, FlagPerm};
use imap_codec::imap_types::response::{
    Capability, Code, CodeOther, CommandContinuationRequest, Data, Greeting, GreetingKind, Response, Status,
};
use imap_codec::{GreetingCodec, ResponseCodec};

use super::{ImapServer, MailboxView, State};
use crate::Vocabulary;

/// The capabilities every session has, whatever its state.
const CAPABILITIES: &[&str] = &[
    "IMAP4rev1",
    "LITERAL+",
    "SASL-IR",
    "ID",
    "ENABLE",
    "IDLE",
    "NAMESPACE",
    "UIDPLUS",
    "UNSELECT",
    "CHILDREN",
    "QUOTA",
];

/// A status line's text: IMAP's text is 7-bit without line breaks (RFC 3501 §9, `TEXT-CHAR`);
/// one it cannot carry is replaced by a neutral one rather than sent.
fn text(words: &str) -> Text<'static> {
    Text::try_from(words.to_owned()).unwrap_or_else(|_| Text::unvalidated("Done"))
}

/// A response code by its name (RFC 3501 §7.1, RFC 5530): the codec's own variants where it
/// has one, else the atom as given — always one of this module's constants.
fn code(name: &str) -> Code<'static> {
    match name {
        "READ-ONLY" => Code::ReadOnly,
        "READ-WRITE" => Code::ReadWrite,
        "TOOBIG" => Code::TooBig,
        "OVERQUOTA" => Code::OverQuota,
        other => Code::Other(CodeOther::unvalidated(Cow::Owned(other.as_bytes().to_vec()))),
    }
}

impl<V: Vocabulary> ImapServer<V> {
    fn push(&mut self, response: &Response<'_>) {
        let encoded = ResponseCodec::default().encode(response).dump();
        self.output.extend_from_slice(&encoded);
    }

    fn push_status(&mut self, status: Status<'static>) {
        self.push(&Response::Status(status));
    }

    pub(super) fn data(&mut self, data: Data<'_>) {
        self.push(&Response::Data(data));
    }

    /// The capabilities in this session's state: `STARTTLS` and `LOGINDISABLED` before TLS,
    /// `AUTH=PLAIN` after it (RFC 3501 §6.2.3, RFC 8314 §5.1: no password in clear).
    pub(super) fn capabilities(&self) -> Vec1<Capability<'static>> {
        let mut names: Vec<&str> = CAPABILITIES.to_vec();
        if self.state == State::NotAuthenticated {
            if self.tls {
                names.push("AUTH=PLAIN");
            } else {
                names.extend(["STARTTLS", "LOGINDISABLED"]);
            }
        }
        let capabilities: Vec<Capability<'static>> =
            names.into_iter().filter_map(|name| Capability::try_from(name.to_owned()).ok()).collect();
        Vec1::try_from(capabilities).unwrap_or_else(|_| Vec1::from(Capability::Imap4Rev1))
    }

    pub(super) fn greet(&mut self) {
        let greeting = Greeting {
            kind: GreetingKind::Ok,
            code: Some(Code::Capability(self.capabilities())),
            text: text(&format!("{} Caducee IMAP ready", self.hostname)),
        };
        let encoded = GreetingCodec::default().encode(&greeting).dump();
        self.output.extend_from_slice(&encoded);
    }

    pub(super) fn tagged_ok(&mut self, tag: &Tag<'static>, name: Option<&str>, words: &str) {
        let Ok(status) = Status::ok(Some(tag.clone()), name.map(code), text(words));
        self.push_status(status);
    }

    /// `OK [CAPABILITY …]` after a login: the capabilities change with it (RFC 3501 §6.2.3).
    pub(super) fn tagged_ok_capabilities(&mut self, tag: &Tag<'static>, words: &str) {
        let capabilities = Code::Capability(self.capabilities());
        let Ok(status) = Status::ok(Some(tag.clone()), Some(capabilities), text(words));
        self.push_status(status);
    }

    pub(super) fn tagged_no(&mut self, tag: &Tag<'static>, name: Option<&str>, words: &str) {
        let Ok(status) = Status::no(Some(tag.clone()), name.map(code), text(words));
        self.push_status(status);
    }

    pub(super) fn tagged_bad(&mut self, tag: &Tag<'static>, name: Option<&str>, words: &str) {
        let Ok(status) = Status::bad(Some(tag.clone()), name.map(code), text(words));
        self.push_status(status);
    }

    pub(super) fn untagged_bad(&mut self, words: &str) {
        let Ok(status) = Status::bad(None, None, text(words));
        self.push_status(status);
    }

    pub(super) fn bye(&mut self, words: &str) {
        let Ok(status) = Status::bye(None, text(words));
        self.push_status(status);
    }

    /// The empty SASL challenge of `AUTHENTICATE PLAIN` (RFC 4616): `+ ` and nothing else.
    pub(super) fn sasl_continuation(&mut self) {
        self.push(&Response::CommandContinuationRequest(CommandContinuationRequest::Base64(Cow::Borrowed(b""))));
    }

    pub(super) fn continuation(&mut self, words: &str) {
        if let Ok(request) = CommandContinuationRequest::basic(None, text(words)) {
            self.push(&Response::CommandContinuationRequest(request));
        }
    }

    /// The untagged data of a selection (RFC 3501 §6.3.1): flags, the message count, the
    /// UID validity and the next UID, and the flags a client may change.
    pub(super) fn selected_responses(&mut self, view: &MailboxView<V>, read_only: bool) {
        self.data(Data::Flags(vec![Flag::Seen, Flag::Flagged, Flag::Deleted]));
        self.data(Data::Exists(u32::try_from(view.entries.len()).unwrap_or(u32::MAX)));
        self.data(Data::Recent(0));
        if let Some(first_unseen) = view.entries.iter().position(|entry| !entry.flags.seen) {
            if let Some(number) = NonZeroU32::new(u32::try_from(first_unseen + 1).unwrap_or(u32::MAX)) {
                self.status_code(Code::Unseen(number), "First unseen");
            }
        }
        if let Some(validity) = NonZeroU32::new(view.uid_validity) {
            self.status_code(Code::UidValidity(validity), "UIDs valid");
        }
        if let Some(next) = NonZeroU32::new(view.uid_next) {
            self.status_code(Code::UidNext(next), "Predicted next UID");
        }
        let permanent = if read_only {
            Vec::new()
        } else {
            vec![FlagPerm::Flag(Flag::Seen), FlagPerm::Flag(Flag::Flagged), FlagPerm::Flag(Flag::Deleted)]
        };
        self.status_code(Code::PermanentFlags(permanent), "Flags kept");
    }

    fn status_code(&mut self, code: Code<'static>, words: &str) {
        let Ok(status) = Status::ok(None, Some(code), text(words));
        self.push_status(status);
    }
}
