// Generated from the podium-protocol crate (protocol/src) by ts-rs: do not edit.
// `PODIUM_UPDATE_DOCS=1 cargo test -p podium-protocol` rewrites it.

import type { types } from 'mediasoup-client';

export type PeerId = string & { readonly __brand: "PeerId" };

export type ProducerId = string & { readonly __brand: "ProducerId" };

export type ConsumerId = string & { readonly __brand: "ConsumerId" };

export type TransportId = string & { readonly __brand: "TransportId" };

export type EgressId = string & { readonly __brand: "EgressId" };

export type DestinationId = string & { readonly __brand: "DestinationId" };

export type RecordingId = string & { readonly __brand: "RecordingId" };

/**
 * Error codes on the wire: stable, snake_case, listed in docs/PROTOCOL.md.
 */
export type ErrorCode = "bad_request" | "unknown_method" | "not_found" | "forbidden" | "unauthorized" | "conflict" | "rate_limited" | "too_large" | "room_full" | "limit_reached" | "media_error" | "internal" | "unavailable";

/**
 * `{"code": "...", "message": "..."}`, in WebSocket responses and HTTP errors
 * (`{"error": {...}}` there).
 */
export type ErrorBody = { 
/**
 * What went wrong, as a stable code to match on.
 */
code: ErrorCode, 
/**
 * An explanation for people; its wording may change.
 */
message: string, };

/**
 * What a token lets its holder do in a room.
 */
export type Role = "teacher" | "student" | "admin";

/**
 * Where a producer's media comes from; the client says, the server checks
 * it against the kind and the peer's role.
 */
export type Source = "camera" | "mic" | "screen";

/**
 * Which way a transport carries media, seen from the client.
 */
export type Direction = "send" | "recv";

/**
 * A request's method and data.
 */
export type Request = { "method": "join", "data": Record<symbol, never> } | { "method": "setRtpCapabilities", "data": { 
/**
 * What the browser can decode: codecs and RTP header extensions.
 */
rtpCapabilities: types.RtpCapabilities, } } | { "method": "createTransport", "data": { 
/**
 * `send` (teachers, students allowed to speak) or `recv`.
 */
direction: Direction, } } | { "method": "connectTransport", "data": { 
/**
 * A transport of this peer, from `createTransport`.
 */
transportId: TransportId, 
/**
 * The browser's DTLS parameters, from the `connect` event.
 */
dtlsParameters: types.DtlsParameters, } } | { "method": "restartIce", "data": { 
/**
 * A transport of this peer.
 */
transportId: TransportId, } } | { "method": "produce", "data": { 
/**
 * The peer's send transport.
 */
transportId: TransportId, 
/**
 * `audio` or `video`: must match `source`.
 */
kind: types.MediaKind, 
/**
 * From the send transport's `produce` event (up to 3 simulcast encodings).
 */
rtpParameters: types.RtpParameters, 
/**
 * What the track is; a student allowed to speak may send `mic` only.
 */
source: Source, } } | { "method": "closeProducer", "data": { 
/**
 * The producer to close.
 */
producerId: ProducerId, } } | { "method": "pauseProducer", "data": { 
/**
 * The producer to pause.
 */
producerId: ProducerId, } } | { "method": "resumeProducer", "data": { 
/**
 * The producer to resume.
 */
producerId: ProducerId, } } | { "method": "consume", "data": { 
/**
 * Another peer's producer, from `join` or `newProducer`.
 */
producerId: ProducerId, } } | { "method": "resumeConsumer", "data": { 
/**
 * A consumer of this peer, from `consume`.
 */
consumerId: ConsumerId, } } | { "method": "pauseConsumer", "data": { 
/**
 * A consumer of this peer.
 */
consumerId: ConsumerId, } } | { "method": "setConsumerPreferredLayers", "data": { 
/**
 * A simulcast consumer of this peer.
 */
consumerId: ConsumerId, 
/**
 * Highest spatial layer (simulcast stream) to forward, from 0.
 */
spatialLayer: number, 
/**
 * Highest temporal layer within it, from 0; absent: the highest there is.
 */
temporalLayer?: number, } } | { "method": "chat", "data": { 
/**
 * Not blank, at most `limits.max_chat_bytes` bytes; no control (but newline, tab), bidi or invisible characters.
 */
text: string, } } | { "method": "raiseHand", "data": Record<symbol, never> } | { "method": "lowerHand", "data": { 
/**
 * Whose hand (teacher, admin); absent: the caller's.
 */
peerId?: PeerId, } } | { "method": "allowSpeak", "data": { 
/**
 * The student.
 */
peerId: PeerId, 
/**
 * True lets them send their microphone; false also closes their producers.
 */
allowed: boolean, } } | { "method": "kick", "data": { 
/**
 * The peer to remove (a teacher: students only); its user is banned from the room until its token expires.
 */
peerId: PeerId, } } | { "method": "startRestream", "data": { 
/**
 * Default: the teacher's camera, else their screen.
 */
videoProducerId?: ProducerId, 
/**
 * Default: the teacher's microphone (none: silence).
 */
audioProducerId?: ProducerId, 
/**
 * Each: `service` (youtube, twitch, ivs or custom), `streamKey`, plus `ingestEndpoint` (ivs), `ingest` (twitch, optional) or `url` (custom).
 */
destinations: Array<DestinationSpec>, 
/**
 * `auto` (default) or `reencode` (teachers only with `egress.teacher_can_reencode`).
 */
videoMode?: VideoMode, 
/**
 * The teacher's camera and screen in one picture, following them
 * live (a re-encode: teachers only with `egress.teacher_can_reencode`;
 * not with producer ids). Absent: one producer pair.
 */
layout?: Layout, } } | { "method": "stopRestream", "data": { 
/**
 * The restream's `id`, from `startRestream` or `restreamStatus`.
 */
restreamId: EgressId, } } | { "method": "startRecording", "data": { 
/**
 * Default `auto`: the screen with the camera in a corner when the
 * teacher sends both, else the one they send; it follows them live.
 */
layout?: Layout, } } | { "method": "stopRecording", "data": Record<symbol, never> } | { "method": "leave", "data": Record<symbol, never> };

