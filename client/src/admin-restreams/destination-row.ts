// One destination of a running restream: a row of its card's table (URL with
// the key as ***, state, figures) with a "Remove" button.

import { isFinal, type DestinationStatus, type RestreamStatus } from '../admin-api';
import { setData, setText } from '../dom-sync';
import { formatBitrate, formatBytes, formatDuration } from '../format';
import { el } from '../ui';
import { destinationStateText } from './text';

export class DestinationRow {
  readonly row: HTMLTableRowElement;
  private readonly url = el('code');
  private readonly state = el('td', { class: 'destination-state' });
  private readonly sent = el('td');
  private readonly bitrate = el('td');
  private readonly uptime = el('td');
  private readonly reconnects = el('td');
  private readonly remove: HTMLButtonElement;

  /** `onRemove` gets the button, to disable it while the removal runs. */
  constructor(d: DestinationStatus, onRemove: (button: HTMLButtonElement) => void) {
    this.remove = el('button', {
      class: 'link remove-destination',
      text: 'Remove',
      attrs: { type: 'button', 'aria-label': `Remove destination ${d.url}` },
    });
    this.remove.addEventListener('click', () => onRemove(this.remove));
    this.row = el(
      'tr',
      { attrs: { 'data-destination-id': d.id } },
      el('th', { attrs: { scope: 'row' } }, this.url),
      this.state,
      this.sent,
      this.bitrate,
      this.uptime,
      this.reconnects,
      el('td', {}, this.remove),
    );
  }

  /** Shows `d`, one of `restream`'s destinations. */
  update(d: DestinationStatus, restream: RestreamStatus): void {
    setData(this.row, 'state', d.state);
    setText(this.url, d.url);
    setText(this.state, destinationStateText(d, restream));
    const sending = d.state === 'live';
    setText(this.sent, formatBytes(d.stats.bytesOut));
    setText(this.bitrate, sending ? formatBitrate(d.stats.bitrateBps) : '—');
    setText(this.uptime, sending ? formatDuration(d.stats.uptimeSecs) : '—');
    setText(this.reconnects, String(d.stats.reconnects));
    this.remove.hidden = isFinal(restream);
    // The server keeps at least one destination: the last one goes with "Stop restream".
    const last = restream.destinations.length <= 1;
    this.remove.disabled = last;
    this.remove.title = last ? 'A restream needs a destination: stop the restream instead' : '';
  }
}
