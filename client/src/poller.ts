// Polling while the page is visible: one load at a time (a slow answer is
// never overtaken by an older one), the next one a while after the last,
// none while the page is hidden, one at once when it shows again.

export class Poller {
  private readonly load: () => Promise<boolean>;
  private readonly intervalMs: number;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inFlight: Promise<boolean> | null = null;

  /** `load` answers whether to go on polling. */
  constructor(load: () => Promise<boolean>, intervalMs: number) {
    this.load = load;
    this.intervalMs = intervalMs;
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') void this.refresh();
      else this.cancel();
    });
  }

  /** Loads now (or waits for the load under way), then polls on. */
  async refresh(): Promise<void> {
    this.cancel();
    this.inFlight ??= this.load().finally(() => {
      this.inFlight = null;
    });
    const keepPolling = await this.inFlight;
    this.cancel();
    if (keepPolling && document.visibilityState === 'visible') {
      this.timer = setTimeout(() => void this.refresh(), this.intervalMs);
    }
  }

  private cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
