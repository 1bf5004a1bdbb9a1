//! `caducee issuer`: the key issuer, a process of its own that makes users' keys so that the
//! relay never holds them (`[keys] issuer` names its socket). It reads the relay's key (to
//! certify each edition and sign renewal messages) and writes bundles into its own folder;
//! it needs no network, no store and nothing else of the data folder. On the appliance it
//! runs as `caducee-issuer.service`, its own user in a sandbox of its own, the relay's key
//! handed to it by systemd as a credential. The requests and answers are in
//! `caducee_actors::keyvault::issuer`.

use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use caducee_actors::keyvault::issuer::{serve_one, Answer};
use caducee_actors::relay_key::{RelayKey, RELAY_KEY_FILE};
use clap::Args;

/// How long one request may take to arrive, or its answer to be read, before the issuer
/// drops the connection and serves the next.
const CONNECTION_IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
pub struct IssuerArgs {
    /// The Unix socket to listen on (mode 0660: the relay's user must be in its group).
    #[arg(long)]
    socket: PathBuf,
    /// The folder the bundles are written into (made mode 0700 if missing).
    #[arg(long)]
    bundles: PathBuf,
    /// The relay's key. Default: the systemd credential `relay-key` when there is one, else
    /// `<data>/keys/relay.pgp`.
    #[arg(long)]
    relay_key: Option<PathBuf>,
}

/// Serves requests, one at a time, until stopped.
pub fn run(data_dir: &Path, args: &IssuerArgs) -> anyhow::Result<ExitCode> {
    let relay = load_relay_key(data_dir, args.relay_key.as_deref())?;
    std::fs::create_dir_all(&args.bundles).with_context(|| format!("making {}", args.bundles.display()))?;
    std::fs::set_permissions(&args.bundles, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {}", args.bundles.display()))?;
    let listener = listen(&args.socket)?;
    tracing::info!(socket = %args.socket.display(), bundles = %args.bundles.display(), relay_key = %relay.fingerprint(), "key issuer listening");
    println!("caducee issuer: listening on {}", args.socket.display());
    if let Err(error) = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]) {
        tracing::debug!(%error, "no service manager to tell that the issuer is ready");
    }
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "accepting a connection");
                continue;
            }
        };
        let timeouts = stream
            .set_read_timeout(Some(CONNECTION_IDLE))
            .and_then(|()| stream.set_write_timeout(Some(CONNECTION_IDLE)));
        if let Err(error) = timeouts {
            tracing::warn!(%error, "setting the connection's timeouts");
            continue;
        }
        match serve_one(&mut stream, &relay, &args.bundles) {
            Ok(Some(Answer::Bundle { record, bundle, .. })) => {
                tracing::info!(edition = record.edition, fingerprint = %record.fingerprint, %bundle, "edition issued");
            }
            Ok(Some(Answer::Renewal { record, .. })) => {
                tracing::info!(edition = record.edition, fingerprint = %record.fingerprint, "renewal made, encrypted to the edition in use");
            }
            Ok(Some(Answer::Refused(why))) => tracing::warn!(%why, "request refused"),
            Ok(None) => tracing::debug!("a connection closed without a request"),
            Err(why) => tracing::warn!(%why, "connection dropped"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The relay's key, never made here: a new one would break every practice's trust.
fn load_relay_key(data_dir: &Path, chosen: Option<&Path>) -> anyhow::Result<RelayKey> {
    let path = match (chosen, std::env::var_os("CREDENTIALS_DIRECTORY")) {
        (Some(path), _) => path.to_path_buf(),
        (None, Some(credentials)) => Path::new(&credentials).join("relay-key"),
        (None, None) => data_dir.join(RELAY_KEY_FILE),
    };
    let bytes = std::fs::read(&path).with_context(|| {
        format!("reading the relay's key {} (the relay makes it on its first start)", path.display())
    })?;
    RelayKey::from_secret_bytes(&bytes).map_err(|why| anyhow::anyhow!("{}: {why}", path.display()))
}

/// Binds the socket, replacing one left by an earlier run (but nothing else), mode 0660.
fn listen(socket: &Path) -> anyhow::Result<UnixListener> {
    match std::fs::symlink_metadata(socket) {
        Ok(meta) if meta.file_type().is_socket() => {
            std::fs::remove_file(socket).with_context(|| format!("removing the old socket {}", socket.display()))?;
        }
        Ok(_) => bail!("{} exists and is not a socket; choose another path", socket.display()),
        Err(_) => {}
    }
    let listener = UnixListener::bind(socket).with_context(|| format!("listening on {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("setting the mode of {}", socket.display()))?;
    Ok(listener)
}
