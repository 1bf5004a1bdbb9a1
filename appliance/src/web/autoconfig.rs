//! Mail client autoconfiguration (Thunderbird's `config-v1.1.xml`, also read by K-9/FairEmail
//! and Evolution): a practice types its secure address and password, and its client finds
//! the relay's servers — IMAP first (new mail pushed with IDLE), then POP3, for collection;
//! submission for sending; each over implicit TLS first, then STARTTLS — and logs in with
//! the whole address. Served at `/.well-known/autoconfig/mail/config-v1.1.xml` and, for the
//! `autoconfig.<domain>` host clients also try, `/mail/config-v1.1.xml`.

use actix_web::{web, HttpResponse};

/// Where the relay's mail services are, as clients must reach them.
#[derive(Debug, Clone)]
pub struct MailServers {
    /// The mail domain the relay serves (the part after `@` of its users' addresses).
    pub domain: String,
    /// The host name its certificate carries.
    pub host: String,
    pub submissions_port: u16,
    pub submission_port: u16,
    pub pop3s_port: u16,
    pub pop3_port: u16,
    pub imaps_port: u16,
    pub imap_port: u16,
}

/// One server the document offers.
struct Offered {
    tag: &'static str,
    kind: &'static str,
    port: u16,
    socket: &'static str,
}

#[derive(askama::Template)]
#[template(path = "autoconfig.xml")]
struct Document<'a> {
    domain: &'a str,
    host: &'a str,
    servers: Vec<Offered>,
}

/// The document, made once at start (the ports do not change while the relay runs).
/// Collection first, then sending; implicit TLS before STARTTLS; a listener switched off
/// (port 0) is not offered. POP3 says not to leave messages on the server: the relay erases
/// a message once every recipient has collected it.
pub fn document(servers: &MailServers) -> askama::Result<String> {
    use askama::Template as _;
    let offered = [
        ("incomingServer", "imap", servers.imaps_port, "SSL"),
        ("incomingServer", "imap", servers.imap_port, "STARTTLS"),
        ("incomingServer", "pop3", servers.pop3s_port, "SSL"),
        ("incomingServer", "pop3", servers.pop3_port, "STARTTLS"),
        ("outgoingServer", "smtp", servers.submissions_port, "SSL"),
        ("outgoingServer", "smtp", servers.submission_port, "STARTTLS"),
    ];
    let document = Document {
        domain: &servers.domain,
        host: &servers.host,
        servers: offered
            .into_iter()
            .filter(|(_, _, port, _)| *port != 0)
            .map(|(tag, kind, port, socket)| Offered { tag, kind, port, socket })
            .collect(),
    };
    document.render()
}

pub(super) async fn config_v1_1(document: web::Data<Autoconfig>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .insert_header(("Cache-Control", "max-age=3600"))
        .body(document.0.clone())
}

/// The rendered document, shared by the HTTPS workers.
#[derive(Debug, Clone)]
pub(super) struct Autoconfig(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_names_every_server_with_its_security() {
        let servers = MailServers {
            domain: "relay.example".into(),
            host: "mail.relay.example".into(),
            submissions_port: 465,
            submission_port: 587,
            pop3s_port: 995,
            pop3_port: 0,
            imaps_port: 993,
            imap_port: 143,
        };
        let xml = document(&servers).expect("rendered");
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">"), "{xml}");
        let parsed = roxmltree::Document::parse(&xml).expect("well-formed");
        let text = |node: roxmltree::Node, tag: &str| {
            node.children().find(|c| c.has_tag_name(tag)).and_then(|c| c.text()).unwrap_or_default().to_owned()
        };
        let incoming: Vec<_> = parsed.descendants().filter(|n| n.has_tag_name("incomingServer")).collect();
        assert_eq!(
            incoming.iter().map(|n| (n.attribute("type").unwrap_or_default(), text(*n, "port"))).collect::<Vec<_>>(),
            [("imap", "993".to_owned()), ("imap", "143".to_owned()), ("pop3", "995".to_owned())],
            "IMAP first, implicit TLS first; a listener switched off is not offered: {xml}"
        );
        let outgoing: Vec<_> = parsed.descendants().filter(|n| n.has_tag_name("outgoingServer")).collect();
        assert_eq!(
            outgoing.iter().map(|n| (text(*n, "port"), text(*n, "socketType"))).collect::<Vec<_>>(),
            [("465".to_owned(), "SSL".to_owned()), ("587".to_owned(), "STARTTLS".to_owned())]
        );
        assert_eq!(text(incoming[0], "hostname"), "mail.relay.example");
        assert!(xml.contains("<leaveMessagesOnServer>false</leaveMessagesOnServer>"));
    }
}
