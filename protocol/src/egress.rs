//! Egress (restream) data on the wire: where to push (a destination as the
//! caller gives it) and what the caller sees (the status of an egress and of
//! each destination). The egress crate runs them; this is only their shape.

use crate::ids::{DestinationId, EgressId};
use serde::{Deserialize, Serialize};
use std::fmt;
use ts_rs::TS;

/// An RTMP stream key. `Debug` prints `***` and there is no `Display`, so a
/// key cannot reach a log line by accident. It serializes (clients send it)
/// but no server reply carries one: replies show the redacted URL.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(transparent)]
pub struct StreamKey(String);

impl StreamKey {
    /// Wraps a key.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The key itself, for the one place that needs it: building the URL
    /// handed to the RTMP client (or a client sending it).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamKey(***)")
    }
}

/// The service a destination belongs to, which fixes its base URL.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(
    tag = "service",
    rename_all = "lowercase",
    rename_all_fields = "camelCase"
)]
pub enum Ingest {
    /// Amazon IVS: `rtmps://<ingestEndpoint>:443/app/<key>`. The endpoint is
    /// the channel's "ingest server" host, e.g. `a1b2c3.global-contribute.live-video.net`.
    Ivs {
        /// The channel's ingest server host.
        ingest_endpoint: String,
    },
    /// Twitch: `rtmps://<ingest>:443/app/<key>`; `ingest` defaults to Twitch's
    /// global ingest.
    Twitch {
        /// Ingest host; absent: Twitch's global ingest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        ingest: Option<String>,
    },
    /// YouTube Live's RTMPS ingest.
    #[serde(rename = "youtube")]
    YouTube,
    /// Any `rtmp://` or `rtmps://` URL: `scheme://host[:port]/app`, with the
    /// key given apart, or `scheme://host[:port]/app/<key>` with none.
    Custom {
        /// `rtmp://` or `rtmps://` URL, with or without the key at its end.
        url: String,
    },
}

impl fmt::Debug for Ingest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ivs { ingest_endpoint } => f
                .debug_struct("Ivs")
                .field("ingest_endpoint", ingest_endpoint)
                .finish(),
            Self::Twitch { ingest } => f.debug_struct("Twitch").field("ingest", ingest).finish(),
            Self::YouTube => f.write_str("YouTube"),
            // A custom URL may carry its key in the path or query: show the
            // scheme and authority only.
            Self::Custom { url } => {
                let after_scheme = url.find("://").map_or(0, |i| i + 3);
                let end = url[after_scheme..]
                    .find(['/', '?', '#'])
                    .map_or(url.len(), |i| after_scheme + i);
                // Credentials (`user:password@`) are secret too.
                let host_start = url[after_scheme..end]
                    .rfind('@')
                    .map_or(after_scheme, |i| after_scheme + i + 1);
                f.debug_struct("Custom")
                    .field(
                        "url",
                        &format!("{}{}/***", &url[..after_scheme], &url[host_start..end]),
                    )
                    .finish()
            }
        }
    }
}

/// One destination as the caller gives it: `{"service": "youtube",
/// "streamKey": "..."}`, `{"service": "ivs", "ingestEndpoint": "...",
/// "streamKey": "..."}`, `{"service": "custom", "url": "rtmp://host/app",
/// "streamKey": "..."}`. The key goes to the server once and never comes back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DestinationSpec {
    /// `service` and that service's fields, inline.
    #[serde(flatten)]
    pub ingest: Ingest,
    /// Required for the presets; optional for a custom URL that ends with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub stream_key: Option<StreamKey>,
}

impl DestinationSpec {
    /// A destination of this service with this key.
    pub fn new(ingest: Ingest, stream_key: impl Into<Option<StreamKey>>) -> Self {
        Self {
            ingest,
            stream_key: stream_key.into(),
        }
    }
}

/// Whether H.264 input may pass through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum VideoMode {
    /// Pass H.264 through when the output profile allows it; re-encode other codecs.
    #[default]
    Auto,
    /// Always decode and re-encode (fixed size, exact GOP, CBR).
    Reencode,
}

/// How a composed egress (a recording, or a restream given a layout) places
/// the teacher's camera and screen in its one picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum Layout {
    /// The camera full frame (the screen if there is no camera).
    Camera,
    /// The screen full frame (the camera if there is no screen).
    Screen,
    /// The screen full frame, the camera small in the bottom-right corner.
    ScreenWithCamera,
    /// The screen and the camera side by side, each in half the frame.
    SideBySide,
    /// Follows what the teacher sends, live: screen with camera when both,
    /// else the one there is.
    #[default]
    Auto,
}

/// The video codec a producer sends.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase", tag = "codec")]
pub enum InputVideoCodec {
    /// VP8: always re-encoded to H.264.
    Vp8,
    /// H.264: passed through when the profile allows it (`videoMode` `auto`).
    H264 {
        /// The producer's `profile-level-id` (hex, e.g. `42e01f`), if its codec gives one.
        #[serde(rename = "profileLevelId")]
        profile_level_id: Option<String>,
    },
}

/// What the pipeline does with the video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum VideoPath {
    /// Depayload, parse, mux: no decoder, no encoder.
    Passthrough,
    /// Decode, scale, rate-convert, x264.
    Reencode,
}

/// State of a whole egress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
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
    /// up to `graceMs` for new input before it stops.
    WaitingForInput {
        /// The whole grace period in milliseconds (not the time left).
        grace_ms: u64,
    },
    /// Every destination failed, or the pipeline broke. Final.
    Failed {
        /// What failed (no stream key in it).
        error: String,
    },
    /// Ended cleanly. Final.
    Stopped {
        /// Why it stopped.
        reason: StopReason,
    },
}

