//! `caducee-commits`: what one durable commit of one message costs on this disk, as the
//! store makes it (LMDB syncs twice: the data pages with `fdatasync`, then the meta page
//! through a descriptor opened `O_DSYNC`), against the designs that sync once per commit
//! with an intake log — a record of the commit's writes, synced, that a start would replay.
//!
//! Each mode commits one 8 KiB value per transaction (and deletes the one from two commits
//! before, so the store stays small), one at a time: a model of the store's commit, which
//! touches several tables. The log is a file written through once beforehand, then
//! overwritten in place. Modes, alternated round after round in one sitting:
//!
//! - `lmdb`: LMDB as the store opens it — the promise kept, two syncs;
//! - `lmdb-nometasync alone`: LMDB's data-page sync without its meta page's — not durable
//!   (the last commit can be lost), measured to split LMDB's cost between its two syncs;
//! - `log, then lmdb-nometasync`: the log record synced, then LMDB with `MDB_NOMETASYNC`
//!   (its data pages synced, its meta page left to the next commit's sync) — the promise
//!   kept by the log, LMDB's integrity by its own ordering;
//! - `log beside lmdb-nometasync`: the same, the log synced on another thread while LMDB
//!   syncs its data pages;
//! - `log, then lmdb-nosync`: the log synced, LMDB not synced at all — the floor under any
//!   one-sync design, **not** a design: LMDB's meta page could reach the disk before the
//!   pages it points to, and a power cut would leave a store no log can mend;
//! - `log alone`: the synced log write by itself.
//!
//! `caducee-commits [--dir DIR] [--commits N] [--rounds R]`; DIR must be on the store's disk.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::Context as _;
use clap::Parser;
use hdrhistogram::Histogram;
use heed::byteorder::BigEndian;
use heed::types::{Bytes, U64};
use heed::{Database, Env, EnvFlags, EnvOpenOptions};

#[derive(Debug, Parser)]
#[command(name = "caducee-commits", about = "One durable commit's cost: LMDB's two syncs against an intake log")]
struct Args {
    /// A folder on the disk to measure (the store's disk); a scratch folder is made in it.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Commits per mode and round.
    #[arg(long, default_value_t = 2000)]
    commits: u64,
    /// Rounds; each runs every mode once.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
}

const VALUE_BYTES: usize = 8192;
/// Log records written in place before the log wraps.
const LOG_SLOTS: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Lmdb,
    NoMetaSyncAlone,
    LogThenNoMetaSync,
    LogBesideNoMetaSync,
    LogThenNoSync,
    LogAlone,
}

impl Mode {
    const ALL: [Mode; 6] = [
        Mode::Lmdb,
        Mode::NoMetaSyncAlone,
        Mode::LogThenNoMetaSync,
        Mode::LogBesideNoMetaSync,
        Mode::LogThenNoSync,
        Mode::LogAlone,
    ];

