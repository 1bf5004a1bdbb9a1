//! The encrypted chunk stream under every archive: the header, then AES-256-GCM chunks whose
//! nonce carries the chunk number and the last-chunk flag (the layout is drawn in the
//! backup module's documentation).

use std::io::{self, Read, Write};

use anyhow::{bail, Context as _};
use ring::aead::{Aad, LessSafeKey, Nonce};
use ring::rand::{SecureRandom, SystemRandom};

use super::{
    hex, BackupKey, BACKUP_FORMAT_VERSION, CHUNK_BYTES, HEADER_BYTES, KEY_ID_BYTES, LAST_CHUNK_BIT, MAGIC, SALT_BYTES,
    TAG_BYTES,
};

/// Encrypts everything written to it into authenticated chunks.
pub(super) struct SealingWriter<W: Write> {
    out: W,
    key: LessSafeKey,
    header: [u8; HEADER_BYTES],
    chunk: u64,
    buffer: Vec<u8>,
}

impl<W: Write> SealingWriter<W> {
    pub(super) fn new(mut out: W, key: &BackupKey) -> anyhow::Result<Self> {
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
    pub(super) fn finish(mut self) -> io::Result<W> {
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
pub(super) struct OpeningReader<R: Read> {
    input: R,
    key: LessSafeKey,
    header: [u8; HEADER_BYTES],
    chunk: u64,
    plain: Vec<u8>,
    position: usize,
    ended: bool,
}

impl<R: Read> OpeningReader<R> {
    pub(super) fn new(mut input: R, key: &BackupKey) -> anyhow::Result<Self> {
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
    pub(super) fn expect_end(&mut self) -> anyhow::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
