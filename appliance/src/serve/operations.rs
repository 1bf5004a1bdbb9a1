//! What a hosting provider watches the relay by, on the metrics listener: `/healthz` (the
//! process answers), `/readyz` (the store commits and the mailbox actors answer: the
//! watchdog's own check) and the figures it alerts on — build, store map fill, last backup,
//! open sessions by door, refused logins by door, the notice queue, certificate expiry.
//! `image/rootfs/etc/prometheus/caducee-alerts.yml` holds the alert rules over them.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use caducee_actors::clock::Clock;
use caducee_actors::mailbox::Mailboxes;
use caducee_actors::throttle::LoginThrottle;
use caducee_storage::{Millis, Store};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::accept::OpenSessions;

/// Where the figures come from.
#[derive(Clone)]
pub(crate) struct Operations {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub mailboxes: Addr<Mailboxes>,
    pub logins: Arc<LoginThrottle>,
    pub open: Arc<OpenSessions>,
    pub certificates: Arc<crate::tls::Certificates>,
    /// The scheduled backups' folder, if any.
    pub backups: Option<PathBuf>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    version: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DoorLabel {
    door: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Refusal {
    door: String,
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CertificateLabel {
    certificate: String,
}

type Seconds = Gauge<f64, AtomicU64>;

impl Operations {
    /// Whether the relay can take mail: the store has not failed a commit and the mailbox
    /// actors answer within `within`.
    pub async fn ready(&self, within: Duration) -> Result<(), &'static str> {
        super::systemd::healthy(&self.store, &self.mailboxes, within).await
    }

    /// The figures, as OpenMetrics text without its `# EOF` (the exposition adds them to
    /// the monitor's).
    pub fn render(&self) -> String {
        let now = self.clock.now();
        let mut registry = Registry::with_prefix("caducee");
        let build = Family::<Build, Gauge>::default();
        build.get_or_create(&Build { version: env!("CARGO_PKG_VERSION").to_owned() }).set(1);
        registry.register("build_info", "The running build (its version as a label)", build);
        self.store_figures(&mut registry);
        self.backup_figures(&mut registry);
        let open = Family::<DoorLabel, Gauge>::default();
        for (door, count) in self.open.by_door() {
            open.get_or_create(&DoorLabel { door: door.to_owned() }).set(gauge(count));
        }
        registry.register("sessions_open", "Sessions open now, by door", open);
        // The throttle keeps the counts; a fresh counter per scrape shows them.
        let refused = Family::<Refusal, Counter>::default();
        for ((door, reason), count) in self.logins.refusals() {
            refused.get_or_create(&Refusal { door: door.into(), reason: reason.into() }).inc_by(count);
        }
        registry.register(
            "logins_refused",
            "Logins refused since start, by door and reason (credentials, throttled)",
            refused,
        );
        self.notice_figures(&mut registry, now);
        let expiry = Family::<CertificateLabel, Gauge>::default();
        for (certificate, not_after) in self.certificates.expiries() {
            expiry.get_or_create(&CertificateLabel { certificate: certificate.into() }).set(not_after);
        }
        registry.register(
            "certificate_expiry_timestamp_seconds",
            "When a certificate ends: the one served, the local CA",
            expiry,
        );
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
            return String::new();
        }
        text.replace("# EOF\n", "")
    }

    fn store_figures(&self, registry: &mut Registry) {
        let Ok(usage) = self.store.map_usage() else { return };
        let (map, used) = (Gauge::<i64>::default(), Gauge::<i64>::default());
        map.set(gauge(usage.map_bytes));
        used.set(gauge(usage.used_bytes));
        registry.register("store_map_bytes", "The store's map size: the most it can hold", map);
        registry.register("store_map_used_bytes", "What the store's tables take of the map", used);
    }

    fn backup_figures(&self, registry: &mut Registry) {
        let Some(folder) = &self.backups else { return };
        let newest = crate::backup::list(folder).ok().and_then(|list| list.into_iter().max_by_key(|(_, at, _)| at.0));
        let (at, bytes) = (Seconds::default(), Gauge::<i64>::default());
        if let Some((_, taken, size)) = newest {
            at.set(taken.0 as f64 / 1000.0);
            bytes.set(gauge(size));
        }
        registry.register(
            "backup_last_success_timestamp_seconds",
            "When the newest scheduled backup in the folder was taken (0: none yet)",
            at,
        );
        registry.register("backup_last_success_bytes", "The newest scheduled backup's size", bytes);
    }

    fn notice_figures(&self, registry: &mut Registry, now: Millis) {
        let notices = self.store.notices().unwrap_or_default();
        let (queued, oldest) = (Gauge::<i64>::default(), Seconds::default());
        queued.set(gauge(notices.len() as u64));
        let first = notices.iter().map(|(_, notice)| notice.created_at.0).min();
        oldest.set(first.map_or(0.0, |at| now.0.saturating_sub(at) as f64 / 1000.0));
        registry.register("notices_queued", "Notices to users' contact addresses waiting for the smarthost", queued);
        registry.register("notices_oldest_age_seconds", "How long the oldest waiting notice has waited", oldest);
    }
}

fn gauge(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
