//! The second factor: TOTP enrolment (a sealed seed shown once as a QR code), the code or
//! recovery-code check, and the new session token that follows.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use caducee_storage::{AuditAction, Millis, PortalRecord, WebSession};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;

use super::{
    answer, check_csrf, cookie, page, random_token, redirect, source, texts, token_hash, totp, unix_seconds, Portal,
    PortalError, RECOVERY_CODES, SESSION_COOKIE,
};
use crate::portal::text::Texts;

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
    status: StatusCode,
) -> Result<HttpResponse, PortalError> {
    let account = portal.store.account(session.account)?.ok_or(PortalError::Login)?;
    let mut record = portal.store.portal(account.id)?;
    let enrolment = if record.totp_enrolled_at.is_none() {
        let secret = match &record.totp_sealed {
            Some(sealed) => portal.store.open_secret(sealed)?,
            None => {
                let mut secret = vec![0u8; 20];
                SystemRandom::new().fill(&mut secret).map_err(|_| PortalError::Internal("no randomness".into()))?;
                record.totp_sealed = Some(portal.store.seal_secret(&secret)?);
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

pub(super) async fn second_factor_page(portal: web::Data<Portal>, request: HttpRequest) -> HttpResponse {
    let result = async {
        let (_, session) = portal.session(&request).await?.ok_or(PortalError::Login)?;
        if !session.second_factor_pending {
            return Ok(redirect("/account"));
        }
        second_factor_view(&portal, &request, &session, "", StatusCode::OK).await
    }
    .await;
    answer(&request, result)
}

#[derive(Debug, Deserialize)]
pub(super) struct CodeForm {
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

/// What a code given at the second factor proved.
enum CodeCheck {
    /// No seed yet: nothing to check the code against.
    NoSeed,
    /// Neither a fresh TOTP code nor an unused recovery code.
    Wrong,
    Passed(Passed),
}

/// A code that passed: the TOTP step it matched, or the recovery code it used up.
struct Passed {
    step: Option<u64>,
    /// The hash of the recovery code used (only once enrolled).
    recovery: Option<[u8; 32]>,
}

pub(super) async fn second_factor(
    portal: web::Data<Portal>,
    request: HttpRequest,
    form: web::Form<CodeForm>,
) -> HttpResponse {
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
            let status = StatusCode::TOO_MANY_REQUESTS;
            return second_factor_view(&portal, &request, &session, t.throttled, status).await;
        }
        let read = portal.store.portal(account.id)?;
        let mut record = read.clone();
        let passed = match check_code(&portal, &record, &form.code, &address, now)? {
            CodeCheck::NoSeed => {
                return second_factor_view(&portal, &request, &session, t.bad_code, StatusCode::OK).await;
            }
            CodeCheck::Wrong => {
                portal.logins.failed(&from, &address, now);
                // The password was right: the user should see this one in "my connections".
                portal.log_login(&session, &address, "second-factor-failed", now).await;
                return second_factor_view(&portal, &request, &session, t.bad_code, StatusCode::UNAUTHORIZED).await;
            }
            CodeCheck::Passed(passed) => passed,
        };
        let enrolling = record.totp_enrolled_at.is_none();
        let new_codes = passed.record(&mut record, now)?;
        let (action, detail) = second_factor_audit(enrolling, &passed, &record);
        let audit = portal.draft(&account, &request, action, "second factor", detail);
        // The code is spent in the same store operation that checks it is still unspent:
        // of two requests carrying one code, the second finds the record changed.
        if !portal.store.swap_portal(account.id, read, record, Some(audit)).await? {
            portal.logins.failed(&from, &address, now);
            return second_factor_view(&portal, &request, &session, t.bad_code, StatusCode::UNAUTHORIZED).await;
        }
        portal.logins.succeeded(&from, &address);
        portal.log_login(&session, &address, "ok", now).await;
        let (token, full) = full_session(&portal, old_hash, session, now).await?;
        let mut response = if enrolling {
            let html = RecoveryPage { t, logged_in: true, csrf: &full.csrf, codes: new_codes }.render()?;
            page(StatusCode::OK, html, &request)
        } else {
            redirect("/account")
        };
        response.add_cookie(&cookie(SESSION_COOKIE, token))?;
        Ok(response)
    }
    .await;
    answer(&request, result)
}

/// Checks `given` (spaces and dashes ignored) as a TOTP code newer than the last one used,
/// or, once enrolled, as one of the recovery codes.
fn check_code(
    portal: &Portal,
    record: &PortalRecord,
    given: &str,
    address: &str,
    now: Millis,
) -> Result<CodeCheck, PortalError> {
    let code: String = given.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    let Some(sealed) = &record.totp_sealed else {
        return Ok(CodeCheck::NoSeed);
    };
    let generator = totp(portal.store.open_secret(sealed)?, address)?;
    let step = generator.check(&code, unix_seconds(now)).filter(|step| *step > record.totp_last_step);
    let recovery = token_hash(&code.to_ascii_uppercase());
    let recovery =
        (record.totp_enrolled_at.is_some() && record.recovery_hashes.contains(&recovery)).then_some(recovery);
    if step.is_none() && recovery.is_none() {
        return Ok(CodeCheck::Wrong);
    }
    Ok(CodeCheck::Passed(Passed { step, recovery }))
}

impl Passed {
    /// Records the code as used (a TOTP step is never accepted twice, a recovery code is
    /// spent); on the first code, completes the enrolment and returns the new recovery codes.
    fn record(&self, record: &mut PortalRecord, now: Millis) -> Result<Vec<String>, PortalError> {
        if let Some(step) = self.step {
            record.totp_last_step = step;
        }
        if let Some(recovery) = self.recovery {
            record.recovery_hashes.retain(|h| *h != recovery);
        }
        let mut new_codes = Vec::new();
        if record.totp_enrolled_at.is_none() {
            record.totp_enrolled_at = Some(now);
            for _ in 0..RECOVERY_CODES {
                let mut bytes = [0u8; 8];
                SystemRandom::new().fill(&mut bytes).map_err(|_| PortalError::Internal("no randomness".into()))?;
                let code: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
                record.recovery_hashes.push(token_hash(&code));
                new_codes.push(code);
            }
        }
        Ok(new_codes)
    }
}

/// The audit action and detail of a second factor passed.
fn second_factor_audit(enrolling: bool, passed: &Passed, record: &PortalRecord) -> (AuditAction, String) {
    if enrolling {
        (AuditAction::Create, "TOTP enrolled, recovery codes issued".into())
    } else if passed.recovery.is_some() {
        (AuditAction::Update, format!("recovery code used, {} left", record.recovery_hashes.len()))
    } else {
        (AuditAction::Update, "login".into())
    }
}

/// Replaces the half-open session by a full one under a new token: a token seen before the
/// second factor is worth nothing after it.
async fn full_session(
    portal: &Portal,
    old_hash: [u8; 32],
    session: WebSession,
    now: Millis,
) -> Result<(String, WebSession), PortalError> {
    let token = random_token()?;
    let full = WebSession { second_factor_pending: false, last_seen: now, csrf: random_token()?, ..session };
    portal.store.put_session(old_hash, None).await?;
    portal.store.put_session(token_hash(&token), Some(full.clone())).await?;
    Ok((token, full))
}
