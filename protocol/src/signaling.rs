//! The signaling protocol: JSON over one WebSocket per peer.
//!
//! Client -> server: `{"id": 7, "method": "consume", "data": {...}}`.
//! Server -> client: a response `{"response": 7, "ok": true, "data": {...}}`
//! or `{"response": 7, "ok": false, "error": {"code": ..., "message": ...}}`,
//! and notifications `{"notification": "newProducer", "data": {...}}`.
//! docs/PROTOCOL.md is generated from these types (tests/protocol_doc.rs).

use crate::egress::{DestinationSpec, EgressStatus, Layout, VideoMode};
use crate::error::{ErrorBody, ErrorCode};
use crate::ids::{ConsumerId, EgressId, PeerId, ProducerId, TransportId};
use crate::recording::RecordingStarted;
use mediasoup_types::data_structures::{DtlsParameters, IceCandidate, IceParameters};
use mediasoup_types::rtp_parameters::{
    MediaKind, RtpCapabilities, RtpCapabilitiesFinalized, RtpParameters,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The id a client gives a request; its response carries it back.
pub type RequestId = u32;

/// What a token lets its holder do in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// Runs the class: sends camera, screen and microphone; sees everyone; moderates.
    Teacher,
    /// Attends: receives, and sends their microphone once a teacher allows it.
    Student,
    /// Observes and moderates (kicks anyone, restreams); sends no media.
    Admin,
}

impl Role {
    /// Teachers and admins see the whole room: every peer, raised hands, restreams.
    #[must_use]
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Teacher | Role::Admin)
    }
}

/// Where a producer's media comes from; the client says, the server checks
/// it against the kind and the peer's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// A camera (video).
    Camera,
    /// A microphone (audio): the only source a student may send.
    Mic,
    /// A screen share (video).
    Screen,
}

impl Source {
    /// The media kind this source sends.
    #[must_use]
    pub fn kind(self) -> MediaKind {
        match self {
            Source::Mic => MediaKind::Audio,
            Source::Camera | Source::Screen => MediaKind::Video,
        }
    }
}

/// Which way a transport carries media, seen from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// Client to server: carries the peer's producers.
    Send,
    /// Server to client: carries the peer's consumers.
    Recv,
}

/// A request's method and data.
#[derive(Debug, Clone, Serialize, Deserialize, TS, strum::VariantNames, strum::IntoStaticStr)]
#[serde(
    tag = "method",
    content = "data",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
