//! The appliance pair as the administrator sees it (docs/operations/pair.md): DRBD's
//! replication of the data disk read from `/proc/drbd`, the cluster from Pacemaker's
//! `crm_mon --output-as=xml`. `caducee pair status` prints both on either member; the relay
//! (which runs on the member that serves) exports the replication's state as metrics and
//! raises an alert when it is degraded.
//!
//! The kernel's DRBD is 8.4 on the appliance (Debian's), whose state is a line of
//! `/proc/drbd`; the parsing is written here because no crate reads it.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::Context as _;
use caducee_storage::{Alert, AlertKind, Store};
use clap::Subcommand;
use serde::Serialize;

/// Written by the image's pair setup on a pair member; absent on a single appliance.
pub const PAIR_CONF: &str = "/etc/caducee/pair.conf";
const PROC_DRBD: &str = "/proc/drbd";
/// Where `caducee pair publish` (root, on every pair member) keeps the cluster's state for
/// the relay, whose sandbox cannot ask Pacemaker.
pub const PUBLISHED: &str = "/run/caducee-pair/cluster.json";
/// A published state older than this is not shown: the publisher stopped.
const PUBLISHED_FRESH: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, Subcommand)]
pub enum PairCommand {
    /// This member's role, the replication (connection, disks, resynchronisation), the
    /// cluster's quorum, where the service runs and when it last started.
    Status {
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
    /// Writes the cluster's state to FILE every few seconds, for the relay's status and
    /// the console (run as root by caducee-pair-publish.service on a pair member).
    Publish {
        /// The file the relay reads the cluster's state from.
        #[arg(long, default_value = PUBLISHED)]
        to: std::path::PathBuf,
        /// How often to write it.
        #[arg(long, default_value_t = 10)]
        every_seconds: u64,
    },
}

/// The replicated disk, as `/proc/drbd` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replication {
    /// `Connected`, `WFConnection` (the peer is away), `StandAlone` (refused to reconnect:
    /// a split brain waits for the administrator), `SyncSource`, `SyncTarget`…
    pub connection: String,
    pub role: String,
    pub peer_role: String,
    pub disk: String,
    pub peer_disk: String,
    /// Data the peer still lacks, in KiB.
    pub out_of_sync_kib: u64,
    /// A resynchronisation's progress, when one runs.
    pub sync_percent: Option<f64>,
}

impl Replication {
    /// Both disks hold the same data and every write reaches both.
    pub fn healthy(&self) -> bool {
        self.connection == "Connected" && self.disk == "UpToDate" && self.peer_disk == "UpToDate"
    }

    /// What is wrong, in words, when it is not healthy.
    pub fn problem(&self) -> Option<String> {
        if self.healthy() {
            return None;
        }
        Some(match self.connection.as_str() {
            "StandAlone" => "replication refused to reconnect (a split brain?): see docs/operations/pair.md".into(),
            "WFConnection" | "Unconnected" | "Disconnecting" | "NetworkFailure" | "BrokenPipe" | "Timeout" => {
                format!("the peer is away ({}): writes reach one disk only", self.connection)
            }
            "SyncSource" | "SyncTarget" | "PausedSyncS" | "PausedSyncT" => format!(
                "resynchronising ({}, {} KiB to go)",
                self.sync_percent.map_or_else(|| "?".into(), |p| format!("{p:.1} %")),
                self.out_of_sync_kib
            ),
            other => format!("replication {other}, disks {}/{}", self.disk, self.peer_disk),
        })
    }
}

