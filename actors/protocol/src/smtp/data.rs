//! Message content: DATA (RFC 5321 4.1.1.4) and BDAT chunks (RFC 3030), the size limit,
//! the content policy, and the answer to the delivery.

use smtp_proto::request::receiver::{BdatReceiver, DataReceiver, DummyDataReceiver};

use super::sender::{check_relayed_header, check_submitted_header};
use super::{Awaiting, Delivery, DeliveryVerdict, Door, Effect, Mode, Refusal, SmtpServer, Transaction, NO_ROOM};
use crate::content::{check_delivery_report, check_encrypted_message};
use crate::Vocabulary;

impl<V: Vocabulary> Transaction<V> {
    /// Whether the message may grow to `total` bytes: within the size limit `max` and the
    /// relay-wide budget. A refused message stays refused, and its bytes are let go at once.
    fn refuse_or_keep(&mut self, total: usize, max: usize) -> Option<Refusal> {
        let refusal = match self.refused {
            Some(refusal) => refusal,
            None if total > max => Refusal::TooBig,
            None if !self.reservation.grow_to(total as u64) => Refusal::NoRoom,
            None => return None,
        };
        self.refused = Some(refusal);
        self.body = Vec::new();
        self.reservation.release();
        Some(refusal)
    }
}

/// The room made for a message whose size was not declared: a signed and encrypted
/// document of a few pages.
const BODY_BYTES_FIRST: usize = 16 * 1024;
/// The most room made before the bytes arrive, whatever size was declared.
const BODY_BYTES_RESERVED_MAX: usize = 1024 * 1024;

impl<V: Vocabulary> SmtpServer<V> {
    /// Reads message content after DATA, up to the strict `CRLF.CRLF`. The body's bytes
    /// are taken from the relay-wide budget as they arrive.
    pub(super) fn data_input(&mut self, input: &[u8]) -> (usize, Option<Effect<V>>) {
        let Mode::Data(receiver) = &mut self.mode else {
            return (0, None);
        };
        let mut bytes = input.iter();
        let Some(tx) = self.transaction.as_mut() else {
            return (input.len(), None);
        };
        let done = receiver.ingest(&mut bytes, &mut tx.body);
        let used = input.len() - bytes.as_slice().len();
        if let Some(refusal) = tx.refuse_or_keep(tx.body.len(), self.config.message_bytes_max) {
            if !done {
                let receiver = DummyDataReceiver::new_data(receiver);
                self.mode = Mode::Discard { receiver, last: true, refusal };
                return (used, None);
            }
        }
        if done {
            self.mode = Mode::Command;
            return (used, self.end_of_message());
        }
        (used, None)
    }

    /// Reads one BDAT chunk.
    pub(super) fn bdat_input(&mut self, input: &[u8]) -> (usize, Option<Effect<V>>) {
        let Mode::Bdat(receiver) = &mut self.mode else {
            return (0, None);
        };
        let mut bytes = input.iter();
        let Some(tx) = self.transaction.as_mut() else {
            return (input.len(), None);
        };
        let done = receiver.ingest(&mut bytes, &mut tx.body);
        let used = input.len() - bytes.as_slice().len();
        if done {
            let last = receiver.is_last;
            self.mode = Mode::Command;
            if last {
                return (used, self.end_of_message());
            }
            let size = tx.body.len();
            self.reply(250, "2.0.0", &format!("{size} octets received"));
        }
        (used, None)
    }

    /// Swallows content that will be refused, then answers.
    pub(super) fn discard_input(&mut self, input: &[u8]) -> (usize, Option<Effect<V>>) {
        let Mode::Discard { receiver, last, refusal } = &mut self.mode else {
            return (0, None);
        };
        let mut bytes = input.iter();
        let done = receiver.ingest(&mut bytes);
        let used = input.len() - bytes.as_slice().len();
        if done {
            let (last, refusal) = (*last, *refusal);
            self.mode = Mode::Command;
            if last {
                self.transaction = None;
                self.refuse(refusal);
            } else if refusal == Refusal::NoRoom {
                self.reply(452, "4.3.1", NO_ROOM);
            } else {
                self.reply(250, "2.0.0", "Chunk discarded: the message is already too big");
            }
        }
        (used, None)
    }

    /// Answers for content that was swallowed: the transaction is over.
    fn refuse(&mut self, refusal: Refusal) {
        match refusal {
            Refusal::TooBig => {
                let max = self.config.message_bytes_max;
                self.reply(552, "5.3.4", &super::too_big(max));
            }
            Refusal::NoRoom => self.reply(452, "4.3.1", NO_ROOM),
        }
    }

