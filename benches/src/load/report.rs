//! The report of a run: as text, as JSON, and its timeline drawn as SVG.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// The relay's CPU and the messages accepted after every session's first login.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AfterLogins {
    pub(crate) relay_cpu_seconds: f64,
    pub(crate) accepted: u64,
}

impl AfterLogins {
    pub(crate) fn micros_per_message(&self) -> f64 {
        self.relay_cpu_seconds * 1e6 / self.accepted.max(1) as f64
    }
}

pub(crate) struct Report {
    pub(crate) sessions: usize,
    pub(crate) reconnect: bool,
    pub(crate) document_bytes: usize,
    pub(crate) message_bytes: usize,
    pub(crate) accepted: u64,
    pub(crate) errors: Vec<String>,
    pub(crate) elapsed: Duration,
    pub(crate) end_of_data: Histogram<u64>,
    /// Throughput and latency over the run: (seconds from start, messages/s, p50 ms, p99 ms).
    pub(crate) timeline: Vec<(f64, f64, f64, f64)>,
    pub(crate) transaction: Histogram<u64>,
    pub(crate) commits: u64,
    pub(crate) writes: u64,
    pub(crate) stored_messages: u64,
    pub(crate) relay_cpu_seconds: f64,
    /// From the moment every session had logged in once: the messages without the
    /// sessions' first argon2id checks.
    pub(crate) after_logins: Option<AfterLogins>,
    pub(crate) relay_peak_rss_kib: u64,
    pub(crate) relay_anon_rss_kib: u64,
    pub(crate) relay_file_rss_kib: u64,
    pub(crate) backup: Option<BackupWindow>,
    pub(crate) collectors: usize,
    /// Until the last message was answered (the run goes on while collectors catch up).
    pub(crate) submit_elapsed: Duration,
    pub(crate) collected: u64,
    pub(crate) retrieve: Histogram<u64>,
    pub(crate) collect_protocol: crate::CollectProtocol,
    /// IMAP: a sender's 250 to the announcement in the recipient's idling session, µs.
    pub(crate) push: Histogram<u64>,
    pub(crate) rate: Option<f64>,
    pub(crate) from_schedule: Histogram<u64>,
}

/// Accept latencies during a backup taken under load, against those outside it.
#[derive(Debug)]
pub(crate) struct BackupWindow {
    pub(crate) seconds: f64,
    pub(crate) file_bytes: u64,
    pub(crate) store_messages: u64,
    pub(crate) accepted_during: usize,
    pub(crate) during: Histogram<u64>,
    pub(crate) outside: Histogram<u64>,
}

pub(crate) const QUANTILES: [(&str, f64); 5] =
    [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0)];

/// A histogram's quantile `q`, from µs to ms.
fn ms(histogram: &Histogram<u64>, q: f64) -> f64 {
    histogram.value_at_quantile(q) as f64 / 1000.0
}

impl Report {
    /// Accepted messages per second while the senders ran.
    pub(crate) fn rate(&self) -> f64 {
        self.accepted as f64 / self.submit_elapsed.as_secs_f64()
    }

    pub(crate) fn writes_per_commit(&self) -> f64 {
        self.writes as f64 / self.commits.max(1) as f64
    }

    pub(crate) fn text(&self) -> String {
        [
            self.throughput_text(),
            self.relay_text(),
            self.open_loop_text(),
            self.collectors_text(),
            self.backup_text(),
            self.errors_text(),
        ]
        .concat()
    }

    /// The run, what was accepted, and the submission latencies.
    fn throughput_text(&self) -> String {
        let mut out = String::new();
        let mode = if self.reconnect { "a new TLS session per message" } else { "persistent TLS sessions" };
        out += &format!(
            "{} sessions, {mode}, {}-byte documents ({} bytes on the wire)\n",
            self.sessions, self.document_bytes, self.message_bytes
        );
        out += &format!(
            "accepted {} messages in {:.2} s: {:.0} messages/s\n",
            self.accepted,
            self.submit_elapsed.as_secs_f64(),
            self.rate()
        );
        for (name, histogram) in [("end of data → 250", &self.end_of_data), ("MAIL → 250", &self.transaction)] {
            let figures: Vec<String> = QUANTILES
                .iter()
                .map(|(label, q)| format!("{label} {:.2}", histogram.value_at_quantile(*q) as f64 / 1000.0))
                .collect();
            out += &format!("{name:<18} ms: {}\n", figures.join("  "));
        }
        out
    }

