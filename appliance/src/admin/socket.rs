//! The admin socket's relay side: `<data>/admin.sock`, mode 0660 (the relay's user and
//! group: on the appliance, the console's login account is in the relay's group). One
//! request line per connection ([`caducee_admin_protocol::Envelope`], at most
//! [`ADMIN_REQUEST_BYTES_MAX`] bytes), one response line back. The peer's uid names the
//! caller in the audit trail.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use caducee_admin_protocol::{Envelope, Response, ADMIN_PROTOCOL_VERSION, ADMIN_REQUEST_BYTES_MAX};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};

use crate::admin::{Admin, Caller};

pub use caducee_admin_protocol::socket_path;

/// Binds the admin socket (replacing a stale one), open to its owner and group only.
pub fn bind_socket(path: &Path) -> anyhow::Result<tokio::net::UnixListener> {
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o660))?;
    Ok(listener)
}

/// Serves the admin socket until the relay shuts down.
pub async fn serve_socket(
    admin: Admin,
    listener: tokio::net::UnixListener,
    path: PathBuf,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "admin socket accept failed");
                    continue;
                }
            },
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        actix_rt::spawn(serve_connection(admin.clone(), stream));
    }
    let _ = std::fs::remove_file(&path);
}

/// Reads one request from `stream`, answers it, and closes.
async fn serve_connection(admin: Admin, stream: tokio::net::UnixStream) {
    // The socket is the owner's and group's only (0660); the peer's uid says which
    // process asked.
    let uid = stream.peer_cred().map(|c| c.uid().to_string()).unwrap_or_else(|_| "?".into());
    let caller = Caller { actor: format!("uid {uid}"), source: "admin socket".into() };
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(read.take(ADMIN_REQUEST_BYTES_MAX));
    if reader.read_line(&mut line).await.is_err() {
        return;
    }
    let response = match serde_json::from_str::<Envelope>(&line) {
        Ok(envelope) if envelope.version == ADMIN_PROTOCOL_VERSION => admin.execute(envelope.request, &caller).await,
        Ok(envelope) => {
            Response::refused(format!("admin protocol {} is not {ADMIN_PROTOCOL_VERSION}", envelope.version))
        }
        Err(error) => Response::refused(format!("bad request: {error}")),
    };
    if let Ok(mut bytes) = serde_json::to_vec(&response) {
        bytes.push(b'\n');
        let _ = write.write_all(&bytes).await;
    }
}
