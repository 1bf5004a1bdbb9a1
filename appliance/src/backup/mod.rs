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

pub mod drill;

use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use base64::Engine as _;
use caducee_storage::{Millis, Store};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::digest::{Context as Digest, SHA256};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

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
/// key is deliberately absent.
const FOLDER_FILES: [&str; 6] =
    ["keys/master.key", "tls/ca.pem", "tls/ca.key", "tls/server.pem", "tls/server.key", "caducee.toml"];
const STORE_FILE: &str = "store/data.mdb";

/// The 256-bit key that encrypts backups.
pub struct BackupKey([u8; 32]);

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
    fn id(&self) -> [u8; KEY_ID_BYTES] {
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

    fn chunk_key(&self, salt: &[u8]) -> anyhow::Result<LessSafeKey> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(&self.0);
        let okm = prk.expand(&[b"caducee backup v1"], &AES_256_GCM).map_err(|_| anyhow::anyhow!("key derivation"))?;
        Ok(LessSafeKey::new(UnboundKey::from(okm)))
    }
}

/// What a backup holds, written inside it (after the files it describes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub backup_format: u8,
    pub caducee_version: String,
    pub store_format: u32,
    pub created_at: Millis,
    pub compacted: bool,
    /// Counted in a read transaction just before the copy began; the copy itself may hold a
    /// few more messages accepted meanwhile (a restore or verify reports the exact figures).
    pub messages_at_start: u64,
    pub message_bytes_at_start: u64,
    pub mailboxes_at_start: u64,
    pub files: Vec<FileDigest>,
    /// SHA-256 of the whole archive's ciphertext is not knowable inside it; the file digests
    /// and the authenticated chunks cover every byte.
    pub key_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileDigest {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

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

    for name in FOLDER_FILES {
        let path = data_dir.join(name);
        match fs::File::open(&path) {
            Ok(file) => files.push(write_entry(&mut archive, name, file)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound && name == "caducee.toml" => {}
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
    if name != STORE_FILE && !FOLDER_FILES.contains(&name.as_str()) {
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

/// Encrypts everything written to it into authenticated chunks.
struct SealingWriter<W: Write> {
    out: W,
    key: LessSafeKey,
    header: [u8; HEADER_BYTES],
    chunk: u64,
    buffer: Vec<u8>,
}

impl<W: Write> SealingWriter<W> {
    fn new(mut out: W, key: &BackupKey) -> anyhow::Result<Self> {
        let mut header = [0u8; HEADER_BYTES];
        header[..MAGIC.len()].copy_from_slice(MAGIC);
        header[MAGIC.len()] = BACKUP_FORMAT_VERSION;
        let salt = &mut header[MAGIC.len() + 1..MAGIC.len() + 1 + SALT_BYTES];
        SystemRandom::new().fill(salt).map_err(|_| anyhow::anyhow!("no system randomness"))?;
        let chunk_key = key.chunk_key(salt)?;
        header[HEADER_BYTES - KEY_ID_BYTES..].copy_from_slice(&key.id());
        out.write_all(&header)?;
        Ok(SealingWriter { out, key: chunk_key, header, chunk: 0, buffer: Vec::with_capacity(CHUNK_BYTES + TAG_BYTES) })
    }

    fn seal_chunk(&mut self, last: bool) -> io::Result<()> {
        let nonce = chunk_nonce(self.chunk, last);
        self.key
            .seal_in_place_append_tag(nonce, Aad::from(&self.header[..]), &mut self.buffer)
            .map_err(|_| io::Error::other("sealing a backup chunk failed"))?;
        // The last-chunk flag travels in the frame's top bit and is authenticated through
        // the nonce: flipping it makes the chunk fail to open.
        let frame = self.buffer.len() as u32 | if last { LAST_CHUNK_BIT } else { 0 };
        self.out.write_all(&frame.to_be_bytes())?;
        self.out.write_all(&self.buffer)?;
        self.buffer.clear();
        self.chunk += 1;
        Ok(())
    }

    /// Seals the last chunk (possibly empty) and returns the underlying writer, flushed.
    fn finish(mut self) -> io::Result<W> {
        self.seal_chunk(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for SealingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let room = CHUNK_BYTES - self.buffer.len();
        let taken = room.min(bytes.len());
        self.buffer.extend_from_slice(&bytes[..taken]);
        if self.buffer.len() == CHUNK_BYTES {
            self.seal_chunk(false)?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn chunk_nonce(chunk: u64, last: bool) -> Nonce {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&chunk.to_be_bytes());
    nonce[8] = u8::from(last);
    Nonce::assume_unique_for_key(nonce)
}

/// Reads and authenticates chunks written by [`SealingWriter`].
struct OpeningReader<R: Read> {
    input: R,
    key: LessSafeKey,
    header: [u8; HEADER_BYTES],
    chunk: u64,
    plain: Vec<u8>,
    position: usize,
    ended: bool,
}

impl<R: Read> OpeningReader<R> {
    fn new(mut input: R, key: &BackupKey) -> anyhow::Result<Self> {
        let mut header = [0u8; HEADER_BYTES];
        input.read_exact(&mut header).context("the file is too short to be a backup")?;
        if &header[..MAGIC.len()] != MAGIC {
            bail!("not a Caducée backup");
        }
        if header[MAGIC.len()] != BACKUP_FORMAT_VERSION {
            bail!("backup format {} is not the supported format {BACKUP_FORMAT_VERSION}", header[MAGIC.len()]);
        }
        if header[HEADER_BYTES - KEY_ID_BYTES..] != key.id() {
            bail!(
                "this backup was made with another backup key (key id {}, given {})",
                hex(&header[HEADER_BYTES - KEY_ID_BYTES..]),
                key.id_hex()
            );
        }
        let chunk_key = key.chunk_key(&header[MAGIC.len() + 1..MAGIC.len() + 1 + SALT_BYTES])?;
        Ok(OpeningReader { input, key: chunk_key, header, chunk: 0, plain: Vec::new(), position: 0, ended: false })
    }

    fn next_chunk(&mut self) -> io::Result<()> {
        let mut len = [0u8; 4];
        self.input.read_exact(&mut len).map_err(|_| damaged("the backup is truncated"))?;
        let frame = u32::from_be_bytes(len);
        let last = frame & LAST_CHUNK_BIT != 0;
        let len = (frame & !LAST_CHUNK_BIT) as usize;
        if !(TAG_BYTES..=CHUNK_BYTES + TAG_BYTES).contains(&len) {
            return Err(damaged("the backup holds a chunk of impossible length"));
        }
        self.plain.resize(len, 0);
        self.input.read_exact(&mut self.plain).map_err(|_| damaged("the backup is truncated"))?;
        // A chunk opens only under its own number and its own last-chunk flag, so chunks
        // cannot be reordered, dropped or cut short without notice.
        let opened = self
            .key
            .open_in_place(chunk_nonce(self.chunk, last), Aad::from(&self.header[..]), &mut self.plain)
            .map_err(|_| damaged("the backup is damaged or altered (a chunk fails authentication)"))?
            .len();
        self.plain.truncate(opened);
        self.position = 0;
        self.chunk += 1;
        self.ended = last;
        Ok(())
    }

    /// After the last entry: the last chunk must have been read, and nothing may follow.
    fn expect_end(&mut self) -> anyhow::Result<()> {
        if self.position != self.plain.len() {
            bail!("the backup holds data after its manifest");
        }
        if !self.ended {
            // The end mark filled its chunk exactly: the last chunk follows, empty.
            self.next_chunk()?;
            if !self.plain.is_empty() || !self.ended {
                bail!("the backup holds data after its manifest");
            }
        }
        let mut extra = [0u8; 1];
        if self.input.read(&mut extra)? != 0 {
            bail!("the backup has bytes after its last chunk");
        }
        Ok(())
    }
}

impl<R: Read> Read for OpeningReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.position == self.plain.len() {
            if self.ended {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = out.len().min(self.plain.len() - self.position);
        out[..n].copy_from_slice(&self.plain[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

fn damaged(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    pub problems: Vec<String>,
    pub seconds: f64,
}

/// Extracts `archive` into `dest`, then opens the extracted store and checks every invariant.
fn extract_and_check(archive: &Path, key: &BackupKey, dest: &Path) -> anyhow::Result<Checked> {
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

/// Restores a backup into `data_dir`, whose lock the caller holds.
///
/// The archive is extracted and checked in a staging folder inside `data_dir` first; only a
/// backup that passes every check replaces anything. What it replaces (with `force`) is
/// moved aside into `data_dir/replaced-<time>/`, never deleted.
pub fn restore(archive: &Path, key: &BackupKey, data_dir: &Path, force: bool, now: Millis) -> anyhow::Result<Checked> {
    let live = data_dir.join(STORE_FILE);
    if live.exists() && !force {
        bail!(
            "{} already holds a store; restoring would replace it. Stop the relay and pass --force to move it \
             aside and restore",
            data_dir.display()
        );
    }
    let staging = data_dir.join(format!(".restore-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let checked = extract_and_check(archive, key, &staging);
    let checked = match checked {
        Ok(checked) if checked.ok => checked,
        Ok(checked) => {
            let _ = fs::remove_dir_all(&staging);
            bail!("the backup's store fails its checks: {}", checked.problems.join("; "));
        }
        Err(error) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(error);
        }
    };
    let aside = data_dir.join(format!("replaced-{}", stamp(now)));
    let mut names: Vec<&str> = vec![STORE_FILE];
    names.extend(FOLDER_FILES);
    for name in names {
        let from = staging.join(name);
        let to = data_dir.join(name);
        if to.exists() {
            let kept = aside.join(name);
            fs::create_dir_all(kept.parent().unwrap_or(&aside))?;
            fs::rename(&to, &kept)?;
        }
        if from.exists() {
            fs::create_dir_all(to.parent().unwrap_or(data_dir))?;
            fs::rename(&from, &to)?;
        }
    }
    // LMDB's lock file belongs to the store it came with.
    let _ = fs::remove_file(data_dir.join("store").join("lock.mdb"));
    fs::remove_dir_all(&staging)?;
    // The renames are durable only once every folder they touched is synced.
    for dir in ["store", "keys", "tls", ""].map(|d| data_dir.join(d)) {
        if dir.exists() {
            fs::File::open(&dir)?.sync_all()?;
        }
    }
    if aside.exists() {
        for dir in ["store", "keys", "tls", ""].map(|d| aside.join(d)) {
            if dir.exists() {
                fs::File::open(&dir)?.sync_all()?;
            }
        }
    }
    Ok(checked)
}

/// `20261126T010203Z`: the UTC time in backup and folder names, sortable as text.
pub fn stamp(at: Millis) -> String {
    let at = chrono::DateTime::from_timestamp_millis(at.0 as i64).unwrap_or_default();
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

fn parse_stamp(name: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let stamp = name.strip_prefix("caducee-")?.strip_suffix(".cbk")?;
    let naive = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").ok()?;
    Some(naive.and_utc())
}

/// The name a scheduled backup gets in the backup folder.
pub fn scheduled_name(at: Millis) -> String {
    format!("caducee-{}.cbk", stamp(at))
}

/// Backups in `folder` to delete so that the newest backup of each of the last `daily`
/// days and of each of the last `weekly` ISO weeks remain. Files not named by
/// [`scheduled_name`] are never touched.
pub fn rotation(folder: &Path, daily: usize, weekly: usize) -> anyhow::Result<Vec<PathBuf>> {
    use chrono::Datelike as _;
    let mut backups = Vec::new();
    for entry in fs::read_dir(folder)? {
        let entry = entry?;
        if let Some(at) = entry.file_name().to_str().and_then(parse_stamp) {
            backups.push((at, entry.path()));
        }
    }
    backups.sort_by_key(|b| std::cmp::Reverse(b.0)); // newest first
    let mut days = Vec::new();
    let mut weeks = Vec::new();
    let mut delete = Vec::new();
    for (at, path) in backups {
        let day = at.date_naive();
        let week = (at.iso_week().year(), at.iso_week().week());
        let mut keep = false;
        if !days.contains(&day) && days.len() < daily {
            days.push(day);
            keep = true;
        }
        if !weeks.contains(&week) && weeks.len() < weekly {
            weeks.push(week);
            keep = true;
        }
        if !keep {
            delete.push(path);
        }
    }
    Ok(delete)
}

/// The scheduled backups in `folder`, newest first: file, time, size.
pub fn list(folder: &Path) -> anyhow::Result<Vec<(PathBuf, Millis, u64)>> {
    let entries = match fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", folder.display())),
    };
    let mut backups = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(at) = entry.file_name().to_str().and_then(parse_stamp) {
            let bytes = entry.metadata()?.len();
            backups.push((entry.path(), Millis(at.timestamp_millis().max(0) as u64), bytes));
        }
    }
    backups.sort_by_key(|b| std::cmp::Reverse(b.1));
    Ok(backups)
}

/// The newest scheduled backup in `folder`.
pub fn latest(folder: &Path) -> anyhow::Result<Option<PathBuf>> {
    let mut newest: Option<(chrono::DateTime<chrono::Utc>, PathBuf)> = None;
    let entries = match fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", folder.display())),
    };
    for entry in entries {
        let entry = entry?;
        if let Some(at) = entry.file_name().to_str().and_then(parse_stamp) {
            if newest.as_ref().is_none_or(|(best, _)| at > *best) {
                newest = Some((at, entry.path()));
            }
        }
    }
    Ok(newest.map(|(_, path)| path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scheduled backups named by `stamps` in a folder, and those rotation deletes, sorted.
    fn deleted_by_rotation(stamps: &[&str], daily: usize, weekly: usize) -> Vec<String> {
        let folder = tempfile::tempdir().expect("tempdir");
        for stamp in stamps {
            fs::write(folder.path().join(format!("caducee-{stamp}.cbk")), b"").expect("write");
        }
        let mut deleted: Vec<String> = rotation(folder.path(), daily, weekly)
            .expect("rotation")
            .iter()
            .map(|p| p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned())
            .collect();
        deleted.sort();
        deleted
    }

    #[test]
    fn rotation_keeps_the_newest_of_each_recent_day_and_week() {
        // Mondays to Sundays of ISO weeks 1–3 of 2026, two backups on the last day.
        let names = [
            "20260105T010000Z", // week 2 Monday
            "20260111T010000Z", // week 2 Sunday
            "20260112T010000Z", // week 3 Monday
            "20260118T010000Z", // week 3 Sunday
            "20260118T130000Z", // week 3 Sunday, later
            "20260101T010000Z", // week 1 Thursday
        ];
        let deleted = deleted_by_rotation(&names, 2, 2);
        // Kept: 18th 13:00 (day + week 3), 12th (second day), 11th (week 2).
        assert_eq!(
            deleted,
            ["caducee-20260101T010000Z.cbk", "caducee-20260105T010000Z.cbk", "caducee-20260118T010000Z.cbk"]
        );
    }

    #[test]
    fn a_week_that_spans_new_year_is_one_week() {
        // ISO week 53 of 2026 runs from Monday 28 December 2026 to Sunday 3 January 2027; week
        // 52 ends on Sunday 27 December.
        let names = [
            "20261227T010000Z", // week 52 Sunday
            "20261228T010000Z", // week 53 Monday
            "20261231T235900Z", // week 53 Thursday, the last minute of the year
            "20270101T000100Z", // week 53 Friday, the first minute of the next
            "20270103T010000Z", // week 53 Sunday
            "20270104T010000Z", // 2027 week 1 Monday
        ];
        let deleted = deleted_by_rotation(&names, 1, 3);
        // Kept: 4 January (the day, and week 1), 3 January (week 53 of 2026), 27 December
        // (week 52): one backup for the week across New Year, not one for each of its years.
        assert_eq!(
            deleted,
            ["caducee-20261228T010000Z.cbk", "caducee-20261231T235900Z.cbk", "caducee-20270101T000100Z.cbk"]
        );
    }

    #[test]
    fn an_end_mark_that_fills_its_chunk_exactly_still_ends_the_archive() {
        let key = BackupKey([9; 32]);
        let mut writer = SealingWriter::new(Vec::new(), &key).expect("writer");
        writer.write_all(&vec![b'x'; CHUNK_BYTES - 1]).expect("write");
        writer.write_all(b"E").expect("end mark");
        let sealed = writer.finish().expect("finish");
        let mut reader = OpeningReader::new(&sealed[..], &key).expect("reader");
        let mut body = vec![0u8; CHUNK_BYTES];
        reader.read_exact(&mut body).expect("read");
        reader.expect_end().expect("the empty last chunk ends it");
    }

    #[test]
    fn an_archive_round_trips_and_refuses_reordered_chunks() {
        let key = BackupKey([7; 32]);
        let mut writer = SealingWriter::new(Vec::new(), &key).expect("writer");
        let payload: Vec<u8> = (0..(CHUNK_BYTES * 2 + 10)).map(|i| (i % 251) as u8).collect();
        writer.write_all(&payload).expect("write");
        let sealed = writer.finish().expect("finish");
        let mut opened = Vec::new();
        OpeningReader::new(&sealed[..], &key).expect("reader").read_to_end(&mut opened).expect("read");
        assert_eq!(opened, payload);

        // Swap the first two chunks (equal lengths): authentication must fail.
        let frame = 4 + CHUNK_BYTES + TAG_BYTES;
        let mut swapped = sealed.clone();
        swapped[HEADER_BYTES..HEADER_BYTES + frame]
            .copy_from_slice(&sealed[HEADER_BYTES + frame..HEADER_BYTES + 2 * frame]);
        swapped[HEADER_BYTES + frame..HEADER_BYTES + 2 * frame]
            .copy_from_slice(&sealed[HEADER_BYTES..HEADER_BYTES + frame]);
        let mut sink = Vec::new();
        let error =
            OpeningReader::new(&swapped[..], &key).expect("reader").read_to_end(&mut sink).expect_err("refused");
        assert!(error.to_string().contains("damaged or altered"), "{error}");

        // Drop the last chunk: the stream ends without its last-chunk flag.
        let cut = &sealed[..HEADER_BYTES + 2 * frame];
        let error = OpeningReader::new(cut, &key).expect("reader").read_to_end(&mut sink).expect_err("refused");
        assert!(error.to_string().contains("truncated"), "{error}");
    }
}
