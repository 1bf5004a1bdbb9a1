//! The directory over LDAP (SPEC R-DIR-2): a read-only LDAPv3 server on two listeners —
//! plain with StartTLS (389 on the appliance) and LDAPS (636) — answering from the same
//! view as the web page and the files.
//!
//! The wire format is ldap3_proto's codec; this module decides what each request means:
//! rootDSE, anonymous and simple binds, searches (base/one/sub scopes, the standard
//! filters, attribute selection, size and time limits, the simple paged results control),
//! StartTLS, Who am I, and a refusal (`unwillingToPerform`) for every write. Every request
//! is bounded: PDU size and BER depth by the codec, filter size and depth here, results by
//! the size limit.

pub mod index;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::*;
use ldap3_proto::{DisconnectionNotice, LdapCodec};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use crate::directory::{fold, DirectoryCache, DirectoryView, LdapEntry};

const OID_STARTTLS: &str = "1.3.6.1.4.1.1466.20037";
const OID_PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";
/// Largest request PDU.
const REQUEST_BYTES_MAX: usize = 64 * 1024;
/// Deepest BER nesting in a request (bounds filter nesting before it is even decoded).
const BER_DEPTH_MAX: usize = 48;
/// Filter terms and nesting one search may carry.
const FILTER_TERMS_MAX: usize = 64;
const FILTER_DEPTH_MAX: usize = 10;
/// Most entries one search returns without paging.
const SIZE_LIMIT_MAX: usize = 1000;
/// Longest time a search may take, whatever the client asks.
const TIME_LIMIT_MAX: Duration = Duration::from_secs(30);
/// A connection idle this long is closed.
const IDLE_MAX: Duration = Duration::from_secs(300);
const TLS_HANDSHAKE_MAX: Duration = Duration::from_secs(15);
/// Failed binds on one connection before it is closed.
const FAILED_BINDS_MAX: u32 = 3;

/// What a connection needs.
#[derive(Clone)]
pub struct LdapContext {
    pub directory: Arc<DirectoryCache>,
    pub store: caducee_storage::Store,
    pub tls: tokio_rustls::TlsAcceptor,
    pub password_checks: Arc<tokio::sync::Semaphore>,
    /// The relay-wide throttle of failed logins (SMTP, POP3, the personal space, LDAP).
    pub logins: Arc<caducee_actors::throttle::LoginThrottle>,
    pub clock: Arc<dyn caducee_actors::clock::Clock>,
}

/// Serves one accepted connection; `implicit_tls` for the LDAPS port.
pub async fn serve_connection(stream: TcpStream, implicit_tls: bool, context: LdapContext) {
    let codec = || LdapCodec::new(Some(REQUEST_BYTES_MAX), Some(BER_DEPTH_MAX));
    let peer = stream.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    let mut session = Session { bound: None, failed_binds: 0, peer, context };
    if implicit_tls {
        let Ok(Ok(tls)) = tokio::time::timeout(TLS_HANDSHAKE_MAX, session.context.tls.accept(stream)).await else {
            return;
        };
        session.serve(&mut Framed::new(tls, codec()), true).await;
        return;
    }
    let mut framed = Framed::new(stream, codec());
    if let Next::StartTls = session.serve(&mut framed, false).await {
        let parts = framed.into_parts();
        if !parts.read_buf.is_empty() {
            return; // bytes pipelined behind StartTLS (RFC 4511 §4.14.1 forbids them)
        }
        let Ok(Ok(tls)) = tokio::time::timeout(TLS_HANDSHAKE_MAX, session.context.tls.accept(parts.io)).await else {
            return;
        };
        session.serve(&mut Framed::new(tls, parts.codec), true).await;
    }
}

enum Next {
    Close,
    StartTls,
}

struct Session {
    /// The DN of the account bound, if any; anonymous otherwise.
    bound: Option<String>,
    failed_binds: u32,
    /// The client's address, for the login throttle.
    peer: String,
    context: LdapContext,
}

