//! The HTTPS listener: OpenPGP key discovery (SPEC R-KEY-5) so that gpg, sq and the
//! practice client find each user's certificate by address.
//!
//! - HKP (draft-gallagher-openpgp-hkp): `GET /pks/lookup?op=get|index|vindex&search=…`,
//!   searching by address, fingerprint or key ID; `options=mr` gives the machine-readable
//!   index.
//! - WKD (draft-koch-openpgp-webkey-service), both methods:
//!   `/.well-known/openpgpkey/hu/<hash>` and `/.well-known/openpgpkey/<domain>/hu/<hash>`,
//!   with their `policy` files.
//!
//! What is served: each edition with its revocation if revoked, so that a client that knew
//! the old key learns it is revoked; WKD leaves out expired editions.

use std::sync::Arc;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use caducee_actors::clock::Clock;
use caducee_actors::keyvault;
use caducee_storage::{CertificateRecord, CertificateStatus, Store};

#[derive(Clone)]
struct State {
    store: Store,
    clock: Arc<dyn Clock>,
    directory: Arc<crate::directory::DirectoryCache>,
}

/// Starts the HTTPS server on `listener`; returns its handle for shutdown.
pub fn start(
    listener: std::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    store: Store,
    clock: Arc<dyn Clock>,
    directory: Arc<crate::directory::DirectoryCache>,
    portal: crate::portal::Portal,
) -> anyhow::Result<actix_web::dev::ServerHandle> {
    let state = web::Data::new(State { store, clock, directory });
    let portal = web::Data::new(portal);
    let mut tls = (*tls).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(portal.clone())
            // Forms are small; anything larger is refused before it is read.
            .app_data(web::FormConfig::default().limit(16 * 1024))
            .configure(crate::portal::routes)
            .route(
                "/",
                web::get().to(|| async { HttpResponse::SeeOther().insert_header(("Location", "/account")).finish() }),
            )
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add(("Strict-Transport-Security", "max-age=31536000"))
                    .add(("X-Content-Type-Options", "nosniff")),
            )
            // Key discovery is read by any client, web-based ones included; nothing else is
            // shared across origins.
            .service(web::resource("/pks/lookup").wrap(open_to_all()).route(web::get().to(hkp_lookup)))
            .route("/directory", web::get().to(directory_page))
            .route("/directory/search", web::get().to(directory_search))
            .route("/directory.csv", web::get().to(directory_csv))
            .route("/directory.ldif", web::get().to(directory_ldif))
            .service(
                web::scope("/.well-known/openpgpkey")
                    .wrap(open_to_all())
                    .route("/policy", web::get().to(wkd_policy))
                    .route("/hu/{hash}", web::get().to(wkd_direct))
                    .route("/{domain}/policy", web::get().to(wkd_policy))
                    .route("/{domain}/hu/{hash}", web::get().to(wkd_advanced)),
            )
    })
    .workers(2)
    .disable_signals()
    .listen_rustls_0_23(listener, tls)?
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok(handle)
}

fn open_to_all() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new().add(("Access-Control-Allow-Origin", "*"))
}

/// The editions WKD serves: all but the expired ones (a WKD client takes what it gets as
/// the address's keys). HKP serves every edition, expired ones included, so that a
/// signature made last year still finds its key.
fn current(records: Vec<CertificateRecord>, clock: &dyn Clock) -> Vec<CertificateRecord> {
    let now = clock.now();
    records.into_iter().filter(|r| r.status(now) != CertificateStatus::Expired).collect()
}

/// What an HKP `search` names.
#[derive(Debug, PartialEq, Eq)]
enum Search {
    Address(String),
    Fingerprint(Vec<u8>),
    KeyId(Vec<u8>),
}

fn parse_search(search: &str) -> Option<Search> {
    let search = search.trim();
    let hex = search.strip_prefix("0x").or_else(|| search.strip_prefix("0X")).unwrap_or(search);
    let hex_bytes = |text: &str| -> Option<Vec<u8>> {
        if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
    };
    match (hex.len(), hex_bytes(hex)) {
        (40 | 64, Some(bytes)) => return Some(Search::Fingerprint(bytes)),
        (16, Some(bytes)) => return Some(Search::KeyId(bytes)),
        _ => {}
    }
    let address = search.trim_start_matches('<').trim_end_matches('>');
    address.contains('@').then(|| Search::Address(address.to_ascii_lowercase()))
}

