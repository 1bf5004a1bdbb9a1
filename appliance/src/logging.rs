//! Where the log goes: to the journal, with each line's priority, when systemd connected
//! standard error to it (`$JOURNAL_STREAM` names standard error); else to standard error,
//! as text or — `CADUCEE_LOG_FORMAT=json` — one JSON object per line for a log shipper.
//! `CADUCEE_LOG` filters (`info,actix_server=warn` by default).

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

/// The log lines' format on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

/// Sets the process's log up. Call once, first.
pub fn init() {
    let filter = EnvFilter::try_from_env("CADUCEE_LOG").unwrap_or_else(|_| "info,actix_server=warn".into());
    let registry = tracing_subscriber::registry().with(filter);
    if stderr_is_the_journal() {
        match tracing_journald::layer() {
            Ok(journal) => {
                registry.with(journal.with_syslog_identifier("caducee".to_owned())).init();
                return;
            }
            // No journal socket after all (a container's): standard error, said once there.
            Err(error) => eprintln!("caducee: the journal socket does not answer ({error}): logging to standard error"),
        }
    }
    let format = match std::env::var("CADUCEE_LOG_FORMAT").as_deref() {
        Ok("json") => Format::Json,
        Ok("text") | Err(_) => Format::Text,
        Ok(other) => {
            eprintln!("caducee: CADUCEE_LOG_FORMAT={other:?} is neither text nor json: text");
            Format::Text
        }
    };
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false);
    match format {
        Format::Json => registry.with(lines.json().flatten_event(true).with_current_span(false)).init(),
        Format::Text => registry.with(lines).init(),
    }
}

/// systemd sets `$JOURNAL_STREAM` to the device and inode of the stream it connected to the
/// journal; it is ours only if standard error is still that stream (systemd.exec(5)).
fn stderr_is_the_journal() -> bool {
    let Ok(named) = std::env::var("JOURNAL_STREAM") else { return false };
    let Some((device, inode)) = named.split_once(':') else { return false };
    let Ok(stat) = rustix::fs::fstat(std::io::stderr()) else { return false };
    device.parse::<u64>().ok() == Some(stat.st_dev) && inode.parse::<u64>().ok() == Some(stat.st_ino)
}