fn result(code: LdapResultCode, message: &str) -> LdapResult {
    LdapResult { code, matcheddn: String::new(), message: message.to_owned(), referral: Vec::new() }
}

impl Session {
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&mut self, framed: &mut Framed<S, LdapCodec>, tls: bool) -> Next {
        loop {
            let item = match tokio::time::timeout(IDLE_MAX, framed.next()).await {
                Ok(Some(item)) => item,
                Ok(None) | Err(_) => return Next::Close,
            };
            let LdapMsg { msgid, op, ctrl } = match item {
                Ok(message) => message,
                Err(error) => {
                    let why = if error.kind() == std::io::ErrorKind::OutOfMemory {
                        "request too large"
                    } else {
                        "malformed request"
                    };
                    let _ = framed.send(DisconnectionNotice::gen_response(LdapResultCode::ProtocolError, why)).await;
                    return Next::Close;
                }
            };
            // RFC 4511 §4.1.11: a critical control we do not implement fails the operation.
            if let Some(oid) = ctrl.iter().find_map(|c| match c {
                LdapControl::Unknown { oid, criticality: true, .. } => Some(oid.clone()),
                _ => None,
            }) {
                let reply = refuse(msgid, &op, LdapResultCode::UnavailableCriticalExtension, &format!("control {oid}"));
                if let Some(reply) = reply {
                    if framed.send(reply).await.is_err() {
                        return Next::Close;
                    }
                }
                continue;
            }
            let replies = match op {
                LdapOp::UnbindRequest => return Next::Close,
                LdapOp::AbandonRequest(_) => continue,
                LdapOp::BindRequest(bind) => vec![self.bind(msgid, bind, tls).await],
                LdapOp::ExtendedRequest(LdapExtendedRequest { name, .. }) if name == OID_STARTTLS => {
                    let code = if tls { LdapResultCode::OperationsError } else { LdapResultCode::Success };
                    let message = if tls { "TLS is already active" } else { "" };
                    let response = LdapExtendedResponse {
                        res: result(code, message),
                        name: Some(OID_STARTTLS.into()),
                        value: None,
                    };
                    if framed.send(LdapMsg::new(msgid, LdapOp::ExtendedResponse(response))).await.is_err() {
                        return Next::Close;
                    }
                    if tls {
                        continue;
                    }
                    return Next::StartTls;
                }
                LdapOp::ExtendedRequest(LdapExtendedRequest { name, .. }) if name == OID_WHOAMI => {
                    let value = self.bound.as_ref().map_or_else(Vec::new, |dn| format!("dn:{dn}").into_bytes());
                    let response = LdapExtendedResponse {
                        res: result(LdapResultCode::Success, ""),
                        name: None,
                        value: Some(value),
                    };
                    vec![LdapMsg::new(msgid, LdapOp::ExtendedResponse(response))]
                }
                LdapOp::ExtendedRequest(LdapExtendedRequest { name, .. }) => {
                    let response = LdapExtendedResponse {
                        res: result(
                            LdapResultCode::ProtocolError,
                            &format!("extended operation {name} is not supported"),
                        ),
                        name: None,
                        value: None,
                    };
                    vec![LdapMsg::new(msgid, LdapOp::ExtendedResponse(response))]
                }
                LdapOp::SearchRequest(search) => {
                    let view = self.context.directory.view_async().await;
                    self.search(msgid, &search, &ctrl, view)
                }
                op @ (LdapOp::AddRequest(_)
                | LdapOp::ModifyRequest(_)
                | LdapOp::DelRequest(_)
                | LdapOp::ModifyDNRequest(_)
                | LdapOp::CompareRequest(_)) => refuse(
                    msgid,
                    &op,
                    LdapResultCode::UnwillingToPerform,
                    "this directory is read-only: entries change through the relay's administration",
                )
                .into_iter()
                .collect(),
                _ => {
                    let notice = DisconnectionNotice::gen_response(LdapResultCode::ProtocolError, "unexpected PDU");
                    let _ = framed.send(notice).await;
                    return Next::Close;
                }
            };
            for reply in replies {
                if framed.feed(reply).await.is_err() {
                    return Next::Close;
                }
            }
            if framed.flush().await.is_err() {
                return Next::Close;
            }
            if self.failed_binds >= FAILED_BINDS_MAX {
                return Next::Close;
            }
        }
    }

    async fn bind(&mut self, msgid: i32, bind: LdapBindRequest, tls: bool) -> LdapMsg {
        let reply = |code, message: &str| {
            LdapMsg::new(msgid, LdapOp::BindResponse(LdapBindResponse { res: result(code, message), saslcreds: None }))
        };
        if bind.version != 3 {
            return reply(LdapResultCode::ProtocolError, "LDAPv3 only");
        }
        let LdapBindCred::Simple(password) = bind.cred else {
            return reply(LdapResultCode::AuthMethodNotSupported, "simple bind only");
        };
        self.bound = None;
        if bind.dn.is_empty() && password.is_empty() {
            return reply(LdapResultCode::Success, "");
        }
        if password.is_empty() {
            // RFC 4513 §5.1.2: an "unauthenticated" bind must not pass for a login.
            return reply(LdapResultCode::UnwillingToPerform, "a password is required");
        }
        if !tls {
            // A password never crosses the network in clear (RFC 4513 §6.3.1 allows the
            // refusal): StartTLS first, or the LDAPS port.
            return reply(LdapResultCode::ConfidentialityRequired, "use StartTLS or LDAPS before a simple bind");
        }
        let address = bind_address(&bind.dn, self.context.directory.base());
        let now = self.context.clock.now();
        if self.context.logins.is_locked(&self.peer, &address, now) {
            self.failed_binds += 1;
            return reply(LdapResultCode::Busy, "too many failed logins: try again later");
        }
        let account = caducee_storage::Address::parse(&address)
            .ok()
            .and_then(|a| self.context.store.account_by_address(&a).ok().flatten());
        // The hash runs for unknown names too, so that timing does not tell which exist.
        let stored = account.as_ref().map(|a| a.password_hash.clone());
        let verified = caducee_actors::session::check_password(&self.context.password_checks, stored, password).await;
        match account {
            Some(account) if verified => {
                self.context.logins.succeeded(&address);
                let dn = format!("mail={},{}", account.address, self.context.directory.base());
                self.bound = Some(dn);
                reply(LdapResultCode::Success, "")
            }
            _ => {
                self.failed_binds += 1;
                self.context.logins.failed(&self.peer, &address, now);
                reply(LdapResultCode::InvalidCredentials, "")
            }
        }
    }

    fn search(
        &self,
        msgid: i32,
        search: &LdapSearchRequest,
        controls: &[LdapControl],
        view: anyhow::Result<Arc<DirectoryView>>,
    ) -> Vec<LdapMsg> {
        let done = |code, message: &str, controls: Vec<LdapControl>| {
            LdapMsg::new_with_ctrls(msgid, LdapOp::SearchResultDone(result(code, message)), controls)
        };
        if let Err(why) = check_filter(&search.filter) {
            return vec![done(LdapResultCode::UnwillingToPerform, &why, Vec::new())];
        }
        // Assertion values folded once here, not once per candidate entry.
        let search = &LdapSearchRequest { filter: folded(&search.filter), ..search.clone() };
        let base = normalise_dn(&search.base);
        if base.is_empty() && search.scope == LdapSearchScope::Base {
            return self.root_dse(msgid, search, done(LdapResultCode::Success, "", Vec::new()));
        }
        let view = match view {
            Ok(view) => view,
            Err(error) => {
                tracing::error!(%error, "reading the directory failed");
                return vec![done(LdapResultCode::Unavailable, "the directory cannot be read now", Vec::new())];
            }
        };
        let directory_base = self.context.directory.base().to_ascii_lowercase();
        let started = Instant::now();
        let time_limit = match search.timelimit {
            n if n > 0 => Duration::from_secs(n as u64).min(TIME_LIMIT_MAX),
            _ => TIME_LIMIT_MAX,
        };
        // Which entries the base and scope designate.
        let candidates: Vec<usize> = if base == directory_base {
            match search.scope {
                LdapSearchScope::Base => {
                    return self.base_entry(msgid, search, done(LdapResultCode::Success, "", Vec::new()));
                }
                _ => match view.index.candidates(&search.filter) {
                    Some(narrowed) => {
                        let bound = self.bound.is_some();
                        narrowed.into_iter().map(|i| i as usize).filter(|&i| bound || !view.all[i].red_list).collect()
                    }
                    None => self.visible(&view).collect(),
                },
            }
        } else if base.ends_with(&format!(",{directory_base}")) {
            match self.visible(&view).find(|&i| view.ldap[i].dn_folded == base) {
                Some(i) if search.scope != LdapSearchScope::Children => vec![i],
                Some(_) => Vec::new(),
                None => {
                    let mut missing = done(LdapResultCode::NoSuchObject, "no such entry", Vec::new());
                    if let LdapOp::SearchResultDone(res) = &mut missing.op {
                        res.matcheddn = self.context.directory.base().to_owned();
                    }
                    return vec![missing];
                }
            }
        } else {
            return vec![done(LdapResultCode::NoSuchObject, "outside this directory", Vec::new())];
        };

        let paging = controls.iter().find_map(|c| match c {
            LdapControl::SimplePagedResults { size, cookie } => Some((*size, cookie.clone())),
            _ => None,
        });
        let offset = match &paging {
            Some((_, cookie)) if !cookie.is_empty() => match <[u8; 8]>::try_from(cookie.as_slice()) {
                Ok(bytes) => u64::from_be_bytes(bytes) as usize,
                Err(_) => return vec![done(LdapResultCode::ProtocolError, "not a cookie of this server", Vec::new())],
            },
            _ => 0,
        };
        let size_limit = match search.sizelimit {
            n if n > 0 => (n as usize).min(SIZE_LIMIT_MAX),
            _ => SIZE_LIMIT_MAX,
        };
        let page_size = paging.as_ref().map(|(size, _)| (*size).clamp(1, SIZE_LIMIT_MAX as i64) as usize);
        let mut replies = Vec::new();
        let mut matched = 0usize;
        let mut sent = 0usize;
        for &i in &candidates {
            if !matches(&search.filter, &view.ldap[i]) {
                continue;
            }
            matched += 1;
            if matched <= offset {
                continue;
            }
            if let Some(page) = page_size {
                if sent == page {
                    let cookie = ((matched - 1) as u64).to_be_bytes().to_vec();
                    let control = LdapControl::SimplePagedResults { size: 0, cookie };
                    replies.push(done(LdapResultCode::Success, "", vec![control]));
                    return replies;
                }
            } else if sent == size_limit {
                replies.push(done(LdapResultCode::SizeLimitExceeded, "", Vec::new()));
                return replies;
            }
            if started.elapsed() > time_limit {
                replies.push(done(LdapResultCode::TimeLimitExceeded, "", Vec::new()));
                return replies;
            }
            replies.push(entry_message(msgid, &view.ldap[i], &search.attrs, search.typesonly));
            sent += 1;
        }
        let controls = match paging {
            Some(_) => vec![LdapControl::SimplePagedResults { size: 0, cookie: Vec::new() }],
            None => Vec::new(),
        };
        replies.push(done(LdapResultCode::Success, "", controls));
        replies
    }

    /// Indexes of the entries this session may see: red-listed ones only when bound.
    fn visible<'a>(&self, view: &'a DirectoryView) -> impl Iterator<Item = usize> + 'a {
        let bound = self.bound.is_some();
        view.all.iter().enumerate().filter(move |(_, e)| bound || !e.red_list).map(|(i, _)| i)
    }

    fn root_dse(&self, msgid: i32, search: &LdapSearchRequest, done: LdapMsg) -> Vec<LdapMsg> {
        let attributes: Vec<(&'static str, Vec<Vec<u8>>)> = vec![
            ("objectClass", vec![b"top".to_vec()]),
            ("namingContexts", vec![self.context.directory.base().as_bytes().to_vec()]),
            ("supportedLDAPVersion", vec![b"3".to_vec()]),
            ("supportedExtension", vec![OID_STARTTLS.as_bytes().to_vec(), OID_WHOAMI.as_bytes().to_vec()]),
            ("supportedControl", vec![OID_PAGED_RESULTS.as_bytes().to_vec()]),
            ("vendorName", vec!["Caducée".as_bytes().to_vec()]),
        ];
        let entry = synthetic_entry("", attributes);
        if !matches(&search.filter, &entry) {
            return vec![done];
        }
        // The rootDSE's attributes are operational: sent when asked for, or with "+".
        let wanted: Vec<String> = if search.attrs.is_empty() || search.attrs.iter().any(|a| a == "*" || a == "+") {
            entry.attributes.iter().map(|(name, _)| name.to_string()).collect()
        } else {
            search.attrs.clone()
        };
        vec![entry_message(msgid, &entry, &wanted, search.typesonly), done]
    }

    fn base_entry(&self, msgid: i32, search: &LdapSearchRequest, done: LdapMsg) -> Vec<LdapMsg> {
        let attributes = vec![
            ("objectClass", vec![b"top".to_vec(), b"organizationalUnit".to_vec()]),
            ("ou", vec![b"directory".to_vec()]),
        ];
        let entry = synthetic_entry(self.context.directory.base(), attributes);
        if matches(&search.filter, &entry) {
            vec![entry_message(msgid, &entry, &search.attrs, search.typesonly), done]
        } else {
            vec![done]
        }
    }
}

