// "Record" in each row of the admin page's room list: starts a recording of
// that room (the server picks the teacher's camera, else screen, and
// microphone). While the room is recorded it reads "Recording" and is off;
// Stop is in the recordings table. The room list re-renders on its own
// schedule, so this keeps the buttons it made and updates those still shown.

import type { RecordingSummary } from '../admin-api';
import { el } from '../ui';

export class RoomRecordButtons {
  private readonly start: (room: string) => Promise<void>;
  private readonly buttons = new Set<HTMLButtonElement>();
  /** Rooms with a recording running, as the server last listed them. */
  private recorded = new Set<string>();
  /** Rooms whose start request is under way. */
  private readonly starting = new Set<string>();

  constructor(start: (room: string) => Promise<void>) {
    this.start = start;
  }

  /** A new button for `room`'s row. */
  create(room: string): HTMLButtonElement {
    const button = el('button', { attrs: { type: 'button', 'data-testid': 'room-record', 'data-room': room } });
    button.addEventListener('click', () => void this.click(room));
    this.buttons.add(button);
    this.render(button);
    return button;
  }

  /** The recordings the server just listed. */
  update(recordings: RecordingSummary[]): void {
    this.recorded = new Set(recordings.filter((r) => r.state === 'recording').map((r) => r.room));
    this.renderAll();
  }

  private async click(room: string): Promise<void> {
    if (this.starting.has(room) || this.recorded.has(room)) return;
    this.starting.add(room);
    this.renderAll();
    try {
      await this.start(room);
    } finally {
      this.starting.delete(room);
      this.renderAll();
    }
  }

  private renderAll(): void {
    for (const button of this.buttons) {
      // Buttons of rows the room list replaced are gone from the page.
      if (button.isConnected) this.render(button);
      else this.buttons.delete(button);
    }
  }

  private render(button: HTMLButtonElement): void {
    const room = button.dataset.room ?? '';
    const recorded = this.recorded.has(room);
    const text = recorded ? 'Recording' : this.starting.has(room) ? 'Starting…' : 'Record';
    if (button.textContent !== text) button.textContent = text;
    button.disabled = recorded || this.starting.has(room);
    button.setAttribute('aria-label', recorded ? `Room ${room} is being recorded` : `Record room ${room}`);
  }
}
