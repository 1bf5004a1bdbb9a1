//! The DNS records a relay needs, written as a zone to publish (`caducee dns`, and at the end
//! of `caducee setup`), and checked against what a resolver answers (`caducee dns check`):
//! the host's addresses; `autoconfig.` (mail clients' set-up) and `openpgpkey.` (WKD key
//! discovery); SRV records that tell mail clients where to submit and collect (RFC 6186,
//! with implicit TLS preferred as RFC 8314 asks); the MX of the
//! relay port between operators; SPF for what leaves the relay's domain (the notices
//! through the smarthost, mail to peer operators), and how DKIM is done.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use anyhow::Context as _;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use serde::Serialize;

use crate::config::Config;

/// Time to live of the published records, in seconds.
const TTL: u32 = 3600;

/// One record to publish.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// The owner name, fully qualified (with its final dot).
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    /// The record's data as a zone file writes it.
    pub data: String,
    /// What it is for.
    pub why: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Kind {
    A,
    AAAA,
    CNAME,
    SRV,
    MX,
    TXT,
}

/// The records, and what the administrator must do by hand.
#[derive(Debug, Clone, Serialize)]
pub struct Zone {
    pub records: Vec<Record>,
    pub notes: Vec<String>,
}

/// The host's public addresses, as the administrator gives them (`--ipv4`, `--ipv6`): the
/// relay cannot know what its provider routes to it.
#[derive(Debug, Clone, Default)]
pub struct HostAddresses(pub Vec<IpAddr>);

fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

/// The zone for `config`'s relay.
pub fn zone(config: &Config, addresses: &HostAddresses) -> Zone {
    let (domain, host) = (fqdn(&config.domain), fqdn(config.hostname()));
    let mut records = Vec::new();
    let mut notes = Vec::new();
    let mut add = |name: &str, kind: Kind, data: String, why: &'static str| {
        records.push(Record { name: name.to_owned(), kind, data, why });
    };
    for ip in &addresses.0 {
        let kind = if ip.is_ipv4() { Kind::A } else { Kind::AAAA };
        add(&host, kind, ip.to_string(), "the relay's address");
    }
    if addresses.0.is_empty() {
        notes.push(format!(
            "{host} needs its A and AAAA records: give the public addresses (caducee dns --ipv4 … --ipv6 …) to have them here"
        ));
    }
    for (label, why) in
        [("autoconfig", "mail clients' automatic set-up"), ("openpgpkey", "OpenPGP key discovery (WKD)")]
    {
        let name = format!("{label}.{domain}");
        if name != host {
            add(&name, Kind::CNAME, host.clone(), why);
        }
    }
    let listen = &config.listen;
    let services = [
        ("_submissions._tcp", 0, listen.submissions.port(), "submission with implicit TLS (RFC 8314), preferred"),
        ("_submission._tcp", 10, listen.submission.port(), "submission with STARTTLS (RFC 6186)"),
        ("_pop3s._tcp", 0, listen.pop3s.port(), "POP3 with implicit TLS, preferred"),
        ("_pop3._tcp", 10, listen.pop3.port(), "POP3 with STLS"),
        ("_imaps._tcp", 0, listen.imaps.port(), "IMAP with implicit TLS (new mail pushed), preferred"),
        ("_imap._tcp", 10, listen.imap.port(), "IMAP with STARTTLS"),
        ("_ldap._tcp", 0, listen.ldap.port(), "the directory over LDAP (StartTLS)"),
    ];
    for (service, priority, port, why) in services {
        add(&format!("{service}.{domain}"), Kind::SRV, format!("{priority} 1 {port} {host}"), why);
    }
    if listen.relay.is_some() {
        add(&domain, Kind::MX, format!("10 {host}"), "the relay port between operators of the trust space");
    }
    let smarthost = config.notices.smarthost.as_deref().and_then(|s| s.rsplit_once(':')).map(|(h, _)| h);
    let mut senders = vec![format!("a:{}", host.trim_end_matches('.'))];
    if let Some(smarthost) = smarthost {
        senders.push(format!("a:{}", smarthost.trim_matches(['[', ']'])));
    }
    add(&domain, Kind::TXT, format!("\"v=spf1 {} -all\"", senders.join(" ")), "SPF: who sends mail from the domain");
    let bare = domain.trim_end_matches('.');
    notes.push(match smarthost {
        Some(smarthost) => format!(
            "DKIM: notices to users' contact addresses leave through {smarthost}; if it signs for {bare}, publish the \
             key its operator gives you at <selector>._domainkey.{bare}"
        ),
        None => "DKIM: no smarthost yet ([notices] smarthost): notices wait in the spool and nothing is signed".into(),
    });
    Zone { records, notes }
}

