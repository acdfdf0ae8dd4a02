//! The admin HTTP API's bodies (`/api/admin/...`, the admin key as a bearer
//! token). Errors answer `{"error": ErrorBody}`.

use crate::egress::{DestinationSpec, EgressStatus, Layout, VideoMode};
use crate::ids::{DestinationId, ProducerId};
use crate::signaling::{PeerInfo, ProducerInfo, Role};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// `POST /api/admin/tokens`: a join token for one user of one room.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRequest {
    /// 1 to 64 of `a-z A-Z 0-9 - _ .`.
    pub room: String,
    /// The caller's own id for the user (a login, an LMS id); shown to staff.
    /// A random one if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub user: Option<String>,
    /// Display name shown in the room: 1 to 64 printable characters.
    pub name: String,
    /// What the token lets its holder do; it also picks the page `url` opens.
    pub role: Role,
    /// Lifetime in seconds; the configured default if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub ttl_secs: Option<u64>,
}

/// A join token and the page it opens.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct IssuedToken {
    /// The join token, for the WebSocket subprotocol `podium.token.<token>`.
    pub token: String,
    /// Unix seconds.
    pub expires_at: u64,
    /// The page this role opens, with the token in its fragment.
    pub url: String,
}

/// A peer as the admin API shows it: everything staff see, and where it runs.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PeerSummary {
    /// The peer as staff see it (`user` included), its fields inline.
    #[serde(flatten)]
    pub info: PeerInfo,
    /// Worker slot its transports live on.
    pub worker: usize,
    /// Number of producers it sends.
    pub producers: usize,
    /// Number of consumers it receives.
    pub consumers: usize,
}

/// A user kicked out of a room.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct BanSummary {
    /// The banned user id (the token's `user`).
    pub user: String,
    /// Refused until then (Unix seconds) unless lifted.
    pub until: u64,
}

/// The producers a restream of the room reads when its request names none:
/// the teacher's camera (else their screen) and the teacher's microphone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RestreamInputs {
    /// The teacher's camera, else their screen; null if they send neither.
    pub video_producer_id: Option<ProducerId>,
    /// The teacher's microphone; null if they send none.
    pub audio_producer_id: Option<ProducerId>,
}

/// `GET /api/admin/rooms/{room}`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RoomSummary {
    /// The room id (the token's `room`).
    pub id: String,
    /// Worker slots the room has routers on.
    pub routers: Vec<usize>,
    /// Worker slot of the home router (teachers and restreams); null before the first router.
    pub home_worker: Option<usize>,
    /// Every peer in the room.
    pub peers: Vec<PeerSummary>,
    /// Every producer in the room.
    pub producers: Vec<ProducerInfo>,
    /// Users kicked out, refused until `until` unless lifted.
    pub bans: Vec<BanSummary>,
    /// What a restream started now would read by default.
    pub restream_defaults: RestreamInputs,
}

/// `GET /api/admin/rooms`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct RoomList {
    /// Open rooms (with peers or a running restream), by id.
    pub rooms: Vec<RoomSummary>,
}

/// `POST /api/admin/rooms/{room}/restreams` (and `startRestream` over the
/// WebSocket): where to push, and what.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRestream {
    /// Default: the teacher's camera, else their screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub video_producer_id: Option<ProducerId>,
    /// Default: the teacher's microphone (none: silence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub audio_producer_id: Option<ProducerId>,
    /// Where to push: at least one, at most `egress.max_destinations`.
    pub destinations: Vec<DestinationSpec>,
    /// `auto` (default) or `reencode`.
    #[serde(default)]
    #[ts(as = "Option<VideoMode>", optional)]
    pub video_mode: VideoMode,
    /// The teacher's camera and screen in one picture, placed by this
    /// layout, following them live as they start and stop (always
    /// re-encoded; not with `videoProducerId`/`audioProducerId`). Absent:
    /// one video producer and one microphone, as chosen above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub layout: Option<Layout>,
}

/// `PUT /api/admin/restreams/{id}/layout` and `PUT
/// /api/admin/recordings/{id}/layout`: place the pictures of a running
/// composed restream or recording this way from the next frame on (its
/// outputs go on: no gap in the file or the stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetLayout {
    /// The new layout.
    pub layout: Layout,
}

/// `GET /api/admin/restreams`: running restreams first, then recently ended ones.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct RestreamList {
    /// Their statuses, stream keys redacted.
    pub restreams: Vec<EgressStatus>,
}

/// `POST /api/admin/restreams/{id}/destinations`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DestinationAdded {
    /// The new destination's id (`DELETE .../destinations/{destination}` removes it).
    pub destination_id: DestinationId,
}
