//! The personal space (SPEC R-PORTAL-1…4, R-AUD-2): each user's web pages on the HTTPS
//! listener — login with password and a TOTP second factor, the account (identity, mailbox
//! usage, keys), directory preferences, quality indicators, terms of use, and data rights.
//!
//! Sessions live in the store under the SHA-256 of a random token (the cookie holds the
//! token, `Secure; HttpOnly; SameSite=Strict`), with an idle and an absolute expiry; the
//! token changes when the second factor is passed. Every form carries the session's
//! anti-forgery token (the login form a cookie-bound one). Failed passwords and codes feed
//! the relay's login throttle, per account and per address. Every page that shows personal
//! data, and every change, leaves an audit entry naming the user and the source address.

pub mod text;

use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use base64::Engine as _;
use caducee_actors::clock::Clock;
use caducee_actors::keyvault;
use caducee_actors::throttle::LoginThrottle;
use caducee_storage::{Account, Address, AuditDraft, Millis, PortalRecord, RightsRequest, Store, WebSession};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;

use crate::portal::text::{Texts, ENGLISH, FRENCH};

const SESSION_COOKIE: &str = "caducee_session";
const LOGIN_COOKIE: &str = "caducee_login";
const LANG_COOKIE: &str = "caducee_lang";
/// A session unused this long ends.
const IDLE_MILLIS: u64 = 30 * 60 * 1000;
/// A session ends this long after login, used or not.
const ABSOLUTE_MILLIS: u64 = 12 * 60 * 60 * 1000;
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
}

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login))
        .route("/login/second-factor", web::get().to(second_factor_page))
        .route("/login/second-factor", web::post().to(second_factor))
        .route("/logout", web::post().to(logout))
        .route("/account", web::get().to(account_page))
        .route("/account/preferences", web::post().to(preferences))
        .route("/account/password", web::post().to(change_password))
        .route("/account/requests", web::post().to(file_request))
        .route("/account/quality", web::get().to(quality_page))
        .route("/account/data", web::get().to(data_page))
        .route("/account/data.json", web::get().to(data_json))
        .route("/account/certificate/{file}", web::get().to(certificate))
        .route("/terms", web::get().to(terms_page))
        .route("/terms/accept", web::post().to(accept_terms));
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

    async fn audit(&self, user: &Account, request: &HttpRequest, action: &str, object: &str, detail: String) {
        let draft = self.draft(user, request, action, object, detail);
        if let Err(error) = self.store.audit(draft).await {
            tracing::error!(%error, "writing the audit trail failed");
        }
    }

    fn draft(&self, user: &Account, request: &HttpRequest, action: &str, object: &str, detail: String) -> AuditDraft {
        AuditDraft {
            at: self.now(),
            actor: user.address.to_string(),
            source: format!("personal space {}", source(request)),
            action: action.into(),
            object: object.into(),
            detail,
        }
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
        caducee_actors::session::check_password(&self.password_checks, stored, password).await
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

fn date_time(at: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(at.0 as i64)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

// ---- login ----

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    t: &'static Texts,
    logged_in: bool,
    csrf: &'a str,
    error: &'a str,
    address: &'a str,
}

async fn login_page(portal: web::Data<Portal>, request: HttpRequest) -> HttpResponse {
    let result = async {
        if let Ok(Some((_, session))) = portal.session(&request).await {
            if !session.second_factor_pending {
                return Ok(redirect("/account"));
            }
        }
        let token = random_token()?;
        let html = LoginPage { t: texts(&request), logged_in: false, csrf: &token, error: "", address: "" }.render()?;
        let mut response = page(actix_web::http::StatusCode::OK, html, &request);
        response.add_cookie(&cookie(LOGIN_COOKIE, token))?;
        Ok(response)
    }
    .await;
    answer(&request, result)
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    csrf: String,
    address: String,
    password: String,
}

async fn login(portal: web::Data<Portal>, request: HttpRequest, form: web::Form<LoginForm>) -> HttpResponse {
    let result = async {
        let t = texts(&request);
        let bound = request.cookie(LOGIN_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
        if bound.is_empty() || !same(&bound, &form.csrf) {
            return Err(PortalError::Forged);
        }
        let now = portal.now();
        let from = source(&request);
        let address = form.address.trim().to_ascii_lowercase();
        let refuse = |error: &str, status| -> Result<HttpResponse, PortalError> {
            let html = LoginPage { t, logged_in: false, csrf: &form.csrf, error, address: &form.address }.render()?;
            Ok(page(status, html, &request))
        };
        if portal.logins.is_locked(&from, &address, now) {
            return refuse(t.throttled, actix_web::http::StatusCode::TOO_MANY_REQUESTS);
        }
        let account = Address::parse(&address).ok().and_then(|a| portal.store.account_by_address(&a).ok().flatten());
        let stored = account.as_ref().map(|a| a.password_hash.clone());
        let verified = portal.check_password(stored, form.password.clone()).await;
        let account = match account {
            Some(account) if verified => account,
            _ => {
                portal.logins.failed(&from, &address, now);
                return refuse(t.bad_login, actix_web::http::StatusCode::UNAUTHORIZED);
            }
        };
        let token = random_token()?;
        let session = WebSession {
            account: account.id,
            created_at: now,
            last_seen: now,
            csrf: random_token()?,
            second_factor_pending: true,
            source: from,
        };
        portal.store.put_session(token_hash(&token), Some(session)).await?;
        let mut response = redirect("/login/second-factor");
        response.add_cookie(&cookie(SESSION_COOKIE, token))?;
        response.add_removal_cookie(&expired(LOGIN_COOKIE))?;
        Ok(response)
    }
    .await;
    answer(&request, result)
}

struct Enrolment {
    qr_svg: String,
    secret_base32: String,
    uri: String,
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage<'a> {
    t: &'static Texts,
    logged_in: bool,
    csrf: &'a str,
    error: &'a str,
    enrolment: Option<Enrolment>,
}

/// The second-factor page: enrolment (a new seed, shown as a QR code and an otpauth URI)
/// until a first code confirms it, then the code form.
async fn second_factor_view(
    portal: &Portal,
    request: &HttpRequest,
    session: &WebSession,
    error: &str,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, PortalError> {
    let account = portal.store.account(session.account)?.ok_or(PortalError::Login)?;
    let mut record = portal.store.portal(account.id)?;
    let enrolment = if record.totp_enrolled_at.is_none() {
        let secret = match &record.totp_sealed {
            Some(sealed) => portal.store.open_secret(sealed)?,
            None => {
                let mut secret = vec![0u8; 20];
                SystemRandom::new().fill(&mut secret).map_err(|_| PortalError::Internal("no randomness".into()))?;
                record.totp_sealed = Some(portal.store.seal_secret(secret.clone())?);
                portal.store.put_portal(account.id, record.clone(), None).await?;
                secret
            }
        };
        let generator = totp(secret, account.address.as_str())?;
        let uri = generator.to_url().map_err(|e| PortalError::Internal(format!("{e:?}")))?;
        let qr = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| PortalError::Internal(e.to_string()))?;
        let qr_svg = qr.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build();
        Some(Enrolment { qr_svg, secret_base32: generator.secret().to_base32(), uri })
    } else {
        None
    };
    let html =
        SecondFactorPage { t: texts(request), logged_in: false, csrf: &session.csrf, error, enrolment }.render()?;
    Ok(page(status, html, request))
}

async fn second_factor_page(portal: web::Data<Portal>, request: HttpRequest) -> HttpResponse {
    let result = async {
        let (_, session) = portal.session(&request).await?.ok_or(PortalError::Login)?;
        if !session.second_factor_pending {
            return Ok(redirect("/account"));
        }
        second_factor_view(&portal, &request, &session, "", actix_web::http::StatusCode::OK).await
    }
    .await;
    answer(&request, result)
}

#[derive(Debug, Deserialize)]
struct CodeForm {
    csrf: String,
    code: String,
}

#[derive(Template)]
#[template(path = "recovery.html")]
struct RecoveryPage<'a> {
    t: &'static Texts,
    logged_in: bool,
    csrf: &'a str,
    codes: Vec<String>,
}

async fn second_factor(portal: web::Data<Portal>, request: HttpRequest, form: web::Form<CodeForm>) -> HttpResponse {
    let result = async {
        let t = texts(&request);
        let (old_hash, session) = portal.session(&request).await?.ok_or(PortalError::Login)?;
        if !session.second_factor_pending {
            return Ok(redirect("/account"));
        }
        check_csrf(&session, &form.csrf)?;
        let account = portal.store.account(session.account)?.ok_or(PortalError::Login)?;
        let now = portal.now();
        let from = source(&request);
        let address = account.address.to_string();
        if portal.logins.is_locked(&from, &address, now) {
            let status = actix_web::http::StatusCode::TOO_MANY_REQUESTS;
            return second_factor_view(&portal, &request, &session, t.throttled, status).await;
        }
        let mut record = portal.store.portal(account.id)?;
        let code: String = form.code.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        let secret = match &record.totp_sealed {
            Some(sealed) => portal.store.open_secret(sealed)?,
            None => {
                return second_factor_view(&portal, &request, &session, t.bad_code, actix_web::http::StatusCode::OK)
                    .await
            }
        };
        let generator = totp(secret, &address)?;
        let step = generator.check(&code, unix_seconds(now)).filter(|step| *step > record.totp_last_step);
        let recovery = token_hash(&code.to_ascii_uppercase());
        let used_recovery = record.totp_enrolled_at.is_some() && record.recovery_hashes.contains(&recovery);
        if step.is_none() && !used_recovery {
            portal.logins.failed(&from, &address, now);
            let status = actix_web::http::StatusCode::UNAUTHORIZED;
            return second_factor_view(&portal, &request, &session, t.bad_code, status).await;
        }
        portal.logins.succeeded(&address);
        let mut new_codes = Vec::new();
        if let Some(step) = step {
            record.totp_last_step = step;
        }
        if used_recovery {
            record.recovery_hashes.retain(|h| *h != recovery);
        }
        let enrolling = record.totp_enrolled_at.is_none();
        if enrolling {
            record.totp_enrolled_at = Some(now);
            for _ in 0..RECOVERY_CODES {
                let mut bytes = [0u8; 8];
                SystemRandom::new().fill(&mut bytes).map_err(|_| PortalError::Internal("no randomness".into()))?;
                let code: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
                record.recovery_hashes.push(token_hash(&code));
                new_codes.push(code);
            }
        }
        let audit = portal.draft(
            &account,
            &request,
            if enrolling { "create" } else { "update" },
            "second factor",
            if enrolling {
                "TOTP enrolled, recovery codes issued".into()
            } else if used_recovery {
                format!("recovery code used, {} left", record.recovery_hashes.len())
            } else {
                "login".into()
            },
        );
        portal.store.put_portal(account.id, record, Some(audit)).await?;
        // A new token for the full session: one seen before the second factor is worth
        // nothing after it.
        let token = random_token()?;
        let full = WebSession { second_factor_pending: false, last_seen: now, csrf: random_token()?, ..session };
        portal.store.put_session(old_hash, None).await?;
        portal.store.put_session(token_hash(&token), Some(full.clone())).await?;
        let mut response = if enrolling {
            let html = RecoveryPage { t, logged_in: true, csrf: &full.csrf, codes: new_codes }.render()?;
            page(actix_web::http::StatusCode::OK, html, &request)
        } else {
            redirect("/account")
        };
        response.add_cookie(&cookie(SESSION_COOKIE, token))?;
        Ok(response)
    }
    .await;
    answer(&request, result)
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(portal: web::Data<Portal>, request: HttpRequest, form: web::Form<CsrfForm>) -> HttpResponse {
    let result = async {
        if let Some((hash, session)) = portal.session(&request).await? {
            check_csrf(&session, &form.csrf)?;
            portal.store.put_session(hash, None).await?;
        }
        let mut response = redirect("/login");
        response.add_removal_cookie(&expired(SESSION_COOKIE))?;
        Ok(response)
    }
    .await;
    answer(&request, result)
}

// ---- the account ----

struct KeyRow {
    edition: u32,
    fingerprint: String,
    status: String,
    expires: String,
}

struct AccountView {
    address: String,
    name: String,
    contact_email: String,
    used_text: String,
    used_percent: u64,
    messages: u64,
    last_collection: String,
    state: String,
    keys: Vec<KeyRow>,
    /// One line for each edition in use that expires within 30 days.
    keys_warnings: Vec<String>,
    red_list: bool,
    publish_phone: bool,
    dematerialisation: bool,
    preferences_set: String,
    connections: Vec<(String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    t: &'static Texts,
    logged_in: bool,
    csrf: &'a str,
    notice: &'a str,
    error: &'a str,
    view: AccountView,
}

fn account_view(portal: &Portal, account: &Account, t: &Texts) -> Result<AccountView, PortalError> {
    let store = &portal.store;
    let now = portal.now();
    let state = store.account_state(account.id)?;
    let entry = store.directory_entry(account.id)?;
    let mb = |bytes: u64| bytes as f64 / 1_000_000.0;
    let used_percent = (account.used_bytes.saturating_mul(100) / account.quota_bytes.max(1)).min(100);
    let state_text = match (&state.disabled, &state.blocked, &state.closed_at) {
        (_, _, Some(_)) => "closed".to_owned(),
        (Some(reason), _, _) => format!("{reason:?}").to_lowercase(),
        (_, Some(blocked), _) => blocked.reason.clone(),
        _ => t.state_ok.to_owned(),
    };
    let editions = store.certificates(account.id)?;
    let keys_warnings = keyvault::expiry_warnings(&editions, now)
        .into_iter()
        .map(|w| {
            let expire = t
                .keys_expire
                .replace("{edition}", &w.edition.to_string())
                .replace("{date}", &keyvault::iso_date(w.expires_at))
                .replace("{days}", &w.days_left.to_string());
            let then = match w.successor {
                Some(next) => t.keys_taken_over.replace("{next}", &next.to_string()),
                None => t.keys_not_renewed.to_owned(),
            };
            format!("{expire} {then}")
        })
        .collect();
    let keys = editions
        .iter()
        .rev()
        .map(|c| KeyRow {
            edition: c.edition,
            fingerprint: c.fingerprint.clone(),
            status: format!("{:?}", c.status(now)).to_lowercase(),
            expires: keyvault::iso_date(c.expires_at),
        })
        .collect();
    let preferences_set = [entry.red_list.set_at, entry.publish_phone.set_at, entry.dematerialisation.set_at]
        .into_iter()
        .flatten()
        .max()
        .map(|at| format!("{}: {}", t.preferences_set_at, date_time(at)))
        .unwrap_or_default();
    let connections = store
        .connections_of(account.address.as_str(), 20)?
        .into_iter()
        .map(|c| (date_time(c.started_at), format!("{:?}", c.protocol), c.peer, c.outcome))
        .collect();
    Ok(AccountView {
        address: account.address.to_string(),
        name: format!("{} {}", account.first_name, account.last_name),
        contact_email: account.contact_email.clone(),
        used_text: format!("{:.2} MB / {:.0} MB ({used_percent} %)", mb(account.used_bytes), mb(account.quota_bytes)),
        used_percent,
        messages: account.message_count,
        last_collection: account.last_collection.map_or_else(|| t.never.to_owned(), date_time),
        state: state_text,
        keys,
        keys_warnings,
        red_list: entry.red_list.value,
        publish_phone: entry.publish_phone.value,
        dematerialisation: entry.dematerialisation.value,
        preferences_set,
        connections,
    })
}

#[derive(Debug, Deserialize)]
struct NoticeQuery {
    done: Option<String>,
}

async fn account_page(portal: web::Data<Portal>, request: HttpRequest, query: web::Query<NoticeQuery>) -> HttpResponse {
    let result = async {
        let t = texts(&request);
        let user = portal.user(&request, true).await?;
        let view = account_view(&portal, &user.account, t)?;
        portal.audit(&user.account, &request, "read", "account page", String::new()).await;
        let notice = match query.done.as_deref() {
            Some("saved") => t.saved,
            Some("password") => t.password_changed,
            Some("request") => t.request_filed,
            _ => "",
        };
        let error = if query.done.as_deref() == Some("password-refused") { t.password_refused } else { "" };
        let html = AccountPage { t, logged_in: true, csrf: &user.session.csrf, notice, error, view }.render()?;
        Ok(page(actix_web::http::StatusCode::OK, html, &request))
    }
    .await;
    answer(&request, result)
}

#[derive(Debug, Deserialize)]
struct PreferencesForm {
    csrf: String,
    red_list: Option<String>,
    publish_phone: Option<String>,
    dematerialisation: Option<String>,
}

async fn preferences(
    portal: web::Data<Portal>,
    request: HttpRequest,
    form: web::Form<PreferencesForm>,
) -> HttpResponse {
    let result = async {
        let user = portal.user(&request, true).await?;
        check_csrf(&user.session, &form.csrf)?;
        let fields = crate::directory::DirectoryFields {
            red_list: Some(form.red_list.is_some()),
            publish_phone: Some(form.publish_phone.is_some()),
            dematerialisation: Some(form.dematerialisation.is_some()),
            ..crate::directory::DirectoryFields::default()
        };
        let before = portal.store.directory_entry(user.account.id)?;
        let after =
            fields.apply(before, portal.now()).map_err(|problems| PortalError::Internal(problems.join("; ")))?;
        let detail = format!(
            "red list {}, phone publication {}, dematerialisation {}",
            after.red_list.value, after.publish_phone.value, after.dematerialisation.value
        );
        let audit = portal.draft(&user.account, &request, "update", "directory preferences", detail);
        portal.store.put_directory(user.account.id, after, audit).await?;
        Ok(redirect("/account?done=saved"))
    }
    .await;
    answer(&request, result)
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
}

async fn change_password(
    portal: web::Data<Portal>,
    request: HttpRequest,
    form: web::Form<PasswordForm>,
) -> HttpResponse {
    let result = async {
        let user = portal.user(&request, true).await?;
        check_csrf(&user.session, &form.csrf)?;
        let now = portal.now();
        let from = source(&request);
        let address = user.account.address.to_string();
        if portal.logins.is_locked(&from, &address, now) {
            return Ok(redirect("/account?done=password-refused"));
        }
        let verified = portal.check_password(Some(user.account.password_hash.clone()), form.current.clone()).await;
        if !verified || form.new.chars().count() < PASSWORD_CHARS_MIN {
            if !verified {
                portal.logins.failed(&from, &address, now);
            }
            return Ok(redirect("/account?done=password-refused"));
        }
        let new = form.new.clone();
        let hash = tokio::task::spawn_blocking(move || caducee_storage::hash_password(&new))
            .await
            .map_err(|e| PortalError::Internal(e.to_string()))??;
        let audit = portal.draft(&user.account, &request, "update", "password", String::new());
        // This browser stays signed in; every other session of the account ends.
        portal.store.set_password(user.account.id, hash, Some(user.token), audit).await?;
        let mut record = portal.store.portal(user.account.id)?;
        record.password_changed_at = Some(now);
        portal.store.put_portal(user.account.id, record, None).await?;
        Ok(redirect("/account?done=password"))
    }
    .await;
    answer(&request, result)
}

#[derive(Debug, Deserialize)]
struct RequestForm {
    csrf: String,
    kind: String,
    text: String,
}

async fn file_request(portal: web::Data<Portal>, request: HttpRequest, form: web::Form<RequestForm>) -> HttpResponse {
    let result = async {
        let user = portal.user(&request, true).await?;
        check_csrf(&user.session, &form.csrf)?;
        if !["rectification", "erasure", "limitation", "objection"].contains(&form.kind.as_str()) {
            return Err(PortalError::NotFound);
        }
        let text: String = form.text.chars().take(REQUEST_TEXT_CHARS_MAX).collect();
        let filed = RightsRequest {
            seq: 0,
            account: user.account.id.0,
            address: user.account.address.to_string(),
            kind: form.kind.clone(),
            text,
            at: portal.now(),
            closed_at: None,
        };
        let audit = portal.draft(&user.account, &request, "create", "data-protection request", form.kind.clone());
        portal.store.file_request(filed, audit).await?;
        Ok(redirect("/account?done=request"))
    }
    .await;
    answer(&request, result)
}

// ---- quality ----

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

async fn quality_page(portal: web::Data<Portal>, request: HttpRequest) -> HttpResponse {
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
                    format!("{:.2}", w.mean),
                    format!("{:.2}", w.p50),
                    format!("{:.2}", w.p90),
                    format!("{:.2}", w.p99),
                )
            })
            .collect();
        let load = format!("{:.2} {:.2} {:.2}", report.load_average[0], report.load_average[1], report.load_average[2]);
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

// ---- data rights ----

/// Everything the relay holds about the user (SPEC R-PORTAL-3), as one JSON document.
fn personal_data(portal: &Portal, account: &Account) -> Result<serde_json::Value, PortalError> {
    let store = &portal.store;
    let certificates: Vec<_> = store
        .certificates(account.id)?
        .iter()
        .map(|c| keyvault::describe(c, portal.now()))
        .collect::<Result<_, _>>()
        .map_err(|e| PortalError::Internal(e.to_string()))?;
    let requests: Vec<RightsRequest> = store.requests()?.into_iter().filter(|r| r.account == account.id.0).collect();
    Ok(serde_json::json!({
        "account": {
            "address": account.address.as_str(),
            "first_name": account.first_name,
            "last_name": account.last_name,
            "contact_email": account.contact_email,
            "created_at": account.created_at,
            "quota_bytes": account.quota_bytes,
            "used_bytes": account.used_bytes,
            "messages_waiting": account.message_count,
            "last_collection": account.last_collection,
            "delete_on_retrieve": account.delete_on_retrieve,
        },
        "state": store.account_state(account.id)?,
        "directory_entry": store.directory_entry(account.id)?,
        "certificates": certificates,
        "personal_space": store.portal(account.id)?,
        "data_protection_requests": requests,
        "connections": store.connections_of(account.address.as_str(), 1000)?,
        // What became of the messages sent and received: metadata only, never content.
        "message_trails": store.trails_involving(account.address.as_str(), 1000)?,
    }))
}

async fn data_json(portal: web::Data<Portal>, request: HttpRequest) -> HttpResponse {
    let result = async {
        let user = portal.user(&request, true).await?;
        let data = personal_data(&portal, &user.account)?;
        portal.audit(&user.account, &request, "export", "personal data", "JSON download".into()).await;
        Ok(HttpResponse::Ok()
            .content_type("application/json")
            .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"caducee-personal-data.json\""))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(serde_json::to_vec_pretty(&data).map_err(|e| PortalError::Internal(e.to_string()))?))
    }
    .await;
    answer(&request, result)
}

