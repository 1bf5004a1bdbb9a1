//! Caducée's protocol machines: sans-I/O state machines that take bytes and return replies
//! and effects. This crate depends on no runtime, TLS or store crate.
