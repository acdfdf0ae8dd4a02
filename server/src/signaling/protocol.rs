//! The signaling protocol: JSON over one WebSocket per peer.
//!
//! Client -> server: `{"id": 7, "method": "consume", "data": {...}}`.
//! Server -> client: a response `{"response": 7, "ok": true, "data": {...}}`
//! or `{"response": 7, "ok": false, "error": {"code": ..., "message": ...}}`,
//! and notifications `{"notification": "newProducer", "data": {...}}`.
//! docs/PROTOCOL.md is generated from these types (see tests/protocol_doc.rs).

use crate::auth::Role;
use crate::error::{Error, ErrorBody};
use crate::ids::PeerId;
use mediasoup::prelude::*;
use podium_egress::{DestinationSpec, EgressId, EgressStatus, VideoMode};
use serde::{Deserialize, Serialize};

pub type RequestId = u32;

/// Where a producer's media comes from; the client says, the server checks
/// it against the kind and the peer's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    Camera,
    Mic,
    Screen,
}

impl Source {
    pub fn kind(self) -> MediaKind {
        match self {
            Source::Mic => MediaKind::Audio,
            Source::Camera | Source::Screen => MediaKind::Video,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    Send,
    Recv,
}

#[derive(Debug, Clone, Deserialize, strum::VariantNames, strum::IntoStaticStr)]
#[serde(
    tag = "method",
    content = "data",
    rename_all = "camelCase",
    deny_unknown_fields
)]
#[strum(serialize_all = "camelCase")]
pub enum Request {
    /// First request on a connection: enter the room the token names.
    Join {},
    /// The browser's receive capabilities (mediasoup-client `device.rtpCapabilities`);
    /// required once before `consume`.
    #[serde(rename_all = "camelCase")]
    SetRtpCapabilities {
        rtp_capabilities: RtpCapabilities,
    },
    CreateTransport {
        direction: Direction,
    },
    #[serde(rename_all = "camelCase")]
    ConnectTransport {
        transport_id: TransportId,
        dtls_parameters: DtlsParameters,
    },
    /// New ICE credentials after an ICE failure; the client calls `restartIce` with them.
    #[serde(rename_all = "camelCase")]
    RestartIce {
        transport_id: TransportId,
    },
    #[serde(rename_all = "camelCase")]
    Produce {
        transport_id: TransportId,
        kind: MediaKind,
        rtp_parameters: RtpParameters,
        source: Source,
    },
    #[serde(rename_all = "camelCase")]
    CloseProducer {
        producer_id: ProducerId,
    },
    #[serde(rename_all = "camelCase")]
    PauseProducer {
        producer_id: ProducerId,
    },
    #[serde(rename_all = "camelCase")]
    ResumeProducer {
        producer_id: ProducerId,
    },
    /// Creates a paused consumer on the peer's recv transport; resume it once
    /// the client-side consumer exists.
    #[serde(rename_all = "camelCase")]
    Consume {
        producer_id: ProducerId,
    },
    #[serde(rename_all = "camelCase")]
    ResumeConsumer {
        consumer_id: ConsumerId,
    },
    #[serde(rename_all = "camelCase")]
    PauseConsumer {
        consumer_id: ConsumerId,
    },
    /// Caps the simulcast layer of a video consumer (0 = lowest); mediasoup
    /// picks at most this layer, lower when the downlink cannot take it.
    #[serde(rename_all = "camelCase")]
    SetConsumerPreferredLayers {
        consumer_id: ConsumerId,
        spatial_layer: u8,
        temporal_layer: Option<u8>,
    },
    Chat {
        text: String,
    },
    RaiseHand {},
    /// Lowers the caller's hand, or (teacher, admin) another peer's.
    #[serde(rename_all = "camelCase")]
    LowerHand {
        peer_id: Option<PeerId>,
    },
    /// Teacher: let a student send their microphone, or take it back.
    #[serde(rename_all = "camelCase")]
    AllowSpeak {
        peer_id: PeerId,
        allowed: bool,
    },
    /// Teacher, admin: remove a peer from the room.
    #[serde(rename_all = "camelCase")]
    Kick {
        peer_id: PeerId,
    },
    /// Teacher (when the server allows) or admin: restream this room to
    /// RTMP(S) destinations, reading the teacher's camera (else screen) and
    /// microphone unless producers are given. Stream keys are never echoed.
    #[serde(rename_all = "camelCase")]
    StartRestream {
        video_producer_id: Option<ProducerId>,
        audio_producer_id: Option<ProducerId>,
        /// Each: `service` (youtube, twitch, ivs or custom), `streamKey`, plus `ingestEndpoint` (ivs), `ingest` (twitch, optional) or `url` (custom).
        destinations: Vec<DestinationSpec>,
        #[serde(default)]
        video_mode: VideoMode,
    },
    #[serde(rename_all = "camelCase")]
    StopRestream {
        restream_id: EgressId,
    },
    Leave {},
}