fn synthetic_entry(dn: &str, attributes: Vec<(&'static str, Vec<Vec<u8>>)>) -> LdapEntry {
    let folded = attributes
        .iter()
        .map(|(name, values)| {
            (name.to_ascii_lowercase(), values.iter().map(|v| fold(&String::from_utf8_lossy(v))).collect())
        })
        .collect();
    LdapEntry { dn: dn.to_owned(), dn_folded: dn.to_ascii_lowercase(), attributes, folded }
}

/// The answer to an operation refused as a whole.
fn refuse(msgid: i32, op: &LdapOp, code: LdapResultCode, message: &str) -> Option<LdapMsg> {
    let res = result(code, message);
    let op = match op {
        LdapOp::AddRequest(_) => LdapOp::AddResponse(res),
        LdapOp::ModifyRequest(_) => LdapOp::ModifyResponse(res),
        LdapOp::DelRequest(_) => LdapOp::DelResponse(res),
        LdapOp::ModifyDNRequest(_) => LdapOp::ModifyDNResponse(res),
        LdapOp::CompareRequest(_) => LdapOp::CompareResult(res),
        LdapOp::SearchRequest(_) => LdapOp::SearchResultDone(res),
        LdapOp::BindRequest(_) => LdapOp::BindResponse(LdapBindResponse { res, saslcreds: None }),
        LdapOp::ExtendedRequest(_) => LdapOp::ExtendedResponse(LdapExtendedResponse { res, name: None, value: None }),
        _ => return None,
    };
    Some(LdapMsg::new(msgid, op))
}

/// One search result: the attributes asked for ("*" or none: every user attribute; "1.1":
/// none), names matched without regard to case.
fn entry_message(msgid: i32, entry: &LdapEntry, wanted: &[String], types_only: bool) -> LdapMsg {
    let all = wanted.is_empty() || wanted.iter().any(|w| w == "*");
    let attributes = entry
        .attributes
        .iter()
        .filter(|(name, _)| all || wanted.iter().any(|w| w.eq_ignore_ascii_case(name)))
        .map(|(name, values)| LdapPartialAttribute {
            atype: (*name).to_owned(),
            vals: if types_only { Vec::new() } else { values.clone() },
        })
        .collect();
    LdapMsg::new(msgid, LdapOp::SearchResultEntry(LdapSearchResultEntry { dn: entry.dn.clone(), attributes }))
}

/// The address a bind DN names: `mail=<address>,<base>`, or the bare address.
fn bind_address(dn: &str, base: &str) -> String {
    let normalised = normalise_dn(dn);
    let base = base.to_ascii_lowercase();
    match normalised.strip_prefix("mail=").and_then(|rest| rest.strip_suffix(&format!(",{base}"))) {
        Some(address) => address.replace("\\", ""),
        None => normalised,
    }
}

/// A DN in lower case with the spaces around its separators removed.
fn normalise_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| rdn.split('=').map(str::trim).collect::<Vec<_>>().join("="))
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase()
}

