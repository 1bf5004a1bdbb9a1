//! Quality of service (SPEC R-MON-4): how long a message takes from the end of its data to
//! its durable commit, and from that commit to its first collection; how many messages
//! come and go and why some are refused; and the system's load. Held by the monitor.
//!
//! Two views of the same measurements: HDR histograms over rolling one-minute slots, for the
//! figures people read (mean, p50, p90, p99, max over the last 5 and 60 minutes), and
//! Prometheus metrics for scraping (`/metrics`).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use caducee_storage::Millis;
use hdrhistogram::Histogram as Hdr;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

const MINUTE_MILLIS: u64 = 60_000;
/// Rolling slots kept: one hour of one-minute histograms.
const SLOTS_MAX: usize = 60;
/// Processing times are recorded in microseconds up to ten minutes.
const PROCESSING_MICROS_MAX: u64 = 600_000_000;
/// Collection delays are recorded in seconds up to a year.
const COLLECTION_SECS_MAX: u64 = 366 * 24 * 3600;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    pub reason: String,
}

/// The figures `caducee status`, the console and the portal show: defined once, where the
/// administration protocol carries them.
pub use caducee_admin_protocol::{QualityReport, WindowFigures};

/// HDR histograms in one-minute slots.
#[derive(Debug)]
struct Rolling {
    slots: VecDeque<(u64, Hdr<u64>)>,
    high: u64,
}

impl Rolling {
    fn new(high: u64) -> Rolling {
        Rolling { slots: VecDeque::new(), high }
    }

    /// Records a value in its minute's slot. Several threads record, so a value may come
    /// after one of a later minute: it goes to its own minute's slot, kept in order, and
    /// never starts a second slot for a minute.
    fn record(&mut self, at: Millis, value: u64) {
        let minute = at.0 / MINUTE_MILLIS;
        // Slots are in minute order: the first from the back that is not later than
        // `minute` is its slot, or the place for a new one just after it.
        let place = self.slots.iter().rposition(|(m, _)| *m <= minute);
        let index = match place {
            Some(index) if self.slots[index].0 == minute => index,
            // Older than every slot kept, when all are full: too old to count.
            None if self.slots.len() >= SLOTS_MAX => return,
            _ => {
                let index = place.map_or(0, |index| index + 1);
                // Three significant digits from 1 to `high`: constant bounds, so this holds.
                let histogram = Hdr::new_with_bounds(1, self.high, 3).unwrap_or_else(|_| unreachable!("valid bounds"));
                self.slots.insert(index, (minute, histogram));
                if self.slots.len() > SLOTS_MAX {
                    self.slots.pop_front();
                    index - 1
                } else {
                    index
                }
            }
        };
        self.slots[index].1.saturating_record(value.clamp(1, self.high));
    }

    fn window(&self, now: Millis, minutes: u64, scale: f64) -> WindowFigures {
        let first = (now.0 / MINUTE_MILLIS).saturating_sub(minutes - 1);
        let mut merged: Option<Hdr<u64>> = None;
        for (minute, histogram) in self.slots.iter().filter(|(m, _)| *m >= first) {
            let _ = minute;
            match &mut merged {
                Some(all) => {
                    let _ = all.add(histogram);
                }
                None => merged = Some(histogram.clone()),
            }
        }
        let Some(h) = merged.filter(|h| !h.is_empty()) else {
            return WindowFigures { minutes, ..WindowFigures::default() };
        };
        WindowFigures {
            minutes,
            count: h.len(),
            mean: h.mean() / scale,
            p50: h.value_at_quantile(0.5) as f64 / scale,
            p90: h.value_at_quantile(0.9) as f64 / scale,
            p99: h.value_at_quantile(0.99) as f64 / scale,
            max: h.max() as f64 / scale,
        }
    }
}

