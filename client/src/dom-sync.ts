// Small DOM writes for parts of the page that re-render every poll: they
// touch a node only when what it shows changes (no flicker, focus and
// selection stay, screen readers hear only changes).

import { el } from './ui';

export function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

export function setData(node: HTMLElement, name: string, value: string): void {
  if (node.dataset[name] !== value) node.dataset[name] = value;
}

export interface Option {
  value: string;
  label: string;
}

/** A select whose options are replaced only when they changed, keeping the choice while it is still offered. */
export class SelectOptions {
  readonly select: HTMLSelectElement;
  /** The options last put in, as JSON. */
  private signature: string | null = null;

  constructor(select: HTMLSelectElement) {
    this.select = select;
  }

  set(options: Option[], fallback = ''): void {
    const signature = JSON.stringify(options);
    if (this.signature === signature) return;
    this.signature = signature;
    const current = this.select.value;
    this.select.replaceChildren(...options.map((o) => el('option', { text: o.label, attrs: { value: o.value } })));
    this.select.value = options.some((o) => o.value === current) ? current : fallback;
  }
}
