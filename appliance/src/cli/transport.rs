//! How the CLI reaches the admin operations: the running relay's admin socket when it
//! answers, the store directly (under the data folder's lock) when no relay runs.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use caducee_actors::clock::SystemClock;
use caducee_admin_protocol::{exchange_on_socket, socket_path, Call, Request, Response, Transport};
use caducee_storage::Store;

use crate::admin::{self, Admin};
use crate::config;

/// The CLI's [`Transport`]: the relay's socket, or the store itself when the relay is
/// stopped.
#[derive(Debug)]
pub struct AdminLink {
    data_dir: PathBuf,
}

impl AdminLink {
    pub fn new(data_dir: &Path) -> AdminLink {
        AdminLink { data_dir: data_dir.to_path_buf() }
    }

    fn response(&self, request: Request) -> anyhow::Result<Response> {
        match exchange_on_socket(&socket_path(&self.data_dir), &request)? {
            Some(response) => Ok(response),
            None => offline(&self.data_dir, request),
        }
    }
}

impl Transport for AdminLink {
    fn exchange(&mut self, request: Request) -> Result<serde_json::Value, String> {
        self.response(request).map_err(|error| format!("{error:#}"))?.into_result()
    }
}

/// Runs an admin request on the running relay, or on the store directly when it is
/// stopped, and reads its typed reply.
pub fn call<C: Call>(data_dir: &Path, request: C) -> anyhow::Result<C::Reply> {
    caducee_admin_protocol::call(&mut AdminLink::new(data_dir), request).map_err(anyhow::Error::msg)
}

/// Answers `request` on the store, with the relay stopped.
fn offline(data_dir: &Path, request: Request) -> anyhow::Result<Response> {
    let _lock = lock_data_dir(data_dir)?;
    let config = config::Config::load(data_dir)?;
    let store = Store::open(data_dir, &config.store_options())?;
    let admin = Admin {
        store: store.clone(),
        data_dir: data_dir.to_path_buf(),
        mailboxes: None,
        monitor: None,
        notifier: None,
        key_vault: None,
        keys: admin::keys::KeysContext {
            endpoints: config.configured_endpoints(),
            bundle_folder: config.bundle_folder(data_dir),
            issuer: config.key_issuer(),
            next_year_within_days: config.keys.next_year_within_days,
            // Editions issued with the relay stopped are certified all the same.
            relay_key: Some(Arc::new(caducee_actors::relay_key::RelayKey::load_or_create(
                data_dir,
                std::slice::from_ref(&config.domain),
                caducee_actors::clock::Clock::now(&SystemClock),
            )?)),
        },
        clock: Arc::new(SystemClock),
        drill: crate::backup::drill::DrillWatch::default(),
        peers: None,
        sessions_open: None,
    };
    // Bundles carry the relay's CA: make sure it exists before the first start.
    crate::tls::Certificates::load(data_dir, &config, caducee_actors::clock::Clock::now(&SystemClock))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let response = runtime.block_on(admin.execute(request, &admin::Caller::offline()));
    store.close();
    Ok(response)
}

/// Creates the data folder (mode 0700) and takes its lock, so that one process at a time
/// owns the store. Held until the returned file is dropped.
pub(crate) fn lock_data_dir(data_dir: &Path) -> anyhow::Result<fs::File> {
    fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    // Closed to other users. A folder set up by someone else (the appliance's: root-owned,
    // group caducee, sticky, so that the relay cannot move the appliance's own state aside)
    // is left as it is when it already keeps others out.
    let mode = fs::metadata(data_dir)?.permissions().mode();
    if mode & 0o007 != 0 {
        fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("{} is open to other users and cannot be closed", data_dir.display()))?;
    }
    let path = data_dir.join("caducee.lock");
    let file = fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => bail!(
            "{} is in use by another caducee process (a relay starting or stopping, or another command)",
            data_dir.display()
        ),
        Err(fs::TryLockError::Error(e)) => Err(e.into()),
    }
}