/**
 * A peer as others see it.
 */
export type PeerInfo = { 
/**
 * The peer (one connection).
 */
id: PeerId, 
/**
 * The token's user id (a login, an e-mail): sent to staff only.
 */
user?: string, 
/**
 * Display name, from the token.
 */
name: string, 
/**
 * Role, from the token.
 */
role: Role, 
/**
 * A student's hand is up.
 */
handRaised: boolean, 
/**
 * May send media: teachers always, students once allowed (`allowSpeak`), admins never.
 */
canSpeak: boolean, };

/**
 * A producer of the room.
 */
export type ProducerInfo = { 
/**
 * The producer, for `consume`.
 */
id: ProducerId, 
/**
 * The peer that sends it.
 */
peerId: PeerId, 
/**
 * `audio` or `video`.
 */
kind: types.MediaKind, 
/**
 * Camera, microphone or screen.
 */
source: Source, 
/**
 * Paused by its owner or staff: no media flows until it resumes.
 */
paused: boolean, };

/**
 * `join`: the room as the peer sees it.
 */
export type Joined = { 
/**
 * This connection's peer id.
 */
peerId: PeerId, 
/**
 * The room id, from the token.
 */
room: string, 
/**
 * This peer's role, from the token.
 */
role: Role, 
/**
 * Whether this peer may send media now (teachers: yes; students: once allowed).
 */
canSpeak: boolean, 
/**
 * What the router handles: load mediasoup-client's `Device` with it.
 */
routerRtpCapabilities: types.RtpCapabilities, 
/**
 * Students see the room's staff and speakers; staff see everyone.
 */
peers: Array<PeerInfo>, 
/**
 * Peers in the room, this one included (students get fewer in `peers`).
 */
peerCount: number, 
/**
 * Every producer in the room, others' to `consume`.
 */
producers: Array<ProducerInfo>, 
/**
 * Whether the room is being recorded now (then `recording` notifications follow).
 */
recording: boolean, 
/**
 * Whether this peer may start and stop recordings (`startRecording`).
 */
canRecord: boolean, };

/**
 * An RTCIceServer: a TURN (or STUN) server and the credentials to use it.
 */
export type IceServer = { 
/**
 * `turn:` and `turns:` URLs (config `turn.urls`).
 */
urls: Array<string>, 
/**
 * `"<expiry, Unix seconds>:<peer id>"` (TURN REST credentials).
 */
username: string, 
/**
 * base64(HMAC-SHA1(turn.secret, username)).
 */
credential: string, };

