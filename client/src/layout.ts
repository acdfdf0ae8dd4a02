// Layouts as the admin page names them (how a composed restream or recording
// places the teacher's camera and screen in one picture), and the select that
// changes a running one's. The restream and recording panels both use these:
// the names live here only.

import type { Layout } from './protocol';
import { el } from './ui';

/** In the order the selects offer them. */
export const LAYOUTS: { value: Layout; label: string }[] = [
  { value: 'auto', label: 'Auto: screen with camera when both' },
  { value: 'screenWithCamera', label: 'Screen with camera in a corner' },
  { value: 'sideBySide', label: 'Side by side' },
  { value: 'camera', label: 'Camera' },
  { value: 'screen', label: 'Screen' },
];

export function layoutText(layout: Layout): string {
  return LAYOUTS.find((l) => l.value === layout)?.label ?? layout;
}

export function isLayout(value: string): value is Layout {
  return LAYOUTS.some((l) => l.value === value);
}

/** The layouts as <option>s. */
export function layoutOptions(): HTMLOptionElement[] {
  return LAYOUTS.map((l) => el('option', { text: l.label, attrs: { value: l.value } }));
}

/**
 * A select that changes a running egress's layout. Its options never change,
 * and the server's layout is put in only while the admin is not using it
 * (focused) and no change is under way: a poll must not undo a choice being
 * made or sent.
 */
export class LayoutSelect {
  readonly select: HTMLSelectElement;
  /** As the server last said. */
  private current: Layout;
  private sending = false;

  /** `apply` sends the choice; false when it was refused (the select goes back). */
  constructor(current: Layout, attrs: Record<string, string>, apply: (layout: Layout) => Promise<boolean>) {
    this.current = current;
    this.select = el('select', { attrs }, ...layoutOptions());
    this.select.value = current;
    this.select.addEventListener('change', () => {
      const chosen = this.select.value;
      if (!isLayout(chosen) || chosen === this.current) return;
      this.sending = true;
      void apply(chosen)
        .then((ok) => {
          if (ok) this.current = chosen;
        })
        .finally(() => {
          this.sending = false;
          this.show();
        });
    });
    // A change from elsewhere (another admin) waited for the blur.
    this.select.addEventListener('blur', () => this.show());
  }

  /** The server's layout, from a poll or a reply. */
  set(layout: Layout): void {
    this.current = layout;
    if (document.activeElement !== this.select) this.show();
  }

  /** Puts the server's layout in (a refused choice goes back). */
  private show(): void {
    if (!this.sending && this.select.value !== this.current) this.select.value = this.current;
  }
}
