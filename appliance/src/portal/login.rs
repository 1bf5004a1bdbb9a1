//! Logging in with the password (a cookie-bound anti-forgery token on the form, then the
//! relay's one login check, [`caducee_actors::login::DoorLogin`]: the throttle before the
//! password hash, closed and suspended accounts refused) and logging out.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use caducee_actors::login::Login;
use caducee_storage::WebSession;
use serde::Deserialize;

use super::{
    answer, check_csrf, cookie, expired, page, random_token, redirect, same, source, texts, token_hash, Portal,
    PortalError, LOGIN_COOKIE, SESSION_COOKIE,
};
use crate::portal::text::Texts;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    t: &'static Texts,
    logged_in: bool,
    csrf: &'a str,
    error: &'a str,
    address: &'a str,
    /// The relay's host name: which service this page belongs to.
    relay: &'a str,
}

pub(super) async fn login_page(portal: web::Data<Portal>, request: HttpRequest) -> HttpResponse {
    let result = async {
        if let Ok(Some((_, session))) = portal.session(&request).await {
            if !session.second_factor_pending {
                return Ok(redirect("/account"));
            }
        }
        let token = random_token()?;
        let html = LoginPage {
            t: texts(&request),
            logged_in: false,
            csrf: &token,
            error: "",
            address: "",
            relay: &portal.relay_name,
        }
        .render()?;
        let mut response = page(actix_web::http::StatusCode::OK, html, &request);
        response.add_cookie(&cookie(LOGIN_COOKIE, token))?;
        Ok(response)
    }
    .await;
    answer(&request, result)
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    csrf: String,
    address: String,
    password: String,
}

pub(super) async fn login(portal: web::Data<Portal>, request: HttpRequest, form: web::Form<LoginForm>) -> HttpResponse {
    let result = async {
        let t = texts(&request);
        let bound = request.cookie(LOGIN_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
        if bound.is_empty() || !same(&bound, &form.csrf) {
            return Err(PortalError::Forged);
        }
        let now = portal.now();
        let from = source(&request);
        let refuse = |error: &str, status| -> Result<HttpResponse, PortalError> {
            let html = LoginPage {
                t,
                logged_in: false,
                csrf: &form.csrf,
                error,
                address: &form.address,
                relay: &portal.relay_name,
            }
            .render()?;
            Ok(page(status, html, &request))
        };
        let account = match portal.door().log_in(&from, &form.address, form.password.clone(), now).await {
            Login::Ok(account) => account,
            Login::Throttled { retry_minutes } => {
                let error = t.throttled.replace("{minutes}", &retry_minutes.to_string());
                return refuse(&error, actix_web::http::StatusCode::TOO_MANY_REQUESTS);
            }
            Login::Failed => return refuse(t.bad_login, actix_web::http::StatusCode::UNAUTHORIZED),
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

#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    csrf: String,
}

pub(super) async fn logout(portal: web::Data<Portal>, request: HttpRequest, form: web::Form<CsrfForm>) -> HttpResponse {
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