/**
 * RTCIceTransportPolicy: which candidates the browser may use.
 */
export type IceTransportPolicy = "all" | "relay";

/**
 * `createTransport`: what mediasoup-client's `createSendTransport` /
 * `createRecvTransport` take.
 */
export type TransportCreated = { 
/**
 * The transport's id, for `connectTransport`, `produce` and `restartIce`.
 */
id: TransportId, 
/**
 * The server's ICE username fragment and password.
 */
iceParameters: types.IceParameters, 
/**
 * Where the server listens (UDP and TCP).
 */
iceCandidates: types.IceCandidate[], 
/**
 * The server's DTLS role and certificate fingerprints.
 */
dtlsParameters: types.DtlsParameters, 
/**
 * TURN servers for this transport's RTCPeerConnection, with credentials
 * that expire (config `[turn]`); empty without TURN.
 */
iceServers: Array<IceServer>, 
/**
 * "all", or "relay" when config `turn.relay_only` sends all media
 * through TURN.
 */
iceTransportPolicy: IceTransportPolicy, };

/**
 * `restartIce`: the transport's new ICE credentials.
 */
export type IceRestarted = { 
/**
 * For the client transport's `restartIce`.
 */
iceParameters: types.IceParameters, };

/**
 * `produce`: the new producer's id.
 */
export type Produced = { 
/**
 * The new producer; the other peers got `newProducer` with it.
 */
producerId: ProducerId, };

/**
 * How a consumer forwards its producer's streams.
 */
export type ConsumerType = "simple" | "simulcast" | "svc";

/**
 * `consume`: what mediasoup-client's `transport.consume` takes.
 */
export type Consumed = { 
/**
 * The new consumer, paused until `resumeConsumer`.
 */
consumerId: ConsumerId, 
/**
 * The producer it forwards.
 */
producerId: ProducerId, 
/**
 * The peer that sends that producer.
 */
peerId: PeerId, 
/**
 * `audio` or `video`.
 */
kind: types.MediaKind, 
/**
 * The producer's source.
 */
source: Source, 
/**
 * What the browser receives, for `transport.consume`.
 */
rtpParameters: types.RtpParameters, 
/**
 * `simple`, `simulcast` (takes `setConsumerPreferredLayers`) or `svc`.
 */
type: ConsumerType, 
/**
 * The producer is paused: no media until `producerResumed`.
 */
producerPaused: boolean, };

/**
 * `startRestream`: the restream's status, stream keys redacted.
 */
export type RestreamStarted = { 
/**
 * Its status; later changes come as `restreamStatus` notifications.
 */
restream: EgressStatus, };

/**
 * The answer to a start: `{"recording": {...}}`.
 */
export type RecordingStarted = { 
/**
 * The new recording.
 */
recording: RecordingSummary, };

/**
 * Requests that return nothing answer `{}`.
 */
export type Empty = Record<symbol, never>;

/**
 * Who wrote a chat message.
 */
export type ChatFrom = { 
/**
 * The sender's peer id.
 */
peerId: PeerId, 
/**
 * The sender's display name.
 */
name: string, 
/**
 * The sender's role.
 */
role: Role, };

/**
 * Why the server closes a connection; sent in `closed` just before.
 */
export type CloseReason = "kicked" | "workerDied" | "serverShutdown" | "tooSlow" | "left" | "replaced" | "joinTimeout" | "roomFull";

/**
 * What the server tells a peer without being asked.
 */
