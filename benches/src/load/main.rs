//! `caducee-load`: a closed-loop load generator for Caducée's submission path.
//!
//! It starts a relay of its own (`caducee serve`) in a scratch data folder on loopback
//! ports, creates one account per simulated practice, and has each practice submit real
//! OpenPGP messages (PGP/MIME, encrypted with sequoia to a freshly generated certificate)
//! over SMTP submission with implicit TLS and AUTH PLAIN, as fast as the relay answers.
//!
//! It measures what a sender waits for: the time from the end of the data (`<CRLF>.<CRLF>`
//! written) to the relay's `250`, which is the durable commit; and the whole transaction
//! (MAIL through `250`). At the end it checks that the relay stores exactly as many
//! messages as were answered `250`, and reports the group commit's writes per commit and
//! the relay's CPU time and peak memory.
//!
//! The client side is the relay's own probe (`caducee_actors::probe`), shared with the
//! restore drill.
//!
//! It never listens on anything but 127.0.0.1 and is bounded by a message count.

mod relay;
mod report;
mod run;
mod session;

use std::path::PathBuf;

use anyhow::bail;
use clap::Parser;

use crate::relay::Target;
use crate::report::plot;
use crate::run::run_load;

/// The domain of the scratch relay's accounts.
const LOAD_DOMAIN: &str = "load.test";
/// Latencies are recorded in microseconds, up to one minute.
const LATENCY_MICROS_MAX: u64 = 60_000_000;

/// How the scratch relay's implicit-TLS doors read and write their sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SocketIo {
    Epoll,
    IoUring,
}

/// How collectors collect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CollectProtocol {
    Pop3,
    Imap,
}

#[derive(Debug, Parser)]
#[command(name = "caducee-load", about = "Closed-loop SMTP submission load against a scratch Caducée relay")]
struct Args {
    /// Concurrent SMTP sessions, one simulated practice (account) each.
    #[arg(long, default_value_t = 32)]
    sessions: usize,
    /// Messages to submit in all.
    #[arg(long, default_value_t = 20_000)]
    messages: u64,
    /// Size of each document before encryption, in bytes.
    #[arg(long, default_value_t = 5 * 1024)]
    size: usize,
    /// Open a new TLS session for every message instead of keeping each session open.
    #[arg(long)]
    reconnect: bool,
    /// The `caducee` binary to run (default: the one next to this program).
    #[arg(long)]
    relay_bin: Option<PathBuf>,
    /// How the scratch relay's implicit-TLS doors read and write their sockets (its
    /// `[listen] socket_io`): `epoll` or `io_uring`.
    #[arg(long, value_enum, default_value_t = SocketIo::Epoll)]
    socket_io: SocketIo,
    /// Data folder for the scratch relay (default: a temporary folder, removed afterwards).
    /// It must not hold a store already.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Draw throughput and end-of-data→250 latency (p50, p99) over the run as SVG here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Take a backup (`caducee backup --to FILE`) once half the messages are in, and report
    /// the accept latencies seen while it ran against those outside it.
    #[arg(long)]
    backup_during: Option<PathBuf>,
    /// POP3 collectors (retrieve + delete over TLS) running beside the senders; the run ends
    /// when every accepted message has been collected.
    #[arg(long, default_value_t = 0)]
    collectors: usize,
    /// How long a collector waits after a round that found nothing (each round logs in to
    /// each of its mailboxes: an argon2id check apiece).
    #[arg(long, default_value_t = 20)]
    collect_every_ms: u64,
    /// How the collectors collect: `pop3` (a login per mailbox and round: retrieve, delete,
    /// quit) or `imap` (one session per mailbox kept open: fetch, `\Deleted`, expunge, then
    /// IDLE until new mail is announced; the push delay from the sender's 250 to the
    /// `EXISTS` is reported).
    #[arg(long, value_enum, default_value_t = CollectProtocol::Pop3)]
    collect_protocol: CollectProtocol,
    /// Open loop: submit at this fixed rate (messages/s) whatever the relay's answers, and
    /// measure each message from its scheduled time (no coordinated omission). Without it,
    /// each session sends its next message as soon as the last is answered.
    #[arg(long)]
    rate: Option<f64>,
    /// Stop whatever is still running after this many seconds.
    #[arg(long, default_value_t = 600)]
    seconds_max: u64,
    /// Drive a server already running on 127.0.0.1 instead of a scratch relay (a Caducée
    /// appliance, or another mail system to compare with): its implicit-TLS submission port.
    #[arg(long, requires_all = ["target_pop3s_port", "target_ca", "target_accounts"])]
    target_submissions_port: Option<u16>,
    /// The target's implicit-TLS POP3 port.
    #[arg(long)]
    target_pop3s_port: Option<u16>,
    /// The target's implicit-TLS IMAP port (for `--collect-protocol imap`).
    #[arg(long)]
    target_imaps_port: Option<u16>,
    /// The CA certificate (PEM) the target's TLS certificate (name "localhost") chains to.
    #[arg(long)]
    target_ca: Option<PathBuf>,
    /// Accounts on the target, one "address password [certificate file]" per line, as many
    /// as --sessions; documents to an account with a certificate (armoured) are encrypted to it.
    #[arg(long)]
    target_accounts: Option<PathBuf>,
    /// The target's process id, to report its CPU time and memory.
    #[arg(long)]
    target_pid: Option<u32>,
    /// Federation: accounts at a peer operator's relay, one "address password certificate"
    /// per line; each session sends to one of them through the target (whose outbound queue
    /// delivers to the peer), and the collectors collect at the peer, so that collected
    /// messages are delivered end to end.
    #[arg(long, requires_all = ["peer_pop3s_port", "peer_ca"])]
    peer_accounts: Option<PathBuf>,
    /// The peer's implicit-TLS POP3 port.
    #[arg(long)]
    peer_pop3s_port: Option<u16>,
    /// The CA certificate (PEM) the peer's POP3 certificate chains to.
    #[arg(long)]
    peer_ca: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.sessions == 0 || args.messages == 0 {
        bail!("--sessions and --messages must be at least 1");
    }
    let mut target = match args.target_submissions_port {
        Some(submissions_port) => Target::external(&args, submissions_port)?,
        None => Target::scratch(&args)?,
    };
    let result = run_load(&args, &target);
    if let Some(relay) = &mut target.relay {
        relay.stop();
    }
    let report = result?;
    print!("{}", report.text());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report.json())?)?;
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "{} sessions, {}-byte documents{}",
            args.sessions,
            args.size,
            if args.reconnect { ", reconnect per message" } else { "" }
        );
        std::fs::write(path, plot(&report.timeline, &title))?;
    }
    // (With a peer, what the target still holds is its outbound queue: not checked here.)
    if target.relay.is_some()
        && args.peer_accounts.is_none()
        && report.stored_messages != report.accepted - report.collected
    {
        bail!(
            "the relay stores {} messages; it answered 250 to {} and {} were collected",
            report.stored_messages,
            report.accepted,
            report.collected
        );
    }
    if !report.errors.is_empty() {
        bail!("{} errors (see the report)", report.errors.len());
    }
    Ok(())
}
