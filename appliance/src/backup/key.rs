//! The backup key: kept in `<data>/keys/backup.key` for scheduled backups, exported once for
//! the administrator to keep offline, named by a key id that a backup carries in clear.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use ring::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use ring::digest::{Context as Digest, SHA256};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};

use super::{hex, KEY_FILE_PREFIX, KEY_ID_BYTES};

/// The 256-bit key that encrypts backups.
pub struct BackupKey(pub(super) [u8; 32]);

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BackupKey({})", self.id_hex())
    }
}

impl BackupKey {
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join("keys").join("backup.key")
    }

    /// Reads a key file written by [`BackupKey::write_to`].
    pub fn load(path: &Path) -> anyhow::Result<BackupKey> {
        let text = fs::read_to_string(path).with_context(|| format!("reading the backup key {}", path.display()))?;
        let encoded = text
            .trim()
            .strip_prefix(KEY_FILE_PREFIX)
            .with_context(|| format!("{} is not a Caducée backup key", path.display()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .with_context(|| format!("{} does not hold a 256-bit key", path.display()))?;
        Ok(BackupKey(bytes))
    }

    /// The data folder's backup key, created on first use.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<BackupKey> {
        let path = Self::path_in(data_dir);
        if path.exists() {
            return Self::load(&path);
        }
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes).map_err(|_| anyhow::anyhow!("no system randomness"))?;
        let key = BackupKey(bytes);
        key.write_to(&path)?;
        Ok(key)
    }

    /// Writes the key as one line of text (mode 0600), refusing to replace a file.
    pub fn write_to(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("writing the backup key to {}", path.display()))?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(self.0);
        writeln!(file, "{KEY_FILE_PREFIX}{encoded}")?;
        file.sync_all()?;
        Ok(())
    }

    /// Names the key without revealing it: lets a restore say "wrong key" rather than
    /// "damaged file".
    pub(super) fn id(&self) -> [u8; KEY_ID_BYTES] {
        let mut digest = Digest::new(&SHA256);
        digest.update(b"caducee backup key id v1");
        digest.update(&self.0);
        let mut id = [0u8; KEY_ID_BYTES];
        id.copy_from_slice(&digest.finish().as_ref()[..KEY_ID_BYTES]);
        id
    }

    pub fn id_hex(&self) -> String {
        hex(&self.id())
    }

    pub(super) fn chunk_key(&self, salt: &[u8]) -> anyhow::Result<LessSafeKey> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(&self.0);
        let okm = prk.expand(&[b"caducee backup v1"], &AES_256_GCM).map_err(|_| anyhow::anyhow!("key derivation"))?;
        Ok(LessSafeKey::new(UnboundKey::from(okm)))
    }
}
