//! The account page (identity, mailbox usage, keys and their expiry, recent connections),
//! the directory preferences, the password change and the certificate downloads.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use caducee_actors::keyvault;
use caducee_storage::{Account, AuditAction};
use serde::Deserialize;

use super::{answer, check_csrf, date_time, page, redirect, source, texts, Portal, PortalError, PASSWORD_CHARS_MIN};
use crate::directory::ApplyFields as _;
use crate::portal::text::Texts;

struct KeyRow {
    edition: u32,
    fingerprint: String,
    /// The fingerprint in groups of four, as people compare it.
    grouped: String,
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
        (_, _, Some(_)) => t.state_closed.to_owned(),
        (Some((reason, _)), _, _) => t.disabled_reason(reason).to_owned(),
        (_, Some(blocked), _) => format!("{} ({})", t.state_blocked, blocked.reason),
        _ => t.state_ok.to_owned(),
    };
    let editions = store.certificates(account.id)?;
    let keys_warnings = keyvault::expiry_warnings(&editions, now)
        .into_iter()
        .map(|w| {
            let expire = t
                .keys_expire
                .replace("{edition}", &w.edition.to_string())
                .replace("{date}", &date_time(portal, t, w.expires_at))
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
            fingerprint: c.fingerprint.to_string(),
            grouped: super::readable::grouped(c.fingerprint.as_ref()),
            status: t.key_status(c.status(now)).to_owned(),
            expires: date_time(portal, t, c.expires_at),
        })
        .collect();
    let preferences_set = [entry.red_list.set_at, entry.publish_phone.set_at, entry.dematerialisation.set_at]
        .into_iter()
        .flatten()
        .max()
        .map(|at| format!("{}: {}", t.preferences_set_at, date_time(portal, t, at)))
        .unwrap_or_default();
    let connections = store
        .connections_of(account.address.as_str(), account.created_at, 20)?
        .into_iter()
        .map(|c| {
            (
                date_time(portal, t, c.started_at),
                t.protocol_name(c.protocol).to_owned(),
                c.peer,
                t.connection_outcome(&c.outcome),
            )
        })
        .collect();
    Ok(AccountView {
        address: account.address.to_string(),
        name: format!("{} {}", account.first_name, account.last_name),
        contact_email: account.contact_email.clone(),
        used_text: format!(
            "{} / {} ({used_percent} %)",
            t.megabytes(mb(account.used_bytes), 2),
            t.megabytes(mb(account.quota_bytes), 0)
        ),
        used_percent,
        messages: account.message_count,
        last_collection: account.last_collection.map_or_else(|| t.never.to_owned(), |at| date_time(portal, t, at)),
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
pub(super) struct NoticeQuery {
    done: Option<String>,
}

pub(super) async fn account_page(
    portal: web::Data<Portal>,
    request: HttpRequest,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let result = async {
        let t = texts(&request);
        let user = portal.user(&request, true).await?;
        let view = account_view(&portal, &user.account, t)?;
        portal.audit(&user.account, &request, AuditAction::Read, "account page", String::new()).await;
        let notice = match query.done.as_deref() {
            Some("saved") => t.saved,
            Some("password") => t.password_changed,
            Some("request") => t.request_filed,
            _ => "",
        };
        let error = match query.done.as_deref() {
            Some("password-wrong") => t.password_wrong,
            Some("password-short") => t.password_short,
            Some("password-locked") => t.password_locked,
            _ => "",
        };
        let html = AccountPage { t, logged_in: true, csrf: &user.session.csrf, notice, error, view }.render()?;
        Ok(page(actix_web::http::StatusCode::OK, html, &request))
    }
    .await;
    answer(&request, result)
}

#[derive(Debug, Deserialize)]
pub(super) struct PreferencesForm {
    csrf: String,
    red_list: Option<String>,
    publish_phone: Option<String>,
    dematerialisation: Option<String>,
}

pub(super) async fn preferences(
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
        let audit = portal.draft(&user.account, &request, AuditAction::Update, "directory preferences", detail);
        portal.store.put_directory(user.account.id, after, audit).await?;
        Ok(redirect("/account?done=saved"))
    }
    .await;
    answer(&request, result)
}

#[derive(Debug, Deserialize)]
pub(super) struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
}

pub(super) async fn change_password(
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
        // Each refusal says which: the user acts on it.
        if portal.logins.is_locked(&from, &address, now) {
            return Ok(redirect("/account?done=password-locked"));
        }
        if form.new.chars().count() < PASSWORD_CHARS_MIN {
            return Ok(redirect("/account?done=password-short"));
        }
        if !portal.check_password(Some(user.account.password_hash.clone()), form.current.clone()).await {
            portal.logins.failed(&from, &address, now);
            return Ok(redirect("/account?done=password-wrong"));
        }
        let new = form.new.clone();
        let hash = tokio::task::spawn_blocking(move || caducee_storage::hash_password(&new))
            .await
            .map_err(|e| PortalError::Internal(e.to_string()))??;
        let audit = portal.draft(&user.account, &request, AuditAction::Update, "password", String::new());
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

pub(super) async fn certificate(
    portal: web::Data<Portal>,
    request: HttpRequest,
    file: web::Path<String>,
) -> HttpResponse {
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
