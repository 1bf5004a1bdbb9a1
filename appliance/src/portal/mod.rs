//! The personal space (SPEC R-PORTAL-1…4, R-AUD-2): each user's web pages on the HTTPS
//! listener — login with password and a TOTP second factor, the account (identity, mailbox
//! usage, keys), directory preferences, quality indicators, terms of use, and data rights.
//!
//! Sessions live in the store under the SHA-256 of a random token (the cookie holds the
//! token, `Secure; HttpOnly; SameSite=Strict`), with an idle and an absolute expiry; the
//! token changes when the second factor is passed. Every form carries the session's
//! anti-forgery token (the login form a cookie-bound one). Logging in goes through the
//! relay's one login check (the throttle, the password, closed and suspended accounts
//! refused), and every page of an open session asks again whether the account may log in;
//! failed codes feed the same throttle. Every page that shows personal
//! data, and every change, leaves an audit entry naming the user and the source address.
//!
//! This module holds the routes, the sessions and what every page shares (anti-forgery
//! checks, security headers, the error page); each family of pages has its own module:
//! `login`, `second_factor`, `account`, `rights`, `quality`, `terms`.

mod account;
pub mod keys;
mod login;
mod quality;
pub(crate) mod readable;
mod rights;
mod second_factor;
mod terms;
pub mod text;

use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use base64::Engine as _;
use caducee_actors::clock::Clock;
use caducee_actors::login::{login_allowed, DoorLogin, LoginThrottle};
use caducee_storage::{Account, AuditAction, AuditDraft, ConnectionRecord, Millis, Protocol, Store, WebSession};
use ring::rand::{SecureRandom, SystemRandom};

use crate::portal::text::{Texts, ENGLISH, FRENCH};

const SESSION_COOKIE: &str = "caducee_session";
const LOGIN_COOKIE: &str = "caducee_login";
const LANG_COOKIE: &str = "caducee_lang";
/// A session unused this long ends.
const IDLE_MILLIS: u64 = caducee_storage::WEB_SESSION_IDLE_MILLIS;
/// A session ends this long after login, used or not.
const ABSOLUTE_MILLIS: u64 = caducee_storage::WEB_SESSION_LIFETIME_MILLIS;
/// `last_seen` is written back at most this often (a write per page view would be a
/// durable commit per click).
const TOUCH_MILLIS: u64 = 60 * 1000;
const RECOVERY_CODES: usize = 10;
const REQUEST_TEXT_CHARS_MAX: usize = 2000;
const PASSWORD_CHARS_MIN: usize = 12;
const TOTP_ISSUER: &str = "Caducee";

/// What the personal space needs.
#[derive(Clone)]
pub struct Portal {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub monitor: Option<actix::Addr<caducee_actors::monitor::Monitor>>,
    pub logins: Arc<LoginThrottle>,
    pub password_checks: Arc<tokio::sync::Semaphore>,
    /// Certifying the keys practices make themselves (`POST /keys/submit`); `None`: refused.
    pub keys: Option<keys::SubmittedKeys>,
    /// Where users read times: the relay's `time_zone`.
    pub time_zone: jiff::tz::TimeZone,
    /// The relay's name as practices know it (its host name), on the login page.
    pub relay_name: String,
}

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/login", web::get().to(login::login_page))
        .route("/login", web::post().to(login::login))
        .route("/login/second-factor", web::get().to(second_factor::second_factor_page))
        .route("/login/second-factor", web::post().to(second_factor::second_factor))
        .route("/logout", web::post().to(login::logout))
        .route("/account", web::get().to(account::account_page))
        .route("/account/preferences", web::post().to(account::preferences))
        .route("/account/password", web::post().to(account::change_password))
        .route("/account/requests", web::post().to(rights::file_request))
        .route("/account/quality", web::get().to(quality::quality_page))
        .route("/account/data", web::get().to(rights::data_page))
        .route("/account/data.json", web::get().to(rights::data_json))
        .route("/account/certificate/{file}", web::get().to(account::certificate))
        .route("/terms", web::get().to(terms::terms_page))
        .route("/terms/accept", web::post().to(terms::accept_terms))
        .route("/keys/submit", web::post().to(keys::submit_certificate));
}

// ---- helpers ----

fn texts(request: &HttpRequest) -> &'static Texts {
    let query = request.query_string();
    let from_query = query.split('&').find_map(|pair| pair.strip_prefix("lang="));
    let chosen = from_query.map(str::to_owned).or_else(|| request.cookie(LANG_COOKIE).map(|c| c.value().to_owned()));
    if chosen.as_deref() == Some("en") {
        &ENGLISH
    } else {
        &FRENCH
    }
}

