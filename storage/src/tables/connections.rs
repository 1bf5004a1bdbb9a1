//! The connection log, kept twelve months and never holding content or secrets: one record
//! per authenticated SMTP or POP3 session, in the order sessions ended, and one *tally* per
//! minute, protocol and source address for the sessions that never logged in.
//!
//! A connection that never says a word costs its peer nothing: logged one record each, a
//! single address could fill the store with them. Tallied, a thousand connections from one
//! address in one minute are one record with a count and the outcomes seen. Neither kind is
//! written once the store has no room to spare (see [`crate::counters`]): the caller gets
//! [`StoreError::Full`] and the session goes on without its record.

use bincode::{Decode, Encode};
use heed::{RoTxn, RwTxn};

use crate::counters::Counters;
use crate::schema::{decode, seq_key, tally_key, Tables};
use crate::types::*;
use crate::StoreError;

/// One minute in milliseconds: the span of a tally.
pub const TALLY_MINUTE_MILLIS: u64 = 60_000;
/// Most outcome kinds a tally names; the others are counted under [`OTHER_OUTCOMES`].
pub const TALLY_OUTCOME_KINDS_MAX: usize = 8;
/// The outcome under which a tally counts the kinds past [`TALLY_OUTCOME_KINDS_MAX`].
pub const OTHER_OUTCOMES: &str = "other";
/// Longest source address kept (an IPv6 address with a zone takes under 64 bytes).
pub const PEER_BYTES_MAX: usize = 64;

/// The sessions from one source address, over one protocol, that ended within one minute
/// without logging in.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct ConnectionTally {
    /// The minute the sessions ended in (its first millisecond, UTC).
    pub minute: Millis,
    pub protocol: Protocol,
    pub peer: String,
    /// When the first of them started.
    pub first_started_at: Millis,
    /// When the last of them ended.
    pub last_ended_at: Millis,
    /// How many sessions.
    pub sessions: u32,
    /// How many ended with each outcome ("closed", "timeout", "auth-failed", …), in the
    /// order first seen.
    pub outcomes: Vec<(String, u32)>,
}

impl ConnectionTally {
    /// A tally of no session yet, for `record`'s minute, protocol and address.
    fn empty_for(record: &ConnectionRecord) -> ConnectionTally {
        ConnectionTally {
            minute: minute_of(record.ended_at),
            protocol: record.protocol,
            peer: bounded_peer(&record.peer).to_owned(),
            first_started_at: record.started_at,
            last_ended_at: record.ended_at,
            sessions: 0,
            outcomes: Vec::new(),
        }
    }

    /// Counts one more session.
    fn add(&mut self, record: &ConnectionRecord) {
        self.sessions = self.sessions.saturating_add(1);
        self.first_started_at = self.first_started_at.min(record.started_at);
        self.last_ended_at = self.last_ended_at.max(record.ended_at);
        let kind = if self.outcomes.iter().any(|(outcome, _)| *outcome == record.outcome)
            || self.outcomes.len() < TALLY_OUTCOME_KINDS_MAX - 1
        {
            record.outcome.as_str()
        } else {
            OTHER_OUTCOMES
        };
        match self.outcomes.iter_mut().find(|(outcome, _)| outcome == kind) {
            Some((_, count)) => *count = count.saturating_add(1),
            None => self.outcomes.push((kind.to_owned(), 1)),
        }
    }
}

/// The first millisecond of the minute `at` falls in.
fn minute_of(at: Millis) -> Millis {
    Millis(at.0 - at.0 % TALLY_MINUTE_MILLIS)
}

/// The source address cut to [`PEER_BYTES_MAX`] (on a character boundary).
fn bounded_peer(peer: &str) -> &str {
    let mut end = peer.len().min(PEER_BYTES_MAX);
    while !peer.is_char_boundary(end) {
        end -= 1;
    }
    &peer[..end]
}

