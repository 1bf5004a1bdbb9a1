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
//! The relay's own certificates (`relay`: [`Web::relay_certificates`]) are served beside
//! the users', by both protocols, exactly as a user's edition is.
//!
//! The same listener serves the personal space ([`crate::portal`]) and the public directory
//! (`directory`: the page, its JSON search, its files); `hkp` and `wkd` are the two key
//! discovery protocols, which find certificates through the directory's key index
//! ([`crate::directory::KeyIndex`]). `limits` caps the connections open at once, in all and
//! per address, and the rate of anonymous requests per address (key discovery and the
//! directory; the personal space has its own rules).

pub mod autoconfig;
mod directory;
mod hkp;
mod limits;
mod relay;
mod wkd;

use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};
use caducee_actors::clock::Clock;
use caducee_storage::Store;

pub(crate) use wkd::wkd_hash;

#[derive(Clone)]
struct State {
    store: Store,
    clock: Arc<dyn Clock>,
    directory: Arc<crate::directory::DirectoryCache>,
    /// The relay's own certificates, ready for lookups.
    relay: Arc<relay::RelayKeys>,
}

/// The HTTPS listener's caps.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Connections open at once, in all.
    pub total: usize,
    /// Connections open at once from one address.
    pub per_ip: usize,
    /// Requests to the anonymous endpoints one address may make a minute (bursts of as
    /// many); 0 turns the limit off.
    pub requests_per_ip_per_minute: u32,
}

/// What the HTTPS listener serves from.
pub struct Web {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub directory: Arc<crate::directory::DirectoryCache>,
    pub portal: crate::portal::Portal,
    pub caps: Caps,
    /// The certificates the relay publishes for itself (its certification and signing key,
    /// user ID `Caducée <keys@DOMAIN>`), served by WKD and HKP beside the users'; public
    /// parts only are ever served. Empty when the relay publishes none.
    pub relay_certificates: Arc<Vec<sequoia_openpgp::Cert>>,
    /// The mail servers mail clients are configured with (autoconfig).
    pub mail_servers: autoconfig::MailServers,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("caps", &self.caps)
            .field("relay_certificates", &self.relay_certificates.len())
            .finish()
    }
}

/// Worker threads of the HTTPS listener.
const WORKERS: usize = 2;

/// Starts the HTTPS server on `listeners`; returns its handle for shutdown.
pub fn start(
    listeners: Vec<std::net::TcpListener>,
    tls: Arc<rustls::ServerConfig>,
    served: Web,
) -> anyhow::Result<actix_web::dev::ServerHandle> {
    let Web { store, clock, directory, portal, caps, relay_certificates, mail_servers } = served;
    let autoconfig = web::Data::new(autoconfig::Autoconfig(autoconfig::document(&mail_servers)?));
    let per_address = limits::PerAddress::new(caps.per_ip);
    let rate = web::Data::new(limits::RequestRate::new(caps.requests_per_ip_per_minute));
    let relay = Arc::new(relay::RelayKeys::new(&relay_certificates));
    let state = web::Data::new(State { store, clock, directory, relay });
    let portal = web::Data::new(portal);
    let mut tls = (*tls).clone();
    // acme-tls/1: an ACME server validating a name on this port (RFC 8737; see tls/acme.rs).
    tls.alpn_protocols = vec![b"http/1.1".to_vec(), crate::tls::acme::ACME_TLS_ALPN.to_vec()];
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(limits::refuse_over_cap))
            .app_data(state.clone())
            .app_data(rate.clone())
            .app_data(portal.clone())
            .app_data(autoconfig.clone())
            // Forms are small; anything larger is refused before it is read.
            .app_data(web::FormConfig::default().limit(16 * 1024).error_handler(crate::portal::form_error))
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
            .configure(anonymous_routes)
            .default_service(web::to(crate::portal::not_found_page))
    })
    .workers(WORKERS)
    // Both caps are per worker.
    .max_connections(caps.total.div_ceil(WORKERS).max(1))
    .max_connection_rate(caps.total.div_ceil(WORKERS).clamp(1, 256))
    .on_connect(move |connection, extensions| per_address.on_connect(connection, extensions))
    .disable_signals();
    let mut server = server;
    for listener in listeners {
        server = server.listen_rustls_0_23(listener, tls.clone())?;
    }
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok(handle)
}

/// Key discovery and the directory: anonymous, each request counted against its address's
/// rate. Key discovery is read by any client, web-based ones included; nothing else is
/// shared across origins.
fn anonymous_routes(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/pks/lookup")
                .wrap(from_fn(limits::refuse_over_rate))
                .wrap(open_to_all())
                .route(web::get().to(hkp::hkp_lookup)),
        )
        .service(
            web::resource("/directory")
                .wrap(from_fn(limits::refuse_over_rate))
                .route(web::get().to(directory::directory_page)),
        )
        .service(
            web::resource("/directory/search")
                .wrap(from_fn(limits::refuse_over_rate))
                .route(web::get().to(directory::directory_search)),
        )
        .service(
            web::resource("/directory.csv")
                .wrap(from_fn(limits::refuse_over_rate))
                .route(web::get().to(directory::directory_csv)),
        )
        .service(
            web::resource("/directory.ldif")
                .wrap(from_fn(limits::refuse_over_rate))
                .route(web::get().to(directory::directory_ldif)),
        )
        .service(
            web::resource(["/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"])
                .wrap(from_fn(limits::refuse_over_rate))
                .route(web::get().to(autoconfig::config_v1_1)),
        )
        .service(
            web::scope("/.well-known/openpgpkey")
                .wrap(from_fn(limits::refuse_over_rate))
                .wrap(open_to_all())
                .route("/policy", web::get().to(wkd::wkd_policy))
                .route("/hu/{hash}", web::get().to(wkd::wkd_direct))
                .route("/{domain}/policy", web::get().to(wkd::wkd_policy))
                .route("/{domain}/hu/{hash}", web::get().to(wkd::wkd_advanced)),
        );
}

fn open_to_all() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new().add(("Access-Control-Allow-Origin", "*"))
}
