// The admin page's recordings section (#recordings): every recording the
// server keeps (running first, then newest first) with its room, state,
// start, duration, size, picture and how it ended; Stop and a picture
// select (its layout, changed live) while it records; Play (the browser's own
// player on a signed link), Download and Delete once over; and "Record" in
// each row of the room list. The parts are in ./admin-recordings/:
//   table.ts, row.ts     the list, a row per recording, updated in place
//   actions.ts           what the buttons and the picture select do through the admin API
//   player.ts            the <video controls> on a recording's link
//   room-buttons.ts      "Record" in the room list
//   text.ts              what states and reasons read as
// This module holds the list the server last gave and wires the parts.
//
// Updates: GET /api/admin/recordings every 2 s while the page is visible (and
// at once after each action), as the restreams section does (../poller.ts).

import { adminApi, ApiError, apiErrorText, type RecordingSummary } from './admin-api';
import { changeLayout, runRowAction, startRecording, type ActionContext } from './admin-recordings/actions';
import { RecordingPlayer } from './admin-recordings/player';
import { RoomRecordButtons } from './admin-recordings/room-buttons';
import { RecordingTable } from './admin-recordings/table';
import { setText } from './dom-sync';
import { Poller } from './poller';
import { byId, show } from './ui';

const POLL_MS = 2000;

export interface RecordingPanel {
  /** A "Record" button for a row of the room list. */
  recordButton(room: string): HTMLButtonElement;
  refresh(): Promise<void>;
}

export function recordingPanel(getKey: () => string): RecordingPanel {
  return new Panel(getKey);
}

class Panel implements RecordingPanel {
  private readonly getKey: () => string;
  private readonly table: RecordingTable;
  private readonly roomButtons: RoomRecordButtons;
  private readonly poller: Poller;
  private readonly error = byId('recordings-error');
  private readonly updated = byId('recordings-updated');

  constructor(getKey: () => string) {
    this.getKey = getKey;
    const context: ActionContext = {
      api: () => adminApi(getKey()),
      refresh: () => this.refresh(),
      player: new RecordingPlayer(),
    };
    this.table = new RecordingTable(
      (action, recording, button) => runRowAction(context, action, recording, button),
      (recording, layout) => changeLayout(context, recording, layout),
    );
    this.roomButtons = new RoomRecordButtons((room) => startRecording(context, room));
    this.poller = new Poller(() => this.load(), POLL_MS);
  }

  recordButton(room: string): HTMLButtonElement {
    return this.roomButtons.create(room);
  }

  refresh(): Promise<void> {
    return this.poller.refresh();
  }

  /** Loads the recordings; false when polling should stop (no key, or the key was refused). */
  private async load(): Promise<boolean> {
    const key = this.getKey();
    if (!key) return false;
    let recordings: RecordingSummary[];
    try {
      recordings = await adminApi(key).recordings();
    } catch (error) {
      // A refused key: the page asks for another one, and a new key restarts the polling.
      const keepPolling = !(error instanceof ApiError && error.status === 401);
      this.error.textContent = `Could not load the recordings: ${apiErrorText(error)}.${keepPolling ? ' Retrying…' : ''}`;
      show(this.error, true);
      return keepPolling;
    }
    show(this.error, false);
    setText(this.updated, `Updated ${new Date().toLocaleTimeString()}`);
    this.table.render(recordings);
    this.roomButtons.update(recordings);
    return true;
  }
}