#[strum(serialize_all = "camelCase")]
pub enum Request {
    /// First request on a connection: enter the room the token names.
    Join {},
    /// The browser's receive capabilities (mediasoup-client `device.rtpCapabilities`);
    /// required once before `consume`.
    SetRtpCapabilities {
        /// What the browser can decode: codecs and RTP header extensions.
        #[ts(type = "types.RtpCapabilities")]
        rtp_capabilities: RtpCapabilities,
    },
    /// Creates the peer's send or recv WebRTC transport (at most one of each).
    CreateTransport {
        /// `send` (teachers, students allowed to speak) or `recv`.
        direction: Direction,
    },
    /// Completes a transport's DTLS setup: send it from the transport's `connect` event.
    ConnectTransport {
        /// A transport of this peer, from `createTransport`.
        transport_id: TransportId,
        /// The browser's DTLS parameters, from the `connect` event.
        #[ts(type = "types.DtlsParameters")]
        dtls_parameters: DtlsParameters,
    },
    /// New ICE credentials after an ICE failure; the client calls `restartIce` with them.
    RestartIce {
        /// A transport of this peer.
        transport_id: TransportId,
    },
    /// Starts sending a track on the send transport; everyone else gets `newProducer`.
    Produce {
        /// The peer's send transport.
        transport_id: TransportId,
        /// `audio` or `video`: must match `source`.
        #[ts(type = "types.MediaKind")]
        kind: MediaKind,
        /// From the send transport's `produce` event (up to 3 simulcast encodings).
        #[ts(type = "types.RtpParameters")]
        rtp_parameters: RtpParameters,
        /// What the track is; a student allowed to speak may send `mic` only.
        source: Source,
    },
    /// Closes a producer for good (its owner, or staff); others get `producerClosed`.
    CloseProducer {
        /// The producer to close.
        producer_id: ProducerId,
    },
    /// Pauses a producer (its owner, or staff); others get `producerPaused`.
    PauseProducer {
        /// The producer to pause.
        producer_id: ProducerId,
    },
    /// Resumes a paused producer (its owner, or staff); others get `producerResumed`.
    ResumeProducer {
        /// The producer to resume.
        producer_id: ProducerId,
    },
    /// Creates a paused consumer on the peer's recv transport; resume it once
    /// the client-side consumer exists.
    Consume {
        /// Another peer's producer, from `join` or `newProducer`.
        producer_id: ProducerId,
    },
    /// Starts (or restarts) forwarding a consumer's media; video asks for a keyframe.
    ResumeConsumer {
        /// A consumer of this peer, from `consume`.
        consumer_id: ConsumerId,
    },
    /// Stops forwarding a consumer's media until `resumeConsumer`.
    PauseConsumer {
        /// A consumer of this peer.
        consumer_id: ConsumerId,
    },
    /// Caps the simulcast layer of a video consumer (0 = lowest); mediasoup
    /// picks at most this layer, lower when the downlink cannot take it.
    SetConsumerPreferredLayers {
        /// A simulcast consumer of this peer.
        consumer_id: ConsumerId,
        /// Highest spatial layer (simulcast stream) to forward, from 0.
        spatial_layer: u8,
        /// Highest temporal layer within it, from 0; absent: the highest there is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        temporal_layer: Option<u8>,
    },
    /// Sends a chat message to the whole room (the `chat` notification).
    Chat {
        /// Not blank, at most `limits.max_chat_bytes` bytes; no control (but newline, tab), bidi or invisible characters.
        text: String,
    },
    /// Student: raise the hand; staff and the student get `handRaised`.
    RaiseHand {},
    /// Lowers the caller's hand, or (teacher, admin) another peer's.
    LowerHand {
        /// Whose hand (teacher, admin); absent: the caller's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        peer_id: Option<PeerId>,
    },
    /// Teacher: let a student send their microphone, or take it back.
    AllowSpeak {
        /// The student.
        peer_id: PeerId,
        /// True lets them send their microphone; false also closes their producers.
        allowed: bool,
    },
    /// Teacher, admin: remove a peer from the room.
    Kick {
        /// The peer to remove (a teacher: students only); its user is banned from the room until its token expires.
        peer_id: PeerId,
    },
    /// Teacher (when the server allows) or admin: restream this room to
    /// RTMP(S) destinations, reading the teacher's camera (else screen) and
    /// microphone unless producers are given. Stream keys are never echoed.
    StartRestream {
        /// Default: the teacher's camera, else their screen.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        video_producer_id: Option<ProducerId>,
        /// Default: the teacher's microphone (none: silence).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        audio_producer_id: Option<ProducerId>,
        /// Each: `service` (youtube, twitch, ivs or custom), `streamKey`, plus `ingestEndpoint` (ivs), `ingest` (twitch, optional) or `url` (custom).
        destinations: Vec<DestinationSpec>,
        /// `auto` (default) or `reencode` (teachers only with `egress.teacher_can_reencode`).
        #[serde(default)]
        #[ts(as = "Option<VideoMode>", optional)]
        video_mode: VideoMode,
        /// The teacher's camera and screen in one picture, following them
        /// live (a re-encode: teachers only with `egress.teacher_can_reencode`;
        /// not with producer ids). Absent: one producer pair.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        layout: Option<Layout>,
    },
    /// Teacher (when the server allows) or admin: stop a restream of this room.
    StopRestream {
        /// The restream's `id`, from `startRestream` or `restreamStatus`.
        restream_id: EgressId,
    },
    /// Teacher (when `auth.teacher_can_record`) or admin: record this room
    /// to a file on the server: the teacher's camera and screen in one
    /// picture, and their microphone. Everyone in the room is told (`recording`).
    StartRecording {
        /// Default `auto`: the screen with the camera in a corner when the
        /// teacher sends both, else the one they send; it follows them live.
        #[serde(default)]
        #[ts(as = "Option<Layout>", optional)]
        layout: Layout,
    },
    /// Teacher (when `auth.teacher_can_record`) or admin: stop this room's recording.
    StopRecording {},
    /// Leaves the room: the response, then `closed` (reason `left`), then the socket closes.
    Leave {},
}

impl Request {
    /// The method's name on the wire.
    #[must_use]
    pub fn method(&self) -> &'static str {
        self.into()
    }

    /// Every method's name.
    #[must_use]
    pub fn methods() -> &'static [&'static str] {
        <Self as strum::VariantNames>::VARIANTS
    }
}

