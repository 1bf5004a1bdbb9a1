//! Reading an archive back: every chunk authenticated, every file checked against the
//! manifest, then the extracted store opened and checked (`caducee backup verify`).

use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::{bail, Context as _};
use caducee_storage::Store;
use ring::digest::{Context as Digest, SHA256};
use serde::Serialize;

use super::stream::OpeningReader;
use super::{
    hex, BackupKey, FileDigest, Manifest, BACKUP_FORMAT_VERSION, CHUNK_BYTES, EARLIER_FOLDER_FILES,
    ENTRY_NAME_BYTES_MAX, FOLDER_FILES, MANIFEST_BYTES_MAX, RELAY_KEY_FILES, STORE_FILE,
};

/// Decrypts and checks a backup, writing its files under `dest` (a data folder layout).
/// Every chunk is authenticated and every file's digest checked against the manifest.
pub fn extract(archive: &Path, key: &BackupKey, dest: &Path) -> anyhow::Result<Manifest> {
    let file = fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut reader = OpeningReader::new(io::BufReader::with_capacity(CHUNK_BYTES + 64, file), key)?;
    let mut digests = Vec::new();
    let manifest = loop {
        let mut kind = [0u8; 1];
        reader.read_exact(&mut kind).context("the backup ends before its manifest")?;
        match &kind {
            b"F" => digests.push(extract_entry(&mut reader, dest)?),
            b"M" => {
                let mut len = [0u8; 4];
                reader.read_exact(&mut len)?;
                let len = u32::from_be_bytes(len) as usize;
                if len > MANIFEST_BYTES_MAX {
                    bail!("the backup's manifest is implausibly large");
                }
                let mut json = vec![0u8; len];
                reader.read_exact(&mut json)?;
                let mut end = [0u8; 1];
                reader.read_exact(&mut end)?;
                if &end != b"E" {
                    bail!("the backup does not end after its manifest");
                }
                reader.expect_end()?;
                break serde_json::from_slice::<Manifest>(&json).context("reading the backup's manifest")?;
            }
            _ => bail!("the backup holds an unknown entry"),
        }
    };
    if manifest.backup_format != BACKUP_FORMAT_VERSION {
        bail!("backup format {} is not the supported format {BACKUP_FORMAT_VERSION}", manifest.backup_format);
    }
    if digests != manifest.files {
        bail!("the backup's files do not match its manifest");
    }
    if !digests.iter().any(|d| d.name == STORE_FILE) || !digests.iter().any(|d| d.name == "keys/master.key") {
        bail!("the backup lacks the store or its master key");
    }
    Ok(manifest)
}

fn extract_entry(reader: &mut impl Read, dest: &Path) -> anyhow::Result<FileDigest> {
    let mut len = [0u8; 1];
    reader.read_exact(&mut len)?;
    let len = usize::from(len[0]);
    if len > ENTRY_NAME_BYTES_MAX {
        bail!("the backup holds an over-long file name");
    }
    let mut name = vec![0u8; len];
    reader.read_exact(&mut name)?;
    let name = String::from_utf8(name).context("the backup holds a file name that is not UTF-8")?;
    // Only the files a backup writes may come out of one: no path from the archive is
    // trusted to stay inside `dest`.
    let known = FOLDER_FILES.iter().chain(&EARLIER_FOLDER_FILES).chain(&RELAY_KEY_FILES).any(|file| *file == name);
    if name != STORE_FILE && !known {
        bail!("the backup holds an unexpected file {name:?}");
    }
    let path = dest.join(&name);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    let mode = if name.ends_with(".pem") || name.ends_with(".toml") { 0o644 } else { 0o600 };
    let file = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&path)?;
    let mut out = BufWriter::with_capacity(CHUNK_BYTES, file);
    let mut digest = Digest::new(&SHA256);
    let mut buffer = vec![0u8; CHUNK_BYTES];
    let mut total = 0u64;
    loop {
        let mut frame = [0u8; 4];
        reader.read_exact(&mut frame)?;
        let frame = u32::from_be_bytes(frame) as usize;
        if frame == 0 {
            break;
        }
        if frame > CHUNK_BYTES {
            bail!("the backup holds an over-long frame");
        }
        reader.read_exact(&mut buffer[..frame])?;
        digest.update(&buffer[..frame]);
        out.write_all(&buffer[..frame])?;
        total += frame as u64;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(FileDigest { name, bytes: total, sha256: hex(digest.finish().as_ref()) })
}

/// What `caducee backup verify` and `caducee restore` found in a backup.
#[derive(Debug, Serialize)]
pub struct Checked {
    pub ok: bool,
    pub manifest: Manifest,
    /// Counted in the extracted store.
    pub messages: u64,
    pub message_bytes: u64,
    pub mailboxes: u64,
    /// Notices waiting for the smarthost: a restored relay sends them (the drill does not).
    pub notices_waiting: u64,
    pub problems: Vec<String>,
    pub seconds: f64,
}

/// Extracts `archive` into `dest`, then opens the extracted store and checks every invariant.
pub(super) fn extract_and_check(archive: &Path, key: &BackupKey, dest: &Path) -> anyhow::Result<Checked> {
    let started = std::time::Instant::now();
    let manifest = extract(archive, key, dest)?;
    let store_bytes = fs::metadata(dest.join(STORE_FILE))?.len() as usize;
    let options = caducee_storage::StoreOptions {
        map_bytes: caducee_storage::DEFAULT_MAP_BYTES.max(store_bytes.saturating_mul(2)),
        ..caducee_storage::StoreOptions::default()
    };
    let store = Store::open(dest, &options).context("opening the store from the backup")?;
    let checked = (|| {
        let problems = store.fsck()?;
        let stats = store.stats()?;
        anyhow::Ok(Checked {
            ok: problems.is_empty(),
            manifest,
            messages: stats.messages,
            message_bytes: stats.message_bytes,
            mailboxes: stats.mailboxes,
            notices_waiting: store.notices()?.len() as u64,
            problems,
            seconds: started.elapsed().as_secs_f64(),
        })
    })();
    store.close();
    checked
}

/// Decrypts and checks a backup in a scratch folder, which is removed afterwards.
pub fn verify(archive: &Path, key: &BackupKey) -> anyhow::Result<Checked> {
    let scratch = tempfile::Builder::new().prefix("caducee-verify-").tempdir()?;
    fs::set_permissions(scratch.path(), fs::Permissions::from_mode(0o700))?;
    extract_and_check(archive, key, &scratch.path().join("data"))
}
