//! The terms of use: the published version, the user's acceptances, and accepting.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use caducee_storage::{AuditAction, PortalRecord};
use serde::Deserialize;

use super::{answer, check_csrf, date_time, page, redirect, texts, Portal, PortalError};
use crate::portal::text::Texts;

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

pub(super) async fn terms_page(portal: web::Data<Portal>, request: HttpRequest) -> HttpResponse {
    let result = async {
        let user = portal.user(&request, false).await?;
        let terms = portal.store.terms()?;
        let record = portal.store.portal(user.account.id)?;
        let accepted = terms.as_ref().is_some_and(|t| record.terms_accepted.iter().any(|(v, _)| *v == t.version));
        let t = texts(&request);
        let html = TermsPage {
            t,
            logged_in: true,
            csrf: &user.session.csrf,
            published: terms.as_ref().map(|terms| date_time(&portal, t, terms.published_at)).unwrap_or_default(),
            terms,
            accepted,
            history: record.terms_accepted.iter().map(|(v, at)| (*v, date_time(&portal, t, *at))).collect(),
        }
        .render()?;
        Ok(page(actix_web::http::StatusCode::OK, html, &request))
    }
    .await;
    answer(&request, result)
}

#[derive(Debug, Deserialize)]
pub(super) struct AcceptForm {
    csrf: String,
    version: u32,
}

pub(super) async fn accept_terms(
    portal: web::Data<Portal>,
    request: HttpRequest,
    form: web::Form<AcceptForm>,
) -> HttpResponse {
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
                AuditAction::Update,
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
