// Putting tracks on screen and on the speakers, within the browsers' autoplay
// rules: video plays muted (always allowed); audio tries to play with sound
// and, when the browser blocks it, plays muted until the user taps "unmute".

import type { RemoteMedia } from './room';

/** Shows `track` in `video` (null: nothing, and no frozen last frame). */
export function attachVideo(video: HTMLVideoElement, track: MediaStreamTrack | null): void {
  const current = video.srcObject instanceof MediaStream ? video.srcObject.getVideoTracks()[0] : undefined;
  if (track === null) {
    video.removeAttribute('data-has-media');
    video.srcObject = null;
    return;
  }
  if (current !== track) {
    video.srcObject = new MediaStream([track]);
  }
  video.dataset.hasMedia = 'true';
  video.muted = true;
  video.play().catch(() => {
    // Muted video may always play; a failure here means the element was reset meanwhile.
  });
}

let blocked = false;
const blockedListeners = new Set<(blocked: boolean) => void>();

/** Whether the browser keeps audio muted until the user interacts. */
export function audioBlocked(): boolean {
  return blocked;
}

export function onAudioBlocked(listener: (blocked: boolean) => void): void {
  blockedListeners.add(listener);
}

function setBlocked(value: boolean): void {
  if (blocked === value) return;
  blocked = value;
  for (const l of blockedListeners) l(value);
}

function audioElements(): HTMLAudioElement[] {
  return [...document.querySelectorAll<HTMLAudioElement>('audio[data-consumer-id]')];
}

/** Plays a remote audio track; `onBlocked` runs when the browser refuses sound. */
export function attachAudio(container: HTMLElement, media: RemoteMedia, onBlocked?: () => void): HTMLAudioElement {
  const audio = document.createElement('audio');
  audio.dataset.consumerId = media.consumerId;
  audio.dataset.source = media.source;
  audio.dataset.peerId = media.peerId;
  audio.autoplay = true;
  audio.srcObject = new MediaStream([media.track]);
  container.append(audio);
  audio.muted = blocked;
  audio.play().catch((error: DOMException) => {
    if (error.name !== 'NotAllowedError') return;
    audio.muted = true;
    void audio.play().catch(() => {});
    if (!blocked) onBlocked?.();
    setBlocked(true);
  });
  return audio;
}

export function detachAudio(container: HTMLElement, media: RemoteMedia): void {
  const audio = container.querySelector<HTMLAudioElement>(`audio[data-consumer-id="${media.consumerId}"]`);
  if (!audio) return;
  audio.srcObject = null;
  audio.remove();
}

/** Turns the sound on; call it from a click (a user gesture). */
export async function unlockAudio(): Promise<boolean> {
  let ok = true;
  for (const audio of audioElements()) {
    audio.muted = false;
    try {
      await audio.play();
    } catch {
      audio.muted = true;
      ok = false;
    }
  }
  setBlocked(!ok);
  return ok;
}

// Any click or key press is a user gesture: try the sound again then.
for (const type of ['pointerdown', 'keydown'] as const) {
  window.addEventListener(type, () => {
    if (blocked) void unlockAudio();
  }, { capture: true });
}
