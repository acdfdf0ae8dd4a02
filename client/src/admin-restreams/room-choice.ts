// Which room the restream panel is about: the one the admin chose in its room
// picker, else the one they opened on the admin page, else one the panel
// picks (the first room whose teacher sends video, by the server's
// `restreamDefaults`). No DOM here.

import { isFinal, type RestreamStatus, type RoomSummary } from '../admin-api';

export class RoomChoice {
  private current: string | null;
  /** The admin chose the room in the panel: opening another room does not change it. */
  private chosenHere = false;
  /** The panel chose `current` itself (nobody asked for it). */
  private picked = false;

  constructor(initial: string | null) {
    this.current = initial;
  }

  get room(): string | null {
    return this.current;
  }

  /** The admin chose in the room picker. */
  choose(room: string | null): void {
    this.current = room;
    this.chosenHere = true;
    this.picked = false;
  }

  /** The admin opened a room on the page; true when the panel follows it. */
  follow(room: string): boolean {
    if (this.chosenHere || room === this.current) return false;
    this.current = room;
    this.picked = false;
    return true;
  }

  /**
   * The rooms to offer, sorted: rooms with people in them, rooms with a
   * restream running, and the chosen room. Picks one when none is chosen;
   * drops a room the panel picked by itself once it is gone.
   */
  settle(rooms: RoomSummary[], restreams: RestreamStatus[]): string[] {
    const names = new Set(rooms.map((r) => r.id));
    for (const r of restreams) if (!isFinal(r)) names.add(r.label);
    // A room the panel picked by itself goes when it empties; one the admin chose stays.
    if (this.current && this.picked && !names.has(this.current)) this.current = null;
    if (this.current) names.add(this.current);
    const sorted = [...names].sort();
    if (!this.current && sorted.length > 0) {
      const withTeacher = rooms.find((r) => r.restreamDefaults.videoProducerId !== null);
      this.current = withTeacher?.id ?? sorted[0]!;
      this.picked = true;
    }
    return sorted;
  }
}
