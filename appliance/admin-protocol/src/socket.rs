//! The admin socket's client side: `<data>/admin.sock`, one envelope line out, one response
//! line back, then the connection closes.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::{Envelope, Request, Response, Transport, ADMIN_PROTOCOL_VERSION};

/// Longest request line a relay reads from its admin socket: room for a national trust
/// list (a few hundred kilobytes of XML) as JSON.
pub const ADMIN_REQUEST_BYTES_MAX: u64 = 8 * 1024 * 1024;

/// Where a relay serving `data_dir` listens for admin requests (mode 0600).
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

/// Sends one request on the socket at `path`; `Ok(None)` when no relay listens there.
pub fn exchange_on_socket(path: &Path, request: &Request) -> std::io::Result<Option<Response>> {
    let mut stream = match UnixStream::connect(path) {
        Ok(stream) => stream,
        Err(_) => return Ok(None),
    };
    let envelope = Envelope { version: ADMIN_PROTOCOL_VERSION, request: request.clone() };
    let mut bytes = serde_json::to_vec(&envelope)?;
    bytes.push(b'\n');
    stream.write_all(&bytes)?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    let response = serde_json::from_str(&line).map_err(|error| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("reading the relay's answer: {error}"))
    })?;
    Ok(Some(response))
}

/// A running relay's admin socket, as a [`Transport`]: each request on a new connection.
#[derive(Debug, Clone)]
pub struct SocketTransport {
    pub path: PathBuf,
}

impl Transport for SocketTransport {
    fn exchange(&mut self, request: Request) -> Result<serde_json::Value, String> {
        match exchange_on_socket(&self.path, &request) {
            Ok(Some(response)) => response.into_result(),
            Ok(None) => Err("the relay does not answer".into()),
            Err(error) => Err(error.to_string()),
        }
    }
}
