// One destination's fields (a fieldset): the service, then what that service
// needs (server URL, ingest server, stream key). `read()` gives the
// destination to send, or marks what is wrong and says so.
//
// The stream key sits in a password field until it is sent; `clear()` empties
// it after. Nothing here logs or keeps it.

import type { DestinationSpec, Service } from '../admin-api';
import { el } from '../ui';

const SERVICES: { value: Service; label: string; hint: string }[] = [
  {
    value: 'youtube',
    label: 'YouTube Live',
    hint: 'Sends to rtmps://a.rtmps.youtube.com/live2. The key is in YouTube Studio, Go live, Stream.',
  },
  {
    value: 'twitch',
    label: 'Twitch',
    hint: 'Sends over RTMPS to Twitch. The key is in the Creator Dashboard, Settings, Stream.',
  },
  {
    value: 'ivs',
    label: 'Amazon IVS',
    hint: "The channel's ingest server and stream key are in its Stream configuration.",
  },
  {
    value: 'custom',
    label: 'Other RTMP or RTMPS server',
    hint: 'The server URL is rtmp://host[:port]/app or rtmps://…; the key is added as the last part of the path. Leave the key empty if the URL already ends with it.',
  },
];

export type DestinationRead = { spec: DestinationSpec } | { problem: string; field: HTMLElement };

interface TextField {
  input: HTMLInputElement;
  /** The label and the input. */
  row: HTMLElement[];
}

export class DestinationFields {
  /** Fieldsets made on this page: each one's element ids are unique. */
  private static made = 0;

  readonly root: HTMLFieldSetElement;
  private readonly legend: HTMLLegendElement;
  private readonly service: HTMLSelectElement;
  private readonly hint: HTMLElement;
  private readonly problem: HTMLElement;
  private readonly url: TextField;
  private readonly endpoint: TextField;
  private readonly ingest: TextField;
  private readonly key: HTMLInputElement;
  private readonly keyLabel: HTMLLabelElement;
  private readonly reveal: HTMLButtonElement;
  private readonly remove: HTMLButtonElement;
  private readonly removable: boolean;

  /** With `onRemove`, the fieldset has a "Remove" button that calls it. */
  constructor(onRemove?: () => void) {
    const id = `dest-${++DestinationFields.made}`;
    this.removable = onRemove !== undefined;
    this.legend = el('legend', { text: 'Destination' });
    this.service = el(
      'select',
      { attrs: { id: `${id}-service`, 'aria-describedby': `${id}-hint` } },
      ...SERVICES.map((s) => el('option', { text: s.label, attrs: { value: s.value } })),
    );
    this.hint = el('p', { class: 'hint', attrs: { id: `${id}-hint` } });
    this.problem = el('p', { class: 'error field-error', attrs: { id: `${id}-problem` } });
    this.problem.hidden = true;

    this.url = textField(id, 'url', 'Server URL', 'rtmp://live.example.org/app');
    this.endpoint = textField(id, 'endpoint', 'Ingest server', 'a1b2c3d4e5f6.global-contribute.live-video.net');
    this.ingest = textField(id, 'ingest', 'Ingest server (optional)', 'ingest.global-contribute.live-video.net');

    this.key = el('input', {
      attrs: {
        id: `${id}-key`,
        type: 'password',
        autocomplete: 'off',
        spellcheck: 'false',
        autocapitalize: 'off',
        'data-stream-key': true,
        'aria-describedby': `${id}-problem`,
      },
    });
    this.keyLabel = el('label', { text: 'Stream key', attrs: { for: this.key.id } });
    this.reveal = el('button', {
      class: 'link reveal',
      text: 'Show',
      attrs: { type: 'button', 'aria-pressed': 'false', 'aria-controls': this.key.id, 'aria-label': 'Show the stream key' },
    });
    this.reveal.addEventListener('click', () => this.setKeyShown(this.key.type !== 'text'));
    this.remove = el('button', {
      class: 'link remove-destination',
      text: 'Remove',
      attrs: { type: 'button' },
      on: { click: () => onRemove?.() },
    });
    this.remove.hidden = !this.removable;

    this.root = el(
      'fieldset',
      { class: 'destination grid-form' },
      this.legend,
      el('label', { text: 'Service', attrs: { for: this.service.id } }),
      this.service,
      this.hint,
      ...this.url.row,
      ...this.endpoint.row,
      ...this.ingest.row,
      this.keyLabel,
      el('div', { class: 'key-row' }, this.key, this.reveal),
      this.problem,
      this.remove,
    );

    this.service.addEventListener('change', () => this.sync());
    for (const input of this.inputs()) input.addEventListener('input', () => input.removeAttribute('aria-invalid'));
    this.sync();
  }