/// What a client sends: a request and its id.
#[derive(Debug, Clone, Serialize)]
pub struct Outgoing<'a> {
    /// The client's id for the request, echoed in its response.
    pub id: RequestId,
    /// The method and its data.
    #[serde(flatten)]
    pub request: &'a Request,
}

/// The envelope of a client message, before the method's data is checked.
#[derive(Debug, Deserialize)]
struct Envelope {
    id: RequestId,
    method: String,
    #[serde(default)]
    data: serde_json::Value,
}

/// Why a client message is not a request: the code (`bad_request` or
/// `unknown_method`), and the request's id when the envelope had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The request's id, when the envelope had a readable one.
    pub id: Option<RequestId>,
    /// `bad_request` or `unknown_method`.
    pub code: ErrorCode,
    /// What is wrong, for the error response.
    pub message: String,
}

/// Parses one text message: the envelope first, so that errors in the data
/// still answer to the request's id.
pub fn parse(text: &str) -> Result<(RequestId, Request), ParseError> {
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| {
        let id = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("id")?.as_u64())
            .and_then(|id| RequestId::try_from(id).ok());
        ParseError {
            id,
            code: ErrorCode::BadRequest,
            message: format!("not a request: {e}"),
        }
    })?;
    let id = envelope.id;
    if !Request::methods().contains(&envelope.method.as_str()) {
        return Err(ParseError {
            id: Some(id),
            code: ErrorCode::UnknownMethod,
            message: format!("unknown method {:?}", envelope.method),
        });
    }
    let data = match envelope.data {
        serde_json::Value::Null => serde_json::Value::Object(serde_json::Map::default()),
        data => data,
    };
    let tagged = serde_json::json!({ "method": envelope.method, "data": data });
    serde_json::from_value(tagged)
        .map(|request| (id, request))
        .map_err(|e| ParseError {
            id: Some(id),
            code: ErrorCode::BadRequest,
            message: format!("{}: {e}", envelope.method),
        })
}

/// A peer as others see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PeerInfo {
    /// The peer (one connection).
    pub id: PeerId,
    /// The token's user id (a login, an e-mail): sent to staff only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub user: Option<String>,
    /// Display name, from the token.
    pub name: String,
    /// Role, from the token.
    pub role: Role,
    /// A student's hand is up.
    pub hand_raised: bool,
    /// May send media: teachers always, students once allowed (`allowSpeak`), admins never.
    pub can_speak: bool,
}

/// A producer of the room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ProducerInfo {
    /// The producer, for `consume`.
    pub id: ProducerId,
    /// The peer that sends it.
    pub peer_id: PeerId,
    /// `audio` or `video`.
    #[ts(type = "types.MediaKind")]
    pub kind: MediaKind,
    /// Camera, microphone or screen.
    pub source: Source,
    /// Paused by its owner or staff: no media flows until it resumes.
    pub paused: bool,
}

/// `join`: the room as the peer sees it.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Joined {
    /// This connection's peer id.
    pub peer_id: PeerId,
    /// The room id, from the token.
    pub room: String,
    /// This peer's role, from the token.
    pub role: Role,
    /// Whether this peer may send media now (teachers: yes; students: once allowed).
    pub can_speak: bool,
    /// What the router handles: load mediasoup-client's `Device` with it.
    #[ts(type = "types.RtpCapabilities")]
    pub router_rtp_capabilities: RtpCapabilitiesFinalized,
    /// Students see the room's staff and speakers; staff see everyone.
    pub peers: Vec<PeerInfo>,
    /// Peers in the room, this one included (students get fewer in `peers`).
    pub peer_count: usize,
    /// Every producer in the room, others' to `consume`.
    pub producers: Vec<ProducerInfo>,
    /// Whether the room is being recorded now (then `recording` notifications follow).
    pub recording: bool,
    /// Whether this peer may start and stop recordings (`startRecording`).
    pub can_record: bool,
}

