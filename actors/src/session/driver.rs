//! One loop for every line protocol: write the machine's replies, feed it input, read more
//! within the idle limits, end idle sessions and those caught by a shutdown with the
//! protocol's own closing reply, start TLS when asked — and hand every other effect to the
//! protocol's [`Protocol`] implementation.
//!
//! Before login a session is on probation: it must log in within an absolute lifetime
//! (`login_within`), whatever it sends, and the machine sees at most
//! `commands_before_login` command lines; past either, the session ends with the
//! protocol's closing reply. Every write has a timeout: a client that stops reading is
//! dropped. At login the session's [`Ticket`] is told, so that the listener can move it to
//! the slots kept for logged-in sessions.
//!
//! A protocol plugs in with two pieces: a sans-I/O machine implementing
//! [`caducee_protocol::Machine`] and a [`Protocol`] here performing its effects
//! (`session/smtp.rs` for submission and the relay port, `session/pop3.rs` and
//! `session/imap.rs` for collection). A protocol that hears of things between commands
//! (IMAP: new mail, other sessions' flags and expunges) gives the driver an event source,
//! waited on beside the socket whenever the driver reads.

use std::future::Future;
use std::pin::Pin;

use caducee_protocol::{Closing, Machine};
use caducee_storage::ConnectionRecord;
use tokio::time::{Instant, Sleep};

use super::conn::Conn;
use super::SessionContext;

/// Replies are grouped until the client's pipelined commands are all answered, or until
/// this much waits (retrieved messages), whichever comes first.
const OUTPUT_GROUPED_BYTES_MAX: usize = 64 * 1024;

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

    /// What the relay tells the session between commands; `Infallible` for a protocol
    /// that hears nothing.
    type Event;

    /// Waits for the next event. Must be cancel-safe: the driver drops it when input
    /// arrives first. Never ready for a protocol that hears nothing.
    async fn event(&mut self) -> Self::Event;

    /// An event arrived while the driver was reading: hands it to the machine (which may
    /// queue output, or close).
    fn heard(&mut self, event: Self::Event, machine: &mut Self::Machine);

    /// The idle limit once logged in, given the configured one: a protocol may need a
    /// longer one (RFC 3501 §5.4: IMAP's is at least 30 minutes).
    fn idle_after_login(&self, configured: std::time::Duration) -> std::time::Duration {
        configured
    }

    /// TLS started; the client presented these certificates (end entity first), if any.
    fn tls_started(&mut self, _peer_certificates: Vec<rustls::pki_types::CertificateDer<'static>>) {}
}

/// A session's hold on its listener's connection slot: dropped when the session ends.
pub trait Ticket: Send {
    /// The session logged in: from now on it counts among logged-in sessions.
    fn logged_in(&mut self);
}

/// Why a read ended.
enum Input<E> {
    Bytes,
    /// The protocol heard of something.
    Event(E),
    Closed,
    Idle,
    /// The time allowed to log in ran out.
    LoginTooLate,
    Shutdown,
}

/// One connection's socket and buffers, driving one machine.
pub(super) struct Driver {
    pub(super) conn: Conn,
    context: SessionContext,
    /// What was read and not yet taken by the machine; reads add to its end.
    input: Vec<u8>,
    pub(super) record: ConnectionRecord,
    /// Login must be complete by then.
    login_deadline: Instant,
    /// Command lines the machine may still see before login.
    commands_left: usize,
    /// Told of the login, once; `None` once told (or when nothing listens).
    ticket: Option<Box<dyn Ticket>>,
    /// Keeps the slot until the session ends, once told of the login.
    _held: Option<Box<dyn Ticket>>,
    /// The session's one timer for its waits for input. Its deadline is never later than
    /// the current wait's end; when it fires earlier (an earlier wait's end, input having
    /// come since), it is moved to the current one. So it is armed about once per idle
    /// limit, not once per read: a new timer per read is a registration and a removal in
    /// the runtime's timer wheel for every wait of every message.
    wait_timer: Pin<Box<Sleep>>,
    /// Ready once the relay shuts down (or its signal is gone); kept across reads for the
    /// same reason, and polled no more once it was ready.
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    shutdown_heard: bool,
}

