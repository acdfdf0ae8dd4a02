// The teacher's page: preview, device choice, going live (camera in three
// simulcast layers + microphone), screen sharing, recording (record-button.ts),
// the participant list with raised hands and speaking rights, chat.

import {
  CAMERA_CODEC_OPTIONS,
  CAMERA_ENCODINGS,
  MIC_CODEC_OPTIONS,
  SCREEN_ENCODINGS,
  getCamera,
  getMic,
  getScreen,
  listDevices,
  type MediaAccessError,
} from './media';
import { startRoomPage } from './page';
import { attachAudio, detachAudio, attachVideo } from './playback';
import type { PeerId, PeerInfo } from './protocol';
import { mountRecordButton } from './record-button';
import type { RequestError } from './signaling';
import { byId, el, notify, setPressed, show } from './ui';

const page = startRoomPage('teacher', {
  // Students' microphones (and a co-teacher's voice); the teacher watches their own preview.
  shouldConsume: (producer) => producer.kind === 'audio',
});

if (page) {
  const { room } = page;
  const preview = byId<HTMLVideoElement>('preview');
  const previewMessage = byId('preview-message');
  const screenBox = byId('screen-box');
  const screenPreview = byId<HTMLVideoElement>('screen-preview');
  const liveFlag = byId('live-flag');
  const goLive = byId<HTMLButtonElement>('go-live');
  const muteMic = byId<HTMLButtonElement>('mute-mic');
  const toggleCamera = byId<HTMLButtonElement>('toggle-camera');
  const shareScreen = byId<HTMLButtonElement>('share-screen');
  const broadcastState = byId('broadcast-state');
  const cameraSelect = byId<HTMLSelectElement>('camera-select');
  const micSelect = byId<HTMLSelectElement>('mic-select');
  const retryMedia = byId<HTMLButtonElement>('retry-media');
  const mediaError = byId('media-error');
  const audioSinks = byId('audio-sinks');

  let camera: MediaStreamTrack | null = null;
  let mic: MediaStreamTrack | null = null;
  let cameraOff = false;
  /** Why the camera is not in the preview, when the browser refused it. */
  let cameraProblem: string | null = null;
  let micMuted = false;
  let live = false;
  let busy = false;

  const problem = (error: unknown) => (error as Error).message;


  function showMediaError(message: string | null): void {
    mediaError.textContent = message ?? '';
    show(mediaError, message !== null);
  }

  function renderPreview(): void {
    attachVideo(preview, camera && !cameraOff ? camera : null);
    let message: string | null = null;
    let state = 'on';
    if (!camera && !cameraOff) {
      state = cameraProblem === 'denied' ? 'denied' : 'unavailable';
      message = cameraProblem === 'denied' ? 'Camera blocked by the browser.' : cameraProblem ? 'No camera.' : 'Starting your camera…';
    } else if (cameraOff) {
      state = 'off';
      message = 'Your camera is off.';
    }
    previewMessage.textContent = message ?? '';
    previewMessage.dataset.state = state;
    show(previewMessage, message !== null);
  }

  function renderControls(): void {
    const connected = room.status.kind === 'live';
    goLive.disabled = busy || !connected || (!live && !camera && !mic);
    goLive.textContent = live ? 'Stop broadcast' : 'Go live';
    goLive.classList.toggle('primary', !live);
    goLive.classList.toggle('danger', live);
    muteMic.disabled = busy || !mic;
    setPressed(muteMic, micMuted, micMuted ? 'Unmute microphone' : 'Mute microphone');
    toggleCamera.disabled = busy || (!camera && !cameraOff);
    setPressed(toggleCamera, cameraOff, cameraOff ? 'Start camera' : 'Stop camera');
    const sharing = room.publications.has('screen');
    shareScreen.disabled = busy || !live || !connected;
    shareScreen.title = live ? '' : 'Go live first';
    setPressed(shareScreen, sharing, sharing ? 'Stop sharing' : 'Share screen');
    show(liveFlag, live);
    broadcastState.textContent = live
      ? `Live: students see and hear you${micMuted ? ' (microphone muted)' : ''}${cameraOff ? ' (camera off)' : ''}.`
      : 'Preview: students do not see you until you go live.';
    broadcastState.dataset.state = live ? 'live' : 'preview';
  }

  async function fillDeviceLists(): Promise<void> {
    const fill = async (select: HTMLSelectElement, kind: MediaDeviceKind, current: MediaStreamTrack | null) => {
      const devices = await listDevices(kind);
      const selected = current?.getSettings().deviceId ?? select.value;
      select.replaceChildren(
        ...devices.map((d, i) =>
          el('option', { text: d.label || `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${i + 1}`, attrs: { value: d.deviceId } }),
        ),
      );
      if (devices.length === 0) select.append(el('option', { text: 'None found', attrs: { value: '' } }));
      if (selected && devices.some((d) => d.deviceId === selected)) select.value = selected;
      select.disabled = devices.length < 2 && !!current;
      if (devices.length >= 1 && !current) select.disabled = false;
    };
    await fill(cameraSelect, 'videoinput', camera);
    await fill(micSelect, 'audioinput', mic);
  }

  /** Camera and microphone for the preview; each may fail on its own. */
  async function startMedia(): Promise<void> {
    const failures: { what: 'camera' | 'microphone'; error: MediaAccessError }[] = [];
    if (!camera && !cameraOff) {
      try {
        camera = await getCamera(cameraSelect.value || undefined);
        watchEnded(camera, 'camera');
        cameraProblem = null;
      } catch (error) {
        failures.push({ what: 'camera', error: error as MediaAccessError });
        cameraProblem = (error as MediaAccessError).problem;
      }
    }
    if (!mic) {
      try {
        mic = await getMic(micSelect.value || undefined);
        mic.enabled = !micMuted;
        watchEnded(mic, 'mic');
      } catch (error) {
        failures.push({ what: 'microphone', error: error as MediaAccessError });
      }
    }
    const allDenied = failures.length > 0 && failures.every((f) => f.error.problem === 'denied');
    const message = allDenied
      ? `Access to the ${failures.map((f) => f.what).join(' and ')} was denied. Allow it in the browser's site settings (the icon left of the address), then try again.`
      : failures.map((f) => f.error.message).join(' ');
    showMediaError(failures.length ? message : null);
    show(retryMedia, failures.length > 0);
    renderPreview();
    renderControls();
    await fillDeviceLists().catch(() => {});
  }

  function watchEnded(track: MediaStreamTrack, source: 'camera' | 'mic'): void {
    track.addEventListener('ended', () => {
      // Unplugged, or revoked by the browser.
      if (source === 'camera' && camera === track) {
        camera = null;
        notify('The camera stopped. Pick another one or try again.', 'error');
      } else if (source === 'mic' && mic === track) {
        mic = null;
        notify('The microphone stopped. Pick another one or try again.', 'error');
      }
      renderPreview();
      renderControls();
    });
  }

  async function run(action: () => Promise<void>): Promise<void> {
    if (busy) return;
    busy = true;
    renderControls();
    try {
      await action();
    } catch (error) {
      notify(problem(error), 'error');
    } finally {
      busy = false;
      renderControls();
    }
  }

  async function startBroadcast(): Promise<void> {
    const tasks: Promise<void>[] = [];
    if (camera || cameraOff) {
      // A camera that is off still goes out as a paused producer, ready to resume.
      if (camera) {
        tasks.push(
          room.publish('camera', camera, { encodings: CAMERA_ENCODINGS, codecOptions: CAMERA_CODEC_OPTIONS, paused: cameraOff }),
        );
      }
    }
    if (mic) tasks.push(room.publish('mic', mic, { codecOptions: MIC_CODEC_OPTIONS, paused: micMuted }));
    live = true;
    const results = await Promise.allSettled(tasks);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length === results.length && results.length > 0) {
      live = false;
      throw new Error(`Could not go live: ${problem(failed[0]!.reason)}`);
    }
    for (const f of failed) notify(`Part of the broadcast failed: ${problem(f.reason)}`, 'error');
  }

  async function stopBroadcast(): Promise<void> {
    live = false;
    await stopScreen();
    await Promise.all([room.unpublish('camera'), room.unpublish('mic')]);
  }

  async function stopScreen(): Promise<void> {
    const publication = room.publications.get('screen');
    if (!publication) return;
    await room.unpublish('screen');
    publication.track.stop();
    attachVideo(screenPreview, null);
    show(screenBox, false);
  }

  goLive.addEventListener('click', () => void run(live ? stopBroadcast : startBroadcast));

  muteMic.addEventListener('click', () =>
    void run(async () => {
      micMuted = !micMuted;
      if (mic) mic.enabled = !micMuted;
      await room.setPaused('mic', micMuted);
    }),
  );

  toggleCamera.addEventListener('click', () =>
    void run(async () => {
      if (!cameraOff) {
        cameraOff = true;
        await room.setPaused('camera', true);
        camera?.stop(); // the camera light goes off
        camera = null;
      } else {
        const track = await getCamera(cameraSelect.value || undefined);
        watchEnded(track, 'camera');
        camera = track;
        cameraOff = false;
        if (room.publications.has('camera')) {
          await room.replaceTrack('camera', track);
          await room.setPaused('camera', false);
        } else if (live) {
          await room.publish('camera', track, { encodings: CAMERA_ENCODINGS, codecOptions: CAMERA_CODEC_OPTIONS });
        }
      }
      renderPreview();
    }),
  );

  shareScreen.addEventListener('click', () =>
    void run(async () => {
      if (room.publications.has('screen')) return stopScreen();
      const track = await getScreen();
      // Sharing ended from the browser's own "Stop sharing" bar.
      track.addEventListener('ended', () => void run(stopScreen));
      attachVideo(screenPreview, track);
      show(screenBox, true);
      try {
        await room.publish('screen', track, { encodings: SCREEN_ENCODINGS });
      } catch (error) {
        track.stop();
        attachVideo(screenPreview, null);
        show(screenBox, false);
        throw error;
      }
    }),
  );

  /** Another camera or microphone: the producer stays, its track is replaced. */
  async function switchDevice(kind: 'camera' | 'mic', deviceId: string): Promise<void> {
    if (kind === 'camera') {
      if (cameraOff) return; // used when the camera starts again
      const track = await getCamera(deviceId || undefined);
      watchEnded(track, 'camera');
      const old = camera;
      camera = track;
      if (room.publications.has('camera')) await room.replaceTrack('camera', track);
      old?.stop();
      renderPreview();
    } else {
      const track = await getMic(deviceId || undefined);
      track.enabled = !micMuted;
      watchEnded(track, 'mic');
      const old = mic;
      mic = track;
      if (room.publications.has('mic')) await room.replaceTrack('mic', track);
      old?.stop();
    }
    notify(`Switched to ${selectedLabel(kind === 'camera' ? cameraSelect : micSelect)}`, 'success');
  }

  function selectedLabel(select: HTMLSelectElement): string {
    return select.selectedOptions[0]?.textContent ?? 'the new device';
  }

  cameraSelect.addEventListener('change', () => void run(() => switchDevice('camera', cameraSelect.value)));
  micSelect.addEventListener('change', () => void run(() => switchDevice('mic', micSelect.value)));
  retryMedia.addEventListener('click', () => void run(startMedia));
  navigator.mediaDevices?.addEventListener?.('devicechange', () => void fillDeviceLists().catch(() => {}));

  room.on('publication', ({ source, publication }) => {
    if (source === 'screen' && !publication && room.status.kind === 'live') {
      // The screen stopped (refused after a reconnection, or ended).
      attachVideo(screenPreview, null);
      show(screenBox, false);
    }
    renderControls();
  });
  room.on('publishFailed', ({ source, error }) => {
    notify(`Your ${source} could not be sent again: ${error.message}`, 'error');
  });
  room.on('status', (status) => {
    if (status.kind === 'ended') {
      for (const track of [camera, mic, room.publications.get('screen')?.track]) track?.stop();
      camera = mic = null;
    }
    renderControls();
  });

  // --- remote audio (students allowed to speak) --------------------------------
  room.on('media', (media) => {
    if (media.kind === 'audio') attachAudio(audioSinks, media, () => notify('Click anywhere to hear the students.', 'info'));
  });
  room.on('mediaEnded', (media) => detachAudio(audioSinks, media));

  // --- participants ------------------------------------------------------------
  const peopleList = byId<HTMLUListElement>('people');
  const peopleEmpty = byId('people-empty');
  const peopleCount = byId('people-count');
  const handsSummary = byId('hands');
  const peers = new Map<PeerId, PeerInfo>();
  /** When each raised hand went up, for first-come order. */
  const handOrder = new Map<PeerId, number>();
  let activeSpeaker: PeerId | null = null;
  let renderQueued = false;

  function scheduleRender(): void {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => {
      renderQueued = false;
      renderPeople();
    });
  }

  function renderPeople(): void {
    const self = room.selfId;
    const others = [...peers.values()].filter((p) => p.id !== self);
    const rank = (p: PeerInfo) => (p.handRaised ? 0 : p.canSpeak && p.role === 'student' ? 1 : p.role === 'student' ? 3 : 2);
    others.sort(
      (a, b) =>
        rank(a) - rank(b) ||
        (handOrder.get(a.id) ?? 0) - (handOrder.get(b.id) ?? 0) ||
        a.name.localeCompare(b.name),
    );
    const focused = document.activeElement instanceof HTMLElement ? document.activeElement.dataset.key : undefined;
    peopleList.replaceChildren(...others.map(personRow));
    if (focused) peopleList.querySelector<HTMLElement>(`[data-key="${focused}"]`)?.focus();
    const students = others.filter((p) => p.role === 'student');
    show(peopleEmpty, students.length === 0);
    peopleCount.textContent = `(${students.length} student${students.length === 1 ? '' : 's'})`;
    const hands = students.filter((p) => p.handRaised);
    handsSummary.textContent = hands.length
      ? `${hands.length} raised hand${hands.length === 1 ? '' : 's'}: ${hands.map((p) => p.name).join(', ')}`
      : '';
  }

  function personRow(p: PeerInfo): HTMLLIElement {
    const key = (action: string) => `${action}:${p.id}`;
    const button = (action: string, text: string, label: string, cls = '') =>
      el('button', {
        class: cls,
        text,
        attrs: { type: 'button', 'data-action': action, 'data-peer': p.id, 'data-key': key(action), 'aria-label': label },
      });
    const student = p.role === 'student';
    return el(
      'li',
      {
        attrs: {
          'data-peer-id': p.id,
          'data-role': p.role,
          'data-hand': String(p.handRaised),
          'data-can-speak': String(p.canSpeak),
          'data-active-speaker': activeSpeaker === p.id,
        },
      },
      el('span', { class: 'name', text: p.name }),
      student ? null : el('span', { class: 'tag', text: p.role }),
      p.handRaised ? el('span', { class: 'tag hand', text: '✋ Hand raised' }) : null,
      student && p.canSpeak ? el('span', { class: 'tag speaker', text: 'May speak' }) : null,
      student && !p.canSpeak ? button('allow', 'Let speak', `Let ${p.name} speak`) : null,
      student && p.canSpeak ? button('revoke', 'Stop speaking', `Take the word back from ${p.name}`) : null,
      student && p.handRaised ? button('lower', 'Lower hand', `Lower ${p.name}'s hand`) : null,
      student ? button('kick', 'Remove', `Remove ${p.name} from the class`, 'danger') : null,
    );
  }

  peopleList.addEventListener('click', (event) => {
    const target = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-action]');
    if (!target) return;
    const peerId = target.dataset.peer as PeerId;
    const person = peers.get(peerId);
    if (!person) return;
    const act = async () => {
      switch (target.dataset.action) {
        case 'allow':
          return room.request('allowSpeak', { peerId, allowed: true });
        case 'revoke':
          return room.request('allowSpeak', { peerId, allowed: false });
        case 'lower':
          return room.request('lowerHand', { peerId });
        case 'kick':
          if (!confirm(`Remove ${person.name} from the class?`)) return;
          return room.request('kick', { peerId });
      }
      return undefined;
    };
    target.disabled = true;
    act().then(
      () => {},
      (error: RequestError) => {
        target.disabled = false;
        notify(`${target.textContent}: ${error.message}`, 'error');
      },
    );
  });

  room.on('joined', (joined) => {
    peers.clear();
    handOrder.clear();
    for (const p of joined.peers) {
      peers.set(p.id, p);
      if (p.handRaised) handOrder.set(p.id, Date.now());
    }
    scheduleRender();
    renderControls();
  });
  room.on('notification', (n) => {
    switch (n.notification) {
      case 'peerJoined':
        peers.set(n.data.peer.id, n.data.peer);
        break;
      case 'peerLeft':
        peers.delete(n.data.peerId);
        handOrder.delete(n.data.peerId);
        break;
      case 'handRaised': {
        const p = peers.get(n.data.peerId);
        if (p) p.handRaised = n.data.raised;
        if (n.data.raised) {
          handOrder.set(n.data.peerId, Date.now());
          if (p) notify(`${p.name} raised their hand`, 'info');
        } else {
          handOrder.delete(n.data.peerId);
        }
        break;
      }
      case 'speakPermission':
        peers.set(n.data.peer.id, n.data.peer);
        if (!n.data.peer.handRaised) handOrder.delete(n.data.peer.id);
        break;
      case 'activeSpeaker':
        activeSpeaker = n.data.peerId;
        break;
      default:
        return;
    }
    scheduleRender();
  });

  mountRecordButton(room);
  renderControls();
  void startMedia();
}
