//! WKD (draft-koch-openpgp-webkey-service), both methods: `/.well-known/openpgpkey/hu/<hash>`
//! and `/.well-known/openpgpkey/<domain>/hu/<hash>`, with their `policy` files.

use actix_web::{web, HttpRequest, HttpResponse};
use caducee_actors::clock::Clock;
use caducee_storage::{CertificateRecord, CertificateStatus};

use super::State;

/// The editions WKD serves: all but the expired ones (a WKD client takes what it gets as
/// the address's keys). HKP serves every edition, expired ones included, so that a
/// signature made last year still finds its key.
fn current(records: Vec<CertificateRecord>, clock: &dyn Clock) -> Vec<CertificateRecord> {
    let now = clock.now();
    records.into_iter().filter(|r| r.status(now) != CertificateStatus::Expired).collect()
}

pub(super) async fn wkd_policy() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("")
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct WkdQuery {
    l: Option<String>,
}

pub(super) async fn wkd_direct(
    state: web::Data<State>,
    request: HttpRequest,
    hash: web::Path<String>,
    query: web::Query<WkdQuery>,
) -> HttpResponse {
    let host = request.connection_info().host().split(':').next().unwrap_or_default().to_ascii_lowercase();
    wkd(&state, None, &host, &hash, query.l.as_deref()).await
}

pub(super) async fn wkd_advanced(
    state: web::Data<State>,
    path: web::Path<(String, String)>,
    query: web::Query<WkdQuery>,
) -> HttpResponse {
    let (domain, hash) = path.into_inner();
    wkd(&state, Some(&domain.to_ascii_lowercase()), "", &hash, query.l.as_deref()).await
}

/// A WKD lookup: the binary certificates of the account whose local part hashes to `hash`,
/// in `domain` (advanced method) or in any domain the relay serves whose name the request's
/// host ends with (direct method); then the relay's own certificates named that way. The
/// account is found in the directory's key index ([`crate::directory::KeyIndex`]), by its
/// hash, not by reading every account.
async fn wkd(state: &State, domain: Option<&str>, host: &str, hash: &str, local: Option<&str>) -> HttpResponse {
    let view = match state.directory.view_async().await {
        Ok(view) => view,
        Err(error) => {
            tracing::error!(%error, "WKD lookup failed");
            return HttpResponse::InternalServerError().finish();
        }
    };
    let hash = hash.to_ascii_lowercase();
    let domain_matches = |name_domain: &str| match domain {
        Some(domain) => domain == name_domain,
        None => host == name_domain || host.ends_with(&format!(".{name_domain}")) || is_local(host),
    };
    let found = view
        .keys
        .by_wkd_hash(&hash)
        .into_iter()
        .find(|name| domain_matches(&name.domain) && local.is_none_or(|l| l.eq_ignore_ascii_case(&name.local)));
    let mut body: Vec<u8> = Vec::new();
    if let Some(name) = found {
        match state.store.certificates(name.account) {
            Ok(records) => {
                body.extend(current(records, state.clock.as_ref()).iter().flat_map(|r| r.public.iter().copied()))
            }
            Err(_) => return HttpResponse::InternalServerError().finish(),
        }
    }
    body.extend(state.relay.wkd(domain_matches, &hash, local, state.clock.now()));
    if body.is_empty() {
        return HttpResponse::NotFound().finish();
    }
    HttpResponse::Ok().content_type("application/octet-stream").body(body)
}

/// A development host (loopback), where the direct method cannot name a domain.
fn is_local(host: &str) -> bool {
    host == "localhost" || host == "127.0.0.1" || host == "[::1]"
}

/// The WKD hash of a local part: SHA-1 of its lower-case form, in z-base-32.
pub fn wkd_hash(local: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, local.to_lowercase().as_bytes());
    zbase32(digest.as_ref())
}

/// z-base-32 (the human-oriented base-32 WKD uses). Written here: no maintained crate
/// carries it, and it is a dozen lines.
fn zbase32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wkd_hash_matches_the_draft_example() {
        // draft-koch-openpgp-webkey-service §3.1: "Joe.Doe" hashes to this.
        assert_eq!(wkd_hash("Joe.Doe"), "iy9q119eutrkn8s1mk4r39qejnbu3n5q");
    }
}
