// The signaling protocol, as server/src/signaling/protocol.rs defines it:
// JSON over one WebSocket per peer.
//   client -> server  {"id": 7, "method": "consume", "data": {...}}
//   server -> client  {"response": 7, "ok": true, "data": {...}}
//                     {"response": 7, "ok": false, "error": {"code": "...", "message": "..."}}
//                     {"notification": "newProducer", "data": {...}}

import type { types } from 'mediasoup-client';

type Brand<T, B extends string> = T & { readonly __brand: B };
export type PeerId = Brand<string, 'PeerId'>;
export type ProducerId = Brand<string, 'ProducerId'>;
export type ConsumerId = Brand<string, 'ConsumerId'>;
export type TransportId = Brand<string, 'TransportId'>;

export type Role = 'teacher' | 'student' | 'admin';
export type Source = 'camera' | 'mic' | 'screen';
export type MediaKind = 'audio' | 'video';
export type Direction = 'send' | 'recv';

/** Wire error codes (server/src/error.rs `ErrorCode`). */
export type ErrorCode =
  | 'bad_request'
  | 'unknown_method'
  | 'not_found'
  | 'forbidden'
  | 'unauthorized'
  | 'conflict'
  | 'rate_limited'
  | 'too_large'
  | 'room_full'
  | 'limit_reached'
  | 'media_error'
  | 'internal';

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

export interface PeerInfo {
  id: PeerId;
  /** The token's user id: sent to staff only. */
  user?: string;
  name: string;
  role: Role;
  handRaised: boolean;
  canSpeak: boolean;
}

export interface ProducerInfo {
  id: ProducerId;
  peerId: PeerId;
  kind: MediaKind;
  source: Source;
  paused: boolean;
}

export interface Joined {
  peerId: PeerId;
  room: string;
  role: Role;
  canSpeak: boolean;
  routerRtpCapabilities: types.RtpCapabilities;
  /** Students see the room's staff and speakers; staff see everyone. */
  peers: PeerInfo[];
  peerCount: number;
  producers: ProducerInfo[];
}

/** A TURN (or STUN) server with credentials that expire (RTCIceServer). */
export interface IceServer {
  urls: string[];
  username: string;
  credential: string;
}

export interface TransportCreated {
  id: TransportId;
  iceParameters: types.IceParameters;
  iceCandidates: types.IceCandidate[];
  dtlsParameters: types.DtlsParameters;
  /** TURN servers for this transport's RTCPeerConnection; empty without TURN. */
  iceServers: IceServer[];
  /** 'relay' when the server sends all media through TURN (testing). */
  iceTransportPolicy: 'all' | 'relay';
}

export interface Consumed {
  consumerId: ConsumerId;
  producerId: ProducerId;
  peerId: PeerId;
  kind: MediaKind;
  source: Source;
  rtpParameters: types.RtpParameters;
  type: 'simple' | 'simulcast' | 'svc';
  producerPaused: boolean;
}

type Empty = Record<string, never>;

/** Each method: what it sends and what a successful response carries. */
export interface Methods {
  join: { req: Empty; res: Joined };
  setRtpCapabilities: { req: { rtpCapabilities: types.RtpCapabilities }; res: Empty };
  createTransport: { req: { direction: Direction }; res: TransportCreated };
  connectTransport: { req: { transportId: TransportId; dtlsParameters: types.DtlsParameters }; res: Empty };
  restartIce: { req: { transportId: TransportId }; res: { iceParameters: types.IceParameters } };
  produce: {
    req: { transportId: TransportId; kind: MediaKind; rtpParameters: types.RtpParameters; source: Source };
    res: { producerId: ProducerId };
  };
  closeProducer: { req: { producerId: ProducerId }; res: Empty };
  pauseProducer: { req: { producerId: ProducerId }; res: Empty };
  resumeProducer: { req: { producerId: ProducerId }; res: Empty };
  consume: { req: { producerId: ProducerId }; res: Consumed };
  resumeConsumer: { req: { consumerId: ConsumerId }; res: Empty };
  pauseConsumer: { req: { consumerId: ConsumerId }; res: Empty };
  setConsumerPreferredLayers: {
    req: { consumerId: ConsumerId; spatialLayer: number; temporalLayer?: number };
    res: Empty;
  };
  chat: { req: { text: string }; res: Empty };
  raiseHand: { req: Empty; res: Empty };
  lowerHand: { req: { peerId?: PeerId }; res: Empty };
  allowSpeak: { req: { peerId: PeerId; allowed: boolean }; res: Empty };
  kick: { req: { peerId: PeerId }; res: Empty };
  leave: { req: Empty; res: Empty };
}

export type Method = keyof Methods;
export type RequestData<M extends Method> = Methods[M]['req'];
export type ResponseData<M extends Method> = Methods[M]['res'];

export interface ChatFrom {
  peerId: PeerId;
  name: string;
  role: Role;
}

export type CloseReason =
  | 'kicked'
  | 'workerDied'
  | 'serverShutdown'
  | 'tooSlow'
  | 'left'
  | 'replaced'
  | 'joinTimeout';

/** Server -> client notifications, by name. */
export interface Notifications {
  peerJoined: { peer: PeerInfo };
  peerLeft: { peerId: PeerId };
  handRaised: { peerId: PeerId; raised: boolean };
  speakPermission: { peer: PeerInfo };
  newProducer: { producer: ProducerInfo };
  producerClosed: { producerId: ProducerId };
  producerPaused: { producerId: ProducerId };
  producerResumed: { producerId: ProducerId };
  consumerClosed: { consumerId: ConsumerId; producerId: ProducerId };
  consumerLayersChanged: { consumerId: ConsumerId; spatialLayer: number | null; temporalLayer: number | null };
  activeSpeaker: { peerId: PeerId | null; producerId: ProducerId | null };
  chat: { from: ChatFrom; text: string; at: number };
  egressStatus: { egress: unknown };
  closed: { reason: CloseReason };
}

export type NotificationName = keyof Notifications;

/** A notification as a discriminated union: `switch (n.notification)` narrows `n.data`. */
export type Notification = {
  [N in NotificationName]: { notification: N; data: Notifications[N] };
}[NotificationName];

export type Incoming =
  | { response: number; ok: true; data: unknown }
  | { response?: number; ok: false; error: ErrorBody }
  | Notification;

/** What the browser sends. */
export interface Outgoing<M extends Method = Method> {
  id: number;
  method: M;
  data: RequestData<M>;
}

/** Parses one server message; null when it is not one of the protocol's shapes. */
export function parseIncoming(text: string): Incoming | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.notification === 'string') return v as unknown as Notification;
  if (v.ok === true && typeof v.response === 'number') return v as unknown as Incoming;
  if (v.ok === false && typeof v.error === 'object' && v.error !== null) return v as unknown as Incoming;
  return null;
}