/// `createTransport`: what mediasoup-client's `createSendTransport` /
/// `createRecvTransport` take.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TransportCreated {
    /// The transport's id, for `connectTransport`, `produce` and `restartIce`.
    pub id: TransportId,
    /// The server's ICE username fragment and password.
    #[ts(type = "types.IceParameters")]
    pub ice_parameters: IceParameters,
    /// Where the server listens (UDP and TCP).
    #[ts(type = "types.IceCandidate[]")]
    pub ice_candidates: Vec<IceCandidate>,
    /// The server's DTLS role and certificate fingerprints.
    #[ts(type = "types.DtlsParameters")]
    pub dtls_parameters: DtlsParameters,
    /// TURN servers for this transport's RTCPeerConnection, with credentials
    /// that expire (config `[turn]`); empty without TURN.
    pub ice_servers: Vec<IceServer>,
    /// "all", or "relay" when config `turn.relay_only` sends all media
    /// through TURN.
    pub ice_transport_policy: IceTransportPolicy,
}

/// `restartIce`: the transport's new ICE credentials.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct IceRestarted {
    /// For the client transport's `restartIce`.
    #[ts(type = "types.IceParameters")]
    pub ice_parameters: IceParameters,
}

/// `produce`: the new producer's id.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Produced {
    /// The new producer; the other peers got `newProducer` with it.
    pub producer_id: ProducerId,
}

/// How a consumer forwards its producer's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum ConsumerType {
    /// One stream.
    Simple,
    /// One of the producer's simulcast streams, switched by layer.
    Simulcast,
    /// Layers of one SVC stream.
    Svc,
}

/// `consume`: what mediasoup-client's `transport.consume` takes.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Consumed {
    /// The new consumer, paused until `resumeConsumer`.
    pub consumer_id: ConsumerId,
    /// The producer it forwards.
    pub producer_id: ProducerId,
    /// The peer that sends that producer.
    pub peer_id: PeerId,
    /// `audio` or `video`.
    #[ts(type = "types.MediaKind")]
    pub kind: MediaKind,
    /// The producer's source.
    pub source: Source,
    /// What the browser receives, for `transport.consume`.
    #[ts(type = "types.RtpParameters")]
    pub rtp_parameters: RtpParameters,
    /// `simple`, `simulcast` (takes `setConsumerPreferredLayers`) or `svc`.
    #[serde(rename = "type")]
    pub consumer_type: ConsumerType,
    /// The producer is paused: no media until `producerResumed`.
    pub producer_paused: bool,
}

/// `startRestream`: the restream's status, stream keys redacted.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct RestreamStarted {
    /// Its status; later changes come as `restreamStatus` notifications.
    pub restream: EgressStatus,
}

/// Requests that return nothing answer `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// A successful response's data. On the wire it is untagged: the method of
/// the request says which it is (see [`response_type`]). Variants are in the
/// order that decodes each one as itself (most fields first; [`Empty`] only
/// matches `{}`), which a test checks.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(untagged)]
pub enum ResponseData {
    /// Answers `join`.
    Joined(Joined),
    /// Answers `createTransport`.
    TransportCreated(TransportCreated),
    /// Answers `consume`.
    Consumed(Consumed),
    /// Answers `restartIce`.
    IceRestarted(IceRestarted),
    /// Answers `startRestream`.
    RestreamStarted(RestreamStarted),
    /// Answers `startRecording`.
    RecordingStarted(RecordingStarted),
    /// Answers `produce`.
    Produced(Produced),
    /// Answers every other method: `{}`.
    Empty(Empty),
}

impl From<Empty> for ResponseData {
    fn from(e: Empty) -> Self {
        Self::Empty(e)
    }
}

/// Each method and the name of the type its successful response carries
/// (`Empty` for `{}`). The TypeScript `Responses` map is generated from it.
pub const RESPONSE_TYPES: &[(&str, &str)] = &[
    ("join", "Joined"),
    ("setRtpCapabilities", "Empty"),
    ("createTransport", "TransportCreated"),
    ("connectTransport", "Empty"),
    ("restartIce", "IceRestarted"),
    ("produce", "Produced"),
    ("closeProducer", "Empty"),
    ("pauseProducer", "Empty"),
    ("resumeProducer", "Empty"),
    ("consume", "Consumed"),
    ("resumeConsumer", "Empty"),
    ("pauseConsumer", "Empty"),
    ("setConsumerPreferredLayers", "Empty"),
    ("chat", "Empty"),
    ("raiseHand", "Empty"),
    ("lowerHand", "Empty"),
    ("allowSpeak", "Empty"),
    ("kick", "Empty"),
    ("startRestream", "RestreamStarted"),
    ("stopRestream", "Empty"),
    ("startRecording", "RecordingStarted"),
    ("stopRecording", "Empty"),
    ("leave", "Empty"),
];

