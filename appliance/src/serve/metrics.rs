//! `GET /metrics` on a listener of its own, with the last restore drill's result.

use std::path::PathBuf;

use std::sync::Arc;

use caducee_actors::clock::Clock;
use caducee_storage::Store;

use crate::federation::outbound::Metrics;

/// The outbound queue's metrics and where its gauges are read.
pub(super) type Outbound = (Metrics, Store, Arc<dyn Clock>);

/// `GET /metrics` (Prometheus/OpenMetrics text) on its own plain-HTTP listener, meant for
/// loopback or a management network: it carries counts and timings, never personal data.
pub(super) fn metrics_server(
    addresses: &crate::config::Addresses,
    monitor: actix::Addr<caducee_actors::monitor::Monitor>,
    data_dir: PathBuf,
    outbound: Option<Outbound>,
) -> anyhow::Result<actix_web::dev::ServerHandle> {
    use actix_web::{web, App, HttpResponse, HttpServer};

    type Sources = (actix::Addr<caducee_actors::monitor::Monitor>, PathBuf, Option<Outbound>);

    async fn metrics(sources: web::Data<Sources>) -> HttpResponse {
        let (monitor, data_dir, outbound) = sources.get_ref();
        match monitor.send(caducee_actors::monitor::RenderMetrics).await {
            Ok(text) => {
                let mut text = with_drill(text, crate::backup::drill::last_report(data_dir));
                if let Some((metrics, store, clock)) = outbound {
                    insert_before_eof(&mut text, &metrics.render(store, clock.now()));
                }
                insert_before_eof(&mut text, &crate::pair::metrics());
                HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(text)
            }
            Err(_) => HttpResponse::ServiceUnavailable().body("the monitor is stopping\n"),
        }
    }

    let listeners = addresses.bind("metrics")?;
    let data = web::Data::new((monitor, data_dir, outbound));
    let mut server =
        HttpServer::new(move || App::new().app_data(data.clone()).route("/metrics", web::get().to(metrics)))
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
