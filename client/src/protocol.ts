// The signaling protocol: the types are generated from the Rust crate
// podium-protocol (protocol/src) into ./generated/protocol.ts; this module
// adds what the pages use on top of them.
//   client -> server  {"id": 7, "method": "consume", "data": {...}}
//   server -> client  {"response": 7, "ok": true, "data": {...}}
//                     {"response": 7, "ok": false, "error": {"code": "...", "message": "..."}}
//                     {"notification": "newProducer", "data": {...}}

import type { types } from 'mediasoup-client';
import type { ErrorBody, Notification, Request, Responses } from './generated/protocol';

export type * from './generated/protocol';

export type MediaKind = types.MediaKind;

/** A request method's name. */
export type Method = Request['method'];
/** The data a method sends. */
export type RequestData<M extends Method> = Extract<Request, { method: M }>['data'];
/** The data of a method's successful response. */
export type ResponseData<M extends Method> = Responses[M];

/** A notification's name. */
export type NotificationName = Notification['notification'];
/** The data of a notification, by name. */
export type NotificationData<N extends NotificationName> = Extract<Notification, { notification: N }>['data'];

export type Incoming =
  | { response: number; ok: true; data: unknown }
  | { response?: number; ok: false; error: ErrorBody }
  | Notification;

/** What the browser sends. */
export type Outgoing = { id: number } & Request;

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
