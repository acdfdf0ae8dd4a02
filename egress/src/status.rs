//! What the caller sees: the state and figures of an egress and of each of
//! its destinations (serializable as-is for admin clients and /metrics), and
//! the events that mark changes.

use crate::ids::{DestinationId, EgressId};
use mediasoup::prelude::MediaKind;
use serde::Serialize;

pub use podium_protocol::egress::{
    DestinationState, DestinationStats, DestinationStatus, EgressState, EgressStats, EgressStatus,
    FileState, FileStatus, InputStatus, StopReason,
};

/// Changes worth a notification. Figures change every second and are in the
/// [`EgressStatus`] stream instead.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "event",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum EgressEvent {
    /// The egress's overall state changed.
    StateChanged {
        /// The egress.
        egress: EgressId,
        /// The new state (its fields flattened into the event).
        #[serde(flatten)]
        state: EgressState,
    },
    /// A destination's state changed.
    DestinationChanged {
        /// The egress.
        egress: EgressId,
        /// The destination.
        destination: DestinationId,
        /// Its redacted URL (`rtmps://host/app/***`).
        url: String,
        /// Its new state (its fields flattened into the event).
        #[serde(flatten)]
        state: DestinationState,
    },
    /// A producer closed. Video: the egress waits for
    /// [`crate::Egress::replace_input`] (state `waitingForInput`). Audio: the
    /// egress goes on with silence.
    InputEnded {
        /// The egress.
        egress: EgressId,
        /// Which producer: `video` or `audio`.
        #[serde(with = "kind")]
        kind: MediaKind,
    },
    /// No RTP for a while (producer paused, sender gone) / RTP back.
    InputStalled {
        /// The egress.
        egress: EgressId,
        /// Which producer: `video` or `audio`.
        #[serde(with = "kind")]
        kind: MediaKind,
    },
    /// RTP flows again from a producer that was reported stalled.
    InputResumed {
        /// The egress.
        egress: EgressId,
        /// Which producer: `video` or `audio`.
        #[serde(with = "kind")]
        kind: MediaKind,
    },
    /// The file output finished or failed.
    FileChanged {
        /// The egress.
        egress: EgressId,
        /// Its new state, inline.
        #[serde(flatten)]
        state: FileState,
    },
}

mod kind {
    use mediasoup::prelude::MediaKind;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(kind: &MediaKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match kind {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        })
    }
}

/// The overall state while running, from the destinations' states.
pub(crate) fn running_state<'a>(
    destinations: impl IntoIterator<Item = &'a DestinationState>,
) -> Option<EgressState> {
    let mut any_reconnecting = false;
    let mut any_starting = false;
    let mut any = false;
    for state in destinations {
        any = true;
        match state {
            DestinationState::Live => return Some(EgressState::Live),
            DestinationState::Reconnecting { .. } => any_reconnecting = true,
            DestinationState::Starting => any_starting = true,
            DestinationState::Failed { .. } | DestinationState::Stopped => {}
        }
    }
    if any_reconnecting {
        Some(EgressState::Reconnecting)
    } else if any_starting || !any {
        Some(EgressState::Starting)
    } else {
        // Every destination failed or stopped: nothing is left to push to.
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reconnecting() -> DestinationState {
        DestinationState::Reconnecting {
            attempt: 1,
            last_error: "x".into(),
            retry_in_ms: 0,
        }
    }

    #[test]
    fn overall_state_table() {
        use DestinationState as D;
        let failed = || D::Failed { error: "x".into() };
        let cases: Vec<(Vec<DestinationState>, Option<EgressState>)> = vec![
            (vec![], Some(EgressState::Starting)),
            (vec![D::Starting], Some(EgressState::Starting)),
            (vec![D::Starting, D::Live], Some(EgressState::Live)),
            (vec![reconnecting(), D::Live], Some(EgressState::Live)),
            (
                vec![reconnecting(), failed()],
                Some(EgressState::Reconnecting),
            ),
            (
                vec![D::Starting, reconnecting()],
                Some(EgressState::Reconnecting),
            ),
            (vec![failed(), D::Starting], Some(EgressState::Starting)),
            (vec![failed(), failed()], None),
            (vec![failed(), D::Stopped], None),
        ];
        for (states, expected) in cases {
            assert_eq!(running_state(&states), expected, "{states:?}");
        }
    }
}
