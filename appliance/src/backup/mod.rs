//! Backups: one encrypted, authenticated file holding everything needed to bring the relay
//! back — the store (a consistent LMDB copy taken while the relay serves), its master key,
//! the TLS material and the configuration — and a manifest.
//!
//! The archive format is our own because it must stream a store of many gigabytes straight
//! from LMDB's copy into an encrypted file, without a clear copy on disk, and be checked
//! chunk by chunk on the way back. It is built from standard pieces (ring's AES-256-GCM,
//! HKDF-SHA256 and SHA-256) in the shape of the STREAM construction:
//!
//! ```text
//! header   "CADUCEE-BACKUP\n" 0x01 ‖ salt (32) ‖ key id (8)              — 56 bytes, in clear
//! chunks   (u32 length ‖ AES-256-GCM(chunk))*                           — the last one flagged
//!          key   = HKDF-SHA256(salt, backup key, "caducee backup v1")
//!          nonce = chunk number (u64 BE) ‖ last-chunk flag (u8) ‖ 0 0 0
//!          AAD   = the header
//! ```
//!
//! Inside, the plaintext is a sequence of entries: files (`F`, name, then frames of at most
//! one chunk, ended by an empty frame), then the manifest (`M`, JSON with each file's size
//! and SHA-256), then `E`. A reordered, dropped, truncated or altered chunk fails to open;
//! a wrong key is told apart by the key id.
//!
//! The backup key never lives next to a backup: it is kept in `<data>/keys/backup.key` for
//! scheduled backups and exported once (`caducee backup key --export`) for the administrator
//! to keep offline; restoring on a new machine needs that exported copy.
//!
//! `key` is the backup key, `stream` the encrypted chunks, `write` and `read` the archive's
//! two directions (`read` also verifies), `restore` the restore, `rotation` the backup
//! folder, `drill` the restore drill.

pub mod drill;
mod key;
mod read;
mod restore;
mod rotation;
mod stream;
mod write;

pub use key::BackupKey;
pub use read::{verify, Checked};
pub use restore::restore;
pub use rotation::{latest, list, rotation, scheduled_name, stamp};
pub use write::create;

/// The archive format this build writes and reads.
pub const BACKUP_FORMAT_VERSION: u8 = 1;
const MAGIC: &[u8; 15] = b"CADUCEE-BACKUP\n";
const SALT_BYTES: usize = 32;
const KEY_ID_BYTES: usize = 8;
const HEADER_BYTES: usize = MAGIC.len() + 1 + SALT_BYTES + KEY_ID_BYTES;
/// Plaintext bytes per encrypted chunk.
const CHUNK_BYTES: usize = 1 << 20;
const TAG_BYTES: usize = 16;
/// Marks the last chunk in its length frame.
const LAST_CHUNK_BIT: u32 = 1 << 31;
/// Longest file name inside an archive.
const ENTRY_NAME_BYTES_MAX: usize = 64;
/// Largest manifest accepted when reading.
const MANIFEST_BYTES_MAX: usize = 1 << 20;
const KEY_FILE_PREFIX: &str = "caducee-backup-key-v1:";

/// The files of a data folder that a backup carries, besides the store itself. The backup
/// key is deliberately absent, and so is the local CA's key `tls/ca.key`: a copy of it
/// anywhere a backup goes could sign certificates every practice trusts. A restored relay
/// serves its restored server certificate; see docs/operations/recovery.md for its renewal.
const FOLDER_FILES: [&str; 5] = ["keys/master.key", "tls/ca.pem", "tls/server.pem", "tls/server.key", "caducee.toml"];
/// The relay's own OpenPGP key and its revocation certificate: carried when the data folder
/// has them, and restored only from a backup that has them (one taken before the relay had
/// its key leaves the live key in place), since every practice trusts that key.
const RELAY_KEY_FILES: [&str; 2] = ["keys/relay.pgp", "keys/relay-revocation.asc"];
/// Files that backups of earlier versions carried: still read, and restored when present.
const EARLIER_FOLDER_FILES: [&str; 1] = ["tls/ca.key"];
const STORE_FILE: &str = "store/data.mdb";

/// What a backup holds (it travels in `backup`'s reply, hence its place in the protocol).
pub use caducee_admin_protocol::{FileDigest, Manifest};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