/// The name of the type a method's successful response carries.
#[must_use]
pub fn response_type(method: &str) -> Option<&'static str> {
    RESPONSE_TYPES
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, t)| *t)
}

/// An RTCIceServer: a TURN (or STUN) server and the credentials to use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct IceServer {
    /// `turn:` and `turns:` URLs (config `turn.urls`).
    pub urls: Vec<String>,
    /// `"<expiry, Unix seconds>:<peer id>"` (TURN REST credentials).
    pub username: String,
    /// base64(HMAC-SHA1(turn.secret, username)).
    pub credential: String,
}

/// RTCIceTransportPolicy: which candidates the browser may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum IceTransportPolicy {
    /// Any candidate: direct, server-reflexive or relayed.
    All,
    /// TURN relay candidates only.
    Relay,
}

/// Who wrote a chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ChatFrom {
    /// The sender's peer id.
    pub peer_id: PeerId,
    /// The sender's display name.
    pub name: String,
    /// The sender's role.
    pub role: Role,
}

/// Why the server closes a connection; sent in `closed` just before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum CloseReason {
    /// A teacher or admin removed the peer; its user is banned from the room until its token expires.
    Kicked,
    /// The mediasoup worker carrying this peer's media died; reconnect.
    WorkerDied,
    /// The server is shutting down.
    ServerShutdown,
    /// The peer did not read its notifications fast enough.
    TooSlow,
    /// The peer sent `leave`.
    Left,
    /// The same user joined the room again elsewhere (another tab or device):
    /// one live connection per user and room. Do not reconnect.
    Replaced,
    /// The connection did not join within `limits.join_timeout_secs`.
    JoinTimeout,
    /// The class reached `limits.max_peers_per_room` across the cluster's
    /// nodes: this peer joined on one node while the class filled up on
    /// others. Do not reconnect at once.
    RoomFull,
}

/// What the server tells a peer without being asked.
#[derive(Debug, Clone, Serialize, Deserialize, TS, strum::VariantNames, strum::IntoStaticStr)]
#[serde(
    tag = "notification",
    content = "data",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[strum(serialize_all = "camelCase")]
pub enum Notification {
    /// A peer joined: staff hear of everyone, students of staff and speakers only.
    PeerJoined {
        /// The new peer (`user` for staff only).
        peer: PeerInfo,
    },
    /// A peer left or was removed; sent to those who could see it.
    PeerLeft {
        /// The peer gone; its producers close too (`producerClosed`).
        peer_id: PeerId,
    },
    /// A student's hand went up or down; sent to staff and to that student.
    HandRaised {
        /// The student.
        peer_id: PeerId,
        /// True: up; false: down.
        raised: bool,
    },
    /// A student's permission to speak changed (`peer.canSpeak`); sent to
    /// everyone, since speakers are visible to all.
    SpeakPermission {
        /// The student, `canSpeak` updated (`user` for staff only).
        peer: PeerInfo,
    },
    /// A peer started sending a track; sent to everyone but its owner.
    NewProducer {
        /// The new producer: `consume` it to receive it.
        producer: ProducerInfo,
    },
    /// A producer ended (closed, owner gone, speaking revoked); sent to everyone but its owner.
    ProducerClosed {
        /// The producer gone; consumers of it get `consumerClosed`.
        producer_id: ProducerId,
    },
    /// A producer was paused; sent to everyone but its owner.
    ProducerPaused {
        /// The paused producer.
        producer_id: ProducerId,
    },
    /// A paused producer resumed; sent to everyone but its owner.
    ProducerResumed {
        /// The resumed producer.
        producer_id: ProducerId,
    },
    /// One of this peer's consumers closed because its producer did.
    ConsumerClosed {
        /// This peer's consumer, now gone.
        consumer_id: ConsumerId,
        /// The producer it forwarded.
        producer_id: ProducerId,
    },
    /// The simulcast layer a consumer now forwards (none while paused).
    ConsumerLayersChanged {
        /// This peer's simulcast consumer.
        consumer_id: ConsumerId,
        /// Spatial layer forwarded now, from 0; null: none.
        spatial_layer: Option<u8>,
        /// Temporal layer forwarded now, from 0; null: none.
        temporal_layer: Option<u8>,
    },
    /// The loudest producer in the room (none: silence).
    ActiveSpeaker {
        /// The peer sending it; null in silence or if that peer just left.
        peer_id: Option<PeerId>,
        /// The loudest audio producer; null in silence.
        producer_id: Option<ProducerId>,
    },
    /// A chat message; sent to the whole room, its sender included.
    Chat {
        /// Who wrote it.
        from: ChatFrom,
        /// The message, as sent.
        text: String,
        /// Unix milliseconds.
        at: u64,
    },
    /// A restream of the room changed state (staff only): its whole status.
    RestreamStatus {
        /// The restream's status, stream keys redacted.
        restream: EgressStatus,
    },
    /// The room's recording started or ended; sent to everyone in the room
    /// (people must know they are recorded).
    Recording {
        /// True while a recording of the room runs.
        active: bool,
    },
    /// The server is about to close the connection.
    Closed {
        /// Why the connection closes.
        reason: CloseReason,
    },
}

