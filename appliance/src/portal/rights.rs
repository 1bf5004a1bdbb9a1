//! Data rights (SPEC R-PORTAL-3): everything the relay holds about the user, as a page and
//! as a JSON download, and the data-protection requests a user files.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use caducee_actors::keyvault;
use caducee_storage::{Account, AuditAction, RightsRequest};
use serde::Deserialize;

use super::{
    answer, check_csrf, date_time, page, readable, redirect, texts, Portal, PortalError, REQUEST_TEXT_CHARS_MAX,
};
use crate::portal::text::Texts;

#[derive(Debug, Deserialize)]
pub(super) struct RequestForm {
    csrf: String,
    kind: String,
    text: String,
}

pub(super) async fn file_request(
    portal: web::Data<Portal>,
    request: HttpRequest,
    form: web::Form<RequestForm>,
) -> HttpResponse {
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
        let audit =
            portal.draft(&user.account, &request, AuditAction::Create, "data-protection request", form.kind.clone());
        portal.store.file_request(filed, audit).await?;
        Ok(redirect("/account?done=request"))
    }
    .await;
    answer(&request, result)
}

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
        "connections": store.connections_of(account.address.as_str(), account.created_at, 1000)?,
        // What became of the messages sent and received: metadata only, never content.
        // Recipients in other operators' domains: which operator took each, when, its reply.
        "message_trails": store
            .trails_involving(account.address.as_str(), account.created_at, 1000)?
            .into_iter()
            .map(|trail| {
                let federation = store.federation_trail(trail.message)?;
                Ok(caducee_admin_protocol::TrailView { trail, federation })
            })
            .collect::<Result<Vec<_>, caducee_storage::StoreError>>()?,
    }))
}

pub(super) async fn data_json(portal: web::Data<Portal>, request: HttpRequest) -> HttpResponse {
    let result = async {
        let user = portal.user(&request, true).await?;
        let data = personal_data(&portal, &user.account)?;
        portal.audit(&user.account, &request, AuditAction::Export, "personal data", "JSON download".into()).await;
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
    sections: Vec<readable::Section>,
}

pub(super) async fn data_page(portal: web::Data<Portal>, request: HttpRequest) -> HttpResponse {
    let result = async {
        let t = texts(&request);
        let user = portal.user(&request, true).await?;
        let data = personal_data(&portal, &user.account)?;
        let when = |millis: u64| date_time(&portal, t, caducee_storage::Millis(millis));
        let sections = readable::sections(t, &data, &when);
        portal.audit(&user.account, &request, AuditAction::Read, "personal data", "page".into()).await;
        let html = DataPage { t, logged_in: true, csrf: &user.session.csrf, sections }.render()?;
        Ok(page(actix_web::http::StatusCode::OK, html, &request))
    }
    .await;
    answer(&request, result)
}
