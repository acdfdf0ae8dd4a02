// Whether the room is being recorded, on the teacher and student pages: people
// must know. The server says so in `Joined.recording` and then in `recording`
// notifications (to everyone in the room, whoever started or stopped it); the
// room keeps `room.joined.recording` up to date. The top bar's badge
// (#recording-badge, "● Recording") shows it; the teacher's Record button
// (record-button.ts) follows it too.

import type { RoomClient } from './room';
import { byId, show } from './ui';

/** Whether the room is recorded, as the server last said. */
export function isRecording(room: RoomClient): boolean {
  return room.joined?.recording ?? false;
}

/**
 * Calls `listener` with whether the room is recorded after each (re)join and
 * each `recording` notification; returns a function that unsubscribes.
 */
export function onRecordingChange(room: RoomClient, listener: (recording: boolean) => void): () => void {
  const offJoined = room.on('joined', () => listener(isRecording(room)));
  const offNotification = room.on('notification', (n) => {
    if (n.notification === 'recording') listener(isRecording(room));
  });
  return () => {
    offJoined();
    offNotification();
  };
}

/**
 * The top bar's "Recording" badge (#recording-badge, a polite status region):
 * shown while the room is recorded. It stays through a reconnection (the next
 * join says again) and goes once this page has left the room for good.
 */
export function mountRecordingBadge(room: RoomClient): void {
  const badge = byId('recording-badge');
  onRecordingChange(room, (recording) => show(badge, recording));
  room.on('status', (status) => {
    if (status.kind === 'ended') show(badge, false);
  });
}