impl Notification {
    /// The notification's name on the wire.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.into()
    }

    /// Every notification's name.
    #[must_use]
    pub fn names() -> &'static [&'static str] {
        <Self as strum::VariantNames>::VARIANTS
    }

    /// Serialized once, shared by every peer it is queued to.
    #[must_use]
    pub fn to_text(&self) -> std::sync::Arc<str> {
        serde_json::to_string(self)
            .expect("notifications serialize")
            .into()
    }
}

#[derive(Serialize)]
struct OkResponse<'a> {
    response: RequestId,
    ok: bool,
    data: &'a ResponseData,
}

#[derive(Serialize)]
struct ErrResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<RequestId>,
    ok: bool,
    error: &'a ErrorBody,
}

/// `{"response": id, "ok": true, "data": ...}`.
#[must_use]
pub fn response_text(id: RequestId, data: &ResponseData) -> String {
    serde_json::to_string(&OkResponse {
        response: id,
        ok: true,
        data,
    })
    .expect("responses serialize")
}

/// `{"response": id, "ok": false, "error": {...}}`; no `response` when the
/// message had no readable id.
#[must_use]
pub fn error_text(id: Option<RequestId>, error: &ErrorBody) -> String {
    serde_json::to_string(&ErrResponse {
        response: id,
        ok: false,
        error,
    })
    .expect("errors serialize")
}

/// One server message, as a client reads it.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// A notification.
    Notification(Notification),
    /// A successful response; decode `data` with the request's type
    /// ([`Incoming::decode`]).
    Ok {
        /// The request's id.
        response: RequestId,
        /// The response's data, not yet decoded.
        data: serde_json::Value,
    },
    /// An error response.
    Err {
        /// The request's id; none when the server could not read one.
        response: Option<RequestId>,
        /// The error's code and message.
        error: ErrorBody,
    },
}

#[derive(Deserialize)]
struct RawIncoming {
    #[serde(default)]
    notification: Option<serde_json::Value>,
    #[serde(default)]
    response: Option<RequestId>,
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

impl Incoming {
    /// Parses one server message.
    pub fn parse(text: &str) -> serde_json::Result<Self> {
        use serde::de::Error as _;
        let raw: RawIncoming = serde_json::from_str(text)?;
        match raw {
            RawIncoming {
                notification: Some(_),
                ..
            } => serde_json::from_str(text).map(Self::Notification),
            RawIncoming {
                ok: Some(true),
                response: Some(response),
                data,
                ..
            } => Ok(Self::Ok {
                response,
                data: data.unwrap_or_default(),
            }),
            RawIncoming {
                ok: Some(false),
                response,
                error: Some(error),
                ..
            } => Ok(Self::Err { response, error }),
            _ => Err(serde_json::Error::custom(
                "neither a notification nor a response",
            )),
        }
    }