export type Notification = { "notification": "peerJoined", "data": { 
/**
 * The new peer (`user` for staff only).
 */
peer: PeerInfo, } } | { "notification": "peerLeft", "data": { 
/**
 * The peer gone; its producers close too (`producerClosed`).
 */
peerId: PeerId, } } | { "notification": "handRaised", "data": { 
/**
 * The student.
 */
peerId: PeerId, 
/**
 * True: up; false: down.
 */
raised: boolean, } } | { "notification": "speakPermission", "data": { 
/**
 * The student, `canSpeak` updated (`user` for staff only).
 */
peer: PeerInfo, } } | { "notification": "newProducer", "data": { 
/**
 * The new producer: `consume` it to receive it.
 */
producer: ProducerInfo, } } | { "notification": "producerClosed", "data": { 
/**
 * The producer gone; consumers of it get `consumerClosed`.
 */
producerId: ProducerId, } } | { "notification": "producerPaused", "data": { 
/**
 * The paused producer.
 */
producerId: ProducerId, } } | { "notification": "producerResumed", "data": { 
/**
 * The resumed producer.
 */
producerId: ProducerId, } } | { "notification": "consumerClosed", "data": { 
/**
 * This peer's consumer, now gone.
 */
consumerId: ConsumerId, 
/**
 * The producer it forwarded.
 */
producerId: ProducerId, } } | { "notification": "consumerLayersChanged", "data": { 
/**
 * This peer's simulcast consumer.
 */
consumerId: ConsumerId, 
/**
 * Spatial layer forwarded now, from 0; null: none.
 */
spatialLayer: number | null, 
/**
 * Temporal layer forwarded now, from 0; null: none.
 */
temporalLayer: number | null, } } | { "notification": "activeSpeaker", "data": { 
/**
 * The peer sending it; null in silence or if that peer just left.
 */
peerId: PeerId | null, 
/**
 * The loudest audio producer; null in silence.
 */
producerId: ProducerId | null, } } | { "notification": "chat", "data": { 
/**
 * Who wrote it.
 */
from: ChatFrom, 
/**
 * The message, as sent.
 */
text: string, 
/**
 * Unix milliseconds.
 */
at: number, } } | { "notification": "restreamStatus", "data": { 
/**
 * The restream's status, stream keys redacted.
 */
restream: EgressStatus, } } | { "notification": "recording", "data": { 
/**
 * True while a recording of the room runs.
 */
active: boolean, } } | { "notification": "closed", "data": { 
/**
 * Why the connection closes.
 */
reason: CloseReason, } };

/**
 * An RTMP stream key. `Debug` prints `***` and there is no `Display`, so a
 * key cannot reach a log line by accident. It serializes (clients send it)
 * but no server reply carries one: replies show the redacted URL.
 */
export type StreamKey = string;

/**
 * The service a destination belongs to, which fixes its base URL.
 */
export type Ingest = { "service": "ivs", 
/**
 * The channel's ingest server host.
 */
ingestEndpoint: string, } | { "service": "twitch", 
/**
 * Ingest host; absent: Twitch's global ingest.
 */
ingest?: string, } | { "service": "youtube" } | { "service": "custom", 
/**
 * `rtmp://` or `rtmps://` URL, with or without the key at its end.
 */
url: string, };

/**
 * One destination as the caller gives it: `{"service": "youtube",
 * "streamKey": "..."}`, `{"service": "ivs", "ingestEndpoint": "...",
 * "streamKey": "..."}`, `{"service": "custom", "url": "rtmp://host/app",
 * "streamKey": "..."}`. The key goes to the server once and never comes back.
 */
export type DestinationSpec = { 
/**
 * Required for the presets; optional for a custom URL that ends with it.
 */
streamKey?: StreamKey, } & ({ "service": "ivs", 
/**
 * The channel's ingest server host.
 */
ingestEndpoint: string, } | { "service": "twitch", 
/**
 * Ingest host; absent: Twitch's global ingest.
 */
ingest?: string, } | { "service": "youtube" } | { "service": "custom", 
/**
 * `rtmp://` or `rtmps://` URL, with or without the key at its end.
 */
url: string, });

/**
 * Whether H.264 input may pass through.
 */
export type VideoMode = "auto" | "reencode";

/**
 * How a composed egress (a recording, or a restream given a layout) places
 * the teacher's camera and screen in its one picture.
 */
export type Layout = "camera" | "screen" | "screenWithCamera" | "sideBySide" | "auto";

/**
 * The video codec a producer sends.
 */
export type InputVideoCodec = { "codec": "vp8" } | { "codec": "h264", 
/**
 * The producer's `profile-level-id` (hex, e.g. `42e01f`), if its codec gives one.
 */
profileLevelId: string | null, };

/**
 * What the pipeline does with the video.
 */
export type VideoPath = "passthrough" | "reencode";

/**
 * State of a whole egress.
 */
