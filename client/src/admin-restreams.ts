// The admin page's restream controls (#egress): start a room's restream to
// RTMP(S) destinations, watch each restream and destination, add or remove a
// destination while live, stop.
//
// Updates: the page polls GET /api/admin/restreams every 2 s while it is
// visible (and at once after each action). It does not join the room over the
// WebSocket: the admin page is not a peer of any room, and the staff
// notifications (`egressStatus`) only come on state changes, while the
// figures (frame rate, bitrate, bytes) move every second.
//
// Stream keys: typed into password fields, sent once in the start (or add)
// request, then cleared. The server never returns them (URLs come back with
// the key as ***), and this module never logs or displays them.

import {
  adminApi,
  ApiError,
  isFinal,
  type DestinationSpec,
  type DestinationStatus,
  type RestreamStatus,
  type RoomSummary,
  type Service,
  type StartRestream,
} from './admin-api';
import type { ProducerId, ProducerInfo, Source } from './protocol';
import { byId, el, notify, show } from './ui';

const POLL_MS = 2000;
/** Ended restreams kept on screen, per room. */
const ENDED_SHOWN = 5;
const MAX_DESTINATIONS = 10;

// --- formatting -------------------------------------------------------------------

export function formatBitrate(bps: number): string {
  if (bps >= 1_000_000) return `${(bps / 1_000_000).toFixed(2)} Mbit/s`;
  return `${Math.round(bps / 1000)} kbit/s`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${Math.round(bytes / 1e3)} kB`;
  return `${bytes} B`;
}

export function formatDuration(secs: number): string {
  const s = Math.max(0, Math.floor(secs));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

/** The server's "destination 0: …" (0-based) as people count. */
function friendlyError(message: string): string {
  return message.replace(/^destination (\d+): /, (_, n: string) => `Destination ${Number(n) + 1}: `);
}

function errorText(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 401) return 'the server refused the admin key';
    return friendlyError(error.message);
  }
  return 'the server is unreachable';
}

function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

function setData(node: HTMLElement, name: string, value: string): void {
  if (node.dataset[name] !== value) node.dataset[name] = value;
}

let uid = 0;
const nextId = (prefix: string) => `${prefix}-${++uid}`;

// --- one destination's fields ------------------------------------------------------

const SERVICES: { value: Service; label: string; hint: string }[] = [
  {
    value: 'youtube',
    label: 'YouTube Live',
    hint: 'Sends to rtmps://a.rtmps.youtube.com/live2. The key is in YouTube Studio, Go live, Stream.',
  },
  {
    value: 'twitch',
    label: 'Twitch',
    hint: 'Sends over RTMPS to Twitch. The key is in the Creator Dashboard, Settings, Stream.',
  },
  {
    value: 'ivs',
    label: 'Amazon IVS',
    hint: "The channel's ingest server and stream key are in its Stream configuration.",
  },
  {
    value: 'custom',
    label: 'Other RTMP or RTMPS server',
    hint: 'The server URL is rtmp://host[:port]/app or rtmps://…; the key is added as the last part of the path. Leave the key empty if the URL already ends with it.',
  },
];

interface DestinationFields {
  root: HTMLElement;
  /** The spec, or marks the invalid fields and returns the first problem. */
  read(): { spec: DestinationSpec } | { problem: string; field: HTMLElement };
  clear(): void;
  focus(): void;
  setTitle(title: string): void;
  setRemovable(removable: boolean): void;
}

function destinationFields(onRemove?: () => void): DestinationFields {
  const id = nextId('dest');
  const legend = el('legend', { text: 'Destination' });
  const service = el(
    'select',
    { attrs: { id: `${id}-service`, 'aria-describedby': `${id}-hint` } },
    ...SERVICES.map((s) => el('option', { text: s.label, attrs: { value: s.value } })),
  );
  const hint = el('p', { class: 'hint', attrs: { id: `${id}-hint` } });
  const problem = el('p', { class: 'error field-error', attrs: { id: `${id}-problem` } });
  problem.hidden = true;

  const textField = (suffix: string, label: string, placeholder: string, inputmode = 'url') => {
    const input = el('input', {
      attrs: {
        id: `${id}-${suffix}`,
        type: 'text',
        inputmode,
        autocomplete: 'off',
        spellcheck: 'false',
        autocapitalize: 'off',
        placeholder,
        'aria-describedby': `${id}-problem`,
      },
    });
    const labelNode = el('label', { text: label, attrs: { for: input.id } });
    return { input, row: [labelNode, input] as HTMLElement[] };
  };
  const url = textField('url', 'Server URL', 'rtmp://live.example.org/app');
  const endpoint = textField('endpoint', 'Ingest server', 'a1b2c3d4e5f6.global-contribute.live-video.net');
  const ingest = textField('ingest', 'Ingest server (optional)', 'ingest.global-contribute.live-video.net');

  const key = el('input', {
    attrs: {
      id: `${id}-key`,
      type: 'password',
      autocomplete: 'off',
      spellcheck: 'false',
      autocapitalize: 'off',
      'data-stream-key': true,
      'aria-describedby': `${id}-problem`,
    },
  });
  const keyLabel = el('label', { text: 'Stream key', attrs: { for: key.id } });
  const reveal = el('button', {
    class: 'link reveal',
    text: 'Show',
    attrs: { type: 'button', 'aria-pressed': 'false', 'aria-controls': key.id, 'aria-label': 'Show the stream key' },
  });
  reveal.addEventListener('click', () => {
    const showing = key.type === 'text';
    key.type = showing ? 'password' : 'text';
    reveal.setAttribute('aria-pressed', String(!showing));
    reveal.textContent = showing ? 'Show' : 'Hide';
  });
  const remove = el('button', {
    class: 'link remove-destination',
    text: 'Remove',
    attrs: { type: 'button' },
    on: { click: () => onRemove?.() },
  });
  remove.hidden = !onRemove;

  const root = el(
    'fieldset',
    { class: 'destination grid-form' },
    legend,
    el('label', { text: 'Service', attrs: { for: service.id } }),
    service,
    hint,
    ...url.row,
    ...endpoint.row,
    ...ingest.row,
    keyLabel,
    el('div', { class: 'key-row' }, key, reveal),
    problem,
    remove,
  );

  const inputs = [url.input, endpoint.input, ingest.input, key];
  const sync = () => {
    const chosen = service.value as Service;
    hint.textContent = SERVICES.find((s) => s.value === chosen)?.hint ?? '';
    for (const node of url.row) node.hidden = chosen !== 'custom';
    for (const node of endpoint.row) node.hidden = chosen !== 'ivs';
    for (const node of ingest.row) node.hidden = chosen !== 'twitch';
    url.input.required = chosen === 'custom';
    endpoint.input.required = chosen === 'ivs';
    key.required = chosen !== 'custom';
    keyLabel.textContent = chosen === 'custom' ? 'Stream key (if the URL does not end with it)' : 'Stream key';
    clearProblem();
  };
  const clearProblem = () => {
    problem.hidden = true;
    problem.textContent = '';
    for (const input of inputs) input.removeAttribute('aria-invalid');
  };
  service.addEventListener('change', sync);
  for (const input of inputs) input.addEventListener('input', () => input.removeAttribute('aria-invalid'));
  sync();

  const fail = (field: HTMLInputElement, message: string) => {
    field.setAttribute('aria-invalid', 'true');
    problem.textContent = message;
    problem.hidden = false;
    return { problem: message, field };
  };

  return {
    root,
    read() {
      clearProblem();
      const chosen = service.value as Service;
      const streamKey = key.value.trim();
      if (streamKey && (/\s/.test(streamKey) || streamKey.includes('/') || streamKey.length > 512)) {
        return fail(key, 'A stream key has no spaces or “/” and at most 512 characters.');
      }
      switch (chosen) {
        case 'custom': {
          const value = url.input.value.trim();
          if (!value) return fail(url.input, 'Enter the server URL (rtmp://… or rtmps://…).');
          if (!/^rtmps?:\/\/[^/]+\/.+/i.test(value)) {
            return fail(url.input, 'The server URL starts with rtmp:// or rtmps:// and has an application path, like rtmp://host/live.');
          }
          return { spec: streamKey ? { service: 'custom', url: value, streamKey } : { service: 'custom', url: value } };
        }
        case 'ivs': {
          const value = endpoint.input.value.trim();
          if (!value) return fail(endpoint.input, "Enter the channel's ingest server.");
          if (!streamKey) return fail(key, 'Enter the stream key.');
          return { spec: { service: 'ivs', ingestEndpoint: value, streamKey } };
        }
        case 'twitch': {
          if (!streamKey) return fail(key, 'Enter the stream key.');
          const value = ingest.input.value.trim();
          return { spec: value ? { service: 'twitch', ingest: value, streamKey } : { service: 'twitch', streamKey } };
        }
        case 'youtube':
          if (!streamKey) return fail(key, 'Enter the stream key.');
          return { spec: { service: 'youtube', streamKey } };
      }
    },
    clear() {
      for (const input of inputs) input.value = '';
      key.type = 'password';
      reveal.setAttribute('aria-pressed', 'false');
      reveal.textContent = 'Show';
      clearProblem();
    },
    focus() {
      service.focus();
    },
    setTitle(title) {
      legend.textContent = title;
      remove.setAttribute('aria-label', `Remove ${title.toLowerCase()}`);
    },
    setRemovable(removable) {
      remove.hidden = !onRemove || !removable;
    },
  };
}

// --- texts for states ----------------------------------------------------------------

function destinationStateText(d: DestinationStatus, restream: RestreamStatus): string {
  switch (d.state) {
    case 'starting':
      return 'Connecting…';
    case 'live':
      return 'Live';
    case 'reconnecting': {
      const retry = d.retryInMs > 0 ? `, next try in ${Math.ceil(d.retryInMs / 1000)} s` : ', trying now';
      return `Reconnecting (attempt ${d.attempt}${retry}). Last error: ${d.lastError}`;
    }
    case 'failed':
      return `Failed: ${d.error}`;
    case 'stopped':
      return restream.state === 'waitingForInput' ? 'Paused until the video is back' : 'Stopped';
  }
}

const STOP_REASONS: Record<string, string> = {
  requested: 'Stopped',
  inputEnded: "Stopped: the teacher's video did not come back in time",
  routerClosed: 'Stopped: the room closed',
  dropped: 'Stopped',
};

/** Seconds left of the grace period, as far as this page saw it begin (not announced: it ticks). */
function countdownText(r: RestreamStatus, waitingSince: number | undefined): string {
  if (r.state !== 'waitingForInput') return '';
  const start = waitingSince ?? Date.now();
  return `about ${Math.max(0, Math.ceil((start + r.graceMs - Date.now()) / 1000))} s left`;
}

function restreamStateText(r: RestreamStatus): string {
  switch (r.state) {
    case 'starting':
      return 'Starting…';
    case 'live':
      return 'Live';
    case 'reconnecting':
      return 'Reconnecting: no destination is live right now';
    case 'waitingForInput': {
      return `Waiting for the teacher's video to come back (gives up after ${Math.round(r.graceMs / 1000)} s)`;
    }
    case 'failed':
      return `Failed: ${r.error}`;
    case 'stopped':
      return STOP_REASONS[r.reason] ?? 'Stopped';
  }
}