impl Request {
    pub fn method(&self) -> &'static str {
        self.into()
    }
}

/// What the client sends, before the method's data is checked.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub id: RequestId,
    pub method: String,
    #[serde(default)]
    pub data: serde_json::Value,
}

/// Parses one text message: the envelope first, so that errors in the data
/// still answer to the request's id.
pub fn parse(text: &str) -> Result<(RequestId, Request), (Option<RequestId>, Error)> {
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| {
        let id = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("id")?.as_u64())
            .and_then(|id| RequestId::try_from(id).ok());
        (id, Error::BadRequest(format!("not a request: {e}")))
    })?;
    let id = envelope.id;
    if !<Request as strum::VariantNames>::VARIANTS.contains(&envelope.method.as_str()) {
        return Err((Some(id), Error::UnknownMethod(envelope.method)));
    }
    let data = match envelope.data {
        serde_json::Value::Null => serde_json::Value::Object(Default::default()),
        data => data,
    };
    let tagged = serde_json::json!({ "method": envelope.method, "data": data });
    serde_json::from_value(tagged)
        .map(|request| (id, request))
        .map_err(|e| {
            (
                Some(id),
                Error::BadRequest(format!("{}: {e}", envelope.method)),
            )
        })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerInfo {
    pub id: PeerId,
    /// The token's user id (a login, an e-mail): sent to staff only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub name: String,
    pub role: Role,
    pub hand_raised: bool,
    pub can_speak: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerInfo {
    pub id: ProducerId,
    pub peer_id: PeerId,
    pub kind: MediaKind,
    pub source: Source,
    pub paused: bool,
}

/// Successful responses, by method.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ResponseData {
    #[serde(rename_all = "camelCase")]
    Joined {
        peer_id: PeerId,
        room: String,
        role: Role,
        can_speak: bool,
        router_rtp_capabilities: RtpCapabilitiesFinalized,
        /// Students see the room's staff and speakers; staff see everyone.
        peers: Vec<PeerInfo>,
        peer_count: usize,
        producers: Vec<ProducerInfo>,
    },
    #[serde(rename_all = "camelCase")]
    TransportCreated {
        id: TransportId,
        ice_parameters: IceParameters,
        ice_candidates: Vec<IceCandidate>,
        dtls_parameters: DtlsParameters,
        /// TURN servers for this transport's RTCPeerConnection, with credentials
        /// that expire (config `[turn]`); empty without TURN.
        ice_servers: Vec<IceServer>,
        /// "all", or "relay" when config `turn.relay_only` sends all media
        /// through TURN.
        ice_transport_policy: IceTransportPolicy,
    },
    #[serde(rename_all = "camelCase")]
    IceRestarted { ice_parameters: IceParameters },
    #[serde(rename_all = "camelCase")]
    Produced { producer_id: ProducerId },
    #[serde(rename_all = "camelCase")]
    Consumed {
        consumer_id: ConsumerId,
        producer_id: ProducerId,
        peer_id: PeerId,
        kind: MediaKind,
        source: Source,
        rtp_parameters: RtpParameters,
        /// "simple" or "simulcast".
        #[serde(rename = "type")]
        consumer_type: String,
        producer_paused: bool,
    },
    /// A restream's status, stream keys redacted.
    Restream { restream: EgressStatus },
    /// Requests that return nothing answer `{}`.
    Empty {},
}