pub struct Quality {
    registry: Registry,
    accepted: AcceptedFigures,
    collected: Counter,
    refused: Family<RefusalLabels, Counter>,
    /// Metrics events the monitor's producers dropped because its mailbox was full.
    events_dropped: Counter,
    collection_delay_seconds: Histogram,
    load: Family<LoadLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    store_file_bytes: Gauge,
    store_free_bytes: Gauge,
    collection: Rolling,
}

/// The figures of accepted messages, which the sessions record themselves as each message
/// is stored (through the monitor's handle): a trip to the monitor's thread for every
/// message cost a wake-up of that thread.
#[derive(Debug, Clone)]
pub struct AcceptedFigures {
    accepted: Counter,
    processing_seconds: Histogram,
    processing: Arc<Mutex<Rolling>>,
}

impl AcceptedFigures {
    /// A message stored at `at`, `processing` after the end of its data.
    pub fn record(&self, at: Millis, processing: Duration) {
        self.accepted.inc();
        self.processing_seconds.observe(processing.as_secs_f64());
        // A panic while the lock was held left at worst one slot half-updated.
        let mut rolling = self.processing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        rolling.record(at, u64::try_from(processing.as_micros()).unwrap_or(u64::MAX));
    }

    fn window(&self, now: Millis, minutes: u64, unit: f64) -> WindowFigures {
        self.processing.lock().unwrap_or_else(std::sync::PoisonError::into_inner).window(now, minutes, unit)
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LoadLabels {
    pub minutes: String,
}

impl std::fmt::Debug for Quality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quality").field("accepted", &self.accepted.accepted.get()).finish()
    }
}

impl Default for Quality {
    fn default() -> Self {
        Self::new()
    }
}