#[derive(Template)]
#[template(path = "data.html")]
struct DataPage<'a> {
    t: &'static Texts,
    logged_in: bool,
    csrf: &'a str,
    sections: Vec<(String, Vec<(String, String)>)>,
}

/// The same data, flattened into readable rows.
fn flatten(prefix: &str, value: &serde_json::Value, rows: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten(&name, value, rows);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{}]", i + 1), item, rows);
            }
        }
        serde_json::Value::Null => {}
        serde_json::Value::String(text) => rows.push((prefix.to_owned(), text.clone())),
        other => rows.push((prefix.to_owned(), other.to_string())),
    }
}

async fn data_page(portal: web::Data<Portal>, request: HttpRequest) -> HttpResponse {
    let result = async {
        let user = portal.user(&request, true).await?;
        let data = personal_data(&portal, &user.account)?;
        let mut sections = Vec::new();
        if let serde_json::Value::Object(map) = &data {
            for (name, value) in map {
                let mut rows = Vec::new();
                flatten("", value, &mut rows);
                sections.push((name.replace('_', " "), rows));
            }
        }
        portal.audit(&user.account, &request, "read", "personal data", "page".into()).await;
        let html = DataPage { t: texts(&request), logged_in: true, csrf: &user.session.csrf, sections }.render()?;
        Ok(page(actix_web::http::StatusCode::OK, html, &request))
    }
    .await;
    answer(&request, result)
}