export type EgressState = { "state": "starting" } | { "state": "live" } | { "state": "reconnecting" } | { "state": "waitingForInput", 
/**
 * The whole grace period in milliseconds (not the time left).
 */
graceMs: number, } | { "state": "failed", 
/**
 * What failed (no stream key in it).
 */
error: string, } | { "state": "stopped", 
/**
 * Why it stopped.
 */
reason: StopReason, };

/**
 * Why an egress stopped.
 */
export type StopReason = "requested" | "inputEnded" | "routerClosed" | "dropped";

/**
 * State of one destination.
 */
export type DestinationState = { "state": "starting" } | { "state": "live" } | { "state": "reconnecting", 
/**
 * Number of the attempt due, from 1.
 */
attempt: number, 
/**
 * Why the last connection failed (no stream key in it).
 */
lastError: string, 
/**
 * Milliseconds until that attempt; 0 once it is under way.
 */
retryInMs: number, } | { "state": "failed", 
/**
 * Why it gave up (no stream key in it).
 */
error: string, } | { "state": "stopped" };

/**
 * State of an egress's file output (a recording).
 */
export type FileState = { "state": "writing" } | { "state": "finished" } | { "state": "failed", 
/**
 * Why (the file system's words).
 */
error: string, };

/**
 * An egress's file output, as status shows it.
 */
export type FileStatus = { 
/**
 * Size of the file on disk.
 */
bytes: number, 
/**
 * Media written, seconds (first to last video frame).
 */
durationSecs: number, } & ({ "state": "writing" } | { "state": "finished" } | { "state": "failed", 
/**
 * Why (the file system's words).
 */
error: string, });

/**
 * One destination of an egress, as status shows it.
 */
export type DestinationStatus = { 
/**
 * The destination's id, to remove it.
 */
id: DestinationId, 
/**
 * The URL with the stream key replaced by `***`.
 */
url: string, 
/**
 * Its figures.
 */
stats: DestinationStats, } & ({ "state": "starting" } | { "state": "live" } | { "state": "reconnecting", 
/**
 * Number of the attempt due, from 1.
 */
attempt: number, 
/**
 * Why the last connection failed (no stream key in it).
 */
lastError: string, 
/**
 * Milliseconds until that attempt; 0 once it is under way.
 */
retryInMs: number, } | { "state": "failed", 
/**
 * Why it gave up (no stream key in it).
 */
error: string, } | { "state": "stopped" });

/**
 * Figures of one destination.
 */
export type DestinationStats = { 
/**
 * Bytes written to the ingest, over all connections.
 */
bytesOut: number, 
/**
 * Over the last two seconds.
 */
bitrateBps: number, 
/**
 * Time live on the current connection (0 when not live).
 */
uptimeSecs: number, 
/**
 * Connections made after the first.
 */
reconnects: number, };

/**
 * The input side of an egress.
 */
export type InputStatus = { 
/**
 * The codec the video producer sends.
 */
video: InputVideoCodec, 
/**
 * `passthrough` or `reencode`.
 */
videoPath: VideoPath, 
/**
 * An audio producer feeds the egress; without one the output is silent.
 */
hasAudio: boolean, 
/**
 * RTP arrived lately (a paused or gone producer stops it).
 */
videoFlowing: boolean, 
/**
 * Audio RTP arrived lately (false without audio).
 */
audioFlowing: boolean, };

/**
 * Figures of a whole egress.
 */
export type EgressStats = { 
/**
 * Seconds since the egress started (input replacements included).
 */
uptimeSecs: number, 
/**
 * Video frames per second into the muxer.
 */
fps: number, 
/**
 * Muxed FLV bitrate (what each live destination receives).
 */
bitrateBps: number, 
/**
 * Muxed FLV bytes since the current input began (from 0 again when it is replaced).
 */
bytesMuxed: number, };

/**
 * A snapshot of one egress. Serializes to camelCase JSON with no secret in it.
 */