    /// The group commit, and the relay's CPU time and memory.
    fn relay_text(&self) -> String {
        let mut out = format!(
            "group commit: {} commits for {} writes ({:.1} writes per commit)\n",
            self.commits,
            self.writes,
            self.writes_per_commit()
        );
        out += &format!(
            "relay: {:.2} s CPU ({:.0} µs per message); peak RSS {} MiB, at the end {} MiB anonymous + {} MiB \
             mapped store; stores {} messages\n",
            self.relay_cpu_seconds,
            self.relay_cpu_seconds * 1e6 / self.accepted.max(1) as f64,
            self.relay_peak_rss_kib / 1024,
            self.relay_anon_rss_kib / 1024,
            self.relay_file_rss_kib / 1024,
            self.stored_messages
        );
        if let Some(after) = self.after_logins {
            out += &format!(
                "relay CPU once every session had logged in: {:.2} s for {} messages ({:.0} µs per message)\n",
                after.relay_cpu_seconds,
                after.accepted,
                after.micros_per_message()
            );
        }
        out
    }

    fn open_loop_text(&self) -> String {
        let Some(rate) = self.rate else {
            return String::new();
        };
        format!(
            "open loop at {rate:.0} messages/s: scheduled start → 250 ms: p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}\n",
            ms(&self.from_schedule, 0.5),
            ms(&self.from_schedule, 0.99),
            ms(&self.from_schedule, 0.999),
            ms(&self.from_schedule, 1.0)
        )
    }

    fn collectors_text(&self) -> String {
        if self.collectors == 0 {
            return String::new();
        }
        let imap = self.collect_protocol == crate::CollectProtocol::Imap;
        let (name, command) = if imap { ("IMAP", "FETCH") } else { ("POP3", "RETR") };
        let mut text = format!(
            "{} {name} collectors: {} messages collected ({:.0}/s); {command} ms per message: p50 {:.2}  p99 {:.2}  max {:.2}\n",
            self.collectors,
            self.collected,
            self.collected as f64 / self.elapsed.as_secs_f64(),
            ms(&self.retrieve, 0.5),
            ms(&self.retrieve, 0.99),
            ms(&self.retrieve, 1.0)
        );
        if imap {
            text += &format!(
                "IDLE push, sender's 250 to the recipient's EXISTS ({} messages pushed) ms: p50 {:.2}  p99 {:.2}  max {:.2}\n",
                self.push.len(),
                ms(&self.push, 0.5),
                ms(&self.push, 0.99),
                ms(&self.push, 1.0)
            );
        }
        text
    }

    fn backup_text(&self) -> String {
        let Some(backup) = &self.backup else {
            return String::new();
        };
        let mut out = format!(
            "backup under load: {:.2} s, {} bytes, {} messages in the store; {} accepts during it\n",
            backup.seconds, backup.file_bytes, backup.store_messages, backup.accepted_during
        );
        out += &format!(
            "  end of data → 250 during the backup ms: p50 {:.2}  p99 {:.2}  max {:.2}; outside: p50 {:.2}  p99 {:.2}  max {:.2}\n",
            ms(&backup.during, 0.5),
            ms(&backup.during, 0.99),
            ms(&backup.during, 1.0),
            ms(&backup.outside, 0.5),
            ms(&backup.outside, 0.99),
            ms(&backup.outside, 1.0)
        );
        out
    }

    fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return String::new();
        }
        let mut out = format!("errors ({}):\n", self.errors.len());
        for error in &self.errors {
            out += &format!("  {error}\n");
        }
        out
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        let latencies = |h: &Histogram<u64>| {
            let mut map = serde_json::Map::new();
            for (label, q) in QUANTILES {
                map.insert(format!("{label}_ms"), (h.value_at_quantile(q) as f64 / 1000.0).into());
            }
            serde_json::Value::Object(map)
        };
        serde_json::json!({
            "sessions": self.sessions,
            "reconnect": self.reconnect,
            "document_bytes": self.document_bytes,
            "message_bytes": self.message_bytes,
            "accepted": self.accepted,
            "seconds": self.elapsed.as_secs_f64(),
            "submit_seconds": self.submit_elapsed.as_secs_f64(),
            "messages_per_second": self.rate(),
            "end_of_data_to_250": latencies(&self.end_of_data),
            "mail_to_250": latencies(&self.transaction),
            "commits": self.commits,
            "writes": self.writes,
            "writes_per_commit": self.writes_per_commit(),
            "stored_messages": self.stored_messages,
            "relay_cpu_seconds": self.relay_cpu_seconds,
            "relay_cpu_seconds_after_logins": self.after_logins.map(|a| a.relay_cpu_seconds),
            "relay_cpu_micros_per_message_after_logins": self.after_logins.map(|a| a.micros_per_message()),
            "relay_peak_rss_kib": self.relay_peak_rss_kib,
            "relay_anon_rss_kib": self.relay_anon_rss_kib,
            "relay_file_rss_kib": self.relay_file_rss_kib,
            "errors": self.errors,
            "collectors": self.collectors,
            "collected": self.collected,
            "collected_per_second": self.collected as f64 / self.elapsed.as_secs_f64(),
            "retrieve": latencies(&self.retrieve),
            "collect_protocol": if self.collect_protocol == crate::CollectProtocol::Imap { "imap" } else { "pop3" },
            "idle_push": (self.collect_protocol == crate::CollectProtocol::Imap).then(|| latencies(&self.push)),
            "open_loop_rate": self.rate,
            "scheduled_start_to_250": self.rate.map(|_| latencies(&self.from_schedule)),
            "backup_during_load": self.backup.as_ref().map(|b| serde_json::json!({
                "seconds": b.seconds,
                "file_bytes": b.file_bytes,
                "store_messages": b.store_messages,
                "accepted_during": b.accepted_during,
                "end_of_data_to_250_during": latencies(&b.during),
                "end_of_data_to_250_outside": latencies(&b.outside),
            })),
        })
    }
}

