//! # Podium's wire protocol
//!
//! Everything that crosses a WebSocket or the HTTP API between Podium and
//! its clients, written once: signaling requests, responses and
//! notifications ([`signaling`]), typed ids ([`ids`]), error codes
//! ([`error`]), what an egress (a restream) looks like from outside
//! ([`egress`]) and recordings ([`recording`]). The server, the egress crate, the load tool and the tests
//! use these types; the browser's TypeScript is generated from them
//! ([`mod@typescript`], `client/src/generated/protocol.ts`).
//!
//! Media parameters (RTP capabilities and parameters, ICE and DTLS) are
//! mediasoup's own data types, from `mediasoup-types`: the same types the
//! `mediasoup` crate re-exports, so the server passes them through as-is.
//! Nothing here depends on actix, mediasoup's worker or GStreamer.

#![warn(missing_docs)]

pub mod admin;
pub mod egress;
pub mod error;
pub mod ids;
pub mod recording;
pub mod signaling;
pub mod typescript;

pub use egress::{
    DestinationSpec, DestinationState, DestinationStats, DestinationStatus, EgressState,
    EgressStats, EgressStatus, FileState, FileStatus, Ingest, InputStatus, InputVideoCodec, Layout,
    StopReason, StreamKey, VideoMode, VideoPath,
};
pub use error::{ErrorBody, ErrorCode};
pub use ids::{ConsumerId, DestinationId, EgressId, PeerId, ProducerId, RecordingId, TransportId};
pub use recording::{RecordingEnd, RecordingState, RecordingSummary};
pub use signaling::{
    ChatFrom, CloseReason, Consumed, ConsumerType, Direction, Empty, IceRestarted, IceServer,
    IceTransportPolicy, Incoming, Joined, Notification, Outgoing, ParseError, PeerInfo, Produced,
    ProducerInfo, Request, RequestId, ResponseData, RestreamStarted, Role, Source,
    TransportCreated,
};
pub use typescript::typescript;

/// Re-exported for [`uuid_id!`] callers.
#[doc(hidden)]
pub use ts_rs;
