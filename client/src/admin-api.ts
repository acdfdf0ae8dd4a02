// The admin HTTP API (server/src/http.rs), with the key as a bearer token.

import type { PeerInfo, ProducerId, ProducerInfo, Role } from './protocol';

export interface PeerSummary extends PeerInfo {
  /** Worker slot its transports live on. */
  worker: number;
  producers: number;
  consumers: number;
}

export interface RoomSummary {
  id: string;
  routers: number[];
  homeWorker: number | null;
  peers: PeerSummary[];
  producers: ProducerInfo[];
}

export interface TokenRequest {
  room: string;
  name: string;
  role: Role;
  user?: string;
  ttlSecs?: number;
}

export interface IssuedToken {
  token: string;
  expiresAt: number;
  url: string;
}

// --- restreams (server/src/restream.rs, egress/src/status.rs) -------------------

export type Service = 'youtube' | 'twitch' | 'ivs' | 'custom';

/** One destination as the admin gives it. The stream key goes to the server once and never comes back. */
export type DestinationSpec =
  | { service: 'youtube'; streamKey: string }
  | { service: 'twitch'; streamKey: string; ingest?: string }
  | { service: 'ivs'; streamKey: string; ingestEndpoint: string }
  | { service: 'custom'; url: string; streamKey?: string };

export interface StartRestream {
  /** Default: the teacher's camera, else their screen (and then `audioProducerId` defaults to their microphone). */
  videoProducerId?: ProducerId;
  audioProducerId?: ProducerId;
  destinations: DestinationSpec[];
  videoMode?: 'auto' | 'reencode';
}

export type DestinationState =
  | { state: 'starting' }
  | { state: 'live' }
  | { state: 'reconnecting'; attempt: number; lastError: string; retryInMs: number }
  | { state: 'failed'; error: string }
  | { state: 'stopped' };

export type DestinationStatus = DestinationState & {
  id: string;
  /** The URL with the stream key replaced by `***`. */
  url: string;
  stats: { bytesOut: number; bitrateBps: number; uptimeSecs: number; reconnects: number };
};

export type StopReason = 'requested' | 'inputEnded' | 'routerClosed' | 'dropped';

export type RestreamState =
  | { state: 'starting' }
  | { state: 'live' }
  | { state: 'reconnecting' }
  | { state: 'waitingForInput'; graceMs: number }
  | { state: 'failed'; error: string }
  | { state: 'stopped'; reason: StopReason };

export type RestreamStatus = RestreamState & {
  id: string;
  /** The room. */
  label: string;
  input: {
    video: { codec: 'vp8' } | { codec: 'h264'; profileLevelId: string | null };
    videoPath: 'passthrough' | 'reencode';
    hasAudio: boolean;
    videoFlowing: boolean;
    audioFlowing: boolean;
  } | null;
  stats: { uptimeSecs: number; fps: number; bitrateBps: number; bytesMuxed: number };
  destinations: DestinationStatus[];
};

export const isFinal = (status: RestreamState): boolean => status.state === 'failed' || status.state === 'stopped';

/** An HTTP error answer; `message` is the server's when it gave one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function call<T>(key: string, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const init: RequestInit = { method, headers, cache: 'no-store' };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  if (!response.ok) {
    const data = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new ApiError(response.status, data?.error?.message ?? `HTTP ${response.status}`);
  }
  return response.status === 204 ? (undefined as T) : ((await response.json()) as T);
}

export function adminApi(key: string) {
  return {
    rooms: async () => (await call<{ rooms: RoomSummary[] }>(key, 'GET', '/api/admin/rooms')).rooms,
    room: (room: string) => call<RoomSummary>(key, 'GET', `/api/admin/rooms/${encodeURIComponent(room)}`),
    kick: (room: string, peer: string) =>
      call<void>(key, 'DELETE', `/api/admin/rooms/${encodeURIComponent(room)}/peers/${encodeURIComponent(peer)}`),
    issueToken: (request: TokenRequest) => call<IssuedToken>(key, 'POST', '/api/admin/tokens', request),
    /** Running restreams first, then recently ended ones. */
    restreams: async (room?: string) =>
      (
        await call<{ restreams: RestreamStatus[] }>(
          key,
          'GET',
          `/api/admin/restreams${room === undefined ? '' : `?room=${encodeURIComponent(room)}`}`,
        )
      ).restreams,
    startRestream: (room: string, request: StartRestream) =>
      call<RestreamStatus>(key, 'POST', `/api/admin/rooms/${encodeURIComponent(room)}/restreams`, request),
    stopRestream: (id: string) => call<void>(key, 'DELETE', `/api/admin/restreams/${encodeURIComponent(id)}`),
    addDestination: (id: string, destination: DestinationSpec) =>
      call<{ destinationId: string }>(key, 'POST', `/api/admin/restreams/${encodeURIComponent(id)}/destinations`, destination),
    removeDestination: (id: string, destination: string) =>
      call<void>(
        key,
        'DELETE',
        `/api/admin/restreams/${encodeURIComponent(id)}/destinations/${encodeURIComponent(destination)}`,
      ),
  };
}