/// An RTCIceServer: a TURN (or STUN) server and the credentials to use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IceServer {
    pub urls: Vec<String>,
    /// "<expiry, Unix seconds>:<peer id>" (TURN REST credentials).
    pub username: String,
    /// base64(HMAC-SHA1(turn.secret, username)).
    pub credential: String,
}

/// RTCIceTransportPolicy: which candidates the browser may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum IceTransportPolicy {
    All,
    Relay,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatFrom {
    pub peer_id: PeerId,
    pub name: String,
    pub role: Role,
}

/// Why the server closes a connection; sent in `closed` just before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CloseReason {
    Kicked,
    /// The mediasoup worker carrying this peer's media died; reconnect.
    WorkerDied,
    ServerShutdown,
    /// The peer did not read its notifications fast enough.
    TooSlow,
    Left,
    /// The same user joined the room again elsewhere (another tab or device):
    /// one live connection per user and room. Do not reconnect.
    Replaced,
    /// The connection did not join within `limits.join_timeout_secs`.
    JoinTimeout,
}

#[derive(Debug, Serialize, strum::VariantNames, strum::IntoStaticStr)]
#[serde(tag = "notification", content = "data", rename_all = "camelCase")]
#[strum(serialize_all = "camelCase")]
pub enum Notification {
    PeerJoined {
        peer: PeerInfo,
    },
    #[serde(rename_all = "camelCase")]
    PeerLeft {
        peer_id: PeerId,
    },
    #[serde(rename_all = "camelCase")]
    HandRaised {
        peer_id: PeerId,
        raised: bool,
    },
    /// A student's permission to speak changed (`peer.canSpeak`); sent to
    /// everyone, since speakers are visible to all.
    SpeakPermission {
        peer: PeerInfo,
    },
    NewProducer {
        producer: ProducerInfo,
    },
    #[serde(rename_all = "camelCase")]
    ProducerClosed {
        producer_id: ProducerId,
    },
    #[serde(rename_all = "camelCase")]
    ProducerPaused {
        producer_id: ProducerId,
    },
    #[serde(rename_all = "camelCase")]
    ProducerResumed {
        producer_id: ProducerId,
    },
    #[serde(rename_all = "camelCase")]
    ConsumerClosed {
        consumer_id: ConsumerId,
        producer_id: ProducerId,
    },
    /// The simulcast layer a consumer now forwards (none while paused).
    #[serde(rename_all = "camelCase")]
    ConsumerLayersChanged {
        consumer_id: ConsumerId,
        spatial_layer: Option<u8>,
        temporal_layer: Option<u8>,
    },
    /// The loudest producer in the room (none: silence).
    #[serde(rename_all = "camelCase")]
    ActiveSpeaker {
        peer_id: Option<PeerId>,
        producer_id: Option<ProducerId>,
    },
    Chat {
        from: ChatFrom,
        text: String,
        /// Unix milliseconds.
        at: u64,
    },
    /// A restream of the room changed state (staff only): its whole status.
    EgressStatus {
        egress: serde_json::Value,
    },
    /// The server is about to close the connection.
    Closed {
        reason: CloseReason,
    },
}

impl Notification {
    pub fn name(&self) -> &'static str {
        self.into()
    }

    /// Serialized once, shared by every peer it is queued to.
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

pub fn response_text(id: RequestId, result: &Result<ResponseData, Error>) -> String {
    match result {
        Ok(data) => serde_json::to_string(&OkResponse {
            response: id,
            ok: true,
            data,
        }),
        Err(e) => error_text(Some(id), e),
    }
    .expect("responses serialize")
}

pub fn error_text(id: Option<RequestId>, error: &Error) -> Result<String, serde_json::Error> {
    serde_json::to_string(&ErrResponse {
        response: id,
        ok: false,
        error: &error.body(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

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
            let (id, err) = parse(text).expect_err(text);
            assert_eq!(id, want_id, "{text}");
            assert_eq!(err.code(), want_code, "{text}");
        }
    }

    #[test]
    fn responses_and_notifications_have_their_envelope() {
        let ok = response_text(3, &Ok(ResponseData::Empty {}));
        assert_eq!(ok, r#"{"response":3,"ok":true,"data":{}}"#);
        let err = response_text(4, &Err(Error::Forbidden("students cannot produce".into())));
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
    }
}
