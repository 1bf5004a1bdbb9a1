//! The room left for messages: the filesystem's free space (and the store file's free
//! pages when that runs low) measured before each batch, and the commit failures that mean
//! a full map or disk rather than a failing one.

use crate::shared::Shared;
use crate::StoreError;

/// Below this much free space on the filesystem, the store file's own free pages are
/// counted too (walking the databases' statistics costs a few microseconds: not worth it
/// while the disk has room).
const DISK_LOW_BYTES: u64 = 1 << 30;

/// What new messages may take on disk: the filesystem's free space, plus — when that runs
/// low — the pages free inside the store file (collected messages leave them, and LMDB
/// reuses them before growing the file), less the reserve. Measured before each batch.
///
/// Without it a full filesystem meets LMDB halfway through writing a commit's pages: the
/// write comes back short and LMDB reports EIO, which is only taken for a full disk when the
/// filesystem has next to nothing left (see [`is_short_write_on_full_disk`]). Free pages
/// inside the file are counted as room although LMDB may not reuse them at once (freed by
/// the last commit, or held by a reader): that case ends in such a short write, and a 452.
pub(super) fn disk_room(shared: &Shared, reserve: u64) -> u64 {
    let Ok(stat) = rustix::fs::statvfs(shared.env.path()) else {
        return u64::MAX; // unknown: let LMDB's own errors decide
    };
    let mut free = stat.f_bavail.saturating_mul(stat.f_frsize);
    if free < DISK_LOW_BYTES.saturating_add(reserve) {
        let file = std::fs::metadata(shared.env.path().join("data.mdb")).map(|m| m.len()).unwrap_or(0);
        if let Ok(used) = shared.env.non_free_pages_size() {
            free = free.saturating_add(file.saturating_sub(used));
        }
    }
    free.saturating_sub(reserve)
}

/// A commit that failed with EIO on a filesystem with next to no space left. LMDB writes the
/// pages that grow the file with write/writev; a write the filesystem can take only in part
/// comes back short, which LMDB reports as EIO. That is before the meta page that would
/// publish the transaction (the meta pages sit at the file's start, their blocks allocated
/// long ago), and LMDB aborts the transaction: the store is as it was — a full disk, not a
/// failing one. An EIO with space to spare is a failing disk, and stops the store.
///
/// The room measured before each batch normally keeps commits from meeting the disk's end;
/// this covers what it cannot see: pages freed inside the store file that LMDB may not reuse
/// yet (freed by the last commit, or held by a reader such as a running backup), and other
/// programs filling the disk.
pub(super) fn is_short_write_on_full_disk(shared: &Shared, error: &StoreError, reserve: u64) -> bool {
    let eio = match error {
        StoreError::Lmdb(heed::Error::Io(e)) | StoreError::Io(e) => e.raw_os_error() == Some(libc_eio()),
        _ => false,
    };
    eio && rustix::fs::statvfs(shared.env.path())
        .is_ok_and(|stat| stat.f_bavail.saturating_mul(stat.f_frsize) < reserve.max(DISK_NEARLY_FULL_BYTES))
}

/// What counts as no space left when a commit fails with EIO (see above).
const DISK_NEARLY_FULL_BYTES: u64 = 1 << 20;

const fn libc_eio() -> i32 {
    5 // EIO on Linux
}

/// A map or disk that is full: LMDB aborted the transaction and nothing of it is on disk
/// (a write that cannot grow the file fails before the meta page that would publish it).
pub(super) fn is_full(error: &StoreError) -> bool {
    match error {
        StoreError::Lmdb(heed::Error::Mdb(heed::MdbError::MapFull)) => true,
        StoreError::Lmdb(heed::Error::Io(e)) | StoreError::Io(e) => e.raw_os_error() == Some(libc_enospc()),
        _ => false,
    }
}

pub(super) const fn libc_enospc() -> i32 {
    28 // ENOSPC on Linux
}
