//! Recordings: a class written to an MP4 file (H.264 + AAC) on the server's
//! disk, as the admin API and the room's pages see it.

use crate::egress::Layout;
use crate::ids::RecordingId;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Where a recording is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum RecordingState {
    /// The file is being written.
    Recording,
    /// Ended cleanly (`endReason` says why); the file is a finished MP4.
    Finished,
    /// Could not go on (`error` says why: disk full, directory not writable);
    /// what was written is kept and plays up to there.
    Failed,
    /// The server stopped without finishing it (a crash, `kill -9`): the file
    /// plays up to its last fragment (at most about 2 s before the stop).
    Interrupted,
}

impl RecordingState {
    /// No longer written to.
    #[must_use]
    pub fn is_final(self) -> bool {
        self != Self::Recording
    }
}

/// Why a finished recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum RecordingEnd {
    /// Someone stopped it (the admin API, or a teacher).
    Stopped,
    /// The teacher stopped sending video (left, or turned the camera and screen off).
    InputEnded,
    /// It reached `recording.max_duration_secs`.
    MaxDuration,
    /// The server shut down (SIGTERM).
    Shutdown,
}

/// One recording, as `GET /api/admin/recordings` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RecordingSummary {
    /// Its id: also the file's name (`<id>.mp4` in `recording.dir`).
    pub id: RecordingId,
    /// The room recorded.
    pub room: String,
    /// Where it is in its life.
    pub state: RecordingState,
    /// Unix milliseconds.
    pub started_at: u64,
    /// Media written so far, seconds.
    pub duration_secs: f64,
    /// Size of the file on disk.
    pub bytes: u64,
    /// Why it ended, once finished.
    pub end_reason: Option<RecordingEnd>,
    /// What went wrong, once failed.
    pub error: Option<String>,
    /// How the camera and screen are placed.
    #[serde(default)]
    pub layout: Layout,
}

/// `POST /api/admin/rooms/{room}/recordings` (body optional) and
/// `startRecording` over the WebSocket: how to lay the class out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRecording {
    /// Default `auto`: the teacher's screen with their camera in a corner
    /// when they send both, else the one they send; it follows them live.
    #[serde(default)]
    #[ts(as = "Option<Layout>", optional)]
    pub layout: Layout,
}

/// The answer to a start: `{"recording": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct RecordingStarted {
    /// The new recording.
    pub recording: RecordingSummary,
}

/// `GET /api/admin/recordings`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct RecordingList {
    /// Running recordings first, then the others, newest first.
    pub recordings: Vec<RecordingSummary>,
}

/// `POST /api/admin/recordings/{id}/link`: a URL that serves the file without
/// the admin key (for the browser's own player and downloads), until it expires.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RecordingLink {
    /// Path and query, on this server: `/api/recordings/{id}/file?expires=...&sig=...`.
    pub url: String,
    /// Unix seconds.
    pub expires_at: u64,
}

/// `PUT /api/admin/rooms/{room}/auto-record`: record the room whenever its
/// teacher goes live (overrides `recording.auto` for that room).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct AutoRecord {
    /// On or off for this room.
    pub enabled: bool,
}