/// Reads the first resource's state from `/proc/drbd` (DRBD 8.4's format):
/// ` 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----`, then a line of
/// counters with `oos:` and, while resynchronising, `sync'ed: 42.1%`.
pub fn parse_proc_drbd(text: &str) -> Option<Replication> {
    let mut lines = text.lines().skip_while(|line| !line.contains(" cs:"));
    let state = lines.next()?;
    let field =
        |line: &str, name: &str| line.split_whitespace().find_map(|word| word.strip_prefix(name)).map(str::to_owned);
    let pair = |value: Option<String>| {
        let value = value.unwrap_or_default();
        let (mine, peer) = value.split_once('/').unwrap_or((&value, "Unknown"));
        (mine.to_owned(), peer.to_owned())
    };
    let (role, peer_role) = pair(field(state, "ro:"));
    let (disk, peer_disk) = pair(field(state, "ds:"));
    let rest: Vec<&str> = lines.take_while(|line| !line.contains(" cs:")).collect();
    let out_of_sync_kib = rest.iter().find_map(|line| field(line, "oos:")).and_then(|v| v.parse().ok()).unwrap_or(0);
    let sync_percent = rest.iter().find_map(|line| {
        let after = line.split("sync'ed:").nth(1)?;
        after.split_whitespace().next()?.trim_end_matches('%').parse().ok()
    });
    Some(Replication {
        connection: field(state, "cs:").unwrap_or_default(),
        role,
        peer_role,
        disk,
        peer_disk,
        out_of_sync_kib,
        sync_percent,
    })
}

/// The replication on this machine; `None` on a single appliance.
pub fn replication() -> Option<Replication> {
    std::fs::read_to_string(PROC_DRBD).ok().as_deref().and_then(parse_proc_drbd)
}

/// The cluster, as `crm_mon --output-as=xml` shows it (the type the console receives).
pub use caducee_admin_protocol::PairCluster as Cluster;

/// Reads `crm_mon --output-as=xml`.
pub fn parse_crm_mon(xml: &str) -> anyhow::Result<Cluster> {
    let document = roxmltree::Document::parse(xml).context("crm_mon's XML")?;
    let root = document.root_element();
    let mut cluster = Cluster::default();
    if let Some(dc) = root.descendants().find(|n| n.has_tag_name("current_dc")) {
        cluster.quorate = dc.attribute("with_quorum") == Some("true");
        cluster.designated_controller = dc.attribute("name").map(str::to_owned);
    }
    let nodes = root.children().find(|n| n.has_tag_name("nodes"));
    for node in nodes.iter().flat_map(|n| n.children().filter(|c| c.has_tag_name("node"))) {
        let name = node.attribute("name").unwrap_or_default().to_owned();
        cluster.members.push((name, node.attribute("online") == Some("true")));
    }
    let relay = root
        .descendants()
        .filter(|n| n.has_tag_name("resource") && n.attribute("id") == Some("relay"))
        .find(|n| n.attribute("active") == Some("true"));
    cluster.serving = relay
        .and_then(|r| r.children().find(|c| c.has_tag_name("node")))
        .and_then(|n| n.attribute("name").map(str::to_owned));
    for history in root
        .descendants()
        .filter(|n| n.has_tag_name("node") && n.parent().is_some_and(|p| p.has_tag_name("node_history")))
    {
        let member = history.attribute("name").unwrap_or_default();
        let relay =
            history.children().filter(|c| c.has_tag_name("resource_history") && c.attribute("id") == Some("relay"));
        for operation in relay.flat_map(|r| r.children().filter(|c| c.has_tag_name("operation_history"))) {
            // A start that completed (one under way is listed with rc 193, "pending").
            if operation.attribute("task") != Some("start") || operation.attribute("rc") != Some("0") {
                continue;
            }
            let when = operation.attribute("last-rc-change").unwrap_or_default().to_owned();
            let took =
                operation.attribute("exec-time").and_then(|t| t.trim_end_matches("ms").parse().ok()).unwrap_or(0);
            if cluster.last_start.as_ref().is_none_or(|(_, last, _)| instant(&when) > instant(last)) {
                cluster.last_start = Some((member.to_owned(), when, took));
            }
        }
    }
    let failures = root.children().find(|n| n.has_tag_name("failures"));
    for failure in failures.iter().flat_map(|f| f.children().filter(|c| c.has_tag_name("failure"))) {
        cluster.failures.push(format!(
            "{} {} on {}: {}",
            failure.attribute("op_key").unwrap_or_default(),
            failure.attribute("status").unwrap_or_default(),
            failure.attribute("node").unwrap_or_default(),
            failure.attribute("exitreason").unwrap_or_default()
        ));
    }
    Ok(cluster)
}

/// Pacemaker's `last-rc-change` (`Mon Nov 30 11:39:13 2026`, the member's local time), as
/// something that sorts by time.
fn instant(text: &str) -> Option<chrono::NaiveDateTime> {
    chrono::NaiveDateTime::parse_from_str(text.trim(), "%a %b %e %H:%M:%S %Y").ok()
}