export type EgressStatus = { 
/**
 * The egress id: the restream's id in the admin API and in `stopRestream`.
 */
id: EgressId, 
/**
 * The caller's label (the room), for logs and lists.
 */
label: string, 
/**
 * The input side; null while no pipeline runs (waiting for input, ended).
 */
input: InputStatus | null, 
/**
 * Figures of the whole egress.
 */
stats: EgressStats, 
/**
 * Its destinations in the order added; removed ones are left out.
 */
destinations: Array<DestinationStatus>, 
/**
 * Its file output (a recording), if it has one.
 */
file: FileStatus | null, 
/**
 * How its picture is composed; null when it reads one producer pair.
 */
layout: Layout | null, } & ({ "state": "starting" } | { "state": "live" } | { "state": "reconnecting" } | { "state": "waitingForInput", 
/**
 * The whole grace period in milliseconds (not the time left).
 */
graceMs: number, } | { "state": "failed", 
/**
 * What failed (no stream key in it).
 */
error: string, } | { "state": "stopped", 
/**
 * Why it stopped.
 */
reason: StopReason, });

/**
 * Where a recording is in its life.
 */
export type RecordingState = "recording" | "finished" | "failed" | "interrupted";

/**
 * Why a finished recording ended.
 */
export type RecordingEnd = "stopped" | "inputEnded" | "maxDuration" | "shutdown";

/**
 * One recording, as `GET /api/admin/recordings` lists it.
 */
export type RecordingSummary = { 
/**
 * Its id: also the file's name (`<id>.mp4` in `recording.dir`).
 */
id: RecordingId, 
/**
 * The room recorded.
 */
room: string, 
/**
 * Where it is in its life.
 */
state: RecordingState, 
/**
 * Unix milliseconds.
 */
startedAt: number, 
/**
 * Media written so far, seconds.
 */
durationSecs: number, 
/**
 * Size of the file on disk.
 */
bytes: number, 
/**
 * Why it ended, once finished.
 */
endReason: RecordingEnd | null, 
/**
 * What went wrong, once failed.
 */
error: string | null, 
/**
 * How the camera and screen are placed.
 */
layout: Layout, };

/**
 * `POST /api/admin/rooms/{room}/recordings` (body optional) and
 * `startRecording` over the WebSocket: how to lay the class out.
 */
export type StartRecording = { 
/**
 * Default `auto`: the teacher's screen with their camera in a corner
 * when they send both, else the one they send; it follows them live.
 */
layout?: Layout, };

/**
 * `GET /api/admin/recordings`.
 */
export type RecordingList = { 
/**
 * Running recordings first, then the others, newest first.
 */
recordings: Array<RecordingSummary>, };

/**
 * `POST /api/admin/recordings/{id}/link`: a URL that serves the file without
 * the admin key (for the browser's own player and downloads), until it expires.
 */
export type RecordingLink = { 
/**
 * Path and query, on this server: `/api/recordings/{id}/file?expires=...&sig=...`.
 */
url: string, 
/**
 * Unix seconds.
 */
expiresAt: number, };

/**
 * `PUT /api/admin/rooms/{room}/auto-record`: record the room whenever its
 * teacher goes live (overrides `recording.auto` for that room).
 */
export type AutoRecord = { 
/**
 * On or off for this room.
 */
enabled: boolean, };

/**
 * `POST /api/admin/tokens`: a join token for one user of one room.
 */
export type TokenRequest = { 
/**
 * 1 to 64 of `a-z A-Z 0-9 - _ .`.
 */
room: string, 
/**
 * The caller's own id for the user (a login, an LMS id); shown to staff.
 * A random one if absent.
 */
user?: string, 
/**
 * Display name shown in the room: 1 to 64 printable characters.
 */
name: string, 
/**
 * What the token lets its holder do; it also picks the page `url` opens.
 */
role: Role, 
/**
 * Lifetime in seconds; the configured default if absent.
 */
ttlSecs?: number, };

/**
 * A join token and the page it opens.
 */
export type IssuedToken = { 
/**
 * The join token, for the WebSocket subprotocol `podium.token.<token>`.
 */
token: string, 
/**
 * Unix seconds.
 */
expiresAt: number, 
/**
 * The page this role opens, with the token in its fragment.
 */
url: string, };

/**
 * A peer as the admin API shows it: everything staff see, and where it runs.
 */
export type PeerSummary = { 
/**
 * Worker slot its transports live on.
 */
worker: number, 
/**
 * Number of producers it sends.
 */
producers: number, 
/**
 * Number of consumers it receives.
 */
consumers: number, 
/**
 * The peer (one connection).
 */
id: PeerId, 
/**
 * The token's user id (a login, an e-mail): sent to staff only.
 */
user?: string, 
/**
 * Display name, from the token.
 */
name: string, 
/**
 * Role, from the token.
 */
role: Role, 
/**
 * A student's hand is up.
 */
handRaised: boolean, 
/**
 * May send media: teachers always, students once allowed (`allowSpeak`), admins never.
 */
canSpeak: boolean, };