function inputText(r: RestreamStatus): string {
  const input = r.input;
  if (!input) return isFinal(r) ? 'No input.' : 'No input while waiting.';
  const codec = input.video.codec === 'vp8' ? 'VP8' : 'H.264';
  const video =
    input.videoPath === 'passthrough' ? `${codec} video passed through` : `${codec} video re-encoded to H.264`;
  const flowing = input.videoFlowing ? 'video arriving' : 'no video arriving (paused or stopped?)';
  const sound = input.hasAudio ? (input.audioFlowing ? 'sound arriving' : 'sound silent') : 'no sound (silence sent)';
  return `${video} · ${flowing} · ${sound}`;
}

// --- one restream's card ----------------------------------------------------------------

interface DestinationRow {
  row: HTMLTableRowElement;
  url: HTMLElement;
  state: HTMLElement;
  sent: HTMLElement;
  bitrate: HTMLElement;
  uptime: HTMLElement;
  reconnects: HTMLElement;
  remove: HTMLButtonElement;
}

interface Card {
  root: HTMLElement;
  state: HTMLElement;
  countdown: HTMLElement;
  input: HTMLElement;
  figures: Record<'uptime' | 'fps' | 'bitrate' | 'muxed', HTMLElement>;
  body: HTMLTableSectionElement;
  rows: Map<string, DestinationRow>;
  controls: HTMLElement;
  error: HTMLElement;
  status: RestreamStatus;
}

