// The admin page: rooms, their participants and streams, join links, kicks,
// restreams (admin-restreams.ts) and recordings (admin-recordings.ts).
// It talks to the admin HTTP API with the admin key from the fragment
// (#token=...&key=...) or typed in; the key never goes into a URL the server sees.

import { adminApi, ApiError, type RoomSummary } from './admin-api';
import { recordingPanel } from './admin-recordings';
import { restreamPanel } from './admin-restreams';
import { decodeClaims, takeLinkParams } from './token';
import { byId, el, notify, show } from './ui';

const REFRESH_MS = 3000;

const badge = byId('connection');
const keySection = byId('key-section');
const keyForm = byId<HTMLFormElement>('key-form');
const keyInput = byId<HTMLInputElement>('key-input');
const keyError = byId('key-error');
const roomsError = byId('rooms-error');
const roomsTable = byId('rooms-table');
const roomsBody = byId('rooms-body');
const roomsEmpty = byId('rooms-empty');
const roomSection = byId('room-section');
const roomName = byId('room-detail-name');
const roomError = byId('room-error');
const roomDetail = byId('room-detail');
const peersBody = byId('peers-body');
const peersEmpty = byId('peers-empty');
const producersBody = byId('producers-body');
const producersEmpty = byId('producers-empty');

const params = takeLinkParams();
let key = params.get('key') ?? '';
let selected: string | null = null;
let timer: ReturnType<typeof setTimeout> | null = null;
const claims = decodeClaims(params.get('token') ?? '');
if (claims) {
  selected = claims.room;
  byId<HTMLInputElement>('issue-room').value = claims.room;
}
const restreams = restreamPanel(() => key, selected);
const recordings = recordingPanel(() => key);

function setBadge(state: 'live' | 'reconnecting' | 'ended' | 'connecting', text: string): void {
  badge.dataset.state = state;
  badge.textContent = text;
}

function askForKey(message: string | null): void {
  show(keySection, true);
  keyError.textContent = message ?? '';
  show(keyError, message !== null);
  setBadge('ended', message ? 'Key refused' : 'Admin key needed');
  keyInput.focus();
}

keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  key = keyInput.value.trim();
  keyInput.value = '';
  start();
});

/** Checks the key with the room list first; only an accepted key loads restreams and recordings. */
function start(): void {
  void refresh().then((accepted) => {
    if (!accepted) return;
    void restreams.refresh();
    void recordings.refresh();
  });
}

/**
 * Reloads the room list (and the open room), then again in a few seconds.
 * False when there is no key or the server refused it.
 */
async function refresh(): Promise<boolean> {
  if (timer) clearTimeout(timer);
  timer = null;
  if (!key) {
    askForKey(null);
    return false;
  }
  const api = adminApi(key);
  try {
    const rooms = await api.rooms();
    show(keySection, false);
    show(roomsError, false);
    setBadge('live', 'Connected');
    renderRooms(rooms);
    restreams.setRooms(rooms);
    if (selected) await loadRoom(api, selected);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      askForKey('The server refused this admin key.');
      return false;
    }
    roomsError.textContent =
      error instanceof ApiError ? `The server answered: ${error.message}` : 'The server is unreachable. Retrying…';
    show(roomsError, true);
    setBadge('reconnecting', 'Server unreachable');
  }
  if (document.visibilityState === 'visible') timer = setTimeout(() => void refresh(), REFRESH_MS);
  return true;
}
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') void refresh();
});
byId('refresh').addEventListener('click', () => void refresh());

function renderRooms(rooms: RoomSummary[]): void {
  show(roomsTable, rooms.length > 0);
  show(roomsEmpty, rooms.length === 0);
  roomsBody.replaceChildren(
    ...rooms.map((room) =>
      el(
        'tr',
        { attrs: { 'data-room': room.id, 'aria-current': room.id === selected ? 'true' : null } },
        el('th', { text: room.id, attrs: { scope: 'row' } }),
        el('td', { text: String(room.peers.length) }),
        el('td', { text: room.peers.filter((p) => p.role === 'teacher').map((p) => p.name).join(', ') || '—' }),
        el('td', { text: String(room.producers.length) }),
        el('td', { text: room.routers.join(', ') }),
        el(
          'td',
          {},
          el(
            'div',
            { class: 'row-actions' },
            el('button', {
              text: 'Details',
              attrs: { type: 'button', 'aria-label': `Details of room ${room.id}` },
              on: { click: () => openRoom(room.id) },
            }),
            recordings.recordButton(room.id),
          ),
        ),
      ),
    ),
  );
}

function openRoom(room: string): void {
  selected = room;
  restreams.followRoom(room);
  void refresh().then(() => byId('room-title').scrollIntoView({ block: 'start' }));
}

