//! What the bench tools share: the configuration of a scratch relay.

pub mod scratch;
