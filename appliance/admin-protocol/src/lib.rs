//! The admin protocol of a Caducée relay: one [`Request`] enum, and for every request a type
//! that names its reply ([`Call::Reply`]). The CLI (`caducee …`) and the console
//! (`caducee console`) speak it to the running relay's admin socket, and the binary answers
//! it directly on the store when no relay runs; neither client ever opens the store.
//!
//! On the wire it is JSON lines: one [`Envelope`] per line from the client, one
//! [`Response`] per line back. A renamed field is a compile error on both sides, because
//! both sides serialise and deserialise these same types.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The admin protocol version this build speaks. A relay refuses an envelope of another
/// version, saying which one it speaks.
pub const ADMIN_PROTOCOL_VERSION: u32 = 1;

/// One request line: the protocol version and the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub version: u32,
    pub request: Request,
}

/// One reply line. `result` is the typed reply of the request, serialised; clients read it
/// back through [`Call::Reply`] (see [`call`]).
#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub result: serde_json::Value,
}

/// A request whose reply has a type. Each request type converts into the one [`Request`]
/// enum that travels; its reply comes back as `Self::Reply`.
pub trait Call: Into<Request> {
    type Reply: Serialize + DeserializeOwned;
}

/// Carries one request to the relay (or to the offline store) and returns the reply's
/// `result`, or the relay's error text.
pub trait Transport {
    fn exchange(&mut self, request: Request) -> Result<serde_json::Value, String>;
}

impl<F: FnMut(Request) -> Result<serde_json::Value, String>> Transport for F {
    fn exchange(&mut self, request: Request) -> Result<serde_json::Value, String> {
        self(request)
    }
}

/// Sends a typed request and reads its typed reply. A reply that does not have the shape of
/// `C::Reply` is an error that says so (a client and a relay of different builds).
pub fn call<C: Call>(transport: &mut dyn Transport, request: C) -> Result<C::Reply, String> {
    let result = transport.exchange(request.into())?;
    serde_json::from_value(result).map_err(|error| format!("the relay's reply has an unexpected shape: {error}"))
}

/// Every request the relay answers. Serialised with a `command` tag in kebab-case
/// (`{"command": "user-list"}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Request {
    // Filled in as the request types move here from the binary.
}
