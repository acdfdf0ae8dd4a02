// The start form's destinations (#restream-destinations): one to ten
// fieldsets, numbered, each removable while there are several, plus the
// "Add another destination" button.

import type { DestinationSpec } from '../admin-api';
import { el } from '../ui';
import { DestinationFields } from './destination-fields';

export const MAX_DESTINATIONS = 10;

export class DestinationList {
  private readonly list: HTMLOListElement;
  private readonly addButton: HTMLButtonElement;
  /** In the order shown, at least one. */
  private readonly fields: DestinationFields[] = [];

  constructor(list: HTMLOListElement, addButton: HTMLButtonElement) {
    this.list = list;
    this.addButton = addButton;
    addButton.addEventListener('click', () => this.add(true));
    this.add(false);
  }

  /** Every destination, or the first problem (its field marked). */
  read(): { specs: DestinationSpec[] } | { problem: string; field: HTMLElement } {
    const specs: DestinationSpec[] = [];
    for (const fields of this.fields) {
      const read = fields.read();
      if ('problem' in read) return read;
      specs.push(read.spec);
    }
    return { specs };
  }

  /** Back to one empty destination (after a start: the keys are with the server). */
  reset(): void {
    for (const fields of this.fields.splice(1)) fields.root.parentElement?.remove();
    this.fields[0]!.clear();
    this.renumber();
  }

  private add(focus: boolean): void {
    if (this.fields.length >= MAX_DESTINATIONS) return;
    const fields: DestinationFields = new DestinationFields(() => this.remove(fields));
    this.fields.push(fields);
    this.list.append(el('li', {}, fields.root));
    this.renumber();
    if (focus) fields.focus();
  }

  private remove(fields: DestinationFields): void {
    const at = this.fields.indexOf(fields);
    if (at < 0 || this.fields.length <= 1) return;
    this.fields.splice(at, 1);
    fields.root.parentElement?.remove();
    this.renumber();
    this.fields[Math.min(at, this.fields.length - 1)]?.focus();
  }

  private renumber(): void {
    this.fields.forEach((d, i) => {
      d.setTitle(`Destination ${i + 1}`);
      d.setRemovable(this.fields.length > 1);
    });
    this.addButton.disabled = this.fields.length >= MAX_DESTINATIONS;
  }
}
