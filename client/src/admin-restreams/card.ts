// One restream's card (article.restream): its state, input, picture and
// figures, a table of its destinations, and while it runs "Add a destination"
// and "Stop restream". A composed restream's picture (its layout) is a select
// while it runs, changed live, and text once it has ended.

import { isFinal, type RestreamStatus } from '../admin-api';
import { setData, setText } from '../dom-sync';
import { formatBitrate, formatBytes, formatDuration } from '../format';
import { LayoutSelect, layoutText } from '../layout';
import type { DestinationId, Layout } from '../protocol';
import { el, notify, show } from '../ui';
import { AddDestinationForm } from './add-destination';
import type { PanelContext } from './context';
import { DestinationRow } from './destination-row';
import { countdownText, errorText, inputText, restreamStateText } from './text';

const COLUMNS = ['Destination', 'State', 'Sent', 'Bitrate', 'Live for', 'Reconnects'];

export class RestreamCard {
  readonly root: HTMLElement;
  private readonly context: PanelContext;
  /** As last shown (the stop and remove confirmations name it). */
  private status: RestreamStatus;
  private readonly title: HTMLElement;
  private readonly state = el('p', { class: 'badge restream-state', attrs: { role: 'status', 'aria-live': 'polite' } });
  private readonly countdown = el('span', { class: 'hint restream-countdown' });
  private readonly input = el('p', { class: 'hint restream-input' });
  /** Composed restreams only (a restream is composed or not from its start). */
  private readonly layout: { choice: LayoutSelect; field: HTMLElement; text: HTMLElement } | null;
  private readonly figures = {
    uptime: el('dd'),
    fps: el('dd'),
    bitrate: el('dd'),
    muxed: el('dd'),
  };
  private readonly body = el('tbody');
  private readonly rows = new Map<DestinationId, DestinationRow>();
  private readonly controls: HTMLElement;
  private readonly error = el('p', { class: 'error', attrs: { role: 'alert' } });

