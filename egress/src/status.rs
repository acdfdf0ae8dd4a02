//! What the caller sees: the state and figures of an egress and of each of
//! its destinations (serializable as-is for admin clients and /metrics), and
//! the events that mark changes.

use crate::ids::{DestinationId, EgressId};
use crate::output::{InputVideoCodec, VideoPath};
use mediasoup::prelude::MediaKind;
use serde::Serialize;

/// State of a whole egress.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum EgressState {
    /// Consuming and connecting; no destination live yet.
    Starting,
    /// At least one destination is live.
    Live,
    /// No destination live, at least one reconnecting.
    Reconnecting,
    /// The video producer closed: the pipeline is down, and the egress waits
    /// up to `grace_ms` for [`crate::Egress::replace_input`] before it stops.
    WaitingForInput { grace_ms: u64 },
    /// Every destination failed, or the pipeline broke. Final.
    Failed { error: String },
    /// Ended cleanly. Final.
    Stopped { reason: StopReason },
}

impl EgressState {
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Failed { .. } | Self::Stopped { .. })
    }
}

/// Why an egress stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StopReason {
    /// [`crate::Egress::stop`] was called.
    Requested,
    /// The video producer closed and no new input came within the grace period.
    InputEnded,
    /// The router (or its worker) closed.
    RouterClosed,
    /// Every handle to the egress was dropped.
    Dropped,
}

/// State of one destination.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum DestinationState {
    /// First connection under way.
    Starting,
    /// Publishing: the server accepted the stream and bytes flow.
    Live,
    /// Lost (or never got) the connection; attempt `attempt` is due in
    /// `retry_in_ms` (0 once it is under way).
    Reconnecting {
        attempt: u32,
        last_error: String,
        retry_in_ms: u64,
    },
    /// Given up (rejected before ever going live, or failing for longer
    /// than the policy allows). Final for this destination.
    Failed { error: String },
    /// Removed, or the egress ended.
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationStatus {
    pub id: DestinationId,
    /// The URL with the stream key replaced by `***`.
    pub url: String,
    #[serde(flatten)]
    pub state: DestinationState,
    pub stats: DestinationStats,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationStats {
    /// Bytes written to the ingest, over all connections.
    pub bytes_out: u64,
    /// Over the last two seconds.
    pub bitrate_bps: u64,
    /// Time live on the current connection (0 when not live).
    pub uptime_secs: f64,
    /// Connections made after the first.
    pub reconnects: u32,
}

/// The input side of an egress.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputStatus {
    pub video: InputVideoCodec,
    pub video_path: VideoPath,
    pub has_audio: bool,
    /// RTP arrived lately (a paused or gone producer stops it).
    pub video_flowing: bool,
    pub audio_flowing: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressStats {
    pub uptime_secs: f64,
    /// Video frames per second into the muxer.
    pub fps: f64,
    /// Muxed FLV bitrate (what each live destination receives).
    pub bitrate_bps: u64,
    /// Muxed FLV bytes since start.
    pub bytes_muxed: u64,
}

/// A snapshot of one egress. Serializes to camelCase JSON with no secret in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressStatus {
    pub id: EgressId,
    /// The caller's label (e.g. the room), for logs and lists.
    pub label: String,
    #[serde(flatten)]
    pub state: EgressState,
    pub input: Option<InputStatus>,
    pub stats: EgressStats,
    pub destinations: Vec<DestinationStatus>,
}

/// Changes worth a notification. Figures change every second and are in the
/// [`EgressStatus`] stream instead.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "event",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum EgressEvent {
    StateChanged {
        egress: EgressId,
        #[serde(flatten)]
        state: EgressState,
    },
    DestinationChanged {
        egress: EgressId,
        destination: DestinationId,
        url: String,
        #[serde(flatten)]
        state: DestinationState,
    },
    /// A producer closed. Video: the egress waits for
    /// [`crate::Egress::replace_input`] (state `waitingForInput`). Audio: the
    /// egress goes on with silence.
    InputEnded {
        egress: EgressId,
        #[serde(with = "kind")]
        kind: MediaKind,
    },
    /// No RTP for a while (producer paused, sender gone) / RTP back.
    InputStalled {
        egress: EgressId,
        #[serde(with = "kind")]
        kind: MediaKind,
    },
    InputResumed {
        egress: EgressId,
        #[serde(with = "kind")]
        kind: MediaKind,
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

    #[test]
    fn status_json_shape() {
        let status = DestinationStatus {
            id: DestinationId::new(),
            url: "rtmps://a.rtmps.youtube.com:443/live2/***".into(),
            state: reconnecting(),
            stats: DestinationStats::default(),
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["state"], "reconnecting");
        assert_eq!(json["attempt"], 1);
        assert_eq!(json["lastError"], "x");
        assert_eq!(json["stats"]["bytesOut"], 0);
    }
}