byId<HTMLFormElement>('lookup-form').addEventListener('submit', (event) => {
  event.preventDefault();
  openRoom(byId<HTMLInputElement>('lookup-room').value.trim());
});
byId('close-room').addEventListener('click', () => {
  selected = null;
  show(roomSection, false);
  void refresh();
});

async function loadRoom(api: ReturnType<typeof adminApi>, room: string): Promise<void> {
  show(roomSection, true);
  roomName.textContent = room;
  try {
    const summary = await api.room(room);
    show(roomError, false);
    show(roomDetail, true);
    renderRoom(summary);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      roomError.textContent = `Room “${room}” not found: nobody is in it (a room exists while someone is in it).`;
    } else if (error instanceof ApiError) {
      roomError.textContent = error.message;
    } else {
      throw error;
    }
    roomError.dataset.state = 'not-found';
    show(roomError, true);
    show(roomDetail, false);
  }
}

function renderRoom(summary: RoomSummary): void {
  const names = new Map(summary.peers.map((p) => [p.id, p.name]));
  show(peersEmpty, summary.peers.length === 0);
  peersBody.replaceChildren(
    ...summary.peers
      .slice()
      .sort((a, b) => a.role.localeCompare(b.role) || a.name.localeCompare(b.name))
      .map((p) =>
        el(
          'tr',
          { attrs: { 'data-peer-id': p.id, 'data-role': p.role } },
          el('th', { text: p.name, attrs: { scope: 'row' } }),
          el('td', {}, el('code', { text: p.user ?? '' })),
          el('td', { text: p.role }),
          el('td', { text: [p.handRaised ? '✋ hand raised' : '', p.canSpeak && p.role === 'student' ? 'may speak' : ''].filter(Boolean).join(', ') || '—' }),
          el('td', { text: String(p.worker) }),
          el('td', { text: String(p.producers) }),
          el('td', { text: String(p.consumers) }),
          el(
            'td',
            {},
            el('button', {
              class: 'danger',
              text: 'Kick',
              attrs: { type: 'button', 'aria-label': `Kick ${p.name}` },
              on: { click: (event) => void kick(summary.id, p.id, p.name, event.currentTarget as HTMLButtonElement) },
            }),
          ),
        ),
      ),
  );
  show(producersEmpty, summary.producers.length === 0);
  producersBody.replaceChildren(
    ...summary.producers.map((p) =>
      el(
        'tr',
        { attrs: { 'data-source': p.source } },
        el('td', { text: names.get(p.peerId) ?? p.peerId }),
        el('td', { text: p.source }),
        el('td', { text: p.kind }),
        el('td', { text: p.paused ? 'paused' : 'live' }),
        el('td', {}, el('code', { text: p.id })),
      ),
    ),
  );
}

async function kick(room: string, peerId: string, name: string, button: HTMLButtonElement): Promise<void> {
  if (!confirm(`Remove ${name} from ${room}?`)) return;
  button.disabled = true;
  try {
    await adminApi(key).kick(room, peerId);
    notify(`${name} was removed from ${room}.`, 'success');
  } catch (error) {
    button.disabled = false;
    notify(`Could not remove ${name}: ${(error as Error).message}`, 'error');
  }
  await refresh();
}

// --- join links ----------------------------------------------------------------

const issueError = byId('issue-error');
byId<HTMLFormElement>('issue-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const hours = Number(byId<HTMLInputElement>('issue-hours').value);
  const request = {
    room: byId<HTMLInputElement>('issue-room').value.trim(),
    name: byId<HTMLInputElement>('issue-name').value.trim(),
    role: byId<HTMLSelectElement>('issue-role').value as 'teacher' | 'student' | 'admin',
    ttlSecs: Math.max(1, Math.round(hours * 3600)),
  };
  show(issueError, false);
  adminApi(key)
    .issueToken(request)
    .then((issued) => {
      // An admin link also needs the key to work; it stays in the fragment.
      const url = request.role === 'admin' ? `${issued.url}&key=${encodeURIComponent(key)}` : issued.url;
      byId<HTMLInputElement>('issued-url').value = url;
      byId('issued-token').textContent = issued.token;
      byId('issued-expiry').textContent = new Date(issued.expiresAt * 1000).toLocaleString();
      show(byId('issued'), true);
      byId<HTMLInputElement>('issued-url').select();
    })
    .catch((error: Error) => {
      issueError.textContent = `Could not issue the link: ${error.message}`;
      show(issueError, true);
    });
});

byId('copy-url').addEventListener('click', () => {
  const url = byId<HTMLInputElement>('issued-url').value;
  navigator.clipboard?.writeText(url).then(
    () => notify('Link copied.', 'success'),
    () => notify('Copying is not allowed here: select the link and copy it.', 'error'),
  );
});

start();
