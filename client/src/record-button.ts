// The teacher's "Record" / "Stop recording" button (#record): shown when the
// server lets this peer record (`Joined.canRecord`). It sends `startRecording`
// (the server picks the teacher's camera, else screen, and microphone) or
// `stopRecording`; its label follows the room's recording state from the
// server (recording.ts), so it is right when an admin started the recording.

import { isRecording, onRecordingChange } from './recording';
import type { RoomClient } from './room';
import { byId, notify, setPressed, show } from './ui';

export function mountRecordButton(room: RoomClient): void {
  const button = byId<HTMLButtonElement>('record');
  let busy = false;

  const render = () => {
    const recording = isRecording(room);
    show(button, room.joined?.canRecord === true);
    button.disabled = busy || room.status.kind !== 'live';
    setPressed(button, recording, recording ? 'Stop recording' : 'Record');
    button.classList.toggle('danger', recording);
  };

  button.addEventListener('click', () => {
    if (busy) return;
    const stopping = isRecording(room);
    busy = true;
    render();
    const request = stopping ? room.request('stopRecording', {}) : room.request('startRecording', {});
    request
      .then(
        () => {},
        (error: Error) => {
          notify(`${stopping ? 'Could not stop the recording' : 'Could not start the recording'}: ${error.message}`, 'error');
        },
      )
      .finally(() => {
        busy = false;
        render();
      });
  });

  onRecordingChange(room, render);
  room.on('status', render);
  render();
}
