//! The quality indicators: processing-time percentiles per period, as a table and a chart.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{answer, page, texts, Portal};
use crate::portal::text::Texts;

#[derive(Template)]
#[template(path = "quality.html")]
struct QualityPage<'a> {
    t: &'static Texts,
    logged_in: bool,
    csrf: &'a str,
    windows: Vec<(String, u64, String, String, String, String)>,
    load: String,
    chart: String,
}

/// A bar chart of the processing-time percentiles per period, as SVG text.
fn chart(windows: &[caducee_actors::quality::WindowFigures], t: &Texts) -> String {
    let height = 160.0;
    let top = windows.iter().map(|w| w.p99).fold(1.0_f64, f64::max) * 1.1;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {} {}\" width=\"100%\" style=\"max-width:32rem\">",
        t.chart_caption,
        60 + windows.len() * 120,
        height + 40.0
    );
    for (i, w) in windows.iter().enumerate() {
        let x0 = 40 + i * 120;
        for (j, (value, colour)) in [(w.p50, "#2f6f3e"), (w.p90, "#d08c00"), (w.p99, "#a00000")].iter().enumerate() {
            let h = value / top * height;
            svg.push_str(&format!(
                "<rect x=\"{}\" y=\"{:.1}\" width=\"28\" height=\"{:.1}\" fill=\"{colour}\"><title>{:.2} ms</title></rect>",
                x0 + j * 32,
                height - h + 10.0,
                h,
                value
            ));
        }
        svg.push_str(&format!("<text x=\"{}\" y=\"{}\" font-size=\"12\">{} min</text>", x0, height + 30.0, w.minutes));
    }
    svg.push_str("</svg>");
    svg
}

pub(super) async fn quality_page(portal: web::Data<Portal>, request: HttpRequest) -> HttpResponse {
    let result = async {
        let t = texts(&request);
        let user = portal.user(&request, true).await?;
        let report = match &portal.monitor {
            Some(monitor) => monitor.send(caducee_actors::monitor::QualityNow).await.unwrap_or_default(),
            None => caducee_actors::quality::QualityReport::default(),
        };
        let windows = report
            .processing_ms
            .iter()
            .map(|w| {
                (
                    format!("{} {}", w.minutes, t.last_minutes),
                    w.count,
                    t.decimal(w.mean, 2),
                    t.decimal(w.p50, 2),
                    t.decimal(w.p90, 2),
                    t.decimal(w.p99, 2),
                )
            })
            .collect();
        let load = report.load_average.map(|l| t.decimal(l, 2)).join(" ");
        let html = QualityPage {
            t,
            logged_in: true,
            csrf: &user.session.csrf,
            windows,
            load,
            chart: chart(&report.processing_ms, t),
        }
        .render()?;
        Ok(page(actix_web::http::StatusCode::OK, html, &request))
    }
    .await;
    answer(&request, result)
}