/// Refuses filters too large or too deep to evaluate cheaply.
fn check_filter(filter: &LdapFilter) -> Result<(), String> {
    fn walk(filter: &LdapFilter, depth: usize, terms: &mut usize) -> Result<(), String> {
        *terms += 1;
        if depth > FILTER_DEPTH_MAX {
            return Err(format!("the filter is nested more than {FILTER_DEPTH_MAX} levels deep"));
        }
        if *terms > FILTER_TERMS_MAX {
            return Err(format!("the filter has more than {FILTER_TERMS_MAX} terms"));
        }
        match filter {
            LdapFilter::And(parts) | LdapFilter::Or(parts) => {
                parts.iter().try_for_each(|part| walk(part, depth + 1, terms))
            }
            LdapFilter::Not(inner) => walk(inner, depth + 1, terms),
            _ => Ok(()),
        }
    }
    walk(filter, 0, &mut 0)
}

/// `filter` with every assertion value [`fold`]ed, as the entries' values are.
fn folded(filter: &LdapFilter) -> LdapFilter {
    let all = |parts: &[LdapFilter]| parts.iter().map(folded).collect();
    match filter {
        LdapFilter::And(parts) => LdapFilter::And(all(parts)),
        LdapFilter::Or(parts) => LdapFilter::Or(all(parts)),
        LdapFilter::Not(inner) => LdapFilter::Not(Box::new(folded(inner))),
        LdapFilter::Equality(name, value) => LdapFilter::Equality(name.clone(), fold(value)),
        LdapFilter::Approx(name, value) => LdapFilter::Approx(name.clone(), fold(value)),
        LdapFilter::GreaterOrEqual(name, value) => LdapFilter::GreaterOrEqual(name.clone(), fold(value)),
        LdapFilter::LessOrEqual(name, value) => LdapFilter::LessOrEqual(name.clone(), fold(value)),
        LdapFilter::Substring(name, parts) => LdapFilter::Substring(
            name.clone(),
            LdapSubstringFilter {
                initial: parts.initial.as_deref().map(fold),
                any: parts.any.iter().map(|a| fold(a)).collect(),
                final_: parts.final_.as_deref().map(fold),
            },
        ),
        other => other.clone(),
    }
}

