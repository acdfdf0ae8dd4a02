//! The crate's one error type. Messages never carry a stream key: URLs in
//! them are redacted and text from GStreamer is scrubbed.

use crate::destination::DestinationError;
use crate::ids::DestinationId;
use crate::network::Refusal;
use mediasoup::prelude::{MediaKind, ProducerId};

/// Why an egress could not start, or why a request to it failed.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// [`crate::Egress::start`] was given no destination.
    #[error("an egress needs at least one destination")]
    NoDestinations,
    /// A destination does not parse (URL, host or stream key).
    #[error("destination {index}: {error}")]
    InvalidDestination {
        /// Position in the list given (0 for `add_destination`).
        index: usize,
        /// What is wrong with it.
        error: DestinationError,
    },
    /// The network policy forbids the destination's address or port
    /// (checked before any connection is made).
    #[error("destination {index}: {reason}")]
    DestinationRefused {
        /// Position in the list given (0 for `add_destination`).
        index: usize,
        /// Which rule refused it.
        reason: Refusal,
    },
    /// No producer with this id on the egress's router.
    #[error("producer {0} not found on this router")]
    ProducerNotFound(ProducerId),
    /// A producer is not of the kind its place asks for (audio given as video, or the reverse).
    #[error("producer {producer} is {actual:?}, expected {expected:?}")]
    WrongKind {
        /// The producer.
        producer: ProducerId,
        /// The kind its place asks for.
        expected: MediaKind,
        /// The kind it is.
        actual: MediaKind,
    },
    /// A producer's codec cannot be restreamed (the text names the codec or the producer).
    #[error("cannot restream {0}: supported inputs are VP8 or H.264 video and Opus audio")]
    UnsupportedCodec(String),
    /// mediasoup failed (transport, consumer or request error).
    #[error("mediasoup: {0}")]
    Mediasoup(String),
    /// GStreamer failed to build or run the pipeline (text scrubbed of stream names).
    #[error("media pipeline: {0}")]
    Pipeline(String),
    /// A GStreamer element factory is not installed (its name).
    #[error("GStreamer element {0} is missing (install the GStreamer plugins: scripts/setup)")]
    MissingElement(String),
    /// `remove_destination` was given an id this egress does not have.
    #[error("no destination {0} in this egress")]
    UnknownDestination(DestinationId),
    /// `remove_destination` was asked to remove the only destination.
    #[error("cannot remove the last destination: stop the egress instead")]
    LastDestination,
    /// The egress has ended (or, to [`crate::EgressManager::stop`], is not running).
    #[error("the egress has ended")]
    Ended,

    /// The recording's file could not be created.
    #[error("cannot record to {path}: {error}", path = path.display())]
    File {
        /// The file asked for.
        path: std::path::PathBuf,
        /// The file system's words.
        error: String,
    },

    /// A file-only egress (a recording) ends with its input: start another.
    #[error("a recording cannot change its input: start a new one")]
    RecordingInput,

    /// `set_inputs` on an egress that reads one producer pair.
    #[error("this egress reads one producer pair: it does not compose")]
    NotComposed,

    /// `replace_input` on a composed egress.
    #[error("this egress composes its inputs: change them with set_inputs")]
    Composed,
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
