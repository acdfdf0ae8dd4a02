// What the recordings section's buttons do, through the admin API: start a
// room's recording, stop one, change its layout while it records, play or
// download its file (a signed link first: the file is served without the
// admin key), delete it. Each says how it went in a notice and reloads the
// list.

import { apiErrorText, type AdminApi, type Layout, type RecordingSummary } from '../admin-api';
import { layoutText } from '../layout';
import { el, notify } from '../ui';
import type { RecordingPlayer } from './player';
import type { RowAction } from './row';
import { fileName, recordingName } from './text';

export interface ActionContext {
  /** The admin API with the key as it is now. */
  api(): AdminApi;
  /** Reloads the recordings at once, and goes on polling. */
  refresh(): Promise<void>;
  player: RecordingPlayer;
}

/** Runs `action` with `button` disabled; a failure is a notice that starts with `failure`. */
async function withButton(button: HTMLButtonElement, failure: string, action: () => Promise<void>): Promise<void> {
  button.disabled = true;
  try {
    await action();
  } catch (error) {
    notify(`${failure}: ${apiErrorText(error)}.`, 'error');
  } finally {
    button.disabled = false;
  }
}

/** The signed link's URL, when it is on this server (it goes into the page's player); null (said) if not. */
async function fileUrl(context: ActionContext, r: RecordingSummary): Promise<string | null> {
  const link = await context.api().recordingLink(r.id);
  let origin: string | null = null;
  try {
    origin = new URL(link.url, location.href).origin;
  } catch {
    // Not a URL: refused below.
  }
  if (origin === location.origin) return link.url;
  notify(`The server's link to ${recordingName(r)} is not on this server: not opened.`, 'error');
  return null;
}

export async function startRecording(context: ActionContext, room: string): Promise<void> {
  try {
    await context.api().startRecording(room, {});
    notify(`Recording of ${room} started.`, 'success');
  } catch (error) {
    notify(`Could not record ${room}: ${apiErrorText(error)}.`, 'error');
  }
  await context.refresh();
}

/** Changes a running recording's layout; false when refused (said in a notice). */
export async function changeLayout(context: ActionContext, r: RecordingSummary, layout: Layout): Promise<boolean> {
  const name = recordingName(r);
  let ok = true;
  try {
    await context.api().setRecordingLayout(r.id, layout);
    notify(`The picture of ${name} is now: ${layoutText(layout)}.`, 'success');
  } catch (error) {
    notify(`Could not change the picture of ${name}: ${apiErrorText(error)}.`, 'error');
    ok = false;
  }
  await context.refresh();
  return ok;
}

export function runRowAction(
  context: ActionContext,
  action: RowAction,
  r: RecordingSummary,
  button: HTMLButtonElement,
): void {
  const name = recordingName(r);
  switch (action) {
    case 'stop':
      void withButton(button, `Could not stop ${name}`, async () => {
        await context.api().stopRecording(r.id);
        notify(`Stopped ${name}.`, 'success');
      }).then(() => context.refresh());
      return;
    case 'play':
      void withButton(button, `Could not play ${name}`, async () => {
        const url = await fileUrl(context, r);
        if (url) context.player.play(r, url);
      });
      return;
    case 'download':
      void withButton(button, `Could not download ${name}`, async () => {
        const url = await fileUrl(context, r);
        if (!url) return;
        // The same signed link, asking the server for an attachment.
        const link = el('a', {
          attrs: { href: `${url}${url.includes('?') ? '&' : '?'}download=1`, download: fileName(r), hidden: true },
        });
        document.body.append(link);
        link.click();
        link.remove();
      });
      return;
    case 'delete':
      if (!confirm(`Delete ${name}? The file is removed from the server for good.`)) return;
      void withButton(button, `Could not delete ${name}`, async () => {
        await context.api().deleteRecording(r.id);
        context.player.forget(r.id);
        notify(`Deleted ${name}.`, 'success');
      }).then(() => context.refresh());
      return;
  }
}
