// One recording: a row of the recordings table (room, state, start, duration,
// size, picture, how it ended) with its buttons: Stop while it records; Play,
// Download and Delete once it is over. The picture (its layout) is a select
// while it records, changed live, and text after. Updated in place from one
// poll to the next.

import type { RecordingSummary } from '../admin-api';
import { setData, setText } from '../dom-sync';
import { formatDuration, formatMegabytes } from '../format';
import { LayoutSelect, layoutText } from '../layout';
import type { Layout } from '../protocol';
import { el } from '../ui';
import { endText, hasFile, recordingName, startedText, stateText } from './text';

export type RowAction = 'stop' | 'play' | 'download' | 'delete';

/** Runs a row's action; gets the button, to disable it while the action runs. */
export type RowActionHandler = (action: RowAction, recording: RecordingSummary, button: HTMLButtonElement) => void;

/** Changes a running recording's layout; false when refused. */
export type LayoutHandler = (recording: RecordingSummary, layout: Layout) => Promise<boolean>;

const BUTTONS: { action: RowAction; text: string; class?: string }[] = [
  { action: 'stop', text: 'Stop', class: 'danger' },
  { action: 'play', text: 'Play' },
  { action: 'download', text: 'Download' },
  { action: 'delete', text: 'Delete', class: 'danger' },
];

export class RecordingRow {
  readonly row: HTMLTableRowElement;
  /** As last shown: the buttons act on it. */
  private recording: RecordingSummary;
  private readonly room = el('th', { attrs: { scope: 'row', 'data-testid': 'recording-room' } });
  private readonly state = el('td', { class: 'recording-state', attrs: { 'data-testid': 'recording-state' } });
  private readonly time = el('time');
  private readonly duration = el('td', { attrs: { 'data-testid': 'recording-duration' } });
  private readonly size = el('td', { attrs: { 'data-testid': 'recording-size' } });
  private readonly layout: LayoutSelect;
  private readonly layoutText = el('span', { attrs: { 'data-testid': 'recording-layout-text' } });
  private readonly end = el('td', { attrs: { 'data-testid': 'recording-end' } });
  private readonly buttons = new Map<RowAction, HTMLButtonElement>();

  constructor(r: RecordingSummary, onAction: RowActionHandler, onLayout: LayoutHandler) {
    this.recording = r;
    this.layout = new LayoutSelect(r.layout, { 'data-testid': 'recording-layout' }, (layout) =>
      onLayout(this.recording, layout),
    );
    for (const b of BUTTONS) {
      const button = el('button', {
        class: b.class ?? '',
        text: b.text,
        attrs: { type: 'button', 'data-testid': `recording-${b.action}` },
      });
      button.addEventListener('click', () => onAction(b.action, this.recording, button));
      this.buttons.set(b.action, button);
    }
    this.row = el(
      'tr',
      { attrs: { 'data-testid': 'recording-row', 'data-recording-id': r.id, 'data-room': r.room } },
      this.room,
      this.state,
      el('td', { attrs: { 'data-testid': 'recording-started' } }, this.time),
      this.duration,
      this.size,
      el('td', {}, this.layout.select, this.layoutText),
      this.end,
      el('td', {}, el('div', { class: 'row-actions' }, ...this.buttons.values())),
    );
    this.update(r);
  }

  update(r: RecordingSummary): void {
    this.recording = r;
    setData(this.row, 'state', r.state);
    setText(this.room, r.room);
    setText(this.state, stateText(r));
    setText(this.time, startedText(r));
    this.time.dateTime = new Date(r.startedAt).toISOString();
    setText(this.duration, formatDuration(r.durationSecs));
    setText(this.size, formatMegabytes(r.bytes));
    setText(this.end, endText(r));
    const name = recordingName(r);
    const recording = r.state === 'recording';
    this.layout.set(r.layout);
    this.layout.select.hidden = !recording;
    const picture = `Picture of ${name}`;
    if (this.layout.select.getAttribute('aria-label') !== picture) this.layout.select.setAttribute('aria-label', picture);
    setText(this.layoutText, layoutText(r.layout));
    this.layoutText.hidden = recording;
    const shown: Record<RowAction, boolean> = {
      stop: recording,
      play: hasFile(r),
      download: hasFile(r),
      delete: !recording,
    };
    for (const b of BUTTONS) {
      const button = this.buttons.get(b.action)!; // one per action, made in the constructor
      button.hidden = !shown[b.action];
      const label = `${b.text} ${name}`;
      if (button.getAttribute('aria-label') !== label) button.setAttribute('aria-label', label);
    }
  }
}
