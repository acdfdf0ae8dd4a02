//! The crate's one error type. Messages never carry a stream key: URLs in
//! them are redacted and text from GStreamer is scrubbed.

use crate::destination::DestinationError;
use crate::ids::DestinationId;
use crate::network::Refusal;
use mediasoup::prelude::{MediaKind, ProducerId};

#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("an egress needs at least one destination")]
    NoDestinations,
    #[error("destination {index}: {error}")]
    InvalidDestination {
        /// Position in the list given (0 for `add_destination`).
        index: usize,
        error: DestinationError,
    },
    /// The network policy forbids the destination's address or port
    /// (checked before any connection is made).
    #[error("destination {index}: {reason}")]
    DestinationRefused {
        /// Position in the list given (0 for `add_destination`).
        index: usize,
        reason: Refusal,
    },
    #[error("producer {0} not found on this router")]
    ProducerNotFound(ProducerId),
    #[error("producer {producer} is {actual:?}, expected {expected:?}")]
    WrongKind {
        producer: ProducerId,
        expected: MediaKind,
        actual: MediaKind,
    },
    #[error("cannot restream {0}: supported inputs are VP8 or H.264 video and Opus audio")]
    UnsupportedCodec(String),
    #[error("mediasoup: {0}")]
    Mediasoup(String),
    #[error("media pipeline: {0}")]
    Pipeline(String),
    #[error("GStreamer element {0} is missing (install the GStreamer plugins: scripts/setup)")]
    MissingElement(String),
    #[error("no destination {0} in this egress")]
    UnknownDestination(DestinationId),
    #[error("cannot remove the last destination: stop the egress instead")]
    LastDestination,
    #[error("the egress has ended")]
    Ended,
}

impl From<gstreamer::glib::BoolError> for EgressError {
    fn from(error: gstreamer::glib::BoolError) -> Self {
        Self::Pipeline(error.to_string())
    }
}

impl From<gstreamer::StateChangeError> for EgressError {
    fn from(_: gstreamer::StateChangeError) -> Self {
        Self::Pipeline("state change failed".to_owned())
    }
}

impl From<gstreamer::PadLinkError> for EgressError {
    fn from(error: gstreamer::PadLinkError) -> Self {
        Self::Pipeline(format!("pad link failed: {error:?}"))
    }
}
