// The student's page: the teacher's camera, screen and voice; quality choice;
// raising a hand; speaking once the teacher allows it; chat. The room
// reconnects and receives again by itself after a drop.

import { MIC_CODEC_OPTIONS, getMic } from './media';
import { startRoomPage } from './page';
import { attachAudio, attachVideo, audioBlocked, detachAudio, onAudioBlocked, unlockAudio } from './playback';
import type { PeerId, PeerInfo } from './protocol';
import { RoomClient, type RemoteMedia } from './room';
import type { RequestError } from './signaling';
import { byId, el, notify, setPressed, show } from './ui';

const page = startRoomPage('student');

if (page) {
  const { room } = page;
  const cameraVideo = byId<HTMLVideoElement>('camera-video');
  const screenVideo = byId<HTMLVideoElement>('screen-video');
  const screenBox = byId('screen-box');
  const stageMessage = byId('stage-message');
  const unmute = byId<HTMLButtonElement>('unmute');
  const quality = byId<HTMLSelectElement>('quality');
  const resolution = byId('resolution');
  const raiseHand = byId<HTMLButtonElement>('raise-hand');
  const speak = byId<HTMLButtonElement>('speak');
  const speakStatus = byId('speak-status');
  const audioSinks = byId('audio-sinks');
  const peopleList = byId<HTMLUListElement>('people');
  const peopleEmpty = byId('people-empty');

  /** Everyone this student sees: staff and students allowed to speak. */
  const peers = new Map<PeerId, PeerInfo>();
  let everSawTeacher = false;
  let camera: RemoteMedia | null = null;
  let screen: RemoteMedia | null = null;
  let handRaised = false;
  let canSpeak = false;
  let speaking = false;
  let speakBusy = false;
  let micTrack: MediaStreamTrack | null = null;

  const teachers = () => [...peers.values()].filter((p) => p.role === 'teacher');

  // --- the stage ---------------------------------------------------------------

  function renderStage(): void {
    const status = room.status;
    let state: string;
    let message: string | null;
    if (status.kind === 'connecting') {
      [state, message] = ['connecting', 'Connecting to the class…'];
    } else if (status.kind === 'reconnecting') {
      [state, message] = ['reconnecting', 'Connection lost. Reconnecting…'];
    } else if (status.kind === 'ended') {
      [state, message] = ['ended', status.message];
    } else if (teachers().length === 0) {
      [state, message] = everSawTeacher
        ? ['teacher-left', 'The teacher left the class. Waiting for them to come back…']
        : ['waiting', 'Waiting for the teacher to join…'];
    } else if (!camera && !screen) {
      [state, message] = ['not-live', 'The teacher is here but not live yet.'];
    } else if (camera?.producerPaused && !screen) {
      [state, message] = ['camera-off', "The teacher's camera is off."];
    } else {
      [state, message] = ['watching', null];
    }
    stageMessage.dataset.state = state;
    stageMessage.textContent = message ?? '';
    show(stageMessage, message !== null);
    attachVideo(cameraVideo, camera && !camera.producerPaused ? camera.track : null);
    attachVideo(screenVideo, screen && !screen.producerPaused ? screen.track : null);
    show(screenBox, screen !== null);
    cameraVideo.setAttribute('aria-label', screen ? "The teacher's camera (small)" : "The teacher's camera");
    renderResolution();
  }

  function renderResolution(): void {
    if (!camera || camera.producerPaused || cameraVideo.videoWidth === 0) {
      resolution.textContent = camera ? 'Starting video…' : 'No video';
      resolution.dataset.width = '0';
      return;
    }
    const layer = camera.spatialLayer === null ? '' : `, layer ${camera.spatialLayer + 1} of ${RoomClient.spatialLayers(camera)}`;
    resolution.textContent = `Receiving ${cameraVideo.videoWidth}×${cameraVideo.videoHeight}${layer}`;
    resolution.dataset.width = String(cameraVideo.videoWidth);
  }
  cameraVideo.addEventListener('resize', renderResolution);

  // --- quality -----------------------------------------------------------------

  let requestedLayer: { consumerId: string; layer: number } | null = null;

  /** Auto: the layer the video's size on screen needs (the server lowers it when bandwidth is short). */
  function autoLayer(): number {
    const width = cameraVideo.getBoundingClientRect().width * (window.devicePixelRatio || 1);
    return width > 700 ? 2 : width > 340 ? 1 : 0;
  }

  async function applyQuality(): Promise<void> {
    const media = camera;
    if (!media || media.type !== 'simulcast') return;
    const max = RoomClient.spatialLayers(media) - 1;
    const wanted = quality.value === 'auto' ? autoLayer() : Number(quality.value);
    const layer = Math.max(0, Math.min(max, wanted));
    if (requestedLayer?.consumerId === media.consumerId && requestedLayer.layer === layer) return;
    requestedLayer = { consumerId: media.consumerId, layer };
    try {
      await room.setPreferredLayer(media, layer);
    } catch (error) {
      requestedLayer = null;
      if ((error as RequestError).code !== 'disconnected' && (error as RequestError).code !== 'not_found') {
        notify(`Cannot change the quality: ${(error as Error).message}`, 'error');
      }
    }
  }
  quality.addEventListener('change', () => void applyQuality());

  // Auto follows the layout, which settles a moment after media arrives (the
  // screen share moves the camera aside): wait for it rather than flip layers.
  let qualityTimer: ReturnType<typeof setTimeout> | null = null;
  function scheduleQuality(): void {
    if (qualityTimer) clearTimeout(qualityTimer);
    qualityTimer = setTimeout(() => {
      qualityTimer = null;
      void applyQuality();
    }, 300);
  }
  new ResizeObserver(() => {
    if (quality.value === 'auto') scheduleQuality();
  }).observe(cameraVideo);

  // --- media -------------------------------------------------------------------

  room.on('media', (media) => {
    if (media.kind === 'audio') {
      attachAudio(audioSinks, media);
      return;
    }
    if (media.source === 'screen') screen = media;
    else camera = media;
    renderStage();
    if (media === camera) scheduleQuality();
  });
  room.on('mediaEnded', (media) => {
    if (media.kind === 'audio') detachAudio(audioSinks, media);
    if (media === camera) camera = null;
    if (media === screen) screen = null;
    renderStage();
  });
  room.on('mediaChanged', (media) => {
    if (media === camera || media === screen) renderStage();
  });

  function renderUnmute(): void {
    show(unmute, audioBlocked());
  }
  onAudioBlocked(renderUnmute);
  unmute.addEventListener('click', () => {
    void unlockAudio().then((ok) => {
      if (!ok) notify('The browser still blocks the sound. Check that this site may play audio.', 'error');
    });
  });

  // --- people ------------------------------------------------------------------

  function renderPeople(): void {
    const self = room.selfId;
    const list = [...peers.values()]
      .filter((p) => p.id !== self)
      .sort((a, b) => (a.role === b.role ? a.name.localeCompare(b.name) : a.role === 'teacher' ? -1 : 1));
    peopleList.replaceChildren(
      ...list.map((p) =>
        el(
          'li',
          { attrs: { 'data-peer-id': p.id, 'data-role': p.role } },
          el('span', { class: 'name', text: p.name }),
          p.role === 'student' ? el('span', { class: 'tag speaker', text: 'May speak' }) : el('span', { class: 'tag', text: p.role }),
        ),
      ),
    );
    show(peopleEmpty, list.length === 0);
  }

  // --- hand and voice ----------------------------------------------------------

  function renderHandAndVoice(): void {
    const connected = room.status.kind === 'live';
    raiseHand.disabled = !connected || canSpeak;
    setPressed(raiseHand, handRaised, handRaised ? 'Lower hand' : 'Raise hand');
    speak.disabled = !connected || speakBusy;
    setPressed(speak, speaking, speaking ? 'Stop speaking' : 'Speak');
  }

  function setSpeakStatus(state: 'idle' | 'allowed' | 'speaking' | 'refused' | 'error', message: string): void {
    speakStatus.dataset.state = state;
    speakStatus.textContent = message;
  }

  raiseHand.addEventListener('click', () => {
    raiseHand.disabled = true;
    const request = handRaised ? room.request('lowerHand', {}) : room.request('raiseHand', {});
    request.then(
      () => {
        handRaised = !handRaised;
        renderHandAndVoice();
      },
      (error: Error) => {
        notify(`Could not ${handRaised ? 'lower' : 'raise'} your hand: ${error.message}`, 'error');
        renderHandAndVoice();
      },
    );
  });

  speak.addEventListener('click', () => {
    speakBusy = true;
    renderHandAndVoice();
    (speaking ? stopSpeaking() : startSpeaking()).finally(() => {
      speakBusy = false;
      renderHandAndVoice();
    });
  });

  async function startSpeaking(): Promise<void> {
    let track: MediaStreamTrack | null = null;
    try {
      // The server decides: it refuses the send transport until the teacher allows it.
      await room.prepareSending();
      track = await getMic();
      await room.publish('mic', track, { codecOptions: MIC_CODEC_OPTIONS });
      micTrack = track;
      speaking = true;
      setSpeakStatus('speaking', 'Your microphone is on: everyone hears you.');
    } catch (error) {
      track?.stop();
      const e = error as RequestError;
      if (e.code === 'forbidden') {
        setSpeakStatus('refused', "You can't speak yet: the teacher has not given you the word. Raise your hand to ask.");
      } else {
        setSpeakStatus('error', `Your microphone could not be turned on: ${e.message}`);
      }
    }
  }

  async function stopSpeaking(): Promise<void> {
    await room.unpublish('mic').catch(() => {});
    micTrack?.stop();
    micTrack = null;
    speaking = false;
    setSpeakStatus(canSpeak ? 'allowed' : 'idle', canSpeak ? 'Microphone off. Press Speak to talk again.' : 'To speak, raise your hand: the teacher can let you.');
  }

  room.on('publication', ({ source, publication }) => {
    if (source !== 'mic' || publication || !speaking) return;
    // The microphone stopped without us: the teacher took the word back, or a reconnection dropped it.
    speaking = false;
    micTrack?.stop();
    micTrack = null;
    renderHandAndVoice();
  });
  room.on('publishFailed', ({ source, error }) => {
    if (source !== 'mic') return;
    setSpeakStatus('idle', `Your microphone went off after the reconnection (${error.message}). Raise your hand to speak again.`);
  });

  // --- room events -------------------------------------------------------------

  room.on('joined', (joined) => {
    peers.clear();
    for (const p of joined.peers) peers.set(p.id, p);
    if (teachers().length > 0) everSawTeacher = true;
    canSpeak = joined.canSpeak;
    handRaised = false;
    requestedLayer = null;
    renderPeople();
    renderStage();
    renderHandAndVoice();
  });

  room.on('notification', (n) => {
    const self = room.selfId;
    switch (n.notification) {
      case 'peerJoined':
        peers.set(n.data.peer.id, n.data.peer);
        if (n.data.peer.role === 'teacher') {
          everSawTeacher = true;
          notify(`${n.data.peer.name} joined`, 'info');
        }
        break;
      case 'peerLeft': {
        const p = peers.get(n.data.peerId);
        peers.delete(n.data.peerId);
        if (p?.role === 'teacher') notify(`${p.name} left the class`, 'info');
        break;
      }
      case 'handRaised':
        if (n.data.peerId === self) {
          handRaised = n.data.raised;
          if (!n.data.raised) notify('The teacher lowered your hand.', 'info');
        }
        break;
      case 'speakPermission': {
        const p = n.data.peer;
        if (p.id === self) {
          canSpeak = p.canSpeak;
          handRaised = p.handRaised;
          if (canSpeak) {
            setSpeakStatus('allowed', 'The teacher gave you the word: press Speak to turn your microphone on.');
            notify('You may speak now.', 'success');
          } else {
            setSpeakStatus('idle', 'The teacher took the word back: your microphone is off.');
          }
        } else if (p.canSpeak) {
          peers.set(p.id, p);
        } else {
          peers.delete(p.id);
        }
        break;
      }
      default:
        break;
    }
    renderPeople();
    renderStage();
    renderHandAndVoice();
  });

  room.on('status', (status) => {
    renderStage();
    renderHandAndVoice();
    if (status.kind === 'ended') micTrack?.stop();
  });

  renderStage();
  renderHandAndVoice();
}