    pub(super) fn data(&mut self) -> Option<Effect<V>> {
        let Some(tx) = &mut self.transaction else {
            return self.error_reply(503, "5.5.1", "Send MAIL first");
        };
        if tx.chunking {
            return self.error_reply(503, "5.5.1", "DATA cannot follow BDAT");
        }
        if tx.recipients.is_empty() {
            return self.error_reply(554, "5.5.1", "No valid recipients");
        }
        // Room for the whole message at once (its declared size, or a typical document's),
        // rather than a dozen regrowths as it arrives. Only room: the bytes are still counted
        // against the limits as they come.
        let expected = tx.declared_bytes.map_or(BODY_BYTES_FIRST, |declared| declared as usize);
        tx.body.reserve(expected.min(self.config.message_bytes_max).min(BODY_BYTES_RESERVED_MAX));
        let receiver = line_start_receiver(&mut tx.body);
        self.reply(354, "", "End data with <CR><LF>.<CR><LF>");
        self.mode = Mode::Data(receiver);
        None
    }

    pub(super) fn bdat(&mut self, chunk_size: usize, last: bool) -> Option<Effect<V>> {
        let max = self.config.message_bytes_max;
        let Some(tx) = &mut self.transaction else {
            // The chunk still follows on the wire: swallow it before answering.
            let receiver = DummyDataReceiver::new_bdat(chunk_size);
            self.mode = Mode::Discard { receiver, last: false, refusal: Refusal::TooBig };
            return self.error_reply(503, "5.5.1", "Send MAIL first");
        };
        tx.chunking = true;
        // The whole chunk is taken from the budget before it is read.
        if let Some(refusal) = tx.refuse_or_keep(tx.body.len().saturating_add(chunk_size), max) {
            self.mode = Mode::Discard { receiver: DummyDataReceiver::new_bdat(chunk_size), last, refusal };
            return None;
        }
        if tx.recipients.is_empty() {
            self.transaction = None;
            let receiver = DummyDataReceiver::new_bdat(chunk_size);
            self.mode = Mode::Discard { receiver, last: false, refusal: Refusal::TooBig };
            return self.error_reply(554, "5.5.1", "No valid recipients");
        }
        self.mode = Mode::Bdat(BdatReceiver::new(chunk_size, last));
        if chunk_size == 0 {
            return self.step(&[]).1;
        }
        None
    }

    fn end_of_message(&mut self) -> Option<Effect<V>> {
        let mut tx = self.transaction.take()?;
        if let Some(refusal) = tx.refused {
            self.refuse(refusal);
            return None;
        }
        if has_bare_line_ending(&tx.body) {
            // A bare LF or CR never ends the data here (only CRLF.CRLF does), but a reader
            // further on might take it for a line end: store canonical CRLF lines, so the
            // POP3 side dot-stuffs every line a reader could see.
            tx.body = canonical_line_endings(&tx.body);
            if !tx.reservation.grow_to(tx.body.len() as u64) {
                self.refuse(Refusal::NoRoom);
                return None;
            }
        }
        let checked = match (self.door, &self.user) {
            (Door::Relay, _) => check_relayed_header::<V>(&tx.body),
            (Door::Submission, Some(user)) => check_submitted_header::<V>(&tx.body, &user.address),
            (Door::Submission, None) => return None, // no transaction opens before a login
        };
        if let Err(why) = checked {
            self.content_refusal = why.counter();
            self.reply(550, "5.7.1", &format!("Message refused: {why}"));
            return Some(Effect::ContentRefused);
        }
        let checked = if tx.report { check_delivery_report(&tx.body) } else { check_encrypted_message(&tx.body) };
        match checked {
            Ok(content) => {
                let delivery = Delivery {
                    sender: tx.sender,
                    recipients: tx.recipients,
                    body: tx.body,
                    content,
                    report: tx.report,
                    reservation: tx.reservation,
                };
                self.await_effect(Awaiting::Delivery, Effect::Deliver(delivery))
            }
            Err(why) if tx.report => {
                self.content_refusal = "not-a-report";
                self.reply(554, "5.7.1", &format!("Message refused: {why}"));
                Some(Effect::ContentRefused)
            }
            Err(why) => {
                self.content_refusal = "not-encrypted";
                self.reply(
                    554,
                    "5.7.1",
                    &format!(
                        "Message refused: {why}. This relay carries only OpenPGP-encrypted messages \
                         (PGP/MIME or inline OpenPGP); encrypt the document to its recipients first"
                    ),
                );
                Some(Effect::ContentRefused)
            }
        }
    }

