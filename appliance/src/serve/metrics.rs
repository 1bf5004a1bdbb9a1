//! `GET /metrics` on a listener of its own, with the last restore drill's result, and the
//! health probes `/healthz` and `/readyz`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use caducee_actors::clock::Clock;
use caducee_storage::Store;

use super::operations::Operations;
use crate::federation::outbound::Metrics;

/// The outbound queue's metrics and where its gauges are read.
pub(super) type Outbound = (Metrics, Store, Arc<dyn Clock>);

/// What the metrics listener reads.
pub(super) struct Sources {
    pub monitor: actix::Addr<caducee_actors::monitor::Monitor>,
    pub data_dir: PathBuf,
    pub outbound: Option<Outbound>,
    pub operations: Operations,
}

/// How long `/readyz` waits for the mailbox actors.
const READY_WITHIN: Duration = Duration::from_secs(2);

async fn metrics(sources: web::Data<Sources>) -> HttpResponse {
    match sources.monitor.send(caducee_actors::monitor::RenderMetrics).await {
        Ok(text) => {
            let mut text = with_drill(text, crate::backup::drill::last_report(&sources.data_dir));
            if let Some((metrics, store, clock)) = &sources.outbound {
                insert_before_eof(&mut text, &metrics.render(store, clock.now()));
            }
            insert_before_eof(&mut text, &crate::pair::metrics());
            insert_before_eof(&mut text, &sources.operations.render());
            HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(text)
        }
        Err(_) => HttpResponse::ServiceUnavailable().body("the monitor is stopping\n"),
    }
}

/// The process answers HTTP: a liveness probe.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ok\n")
}

/// The relay can take mail (the watchdog's check): 200 `ready`, else 503 with the reason.
async fn readyz(sources: web::Data<Sources>) -> HttpResponse {
    match sources.operations.ready(READY_WITHIN).await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ready\n"),
        Err(problem) => {
            HttpResponse::ServiceUnavailable().content_type("text/plain; charset=utf-8").body(format!("{problem}\n"))
        }
    }
}

/// `GET /metrics` (Prometheus/OpenMetrics text), `/healthz` and `/readyz` on their own
/// plain-HTTP listener, meant for loopback or a management network: counts and timings,
/// never personal data.
pub(super) fn metrics_server(
    addresses: &crate::config::Addresses,
    sources: Sources,
) -> anyhow::Result<actix_web::dev::ServerHandle> {
    let listeners = addresses.bind("metrics")?;
    let data = web::Data::new(sources);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(metrics))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
    })
    .workers(1)
    .disable_signals();
    let mut bound = Vec::new();
    for listener in listeners {
        bound.push(listener.local_addr()?);
        server = server.listen(listener)?;
    }
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    for bound in bound {
        tracing::info!(service = "metrics", address = %bound, "listening");
        println!("ready: metrics {bound}");
    }
    Ok(handle)
}

/// The last restore drill's result, as gauges before the exposition's `# EOF` (the drill
/// runs as a command or on a thread of its own and leaves its report in the data folder).
fn with_drill(mut text: String, report: Option<serde_json::Value>) -> String {
    let Some(report) = report else {
        return text;
    };
    let mut lines = String::new();
    let mut gauge = |name: &str, help: &str, value: f64| {
        lines.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"));
    };
    gauge("caducee_restore_drill_ok", "Whether the last restore drill passed (1) or failed (0).", {
        if report["ok"] == true {
            1.0
        } else {
            0.0
        }
    });
    if let Some(seconds) = report["first_accept_seconds"].as_f64() {
        gauge(
            "caducee_restore_drill_first_accept_seconds",
            "Restore start to the first message accepted by the restored relay, last drill.",
            seconds,
        );
    }
    if let Some(at) = report["started_at"].as_f64() {
        gauge("caducee_restore_drill_timestamp_seconds", "When the last restore drill started.", at / 1000.0);
    }
    insert_before_eof(&mut text, &lines);
    text
}

/// Adds `lines` to an exposition, before its closing `# EOF`.
fn insert_before_eof(text: &mut String, lines: &str) {
    match text.rfind("# EOF") {
        Some(at) => text.insert_str(at, lines),
        None => text.push_str(lines),
    }
}