  /** The destination, or marks the invalid field and returns the first problem. */
  read(): DestinationRead {
    this.clearProblem();
    const streamKey = this.key.value.trim();
    if (streamKey && (/\s/.test(streamKey) || streamKey.includes('/') || streamKey.length > 512)) {
      return this.fail(this.key, 'A stream key has no spaces or “/” and at most 512 characters.');
    }
    switch (this.chosen()) {
      case 'custom': {
        const value = this.url.input.value.trim();
        if (!value) return this.fail(this.url.input, 'Enter the server URL (rtmp://… or rtmps://…).');
        if (!/^rtmps?:\/\/[^/]+\/.+/i.test(value)) {
          return this.fail(
            this.url.input,
            'The server URL starts with rtmp:// or rtmps:// and has an application path, like rtmp://host/live.',
          );
        }
        return { spec: streamKey ? { service: 'custom', url: value, streamKey } : { service: 'custom', url: value } };
      }
      case 'ivs': {
        const value = this.endpoint.input.value.trim();
        if (!value) return this.fail(this.endpoint.input, "Enter the channel's ingest server.");
        if (!streamKey) return this.fail(this.key, 'Enter the stream key.');
        return { spec: { service: 'ivs', ingestEndpoint: value, streamKey } };
      }
      case 'twitch': {
        if (!streamKey) return this.fail(this.key, 'Enter the stream key.');
        const value = this.ingest.input.value.trim();
        return { spec: value ? { service: 'twitch', ingest: value, streamKey } : { service: 'twitch', streamKey } };
      }
      case 'youtube':
        if (!streamKey) return this.fail(this.key, 'Enter the stream key.');
        return { spec: { service: 'youtube', streamKey } };
    }
  }

  /** Empties the fields (the stream key with them) and hides the key again. */
  clear(): void {
    for (const input of this.inputs()) input.value = '';
    this.setKeyShown(false);
    this.clearProblem();
  }

  focus(): void {
    this.service.focus();
  }

  /** "Destination 2": the legend, and the name of its "Remove" button. */
  setTitle(title: string): void {
    this.legend.textContent = title;
    this.remove.setAttribute('aria-label', `Remove ${title.toLowerCase()}`);
  }

  setRemovable(removable: boolean): void {
    this.remove.hidden = !this.removable || !removable;
  }

  private chosen(): Service {
    return this.service.value as Service;
  }

  private inputs(): HTMLInputElement[] {
    return [this.url.input, this.endpoint.input, this.ingest.input, this.key];
  }

  /** Shows the fields the chosen service needs, and its hint. */
  private sync(): void {
    const chosen = this.chosen();
    this.hint.textContent = SERVICES.find((s) => s.value === chosen)?.hint ?? '';
    for (const node of this.url.row) node.hidden = chosen !== 'custom';
    for (const node of this.endpoint.row) node.hidden = chosen !== 'ivs';
    for (const node of this.ingest.row) node.hidden = chosen !== 'twitch';
    this.url.input.required = chosen === 'custom';
    this.endpoint.input.required = chosen === 'ivs';
    this.key.required = chosen !== 'custom';
    this.keyLabel.textContent = chosen === 'custom' ? 'Stream key (if the URL does not end with it)' : 'Stream key';
    this.clearProblem();
  }

  private setKeyShown(shown: boolean): void {
    this.key.type = shown ? 'text' : 'password';
    this.reveal.setAttribute('aria-pressed', String(shown));
    this.reveal.textContent = shown ? 'Hide' : 'Show';
  }

  private clearProblem(): void {
    this.problem.hidden = true;
    this.problem.textContent = '';
    for (const input of this.inputs()) input.removeAttribute('aria-invalid');
  }

  private fail(field: HTMLInputElement, message: string): DestinationRead {
    field.setAttribute('aria-invalid', 'true');
    this.problem.textContent = message;
    this.problem.hidden = false;
    return { problem: message, field };
  }
}

function textField(id: string, suffix: string, label: string, placeholder: string, inputmode = 'url'): TextField {
  const input = el('input', {
    attrs: {
      id: `${id}-${suffix}`,
      type: 'text',
      inputmode,
      autocomplete: 'off',
      spellcheck: 'false',
      autocapitalize: 'off',
      placeholder,
      'aria-describedby': `${id}-problem`,
    },
  });
  const labelNode = el('label', { text: label, attrs: { for: input.id } });
  return { input, row: [labelNode, input] };
}
