//! The directory over LDAP (SPEC R-DIR-2): a read-only LDAPv3 server on two listeners —
//! plain with StartTLS (389 on the appliance) and LDAPS (636) — answering from the same
//! view as the web page and the files.
//!
//! The wire format is ldap3_proto's codec; this module decides what each request means:
//! rootDSE, anonymous and simple binds, searches (base/one/sub scopes, the standard
//! filters, attribute selection, size and time limits, the simple paged results control),
//! StartTLS, Who am I, and a refusal (`unwillingToPerform`) for every write. On the plain
//! listener, everything but the rootDSE and StartTLS is refused (`confidentialityRequired`)
//! until TLS is up: the directory is never read in clear. Every request
//! is bounded: PDU size and BER depth by the codec, filter size and depth here, results by
//! the size limit, time by the time limit, checked at every entry examined.
//!
//! Connections are served on the worker arbiters, beside the mail sessions; a search's
//! evaluation is not: it runs on the blocking pool, a few at a time ([`Searches`]), so that
//! a search over every entry never delays a mail session sharing the event loop. Every
//! write to the client has the mail sessions' write timeout: a client that stops reading is
//! dropped, and frees its slot.

mod filter;
pub mod index;
mod search;

use std::sync::Arc;
use std::time::{Duration, Instant};

use caducee_actors::login::{login_allowed, DoorLogin, Login};
use futures_util::{SinkExt as _, StreamExt as _};
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::*;
use ldap3_proto::{DisconnectionNotice, LdapCodec};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use self::search::{SearchJob, Started};
use crate::directory::DirectoryCache;

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
    pub logins: Arc<caducee_actors::login::LoginThrottle>,
    pub clock: Arc<dyn caducee_actors::clock::Clock>,
    /// Where searches are evaluated, off the event loops.
    pub searches: Searches,
    /// Longest time one write to the client may take (`[limits] write_timeout_secs`).
    pub write_timeout: Duration,
    /// Longest TLS handshake, on LDAPS or after StartTLS (`[limits] tls_handshake_secs`, as
    /// on the mail doors).
    pub tls_handshake: Duration,
}

/// The searches evaluated at once, on the blocking pool. A connection waits for its search
/// before it reads its next request, so the searches waiting for a turn are at most the
/// LDAP connections open (`[limits] ldap_sessions_max`): the queue is bounded by the slot
/// pool.
#[derive(Debug, Clone)]
pub struct Searches {
    turns: Arc<tokio::sync::Semaphore>,
}

impl Searches {
    /// `at_once` searches evaluated at the same time (at least one).
    pub fn new(at_once: usize) -> Searches {
        Searches { turns: Arc::new(tokio::sync::Semaphore::new(at_once.max(1))) }
    }

    /// Evaluates `job` on the blocking pool, when its turn comes.
    async fn run(&self, job: SearchJob) -> Vec<LdapMsg> {
        self.run_timed(job, Started(Instant::now())).await
    }

    /// [`Searches::run`], with the stopwatch its time limit is read on.
    async fn run_timed(&self, job: SearchJob, mut stopwatch: impl search::Stopwatch + Send + 'static) -> Vec<LdapMsg> {
        let msgid = job.msgid;
        let unavailable =
            |why: &str| vec![LdapMsg::new(msgid, LdapOp::SearchResultDone(result(LdapResultCode::Unavailable, why)))];
        let Ok(_turn) = self.turns.acquire().await else {
            return unavailable("the directory is shutting down");
        };
        match tokio::task::spawn_blocking(move || job.run(&mut stopwatch)).await {
            Ok(replies) => replies,
            Err(error) => {
                tracing::error!(%error, "an LDAP search failed");
                unavailable("the search failed; try again")
            }
        }
    }
}

