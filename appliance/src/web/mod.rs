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
//!
//! The same listener serves the personal space ([`crate::portal`]) and the public directory
//! (`directory`: the page, its JSON search, its files); `hkp` and `wkd` are the two key
//! discovery protocols. `limits` caps the connections open at once, in all and per address.

mod directory;
mod hkp;
mod limits;
mod wkd;

use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use caducee_actors::clock::Clock;
use caducee_storage::Store;

#[derive(Clone)]
struct State {
    store: Store,
    clock: Arc<dyn Clock>,
    directory: Arc<crate::directory::DirectoryCache>,
}

/// The HTTPS listener's connection caps.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Connections open at once, in all.
    pub total: usize,
    /// Connections open at once from one address.
    pub per_ip: usize,
}

/// Worker threads of the HTTPS listener.
const WORKERS: usize = 2;

/// Starts the HTTPS server on `listener`; returns its handle for shutdown.
pub fn start(
    listener: std::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    store: Store,
    clock: Arc<dyn Clock>,
    directory: Arc<crate::directory::DirectoryCache>,
    portal: crate::portal::Portal,
    caps: Caps,
) -> anyhow::Result<actix_web::dev::ServerHandle> {
    let per_address = limits::PerAddress::new(caps.per_ip);
    let state = web::Data::new(State { store, clock, directory });
    let portal = web::Data::new(portal);
    let mut tls = (*tls).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(limits::refuse_over_cap))
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
            .service(web::resource("/pks/lookup").wrap(open_to_all()).route(web::get().to(hkp::hkp_lookup)))
            .route("/directory", web::get().to(directory::directory_page))
            .route("/directory/search", web::get().to(directory::directory_search))
            .route("/directory.csv", web::get().to(directory::directory_csv))
            .route("/directory.ldif", web::get().to(directory::directory_ldif))
            .service(
                web::scope("/.well-known/openpgpkey")
                    .wrap(open_to_all())
                    .route("/policy", web::get().to(wkd::wkd_policy))
                    .route("/hu/{hash}", web::get().to(wkd::wkd_direct))
                    .route("/{domain}/policy", web::get().to(wkd::wkd_policy))
                    .route("/{domain}/hu/{hash}", web::get().to(wkd::wkd_advanced)),
            )
    })
    .workers(WORKERS)
    // Both caps are per worker.
    .max_connections(caps.total.div_ceil(WORKERS).max(1))
    .max_connection_rate(caps.total.div_ceil(WORKERS).clamp(1, 256))
    .on_connect(move |connection, extensions| per_address.on_connect(connection, extensions))
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