fn find(state: &State, search: &Search) -> anyhow::Result<Vec<CertificateRecord>> {
    let store = &state.store;
    let records = match search {
        Search::Address(address) => {
            let Ok(address) = caducee_storage::Address::parse(address) else {
                return Ok(Vec::new());
            };
            match store.account_by_address(&address)? {
                Some(account) => store.certificates(account.id)?,
                None => Vec::new(),
            }
        }
        Search::Fingerprint(fingerprint) => store.certificate_by_fingerprint(fingerprint)?.into_iter().collect(),
        Search::KeyId(id) => {
            let mut records = Vec::new();
            for fingerprint in store.certificate_fingerprints()? {
                let primary = keyvault::names_key(&key_id_handle(id), &fingerprint);
                if primary {
                    records.extend(store.certificate_by_fingerprint(&fingerprint)?);
                }
            }
            records
        }
    };
    Ok(records)
}

fn key_id_handle(id: &[u8]) -> sequoia_openpgp::KeyHandle {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&id[..8]);
    sequoia_openpgp::KeyHandle::KeyID(sequoia_openpgp::KeyID::from_bytes(&bytes))
}

#[derive(Debug, serde::Deserialize)]
struct Lookup {
    op: String,
    search: String,
    options: Option<String>,
}

async fn hkp_lookup(state: web::Data<State>, query: web::Query<Lookup>) -> HttpResponse {
    let Some(search) = parse_search(&query.search) else {
        return HttpResponse::BadRequest()
            .body("search must be an e-mail address, a fingerprint (40 or 64 hex digits) or a key ID (16)\n");
    };
    let records = match find(&state, &search) {
        Ok(records) => records,
        Err(error) => {
            tracing::error!(%error, "key lookup failed");
            return HttpResponse::InternalServerError().body("lookup failed\n");
        }
    };
    if records.is_empty() {
        return HttpResponse::NotFound().body("no certificate matches\n");
    }
    match query.op.as_str() {
        "get" => match keyvault::armored_many(&records) {
            Ok(armored) => HttpResponse::Ok().content_type("application/pgp-keys").body(armored),
            Err(error) => {
                tracing::error!(%error, "armouring certificates failed");
                HttpResponse::InternalServerError().body("lookup failed\n")
            }
        },
        "index" | "vindex" => {
            let machine = query.options.as_deref().is_some_and(|o| o.split(',').any(|o| o == "mr"));
            let now = state.clock.now();
            let mut text = String::new();
            if machine {
                text.push_str(&format!("info:1:{}\n", records.len()));
            }
            for record in &records {
                let flags = match record.status(now) {
                    CertificateStatus::Revoked => "r",
                    CertificateStatus::Expired => "e",
                    _ => "",
                };
                let address = state
                    .store
                    .account(record.account)
                    .ok()
                    .flatten()
                    .map(|a| a.address.to_string())
                    .unwrap_or_default();
                let (created, expires) = (record.created_at.0 / 1000, record.expires_at.0 / 1000);
                if machine {
                    // Ed25519 primary keys: algorithm 22 (EdDSA), 256 bits.
                    text.push_str(&format!("pub:{}:22:256:{created}:{expires}:{flags}\n", record.fingerprint));
                    text.push_str(&format!("uid:%3C{}%3E:{created}:{expires}:{flags}\n", address.replace('@', "%40")));
                } else {
                    text.push_str(&format!(
                        "pub ed25519 {} created {} expires {} {}\nuid <{address}>\n\n",
                        record.fingerprint,
                        keyvault::iso_date(record.created_at),
                        keyvault::iso_date(record.expires_at),
                        if flags == "r" { "[revoked]" } else { "" },
                    ));
                }
            }
            HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(text)
        }
        other => HttpResponse::NotImplemented().body(format!("op={other} is not supported (get, index, vindex)\n")),
    }
}

/// Most entries one search shows; the files hold them all.
const SEARCH_RESULTS_MAX: usize = 200;
/// Longest query accepted.
const QUERY_CHARS_MAX: usize = 200;

#[derive(Debug, serde::Deserialize)]
struct DirectoryQuery {
    #[serde(default)]
    q: String,
    lang: Option<String>,
}