/// Serves one accepted connection; `implicit_tls` for the LDAPS port.
pub async fn serve_connection(stream: TcpStream, implicit_tls: bool, context: LdapContext) {
    let codec = || LdapCodec::new(Some(REQUEST_BYTES_MAX), Some(BER_DEPTH_MAX));
    let peer = stream.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    let handshake = context.tls_handshake;
    let mut session = Session { bound: None, bound_account: None, failed_binds: 0, peer, context };
    if implicit_tls {
        let Ok(Ok(tls)) = tokio::time::timeout(handshake, session.context.tls.accept(stream)).await else {
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
        let Ok(Ok(tls)) = tokio::time::timeout(handshake, session.context.tls.accept(parts.io)).await else {
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
    /// The account bound, asked again before each search whether it may still log in.
    bound_account: Option<caducee_storage::AccountId>,
    failed_binds: u32,
    /// The client's address, for the login throttle.
    peer: String,
    context: LdapContext,
}

fn result(code: LdapResultCode, message: &str) -> LdapResult {
    LdapResult { code, matcheddn: String::new(), message: message.to_owned(), referral: Vec::new() }
}

/// What one request calls for.
enum Answer {
    /// Send these (perhaps none) and read the next request.
    Replies(Vec<LdapMsg>),
    /// Send this StartTLS response, then start TLS.
    StartTls(LdapMsg),
    /// Send this notice, if any, and close.
    Close(Option<LdapMsg>),
}

impl Session {
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&mut self, framed: &mut Framed<S, LdapCodec>, tls: bool) -> Next {
        loop {
            let answer = match next_request(framed).await {
                Ok(LdapMsg { msgid, op, ctrl }) => match refuse_critical_control(msgid, &op, &ctrl) {
                    Some(refusal) => Answer::Replies(refusal),
                    None => self.answer(msgid, op, &ctrl, tls).await,
                },
                Err(notice) => Answer::Close(notice),
            };
            match answer {
                Answer::Replies(replies) => {
                    if self.write(framed, replies).await.is_err() {
                        return Next::Close;
                    }
                }
                Answer::StartTls(reply) => {
                    return if self.write(framed, vec![reply]).await.is_ok() { Next::StartTls } else { Next::Close };
                }
                Answer::Close(notice) => {
                    let _ = self.write(framed, notice.into_iter().collect()).await;
                    return Next::Close;
                }
            }
            if self.failed_binds >= FAILED_BINDS_MAX {
                return Next::Close;
            }
        }
    }

    /// Sends `replies`, each write within the write timeout; `Err` when the client did not
    /// take them in time or the connection failed.
    async fn write<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        framed: &mut Framed<S, LdapCodec>,
        replies: Vec<LdapMsg>,
    ) -> Result<(), ()> {
        let limit = self.context.write_timeout;
        for reply in replies {
            match tokio::time::timeout(limit, framed.feed(reply)).await {
                Ok(Ok(())) => {}
                _ => return Err(()),
            }
        }
        match tokio::time::timeout(limit, framed.flush()).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }

    /// Answers one request.
    async fn answer(&mut self, msgid: i32, op: LdapOp, controls: &[LdapControl], tls: bool) -> Answer {
        if !tls && !allowed_in_clear(&op) {
            return Answer::Replies(
                refuse(msgid, &op, LdapResultCode::ConfidentialityRequired, TLS_REQUIRED).into_iter().collect(),
            );
        }
        let replies = match op {
            LdapOp::UnbindRequest => return Answer::Close(None),
            LdapOp::AbandonRequest(_) => Vec::new(),
            LdapOp::BindRequest(bind) => vec![self.bind(msgid, bind, tls).await],
            LdapOp::ExtendedRequest(LdapExtendedRequest { name, .. }) if name == OID_STARTTLS => {
                let code = if tls { LdapResultCode::OperationsError } else { LdapResultCode::Success };
                let message = if tls { "TLS is already active" } else { "" };
                let response =
                    LdapExtendedResponse { res: result(code, message), name: Some(OID_STARTTLS.into()), value: None };
                let reply = LdapMsg::new(msgid, LdapOp::ExtendedResponse(response));
                return if tls { Answer::Replies(vec![reply]) } else { Answer::StartTls(reply) };
            }
            LdapOp::ExtendedRequest(LdapExtendedRequest { name, .. }) => vec![self.extended(msgid, &name)],
            LdapOp::SearchRequest(search) => {
                self.forget_bind_if_refused();
                let job = SearchJob {
                    msgid,
                    search,
                    controls: controls.to_vec(),
                    bound: self.bound.is_some(),
                    base: self.context.directory.base().to_owned(),
                    view: self.context.directory.view_async().await,
                };
                self.context.searches.run(job).await
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
                return Answer::Close(Some(notice));
            }
        };
        Answer::Replies(replies)
    }

    /// Who am I (RFC 4532), or a refusal of any other extended operation but StartTLS.
    fn extended(&self, msgid: i32, name: &str) -> LdapMsg {
        let response = if name == OID_WHOAMI {
            let value = self.bound.as_ref().map_or_else(Vec::new, |dn| format!("dn:{dn}").into_bytes());
            LdapExtendedResponse { res: result(LdapResultCode::Success, ""), name: None, value: Some(value) }
        } else {
            LdapExtendedResponse {
                res: result(LdapResultCode::ProtocolError, &format!("extended operation {name} is not supported")),
                name: None,
                value: None,
            }
        };
        LdapMsg::new(msgid, LdapOp::ExtendedResponse(response))
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
        self.bound_account = None;
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
        let context = &self.context;
        let door = DoorLogin {
            door: "ldap",
            store: &context.store,
            throttle: &context.logins,
            password_checks: &context.password_checks,
        };
        match door.log_in(&self.peer, &address, password, context.clock.now()).await {
            Login::Ok(account) => {
                let dn = format!("mail={},{}", account.address, context.directory.base());
                self.bound = Some(dn);
                self.bound_account = Some(account.id);
                reply(LdapResultCode::Success, "")
            }
            Login::Throttled { retry_minutes } => {
                self.failed_binds += 1;
                reply(LdapResultCode::Busy, &format!("too many failed logins: try again in {retry_minutes} minutes"))
            }
            Login::Failed => {
                self.failed_binds += 1;
                reply(LdapResultCode::InvalidCredentials, "")
            }
        }
    }

    /// An account closed or suspended since it bound sees no more than an anonymous client.
    fn forget_bind_if_refused(&mut self) {
        if self.bound_account.is_some_and(|account| !login_allowed(&self.context.store, account)) {
            self.bound = None;
            self.bound_account = None;
        }
    }
}

/// Why an operation is refused before TLS.
const TLS_REQUIRED: &str = "this directory answers over TLS only: use StartTLS (ldapsearch -ZZ) or the LDAPS port";

/// Whether an operation may run before TLS: only what a client needs to find and start
/// TLS (the rootDSE, StartTLS) and to leave (unbind, abandon). Everything else, anonymous
/// searches included, waits for StartTLS, so that neither the directory's entries nor a
/// password cross the network in clear (RFC 4513 §3.1.1 lets a server require it).
fn allowed_in_clear(op: &LdapOp) -> bool {
    match op {
        LdapOp::UnbindRequest | LdapOp::AbandonRequest(_) => true,
        LdapOp::ExtendedRequest(LdapExtendedRequest { name, .. }) => name == OID_STARTTLS,
        LdapOp::SearchRequest(search) => search.scope == LdapSearchScope::Base && normalise_dn(&search.base).is_empty(),
        _ => false,
    }
}

/// The next request within the idle limit; otherwise the notice to send (if any) before
/// closing.
async fn next_request<S: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut Framed<S, LdapCodec>,
) -> Result<LdapMsg, Option<LdapMsg>> {
    match tokio::time::timeout(IDLE_MAX, framed.next()).await {
        Ok(Some(Ok(message))) => Ok(message),
        Ok(Some(Err(error))) => {
            let why =
                if error.kind() == std::io::ErrorKind::OutOfMemory { "request too large" } else { "malformed request" };
            Err(Some(DisconnectionNotice::gen_response(LdapResultCode::ProtocolError, why)))
        }
        Ok(None) | Err(_) => Err(None),
    }
}

