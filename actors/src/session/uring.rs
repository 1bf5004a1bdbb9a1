//! A TLS connection whose socket reads and writes go through io_uring (tokio-uring's
//! owned-buffer TCP stream), for the implicit-TLS mail doors when `[listen] socket_io =
//! "io_uring"`.
//!
//! tokio-rustls drives rustls over a readiness-based (epoll) socket; tokio-uring's stream
//! takes a buffer, hands it to the kernel and gives it back with the completion, so it has
//! no `AsyncRead`/`AsyncWrite`. This drives rustls' buffered `ServerConnection` by hand:
//! received bytes are fed to it from the completed read's buffer, and what it has to send
//! is written into one owned buffer that goes to the kernel whole.
//!
//! A read in flight is kept across a cancelled `read` (the session races its read against
//! protocol events and the shutdown): dropping an io_uring read could drop bytes the kernel
//! already received, so the same read is awaited again by the next call.

use std::future::Future;
use std::io::{self, BufRead, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use rustls::{ServerConfig, ServerConnection};

/// Bytes asked of the kernel per read: about one TLS record. What rustls cannot take yet
/// waits in the buffer (`taken`), so the size bounds memory, not correctness.
const READ_BYTES: usize = 16 * 1024;

type Reading = Pin<Box<dyn Future<Output = (io::Result<usize>, Vec<u8>)>>>;

/// A server-side TLS connection over an io_uring socket.
pub(super) struct UringTls {
    socket: Rc<tokio_uring::net::TcpStream>,
    tls: ServerConnection,
    /// The socket read in flight, if a `read` was cancelled while it waited.
    reading: Option<Reading>,
    /// The read buffer, while no read is in flight, and how much of it rustls has taken:
    /// rustls takes more only once the plaintext it decrypted has been read.
    received: Vec<u8>,
    taken: usize,
    /// What rustls has to send, handed to the kernel whole.
    out: Vec<u8>,
    /// A write was cut off (its timeout ran out) or failed: what reached the client is
    /// unknown, so nothing more is sent on this connection, close_notify included.
    write_cut: bool,
    /// The TLS error that ended the connection, kept for the next `read` if the one that
    /// met it was cancelled while its alert was being sent.
    failed: Option<io::ErrorKind>,
}

impl Drop for UringTls {
    /// An io_uring read or write that was dropped still holds the socket until it
    /// completes; shutting the socket down completes it now, so the connection closes with
    /// the session instead of when the client next sends.
    fn drop(&mut self) {
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }
}

impl UringTls {
    /// Takes an accepted connection and runs the TLS handshake on it. Must run on a
    /// tokio-uring runtime (the relay's worker arbiters).
    pub(super) async fn accept(socket: std::net::TcpStream, config: Arc<ServerConfig>) -> io::Result<UringTls> {
        // io_uring waits for the socket itself; a non-blocking socket would have it answer
        // EAGAIN instead.
        socket.set_nonblocking(false)?;
        let tls = ServerConnection::new(config).map_err(io::Error::other)?;
        let mut conn = UringTls {
            socket: Rc::new(tokio_uring::net::TcpStream::from_std(socket)),
            tls,
            reading: None,
            received: Vec::with_capacity(READ_BYTES),
            taken: 0,
            out: Vec::new(),
            write_cut: false,
            failed: None,
        };
        while conn.tls.is_handshaking() {
            conn.flush().await?;
            if conn.tls.is_handshaking() && conn.tls.wants_read() && conn.receive().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        conn.flush().await?;
        Ok(conn)
    }

    /// Reads decrypted bytes onto the end of `input`; 0 when the client closed.
    pub(super) async fn read_into(&mut self, input: &mut Vec<u8>) -> io::Result<usize> {
        loop {
            if let Some(kind) = self.failed {
                return Err(kind.into());
            }
            match take_plaintext(&mut self.tls, input) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                taken => return taken,
            }
            // Bytes received earlier and not yet taken come before a new read. What rustls
            // may want to send in answer (a key update) waits for the next write.
            if self.taken < self.received.len() {
                self.feed()?;
            } else if self.receive().await? == 0 {
                // The stream ended: told so, rustls' reader says whether after the client's
                // close_notify (0) or without it (an error), as over epoll.
                self.tls.read_tls(&mut io::empty())?;
                return match take_plaintext(&mut self.tls, input) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                    taken => taken,
                };
            }
        }
    }

    /// Encrypts and sends all of `bytes`.
    pub(super) async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            // rustls takes what its send buffer has room for; the rest after a flush.
            let taken = self.tls.writer().write(bytes)?;
            bytes = &bytes[taken..];
            self.flush().await?;
        }
        self.flush().await
    }

    /// Sends TLS's close_notify and closes the sending side.
    pub(super) async fn shutdown(&mut self) -> io::Result<()> {
        if !self.write_cut {
            self.tls.send_close_notify();
            self.flush().await?;
        }
        self.socket.shutdown(std::net::Shutdown::Write)
    }

    /// The certificates the client presented, end entity first.
    pub(super) fn peer_certificates(&self) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        self.tls.peer_certificates().map(<[_]>::to_vec).unwrap_or_default()
    }

    /// Reads from the socket once (or finishes the read a cancelled call left in flight)
    /// and feeds rustls what came; the count of bytes received, 0 at end of stream. On a
    /// TLS error, the alert that tells the client why is sent first.
    async fn receive(&mut self) -> io::Result<usize> {
        debug_assert!(self.reading.is_some() || self.taken >= self.received.len(), "received bytes left unfed");
        let reading = self.reading.get_or_insert_with(|| {
            let socket = self.socket.clone();
            let mut buf = std::mem::take(&mut self.received);
            buf.clear();
            Box::pin(async move { socket.read(buf).await })
        });
        let (received, buf) = reading.await;
        self.reading = None;
        (self.received, self.taken) = (buf, 0);
        let received = received?;
        if let Err(error) = self.feed() {
            // Kept first: a cancelled flush below must not lose it.
            self.failed = Some(error.kind());
            let _ = self.flush().await;
            return Err(error);
        }
        Ok(received)
    }

    /// Hands rustls the received bytes it has room for, and lets it decrypt them. It stops
    /// once decrypted bytes wait to be read (rustls refuses more past 16 KiB of them) and
    /// drops what follows the client's close_notify (RFC 8446 §6.1: ignored).
    fn feed(&mut self) -> io::Result<()> {
        while self.taken < self.received.len() {
            let mut rest = &self.received[self.taken..];
            let took = self.tls.read_tls(&mut rest)?;
            if took == 0 {
                self.taken = self.received.len();
                break;
            }
            self.taken += took;
            match self.tls.process_new_packets() {
                Ok(state) if state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() => break,
                Ok(_) => {}
                // rustls has queued the alert that tells the client why.
                Err(error) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
            }
        }
        Ok(())
    }

    /// Sends whatever rustls has queued.
    async fn flush(&mut self) -> io::Result<()> {
        if self.write_cut {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        while self.tls.wants_write() {
            self.tls.write_tls(&mut self.out)?;
            // Set until the write succeeds: a write dropped halfway, or failed, leaves it set.
            self.write_cut = true;
            let (sent, mut out) = self.socket.write_all(std::mem::take(&mut self.out)).await;
            out.clear();
            self.out = out;
            sent?;
            self.write_cut = false;
        }
        Ok(())
    }
}

/// Moves the decrypted bytes rustls holds (its first chunk of them) onto the end of
/// `input`: their count, 0 once the client's close_notify was read, `WouldBlock` when none
/// wait yet. One copy, where reading them into a buffer and then into `input` made two.
fn take_plaintext(tls: &mut ServerConnection, input: &mut Vec<u8>) -> io::Result<usize> {
    let mut reader = tls.reader();
    let plaintext = reader.fill_buf()?;
    let n = plaintext.len();
    input.extend_from_slice(plaintext);
    reader.consume(n);
    Ok(n)
}
