//! What every [`Store`](crate::Store) handle and the writer thread share: the LMDB
//! environment and its tables, the master key, and the flags and figures the writer moves.

use std::sync::atomic::{AtomicBool, AtomicU64};

use heed::{Env, WithoutTls};

use crate::schema::Tables;
use crate::seal::MasterKey;

pub(crate) struct Shared {
    pub env: Env<WithoutTls>,
    pub tables: Tables,
    /// Moves on every commit that may change what the directory shows.
    pub directory_generation: AtomicU64,
    pub master: MasterKey,
    /// Set by a failed commit: every later write is refused until the process restarts.
    pub poisoned: AtomicBool,
    pub commits: AtomicU64,
    pub committed_writes: AtomicU64,
}

impl Shared {
    pub fn new(env: Env<WithoutTls>, tables: Tables, master: MasterKey) -> Shared {
        Shared {
            env,
            tables,
            directory_generation: AtomicU64::new(0),
            master,
            poisoned: AtomicBool::new(false),
            commits: AtomicU64::new(0),
            committed_writes: AtomicU64::new(0),
        }
    }
}
