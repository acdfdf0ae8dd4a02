// The browser's own player for a recording (#recording-player-box): a
// <video controls> on the file's signed link, with a title and "Close".
// The link expires: a failure to load says to press Play again.

import type { RecordingId, RecordingSummary } from '../admin-api';
import { byId, show } from '../ui';
import { recordingName } from './text';

export class RecordingPlayer {
  private readonly box = byId('recording-player-box');
  private readonly video = byId<HTMLVideoElement>('recording-player');
  private readonly title = byId('recording-player-title');
  private readonly error = byId('recording-player-error');
  /** The recording it shows, if any. */
  private current: RecordingId | null = null;

  constructor() {
    byId('recording-player-close').addEventListener('click', () => this.close());
    this.video.addEventListener('error', () => {
      if (this.current === null) return;
      this.error.textContent =
        'The recording could not be played here (its link may have expired): press Play again, or download it.';
      show(this.error, true);
    });
  }

  /** Plays `url` (a path on this server) in the page. */
  play(r: RecordingSummary, url: string): void {
    this.current = r.id;
    this.box.dataset.recordingId = r.id;
    const name = recordingName(r);
    this.title.textContent = name.charAt(0).toUpperCase() + name.slice(1);
    this.video.setAttribute('aria-label', name);
    show(this.error, false);
    show(this.box, true);
    this.video.src = url;
    // Started by the Play click; if the browser still says no, the controls are there.
    this.video.play().catch(() => {});
    this.box.scrollIntoView({ block: 'nearest' });
    this.video.focus();
  }

  /** Closes the player if it shows `id` (deleted). */
  forget(id: RecordingId): void {
    if (this.current === id) this.close();
  }

  close(): void {
    this.current = null;
    delete this.box.dataset.recordingId;
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.load(); // drops the file and the connection
    show(this.error, false);
    show(this.box, false);
  }
}