export interface RestreamPanel {
  /** The rooms the admin page just listed. */
  setRooms(rooms: RoomSummary[]): void;
  /** Follows the room the admin opened, unless they picked another here. */
  followRoom(room: string): void;
  refresh(): Promise<void>;
}

export function restreamPanel(getKey: () => string, initialRoom: string | null): RestreamPanel {
  const form = byId<HTMLFormElement>('restream-form');
  const roomSelect = byId<HTMLSelectElement>('restream-room');
  const videoSelect = byId<HTMLSelectElement>('restream-video');
  const audioSelect = byId<HTMLSelectElement>('restream-audio');
  const modeSelect = byId<HTMLSelectElement>('restream-mode');
  const destinationList = byId<HTMLOListElement>('restream-destinations');
  const addButton = byId<HTMLButtonElement>('restream-add-destination');
  const startButton = byId<HTMLButtonElement>('restream-start');
  const formError = byId('restream-error');
  const listRoom = byId('restreams-room');
  const listError = byId('restreams-error');
  const listEmpty = byId('restreams-empty');
  const list = byId('restreams-list');
  const updated = byId('egress-updated');

  let rooms: RoomSummary[] = [];
  let restreams: RestreamStatus[] = [];
  let room: string | null = initialRoom;
  let roomChosenHere = false;
  /** The page chose `room` itself (nobody asked for it). */
  let roomPicked = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let inFlight: Promise<boolean> | null = null;
  const cards = new Map<string, Card>();
  const waitingSince = new Map<string, number>();
  const api = () => adminApi(getKey());

  // --- the start form ---------------------------------------------------------------------

  const destinations: DestinationFields[] = [];
  function addDestination(focus: boolean): void {
    if (destinations.length >= MAX_DESTINATIONS) return;
    const fields = destinationFields(() => {
      const at = destinations.indexOf(fields);
      if (at < 0 || destinations.length <= 1) return;
      destinations.splice(at, 1);
      fields.root.parentElement?.remove();
      renumber();
      destinations[Math.min(at, destinations.length - 1)]?.focus();
    });
    destinations.push(fields);
    destinationList.append(el('li', {}, fields.root));
    renumber();
    if (focus) fields.focus();
  }
  function renumber(): void {
    destinations.forEach((d, i) => {
      d.setTitle(`Destination ${i + 1}`);
      d.setRemovable(destinations.length > 1);
    });
    addButton.disabled = destinations.length >= MAX_DESTINATIONS;
  }
  addButton.addEventListener('click', () => addDestination(true));
  addDestination(false);

  roomSelect.addEventListener('change', () => {
    room = roomSelect.value || null;
    roomChosenHere = true;
    roomPicked = false;
    renderSources();
    renderList();
  });

  const optionsKey = new WeakMap<HTMLSelectElement, string>();
  /** Replaces a select's options only when they changed, keeping the choice when it is still there. */
  function setOptions(select: HTMLSelectElement, options: { value: string; label: string }[], fallback = ''): void {
    const signature = JSON.stringify(options);
    if (optionsKey.get(select) === signature) return;
    optionsKey.set(select, signature);
    const current = select.value;
    select.replaceChildren(...options.map((o) => el('option', { text: o.label, attrs: { value: o.value } })));
    select.value = options.some((o) => o.value === current) ? current : fallback;
  }

  function renderRooms(): void {
    const names = new Set(rooms.map((r) => r.id));
    for (const r of restreams) if (!isFinal(r)) names.add(r.label);
    // A room the page picked by itself goes when it empties; one the admin chose stays.
    if (room && roomPicked && !names.has(room)) room = null;
    if (room) names.add(room);
    if (!room && names.size > 0) {
      // The first room with a teacher sending video, else the first room.
      const withTeacher = rooms.find((r) => teacherProducer(r, ['camera', 'screen']));
      room = withTeacher?.id ?? [...names].sort()[0] ?? null;
      roomPicked = true;
    }
    const options = [...names].sort().map((name) => {
      const summary = rooms.find((r) => r.id === name);
      const teacher = summary?.peers.filter((p) => p.role === 'teacher').map((p) => p.name).join(', ');
      const running = restreams.filter((r) => r.label === name && !isFinal(r)).length;
      const parts = [
        summary ? (teacher ? `teacher ${teacher}` : 'no teacher') : 'nobody in it',
        running ? `${running} restream${running > 1 ? 's' : ''} running` : '',
      ].filter(Boolean);
      return { value: name, label: `${name} (${parts.join(', ')})` };
    });
    if (options.length === 0) options.push({ value: '', label: 'No active rooms' });
    setOptions(roomSelect, options, room ?? '');
    roomSelect.value = room ?? '';
    startButton.disabled = !room;
  }

  function teacherProducer(summary: RoomSummary, sources: Source[]): ProducerInfo | undefined {
    const teachers = new Set(summary.peers.filter((p) => p.role === 'teacher').map((p) => p.id));
    for (const source of sources) {
      const found = summary.producers.find((p) => p.source === source && teachers.has(p.peerId));
      if (found) return found;
    }
    return undefined;
  }

  function renderSources(): void {
    const summary = rooms.find((r) => r.id === room);
    const names = new Map(summary?.peers.map((p) => [p.id, `${p.name} (${p.role})`]) ?? []);
    const label = (p: ProducerInfo) =>
      `${names.get(p.peerId) ?? 'someone'}: ${p.source === 'mic' ? 'microphone' : p.source}${p.paused ? ' (paused)' : ''}`;
    const producers = summary?.producers ?? [];
    setOptions(videoSelect, [
      { value: '', label: "The teacher's camera (their screen if no camera)" },
      ...producers.filter((p) => p.kind === 'video').map((p) => ({ value: p.id, label: label(p) })),
    ]);
    setOptions(audioSelect, [
      { value: '', label: "The teacher's microphone" },
      ...producers.filter((p) => p.kind === 'audio').map((p) => ({ value: p.id, label: label(p) })),
      { value: 'none', label: 'No sound' },
    ]);
  }

  function buildRequest(): { request: StartRestream } | { problem: string; field?: HTMLElement } {
    const summary = rooms.find((r) => r.id === room);
    const request: StartRestream = { destinations: [] };
    if (modeSelect.value === 'reencode') request.videoMode = 'reencode';
    const video = videoSelect.value;
    const audio = audioSelect.value;
    if (video || audio) {
      // Past the server's defaults: it takes both producers, or neither.
      const videoId = video || (summary && teacherProducer(summary, ['camera', 'screen'])?.id);
      if (!videoId) return { problem: 'The teacher is not sending video: choose a video.', field: videoSelect };
      request.videoProducerId = videoId as ProducerId;
      const audioId = audio === 'none' ? undefined : audio || (summary && teacherProducer(summary, ['mic'])?.id);
      if (audioId) request.audioProducerId = audioId as ProducerId;
    }
    for (const fields of destinations) {
      const read = fields.read();
      if ('problem' in read) return read;
      request.destinations.push(read.spec);
    }
    return { request };
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void start();
  });

  async function start(): Promise<void> {
    show(formError, false);
    if (!room) return;
    const built = buildRequest();
    if ('problem' in built) {
      formError.textContent = built.problem;
      show(formError, true);
      built.field?.focus();
      return;
    }
    const target = room;
    startButton.disabled = true;
    startButton.textContent = 'Starting…';
    try {
      const status = await api().startRestream(target, built.request);
      // The keys are with the server now: nothing here keeps them.
      for (const fields of destinations.splice(1)) fields.root.parentElement?.remove();
      destinations[0]!.clear();
      renumber();
      videoSelect.value = '';
      audioSelect.value = '';
      restreams = [status, ...restreams.filter((r) => r.id !== status.id)];
      renderList();
      notify(`Restream of ${target} started to ${status.destinations.length} destination${status.destinations.length > 1 ? 's' : ''}.`, 'success');
      cards.get(status.id)?.root.querySelector<HTMLElement>('h4')?.focus();
    } catch (error) {
      formError.textContent = `The restream did not start: ${errorText(error)}.`;
      show(formError, true);
    } finally {
      startButton.disabled = !room;
      startButton.textContent = 'Start restream';
    }
    await refresh();
  }

  // --- the list -----------------------------------------------------------------------------

  function renderList(): void {
    setText(listRoom, room ?? '—');
    const mine = restreams.filter((r) => r.label === room);
    const running = mine.filter((r) => !isFinal(r));
    const ended = mine.filter((r) => isFinal(r)).slice(0, ENDED_SHOWN);
    const shown = [...running, ...ended];
    for (const r of shown) {
      if (r.state === 'waitingForInput') {
        if (!waitingSince.has(r.id)) waitingSince.set(r.id, Date.now());
      } else {
        waitingSince.delete(r.id);
      }
    }
    const keep = new Set(shown.map((r) => r.id));
    for (const [id, card] of cards) {
      if (!keep.has(id)) {
        card.root.remove();
        cards.delete(id);
      }
    }
    let previous: Element | null = null;
    for (const r of shown) {
      const card = cards.get(r.id) ?? createCard(r);
      updateCard(card, r);
      // Keep the order (running first) without moving nodes that are in place (focus stays).
      const expected: Element | null = previous ? previous.nextElementSibling : list.firstElementChild;
      if (expected !== card.root) {
        if (previous) previous.after(card.root);
        else list.prepend(card.root);
      }
      previous = card.root;
    }
    show(listEmpty, shown.length === 0);
    listEmpty.textContent = room ? 'No restream in this room yet.' : 'Choose a room to see its restreams.';
  }

  function createCard(r: RestreamStatus): Card {
    const id = `restream-${r.id}`;
    const figure = (label: string) => {
      const value = el('dd');
      return { nodes: [el('div', {}, el('dt', { text: label }), value)], value };
    };
    const uptime = figure('Running for');
    const fps = figure('Frame rate');
    const bitrate = figure('Bitrate');
    const muxed = figure('Muxed (this input)');
    const state = el('p', { class: 'badge restream-state', attrs: { role: 'status', 'aria-live': 'polite' } });
    const countdown = el('span', { class: 'hint restream-countdown' });
    const body = el('tbody');
    const error = el('p', { class: 'error', attrs: { role: 'alert' } });
    error.hidden = true;
    const stop = el('button', {
      class: 'danger stop-restream',
      text: 'Stop restream',
      attrs: { type: 'button' },
    });
    const addForm = restreamAddForm(r.id, () => cards.get(r.id));
    const controls = el('div', { class: 'restream-controls' }, addForm, stop);
    const root = el(
      'article',
      { class: 'restream', attrs: { 'data-restream-id': r.id, 'aria-labelledby': `${id}-title` } },
      el(
        'div',
        { class: 'panel-head' },
        el('h4', { text: `Restream ${r.id.slice(0, 8)}`, attrs: { id: `${id}-title`, tabindex: '-1' } }),
        el('div', { class: 'restream-status' }, state, countdown),
      ),
      el('p', { class: 'hint restream-input' }),
      el('dl', { class: 'figures' }, ...uptime.nodes, ...fps.nodes, ...bitrate.nodes, ...muxed.nodes),
      el(
        'table',
        { class: 'table destinations' },
        el('caption', { class: 'visually-hidden', text: `Destinations of restream ${r.id.slice(0, 8)}` }),
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            ...['Destination', 'State', 'Sent', 'Bitrate', 'Live for', 'Reconnects'].map((t) => el('th', { text: t, attrs: { scope: 'col' } })),
            el('th', { attrs: { scope: 'col' } }, el('span', { class: 'visually-hidden', text: 'Actions' })),
          ),
        ),
        body,
      ),
      error,
      controls,
    );
    stop.setAttribute('aria-label', `Stop restream ${r.id.slice(0, 8)}`);
    const card: Card = {
      root,
      state,
      countdown,
      input: root.querySelector('.restream-input')!,
      figures: { uptime: uptime.value, fps: fps.value, bitrate: bitrate.value, muxed: muxed.value },
      body,
      rows: new Map(),
      controls,
      error,
      status: r,
    };
    stop.addEventListener('click', () => void stopRestream(card, stop));
    cards.set(r.id, card);
    return card;
  }

  function updateCard(card: Card, r: RestreamStatus): void {
    card.status = r;
    const final = isFinal(r);
    setData(card.root, 'state', r.state);
    setData(card.state, 'state', r.state);
    setText(card.state, restreamStateText(r));
    setText(card.countdown, countdownText(r, waitingSince.get(r.id)));
    card.countdown.hidden = r.state !== 'waitingForInput';
    setText(card.input, inputText(r));
    const live = r.state === 'live' || r.state === 'reconnecting' || r.state === 'starting';
    setText(card.figures.uptime, formatDuration(r.stats.uptimeSecs));
    setText(card.figures.fps, live && r.input ? `${r.stats.fps.toFixed(1)} fps` : '—');
    setText(card.figures.bitrate, live && r.input ? formatBitrate(r.stats.bitrateBps) : '—');
    // bytesMuxed counts the current input session: none while waiting or after the end.
    setText(card.figures.muxed, r.input ? formatBytes(r.stats.bytesMuxed) : '—');
    card.controls.hidden = final;
    const keep = new Set(r.destinations.map((d) => d.id));
    for (const [id, row] of card.rows) {
      if (!keep.has(id)) {
        row.row.remove();
        card.rows.delete(id);
      }
    }
    for (const d of r.destinations) {
      const row = card.rows.get(d.id) ?? createRow(card, d);
      setData(row.row, 'state', d.state);
      setText(row.url, d.url);
      setText(row.state, destinationStateText(d, r));
      const sending = d.state === 'live';
      setText(row.sent, formatBytes(d.stats.bytesOut));
      setText(row.bitrate, sending ? formatBitrate(d.stats.bitrateBps) : '—');
      setText(row.uptime, sending ? formatDuration(d.stats.uptimeSecs) : '—');
      setText(row.reconnects, String(d.stats.reconnects));
      row.remove.hidden = final;
      // The server keeps at least one destination: the last one goes with "Stop restream".
      const last = r.destinations.length <= 1;
      row.remove.disabled = last;
      row.remove.title = last ? 'A restream needs a destination: stop the restream instead' : '';
    }
  }

  function createRow(card: Card, d: DestinationStatus): DestinationRow {
    const url = el('code');
    const remove = el('button', {
      class: 'link remove-destination',
      text: 'Remove',
      attrs: { type: 'button', 'aria-label': `Remove destination ${d.url}` },
    });
    const cells = {
      url,
      state: el('td', { class: 'destination-state' }),
      sent: el('td'),
      bitrate: el('td'),
      uptime: el('td'),
      reconnects: el('td'),
    };
    const row = el(
      'tr',
      { attrs: { 'data-destination-id': d.id } },
      el('th', { attrs: { scope: 'row' } }, url),
      cells.state,
      cells.sent,
      cells.bitrate,
      cells.uptime,
      cells.reconnects,
      el('td', {}, remove),
    );
    remove.addEventListener('click', () => void removeDestination(card, d.id, remove));
    card.body.append(row);
    const entry: DestinationRow = { row, remove, ...cells };
    card.rows.set(d.id, entry);
    return entry;
  }

  /** "Add a destination" inside a running restream's card. */
  function restreamAddForm(id: string, card: () => Card | undefined): HTMLElement {
    const fields = destinationFields();
    fields.setTitle('New destination');
    const error = el('p', { class: 'error', attrs: { role: 'alert' } });
    error.hidden = true;
    const submit = el('button', { class: 'primary', text: 'Add destination', attrs: { type: 'submit' } });
    const addForm = el('form', { class: 'add-destination-form', attrs: { novalidate: true } }, fields.root, error, submit);
    const details = el('details', { class: 'add-destination' }, el('summary', { text: 'Add a destination' }), addForm);
    addForm.addEventListener('submit', (event) => {
      event.preventDefault();
      void (async () => {
        show(error, false);
        const read = fields.read();
        if ('problem' in read) {
          read.field.focus();
          return;
        }
        submit.disabled = true;
        try {
          await api().addDestination(id, read.spec);
          fields.clear();
          details.open = false;
          notify('Destination added: it is connecting.', 'success');
          card()?.root.querySelector<HTMLElement>('summary')?.focus();
        } catch (e) {
          error.textContent = `The destination was not added: ${errorText(e)}.`;
          show(error, true);
        } finally {
          submit.disabled = false;
        }
        await refresh();
      })();
    });
    return details;
  }

  async function stopRestream(card: Card, button: HTMLButtonElement): Promise<void> {
    if (!confirm(`Stop restream ${card.status.id.slice(0, 8)} of ${card.status.label}? Every destination's stream ends.`)) return;
    button.disabled = true;
    show(card.error, false);
    try {
      await api().stopRestream(card.status.id);
      notify(`The restream of ${card.status.label} was stopped.`, 'success');
    } catch (error) {
      card.error.textContent = `Could not stop the restream: ${errorText(error)}.`;
      show(card.error, true);
    } finally {
      button.disabled = false;
    }
    await refresh();
  }

  async function removeDestination(card: Card, destination: string, button: HTMLButtonElement): Promise<void> {
    const url = card.status.destinations.find((d) => d.id === destination)?.url ?? 'this destination';
    if (!confirm(`Stop sending to ${url}?`)) return;
    button.disabled = true;
    show(card.error, false);
    try {
      await api().removeDestination(card.status.id, destination);
      notify(`Stopped sending to ${url}.`, 'success');
    } catch (error) {
      card.error.textContent = `Could not remove the destination: ${errorText(error)}.`;
      show(card.error, true);
      button.disabled = false;
    }
    await refresh();
  }

  // --- polling ------------------------------------------------------------------------------

  /** Loads the restreams; false when polling should stop (no key, or the key was refused). */
  async function load(): Promise<boolean> {
    if (!getKey()) return false;
    let keepPolling = true;
    try {
      restreams = await api().restreams();
      show(listError, false);
      setText(updated, `Updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      // A refused key: the page asks for another one, and a new key restarts the polling.
      keepPolling = !(error instanceof ApiError && error.status === 401);
      listError.textContent = `Could not load the restreams: ${errorText(error)}.${keepPolling ? ' Retrying…' : ''}`;
      show(listError, true);
    }
    renderRooms();
    renderSources();
    renderList();
    return keepPolling;
  }

  async function refresh(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = null;
    // One request at a time: a slow answer must not be overtaken by an older one.
    inFlight ??= load().finally(() => {
      inFlight = null;
    });
    const keepPolling = await inFlight;
    if (timer) clearTimeout(timer);
    timer = keepPolling && document.visibilityState === 'visible' ? setTimeout(() => void refresh(), POLL_MS) : null;
  }
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') void refresh();
    else if (timer) {
      clearTimeout(timer);
      timer = null;
    }
  });

  return {
    setRooms(next) {
      rooms = next;
      renderRooms();
      renderSources();
      renderList();
    },
    followRoom(name) {
      if (roomChosenHere || name === room) return;
      room = name;
      roomPicked = false;
      renderRooms();
      renderSources();
      renderList();
    },
    refresh,
  };
}
