//! At-rest sealing: every message is sealed with its own random key (AES-256-GCM), and that
//! key is stored only wrapped by the store's master key. Erasing a message deletes its
//! wrapped key in the same commit, so its ciphertext cannot be opened again.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use crate::StoreError;

const KEY_BYTES: usize = 32;
/// Labels bind a ciphertext to its role, so a wrapped key cannot be passed off as a body.
const AAD_MESSAGE: &[u8] = b"caducee message v1";
const AAD_WRAPPED_KEY: &[u8] = b"caducee message key v1";

/// The store's master key: wraps every message key. Lives in `keys/master.key` (mode 0600),
/// outside LMDB, so a copy of the store file alone cannot be opened.
pub struct MasterKey {
    key: LessSafeKey,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Loads the master key, creating it on first use.
    pub fn load_or_create(path: &Path) -> Result<Self, StoreError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)?;
                    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
                }
                let mut bytes = vec![0u8; KEY_BYTES];
                random(&mut bytes)?;
                let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
                file.write_all(&bytes)?;
                file.sync_all()?;
                bytes
            }
            Err(e) => return Err(e.into()),
        };
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| StoreError::MasterKey)?;
        Ok(MasterKey { key: LessSafeKey::new(unbound) })
    }

    /// Seals `plaintext` under a fresh per-message key.
    pub fn seal_message(&self, plaintext: &[u8]) -> Result<crate::SealedMessage, StoreError> {
        self.seal_message_parts(&[plaintext])
    }

    /// Seals the concatenation of `parts` (a trace header and a body, say) under a fresh
    /// per-message key, copying them once, straight into the sealed record.
    pub fn seal_message_parts(&self, parts: &[&[u8]]) -> Result<crate::SealedMessage, StoreError> {
        // The message key and both nonces from one call to the system's generator.
        let mut fresh = [0u8; KEY_BYTES + 2 * NONCE_LEN];
        random(&mut fresh)?;
        let (message_key, nonces) = fresh.split_at(KEY_BYTES);
        let (body_nonce, key_nonce) = nonces.split_at(NONCE_LEN);
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, message_key).map_err(|_| StoreError::Crypto)?);
        let ciphertext = seal_with(&key, AAD_MESSAGE, parts, body_nonce);
        let wrapped_key = seal_with(&self.key, AAD_WRAPPED_KEY, &[message_key], key_nonce);
        fresh.fill(0);
        let size = parts.iter().map(|part| part.len() as u64).sum();
        Ok(crate::SealedMessage { size, wrapped_key: wrapped_key?, ciphertext: ciphertext? })
    }

    /// Opens a sealed message with its wrapped key.
    pub(crate) fn open_message(&self, wrapped_key: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut message_key = open_with(&self.key, AAD_WRAPPED_KEY, wrapped_key)?;
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &message_key).map_err(|_| StoreError::Crypto)?);
        message_key.fill(0);
        open_with(&key, AAD_MESSAGE, ciphertext)
    }

    /// Seals a small secret of the relay's own (a second-factor seed) under the master key.
    pub fn seal_secret(&self, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce)?;
        seal_with(&self.key, AAD_SECRET, &[plaintext], &nonce)
    }

    pub fn open_secret(&self, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        open_with(&self.key, AAD_SECRET, sealed)
    }

    /// True when the wrapped key opens with this master key (used by fsck).
    pub(crate) fn unwraps(&self, wrapped_key: &[u8]) -> bool {
        open_with(&self.key, AAD_WRAPPED_KEY, wrapped_key).is_ok()
    }
}

/// Binds sealed secrets to their use, apart from message keys.
const AAD_SECRET: &[u8] = b"caducee secret v1";

fn random(out: &mut [u8]) -> Result<(), StoreError> {
    SystemRandom::new().fill(out).map_err(|_| StoreError::Crypto)
}

/// Layout: nonce ‖ ciphertext ‖ tag. The parts are copied once, into the record, and
/// encrypted there.
fn seal_with(key: &LessSafeKey, aad: &[u8], parts: &[&[u8]], nonce: &[u8]) -> Result<Vec<u8>, StoreError> {
    let length: usize = parts.iter().map(|part| part.len()).sum();
    let mut sealed = Vec::with_capacity(NONCE_LEN + length + AES_256_GCM.tag_len());
    sealed.extend_from_slice(nonce);
    for part in parts {
        sealed.extend_from_slice(part);
    }
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| StoreError::Crypto)?;
    let tag = key
        .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut sealed[NONCE_LEN..])
        .map_err(|_| StoreError::Crypto)?;
    sealed.extend_from_slice(tag.as_ref());
    Ok(sealed)
}

fn open_with(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
    if sealed.len() < NONCE_LEN {
        return Err(StoreError::Crypto);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| StoreError::Crypto)?;
    let mut buffer = body.to_vec();
    let plain_len = key.open_in_place(nonce, Aad::from(aad), &mut buffer).map_err(|_| StoreError::Crypto)?.len();
    buffer.truncate(plain_len);
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_message_opens_only_with_its_wrapped_key() {
        let master = MasterKey::from_bytes(&[7u8; 32]).expect("valid key length");
        let a = master.seal_message(b"first").expect("seal");
        let b = master.seal_message(b"second").expect("seal");
        assert_eq!(master.open_message(&a.wrapped_key, &a.ciphertext).expect("open"), b"first");
        assert!(master.open_message(&b.wrapped_key, &a.ciphertext).is_err());
        assert!(!a.ciphertext.windows(5).any(|w| w == b"first"));
        let other = MasterKey::from_bytes(&[8u8; 32]).expect("valid key length");
        assert!(other.open_message(&a.wrapped_key, &a.ciphertext).is_err());
    }

    #[test]
    fn a_message_sealed_in_parts_opens_as_their_concatenation() {
        let master = MasterKey::from_bytes(&[7u8; 32]).expect("valid key length");
        let sealed = master.seal_message_parts(&[b"Received: by relay\r\n", b"", b"body"]).expect("seal");
        assert_eq!(sealed.size, 24);
        let opened = master.open_message(&sealed.wrapped_key, &sealed.ciphertext).expect("open");
        assert_eq!(opened, b"Received: by relay\r\nbody");
        // nonce, the text, the tag
        assert_eq!(sealed.ciphertext.len(), NONCE_LEN + 24 + 16);
        assert_eq!(sealed.wrapped_key.len(), NONCE_LEN + KEY_BYTES + 16);
    }

    #[test]
    fn a_secret_opens_as_a_secret_only() {
        let master = MasterKey::from_bytes(&[7u8; 32]).expect("valid key length");
        let sealed = master.seal_secret(b"seed").expect("seal");
        assert_eq!(master.open_secret(&sealed).expect("open"), b"seed");
        assert!(master.open_message(&sealed, &sealed).is_err());
    }
}