/// The records of authenticated sessions, oldest first, at most `limit` from the end.
pub(crate) fn tail(t: &Tables, txn: &RoTxn<'_>, limit: usize) -> Result<Vec<ConnectionRecord>, StoreError> {
    let mut lines = Vec::new();
    for item in t.connections.rev_iter(txn)?.take(limit) {
        let (_, bytes) = item?;
        lines.push(decode(bytes)?);
    }
    lines.reverse();
    Ok(lines)
}

/// The tallies of sessions that never logged in, oldest minute first, at most `limit` from
/// the end.
pub(crate) fn tallies(t: &Tables, txn: &RoTxn<'_>, limit: usize) -> Result<Vec<ConnectionTally>, StoreError> {
    let mut lines = Vec::new();
    for item in t.connection_tallies.rev_iter(txn)?.take(limit) {
        let (_, bytes) = item?;
        lines.push(decode(bytes)?);
    }
    lines.reverse();
    Ok(lines)
}

/// Lines in the connection log: records and tallies.
pub(crate) fn lines(t: &Tables, txn: &RoTxn<'_>) -> Result<u64, StoreError> {
    Ok(t.connections.len(txn)? + t.connection_tallies.len(txn)?)
}

/// One account's records, newest first, at most `limit`.
pub(crate) fn of(
    t: &Tables,
    txn: &RoTxn<'_>,
    address: &str,
    since: Millis,
    limit: usize,
) -> Result<Vec<ConnectionRecord>, StoreError> {
    super::newest_matching(t.connections, txn, limit, |record: &ConnectionRecord| {
        record.account.as_deref() == Some(address) && record.started_at >= since
    })
}

/// Logs one session: a record of its own when it logged in, otherwise a count in its
/// minute's tally. Refused with [`StoreError::Full`], having written nothing, when the map
/// has no room to spare for it.
pub(crate) fn log(
    t: &Tables,
    txn: &mut RwTxn,
    record: &ConnectionRecord,
    counters: &mut Counters,
) -> Result<(), StoreError> {
    let authenticated = record.account.is_some();
    if !counters.log_has_room(t, txn, authenticated)? {
        return Err(StoreError::Full);
    }
    if authenticated {
        let seq = counters.next_log;
        counters.next_log += 1;
        return super::put(t.connections, txn, &seq_key(seq), record);
    }
    let key = tally_key(minute_of(record.ended_at), record.protocol, bounded_peer(&record.peer));
    let mut tally = super::get(t.connection_tallies, txn, &key)?.unwrap_or_else(|| ConnectionTally::empty_for(record));
    tally.add(record);
    super::put(t.connection_tallies, txn, &key, &tally)
}

/// Removes the records and tallies of sessions ended before `before`; returns how many.
pub(crate) fn purge_before(t: &Tables, txn: &mut RwTxn, before: Millis) -> Result<u64, StoreError> {
    let mut doomed = Vec::new();
    for item in t.connections.iter(txn)? {
        let (key, bytes) = item?;
        let record: ConnectionRecord = decode(bytes)?;
        // Records are written as sessions end, so their end times follow the keys: stop at
        // the first record still kept.
        if record.ended_at >= before {
            break;
        }
        doomed.push(key.to_vec());
    }
    for key in &doomed {
        t.connections.delete(txn, key)?;
    }
    let mut doomed_tallies = Vec::new();
    for item in t.connection_tallies.iter(txn)? {
        let (key, bytes) = item?;
        let tally: ConnectionTally = decode(bytes)?;
        // Keyed by minute first: stop at the first minute that may hold a session kept.
        if tally.minute >= before {
            break;
        }
        if tally.last_ended_at < before {
            doomed_tallies.push(key.to_vec());
        }
    }
    for key in &doomed_tallies {
        t.connection_tallies.delete(txn, key)?;
    }
    Ok((doomed.len() + doomed_tallies.len()) as u64)
}
