//! `POST /keys/submit`: a practice publishes keys it generated itself (`caducee client
//! keygen`), so that the relay never holds their secret parts. The practice software logs
//! in with the account's address and password (HTTP Basic over TLS, the login check and
//! throttle of every door), and sends its public certificate; the relay checks it (the
//! account's address in every user ID, alive, expiring within the yearly policy, signing and
//! encryption keys), certifies it with its own key and publishes it as the account's next
//! edition. The answer is JSON: the edition, its fingerprint and expiry, and the certified
//! certificate.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use caducee_actors::keyvault::{self, Submitted};
use caducee_actors::login::Login;
use caducee_storage::{AuditAction, Millis};
use sequoia_openpgp::parse::Parse as _;
use sequoia_openpgp::serialize::SerializeInto as _;

use super::{source, Portal};

/// What key submission needs beside the personal space: the relay's key and its yearly
/// policy.
#[derive(Clone)]
pub struct SubmittedKeys {
    pub relay_key: std::sync::Arc<caducee_actors::relay_key::RelayKey>,
    /// Within this many days of the year's end, keys may run to the end of next year.
    pub next_year_within_days: u64,
}

/// A JSON error with its HTTP status: practice software shows `error` to its user.
fn refusal(status: StatusCode, error: &str) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({ "error": error }))
}

pub(super) async fn submit_certificate(
    portal: web::Data<Portal>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Some(keys) = &portal.keys else {
        return refusal(StatusCode::SERVICE_UNAVAILABLE, "this relay certifies no submitted keys");
    };
    let Some((address, password)) = basic_credentials(&request) else {
        return HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Basic realm=\"Caducee\", charset=\"UTF-8\""))
            .json(serde_json::json!({ "error": "log in with the account's address and password" }));
    };
    let now = portal.now();
    let account = match portal.door().log_in(&source(&request), &address, password, now).await {
        Login::Ok(account) => account,
        Login::Throttled { retry_minutes } => {
            return refusal(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("too many failed logins; try again in {retry_minutes} minutes"),
            )
        }
        Login::Failed => return refusal(StatusCode::UNAUTHORIZED, "wrong address or password"),
    };
    match publish(&portal, keys, &account, &request, &body, now).await {
        Ok(reply) => HttpResponse::Created().json(reply),
        Err(Refused::Certificate(why)) => refusal(StatusCode::UNPROCESSABLE_ENTITY, &why),
        Err(Refused::Internal(why)) => {
            tracing::error!(error = %why, "publishing a submitted certificate");
            refusal(StatusCode::INTERNAL_SERVER_ERROR, "the certificate could not be published; try again later")
        }
    }
}

enum Refused {
    /// What is wrong with the certificate, for the practice.
    Certificate(String),
    Internal(String),
}

/// Checks, certifies and stores the certificate as the account's next edition.
async fn publish(
    portal: &Portal,
    keys: &SubmittedKeys,
    account: &caducee_storage::Account,
    request: &HttpRequest,
    body: &[u8],
    now: Millis,
) -> Result<serde_json::Value, Refused> {
    let internal = |e: &dyn std::fmt::Display| Refused::Internal(e.to_string());
    let editions = portal.store.certificates(account.id).map_err(|e| internal(&e))?;
    let submitted = Submitted {
        account: account.id,
        address: account.address.clone(),
        edition: editions.iter().map(|e| e.edition).max().unwrap_or(0) + 1,
        at: now,
        expires_at_max: keyvault::first_expiry(now, keys.next_year_within_days),
    };
    let record = match keyvault::certify_submitted(body, &submitted, &keys.relay_key) {
        Ok(record) => record,
        Err(keyvault::KeyVaultError::Refused(why)) => return Err(Refused::Certificate(why)),
        Err(error) => return Err(internal(&error)),
    };
    let detail = format!(
        "edition {} submitted by the practice, certified by the relay key: {}",
        record.edition, record.fingerprint
    );
    let audit = portal.draft(account, request, AuditAction::Issue, &format!("keys of {}", account.address), detail);
    let certificate = sequoia_openpgp::Cert::from_bytes(&record.public)
        .and_then(|cert| cert.armored().to_vec())
        .map_err(|e| internal(&e))?;
    let reply = serde_json::json!({
        "edition": record.edition,
        "fingerprint": record.fingerprint.to_string(),
        "expires_at": record.expires_at,
        "certificate": String::from_utf8_lossy(&certificate),
    });
    portal.store.put_certificate(record, audit).await.map_err(|e| internal(&e))?;
    tracing::info!(address = %account.address, edition = %reply["edition"], "practice-made keys published");
    Ok(reply)
}

/// `Authorization: Basic base64(address:password)` (RFC 7617).
fn basic_credentials(request: &HttpRequest) -> Option<(String, String)> {
    let header = request.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = header.strip_prefix("Basic ").or_else(|| header.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (address, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((address.to_owned(), password.to_owned()))
}
