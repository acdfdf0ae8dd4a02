//! Typed ids: a random UUID per egress and per destination (defined with
//! the wire protocol, where clients see them).

pub use podium_protocol::{DestinationId, EgressId};
