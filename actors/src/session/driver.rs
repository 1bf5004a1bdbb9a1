//! One loop for every line protocol: write the machine's replies, feed it input, read more
//! within the idle limits, end idle sessions and those caught by a shutdown with the
//! protocol's own closing reply, start TLS when asked — and hand every other effect to the
//! protocol's [`Protocol`] implementation.
//!
//! A protocol plugs in with two pieces: a sans-I/O machine implementing
//! [`caducee_protocol::Machine`] and a [`Protocol`] here performing its effects
//! (`session/smtp.rs` for submission, `session/pop3.rs` for collection). IMAP, or a relay
//! port between operators, comes as a third and fourth pair; this loop does not change.

use caducee_protocol::Machine;
use caducee_storage::ConnectionRecord;

use super::conn::Conn;
use super::SessionContext;

/// Read buffer per connection.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// What the driver does after an effect was performed.
pub(super) enum Flow<E> {
    /// Go on reading and answering.
    Continue,
    /// The answer produced another effect: perform it next.
    Then(E),
    /// Write out the output, drop input already buffered (RFC 3207 §6, RFC 2595 §4), start
    /// TLS, then tell the machine.
    StartTls,
    /// Write out the output and end the session with this outcome.
    Close(&'static str),
}

/// A protocol's effects, performed against the relay (store, mailboxes, monitor).
pub(super) trait Protocol {
    /// The sans-I/O machine this protocol drives.
    type Machine: Machine;

    /// Performs one effect the machine asked for and answers it.
    async fn perform(
        &mut self,
        effect: <Self::Machine as Machine>::Effect,
        machine: &mut Self::Machine,
        record: &mut ConnectionRecord,
    ) -> Flow<<Self::Machine as Machine>::Effect>;

    /// The outcome logged when the machine closed on its own (no closing effect).
    fn closed_outcome(&self) -> &'static str;
}

/// Why a read ended.
enum Input {
    Bytes,
    Closed,
    Idle,
    Shutdown,
}

/// One connection's socket and buffers, driving one machine.
pub(super) struct Driver {
    pub(super) conn: Conn,
    context: SessionContext,
    /// Read buffer, reused for every read of the session.
    chunk: Box<[u8]>,
    input: Vec<u8>,
    pub(super) record: ConnectionRecord,
}

impl Driver {
    pub(super) fn new(conn: Conn, context: SessionContext, record: ConnectionRecord) -> Self {
        Driver { conn, context, chunk: vec![0; READ_CHUNK_BYTES].into_boxed_slice(), input: Vec::new(), record }
    }

    /// Runs the dialogue to its end; returns the outcome to log.
    pub(super) async fn run<P: Protocol>(&mut self, machine: &mut P::Machine, protocol: &mut P) -> &'static str {
        let mut pending = None;
        loop {
            if machine.has_output() && self.conn.write_all(&machine.take_output()).await.is_err() {
                return "write-failed";
            }
            if machine.is_closed() && pending.is_none() {
                return protocol.closed_outcome();
            }
            let effect = match pending.take() {
                Some(effect) => effect,
                None => {
                    let (used, effect) = machine.receive(&self.input);
                    self.input.drain(..used);
                    match effect {
                        Some(effect) => effect,
                        // Write the replies out before waiting for more input.
                        None if machine.has_output() => continue,
                        None => match self.read_more(machine.logged_in(), machine.in_data()).await {
                            Input::Bytes => continue,
                            Input::Closed => return "dropped",
                            Input::Idle => return self.close_now(machine, "Idle too long; closing", "timeout").await,
                            Input::Shutdown => {
                                let why = "Service shutting down; try again shortly";
                                return self.close_now(machine, why, "shutdown").await;
                            }
                        },
                    }
                }
            };
            match protocol.perform(effect, machine, &mut self.record).await {
                Flow::Continue => {}
                Flow::Then(effect) => pending = Some(effect),
                Flow::StartTls => {
                    if let Err(outcome) = self.start_tls(machine).await {
                        return outcome;
                    }
                }
                Flow::Close(outcome) => {
                    let _ = self.conn.write_all(&machine.take_output()).await;
                    return outcome;
                }
            }
        }
    }

    /// Reads more input, within the idle limit, unless the relay is shutting down.
    /// `finish_first` lets content in flight arrive despite a shutdown.
    async fn read_more(&mut self, logged_in: bool, finish_first: bool) -> Input {
        let idle = if logged_in { self.context.limits.idle_after_login } else { self.context.limits.idle_before_login };
        let mut shutdown = self.context.shutdown.clone();
        if *shutdown.borrow() && !finish_first {
            return Input::Shutdown;
        }
        tokio::select! {
            read = tokio::time::timeout(idle, self.conn.read(&mut self.chunk)) => match read {
                Ok(Ok(0)) | Ok(Err(_)) => Input::Closed,
                Ok(Ok(n)) => {
                    self.input.extend_from_slice(&self.chunk[..n]);
                    Input::Bytes
                }
                Err(_) => Input::Idle,
            },
            _ = shutdown.wait_for(|stop| *stop), if !finish_first => Input::Shutdown,
        }
    }

    /// Writes the protocol's closing reply and ends with `outcome`.
    async fn close_now<M: Machine>(&mut self, machine: &mut M, why: &str, outcome: &'static str) -> &'static str {
        machine.close_now(why);
        let _ = self.conn.write_all(&machine.take_output()).await;
        outcome
    }

    async fn start_tls<M: Machine>(&mut self, machine: &mut M) -> Result<(), &'static str> {
        if self.conn.write_all(&machine.take_output()).await.is_err() {
            return Err("write-failed");
        }
        // Anything pipelined after STARTTLS/STLS is discarded (RFC 3207 §6, RFC 2595 §4).
        self.input.clear();
        self.conn.start_tls(&self.context).await?;
        machine.tls_started();
        Ok(())
    }
}
