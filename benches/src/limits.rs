//! `caducee-limits`: what this machine allows, measured the way the relay uses it, so that
//! load figures can be read against the machine rather than alone.
//!
//! - durable appends: 4 KiB written then `fdatasync`, one at a time (the floor under one
//!   commit per message) — rate and latency percentiles;
//! - loopback TCP: one connection carrying a stream one way — bytes per second.
//!
//! `caducee-limits [--dir DIR] [--json FILE]`; DIR must be on the disk the store uses.
//!
//! `caducee-limits --smtp-sink DIR` instead serves an SMTP sink until killed: implicit TLS
//! and AUTH PLAIN like the relay's submission port, every message answered `250` at once
//! and thrown away, nothing stored. `caducee-load --target-…` against it measures the
//! ceiling of the load generator, TLS and loopback on this machine — what no mail system
//! can beat here (benches/compare/run.sh runs it). Postfix's own smtp-sink speaks neither
//! TLS nor AUTH, so it cannot stand in for a submission port.

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
    /// Serve an SMTP sink (implicit TLS, AUTH PLAIN, nothing stored) until killed; writes
    /// its CA certificate (`ca.pem`) and accounts (`accounts`, for `caducee-load
    /// --target-accounts`) into this folder and prints its ports.
    #[arg(long)]
    smtp_sink: Option<PathBuf>,
    /// Accounts written for the sink (one per load session).
    #[arg(long, default_value_t = 64)]
    sink_accounts: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(dir) = &args.smtp_sink {
        return sink::serve(dir, args.sink_accounts);
    }
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

/// An SMTP submission sink with the relay's transport (implicit TLS, AUTH PLAIN,
/// pipelining), and a POP3 port with nothing to collect: the floor under any mail system's
/// figures on this machine.
mod sink {
    use std::path::Path;
    use std::sync::Arc;

    use anyhow::Context as _;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;
    use tokio_rustls::TlsAcceptor;

    pub fn serve(dir: &Path, accounts: usize) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        let acceptor = tls(dir)?;
        let lines: String = (0..accounts).map(|i| format!("sink{i}@sink.test not-checked\n")).collect();
        std::fs::write(dir.join("accounts"), lines)?;
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(async move {
            let submissions = TcpListener::bind("127.0.0.1:0").await?;
            let pop3s = TcpListener::bind("127.0.0.1:0").await?;
            println!(
                "sink: submissions {} pop3s {} ca {}",
                submissions.local_addr()?.port(),
                pop3s.local_addr()?.port(),
                dir.join("ca.pem").display()
            );
            let pop3_acceptor = acceptor.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = pop3s.accept().await {
                    let acceptor = pop3_acceptor.clone();
                    tokio::spawn(async move {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = pop3(stream).await;
                        }
                    });
                }
            });
            loop {
                let (stream, _) = submissions.accept().await?;
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let _ = smtp(stream).await;
                    }
                });
            }
        })
    }

    /// A CA and a certificate for "localhost" signed by it, as the load generator expects.
    fn tls(dir: &Path) -> anyhow::Result<TlsAcceptor> {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let ca = ca_params.self_signed(&ca_key)?;
        let key = KeyPair::generate()?;
        let server = CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&key, &ca, &ca_key)?;
        std::fs::write(dir.join("ca.pem"), ca.pem())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(
                vec![server.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .context("the sink's certificate")?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Answers like a submission server that accepts everything and keeps nothing; replies
    /// are written when the client runs out of pipelined commands.
    async fn smtp(stream: tokio_rustls::server::TlsStream<tokio::net::TcpStream>) -> std::io::Result<()> {
        let (reader, mut writer) = tokio::io::split(stream);
        let mut reader = BufReader::with_capacity(64 * 1024, reader);
        let mut replies = Vec::with_capacity(1024);
        writer.write_all(b"220 sink.test ESMTP sink\r\n").await?;
        let mut line = Vec::with_capacity(1024);
        let mut in_data = false;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).await? == 0 {
                return Ok(());
            }
            if in_data {
                if line == b".\r\n" {
                    in_data = false;
                    replies.extend_from_slice(b"250 2.0.0 thrown away\r\n");
                }
            } else {
                let verb = line.get(..4).map(|v| v.to_ascii_uppercase()).unwrap_or_default();
                match verb.as_slice() {
                    b"EHLO" => replies.extend_from_slice(b"250-sink.test\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n"),
                    b"AUTH" => replies.extend_from_slice(b"235 2.7.0 accepted\r\n"),
                    b"DATA" => {
                        in_data = true;
                        replies.extend_from_slice(b"354 go on\r\n");
                    }
                    b"QUIT" => {
                        writer.write_all(&replies).await?;
                        writer.write_all(b"221 2.0.0 bye\r\n").await?;
                        return writer.shutdown().await;
                    }
                    _ => replies.extend_from_slice(b"250 2.0.0 ok\r\n"),
                }
            }
            if reader.buffer().is_empty() && !replies.is_empty() {
                writer.write_all(&replies).await?;
                writer.flush().await?;
                replies.clear();
            }
        }
    }

    /// A maildrop that is always empty.
    async fn pop3(stream: tokio_rustls::server::TlsStream<tokio::net::TcpStream>) -> std::io::Result<()> {
        let (reader, mut writer) = tokio::io::split(stream);
        let mut lines = BufReader::new(reader).lines();
        writer.write_all(b"+OK sink\r\n").await?;
        while let Some(line) = lines.next_line().await? {
            let reply: &[u8] = match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                Some("STAT") => b"+OK 0 0\r\n",
                Some("QUIT") => {
                    writer.write_all(b"+OK bye\r\n").await?;
                    return Ok(());
                }
                _ => b"+OK\r\n",
            };
            writer.write_all(reply).await?;
        }
        Ok(())
    }
}
