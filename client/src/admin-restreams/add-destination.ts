// "Add a destination" inside a running restream's card: a disclosure with one
// destination's fields, sent to the server on submit.

import type { EgressId } from '../protocol';
import { el, notify, show } from '../ui';
import type { PanelContext } from './context';
import { DestinationFields } from './destination-fields';
import { errorText } from './text';

export class AddDestinationForm {
  /** The <details> to put in the card. */
  readonly root: HTMLDetailsElement;
  private readonly restream: EgressId;
  private readonly context: PanelContext;
  private readonly fields = new DestinationFields();
  private readonly summary = el('summary', { text: 'Add a destination' });
  private readonly error = el('p', { class: 'error', attrs: { role: 'alert' } });
  private readonly submit = el('button', { class: 'primary', text: 'Add destination', attrs: { type: 'submit' } });

  constructor(restream: EgressId, context: PanelContext) {
    this.restream = restream;
    this.context = context;
    this.fields.setTitle('New destination');
    this.error.hidden = true;
    const form = el(
      'form',
      { class: 'add-destination-form', attrs: { novalidate: true } },
      this.fields.root,
      this.error,
      this.submit,
    );
    this.root = el('details', { class: 'add-destination' }, this.summary, form);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.send();
    });
  }

  private async send(): Promise<void> {
    show(this.error, false);
    const read = this.fields.read();
    if ('problem' in read) {
      read.field.focus();
      return;
    }
    this.submit.disabled = true;
    try {
      await this.context.api().addDestination(this.restream, read.spec);
      this.fields.clear();
      this.root.open = false;
      notify('Destination added: it is connecting.', 'success');
      this.summary.focus();
    } catch (error) {
      this.error.textContent = `The destination was not added: ${errorText(error)}.`;
      show(this.error, true);
    } finally {
      this.submit.disabled = false;
    }
    await this.context.refresh();
  }
}
