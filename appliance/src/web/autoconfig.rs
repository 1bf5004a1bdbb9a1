//! Mail client autoconfiguration (Thunderbird's `config-v1.1.xml`, also read by K-9/FairEmail
//! and Evolution): a practice types its secure address and password, and its client finds
//! the relay's servers — POP3 (and IMAP once the relay has it) for collection, submission
//! for sending, both over implicit TLS first, then STARTTLS — and logs in with the whole
//! address. Served at `/.well-known/autoconfig/mail/config-v1.1.xml` and, for the
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
}

/// The document, made once at start (the ports do not change while the relay runs).
pub fn document(servers: &MailServers) -> String {
    let MailServers { domain, host, submissions_port, submission_port, pop3s_port, pop3_port } = servers;
    let (domain, host) = (escaped(domain), escaped(host));
    let server = |kind: &str, tag: &str, port: u16, socket: &str, extra: &str| {
        format!(
            "    <{tag} type=\"{kind}\">\n      <hostname>{host}</hostname>\n      <port>{port}</port>\n      \
             <socketType>{socket}</socketType>\n      <username>%EMAILADDRESS%</username>\n      \
             <authentication>password-cleartext</authentication>\n{extra}    </{tag}>\n"
        )
    };
    // The relay erases a message once every recipient collected it: the client must not
    // expect to keep it on the server.
    let pop3 = "      <pop3>\n        <leaveMessagesOnServer>false</leaveMessagesOnServer>\n      </pop3>\n";
    let mut servers = String::new();
    for (port, socket) in [(*pop3s_port, "SSL"), (*pop3_port, "STARTTLS")] {
        if port != 0 {
            servers.push_str(&server("pop3", "incomingServer", port, socket, pop3));
        }
    }
    for (port, socket) in [(*submissions_port, "SSL"), (*submission_port, "STARTTLS")] {
        if port != 0 {
            servers.push_str(&server("smtp", "outgoingServer", port, socket, ""));
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n  \
         <emailProvider id=\"{domain}\">\n    <domain>{domain}</domain>\n    \
         <displayName>Caducée — {domain}</displayName>\n    <displayShortName>Caducée</displayShortName>\n\
         {servers}  </emailProvider>\n</clientConfig>\n"
    )
}

fn escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
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
        };
        let xml = document(&servers);
        let parsed = roxmltree::Document::parse(&xml).expect("well-formed");
        let incoming: Vec<_> = parsed.descendants().filter(|n| n.has_tag_name("incomingServer")).collect();
        assert_eq!(incoming.len(), 1, "a listener switched off is not offered: {xml}");
        let outgoing: Vec<_> = parsed.descendants().filter(|n| n.has_tag_name("outgoingServer")).collect();
        let text = |node: roxmltree::Node, tag: &str| {
            node.children().find(|c| c.has_tag_name(tag)).and_then(|c| c.text()).unwrap_or_default().to_owned()
        };
        assert_eq!(
            outgoing.iter().map(|n| (text(*n, "port"), text(*n, "socketType"))).collect::<Vec<_>>(),
            [("465".to_owned(), "SSL".to_owned()), ("587".to_owned(), "STARTTLS".to_owned())]
        );
        assert_eq!(text(incoming[0], "hostname"), "mail.relay.example");
        assert!(xml.contains("<leaveMessagesOnServer>false</leaveMessagesOnServer>"));
    }
}
