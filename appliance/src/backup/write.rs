//! Writing an archive: the store streamed from LMDB's copy through a pipe, the data folder's
//! other files, then the manifest, all through a [`SealingWriter`] into a file synced as it
//! grows and renamed only when whole.

use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use caducee_storage::{Millis, Store};
use ring::digest::{Context as Digest, SHA256};

use super::stream::SealingWriter;
use super::{
    hex, BackupKey, FileDigest, Manifest, BACKUP_FORMAT_VERSION, CHUNK_BYTES, FOLDER_FILES, RELAY_KEY_FILES, STORE_FILE,
};

/// Writes a backup of the open `store` and the data folder's other files to `dest`.
///
/// The archive is written to `dest` + `.partial` and renamed when complete and synced, so a
/// file named `dest` is always a whole backup.
pub fn create(
    store: &Store,
    data_dir: &Path,
    dest: &Path,
    key: &BackupKey,
    compact: bool,
    now: Millis,
) -> anyhow::Result<Manifest> {
    let partial = partial_path(dest);
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let result = write_archive(store, data_dir, BufWriter::new(PacedFile::new(file)), key, compact, now);
    match result {
        Ok((manifest, file)) => {
            file.sync_all()?;
            fs::rename(&partial, dest)?;
            if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::File::open(dir)?.sync_all()?;
            }
            Ok(manifest)
        }
        Err(error) => {
            let _ = fs::remove_file(&partial);
            Err(error)
        }
    }
}

fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_owned();
    name.push(".partial");
    dest.with_file_name(name)
}

fn write_archive(
    store: &Store,
    data_dir: &Path,
    out: BufWriter<PacedFile>,
    key: &BackupKey,
    compact: bool,
    now: Millis,
) -> anyhow::Result<(Manifest, fs::File)> {
    let stats = store.stats()?;
    let mut archive = SealingWriter::new(out, key)?;
    let mut files = Vec::new();

    // The store streams from LMDB's copy through a pipe: no clear copy touches a disk.
    let (reader, writer) = io::pipe()?;
    let digest = std::thread::scope(|scope| -> anyhow::Result<FileDigest> {
        let copier =
            scope.spawn(move || store.copy_store_to(fs::File::from(std::os::fd::OwnedFd::from(writer)), compact));
        let digest = write_entry(&mut archive, STORE_FILE, reader);
        let copied = copier.join().map_err(|_| anyhow::anyhow!("the store copy panicked"))?;
        copied.context("copying the store")?;
        digest
    })?;
    files.push(digest);

    for name in FOLDER_FILES.into_iter().chain(RELAY_KEY_FILES) {
        let path = data_dir.join(name);
        match fs::File::open(&path) {
            Ok(file) => files.push(write_entry(&mut archive, name, file)?),
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    && (name == "caducee.toml" || RELAY_KEY_FILES.contains(&name)) => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    let manifest = Manifest {
        backup_format: BACKUP_FORMAT_VERSION,
        caducee_version: env!("CARGO_PKG_VERSION").to_owned(),
        store_format: caducee_storage::FORMAT_VERSION,
        created_at: now,
        compacted: compact,
        messages_at_start: stats.messages,
        message_bytes_at_start: stats.message_bytes,
        mailboxes_at_start: stats.mailboxes,
        files,
        key_id: key.id_hex(),
    };
    let json = serde_json::to_vec(&manifest)?;
    archive.write_all(b"M")?;
    archive.write_all(&(json.len() as u32).to_be_bytes())?;
    archive.write_all(&json)?;
    archive.write_all(b"E")?;
    let out = archive.finish()?;
    let file = out.into_inner().map_err(|e| e.into_error())?.file;
    Ok((manifest, file))
}

/// Flushes the backup file to disk every [`PACED_SYNC_BYTES`] as it grows. Left to the
/// kernel, gigabytes of dirty pages pile up and are written back in one burst, and the
/// relay's own commit fsyncs queue behind it: accepts stalled for over half a second
/// during a backup. Syncing as we go spreads that cost out.
struct PacedFile {
    file: fs::File,
    unsynced: usize,
}

/// How much of the backup file may wait in the page cache.
const PACED_SYNC_BYTES: usize = 16 << 20;

impl PacedFile {
    fn new(file: fs::File) -> Self {
        PacedFile { file, unsynced: 0 }
    }
}

impl Write for PacedFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.file.write(bytes)?;
        self.unsynced += written;
        if self.unsynced >= PACED_SYNC_BYTES {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Writes one file entry, in frames, and returns its digest.
fn write_entry(archive: &mut impl Write, name: &str, mut data: impl Read) -> anyhow::Result<FileDigest> {
    archive.write_all(b"F")?;
    archive.write_all(&[name.len() as u8])?;
    archive.write_all(name.as_bytes())?;
    let mut digest = Digest::new(&SHA256);
    let mut buffer = vec![0u8; CHUNK_BYTES];
    let mut total = 0u64;
    loop {
        let n = read_full(&mut data, &mut buffer)?;
        if n == 0 {
            break;
        }
        digest.update(&buffer[..n]);
        archive.write_all(&(n as u32).to_be_bytes())?;
        archive.write_all(&buffer[..n])?;
        total += n as u64;
    }
    archive.write_all(&0u32.to_be_bytes())?;
    Ok(FileDigest { name: name.to_owned(), bytes: total, sha256: hex(digest.finish().as_ref()) })
}

/// Fills `buffer` as far as the source allows (a pipe gives short reads).
fn read_full(data: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match data.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
