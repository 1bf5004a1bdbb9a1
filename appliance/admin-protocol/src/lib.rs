//! The admin protocol: one `Request` enum, a typed reply per request.
