// The admin HTTP API (server/src/http.rs), with the key as a bearer token.

import type { PeerInfo, ProducerInfo, Role } from './protocol';

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
  };
}