impl EgressState {
    /// Failed or stopped: nothing changes after.
    #[must_use]
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Failed { .. } | Self::Stopped { .. })
    }
}

/// Why an egress stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum StopReason {
    /// Someone stopped it.
    Requested,
    /// The video producer closed and no new input came within the grace period.
    InputEnded,
    /// The router (or its worker) closed.
    RouterClosed,
    /// Every handle to the egress was dropped.
    Dropped,
}

/// State of one destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
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
    /// `retryInMs` (0 once it is under way).
    Reconnecting {
        /// Number of the attempt due, from 1.
        attempt: u32,
        /// Why the last connection failed (no stream key in it).
        last_error: String,
        /// Milliseconds until that attempt; 0 once it is under way.
        retry_in_ms: u64,
    },
    /// Given up (rejected before ever going live, or failing for longer
    /// than the policy allows). Final for this destination.
    Failed {
        /// Why it gave up (no stream key in it).
        error: String,
    },
    /// Removed, or the egress ended.
    Stopped,
}

/// State of an egress's file output (a recording).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum FileState {
    /// Being written: every finished fragment (1 s) is playable.
    Writing,
    /// Closed cleanly: a finished MP4.
    Finished,
    /// Writing failed (disk full, directory gone); what was written is kept.
    Failed {
        /// Why (the file system's words).
        error: String,
    },
}

/// An egress's file output, as status shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct FileStatus {
    /// `state` and that state's fields, inline.
    #[serde(flatten)]
    pub state: FileState,
    /// Size of the file on disk.
    pub bytes: u64,
    /// Media written, seconds (first to last video frame).
    pub duration_secs: f64,
}

/// One destination of an egress, as status shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DestinationStatus {
    /// The destination's id, to remove it.
    pub id: DestinationId,
    /// The URL with the stream key replaced by `***`.
    pub url: String,
    /// `state` and that state's fields, inline.
    #[serde(flatten)]
    pub state: DestinationState,
    /// Its figures.
    pub stats: DestinationStats,
}

/// Figures of one destination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct InputStatus {
    /// The codec the video producer sends.
    pub video: InputVideoCodec,
    /// `passthrough` or `reencode`.
    pub video_path: VideoPath,
    /// An audio producer feeds the egress; without one the output is silent.
    pub has_audio: bool,
    /// RTP arrived lately (a paused or gone producer stops it).
    pub video_flowing: bool,
    /// Audio RTP arrived lately (false without audio).
    pub audio_flowing: bool,
}

/// Figures of a whole egress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct EgressStats {
    /// Seconds since the egress started (input replacements included).
    pub uptime_secs: f64,
    /// Video frames per second into the muxer.
    pub fps: f64,
    /// Muxed FLV bitrate (what each live destination receives).
    pub bitrate_bps: u64,
    /// Muxed FLV bytes since the current input began (from 0 again when it is replaced).
    pub bytes_muxed: u64,
}

/// A snapshot of one egress. Serializes to camelCase JSON with no secret in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct EgressStatus {
    /// The egress id: the restream's id in the admin API and in `stopRestream`.
    pub id: EgressId,
    /// The caller's label (the room), for logs and lists.
    pub label: String,
    /// `state` and that state's fields, inline.
    #[serde(flatten)]
    pub state: EgressState,
    /// The input side; null while no pipeline runs (waiting for input, ended).
    pub input: Option<InputStatus>,
    /// Figures of the whole egress.
    pub stats: EgressStats,
    /// Its destinations in the order added; removed ones are left out.
    pub destinations: Vec<DestinationStatus>,
    /// Its file output (a recording), if it has one.
    pub file: Option<FileStatus>,
    /// How its picture is composed; null when it reads one producer pair.
    pub layout: Option<Layout>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_json_shape() {
        let status = DestinationStatus {
            id: DestinationId::new(),
            url: "rtmps://a.rtmps.youtube.com:443/live2/***".into(),
            state: DestinationState::Reconnecting {
                attempt: 1,
                last_error: "x".into(),
                retry_in_ms: 0,
            },
            stats: DestinationStats::default(),
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["state"], "reconnecting");
        assert_eq!(json["attempt"], 1);
        assert_eq!(json["lastError"], "x");
        assert_eq!(json["stats"]["bytesOut"], 0);
        let back: DestinationStatus = serde_json::from_value(json).unwrap();
        assert_eq!(back, status);
    }

    #[test]
    fn destinations_parse_and_hide_their_key() {
        let spec: DestinationSpec = serde_json::from_str(
            r#"{"service":"custom","url":"rtmp://ingest.example/app/secret-key?x=1"}"#,
        )
        .unwrap();
        let shown = format!("{spec:?}");
        assert!(!shown.contains("secret-key"), "{shown}");
        assert!(shown.contains("rtmp://ingest.example/***"), "{shown}");
        let spec: DestinationSpec = serde_json::from_str(
            r#"{"service":"custom","url":"rtmp://user:pa55@ingest.example:1935/app/key"}"#,
        )
        .unwrap();
        let shown = format!("{spec:?}");
        assert!(
            !shown.contains("pa55") && !shown.contains("user"),
            "{shown}"
        );
        assert!(shown.contains("rtmp://ingest.example:1935/***"), "{shown}");
        let spec = DestinationSpec::new(Ingest::YouTube, StreamKey::new("k-123"));
        assert!(!format!("{spec:?}").contains("k-123"));
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(json, r#"{"service":"youtube","streamKey":"k-123"}"#);
    }
}
