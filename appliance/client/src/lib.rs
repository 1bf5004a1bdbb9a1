//! Caducée's practice client (SPEC R-CLI-1): what a practice's machine runs to install its
//! keys, send documents and fetch them — as its own binary, `caducee-client`, and as
//! `caducee client` in the appliance's.
//!
//! It is also where the relay and its practices meet, so the server takes these from here
//! rather than keeping a second copy: the installation bundle's format ([`bundle`]), the
//! calendar of key editions ([`calendar`]), the shape of a practice's keys ([`keys`]), the
//! messages both sides write ([`mail`]), and the SMTP/POP3 client the relay's restore drill
//! and load generator use ([`probe`]).
//!
//! Nothing here depends on a server crate, and Unix-only calls (file modes) sit behind
//! `cfg(unix)`: the crate builds for the systems practices use (CI checks it for Windows).

pub mod bundle;
pub mod calendar;
pub mod charset;
mod commands;
pub mod examples;
pub mod exit;
pub mod hprim;
pub mod keys;
pub mod mail;
pub mod probe;

pub use commands::{run, write_private, ClientArgs, SignatureCheck};