impl Quality {
    pub fn new() -> Quality {
        let mut registry = Registry::with_prefix("caducee");
        let accepted = Counter::default();
        let collected = Counter::default();
        let refused = Family::<RefusalLabels, Counter>::default();
        let events_dropped = Counter::default();
        // 100 µs to ~100 s.
        let processing_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 20));
        // 1 minute to ~45 days.
        let collection_delay_seconds = Histogram::new(exponential_buckets(60.0, 3.0, 12));
        let load = Family::<LoadLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        let store_file_bytes = Gauge::default();
        let store_free_bytes = Gauge::default();
        registry.register("messages_accepted", "Messages accepted and durably stored", accepted.clone());
        registry.register(
            "messages_collected",
            "Message copies collected and deleted by a recipient",
            collected.clone(),
        );
        registry.register("submissions_refused", "Submissions or recipients refused, by reason", refused.clone());
        registry.register(
            "monitor_events_dropped",
            "Metrics events dropped because the monitor's mailbox was full",
            events_dropped.clone(),
        );
        registry.register("processing_seconds", "End of data to durable commit", processing_seconds.clone());
        registry.register(
            "collection_delay_seconds",
            "Durable commit to collection by a recipient",
            collection_delay_seconds.clone(),
        );
        registry.register("load_average", "System load average", load.clone());
        registry.register("store_file_bytes", "Size of the store file", store_file_bytes.clone());
        registry.register("store_free_bytes", "Free space on the store's filesystem", store_free_bytes.clone());
        let processing = Arc::new(Mutex::new(Rolling::new(PROCESSING_MICROS_MAX)));
        Quality {
            registry,
            accepted: AcceptedFigures { accepted, processing_seconds, processing },
            collected,
            refused,
            events_dropped,
            collection_delay_seconds,
            load,
            store_file_bytes,
            store_free_bytes,
            collection: Rolling::new(COLLECTION_SECS_MAX),
        }
    }

    /// Where the sessions record accepted messages.
    pub fn accepted_figures(&self) -> AcceptedFigures {
        self.accepted.clone()
    }

    pub fn collected(&mut self, at: Millis, accepted_at: Millis) {
        let delay = Duration::from_millis(at.0.saturating_sub(accepted_at.0));
        self.collected.inc();
        self.collection_delay_seconds.observe(delay.as_secs_f64());
        self.collection.record(at, delay.as_secs());
    }

    /// The counter of metrics events dropped at a full mailbox: producers increment their
    /// clones of it, the registry renders it.
    pub fn events_dropped(&self) -> Counter {
        self.events_dropped.clone()
    }

    pub fn refused(&mut self, reason: &str) {
        self.refused.get_or_create(&RefusalLabels { reason: reason.to_owned() }).inc();
    }

    /// Reads the system figures afresh (load, store size, free space).
    fn refresh_system(&self, store_dir: &Path) -> ([f64; 3], u64, u64) {
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|text| {
                let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().unwrap_or(0.0));
                [fields.next().unwrap_or(0.0), fields.next().unwrap_or(0.0), fields.next().unwrap_or(0.0)]
            })
            .unwrap_or_default();
        let file = std::fs::metadata(store_dir.join("data.mdb")).map(|m| m.len()).unwrap_or(0);
        let free = rustix::fs::statvfs(store_dir).map(|s| s.f_bavail.saturating_mul(s.f_frsize)).unwrap_or(0);
        for (minutes, value) in ["1", "5", "15"].into_iter().zip(load) {
            self.load.get_or_create(&LoadLabels { minutes: minutes.into() }).set(value);
        }
        self.store_file_bytes.set(i64::try_from(file).unwrap_or(i64::MAX));
        self.store_free_bytes.set(i64::try_from(free).unwrap_or(i64::MAX));
        (load, file, free)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self, store_dir: &Path) -> String {
        self.refresh_system(store_dir);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    pub fn report(&self, now: Millis, store_dir: &Path) -> QualityReport {
        let (load_average, store_file_bytes, store_free_bytes) = self.refresh_system(store_dir);
        QualityReport {
            processing_ms: [5, 60].iter().map(|m| self.accepted.window(now, *m, 1000.0)).collect(),
            collection_delay_s: [5, 60].iter().map(|m| self.collection.window(now, *m, 1.0)).collect(),
            accepted_total: self.accepted.accepted.get(),
            collected_total: self.collected.get(),
            load_average,
            store_file_bytes,
            store_free_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_minute(minute: u64) -> Millis {
        Millis(minute * MINUTE_MILLIS + 1)
    }

    #[test]
    fn a_late_value_goes_to_its_own_minute_and_starts_no_second_slot() {
        let mut rolling = Rolling::new(1_000);
        for minute in [100, 101, 100, 99, 101] {
            rolling.record(at_minute(minute), 10);
        }
        let minutes: Vec<u64> = rolling.slots.iter().map(|(minute, _)| *minute).collect();
        assert_eq!(minutes, vec![99, 100, 101]);
        let counts: Vec<u64> = rolling.slots.iter().map(|(_, histogram)| histogram.len()).collect();
        assert_eq!(counts, vec![1, 2, 2]);
        assert_eq!(rolling.window(at_minute(101), 5, 1.0).count, 5);
        assert_eq!(rolling.window(at_minute(101), 2, 1.0).count, 4);
    }

    #[test]
    fn an_hour_of_slots_is_kept_and_older_values_are_dropped() {
        let mut rolling = Rolling::new(1_000);
        for minute in 0..(SLOTS_MAX as u64 + 5) {
            rolling.record(at_minute(minute), 10);
        }
        assert_eq!(rolling.slots.len(), SLOTS_MAX);
        assert_eq!(rolling.slots.front().map(|(minute, _)| *minute), Some(5));
        rolling.record(at_minute(2), 10);
        assert_eq!(rolling.slots.front().map(|(minute, _)| *minute), Some(5), "too old to count");
        rolling.record(at_minute(30), 10);
        assert_eq!(rolling.slots.len(), SLOTS_MAX);
        assert_eq!(rolling.window(at_minute(64), 60, 1.0).count, 61);
    }
}
