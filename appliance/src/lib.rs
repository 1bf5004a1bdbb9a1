//! The appliance's library: everything the `caducee` binary (`src/main.rs`) runs — the
//! command line, the relay it serves, its administration — and what the fuzz targets
//! (tests/fuzz) reach directly: the LDAP directory, backup reading and HPRIM parsing.
//!
//! This crate wires things together; it holds no protocol logic and never touches LMDB
//! except through `caducee-storage`. The command line lives in [`cli`], the admin
//! operations it reaches in `admin`, their requests and replies in
//! `caducee-admin-protocol`.

mod admin;
pub mod backup;
pub use caducee_client::charset;
pub mod cli;
pub use caducee_client as client;
mod config;
pub mod directory;
pub mod dns;
pub mod federation;
mod issuer;
// The connection context holds a TLS acceptor and the store, neither of which has `Debug`.
#[allow(missing_debug_implementations)]
pub mod ldap;
pub mod logging;
mod pair;
mod portal;
mod serve;
mod setup;
mod tls;
mod web;

pub(crate) use cli::lock_data_dir;