async fn certificate(portal: web::Data<Portal>, request: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let result = async {
        let user = portal.user(&request, true).await?;
        let fingerprint = file.trim_end_matches(".asc");
        let record = portal
            .store
            .certificates(user.account.id)?
            .into_iter()
            .find(|c| c.fingerprint == fingerprint)
            .ok_or(PortalError::NotFound)?;
        let armored = keyvault::armored(&record).map_err(|e| PortalError::Internal(e.to_string()))?;
        Ok(HttpResponse::Ok()
            .content_type("application/pgp-keys")
            .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{fingerprint}.asc\"")))
            .body(armored))
    }
    .await;
    answer(&request, result)
}

// ---- terms of use ----

#[derive(Template)]
#[template(path = "terms.html")]
struct TermsPage<'a> {
    t: &'static Texts,
    logged_in: bool,
    csrf: &'a str,
    terms: Option<caducee_storage::TermsOfUse>,
    published: String,
    accepted: bool,
    history: Vec<(u32, String)>,
}

async fn terms_page(portal: web::Data<Portal>, request: HttpRequest) -> HttpResponse {
    let result = async {
        let user = portal.user(&request, false).await?;
        let terms = portal.store.terms()?;
        let record = portal.store.portal(user.account.id)?;
        let accepted = terms.as_ref().is_some_and(|t| record.terms_accepted.iter().any(|(v, _)| *v == t.version));
        let html = TermsPage {
            t: texts(&request),
            logged_in: true,
            csrf: &user.session.csrf,
            published: terms.as_ref().map(|t| date_time(t.published_at)).unwrap_or_default(),
            terms,
            accepted,
            history: record.terms_accepted.iter().map(|(v, at)| (*v, date_time(*at))).collect(),
        }
        .render()?;
        Ok(page(actix_web::http::StatusCode::OK, html, &request))
    }
    .await;
    answer(&request, result)
}