impl Driver {
    pub(super) fn new(
        conn: Conn,
        context: SessionContext,
        record: ConnectionRecord,
        ticket: Option<Box<dyn Ticket>>,
    ) -> Self {
        let limits = context.limits;
        let started = Instant::now();
        let mut signal = context.shutdown.clone();
        Driver {
            conn,
            input: Vec::new(),
            record,
            login_deadline: started + limits.login_within,
            commands_left: limits.commands_before_login,
            ticket,
            _held: None,
            wait_timer: Box::pin(tokio::time::sleep_until(started + limits.idle_before_login)),
            shutdown: Box::pin(async move {
                let _ = signal.wait_for(|stop| *stop).await;
            }),
            shutdown_heard: false,
            context,
        }
    }

    /// Runs the dialogue to its end; returns the outcome to log.
    pub(super) async fn run<P: Protocol>(&mut self, machine: &mut P::Machine, protocol: &mut P) -> &'static str {
        match self.dialogue(machine, protocol).await {
            Ok(outcome) | Err(outcome) => outcome,
        }
    }

    /// The dialogue's loop; `Err` carries the outcome of a session cut short.
    async fn dialogue<P: Protocol>(
        &mut self,
        machine: &mut P::Machine,
        protocol: &mut P,
    ) -> Result<&'static str, &'static str> {
        let mut pending = None;
        loop {
            // The slot moves to the logged-in share before the client reads that it is in:
            // a client may open its next connection the moment the reply arrives.
            self.note_login(machine.logged_in());
            if machine.output_bytes() >= OUTPUT_GROUPED_BYTES_MAX {
                self.write(&machine.take_output()).await?;
            }
            if machine.is_closed() && pending.is_none() {
                if machine.has_output() {
                    self.write(&machine.take_output()).await?;
                }
                return Ok(protocol.closed_outcome());
            }
            let effect = match pending.take() {
                Some(effect) => effect,
                None => match self.next_effect(machine, protocol).await? {
                    Some(effect) => effect,
                    // Replies to write out, or more input read.
                    None => continue,
                },
            };
            match protocol.perform(effect, machine, &mut self.record).await {
                Flow::Continue => {}
                Flow::Then(effect) => pending = Some(effect),
                Flow::StartTls => {
                    self.start_tls(machine).await?;
                    protocol.tls_started(self.conn.peer_certificates());
                }
                Flow::Close(outcome) => {
                    let _ = self.write(&machine.take_output()).await;
                    return Ok(outcome);
                }
            }
        }
    }

    /// Feeds the machine the input it may see; reads more when it needs more. `Ok(None)`:
    /// go round again (more input to feed, or new input); `Err`: the session's outcome.
    ///
    /// Replies go out when what the client sent has all been answered, just before waiting
    /// for more: the replies to commands a client pipelined (MAIL, RCPT, DATA) leave in one
    /// write, one TLS record, rather than one each (RFC 2920 lets the server group them).
    async fn next_effect<P: Protocol>(
        &mut self,
        machine: &mut P::Machine,
        protocol: &mut P,
    ) -> Result<Option<<P::Machine as Machine>::Effect>, &'static str> {
        let logged_in = machine.logged_in();
        let Some(window) = window(&self.input, logged_in, self.commands_left) else {
            return Err(self.close_now(machine, Closing::CommandBudget, "command-budget").await);
        };
        let (used, effect) = machine.receive(&self.input[..window]);
        if !logged_in {
            let lines = self.input[..used].iter().filter(|&&byte| byte == b'\n').count();
            self.commands_left = self.commands_left.saturating_sub(lines);
        }
        self.input.drain(..used);
        if effect.is_some() || machine.is_closed() {
            return Ok(effect);
        }
        if used > 0 && !self.input.is_empty() {
            return Ok(None);
        }
        if machine.has_output() {
            self.write(&machine.take_output()).await?;
        }
        match self.read_more(machine.logged_in(), machine.in_data(), protocol).await {
            Input::Bytes => Ok(None),
            Input::Event(event) => {
                protocol.heard(event, machine);
                Ok(None)
            }
            Input::Closed => Err("dropped"),
            Input::Idle => Err(self.close_now(machine, Closing::Idle, "timeout").await),
            Input::LoginTooLate => Err(self.close_now(machine, Closing::LoginTimeout, "login-timeout").await),
            Input::Shutdown => Err(self.close_now(machine, Closing::Shutdown, "shutdown").await),
        }
    }

    /// Tells the ticket, once, that the session logged in.
    fn note_login(&mut self, logged_in: bool) {
        if logged_in {
            if let Some(mut ticket) = self.ticket.take() {
                ticket.logged_in();
                self._held = Some(ticket);
            }
        }
    }

    /// Writes to the client within the write timeout.
    async fn write(&mut self, bytes: &[u8]) -> Result<(), &'static str> {
        match tokio::time::timeout(self.context.limits.write_timeout, self.conn.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err("write-failed"),
            Err(_) => Err("write-timeout"),
        }
    }

    /// Reads more input, within the idle limit (and before login, the time left to log
    /// in), unless the relay is shutting down; meanwhile, hears the protocol's events.
    /// `finish_first` lets content in flight arrive despite a shutdown.
    async fn read_more<P: Protocol>(
        &mut self,
        logged_in: bool,
        finish_first: bool,
        protocol: &mut P,
    ) -> Input<P::Event> {
        let limits = self.context.limits;
        let mut wait =
            if logged_in { protocol.idle_after_login(limits.idle_after_login) } else { limits.idle_before_login };
        let mut late = Input::Idle;
        let now = Instant::now();
        if !logged_in {
            let left = self.login_deadline.saturating_duration_since(now);
            if left.is_zero() {
                return Input::LoginTooLate;
            }
            if left <= wait {
                (wait, late) = (left, Input::LoginTooLate);
            }
        }
        if *self.context.shutdown.borrow() && !finish_first {
            return Input::Shutdown;
        }
        let deadline = now + wait;
        if self.wait_timer.deadline() > deadline {
            self.wait_timer.as_mut().reset(deadline);
        }
        loop {
            // In this order: the shutdown is never starved by a client that keeps sending,
            // and input ready at the very instant of the deadline is read, not cut off.
            tokio::select! {
                biased;
                () = self.shutdown.as_mut(), if !finish_first && !self.shutdown_heard => {
                    self.shutdown_heard = true;
                    return Input::Shutdown;
                }
                event = protocol.event() => return Input::Event(event),
                read = self.conn.read_into(&mut self.input) => return match read {
                    Ok(0) | Err(_) => Input::Closed,
                    Ok(_) => Input::Bytes,
                },
                () = self.wait_timer.as_mut() => {
                    if Instant::now() >= deadline {
                        return late;
                    }
                    // An earlier wait's end: this wait ends later.
                    self.wait_timer.as_mut().reset(deadline);
                }
            }
        }
    }

    /// Writes the protocol's closing reply and ends with `outcome`.
    async fn close_now<M: Machine>(
        &mut self,
        machine: &mut M,
        closing: Closing,
        outcome: &'static str,
    ) -> &'static str {
        machine.close_now(closing);
        let _ = self.write(&machine.take_output()).await;
        outcome
    }

    async fn start_tls<M: Machine>(&mut self, machine: &mut M) -> Result<(), &'static str> {
        self.write(&machine.take_output()).await?;
        // Anything pipelined after STARTTLS/STLS is discarded (RFC 3207 §6, RFC 2595 §4).
        self.input.clear();
        self.conn.start_tls(&self.context).await?;
        machine.tls_started();
        Ok(())
    }
}

/// How much of the buffered `input` the machine may see: all of it once logged in; before,
/// no more command lines than the budget has left. `None` when a complete line waits and
/// the budget is spent.
fn window(input: &[u8], logged_in: bool, commands_left: usize) -> Option<usize> {
    if logged_in {
        return Some(input.len());
    }
    let mut ends = input.iter().enumerate().filter(|(_, &byte)| byte == b'\n').map(|(at, _)| at + 1);
    match commands_left {
        0 => ends.next().is_none().then_some(input.len()),
        left => Some(ends.nth(left - 1).unwrap_or(input.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::window;

    #[test]
    fn before_login_the_machine_sees_no_more_lines_than_the_budget() {
        let input = b"NOOP\r\nNOOP\r\nNOOP\r\nNO";
        assert_eq!(window(input, true, 0), Some(input.len()), "no budget after login");
        assert_eq!(window(input, false, 2), Some(12), "two lines");
        assert_eq!(window(input, false, 5), Some(input.len()), "fewer lines than the budget");
        assert_eq!(window(input, false, 0), None, "a line waits, the budget is spent");
        assert_eq!(window(b"NO", false, 0), Some(2), "no complete line yet");
    }
}
