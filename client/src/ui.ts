// DOM helpers shared by the pages: elements, the connection badge, notices,
// the page-wide error state and the chat panel.

import type { ChatFrom, PeerId } from './protocol';
import type { RoomStatus } from './room';

type Child = Node | string | null | undefined | false;
type Props = {
  class?: string;
  text?: string;
  attrs?: Record<string, string | number | boolean | null | undefined>;
  on?: Partial<{ [K in keyof HTMLElementEventMap]: (event: HTMLElementEventMap[K]) => void }>;
};

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.text !== undefined) node.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const [name, handler] of Object.entries(props.on ?? {})) {
    node.addEventListener(name, handler as EventListener);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node as T;
}

export function show(node: HTMLElement, visible: boolean): void {
  node.hidden = !visible;
}

/** A toggle button's label and aria-pressed. */
export function setPressed(button: HTMLButtonElement, pressed: boolean, label: string): void {
  button.setAttribute('aria-pressed', String(pressed));
  button.textContent = label;
}

export function clockTime(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// --- the connection badge ------------------------------------------------------

let countdown: ReturnType<typeof setInterval> | null = null;

/** Shows the room's connection state in the badge (`data-state` for styling and tests). */
export function renderStatus(badge: HTMLElement, status: RoomStatus, onRetry?: () => void): void {
  if (countdown) clearInterval(countdown);
  countdown = null;
  badge.dataset.state = status.kind;
  badge.replaceChildren();
  switch (status.kind) {
    case 'connecting':
      badge.textContent = 'Connecting…';
      break;
    case 'live':
      badge.textContent = 'Connected';
      break;
    case 'ended':
      badge.textContent = status.reason === 'left' ? 'Left' : 'Disconnected';
      break;
    case 'reconnecting': {
      const text = el('span');
      const tick = () => {
        const secs = status.at === null ? 0 : Math.max(0, Math.ceil((status.at - Date.now()) / 1000));
        text.textContent = secs > 0 ? `Reconnecting in ${secs} s (${status.reason})` : `Reconnecting… (${status.reason})`;
      };
      tick();
      countdown = setInterval(tick, 1000);
      badge.append(text);
      if (onRetry) {
        badge.append(' ', el('button', { class: 'link', text: 'Retry now', attrs: { type: 'button' }, on: { click: onRetry } }));
      }
      break;
    }
  }
}

// --- notices and the page-wide error ------------------------------------------

/** A short message in the #notices region; errors are announced assertively. */
export function notify(message: string, kind: 'info' | 'error' | 'success' = 'info'): void {
  const region = document.getElementById('notices');
  if (!region) return;
  const item = el(
    'div',
    { class: `notice notice-${kind}`, attrs: { role: kind === 'error' ? 'alert' : 'status' } },
    el('span', { text: message }),
    el('button', {
      class: 'link',
      text: 'Dismiss',
      attrs: { type: 'button', 'aria-label': 'Dismiss this message' },
      on: { click: () => item.remove() },
    }),
  );
  region.append(item);
  while (region.children.length > 4) region.firstElementChild?.remove();
  setTimeout(() => item.remove(), kind === 'error' ? 15_000 : 6000);
}

/**
 * Replaces the page's main content with a clear error state (bad link,
 * expired token, removed from the class) and an optional action.
 */
export function showFatal(title: string, message: string, action?: { label: string; run: () => void }): void {
  const box = byId('fatal');
  box.replaceChildren(el('h2', { text: title }), el('p', { text: message }));
  if (action) {
    box.append(el('button', { class: 'primary', text: action.label, attrs: { type: 'button' }, on: { click: action.run } }));
  }
  box.append(el('p', {}, el('a', { text: 'Back to the start page', attrs: { href: '/' } })));
  box.hidden = false;
  const main = document.getElementById('main');
  if (main) main.hidden = true;
  box.querySelector<HTMLElement>('button, a')?.focus();
}

// --- chat ---------------------------------------------------------------------

export interface ChatEntry {
  from: ChatFrom;
  text: string;
  at: number;
}

/** The chat panel: #chat-log, #chat-empty, #chat-form with #chat-input. */
export class ChatPanel {
  private readonly log = byId<HTMLOListElement>('chat-log');
  private readonly empty = byId('chat-empty');
  private readonly form = byId<HTMLFormElement>('chat-form');
  private readonly input = byId<HTMLInputElement>('chat-input');

  constructor(
    private readonly send: (text: string) => Promise<void>,
    private readonly self: () => PeerId | null,
  ) {
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.submit();
    });
  }

  setEnabled(enabled: boolean): void {
    this.input.disabled = !enabled;
    const button = this.form.querySelector('button');
    if (button) button.disabled = !enabled;
  }

  add(entry: ChatEntry): void {
    const mine = entry.from.peerId === this.self();
    const item = el(
      'li',
      { class: `chat-item${mine ? ' mine' : ''}`, attrs: { 'data-role': entry.from.role } },
      el('span', { class: 'chat-meta' }, el('strong', { text: mine ? 'You' : entry.from.name }),
        entry.from.role === 'student' ? null : el('span', { class: 'tag', text: entry.from.role }),
        el('time', { text: clockTime(entry.at), attrs: { datetime: new Date(entry.at).toISOString() } })),
      el('span', { class: 'chat-text', text: entry.text }),
    );
    this.log.append(item);
    while (this.log.children.length > 200) this.log.firstElementChild?.remove();
    this.empty.hidden = true;
    item.scrollIntoView({ block: 'nearest' });
  }

  private async submit(): Promise<void> {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.disabled = true;
    try {
      await this.send(text);
      this.input.value = '';
    } catch (error) {
      notify(`Message not sent: ${(error as Error).message}`, 'error');
    } finally {
      this.input.disabled = false;
      this.input.focus();
    }
  }
}
