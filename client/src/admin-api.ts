// The admin HTTP API (server/src/http.rs), with the key as a bearer token.
// Its bodies are generated from the Rust crate podium-protocol
// (./generated/protocol.ts): nothing here repeats them.

import type {
  DestinationAdded,
  DestinationSpec,
  EgressState,
  EgressStatus,
  IssuedToken,
  Layout,
  RecordingId,
  RecordingLink,
  RecordingList,
  RecordingStarted,
  SetLayout,
  RecordingSummary,
  RestreamList,
  RoomList,
  RoomSummary,
  StartRecording,
  StartRestream,
  TokenRequest,
} from './protocol';

export type {
  BanSummary,
  DestinationSpec,
  DestinationState,
  DestinationStatus,
  IssuedToken,
  Layout,
  PeerSummary,
  RecordingEnd,
  RecordingId,
  RecordingLink,
  RecordingState,
  RecordingSummary,
  RoomSummary,
  StartRestream,
  StopReason,
  TokenRequest,
} from './protocol';

/** A restream is an egress of a room; its label is the room. */
export type RestreamStatus = EgressStatus;
export type RestreamState = EgressState;

/** The services a destination may name. */
export type Service = DestinationSpec['service'];

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

/** A failed admin request, in a sentence's words (the server's own when it gave some). */
export function apiErrorText(error: unknown): string {
  if (error instanceof ApiError) return error.status === 401 ? 'the server refused the admin key' : error.message;
  return 'the server is unreachable';
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
    rooms: async () => (await call<RoomList>(key, 'GET', '/api/admin/rooms')).rooms,
    room: (room: string) => call<RoomSummary>(key, 'GET', `/api/admin/rooms/${encodeURIComponent(room)}`),
    kick: (room: string, peer: string) =>
      call<void>(key, 'DELETE', `/api/admin/rooms/${encodeURIComponent(room)}/peers/${encodeURIComponent(peer)}`),
    issueToken: (request: TokenRequest) => call<IssuedToken>(key, 'POST', '/api/admin/tokens', request),
    /** Running restreams first, then recently ended ones. */
    restreams: async (room?: string) =>
      (
        await call<RestreamList>(
          key,
          'GET',
          `/api/admin/restreams${room === undefined ? '' : `?room=${encodeURIComponent(room)}`}`,
        )
      ).restreams,
    startRestream: (room: string, request: StartRestream) =>
      call<RestreamStatus>(key, 'POST', `/api/admin/rooms/${encodeURIComponent(room)}/restreams`, request),
    stopRestream: (id: string) => call<void>(key, 'DELETE', `/api/admin/restreams/${encodeURIComponent(id)}`),
    /** 200: the restream as it is now; 409 for one without a layout (a producer pair) or ended. */
    setRestreamLayout: (id: string, layout: Layout) =>
      call<RestreamStatus>(key, 'PUT', `/api/admin/restreams/${encodeURIComponent(id)}/layout`, { layout } satisfies SetLayout),
    addDestination: (id: string, destination: DestinationSpec) =>
      call<DestinationAdded>(key, 'POST', `/api/admin/restreams/${encodeURIComponent(id)}/destinations`, destination),
    removeDestination: (id: string, destination: string) =>
      call<void>(
        key,
        'DELETE',
        `/api/admin/restreams/${encodeURIComponent(id)}/destinations/${encodeURIComponent(destination)}`,
      ),
    /** Running recordings first, then the others, newest first; of one room with `room`. */
    recordings: async (room?: string) =>
      (
        await call<RecordingList>(
          key,
          'GET',
          `/api/admin/recordings${room === undefined ? '' : `?room=${encodeURIComponent(room)}`}`,
        )
      ).recordings,
    /** 201: the new recording (the server picks the producers unless `request` names them). */
    startRecording: async (room: string, request: StartRecording = {}) =>
      (await call<RecordingStarted>(key, 'POST', `/api/admin/rooms/${encodeURIComponent(room)}/recordings`, request)).recording,
    stopRecording: (id: RecordingId) =>
      call<RecordingSummary>(key, 'POST', `/api/admin/recordings/${encodeURIComponent(id)}/stop`),
    /** 200: the recording as it is now; 409 once it has ended. */
    setRecordingLayout: (id: RecordingId, layout: Layout) =>
      call<RecordingSummary>(key, 'PUT', `/api/admin/recordings/${encodeURIComponent(id)}/layout`, { layout } satisfies SetLayout),
    /** A signed URL (a path on this server) that serves the file without the key until it expires. */
    recordingLink: (id: RecordingId) => call<RecordingLink>(key, 'POST', `/api/admin/recordings/${encodeURIComponent(id)}/link`),
    /** 204; 409 while it records. */
    deleteRecording: (id: RecordingId) => call<void>(key, 'DELETE', `/api/admin/recordings/${encodeURIComponent(id)}`),
  };
}

/** The admin API with one key. */
export type AdminApi = ReturnType<typeof adminApi>;