/// Whether `entry` matches `filter`, whose values are already [`folded`]. Matching ignores
/// case and French accents (the directory's attributes are all text); approximate matching
/// is equality; extensible matches are not supported and match nothing.
fn matches(filter: &LdapFilter, entry: &LdapEntry) -> bool {
    let values = |name: &str| {
        let name = name.to_ascii_lowercase();
        entry.folded.iter().find(|(n, _)| *n == name).map(|(_, values)| values.as_slice())
    };
    match filter {
        LdapFilter::And(parts) => parts.iter().all(|p| matches(p, entry)),
        LdapFilter::Or(parts) => parts.iter().any(|p| matches(p, entry)),
        LdapFilter::Not(inner) => !matches(inner, entry),
        // Every entry has an object class: "(objectClass=*)" is the usual "everything".
        LdapFilter::Present(name) => {
            name.eq_ignore_ascii_case("objectClass")
                || entry.attributes.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
        }
        LdapFilter::Equality(name, value) | LdapFilter::Approx(name, value) => {
            values(name).is_some_and(|vs| vs.contains(value))
        }
        LdapFilter::GreaterOrEqual(name, value) => values(name).is_some_and(|vs| vs.iter().any(|v| v >= value)),
        LdapFilter::LessOrEqual(name, value) => values(name).is_some_and(|vs| vs.iter().any(|v| v <= value)),
        LdapFilter::Substring(name, parts) => {
            values(name).is_some_and(|vs| vs.iter().any(|v| substring_matches(v, parts)))
        }
        LdapFilter::Extensible(_) => false,
    }
}