#[derive(Debug, Deserialize)]
struct AcceptForm {
    csrf: String,
    version: u32,
}

async fn accept_terms(portal: web::Data<Portal>, request: HttpRequest, form: web::Form<AcceptForm>) -> HttpResponse {
    let result = async {
        let user = portal.user(&request, false).await?;
        check_csrf(&user.session, &form.csrf)?;
        let terms = portal.store.terms()?.ok_or(PortalError::NotFound)?;
        if terms.version != form.version {
            return Ok(redirect("/terms")); // a newer version was published meanwhile
        }
        let mut record: PortalRecord = portal.store.portal(user.account.id)?;
        if !record.terms_accepted.iter().any(|(v, _)| *v == terms.version) {
            record.terms_accepted.push((terms.version, portal.now()));
            let audit = portal.draft(
                &user.account,
                &request,
                "update",
                "terms of use acceptance",
                format!("version {}", terms.version),
            );
            portal.store.put_portal(user.account.id, record, Some(audit)).await?;
        }
        Ok(redirect("/account"))
    }
    .await;
    answer(&request, result)
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

    #[test]
    fn personal_data_flattens_into_rows() {
        let mut rows = Vec::new();
        flatten("", &serde_json::json!({"a": {"b": 1, "c": ["x", "y"]}, "d": null}), &mut rows);
        assert_eq!(
            rows,
            vec![("a.b".into(), "1".into()), ("a.c[1]".into(), "x".into()), ("a.c[2]".into(), "y".into())]
        );
    }
}
