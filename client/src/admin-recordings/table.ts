// The recordings table (#recordings-table): a row per recording in the
// server's order (running first, then newest first). Rows stay in place from
// one poll to the next, so the focus on their buttons stays.

import type { RecordingId, RecordingSummary } from '../admin-api';
import { byId, show } from '../ui';
import { RecordingRow, type LayoutHandler, type RowActionHandler } from './row';

export class RecordingTable {
  private readonly table = byId('recordings-table');
  private readonly body = byId('recordings-body');
  private readonly empty = byId('recordings-empty');
  private readonly rows = new Map<RecordingId, RecordingRow>();
  private readonly onAction: RowActionHandler;
  private readonly onLayout: LayoutHandler;

  constructor(onAction: RowActionHandler, onLayout: LayoutHandler) {
    this.onAction = onAction;
    this.onLayout = onLayout;
  }

  render(recordings: RecordingSummary[]): void {
    const keep = new Set(recordings.map((r) => r.id));
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) {
        row.row.remove();
        this.rows.delete(id);
      }
    }
    let previous: Element | null = null;
    for (const r of recordings) {
      let row = this.rows.get(r.id);
      if (row) {
        row.update(r);
      } else {
        row = new RecordingRow(r, this.onAction, this.onLayout);
        this.rows.set(r.id, row);
      }
      // Keep the server's order without moving rows that are in place (focus stays).
      const expected: Element | null = previous ? previous.nextElementSibling : this.body.firstElementChild;
      if (expected !== row.row) {
        if (previous) previous.after(row.row);
        else this.body.prepend(row.row);
      }
      previous = row.row;
    }
    show(this.table, recordings.length > 0);
    show(this.empty, recordings.length === 0);
  }
}