impl Zone {
    /// The zone as a zone file's lines, each record with what it is for.
    pub fn text(&self) -> String {
        let mut text = String::from("; The DNS records of this Caducée relay (caducee dns; docs/operations/dns.md)\n");
        let width = self.records.iter().map(|r| r.name.len()).max().unwrap_or(0);
        for record in &self.records {
            let kind = format!("{:?}", record.kind);
            let _ = writeln!(text, "{:<width$} {TTL} IN {kind:<5} {:<40} ; {}", record.name, record.data, record.why);
        }
        for note in &self.notes {
            let _ = writeln!(text, "; {note}");
        }
        text
    }
}

/// What the resolver answered for one record.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    #[serde(flatten)]
    pub record: Record,
    /// `ok`, `missing` or `different`.
    pub verdict: &'static str,
    /// What was found instead, for `different`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub found: Vec<String>,
}

/// A resolver: the system's (`/etc/resolv.conf`), or the server at `server`. A server that
/// does not answer is given up after two tries of 3 s.
pub fn resolver(server: Option<SocketAddr>) -> anyhow::Result<TokioResolver> {
    let mut builder = match server {
        None => TokioResolver::builder_tokio().context("reading the system's resolver configuration")?,
        Some(server) => {
            let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
            for connection in &mut name_server.connections {
                connection.port = server.port();
            }
            let config = ResolverConfig::from_name_servers(vec![name_server]);
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        }
    };
    let options = builder.options_mut();
    (options.timeout, options.attempts) = (std::time::Duration::from_secs(3), 2);
    builder.build().context("the resolver")
}

/// Asks `resolver` for every record of `zone`; an error when it does not answer at all.
pub async fn check(zone: &Zone, resolver: &TokioResolver) -> anyhow::Result<Vec<Checked>> {
    let mut checked = Vec::new();
    for record in &zone.records {
        let found = answers(resolver, &record.name, record.kind).await?;
        let verdict = if found.is_empty() {
            "missing"
        } else if found.iter().any(|f| same(f, &record.data, record.kind)) {
            "ok"
        } else {
            "different"
        };
        let found = if verdict == "different" { found } else { Vec::new() };
        checked.push(Checked { record: record.clone(), verdict, found });
    }
    Ok(checked)
}

/// Whether an answer is the record asked for: the same address, target, port and
/// exchange, whatever the case of names; an SRV's priority and weight may differ.
fn same(found: &str, wanted: &str, kind: Kind) -> bool {
    let (found, wanted) = (found.to_ascii_lowercase(), wanted.to_ascii_lowercase());
    match kind {
        Kind::A | Kind::AAAA => found.parse::<IpAddr>().ok() == wanted.parse::<IpAddr>().ok(),
        Kind::SRV => {
            let tail = |s: &str| s.split_whitespace().skip(2).map(str::to_owned).collect::<Vec<_>>();
            tail(&found) == tail(&wanted)
        }
        Kind::CNAME | Kind::MX | Kind::TXT => found == wanted,
    }
}

/// The resolver's answers of `kind` at `name`, as zone data; none when it has none; an
/// error when no server answered.
async fn answers(resolver: &TokioResolver, name: &str, kind: Kind) -> anyhow::Result<Vec<String>> {
    let record_type = match kind {
        Kind::A => RecordType::A,
        Kind::AAAA => RecordType::AAAA,
        Kind::CNAME => RecordType::CNAME,
        Kind::SRV => RecordType::SRV,
        Kind::MX => RecordType::MX,
        Kind::TXT => RecordType::TXT,
    };
    let lookup = match resolver.lookup(name, record_type).await {
        Ok(lookup) => lookup,
        Err(error) if error.is_no_records_found() => return Ok(Vec::new()),
        Err(error) => anyhow::bail!("asking for {name} {kind:?}: {error}"),
    };
    let mut seen = BTreeSet::new();
    for record in lookup.answers() {
        let text = match &record.data {
            RData::A(a) => a.0.to_string(),
            RData::AAAA(a) => a.0.to_string(),
            RData::CNAME(c) => c.0.to_utf8(),
            RData::SRV(s) => format!("{} {} {} {}", s.priority, s.weight, s.port, s.target.to_utf8()),
            RData::MX(m) => format!("{} {}", m.preference, m.exchange.to_utf8()),
            RData::TXT(t) => {
                let strings: Vec<String> = t.txt_data.iter().map(|d| String::from_utf8_lossy(d).into_owned()).collect();
                format!("\"{}\"", strings.concat())
            }
            _ => continue,
        };
        seen.insert(text);
    }
    Ok(seen.into_iter().collect())
}