fn source(request: &HttpRequest) -> String {
    request.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".into())
}

fn random_token() -> Result<String, PortalError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| PortalError::Internal("no randomness".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn token_hash(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest.as_ref());
    hash
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn cookie(name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value).path("/").secure(true).http_only(true).same_site(SameSite::Strict).finish()
}

fn expired(name: &'static str) -> Cookie<'static> {
    let mut gone = cookie(name, String::new());
    gone.make_removal();
    gone
}

/// Security headers every page of the personal space carries.
fn page(status: actix_web::http::StatusCode, html: String, request: &HttpRequest) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    let query = request.query_string();
    if let Some(lang) = query.split('&').find_map(|pair| pair.strip_prefix("lang=")) {
        if lang == "en" || lang == "fr" {
            response.cookie(cookie(LANG_COOKIE, lang.to_owned()));
        }
    }
    response.body(html)
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

/// Errors a person reads: never a stack trace.
#[derive(Debug)]
enum PortalError {
    /// Not logged in (or the session ended): to the login page.
    Login,
    /// Logged in with the password only: to the second factor.
    SecondFactor,
    /// Terms of use to accept first.
    Terms,
    /// A form without this session's anti-forgery token.
    Forged,
    NotFound,
    Internal(String),
}

impl<E: std::fmt::Display> From<E> for PortalError
where
    E: Into<anyhow::Error>,
{
    fn from(error: E) -> PortalError {
        PortalError::Internal(error.to_string())
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    t: &'static Texts,
    logged_in: bool,
    csrf: &'a str,
    heading: &'a str,
    text: &'a str,
    link: &'a str,
    link_text: &'a str,
}

fn message(
    request: &HttpRequest,
    status: actix_web::http::StatusCode,
    heading: &str,
    text: &str,
    link: &str,
) -> HttpResponse {
    let t = texts(request);
    let html = MessagePage { t, logged_in: false, csrf: "", heading, text, link, link_text: t.back }
        .render()
        .unwrap_or_else(|_| text.to_owned());
    page(status, html, request)
}

/// A form that does not read (a field missing, its anti-forgery token above all): the page
/// that says so in the user's language, never the parser's words.
pub fn form_error(error: actix_web::error::UrlencodedError, request: &HttpRequest) -> actix_web::Error {
    let t = texts(request);
    let response = message(request, actix_web::http::StatusCode::BAD_REQUEST, t.error_title, t.forged, "/account");
    actix_web::error::InternalError::from_response(error, response).into()
}

/// Any address the relay does not serve: a page in the user's language.
pub async fn not_found_page(request: HttpRequest) -> HttpResponse {
    let t = texts(&request);
    message(&request, actix_web::http::StatusCode::NOT_FOUND, t.error_title, t.not_found, "/account")
}

fn answer(request: &HttpRequest, result: Result<HttpResponse, PortalError>) -> HttpResponse {
    use actix_web::http::StatusCode;
    let t = texts(request);
    match result {
        Ok(response) => response,
        Err(PortalError::Login) => redirect("/login"),
        Err(PortalError::SecondFactor) => redirect("/login/second-factor"),
        Err(PortalError::Terms) => redirect("/terms"),
        Err(PortalError::Forged) => message(request, StatusCode::FORBIDDEN, t.error_title, t.forged, "/account"),
        Err(PortalError::NotFound) => message(request, StatusCode::NOT_FOUND, t.error_title, t.not_found, "/account"),
        Err(PortalError::Internal(error)) => {
            tracing::error!(%error, "personal space");
            message(request, StatusCode::INTERNAL_SERVER_ERROR, t.error_title, "—", "/account")
        }
    }
}

/// A logged-in user: the session and the account.
struct User {
    /// The hash of the session's token (its key in the store).
    token: [u8; 32],
    session: WebSession,
    account: Account,
}

impl Portal {
    fn now(&self) -> Millis {
        self.clock.now()
    }

    /// A login to the personal space in the connection log, under the account, so that
    /// the user finds it in "my connections" beside the mail sessions: from the password
    /// (the session's start) to the second factor's outcome.
    async fn log_login(&self, session: &WebSession, address: &str, outcome: &str, now: Millis) {
        let record = ConnectionRecord {
            started_at: session.created_at,
            ended_at: now,
            protocol: Protocol::Web,
            peer: session.source.clone(),
            account: Some(address.to_owned()),
            outcome: outcome.to_owned(),
            messages: 0,
        };
        if let Err(error) = self.store.log_connection(record).await {
            tracing::warn!(%error, "a login to the personal space was not logged");
        }
    }

    async fn audit(&self, user: &Account, request: &HttpRequest, action: AuditAction, object: &str, detail: String) {
        let draft = self.draft(user, request, action, object, detail);
        if let Err(error) = self.store.audit(draft).await {
            tracing::error!(%error, "writing the audit trail failed");
        }
    }

    fn draft(
        &self,
        user: &Account,
        request: &HttpRequest,
        action: AuditAction,
        object: &str,
        detail: String,
    ) -> AuditDraft {
        let source = format!("personal space {}", source(request));
        AuditDraft::new(self.now(), user.address.to_string(), source, action, object, detail)
    }

    /// The session of this request, if any and not expired.
    async fn session(&self, request: &HttpRequest) -> Result<Option<([u8; 32], WebSession)>, PortalError> {
        let Some(cookie) = request.cookie(SESSION_COOKIE) else {
            return Ok(None);
        };
        let hash = token_hash(cookie.value());
        let Some(mut session) = self.store.session(&hash)? else {
            return Ok(None);
        };
        if !login_allowed(&self.store, session.account) {
            // Closing or suspending the account ended its sessions; one written since is
            // ended here, on its first page.
            self.store.put_session(hash, None).await?;
            return Ok(None);
        }
        let now = self.now();
        if now.0.saturating_sub(session.last_seen.0) > IDLE_MILLIS
            || now.0.saturating_sub(session.created_at.0) > ABSOLUTE_MILLIS
        {
            self.store.put_session(hash, None).await?;
            return Ok(None);
        }
        if now.0.saturating_sub(session.last_seen.0) > TOUCH_MILLIS {
            session.last_seen = now;
            self.store.put_session(hash, Some(session.clone())).await?;
        }
        Ok(Some((hash, session)))
    }

    /// The logged-in user, or where to send the browser instead.
    async fn user(&self, request: &HttpRequest, terms_needed: bool) -> Result<User, PortalError> {
        let (token, session) = self.session(request).await?.ok_or(PortalError::Login)?;
        if session.second_factor_pending {
            return Err(PortalError::SecondFactor);
        }
        let account = self.store.account(session.account)?.ok_or(PortalError::Login)?;
        if terms_needed {
            if let Some(terms) = self.store.terms()? {
                let portal = self.store.portal(account.id)?;
                if !portal.terms_accepted.iter().any(|(version, _)| *version == terms.version) {
                    return Err(PortalError::Terms);
                }
            }
        }
        Ok(User { token, session, account })
    }

    /// The relay's one password check (dummy hash for unknown accounts, bounded concurrency).
    async fn check_password(&self, stored: Option<String>, password: String) -> bool {
        caducee_actors::login::check_password(&self.password_checks, stored, password).await
    }

    /// The login check every door shares.
    fn door(&self) -> DoorLogin<'_> {
        DoorLogin { door: "web", store: &self.store, throttle: &self.logins, password_checks: &self.password_checks }
    }
}

fn check_csrf(session: &WebSession, given: &str) -> Result<(), PortalError> {
    if same(&session.csrf, given) {
        Ok(())
    } else {
        Err(PortalError::Forged)
    }
}

fn totp(secret: Vec<u8>, address: &str) -> Result<totp_rs::Totp, PortalError> {
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name(address)
        .with_issuer(Some(TOTP_ISSUER))
        .build()
        .map_err(|e| PortalError::Internal(format!("TOTP: {e:?}")))
}

fn unix_seconds(at: Millis) -> u64 {
    at.0 / 1000
}

/// A moment as the user reads it: local time in the relay's time zone, in the page's
/// language (`30/11/2026 15:13 CET`, `2026-11-30 15:13 CET`).
fn date_time(portal: &Portal, t: &Texts, at: Millis) -> String {
    let Ok(moment) = jiff::Timestamp::from_millisecond(at.0 as i64) else {
        return at.utc().to_string();
    };
    let local = moment.to_zoned_datetime(portal.time_zone.clone());
    local.strftime(if t.lang == "fr" { "%d/%m/%Y %H:%M %Z" } else { "%Y-%m-%d %H:%M %Z" }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_comparisons() {
        let a = random_token().expect("token");
        let b = random_token().expect("token");
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &b));
        assert!(!same("abc", "abcd"));
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