    /// The data of a successful response as `T`.
    pub fn decode<T: DeserializeOwned>(data: serde_json::Value) -> serde_json::Result<T> {
        serde_json::from_value(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests_with_and_without_data() {
        let (id, req) = parse(r#"{"id":1,"method":"join"}"#).unwrap();
        assert_eq!(id, 1);
        assert!(matches!(req, Request::Join {}));
        let (_, req) =
            parse(r#"{"id":2,"method":"createTransport","data":{"direction":"recv"}}"#).unwrap();
        assert!(matches!(
            req,
            Request::CreateTransport {
                direction: Direction::Recv
            }
        ));
        let (_, req) = parse(r#"{"id":3,"method":"chat","data":{"text":"hi"}}"#).unwrap();
        assert_eq!(req.method(), "chat");
    }

    #[test]
    fn errors_keep_the_request_id_when_there_is_one() {
        let cases = [
            (
                r#"{"id":5,"method":"fly"}"#,
                Some(5),
                ErrorCode::UnknownMethod,
            ),
            (
                r#"{"id":6,"method":"chat","data":{}}"#,
                Some(6),
                ErrorCode::BadRequest,
            ),
            (
                r#"{"id":7,"method":"chat","data":{"text":1}}"#,
                Some(7),
                ErrorCode::BadRequest,
            ),
            (
                r#"{"id":8,"method":"join","data":{"extra":1}}"#,
                Some(8),
                ErrorCode::BadRequest,
            ),
            (r#"{"id":"x","method":"join"}"#, None, ErrorCode::BadRequest),
            (r#"{"method":"join"}"#, None, ErrorCode::BadRequest),
            ("not json", None, ErrorCode::BadRequest),
            (
                r#"{"id":9,"method":"consume","data":{"producerId":"nope"}}"#,
                Some(9),
                ErrorCode::BadRequest,
            ),
        ];
        for (text, want_id, want_code) in cases {
            let err = parse(text).expect_err(text);
            assert_eq!(err.id, want_id, "{text}");
            assert_eq!(err.code, want_code, "{text}");
        }
    }

    #[test]
    fn requests_round_trip_through_their_envelope() {
        let request = Request::LowerHand { peer_id: None };
        let text = serde_json::to_string(&Outgoing {
            id: 4,
            request: &request,
        })
        .unwrap();
        assert_eq!(text, r#"{"id":4,"method":"lowerHand","data":{}}"#);
        let (id, back) = parse(&text).unwrap();
        assert_eq!(id, 4);
        assert!(matches!(back, Request::LowerHand { peer_id: None }));
    }

    #[test]
    fn responses_and_notifications_have_their_envelope() {
        let ok = response_text(3, &Empty {}.into());
        assert_eq!(ok, r#"{"response":3,"ok":true,"data":{}}"#);
        let err = error_text(
            Some(4),
            &ErrorBody {
                code: ErrorCode::Forbidden,
                message: "students cannot produce".into(),
            },
        );
        assert_eq!(
            err,
            r#"{"response":4,"ok":false,"error":{"code":"forbidden","message":"students cannot produce"}}"#
        );
        let n = Notification::PeerLeft {
            peer_id: PeerId::new(),
        }
        .to_text();
        assert!(
            n.starts_with(r#"{"notification":"peerLeft","data":{"peerId":""#),
            "{n}"
        );
        assert!(matches!(
            Incoming::parse(&n).unwrap(),
            Incoming::Notification(Notification::PeerLeft { .. })
        ));
        assert!(matches!(
            Incoming::parse(&ok).unwrap(),
            Incoming::Ok { response: 3, .. }
        ));
        assert!(matches!(
            Incoming::parse(&err).unwrap(),
            Incoming::Err {
                response: Some(4),
                ..
            }
        ));
    }

    #[test]
    fn every_method_names_its_response_type() {
        let listed: Vec<&str> = RESPONSE_TYPES.iter().map(|(m, _)| *m).collect();
        assert_eq!(listed, Request::methods());
    }

    /// Untagged decoding tries variants in order: each response must decode
    /// as its own variant, not as an earlier one that happens to fit.
    #[test]
    fn each_response_decodes_as_itself() {
        let id = ProducerId::new();
        let produced =
            serde_json::to_value(ResponseData::Produced(Produced { producer_id: id })).unwrap();
        assert!(matches!(
            serde_json::from_value(produced).unwrap(),
            ResponseData::Produced(_)
        ));
        let empty = serde_json::to_value(ResponseData::Empty(Empty {})).unwrap();
        assert!(matches!(
            serde_json::from_value(empty).unwrap(),
            ResponseData::Empty(_)
        ));
        let consumed = serde_json::to_value(ResponseData::Consumed(Consumed {
            consumer_id: ConsumerId::new(),
            producer_id: id,
            peer_id: PeerId::new(),
            kind: MediaKind::Video,
            source: Source::Camera,
            rtp_parameters: RtpParameters::default(),
            consumer_type: ConsumerType::Simulcast,
            producer_paused: false,
        }))
        .unwrap();
        assert!(matches!(
            serde_json::from_value(consumed).unwrap(),
            ResponseData::Consumed(_)
        ));
    }
}