fn substring_matches(value: &str, parts: &LdapSubstringFilter) -> bool {
    let mut rest = value;
    if let Some(initial) = &parts.initial {
        let Some(after) = rest.strip_prefix(initial.as_str()) else {
            return false;
        };
        rest = after;
    }
    for any in &parts.any {
        match rest.find(any.as_str()) {
            Some(at) => rest = &rest[at + any.len()..],
            None => return false,
        }
    }
    match &parts.final_ {
        Some(last) => rest.ends_with(last.as_str()),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> LdapEntry {
        synthetic_entry(
            "mail=anne@relay.test,ou=directory,dc=relay,dc=test",
            vec![
                ("cn", vec!["Dr Anne Martin".as_bytes().to_vec()]),
                ("sn", vec![b"Martin".to_vec()]),
                ("l", vec!["Lille".as_bytes().to_vec()]),
                ("specialty", vec!["Cardiologie pédiatrique".as_bytes().to_vec()]),
            ],
        )
    }

    fn filter(text: &str) -> LdapFilter {
        folded(&ldap3_proto::parse_ldap_filter_str(text).expect("a filter"))
    }

    #[test]
    fn filters_match_as_a_directory_user_expects() {
        let e = entry();
        for yes in [
            "(sn=martin)",
            "(&(l=Lille)(specialty=*pediatrique))",
            "(cn=*mart*)",
            "(cn=Dr*)",
            "(cn=*tin)",
            "(cn=dr*ann*tin)",
            "(|(sn=Durand)(sn=Martin))",
            "(!(l=Paris))",
            "(objectClass=*)",
            "(l~=lille)",
            "(sn>=M)",
        ] {
            assert!(matches(&filter(yes), &e), "{yes}");
        }
        for no in ["(sn=Mart)", "(cn=*dupont*)", "(&(l=Lille)(sn=Durand))", "(phone=*)", "(cn=tin*)"] {
            assert!(!matches(&filter(no), &e), "{no}");
        }
    }

    #[test]
    fn filters_are_bounded_and_dns_normalised() {
        let deep = format!("{}(sn=x){}", "(!".repeat(12), ")".repeat(12));
        assert!(check_filter(&filter(&deep)).is_err());
        let wide = format!("(|{})", "(sn=x)".repeat(70));
        assert!(check_filter(&filter(&wide)).is_err());
        assert!(check_filter(&filter("(&(sn=x)(l=y))")).is_ok());
        assert_eq!(normalise_dn("Mail=A@B.fr, OU=directory, dc=b,dc=fr"), "mail=a@b.fr,ou=directory,dc=b,dc=fr");
        assert_eq!(bind_address("mail=a@b.fr,ou=directory,dc=b,dc=fr", "ou=directory,dc=b,dc=fr"), "a@b.fr");
        assert_eq!(bind_address("a@b.fr", "ou=directory,dc=b,dc=fr"), "a@b.fr");
    }
}
