//! The directory's one view ([`DirectoryView`]) and the cache that rebuilds it when the
//! store's directory generation moves ([`DirectoryCache`]).

use std::sync::{Arc, RwLock};

use caducee_storage::{Millis, Store};

use super::entry::StoredEntry;
use super::keys::KeyIndex;
use super::ldap_form::base_dn;

/// The directory at one moment: open accounts, in address order.
#[derive(Debug)]
pub struct DirectoryView {
    pub generation: u64,
    /// The LDAP base DN the entries' DNs are under.
    pub base: String,
    /// Every open account, red-listed ones included (for authenticated LDAP); their LDAP
    /// form is read from them as a search needs it.
    pub all: Vec<StoredEntry>,
    /// Equality and prefix indexes over `all`'s LDAP attributes.
    pub index: crate::ldap::index::LdapIndex,
    /// Key discovery's index over every account's certificates, closed accounts included;
    /// shared with the view before when nothing it depends on changed.
    pub keys: Arc<KeyIndex>,
}

impl DirectoryView {
    /// What anyone may see: red-listed entries left out.
    pub fn public(&self) -> impl Iterator<Item = &StoredEntry> {
        self.all.iter().filter(|e| !e.red_list())
    }
}

/// The current view, rebuilt when the store says the directory changed.
pub struct DirectoryCache {
    store: Store,
    /// The LDAP base DN (from the mail domain).
    base: String,
    clock: Arc<dyn caducee_actors::clock::Clock>,
    current: RwLock<Option<Arc<DirectoryView>>>,
    /// One rebuild at a time: concurrent requests after a change wait for it rather than
    /// each building the same view.
    rebuilding: std::sync::Mutex<()>,
}

impl std::fmt::Debug for DirectoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryCache").field("store", &self.store).finish()
    }
}

impl DirectoryCache {
    pub fn new(store: Store, clock: Arc<dyn caducee_actors::clock::Clock>, domain: &str) -> DirectoryCache {
        DirectoryCache {
            store,
            base: base_dn(domain),
            clock,
            current: RwLock::new(None),
            rebuilding: std::sync::Mutex::new(()),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// [`DirectoryCache::view`] from async code: the current view at once, or a rebuild on
    /// the blocking pool, so that the event loop (and the mail sessions sharing it) does not
    /// stall while tens of thousands of entries are read.
    pub async fn view_async(self: &Arc<Self>) -> anyhow::Result<Arc<DirectoryView>> {
        let generation = self.store.directory_generation();
        let current = self
            .current
            .read()
            .map_err(|_| anyhow::anyhow!("directory lock poisoned"))?
            .as_ref()
            .filter(|view| view.generation >= generation)
            .cloned();
        if let Some(view) = current {
            return Ok(view);
        }
        let cache = Arc::clone(self);
        tokio::task::spawn_blocking(move || cache.view()).await?
    }

    pub fn view(&self) -> anyhow::Result<Arc<DirectoryView>> {
        // Read before the snapshot: a commit landing meanwhile moves it again, and the next
        // request rebuilds.
        let generation = self.store.directory_generation();
        let current = || -> anyhow::Result<Option<Arc<DirectoryView>>> {
            let guard = self.current.read().map_err(|_| anyhow::anyhow!("directory lock poisoned"))?;
            Ok(guard.as_ref().filter(|view| view.generation >= generation).cloned())
        };
        if let Some(view) = current()? {
            return Ok(view);
        }
        let _building = self.rebuilding.lock().map_err(|_| anyhow::anyhow!("directory lock poisoned"))?;
        if let Some(view) = current()? {
            return Ok(view); // built by whoever held the lock before us
        }
        let generation = self.store.directory_generation();
        let previous = self.current.read().map_err(|_| anyhow::anyhow!("directory lock poisoned"))?.clone();
        let keys = KeyIndexing::Rebuild(previous.as_deref().map(|view| &view.keys));
        let view = Arc::new(build_view(&self.store, generation, self.clock.now(), &self.base, keys)?);
        *self.current.write().map_err(|_| anyhow::anyhow!("directory lock poisoned"))? = Some(view.clone());
        Ok(view)
    }
}

/// Whether a view indexes the certificates for key discovery.
#[derive(Debug, Clone, Copy)]
pub enum KeyIndexing<'a> {
    /// No (an export, which shows no keys): the view's key index stays empty.
    Skip,
    /// Yes, reusing the index of the view being replaced, if any: whole when nothing it
    /// depends on changed, otherwise what it parsed.
    Rebuild(Option<&'a Arc<KeyIndex>>),
}

/// The view of the store now.
pub fn build_view(
    store: &Store,
    generation: u64,
    now: Millis,
    base: &str,
    keys: KeyIndexing<'_>,
) -> anyhow::Result<DirectoryView> {
    let snapshot = store.directory_snapshot()?;
    let keys = match keys {
        KeyIndexing::Skip => Arc::default(),
        KeyIndexing::Rebuild(previous) => KeyIndex::build(&snapshot, previous),
    };
    let all: Vec<StoredEntry> = snapshot
        .iter()
        .filter(|record| record.state.closed_at.is_none())
        .map(|record| StoredEntry::from_record(record, now))
        .collect();
    drop(snapshot);
    let index = crate::ldap::index::LdapIndex::build(&all);
    Ok(DirectoryView { generation, base: base.to_owned(), all, index, keys })
}
