// The admin page's restream controls (#egress): start a room's restream to
// RTMP(S) destinations, watch each restream and destination, add or remove a
// destination or change a composed restream's layout while live, stop. The
// parts are in ./admin-restreams/:
//   room-choice.ts       which room the panel is about
//   start-form.ts        "Start a restream" (destination-list.ts, destination-fields.ts)
//   list.ts              the room's restreams, a card each (card.ts, destination-row.ts,
//                        add-destination.ts)
//   text.ts              what states and errors read as
// (with ../poller.ts, ../dom-sync.ts, ../format.ts and ../layout.ts, shared with the
// recordings section).
// This module holds the data (the rooms the admin page listed, the restreams
// the server last listed) and wires the parts.
//
// Updates: the page polls GET /api/admin/restreams every 2 s while it is
// visible (and at once after each action). It does not join the room over the
// WebSocket: the admin page is not a peer of any room, and the staff
// notifications (`restreamStatus`) only come on state changes, while the
// figures (frame rate, bitrate, bytes) move every second.
//
// Which producers a restream takes by default is the server's answer
// (`RoomSummary.restreamDefaults`), not a rule repeated here.
//
// Stream keys: typed into password fields, sent once in the start (or add)
// request, then cleared. The server never returns them (URLs come back with
// the key as ***), and these modules never log or display them.

import { adminApi, ApiError, type RestreamStatus, type RoomSummary } from './admin-api';
import type { PanelContext } from './admin-restreams/context';
import { setText } from './dom-sync';
import { RestreamList } from './admin-restreams/list';
import { Poller } from './poller';
import { RoomChoice } from './admin-restreams/room-choice';
import { StartForm } from './admin-restreams/start-form';
import { errorText } from './admin-restreams/text';
import { byId, notify, show } from './ui';

const POLL_MS = 2000;

export interface RestreamPanel {
  /** The rooms the admin page just listed. */
  setRooms(rooms: RoomSummary[]): void;
  /** Follows the room the admin opened, unless they picked another here. */
  followRoom(room: string): void;
  refresh(): Promise<void>;
}

export function restreamPanel(getKey: () => string, initialRoom: string | null): RestreamPanel {
  return new Panel(getKey, initialRoom);
}

class Panel implements RestreamPanel {
  private readonly getKey: () => string;
  /** As the admin page last listed them. */
  private rooms: RoomSummary[] = [];
  /** As the server last listed them: all rooms', running first. */
  private restreams: RestreamStatus[] = [];
  private readonly choice: RoomChoice;
  private readonly form: StartForm;
  private readonly list: RestreamList;
  private readonly poller: Poller;
  private readonly listError = byId('restreams-error');
  private readonly updated = byId('egress-updated');

  constructor(getKey: () => string, initialRoom: string | null) {
    this.getKey = getKey;
    const context: PanelContext = {
      api: () => adminApi(getKey()),
      refresh: () => this.refresh(),
    };
    this.choice = new RoomChoice(initialRoom);
    this.form = new StartForm({
      context,
      choice: this.choice,
      onRoomChange: () => this.render(),
      onStarted: (status, room) => this.started(status, room),
    });
    this.list = new RestreamList(context);
    this.poller = new Poller(() => this.load(), POLL_MS);
  }

  setRooms(rooms: RoomSummary[]): void {
    this.rooms = rooms;
    this.render();
  }

  followRoom(room: string): void {
    if (this.choice.follow(room)) this.render();
  }

  refresh(): Promise<void> {
    return this.poller.refresh();
  }

  private render(): void {
    this.form.render(this.rooms, this.restreams);
    this.list.render(this.choice.room, this.restreams);
  }

  /** Shows a restream the form just started, before the next poll lists it. */
  private started(status: RestreamStatus, room: string): void {
    this.restreams = [status, ...this.restreams.filter((r) => r.id !== status.id)];
    this.list.render(this.choice.room, this.restreams);
    const count = status.destinations.length;
    notify(`Restream of ${room} started to ${count} destination${count > 1 ? 's' : ''}.`, 'success');
    this.list.focus(status.id);
  }

  /** Loads the restreams; false when polling should stop (no key, or the key was refused). */
  private async load(): Promise<boolean> {
    const key = this.getKey();
    if (!key) return false;
    let keepPolling = true;
    try {
      this.restreams = await adminApi(key).restreams();
      show(this.listError, false);
      setText(this.updated, `Updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      // A refused key: the page asks for another one, and a new key restarts the polling.
      keepPolling = !(error instanceof ApiError && error.status === 401);
      this.listError.textContent = `Could not load the restreams: ${errorText(error)}.${keepPolling ? ' Retrying…' : ''}`;
      show(this.listError, true);
    }
    this.render();
    return keepPolling;
  }
}
