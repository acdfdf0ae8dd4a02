//! Error codes on the wire, in WebSocket responses and HTTP errors.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Error codes on the wire: stable, snake_case, listed in docs/PROTOCOL.md.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS, strum::VariantNames,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed JSON, a missing or mistyped field, a value out of range.
    BadRequest,
    /// The method is not one of the protocol's.
    UnknownMethod,
    /// A room, peer, transport, producer or consumer id that does not exist.
    NotFound,
    /// The peer's role does not allow this.
    Forbidden,
    /// Missing, invalid or expired token or admin key.
    Unauthorized,
    /// The request contradicts the current state (join twice, ...).
    Conflict,
    /// Too many requests on this connection; slow down.
    RateLimited,
    /// The message is over the size limit.
    TooLarge,
    /// The room has reached its peer limit.
    RoomFull,
    /// A configured limit refuses this (connections per address, restreams, ...).
    LimitReached,
    /// mediasoup refused the operation (bad RTP parameters, unsupported codec, ...).
    MediaError,
    /// A bug or a dead worker: try again.
    Internal,
    /// A service this server depends on (the cluster's Redis) does not
    /// answer: try again.
    Unavailable,
}

/// `{"code": "...", "message": "..."}`, in WebSocket responses and HTTP errors
/// (`{"error": {...}}` there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ErrorBody {
    /// What went wrong, as a stable code to match on.
    pub code: ErrorCode,
    /// An explanation for people; its wording may change.
    pub message: String,
}
