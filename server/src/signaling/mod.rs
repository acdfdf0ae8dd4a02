//! Signaling: the wire protocol and the per-connection session.

pub mod protocol;
pub mod session;
