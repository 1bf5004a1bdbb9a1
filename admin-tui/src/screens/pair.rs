//! The appliance pair, on a pair member only: this member's role, the replicated disk
//! (connection, both disks, a resynchronisation's progress), and the cluster as Pacemaker
//! last showed it (quorum, members, which member holds the service address, the relay's
//! last start — a takeover's, after a failover — and failed operations). Everything comes
//! with the relay's status; `r` asks again.

use caducee_admin_protocol::{PairCluster, PairView};
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use crate::{shown, App};

pub(crate) fn render(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let block = Block::default().borders(Borders::ALL).title(" Pair ");
    let lines = match app.status.as_ref().and_then(|s| s.pair.as_ref()) {
        Some(pair) => lines(app, pair),
        None => vec![Line::from(
            " This appliance is not a pair member (docs/operations/pair.md: two appliances as one service).",
        )],
    };
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), area);
}

/// A label in the left column, then its value.
fn row(label: &str, value: impl Into<String>) -> Line<'static> {
    Line::from(format!(" {label:<17}{}", value.into()))
}

/// A row whose value is coloured (red for what is wrong).
fn styled_row(label: &str, value: impl Into<String>, style: Style) -> Line<'static> {
    Line::from(vec![Span::raw(format!(" {label:<17}")), Span::styled(value.into(), style)])
}

fn lines(app: &App, pair: &PairView) -> Vec<Line<'static>> {
    let bad = app.style(Style::default().fg(Color::Red).add_modifier(Modifier::BOLD));
    let good = app.style(Style::default().fg(Color::Green));
    let mut lines = vec![
        row(
            "This member",
            format!("{} ({}; peer {})", shown(pair.member.as_deref().unwrap_or("?")), pair.role, pair.peer_role),
        ),
        row("Replication", format!("{}, disks {}/{}", pair.connection, pair.disk, pair.peer_disk)),
    ];
    if let Some(percent) = pair.sync_percent {
        lines.push(row("Resynchronising", format!("{percent:.1} %")));
    }
    lines.push(match &pair.problem {
        None => styled_row("State", "replicated: every write is on both disks", good),
        Some(_) => styled_row("State", "DEGRADED", bad),
    });
    if let Some(problem) = &pair.problem {
        lines.push(row("", shown(problem)));
    }
    lines.push(Line::from(""));
    match &pair.cluster {
        Some(cluster) => lines.extend(cluster_lines(pair, cluster, bad)),
        None => lines.push(row(
            "Cluster",
            "not published (is caducee-pair-publish.service running? `caducee pair status` as root)",
        )),
    }
    lines
}

fn cluster_lines(pair: &PairView, cluster: &PairCluster, bad: Style) -> Vec<Line<'static>> {
    let mut lines = vec![if cluster.quorate {
        row("Quorum", "yes")
    } else {
        styled_row("Quorum", "NO: this member may not serve", bad)
    }];
    let members: Vec<String> = cluster
        .members
        .iter()
        .map(|(name, online)| format!("{} {}", shown(name), if *online { "online" } else { "OFFLINE" }))
        .collect();
    lines.push(row("Members", members.join(", ")));
    let address = pair.service_address.as_deref().unwrap_or("the service address");
    lines.push(match &cluster.serving {
        Some(member) => row("Serving", format!("{} holds {address} and runs the relay", shown(member))),
        None => styled_row("Serving", format!("nowhere: {address} is down"), bad),
    });
    if let Some((member, when, took)) = &cluster.last_start {
        // After a failover, this is the takeover's start.
        lines.push(row(
            "Last start",
            format!("the relay on {} at {}, in {:.1} s", shown(member), shown(when), *took as f64 / 1000.0),
        ));
    }
    for failure in &cluster.failures {
        lines.push(styled_row("Failed", shown(failure), bad));
    }
    lines
}
