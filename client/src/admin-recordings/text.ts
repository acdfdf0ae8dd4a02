// What the recordings section says: states, why a recording ended, when it
// started, and names for its buttons. Pure functions of their arguments.

import type { RecordingEnd, RecordingState, RecordingSummary } from '../admin-api';

const STATES: Record<RecordingState, string> = {
  recording: 'Recording',
  finished: 'Finished',
  failed: 'Failed',
  interrupted: 'Interrupted',
};

const END_REASONS: Record<RecordingEnd, string> = {
  stopped: 'Stopped',
  inputEnded: "The teacher's video ended",
  maxDuration: 'Reached the longest recording allowed',
  shutdown: 'The server shut down',
};

export function stateText(r: RecordingSummary): string {
  return STATES[r.state];
}

/** Why it ended (finished), what went wrong (failed), or what is left (interrupted). */
export function endText(r: RecordingSummary): string {
  switch (r.state) {
    case 'recording':
      return '—';
    case 'finished':
      return r.endReason ? END_REASONS[r.endReason] : 'Finished';
    case 'failed':
      return `${r.error ?? 'Failed'} (the file plays up to there)`;
    case 'interrupted':
      return 'The server stopped without finishing it: the file plays up to its last seconds';
  }
}

/** Local date and time. */
export function startedText(r: RecordingSummary): string {
  return new Date(r.startedAt).toLocaleString([], { dateStyle: 'short', timeStyle: 'medium' });
}

/** "the recording of math-101 started 30/11/2026, 10:02:03", for buttons' labels and confirmations. */
export function recordingName(r: RecordingSummary): string {
  return `the recording of ${r.room} started ${startedText(r)}`;
}

/** A file name for downloads: room, start time, id. */
export function fileName(r: RecordingSummary): string {
  const at = new Date(r.startedAt).toISOString().slice(0, 19).replace(/[T:]/g, '-');
  return `${r.room}-${at}-${r.id.slice(0, 8)}.mp4`;
}

/** A file is there to play or download: written to no longer, and not empty. */
export function hasFile(r: RecordingSummary): boolean {
  return r.state !== 'recording' && r.bytes > 0;
}
