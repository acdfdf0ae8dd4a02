// "Start a restream" (#restream-form): the room picker, what to send (a
// layout, or video, sound and encoding), the destinations, and the start
// itself. It builds a `StartRestream`; the server's `restreamDefaults` of the
// room say which producers it takes when the admin leaves the defaults. A
// layout names no producers: the server follows the teacher's camera, screen
// and microphone, and refuses producer ids with it.

import { isFinal, type RestreamStatus, type RoomSummary, type StartRestream } from '../admin-api';
import { SelectOptions } from '../dom-sync';
import { isLayout, layoutOptions } from '../layout';
import type { ProducerId, ProducerInfo, RestreamInputs } from '../protocol';
import { byId, el, show } from '../ui';
import type { PanelContext } from './context';
import { DestinationList } from './destination-list';
import type { RoomChoice } from './room-choice';
import { errorText, producerText, roomOptionText } from './text';

/** The layout, video and sound pickers' "default" and the sound's "no sound" values. */
const DEFAULT = '';
const NO_SOUND = 'none';

export type Inputs = Pick<StartRestream, 'videoProducerId' | 'audioProducerId'>;

/**
 * The producers a start request names, from the pickers. Both left at their
 * default: none (the server takes its defaults). Past them, the request names
 * the video (the server then takes the sound as named, or none), so a default
 * left in the other picker is filled from the room's `restreamDefaults`.
 */
export function chooseInputs(
  video: string,
  audio: string,
  defaults: RestreamInputs | undefined,
): { inputs: Inputs } | { problem: string } {
  if (video === DEFAULT && audio === DEFAULT) return { inputs: {} };
  const videoId = video === DEFAULT ? defaults?.videoProducerId : (video as ProducerId);
  if (!videoId) return { problem: 'The teacher is not sending video: choose a video.' };
  const audioId = audio === NO_SOUND ? null : audio === DEFAULT ? defaults?.audioProducerId : (audio as ProducerId);
  return { inputs: audioId ? { videoProducerId: videoId, audioProducerId: audioId } : { videoProducerId: videoId } };
}

export interface StartFormOptions {
  context: PanelContext;
  /** The room the panel is about; the form's picker changes it. */
  choice: RoomChoice;
  /** The admin picked another room: the panel renders again. */
  onRoomChange(): void;
  /** The server started `status` in `room`. */
  onStarted(status: RestreamStatus, room: string): void;
}

export class StartForm {
  private readonly options: StartFormOptions;
  private readonly roomPicker = new SelectOptions(byId<HTMLSelectElement>('restream-room'));
  private readonly layout = byId<HTMLSelectElement>('restream-layout');
  private readonly video = new SelectOptions(byId<HTMLSelectElement>('restream-video'));
  private readonly audio = new SelectOptions(byId<HTMLSelectElement>('restream-audio'));
  private readonly mode = byId<HTMLSelectElement>('restream-mode');
  private readonly startButton = byId<HTMLButtonElement>('restream-start');
  private readonly error = byId('restream-error');
  private readonly destinations = new DestinationList(
    byId<HTMLOListElement>('restream-destinations'),
    byId<HTMLButtonElement>('restream-add-destination'),
  );
  /** The chosen room as last rendered: its producers are in the pickers. */
  private summary: RoomSummary | undefined;

  constructor(options: StartFormOptions) {
    this.options = options;
    this.layout.replaceChildren(
      el('option', { text: 'One video, as chosen below (no re-encode for H.264)', attrs: { value: DEFAULT } }),
      ...layoutOptions(),
    );
    this.layout.addEventListener('change', () => this.renderLayout());
    this.roomPicker.select.addEventListener('change', () => {
      options.choice.choose(this.roomPicker.select.value || null);
      options.onRoomChange();
    });
    byId<HTMLFormElement>('restream-form').addEventListener('submit', (event) => {
      event.preventDefault();
      void this.start();
    });
  }

  /** Shows the rooms to pick from, and the chosen room's producers. */
  render(rooms: RoomSummary[], restreams: RestreamStatus[]): void {
    const { choice } = this.options;
    const names = choice.settle(rooms, restreams);
    const room = choice.room;
    const options = names.map((name) => {
      const running = restreams.filter((r) => r.label === name && !isFinal(r)).length;
      return { value: name, label: roomOptionText(name, rooms.find((r) => r.id === name), running) };
    });
    if (options.length === 0) options.push({ value: '', label: 'No active rooms' });
    this.roomPicker.set(options, room ?? '');
    this.roomPicker.select.value = room ?? '';
    this.startButton.disabled = !room;
    this.summary = rooms.find((r) => r.id === room);
    this.renderSources();
  }

  private renderSources(): void {
    const summary = this.summary;
    const owners = new Map(summary?.peers.map((p) => [p.id, `${p.name} (${p.role})`]) ?? []);
    const producers = summary?.producers ?? [];
    const option = (p: ProducerInfo) => ({ value: p.id, label: producerText(p, owners.get(p.peerId)) });
    this.video.set([
      { value: DEFAULT, label: "The teacher's camera (their screen if no camera)" },
      ...producers.filter((p) => p.kind === 'video').map(option),
    ]);
    this.audio.set([
      { value: DEFAULT, label: "The teacher's microphone" },
      ...producers.filter((p) => p.kind === 'audio').map(option),
      { value: NO_SOUND, label: 'No sound' },
    ]);
  }

  /** With a layout, the video, sound and encoding pickers do not apply: they are off. */
  private renderLayout(): void {
    const composed = this.layout.value !== DEFAULT;
    for (const select of [this.video.select, this.audio.select, this.mode]) select.disabled = composed;
  }

  private build(): { request: StartRestream } | { problem: string; field?: HTMLElement } {
    const layout = this.layout.value;
    if (isLayout(layout)) {
      const destinations = this.destinations.read();
      if ('problem' in destinations) return destinations;
      return { request: { layout, destinations: destinations.specs } };
    }
    const chosen = chooseInputs(this.video.select.value, this.audio.select.value, this.summary?.restreamDefaults);
    if ('problem' in chosen) return { problem: chosen.problem, field: this.video.select };
    const destinations = this.destinations.read();
    if ('problem' in destinations) return destinations;
    const request: StartRestream = { ...chosen.inputs, destinations: destinations.specs };
    if (this.mode.value === 'reencode') request.videoMode = 'reencode';
    return { request };
  }

  private async start(): Promise<void> {
    const { context, choice } = this.options;
    show(this.error, false);
    const room = choice.room;
    if (!room) return;
    const built = this.build();
    if ('problem' in built) {
      this.error.textContent = built.problem;
      show(this.error, true);
      built.field?.focus();
      return;
    }
    this.startButton.disabled = true;
    this.startButton.textContent = 'Starting…';
    try {
      const status = await context.api().startRestream(room, built.request);
      // The keys are with the server now: nothing here keeps them.
      this.destinations.reset();
      this.video.select.value = DEFAULT;
      this.audio.select.value = DEFAULT;
      this.layout.value = DEFAULT;
      this.renderLayout();
      this.options.onStarted(status, room);
    } catch (error) {
      this.error.textContent = `The restream did not start: ${errorText(error)}.`;
      show(this.error, true);
    } finally {
      this.startButton.disabled = !choice.room;
      this.startButton.textContent = 'Start restream';
    }
    await context.refresh();
  }
}
