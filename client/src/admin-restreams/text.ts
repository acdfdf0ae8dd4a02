// What the restream panel says: states and errors as text (figures: ../format.ts). Pure
// functions of their arguments (the clock aside, for the countdown).

import { apiErrorText, isFinal, type DestinationStatus, type RestreamStatus, type RoomSummary } from '../admin-api';
import type { ProducerInfo } from '../protocol';

/** The server's "destination 0: …" (0-based) as people count. */
export function friendlyError(message: string): string {
  return message.replace(/^destination (\d+): /, (_, n: string) => `Destination ${Number(n) + 1}: `);
}

/** A failed admin request, in a sentence's words. */
export function errorText(error: unknown): string {
  return friendlyError(apiErrorText(error));
}

export function destinationStateText(d: DestinationStatus, restream: RestreamStatus): string {
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

export function restreamStateText(r: RestreamStatus): string {
  switch (r.state) {
    case 'starting':
      return 'Starting…';
    case 'live':
      return 'Live';
    case 'reconnecting':
      return 'Reconnecting: no destination is live right now';
    case 'waitingForInput':
      return `Waiting for the teacher's video to come back (gives up after ${Math.round(r.graceMs / 1000)} s)`;
    case 'failed':
      return `Failed: ${r.error}`;
    case 'stopped':
      return STOP_REASONS[r.reason] ?? 'Stopped';
  }
}

/**
 * Seconds left of the grace period, counted from `waitingSince`, when this
 * page saw the wait begin (the server does not announce it: it ticks).
 */
export function countdownText(r: RestreamStatus, waitingSince: number | undefined, now = Date.now()): string {
  if (r.state !== 'waitingForInput') return '';
  const start = waitingSince ?? now;
  return `about ${Math.max(0, Math.ceil((start + r.graceMs - now) / 1000))} s left`;
}

export function inputText(r: RestreamStatus): string {
  const input = r.input;
  if (!input) return isFinal(r) ? 'No input.' : 'No input while waiting.';
  const codec = input.video.codec === 'vp8' ? 'VP8' : 'H.264';
  const video =
    input.videoPath === 'passthrough' ? `${codec} video passed through` : `${codec} video re-encoded to H.264`;
  const flowing = input.videoFlowing ? 'video arriving' : 'no video arriving (paused or stopped?)';
  const sound = input.hasAudio ? (input.audioFlowing ? 'sound arriving' : 'sound silent') : 'no sound (silence sent)';
  return `${video} · ${flowing} · ${sound}`;
}

/** A room in the room picker: its name, its teacher, how many restreams run. */
export function roomOptionText(name: string, summary: RoomSummary | undefined, running: number): string {
  const teacher = summary?.peers.filter((p) => p.role === 'teacher').map((p) => p.name).join(', ');
  const parts = [
    summary ? (teacher ? `teacher ${teacher}` : 'no teacher') : 'nobody in it',
    running ? `${running} restream${running > 1 ? 's' : ''} running` : '',
  ].filter(Boolean);
  return `${name} (${parts.join(', ')})`;
}

/** A producer in the video or sound picker: whose, what, paused. */
export function producerText(p: ProducerInfo, owner: string | undefined): string {
  return `${owner ?? 'someone'}: ${p.source === 'mic' ? 'microphone' : p.source}${p.paused ? ' (paused)' : ''}`;
}
