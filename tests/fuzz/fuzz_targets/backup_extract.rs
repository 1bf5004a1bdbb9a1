//! Backup extraction (`caducee backup verify`) on arbitrary archives. A first byte chooses
//! what the rest is:
//!
//! - even: the archive's bytes as they are (header, key id, chunk frames: everything that
//!   comes before authentication);
//! - odd: the archive's *plaintext* (entries, frames, manifest), sealed here under the
//!   fixture's key in the documented chunk format (docs in `backup/mod.rs`), cut into two
//!   chunks at a point the next byte chooses — so that what an administrator's key opens is
//!   fuzzed too.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use caducee_appliance::backup::{self, BackupKey};
use libfuzzer_sys::fuzz_target;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::digest::{digest, SHA256};
use ring::hkdf;

/// The fixture's backup key: 32 bytes of 7, as a key file writes it.
const KEY_FILE: &str = "caducee-backup-key-v1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n";
const KEY_BYTES: [u8; 32] = [7; 32];
const MAGIC: &[u8] = b"CADUCEE-BACKUP\n";
const FORMAT: u8 = 1;
const SALT: [u8; 32] = [0x5a; 32];
const LAST_CHUNK_BIT: u32 = 1 << 31;

struct Fixture {
    key: BackupKey,
    archive: PathBuf,
    _scratch: tempfile::TempDir,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let fixture = FIXTURE.get_or_init(|| {
        let scratch = tempfile::tempdir().expect("a scratch folder");
        let key_path = scratch.path().join("backup.key");
        std::fs::write(&key_path, KEY_FILE).expect("writing the key");
        let key = BackupKey::load(&key_path).expect("the key");
        Fixture { key, archive: scratch.path().join("archive.cbk"), _scratch: scratch }
    });
    let archive = if mode & 1 == 0 { rest.to_vec() } else { sealed(rest) };
    std::fs::write(&fixture.archive, archive).expect("writing the archive");
    let _ = backup::verify(&fixture.archive, &fixture.key);
});

/// `input` (a cut byte, then the plaintext) sealed as a backup under the fixture's key.
fn sealed(input: &[u8]) -> Vec<u8> {
    let (cut, plain) = match input.split_first() {
        Some((&cut, plain)) => (plain.len() * usize::from(cut) / 255, plain),
        None => (0, input),
    };
    let mut header = MAGIC.to_vec();
    header.push(FORMAT);
    header.extend_from_slice(&SALT);
    let mut id_input = b"caducee backup key id v1".to_vec();
    id_input.extend_from_slice(&KEY_BYTES);
    header.extend_from_slice(&digest(&SHA256, &id_input).as_ref()[..8]);
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &SALT).extract(&KEY_BYTES);
    let okm = prk.expand(&[b"caducee backup v1"], &AES_256_GCM).expect("key derivation");
    let key = LessSafeKey::new(UnboundKey::from(okm));
    let mut out = header.clone();
    let chunks = if cut == 0 { vec![plain] } else { vec![&plain[..cut], &plain[cut..]] };
    let count = chunks.len();
    for (number, chunk) in chunks.into_iter().enumerate() {
        let last = number + 1 == count;
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&(number as u64).to_be_bytes());
        nonce[8] = u8::from(last);
        let mut buffer = chunk.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&header[..]), &mut buffer)
            .expect("sealing");
        let frame = buffer.len() as u32 | if last { LAST_CHUNK_BIT } else { 0 };
        out.extend_from_slice(&frame.to_be_bytes());
        out.extend_from_slice(&buffer);
    }
    out
}