/// The page's words, in French (the default) and English.
#[derive(Debug)]
struct Texts {
    title: &'static str,
    intro: &'static str,
    links: &'static str,
    other_language: &'static str,
    download_csv: &'static str,
    download_ldif: &'static str,
    search_label: &'static str,
    search_help: &'static str,
    search_button: &'static str,
    name: &'static str,
    specialty: &'static str,
    place: &'static str,
    address: &'static str,
    identifier: &'static str,
    key: &'static str,
    refine: &'static str,
}

const FRENCH: Texts = Texts {
    title: "Annuaire des utilisateurs",
    intro: "Les professionnels et structures joignables par cette messagerie sécurisée de santé.",
    links: "Liens",
    other_language: "English",
    download_csv: "Télécharger l'annuaire (CSV)",
    download_ldif: "Télécharger l'annuaire (LDIF)",
    search_label: "Rechercher",
    search_help: "Nom, spécialité, ville, code postal ou numéro RPPS.",
    search_button: "Rechercher",
    name: "Nom",
    specialty: "Spécialité",
    place: "Lieu",
    address: "Adresse sécurisée",
    identifier: "Identifiant",
    key: "Empreinte de la clé",
    refine: "D'autres entrées correspondent : précisez la recherche.",
};

const ENGLISH: Texts = Texts {
    title: "Directory of users",
    intro: "The practitioners and organisations this secure health-messaging relay reaches.",
    links: "Links",
    other_language: "Français",
    download_csv: "Download the directory (CSV)",
    download_ldif: "Download the directory (LDIF)",
    search_label: "Search",
    search_help: "Name, specialty, city, postcode or RPPS number.",
    search_button: "Search",
    name: "Name",
    specialty: "Specialty",
    place: "Place",
    address: "Secure address",
    identifier: "Identifier",
    key: "Key fingerprint",
    refine: "More entries match: refine the search.",
};

#[derive(askama::Template)]
#[template(path = "directory.html")]
struct DirectoryPage<'a> {
    lang: &'static str,
    other_lang: &'static str,
    t: &'static Texts,
    q: &'a str,
    summary: String,
    results: Vec<&'a crate::directory::PublicEntry>,
    truncated: bool,
}

async fn search_view(
    state: &State,
    query: &str,
) -> Result<(Arc<crate::directory::DirectoryView>, Vec<usize>, usize), Box<HttpResponse>> {
    if query.chars().count() > QUERY_CHARS_MAX {
        return Err(Box::new(
            HttpResponse::BadRequest().body(format!("the query is longer than {QUERY_CHARS_MAX} characters\n")),
        ));
    }
    let view = state.directory.view_async().await.map_err(|error| {
        tracing::error!(%error, "reading the directory failed");
        Box::new(HttpResponse::InternalServerError().body("the directory cannot be read now\n"))
    })?;
    // Folded once, not once per entry.
    let folded = crate::directory::fold(query);
    let words: Vec<&str> = folded.split_whitespace().collect();
    let matching: Vec<usize> =
        view.all.iter().enumerate().filter(|(_, e)| !e.red_list && e.matches(&words)).map(|(i, _)| i).collect();
    let total = matching.len();
    Ok((view, matching.into_iter().take(SEARCH_RESULTS_MAX).collect(), total))
}