  constructor(r: RestreamStatus, context: PanelContext) {
    this.context = context;
    this.status = r;
    const id = `restream-${r.id}`;
    const short = r.id.slice(0, 8);
    this.error.hidden = true;
    const stop = el('button', {
      class: 'danger stop-restream',
      text: 'Stop restream',
      attrs: { type: 'button', 'aria-label': `Stop restream ${short}` },
    });
    stop.addEventListener('click', () => void this.stop(stop));
    this.controls = el('div', { class: 'restream-controls' }, new AddDestinationForm(r.id, context).root, stop);
    this.layout = r.layout === null ? null : this.layoutParts(r.layout, id, short);
    this.title = el('h4', { text: `Restream ${short}`, attrs: { id: `${id}-title`, tabindex: '-1' } });
    const figure = (label: string, value: HTMLElement) => el('div', {}, el('dt', { text: label }), value);
    this.root = el(
      'article',
      { class: 'restream', attrs: { 'data-restream-id': r.id, 'aria-labelledby': `${id}-title` } },
      el('div', { class: 'panel-head' }, this.title, el('div', { class: 'restream-status' }, this.state, this.countdown)),
      this.input,
      this.layout?.field,
      this.layout?.text,
      el(
        'dl',
        { class: 'figures' },
        figure('Running for', this.figures.uptime),
        figure('Frame rate', this.figures.fps),
        figure('Bitrate', this.figures.bitrate),
        figure('Muxed (this input)', this.figures.muxed),
      ),
      el(
        'table',
        { class: 'table destinations' },
        el('caption', { class: 'visually-hidden', text: `Destinations of restream ${short}` }),
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            ...COLUMNS.map((t) => el('th', { text: t, attrs: { scope: 'col' } })),
            el('th', { attrs: { scope: 'col' } }, el('span', { class: 'visually-hidden', text: 'Actions' })),
          ),
        ),
        this.body,
      ),
      this.error,
      this.controls,
    );
  }

  /** Shows `r`; `waitingSince` is when this page saw it start waiting for its input. */
  update(r: RestreamStatus, waitingSince: number | undefined): void {
    this.status = r;
    setData(this.root, 'state', r.state);
    setData(this.state, 'state', r.state);
    setText(this.state, restreamStateText(r));
    setText(this.countdown, countdownText(r, waitingSince));
    this.countdown.hidden = r.state !== 'waitingForInput';
    setText(this.input, inputText(r));
    if (this.layout && r.layout !== null) {
      this.layout.choice.set(r.layout);
      setText(this.layout.text, `Picture: ${layoutText(r.layout)}`);
      this.layout.field.hidden = isFinal(r);
      this.layout.text.hidden = !isFinal(r);
    }
    const live = r.state === 'live' || r.state === 'reconnecting' || r.state === 'starting';
    setText(this.figures.uptime, formatDuration(r.stats.uptimeSecs));
    setText(this.figures.fps, live && r.input ? `${r.stats.fps.toFixed(1)} fps` : '—');
    setText(this.figures.bitrate, live && r.input ? formatBitrate(r.stats.bitrateBps) : '—');
    // bytesMuxed counts the current input session: none while waiting or after the end.
    setText(this.figures.muxed, r.input ? formatBytes(r.stats.bytesMuxed) : '—');
    this.controls.hidden = isFinal(r);
    this.updateRows(r);
  }

  /** Moves the focus to the card's title (after the start). */
  focus(): void {
    this.title.focus();
  }

  private updateRows(r: RestreamStatus): void {
    const keep = new Set(r.destinations.map((d) => d.id));
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) {
        row.row.remove();
        this.rows.delete(id);
      }
    }
    for (const d of r.destinations) {
      let row = this.rows.get(d.id);
      if (!row) {
        row = new DestinationRow(d, (button) => void this.removeDestination(d.id, button));
        this.body.append(row.row);
        this.rows.set(d.id, row);
      }
      row.update(d, r);
    }
  }

  private layoutParts(layout: Layout, id: string, short: string) {
    const choice = new LayoutSelect(
      layout,
      { id: `${id}-layout`, 'data-testid': 'restream-layout', 'aria-label': `Picture of restream ${short}` },
      (chosen) => this.setLayout(chosen),
    );
    const field = el(
      'p',
      { class: 'restream-layout' },
      el('label', { text: 'Picture', attrs: { for: `${id}-layout` } }),
      choice.select,
    );
    const text = el('p', { class: 'hint restream-layout', attrs: { 'data-testid': 'restream-layout-text', hidden: true } });
    return { choice, field, text };
  }

  /** Changes the running restream's picture; false (said in the card) when refused. */
  private async setLayout(layout: Layout): Promise<boolean> {
    show(this.error, false);
    let ok = true;
    try {
      await this.context.api().setRestreamLayout(this.status.id, layout);
      notify(`The restream of ${this.status.label} now shows: ${layoutText(layout)}.`, 'success');
    } catch (error) {
      this.showError(`Could not change the picture: ${errorText(error)}.`);
      ok = false;
    }
    await this.context.refresh();
    return ok;
  }

  private async stop(button: HTMLButtonElement): Promise<void> {
    const { id, label } = this.status;
    if (!confirm(`Stop restream ${id.slice(0, 8)} of ${label}? Every destination's stream ends.`)) return;
    button.disabled = true;
    show(this.error, false);
    try {
      await this.context.api().stopRestream(id);
      notify(`The restream of ${label} was stopped.`, 'success');
    } catch (error) {
      this.showError(`Could not stop the restream: ${errorText(error)}.`);
    } finally {
      button.disabled = false;
    }
    await this.context.refresh();
  }

  private async removeDestination(destination: DestinationId, button: HTMLButtonElement): Promise<void> {
    const url = this.status.destinations.find((d) => d.id === destination)?.url ?? 'this destination';
    if (!confirm(`Stop sending to ${url}?`)) return;
    button.disabled = true;
    show(this.error, false);
    try {
      await this.context.api().removeDestination(this.status.id, destination);
      notify(`Stopped sending to ${url}.`, 'success');
    } catch (error) {
      this.showError(`Could not remove the destination: ${errorText(error)}.`);
      button.disabled = false;
    }
    await this.context.refresh();
  }

  private showError(message: string): void {
    this.error.textContent = message;
    show(this.error, true);
  }
}