    fn name(self) -> &'static str {
        match self {
            Mode::Lmdb => "lmdb (two syncs)",
            Mode::NoMetaSyncAlone => "lmdb-nometasync alone",
            Mode::LogThenNoMetaSync => "log, then lmdb-nometasync",
            Mode::LogBesideNoMetaSync => "log beside lmdb-nometasync",
            Mode::LogThenNoSync => "log, then lmdb-nosync (floor)",
            Mode::LogAlone => "log alone",
        }
    }

    fn flags(self) -> EnvFlags {
        match self {
            Mode::Lmdb => EnvFlags::empty(),
            Mode::NoMetaSyncAlone | Mode::LogThenNoMetaSync | Mode::LogBesideNoMetaSync => EnvFlags::NO_META_SYNC,
            Mode::LogThenNoSync | Mode::LogAlone => EnvFlags::NO_SYNC,
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scratch = tempfile::Builder::new().prefix("caducee-commits-").tempdir_in(&args.dir)?;
    let mut medians: Vec<(Mode, Vec<u64>)> = Mode::ALL.iter().map(|&mode| (mode, Vec::new())).collect();
    for round in 1..=args.rounds {
        for (mode, p50s) in &mut medians {
            let latency = run(*mode, &scratch.path().join(format!("{round}-{}", *mode as u8)), args.commits)?;
            let us = |q: f64| latency.value_at_quantile(q);
            println!(
                "round {round}  {:32} µs per commit: p50 {:5}  p90 {:5}  p99 {:5}",
                mode.name(),
                us(0.5),
                us(0.9),
                us(0.99)
            );
            p50s.push(us(0.5));
        }
    }
    println!("\n| mode | p50 per round (µs) |\n|---|---|");
    for (mode, p50s) in medians {
        let rounds: Vec<String> = p50s.iter().map(u64::to_string).collect();
        println!("| {} | {} |", mode.name(), rounds.join(", "));
    }
    Ok(())
}

/// Makes `commits` durable commits in `mode` in a fresh store under `dir`; their latencies.
fn run(mode: Mode, dir: &Path, commits: u64) -> anyhow::Result<Histogram<u64>> {
    std::fs::create_dir_all(dir)?;
    let env = open(dir, mode)?;
    let mut txn = env.write_txn()?;
    let db: Database<U64<BigEndian>, Bytes> = env.create_database(&mut txn, Some("messages"))?;
    txn.commit()?;
    let log = OpenOptions::new().create(true).truncate(true).read(true).write(true).open(dir.join("intake.log"))?;
    // Written through once before timing, so that the timed writes overwrite allocated
    // blocks, as LMDB's commits do once its file has grown (a hole would cost each synced
    // write a block allocation in the filesystem's journal).
    let zeros = vec![0_u8; VALUE_BYTES];
    for slot in 0..LOG_SLOTS {
        log.write_all_at(&zeros, slot * VALUE_BYTES as u64)?;
    }
    log.sync_all()?;
    let value = vec![0x5a_u8; VALUE_BYTES];
    let (to_logger, records) = mpsc::channel::<(u64, mpsc::Sender<std::io::Result<()>>)>();
    let logger = {
        let (log, value) = (log.try_clone()?, value.clone());
        std::thread::spawn(move || {
            for (i, done) in records {
                let _ = done.send(append(&log, &value, i));
            }
        })
    };
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for i in 0..commits {
        let started = Instant::now();
        match mode {
            Mode::Lmdb | Mode::NoMetaSyncAlone => commit(&env, db, &value, i)?,
            Mode::LogThenNoMetaSync | Mode::LogThenNoSync => {
                append(&log, &value, i)?;
                commit(&env, db, &value, i)?;
            }
            Mode::LogBesideNoMetaSync => {
                let (done, logged) = mpsc::channel();
                to_logger.send((i, done)).context("the log thread")?;
                commit(&env, db, &value, i)?;
                logged.recv().context("the log thread")??;
            }
            Mode::LogAlone => append(&log, &value, i)?,
        }
        latency.record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX).max(1))?;
    }
    drop(to_logger);
    let _ = logger.join();
    Ok(latency)
}

fn open(dir: &Path, mode: Mode) -> anyhow::Result<Env> {
    let mut options = EnvOpenOptions::new();
    options.map_size(1 << 30).max_dbs(1);
    // SAFETY: NO_SYNC and NO_META_SYNC trade durability, not memory safety; the scratch
    // store is opened once, by this process alone, and thrown away.
    #[allow(unsafe_code)]
    let _flagged = unsafe { options.flags(mode.flags()) };
    // SAFETY: as above: one opening, in a folder of our own.
    #[allow(unsafe_code)]
    let env = unsafe { options.open(dir)? };
    Ok(env)
}

/// One transaction: the new value in, the one from two commits before out.
fn commit(env: &Env, db: Database<U64<BigEndian>, Bytes>, value: &[u8], i: u64) -> anyhow::Result<()> {
    let mut txn = env.write_txn()?;
    db.put(&mut txn, &i, value)?;
    if let Some(old) = i.checked_sub(2) {
        db.delete(&mut txn, &old)?;
    }
    txn.commit()?;
    Ok(())
}

/// The log record of commit `i`, written in place and synced.
fn append(log: &File, value: &[u8], i: u64) -> std::io::Result<()> {
    log.write_all_at(value, (i % LOG_SLOTS) * VALUE_BYTES as u64)?;
    rustix::fs::fdatasync(log)?;
    Ok(())
}
