//! A session's socket: plain, then TLS after STARTTLS/STLS, or TLS from the start.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::uring::UringTls;
use super::SessionContext;

/// An accepted connection, before the session reads it.
pub(super) enum Accepted {
    /// Read and written through tokio's event loop (epoll).
    Epoll(TcpStream),
    /// To be read and written through io_uring, with implicit TLS.
    Uring(std::net::TcpStream),
}

/// What rustls reads from under TLS: the socket, through a buffer that takes a whole TLS
/// record in one read. rustls asks its reader for at most 4 KiB at a time, so the 8 kB record
/// of a 5 KiB document took two or three `recvfrom` calls where it now takes one
/// (docs/benchmarks.md, 2026-12-03); writes go through to the socket as they are.
type TlsSocket = BufReader<TcpStream>;

/// The buffer's size: one TLS record of the largest size (16 KiB of plaintext), with its
/// header, padding and tag (RFC 8446 §5.2).
const TLS_READ_BYTES: usize = 16 * 1024 + 256 + 5;

/// Room made in the session's input buffer before each read, if it has less: a whole
/// record's plaintext fits in one read. It grows no further than what is read and waits.
const READ_BYTES_MIN: usize = 16 * 1024;

/// Runs the TLS handshake within the session's time limit; the error is the outcome logged.
pub(super) async fn handshake(
    context: &SessionContext,
    stream: TcpStream,
) -> Result<TlsStream<TlsSocket>, &'static str> {
    handshake_within(context, context.tls.accept(BufReader::with_capacity(TLS_READ_BYTES, stream))).await
}

/// The handshake of a connection read and written through io_uring.
pub(super) async fn handshake_uring(
    context: &SessionContext,
    stream: std::net::TcpStream,
) -> Result<UringTls, &'static str> {
    handshake_within(context, UringTls::accept(stream, context.tls.config().clone())).await
}

async fn handshake_within<T>(
    context: &SessionContext,
    handshake: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, &'static str> {
    match tokio::time::timeout(context.limits.tls_handshake, handshake).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(_)) => Err("tls-failed"),
        Err(_) => Err("tls-timeout"),
    }
}

/// A connection, before or after TLS.
pub(super) enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TlsSocket>>),
    /// TLS over a socket read and written through io_uring.
    Uring(Box<UringTls>),
    /// Only while switching to TLS.
    Gone,
}

impl Conn {
    /// Reads what has come (decrypted, under TLS) onto the end of `input`: the count of
    /// bytes, 0 when the client closed. Cancel-safe: nothing is added unless it returns.
    pub(super) async fn read_into(&mut self, input: &mut Vec<u8>) -> std::io::Result<usize> {
        if input.capacity() - input.len() < READ_BYTES_MIN {
            input.reserve(READ_BYTES_MIN);
        }
        match self {
            Conn::Plain(s) => s.read_buf(input).await,
            Conn::Tls(s) => s.read_buf(input).await,
            Conn::Uring(s) => s.read_into(input).await,
            Conn::Gone => Ok(0),
        }
    }

    pub(super) async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(bytes).await,
            Conn::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Conn::Uring(s) => s.write_all(bytes).await,
            Conn::Gone => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }

    /// Closes the connection; TLS sends its close_notify, within `limit` (a client that
    /// stops reading does not hold the session open).
    pub(super) async fn shutdown(&mut self, limit: Duration) {
        let closing = async {
            match self {
                Conn::Plain(s) => s.shutdown().await,
                Conn::Tls(s) => s.shutdown().await,
                Conn::Uring(s) => s.shutdown().await,
                Conn::Gone => Ok(()),
            }
        };
        let _ = tokio::time::timeout(limit, closing).await;
    }

    pub(super) async fn start_tls(&mut self, context: &SessionContext) -> Result<(), &'static str> {
        let Conn::Plain(stream) = std::mem::replace(self, Conn::Gone) else {
            return Err("tls-twice");
        };
        *self = Conn::Tls(Box::new(handshake(context, stream).await?));
        Ok(())
    }

    /// The certificates the client presented in the TLS handshake (end entity first); none
    /// before TLS or without a client certificate.
    pub(super) fn peer_certificates(&self) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        match self {
            Conn::Tls(stream) => stream.get_ref().1.peer_certificates().map(<[_]>::to_vec).unwrap_or_default(),
            Conn::Uring(conn) => conn.peer_certificates(),
            Conn::Plain(_) | Conn::Gone => Vec::new(),
        }
    }
}
