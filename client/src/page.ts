// What the teacher and student pages share: reading the join link, the room
// session, the connection and recording badges, chat, leaving, and the end states.

import type { Role } from './protocol';
import { mountRecordingBadge } from './recording';
import { RoomClient, type RoomOptions } from './room';
import type { StopReason } from './signaling';
import { readToken, type Claims } from './token';
import { ChatPanel, byId, renderStatus, showFatal } from './ui';

export interface RoomPage {
  room: RoomClient;
  claims: Claims;
  chat: ChatPanel;
}

const problemTitles = {
  missing: 'No join link',
  malformed: 'This link is damaged',
  expired: 'This link has expired',
  'wrong-page': 'Wrong page for this link',
} as const;

/** Starts the page's room session; null (with the error shown) when the link is unusable. */
export function startRoomPage(role: Exclude<Role, 'admin'>, options: RoomOptions = {}): RoomPage | null {
  const check = readToken(role);
  if (!check.ok) {
    showFatal(problemTitles[check.problem], check.message);
    return null;
  }
  const { token, claims } = check;
  byId('room-name').textContent = claims.room;
  byId('user-name').textContent = claims.name;
  document.title = `${claims.room} · Podium ${role === 'teacher' ? 'teacher' : 'class'}`;

  const room = new RoomClient(token, options);
  const badge = byId('connection');
  const chat = new ChatPanel(
    async (text) => {
      await room.request('chat', { text });
    },
    () => room.selfId,
  );
  chat.setEnabled(false);
  room.on('status', (status) => {
    renderStatus(badge, status, () => room.signaling.retryNow());
    chat.setEnabled(status.kind === 'live');
    if (status.kind === 'ended') showEnded(status.reason, status.message);
  });
  room.on('notification', (n) => {
    if (n.notification === 'chat') chat.add(n.data);
  });
  mountRecordingBadge(room);
  room.on('mediaHealth', (health) => {
    if (room.status.kind !== 'live') return;
    badge.dataset.state = health === 'ok' ? 'live' : 'reconnecting';
    badge.textContent = health === 'ok' ? 'Connected' : 'Connected; repairing the media connection…';
  });

  const leave = byId<HTMLButtonElement>('leave');
  leave.addEventListener('click', () => {
    leave.disabled = true;
    void room.leave();
  });
  room.start();
  return { room, claims, chat };
}

function showEnded(reason: StopReason, message: string): void {
  const rejoin = { label: 'Join again', run: () => location.reload() };
  switch (reason) {
    case 'left':
      return showFatal('You left the class', 'Your camera and microphone are off.', rejoin);
    case 'kicked':
      return showFatal('You were removed from the class', 'The teacher or an administrator removed you.');
    case 'replaced':
      return showFatal('Opened elsewhere', message, { label: 'Use this tab instead', run: () => location.reload() });
    case 'unauthorized':
      return /expired/i.test(message)
        ? showFatal('This link has expired', 'Ask for a new join link.')
        : showFatal('This link is not valid', `The server refused it (${message}). Ask for a new join link.`);
    case 'refused':
      return showFatal('Cannot join the class', message, rejoin);
    case 'closed':
      return showFatal('Disconnected', message, rejoin);
  }
}