    /// The answer to [`Effect::Deliver`].
    pub fn delivered(&mut self, verdict: DeliveryVerdict<V>) {
        if !self.resume(Awaiting::Delivery) {
            return;
        }
        match verdict {
            DeliveryVerdict::Stored(id) => {
                self.messages_accepted += 1;
                self.reply(250, "2.0.0", &format!("Message accepted and stored as {id}"));
            }
            DeliveryVerdict::QuotaExceeded(address) => self.reply(552, "5.2.2", &format!("<{address}>: mailbox full")),
            DeliveryVerdict::LargerThanQuota(address, quota) => {
                self.reply(552, "5.3.4", &super::larger_than_quota(&address, quota));
            }
            DeliveryVerdict::StoreFull => self.reply(452, "4.3.1", "Insufficient system storage; try again later"),
            DeliveryVerdict::Failed => self.reply(451, "4.3.0", "Local error while storing; try again later"),
            DeliveryVerdict::Throttled(why) => self.reply(451, "4.7.1", &format!("Sending limit reached: {why}")),
            DeliveryVerdict::WrongKey { recipient, why } => self.reply(
                554,
                "5.7.1",
                &format!(
                    "<{recipient}>: message refused: {why}. Fetch the recipient's current certificate \
                     (HKP or WKD on this relay) and encrypt the document again"
                ),
            ),
            DeliveryVerdict::Blocked(why) => self.reply(
                554,
                "5.7.1",
                &format!("This account is blocked for mass mailing ({why}); contact the relay's administrator"),
            ),
        }
    }
}

/// True when a CR is not followed by LF, or an LF not preceded by CR.
///
/// Written as one pass without branches: canonical lines are exactly those where each byte
/// is an LF if and only if the byte before it is a CR, a comparison of neighbours the
/// compiler turns into vector instructions. An armoured body has a line end every 66 bytes,
/// and finding each one with a vectorised search, then looking around it, took 2.9 µs on a
/// 7.7 kB document where this pass takes 0.5 (docs/benchmarks.md, 2026-12-03).
fn has_bare_line_ending(body: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (body.first(), body.last()) else { return false };
    let unpaired = body
        .iter()
        .zip(&body[1..])
        .fold(0u8, |seen, (&before, &byte)| seen | (u8::from(before == b'\r') ^ u8::from(byte == b'\n')));
    first == b'\n' || last == b'\r' || unpaired != 0
}

/// Rewrites every bare CR or LF as CRLF.
fn canonical_line_endings(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 32);
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\r' if body.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            byte => out.push(byte),
        }
        i += 1;
    }
    out
}

/// A data receiver that knows it stands at the start of a line, as it does after the
/// `DATA` command's CRLF (RFC 5321 §4.1.1.4: that CRLF is the first of `<CRLF>.<CRLF>`).
/// smtp-proto's starts as if in the middle of a line, so a first line `..x` would keep its
/// stuffing dot and a lone `.` would not end an empty message; it is primed here with a
/// line end, which then leaves the body.
fn line_start_receiver(body: &mut Vec<u8>) -> DataReceiver {
    let mut receiver = DataReceiver::new();
    let already = body.len();
    receiver.ingest(&mut b"\r\n".iter(), body);
    body.truncate(already);
    receiver
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::has_bare_line_ending;

    /// The rule read byte by byte, as the definition.
    fn bare_by_bytes(body: &[u8]) -> bool {
        body.iter().enumerate().any(|(i, &b)| match b {
            b'\n' => i == 0 || body[i - 1] != b'\r',
            b'\r' => body.get(i + 1) != Some(&b'\n'),
            _ => false,
        })
    }

    #[test]
    fn bare_line_endings_are_found_wherever_they_are() {
        assert!(!has_bare_line_ending(b""));
        assert!(!has_bare_line_ending(b"a\r\nb\r\n"));
        assert!(has_bare_line_ending(b"\nab"));
        assert!(has_bare_line_ending(b"ab\r"));
        assert!(has_bare_line_ending(b"a\rb\r\n"));
        assert!(has_bare_line_ending(b"a\r\n\n"));
    }

    proptest! {
        #[test]
        fn the_search_agrees_with_the_bytewise_rule(body in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'a')], 0..64)) {
            prop_assert_eq!(has_bare_line_ending(&body), bare_by_bytes(&body));
        }
    }
}
