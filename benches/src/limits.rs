//! `caducee-limits`: what this machine allows, measured the way the relay uses it, so that
//! load figures can be read against the machine rather than alone.
//!
//! - durable appends: 4 KiB written then `fdatasync`, one at a time (the floor under one
//!   commit per message) — rate and latency percentiles;
//! - loopback TCP: one connection carrying a stream one way — bytes per second.
//!
//! `caducee-limits [--dir DIR] [--json FILE]`; DIR must be on the disk the store uses.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use hdrhistogram::Histogram;

#[derive(Debug, Parser)]
#[command(name = "caducee-limits", about = "Measure this machine's durable-write and loopback limits")]
struct Args {
    /// A folder on the disk to measure (the store's disk).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// How many synced appends.
    #[arg(long, default_value_t = 2000)]
    syncs: u32,
    /// Bytes sent over loopback.
    #[arg(long, default_value_t = 2 << 30)]
    loopback_bytes: u64,
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (syncs_per_second, latency) = durable_appends(&args)?;
    let loopback = loopback_throughput(args.loopback_bytes)?;
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "durable 4 KiB appends (write + fdatasync) in {}: {syncs_per_second:.0}/s; latency ms p50 {:.3}  p99 {:.3}  max {:.3}",
        args.dir.display(),
        ms(0.5),
        ms(0.99),
        ms(1.0)
    );
    println!("loopback TCP, one stream: {:.2} GB/s", loopback / 1e9);
    if let Some(path) = &args.json {
        let report = serde_json::json!({
            "fdatasync_per_second": syncs_per_second,
            "fdatasync_ms": { "p50": ms(0.5), "p99": ms(0.99), "max": ms(1.0) },
            "loopback_bytes_per_second": loopback,
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}

fn durable_appends(args: &Args) -> anyhow::Result<(f64, Histogram<u64>)> {
    let scratch = tempfile::Builder::new().prefix("caducee-limits-").tempdir_in(&args.dir).context("scratch file")?;
    let mut file = std::fs::File::create(scratch.path().join("appends"))?;
    let block = [0x5au8; 4096];
    // Microseconds, 1 µs to 10 s: constant bounds, so this holds.
    let mut latency = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).unwrap_or_else(|_| unreachable!());
    let started = Instant::now();
    for _ in 0..args.syncs {
        let one = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        let micros = u64::try_from(one.elapsed().as_micros()).unwrap_or(u64::MAX).clamp(1, 10_000_000);
        let _ = latency.record(micros);
    }
    Ok((f64::from(args.syncs) / started.elapsed().as_secs_f64(), latency))
}

fn loopback_throughput(total: u64) -> anyhow::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut stream, _) = listener.accept()?;
        let mut buffer = vec![0u8; 1 << 20];
        let mut received = 0;
        loop {
            match stream.read(&mut buffer)? {
                0 => return Ok(received),
                n => received += n as u64,
            }
        }
    });
    let mut stream = TcpStream::connect(address)?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let chunk = vec![0u8; 1 << 20];
    let started = Instant::now();
    let mut sent = 0;
    while sent < total {
        stream.write_all(&chunk)?;
        sent += chunk.len() as u64;
    }
    drop(stream);
    let received = reader.join().map_err(|_| anyhow::anyhow!("reader panicked"))??;
    Ok(received as f64 / started.elapsed().as_secs_f64())
}