/// Completions in buckets of about a sixtieth of the run (at least 0.25 s): each bucket's
/// throughput and its end-of-data→250 p50 and p99.
pub(crate) fn timeline(samples: &[(Instant, u64)], started: Instant, elapsed: Duration) -> Vec<(f64, f64, f64, f64)> {
    let bucket = (elapsed.as_secs_f64() / 60.0).max(0.25);
    let buckets = (elapsed.as_secs_f64() / bucket).ceil().max(1.0) as usize;
    let mut latencies: Vec<Vec<u64>> = vec![Vec::new(); buckets];
    for (at, micros) in samples {
        let offset = at.saturating_duration_since(started).as_secs_f64();
        let index = ((offset / bucket) as usize).min(buckets - 1);
        latencies[index].push(*micros);
    }
    latencies
        .into_iter()
        .enumerate()
        .map(|(i, mut values)| {
            values.sort_unstable();
            let quantile = |q: f64| -> f64 {
                if values.is_empty() {
                    return 0.0;
                }
                let at = ((values.len() as f64 - 1.0) * q).round() as usize;
                values[at] as f64 / 1000.0
            };
            ((i as f64 + 0.5) * bucket, values.len() as f64 / bucket, quantile(0.5), quantile(0.99))
        })
        .collect()
}

/// Two panels of SVG: messages per second, and end-of-data→250 p50/p99 in milliseconds.
pub(crate) fn plot(timeline: &[(f64, f64, f64, f64)], title: &str) -> String {
    const WIDTH: f64 = 760.0;
    const PANEL: f64 = 180.0;
    const LEFT: f64 = 60.0;
    let end = timeline.last().map_or(1.0, |p| p.0 * 1.02).max(0.001);
    let top_rate = timeline.iter().map(|p| p.1).fold(1.0_f64, f64::max) * 1.1;
    let top_ms = timeline.iter().map(|p| p.3).fold(0.1_f64, f64::max) * 1.1;
    let x = |t: f64| LEFT + t / end * (WIDTH - LEFT - 20.0);
    let line = |points: Vec<(f64, f64)>, colour: &str| -> String {
        let path: Vec<String> = points.iter().map(|(px, py)| format!("{px:.1},{py:.1}")).collect();
        format!("<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>", path.join(" "))
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{LEFT}\" y=\"18\" font-size=\"14\">{title}</text>\n",
        2.0 * PANEL + 90.0
    );
    for (panel, (label, top)) in [("messages/s", top_rate), ("ms, end of data → 250", top_ms)].into_iter().enumerate()
    {
        let base = 30.0 + panel as f64 * (PANEL + 30.0);
        svg.push_str(&format!(
            "<rect x=\"{LEFT}\" y=\"{base}\" width=\"{}\" height=\"{PANEL}\" fill=\"none\" stroke=\"#999\"/>\n\
             <text x=\"4\" y=\"{}\">{top:.0}</text><text x=\"4\" y=\"{}\">0</text>\n\
             <text x=\"{}\" y=\"{}\">{label}</text>\n",
            WIDTH - LEFT - 20.0,
            base + 12.0,
            base + PANEL,
            LEFT + 6.0,
            base + 14.0
        ));
        let y = |v: f64| base + PANEL - v / top * PANEL;
        if panel == 0 {
            svg.push_str(&line(timeline.iter().map(|p| (x(p.0), y(p.1))).collect(), "#2f6f3e"));
        } else {
            svg.push_str(&line(timeline.iter().map(|p| (x(p.0), y(p.2))).collect(), "#1f4e9c"));
            svg.push_str(&line(timeline.iter().map(|p| (x(p.0), y(p.3))).collect(), "#a00000"));
            svg.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" fill=\"#1f4e9c\">p50</text><text x=\"{}\" y=\"{}\" fill=\"#a00000\">p99</text>\n",
                WIDTH - 90.0,
                base + 14.0,
                WIDTH - 55.0,
                base + 14.0
            ));
        }
        svg.push('\n');
    }
    svg.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"{}\">0 s</text><text x=\"{}\" y=\"{}\">{end:.1} s</text>\n</svg>\n",
        2.0 * PANEL + 80.0,
        WIDTH - 60.0,
        2.0 * PANEL + 80.0
    ));
    svg
}