#[derive(Debug, Serialize)]
struct PairStatus {
    member: Option<String>,
    replication: Option<Replication>,
    problem: Option<String>,
    cluster: Option<Cluster>,
}

/// The member's pair configuration (`KEY=value` lines), read once per use.
fn configuration() -> String {
    std::fs::read_to_string(PAIR_CONF).unwrap_or_default()
}

/// A value of the configuration (`PAIR_NAME`, `PAIR_SERVICE_ADDRESS`…).
fn configured(conf: &str, key: &str) -> Option<String> {
    conf.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix('=')).map(str::to_owned)
}

/// Asks Pacemaker; `None` when the cluster does not run on this member.
fn crm_mon() -> anyhow::Result<Option<Cluster>> {
    Command::new("crm_mon")
        .args(["--one-shot", "--output-as=xml", "--include=all"])
        .output()
        .ok()
        .filter(|o| !o.stdout.is_empty())
        .map(|o| parse_crm_mon(&String::from_utf8_lossy(&o.stdout)))
        .transpose()
}

/// The cluster's state as last published, if it is recent (`now` against the file's time).
pub fn read_published(path: &Path, now: std::time::SystemTime) -> Option<Cluster> {
    let written = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    if now.duration_since(written).unwrap_or_default() > PUBLISHED_FRESH {
        return None;
    }
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Publishes the cluster's state until stopped: written whole each time (a new file
/// renamed over the old), so the relay never reads half of one.
fn publish(to: &Path, every: std::time::Duration) -> anyhow::Result<ExitCode> {
    let folder = to.parent().context("the published file's folder")?;
    let fresh = folder.join(".cluster.json.new");
    loop {
        match crm_mon() {
            Ok(Some(cluster)) => {
                std::fs::write(&fresh, serde_json::to_vec(&cluster)?)
                    .with_context(|| format!("writing {}", fresh.display()))?;
                std::fs::rename(&fresh, to).with_context(|| format!("renaming onto {}", to.display()))?;
            }
            Ok(None) => tracing::debug!("the cluster does not run on this member yet"),
            Err(error) => tracing::warn!(%error, "crm_mon's answer was not understood"),
        }
        std::thread::sleep(every);
    }
}

pub fn run(command: &PairCommand) -> anyhow::Result<ExitCode> {
    if !Path::new(PAIR_CONF).exists() {
        anyhow::bail!("this appliance is not a pair member (no {PAIR_CONF}); see docs/operations/pair.md");
    }
    let json = match command {
        PairCommand::Status { json } => *json,
        PairCommand::Publish { to, every_seconds } => {
            return publish(to, std::time::Duration::from_secs((*every_seconds).max(1)));
        }
    };
    let replication = replication();
    let cluster = crm_mon()?;
    let status = PairStatus {
        member: configured(&configuration(), "PAIR_NAME"),
        problem: replication.as_ref().and_then(Replication::problem),
        replication,
        cluster,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_status(&status);
    }
    let healthy = status.problem.is_none() && status.cluster.as_ref().is_some_and(|c| c.quorate);
    Ok(if healthy { ExitCode::SUCCESS } else { crate::cli::exit::problems_found() })
}

fn print_status(status: &PairStatus) {
    println!("member:       {}", status.member.as_deref().unwrap_or("?"));
    match &status.replication {
        Some(r) => {
            println!("role:         {} (peer {})", r.role, r.peer_role);
            println!("replication:  {}, disks {}/{}", r.connection, r.disk, r.peer_disk);
            if let Some(percent) = r.sync_percent {
                println!("resync:       {percent:.1} % ({} KiB to go)", r.out_of_sync_kib);
            }
        }
        None => println!("replication:  the replicated disk is not up on this member"),
    }
    if let Some(problem) = &status.problem {
        println!("PROBLEM:      {problem}");
    }
    match &status.cluster {
        Some(c) => {
            println!("quorum:       {}", if c.quorate { "yes" } else { "NO: this member does not serve" });
            let members: Vec<String> =
                c.members.iter().map(|(n, up)| format!("{n} {}", if *up { "online" } else { "OFFLINE" })).collect();
            println!("members:      {}", members.join(", "));
            println!("serving:      {}", c.serving.as_deref().unwrap_or("nowhere"));
            if let Some((member, when, took)) = &c.last_start {
                println!("last start:   the relay on {member} at {when} ({:.1} s)", *took as f64 / 1000.0);
            }
            for failure in &c.failures {
                println!("failed:       {failure}");
            }
        }
        None => println!("cluster:      not running on this member (crm_mon gave nothing)"),
    }
}

/// The replication for `status` and the console; `None` on a single appliance.
pub fn view() -> Option<caducee_admin_protocol::PairView> {
    let r = replication()?;
    let conf = configuration();
    Some(caducee_admin_protocol::PairView {
        member: configured(&conf, "PAIR_NAME"),
        service_address: configured(&conf, "PAIR_SERVICE_ADDRESS"),
        problem: r.problem(),
        connection: r.connection,
        role: r.role,
        peer_role: r.peer_role,
        disk: r.disk,
        peer_disk: r.peer_disk,
        sync_percent: r.sync_percent,
        cluster: read_published(Path::new(PUBLISHED), std::time::SystemTime::now()),
    })
}

/// The replication's gauges for `/metrics` (OpenMetrics text), empty on a single appliance.
pub fn metrics() -> String {
    let Some(r) = replication() else { return String::new() };
    let flag = |b: bool| u8::from(b);
    format!(
        "# HELP caducee_pair_replication_connected Whether the replicated disk's peer is connected.\n\
         # TYPE caducee_pair_replication_connected gauge\n\
         caducee_pair_replication_connected {}\n\
         # HELP caducee_pair_replication_healthy Whether both disks are up to date and connected.\n\
         # TYPE caducee_pair_replication_healthy gauge\n\
         caducee_pair_replication_healthy {}\n\
         # HELP caducee_pair_out_of_sync_bytes Data the peer's disk still lacks.\n\
         # TYPE caducee_pair_out_of_sync_bytes gauge\n\
         caducee_pair_out_of_sync_bytes {}\n",
        flag(r.connection == "Connected" || r.connection.starts_with("Sync")),
        flag(r.healthy()),
        r.out_of_sync_kib.saturating_mul(1024)
    )
}

/// Looks at the replication every `every` and raises an alert while it is degraded (the
/// store counts repeats of one open alert). Runs in the relay on a pair member.
pub async fn watch(store: Store, clock: std::sync::Arc<dyn caducee_actors::clock::Clock>, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        let Some(problem) = replication().as_ref().and_then(Replication::problem) else { continue };
        let alert = Alert::new(AlertKind::PairReplication, "pair", &problem, clock.now());
        if let Err(error) = store.raise_alert(alert).await {
            tracing::error!(%error, "raising the pair's alert failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONNECTED: &str = "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: 211FB288A383ED945B83420 \n \
        0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----\n    \
        ns:1040 nr:0 dw:1040 dr:5213 al:12 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0\n";
    const SYNCING: &str = "version: 8.4.11 (api:1/proto:86-101)\n \
        0: cs:SyncSource ro:Primary/Secondary ds:UpToDate/Inconsistent C r-----\n    \
        ns:93184 nr:0 dw:1028 dr:93345 al:9 bm:0 lo:0 pe:2 ua:0 ap:0 ep:1 wo:f oos:430012\n\
        \t[==>.................] sync'ed: 17.9% (430012/523260)K\n\tfinish: 0:00:21 speed: 20,480 (20,480) K/sec\n";
    const AWAY: &str = "version: 8.4.11 (api:1/proto:86-101)\n \
        0: cs:WFConnection ro:Primary/Unknown ds:UpToDate/DUnknown C r-----\n    ns:0 nr:0 dw:4 dr:2 oos:4\n";

    #[test]
    fn proc_drbd_reads_as_the_replications_state() {
        let connected = parse_proc_drbd(CONNECTED).expect("a resource");
        assert_eq!((connected.role.as_str(), connected.peer_role.as_str()), ("Primary", "Secondary"));
        assert!(connected.healthy() && connected.problem().is_none());
        let syncing = parse_proc_drbd(SYNCING).expect("a resource");
        assert_eq!(syncing.peer_disk, "Inconsistent");
        assert_eq!(syncing.out_of_sync_kib, 430_012);
        assert_eq!(syncing.sync_percent, Some(17.9));
        assert!(syncing.problem().is_some_and(|p| p.contains("17.9 %")));
        let away = parse_proc_drbd(AWAY).expect("a resource");
        assert!(away.problem().is_some_and(|p| p.contains("peer is away")), "{away:?}");
        assert_eq!(parse_proc_drbd("version: 8.4.11\n"), None, "no resource configured");
    }

    #[test]
    fn crm_mon_reads_as_quorum_members_and_the_serving_member() {
        let xml = r#"<pacemaker-result api-version="2.30" request="crm_mon --output-as=xml">
  <summary><current_dc present="true" version="2.1.5" name="caducee-1" id="1" with_quorum="true"/></summary>
  <nodes>
    <node name="caducee-1" id="1" online="true" standby="false"/>
    <node name="caducee-2" id="2" online="false" standby="false"/>
  </nodes>
  <resources>
    <group id="service" number_resources="2">
      <resource id="data" resource_agent="ocf:heartbeat:Filesystem" role="Started" active="true"><node name="caducee-1" id="1" cached="true"/></resource>
      <resource id="relay" resource_agent="systemd:caducee" role="Started" active="true"><node name="caducee-1" id="1" cached="true"/></resource>
    </group>
  </resources>
  <node_history>
    <node name="caducee-1">
      <resource_history id="relay" orphan="false" migration-threshold="1000000">
        <operation_history call="12" task="start" rc="0" rc_text="ok" last-rc-change="Mon Nov 30 09:58:03 2026" exec-time="4210ms" queue-time="0ms"/>
        <operation_history call="13" task="monitor" rc="0" rc_text="ok" interval="10000ms" last-rc-change="Mon Nov 30 09:58:07 2026" exec-time="2ms" queue-time="0ms"/>
      </resource_history>
    </node>
    <node name="caducee-2">
      <resource_history id="relay" orphan="false" migration-threshold="1000000">
        <operation_history call="7" task="start" rc="0" rc_text="ok" last-rc-change="Sat Nov 28 23:10:00 2026" exec-time="3900ms" queue-time="0ms"/>
        <operation_history call="-1" task="start" rc="193" rc_text="unknown" last-rc-change="Mon Nov 30 11:39:13 2026" exec-time="0ms" queue-time="0ms"/>
      </resource_history>
    </node>
  </node_history>
  <status code="0" message="OK"/>
</pacemaker-result>"#;
        let cluster = parse_crm_mon(xml).expect("parses");
        assert!(cluster.quorate);
        assert_eq!(cluster.members, [("caducee-1".to_owned(), true), ("caducee-2".to_owned(), false)]);
        assert_eq!(cluster.serving.as_deref(), Some("caducee-1"));
        // The latest completed start: not the one under way, and by date, not by weekday.
        assert_eq!(cluster.last_start, Some(("caducee-1".into(), "Mon Nov 30 09:58:03 2026".into(), 4210)));
        assert!(parse_crm_mon("<not xml").is_err());
    }

    #[test]
    fn the_published_cluster_is_shown_while_it_is_recent() {
        let folder = tempfile::tempdir().expect("a folder");
        let file = folder.path().join("cluster.json");
        let cluster = Cluster {
            quorate: true,
            members: vec![("caducee-1".into(), true), ("caducee-2".into(), true)],
            serving: Some("caducee-2".into()),
            last_start: Some(("caducee-2".into(), "Mon Nov 30 09:58:03 2026".into(), 4210)),
            ..Cluster::default()
        };
        std::fs::write(&file, serde_json::to_vec(&cluster).expect("json")).expect("written");
        let written = std::fs::metadata(&file).and_then(|m| m.modified()).expect("a time");
        let later = |seconds| written + std::time::Duration::from_secs(seconds);
        assert_eq!(read_published(&file, later(5)), Some(cluster));
        assert_eq!(read_published(&file, later(61)), None, "the publisher stopped a minute ago");
        std::fs::write(&file, b"{half").expect("written");
        assert_eq!(read_published(&file, later(0)), None);
        assert_eq!(read_published(&folder.path().join("absent.json"), later(0)), None);
    }
}