async fn directory_page(state: web::Data<State>, query: web::Query<DirectoryQuery>) -> HttpResponse {
    use askama::Template as _;
    let english = query.lang.as_deref() == Some("en");
    let (lang, other_lang, t) = if english { ("en", "fr", &ENGLISH) } else { ("fr", "en", &FRENCH) };
    let q = query.q.trim();
    let (view, shown, total) = match search_view(&state, q).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let results: Vec<&crate::directory::PublicEntry> = shown.iter().map(|&i| &view.all[i]).collect();
    let summary = match (english, total) {
        (false, 0) => "Aucune entrée ne correspond.".to_owned(),
        (false, 1) => "1 entrée.".to_owned(),
        (false, n) => format!("{n} entrées."),
        (true, 0) => "No entry matches.".to_owned(),
        (true, 1) => "1 entry.".to_owned(),
        (true, n) => format!("{n} entries."),
    };
    let page = DirectoryPage { lang, other_lang, t, q, summary, truncated: total > results.len(), results };
    match page.render() {
        Ok(html) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            ))
            .insert_header(("Referrer-Policy", "no-referrer"))
            .body(html),
        Err(error) => {
            tracing::error!(%error, "rendering the directory page failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// The JSON API behind the page: the same search, the same entries.
async fn directory_search(state: web::Data<State>, query: web::Query<DirectoryQuery>) -> HttpResponse {
    let (view, shown, total) = match search_view(&state, query.q.trim()).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let entries: Vec<&crate::directory::PublicEntry> = shown.iter().map(|&i| &view.all[i]).collect();
    HttpResponse::Ok().json(serde_json::json!({ "total": total, "entries": entries }))
}

async fn directory_csv(state: web::Data<State>) -> HttpResponse {
    match state.directory.view_async().await.and_then(|view| crate::directory::export_csv(&view)) {
        Ok(bytes) => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header(("Content-Disposition", "attachment; filename=\"directory.csv\""))
            .body(bytes),
        Err(error) => {
            tracing::error!(%error, "exporting the directory failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

async fn directory_ldif(state: web::Data<State>) -> HttpResponse {
    match state.directory.view_async().await {
        Ok(view) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .insert_header(("Content-Disposition", "attachment; filename=\"directory.ldif\""))
            .body(crate::directory::export_ldif(&view)),
        Err(error) => {
            tracing::error!(%error, "exporting the directory failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

async fn wkd_policy() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("")
}

#[derive(Debug, serde::Deserialize)]
struct WkdQuery {
    l: Option<String>,
}

async fn wkd_direct(
    state: web::Data<State>,
    request: HttpRequest,
    hash: web::Path<String>,
    query: web::Query<WkdQuery>,
) -> HttpResponse {
    let host = request.connection_info().host().split(':').next().unwrap_or_default().to_ascii_lowercase();
    wkd(&state, None, &host, &hash, query.l.as_deref())
}

async fn wkd_advanced(
    state: web::Data<State>,
    path: web::Path<(String, String)>,
    query: web::Query<WkdQuery>,
) -> HttpResponse {
    let (domain, hash) = path.into_inner();
    wkd(&state, Some(&domain.to_ascii_lowercase()), "", &hash, query.l.as_deref())
}

/// A WKD lookup: the binary certificates of the account whose local part hashes to `hash`,
/// in `domain` (advanced method) or in any domain the relay serves whose name the request's
/// host ends with (direct method).
fn wkd(state: &State, domain: Option<&str>, host: &str, hash: &str, local: Option<&str>) -> HttpResponse {
    let accounts = match state.store.accounts() {
        Ok(accounts) => accounts,
        Err(error) => {
            tracing::error!(%error, "WKD lookup failed");
            return HttpResponse::InternalServerError().finish();
        }
    };
    let hash = hash.to_ascii_lowercase();
    let found = accounts.into_iter().find(|account| {
        let (account_local, account_domain) = account.address.as_str().split_once('@').unwrap_or_default();
        let domain_matches = match domain {
            Some(domain) => domain == account_domain,
            None => host == account_domain || host.ends_with(&format!(".{account_domain}")) || is_local(host),
        };
        domain_matches && wkd_hash(account_local) == hash && local.is_none_or(|l| l.eq_ignore_ascii_case(account_local))
    });
    let Some(account) = found else {
        return HttpResponse::NotFound().finish();
    };
    let records = match state.store.certificates(account.id) {
        Ok(records) => current(records, state.clock.as_ref()),
        Err(_) => return HttpResponse::InternalServerError().finish(),
    };
    if records.is_empty() {
        return HttpResponse::NotFound().finish();
    }
    let body: Vec<u8> = records.iter().flat_map(|r| r.public.iter().copied()).collect();
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

    #[test]
    fn searches() {
        assert_eq!(parse_search("<a@b.fr>"), Some(Search::Address("a@b.fr".into())));
        assert_eq!(
            parse_search("0x0123456789ABCDEF"),
            Some(Search::KeyId(vec![1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]))
        );
        assert!(matches!(parse_search(&"AB".repeat(20)), Some(Search::Fingerprint(f)) if f.len() == 20));
        assert_eq!(parse_search("nothing"), None);
        // Sixteen characters, but an address.
        assert_eq!(parse_search("alice@relay.test"), Some(Search::Address("alice@relay.test".into())));
        assert_eq!(parse_search("0xZZ23456789ABCDEF"), None);
    }
}