/**
 * A user kicked out of a room.
 */
export type BanSummary = { 
/**
 * The banned user id (the token's `user`).
 */
user: string, 
/**
 * Refused until then (Unix seconds) unless lifted.
 */
until: number, };

/**
 * The producers a restream of the room reads when its request names none:
 * the teacher's camera (else their screen) and the teacher's microphone.
 */
export type RestreamInputs = { 
/**
 * The teacher's camera, else their screen; null if they send neither.
 */
videoProducerId: ProducerId | null, 
/**
 * The teacher's microphone; null if they send none.
 */
audioProducerId: ProducerId | null, };

/**
 * `GET /api/admin/rooms/{room}`.
 */
export type RoomSummary = { 
/**
 * The room id (the token's `room`).
 */
id: string, 
/**
 * Worker slots the room has routers on.
 */
routers: Array<number>, 
/**
 * Worker slot of the home router (teachers and restreams); null before the first router.
 */
homeWorker: number | null, 
/**
 * Every peer in the room.
 */
peers: Array<PeerSummary>, 
/**
 * Every producer in the room.
 */
producers: Array<ProducerInfo>, 
/**
 * Users kicked out, refused until `until` unless lifted.
 */
bans: Array<BanSummary>, 
/**
 * What a restream started now would read by default.
 */
restreamDefaults: RestreamInputs, };

/**
 * `GET /api/admin/rooms`.
 */
export type RoomList = { 
/**
 * Open rooms (with peers or a running restream), by id.
 */
rooms: Array<RoomSummary>, };

/**
 * `POST /api/admin/rooms/{room}/restreams` (and `startRestream` over the
 * WebSocket): where to push, and what.
 */
export type StartRestream = { 
/**
 * Default: the teacher's camera, else their screen.
 */
videoProducerId?: ProducerId, 
/**
 * Default: the teacher's microphone (none: silence).
 */
audioProducerId?: ProducerId, 
/**
 * Where to push: at least one, at most `egress.max_destinations`.
 */
destinations: Array<DestinationSpec>, 
/**
 * `auto` (default) or `reencode`.
 */
videoMode?: VideoMode, 
/**
 * The teacher's camera and screen in one picture, placed by this
 * layout, following them live as they start and stop (always
 * re-encoded; not with `videoProducerId`/`audioProducerId`). Absent:
 * one video producer and one microphone, as chosen above.
 */
layout?: Layout, };

/**
 * `GET /api/admin/restreams`: running restreams first, then recently ended ones.
 */
export type RestreamList = { 
/**
 * Their statuses, stream keys redacted.
 */
restreams: Array<EgressStatus>, };

/**
 * `PUT /api/admin/restreams/{id}/layout` and `PUT
 * /api/admin/recordings/{id}/layout`: place the pictures of a running
 * composed restream or recording this way from the next frame on (its
 * outputs go on: no gap in the file or the stream).
 */
export type SetLayout = { 
/**
 * The new layout.
 */
layout: Layout, };

/**
 * `POST /api/admin/restreams/{id}/destinations`.
 */
export type DestinationAdded = { 
/**
 * The new destination's id (`DELETE .../destinations/{destination}` removes it).
 */
destinationId: DestinationId, };

/** Each method and the data of its successful response. */
export interface Responses {
  join: Joined;
  setRtpCapabilities: Empty;
  createTransport: TransportCreated;
  connectTransport: Empty;
  restartIce: IceRestarted;
  produce: Produced;
  closeProducer: Empty;
  pauseProducer: Empty;
  resumeProducer: Empty;
  consume: Consumed;
  resumeConsumer: Empty;
  pauseConsumer: Empty;
  setConsumerPreferredLayers: Empty;
  chat: Empty;
  raiseHand: Empty;
  lowerHand: Empty;
  allowSpeak: Empty;
  kick: Empty;
  startRestream: RestreamStarted;
  stopRestream: Empty;
  startRecording: RecordingStarted;
  stopRecording: Empty;
  leave: Empty;
}
