//! The public directory's page (`/directory`, an askama template), its JSON search and its
//! CSV and LDIF files: the same view, the same search, red-listed entries left out.

use std::sync::Arc;

use actix_web::{web, HttpResponse};

use super::State;

/// Most entries one search shows; the files hold them all.
const SEARCH_RESULTS_MAX: usize = 200;
/// Longest query accepted.
const QUERY_CHARS_MAX: usize = 200;

#[derive(Debug, serde::Deserialize)]
pub(super) struct DirectoryQuery {
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
    phone: &'static str,
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
    place: "Ville",
    phone: "Tél.",
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
    place: "City",
    phone: "Tel.",
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
    results: Vec<crate::directory::PublicEntry>,
    truncated: bool,
    /// Whether any entry shown has a practitioner identifier (else no such column).
    identifiers: bool,
}

impl DirectoryPage<'_> {
    /// A key fingerprint as people read and compare it: groups of four.
    fn grouped(&self, fingerprint: &str) -> String {
        crate::portal::readable::grouped(fingerprint)
    }
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
        view.all.iter().enumerate().filter(|(_, e)| !e.red_list() && e.matches(&words)).map(|(i, _)| i).collect();
    let total = matching.len();
    Ok((view, matching.into_iter().take(SEARCH_RESULTS_MAX).collect(), total))
}

pub(super) async fn directory_page(state: web::Data<State>, query: web::Query<DirectoryQuery>) -> HttpResponse {
    use askama::Template as _;
    let english = query.lang.as_deref() == Some("en");
    let (lang, other_lang, t) = if english { ("en", "fr", &ENGLISH) } else { ("fr", "en", &FRENCH) };
    let q = query.q.trim();
    let (view, shown, total) = match search_view(&state, q).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let results: Vec<crate::directory::PublicEntry> = shown.iter().map(|&i| (&view.all[i]).into()).collect();
    let summary = match (english, total) {
        (false, 0) => "Aucune entrée ne correspond.".to_owned(),
        (false, 1) => "1 entrée.".to_owned(),
        (false, n) => format!("{n} entrées."),
        (true, 0) => "No entry matches.".to_owned(),
        (true, 1) => "1 entry.".to_owned(),
        (true, n) => format!("{n} entries."),
    };
    let identifiers = results.iter().any(|e| e.practitioner_id.is_some());
    let page =
        DirectoryPage { lang, other_lang, t, q, summary, truncated: total > results.len(), results, identifiers };
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
pub(super) async fn directory_search(state: web::Data<State>, query: web::Query<DirectoryQuery>) -> HttpResponse {
    let (view, shown, total) = match search_view(&state, query.q.trim()).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let entries: Vec<crate::directory::PublicEntry> = shown.iter().map(|&i| (&view.all[i]).into()).collect();
    HttpResponse::Ok().json(serde_json::json!({ "total": total, "entries": entries }))
}

pub(super) async fn directory_csv(state: web::Data<State>) -> HttpResponse {
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

pub(super) async fn directory_ldif(state: web::Data<State>) -> HttpResponse {
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