/// RFC 4511 §4.1.11: a critical control we do not implement fails the operation. The
/// replies to send, when it does.
fn refuse_critical_control(msgid: i32, op: &LdapOp, controls: &[LdapControl]) -> Option<Vec<LdapMsg>> {
    let oid = controls.iter().find_map(|c| match c {
        LdapControl::Unknown { oid, criticality: true, .. } => Some(oid.clone()),
        _ => None,
    })?;
    Some(
        refuse(msgid, op, LdapResultCode::UnavailableCriticalExtension, &format!("control {oid}"))
            .into_iter()
            .collect(),
    )
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

#[cfg(test)]
mod tests {
    use super::filter::{check_filter, folded, matches};
    use super::search::synthetic_entry;
    use super::*;
    use crate::directory::LdapEntry;

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
    fn only_the_root_dse_and_starttls_are_answered_in_clear() {
        let search = |base: &str, scope| {
            LdapOp::SearchRequest(LdapSearchRequest {
                base: base.to_owned(),
                scope,
                aliases: LdapDerefAliases::Never,
                sizelimit: 0,
                timelimit: 0,
                typesonly: false,
                filter: LdapFilter::Present("objectClass".into()),
                attrs: Vec::new(),
            })
        };
        let extended = |name: &str| LdapOp::ExtendedRequest(LdapExtendedRequest { name: name.to_owned(), value: None });
        assert!(allowed_in_clear(&search("", LdapSearchScope::Base)));
        assert!(allowed_in_clear(&extended(OID_STARTTLS)));
        assert!(allowed_in_clear(&LdapOp::UnbindRequest));
        assert!(!allowed_in_clear(&search("", LdapSearchScope::Subtree)));
        assert!(!allowed_in_clear(&search("ou=directory,dc=relay,dc=test", LdapSearchScope::Subtree)));
        assert!(!allowed_in_clear(&extended(OID_WHOAMI)));
        let anonymous = LdapBindRequest { version: 3, dn: String::new(), cred: LdapBindCred::Simple(String::new()) };
        assert!(!allowed_in_clear(&LdapOp::BindRequest(anonymous)));
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
