// "Restreams of <room>" (#restreams-list): a card per restream of the chosen
// room, running ones first, then the last few ended ones. Cards stay in place
// from one poll to the next (the focus in them stays).

import { isFinal, type RestreamStatus } from '../admin-api';
import { setText } from '../dom-sync';
import type { EgressId } from '../protocol';
import { byId, show } from '../ui';
import { RestreamCard } from './card';
import type { PanelContext } from './context';

/** Ended restreams kept on screen, per room. */
export const ENDED_SHOWN = 5;

export class RestreamList {
  private readonly context: PanelContext;
  private readonly roomName = byId('restreams-room');
  private readonly empty = byId('restreams-empty');
  private readonly list = byId('restreams-list');
  /** The cards on screen. */
  private readonly cards = new Map<EgressId, RestreamCard>();
  /** When this page first saw each shown restream waiting for its input (for the countdown). */
  private readonly waitingSince = new Map<EgressId, number>();

  constructor(context: PanelContext) {
    this.context = context;
  }

  /** Shows `room`'s restreams out of `restreams` (all rooms', running first). */
  render(room: string | null, restreams: RestreamStatus[]): void {
    setText(this.roomName, room ?? '—');
    const mine = restreams.filter((r) => r.label === room);
    const running = mine.filter((r) => !isFinal(r));
    const ended = mine.filter((r) => isFinal(r)).slice(0, ENDED_SHOWN);
    const shown = [...running, ...ended];
    for (const r of shown) {
      if (r.state === 'waitingForInput') {
        if (!this.waitingSince.has(r.id)) this.waitingSince.set(r.id, Date.now());
      } else {
        this.waitingSince.delete(r.id);
      }
    }
    const keep = new Set(shown.map((r) => r.id));
    for (const [id, card] of this.cards) {
      if (!keep.has(id)) {
        card.root.remove();
        this.cards.delete(id);
      }
    }
    let previous: Element | null = null;
    for (const r of shown) {
      let card = this.cards.get(r.id);
      if (!card) {
        card = new RestreamCard(r, this.context);
        this.cards.set(r.id, card);
      }
      card.update(r, this.waitingSince.get(r.id));
      // Keep the order (running first) without moving nodes that are in place (focus stays).
      const expected: Element | null = previous ? previous.nextElementSibling : this.list.firstElementChild;
      if (expected !== card.root) {
        if (previous) previous.after(card.root);
        else this.list.prepend(card.root);
      }
      previous = card.root;
    }
    show(this.empty, shown.length === 0);
    this.empty.textContent = room ? 'No restream in this room yet.' : 'Choose a room to see its restreams.';
  }

  /** Moves the focus to a restream's card, when it is shown. */
  focus(id: EgressId): void {
    this.cards.get(id)?.focus();
  }
}
