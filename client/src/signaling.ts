// The signaling connection: requests answered by id, notifications, request
// timeouts, and reconnection with exponential backoff. A reconnection is a new
// peer on the server: whoever owns this connection joins again on `open`.

import {
  parseIncoming,
  type CloseReason,
  type ErrorCode,
  type Method,
  type Notification,
  type RequestData,
  type ResponseData,
} from './protocol';

export type FailureCode = ErrorCode | 'timeout' | 'disconnected';

/** A refused or failed request; `code` is the server's error code when it answered. */
export class RequestError extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
    readonly method?: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

/** Why the connection stopped for good (no more reconnecting). */
export type StopReason = 'unauthorized' | 'kicked' | 'replaced' | 'left' | 'closed' | 'refused';

export type SignalingState =
  | { kind: 'connecting'; attempt: number }
  | { kind: 'open' }
  | { kind: 'retrying'; attempt: number; at: number; reason: string }
  | { kind: 'stopped'; reason: StopReason; message: string };

/** Delays that double from `initialMs` up to `maxMs`, with ±20% jitter. */
export class Backoff {
  attempt = 0;
  constructor(
    private readonly initialMs = 500,
    private readonly maxMs = 10_000,
  ) {}
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt += 1;
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }
  reset(): void {
    this.attempt = 0;
  }
}

/** The subprotocol Podium speaks; the token travels as `podium.token.<token>` beside it. */
export const WS_PROTOCOL = 'podium';

export interface SignalingOptions {
  /** ws:// or wss:// URL of the endpoint (no token in it). */
  url: string;
  /** The join token, offered as the subprotocol `podium.token.<token>`. */
  token: string;
  /** Plain HTTP URL of the same endpoint: it answers 401 with a reason when the token is refused. */
  diagnoseUrl?: string;
  requestTimeoutMs?: number;
  backoff?: Backoff;
}

interface Pending {
  resolve: (data: unknown) => void;
  reject: (error: RequestError) => void;
  timer: ReturnType<typeof setTimeout>;
  method: string;
}

type Listener<T> = (value: T) => void;

export class Signaling {
  private ws: WebSocket | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly backoff: Backoff;
  private readonly timeoutMs: number;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private current: SignalingState = { kind: 'connecting', attempt: 0 };
  private readonly openListeners: Listener<void>[] = [];
  private readonly lostListeners: Listener<string>[] = [];
  private readonly stateListeners: Listener<SignalingState>[] = [];
  private readonly notificationListeners: Listener<Notification>[] = [];

  constructor(private readonly options: SignalingOptions) {
    this.backoff = options.backoff ?? new Backoff();
    this.timeoutMs = options.requestTimeoutMs ?? 10_000;
    window.addEventListener('online', () => {
      if (this.current.kind === 'retrying') this.retryNow();
    });
  }

  get state(): SignalingState {
    return this.current;
  }

  /** A new connection is open: join the room on it. */
  onOpen(listener: Listener<void>): void {
    this.openListeners.push(listener);
  }
  /** The open connection dropped; a reconnection follows unless the state says stopped. */
  onLost(listener: Listener<string>): void {
    this.lostListeners.push(listener);
  }
  onState(listener: Listener<SignalingState>): void {
    this.stateListeners.push(listener);
  }
  onNotification(listener: Listener<Notification>): void {
    this.notificationListeners.push(listener);
  }

  start(): void {
    if (this.ws || this.stopped) return;
    this.connect();
  }

  /** The session on this connection works (joined): later drops retry quickly again. */
  markHealthy(): void {
    this.backoff.reset();
  }

  request<M extends Method>(method: M, data: RequestData<M>, timeoutMs = this.timeoutMs): Promise<ResponseData<M>> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.current.kind !== 'open') {
      return Promise.reject(new RequestError('disconnected', 'not connected to the server', method));
    }
    const id = this.nextId++;
    return new Promise<ResponseData<M>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestError('timeout', `the server did not answer ${method} in time`, method));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (data: unknown) => void, reject, timer, method });
      ws.send(JSON.stringify({ id, method, data }));
    });
  }

  /** Drops the connection and reconnects (after the usual backoff): the session is unusable. */
  restart(reason: string): void {
    if (this.stopped) return;
    const ws = this.ws;
    if (ws && this.current.kind === 'open') {
      // Detach first: a close handshake with a stalled server can take long.
      this.ws = null;
      ws.close(4000, reason.slice(0, 100));
      this.dropped(reason);
    } else if (this.current.kind === 'retrying') {
      this.retryNow();
    }
  }

  /** Retries at once when waiting for the next attempt. */
  retryNow(): void {
    if (this.stopped || this.current.kind !== 'retrying') return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  /** Ends for good: no reconnection. */
  stop(reason: StopReason = 'closed', message = 'disconnected'): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, reason);
    this.failPending('the connection was closed');
    this.setState({ kind: 'stopped', reason, message });
  }

  private connect(): void {
    const attempt = this.backoff.attempt;
    this.setState({ kind: 'connecting', attempt });
    let opened = false;
    let closeReason: CloseReason | null = null;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.options.url, [WS_PROTOCOL, `podium.token.${this.options.token}`]);
    } catch (error) {
      this.stop('refused', `cannot open the connection: ${(error as Error).message}`);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.setState({ kind: 'open' });
      for (const l of this.openListeners) l();
    };
    ws.onmessage = (event) => {
      if (typeof event.data !== 'string') return;
      const message = parseIncoming(event.data);
      if (!message) return;
      if ('notification' in message) {
        if (message.notification === 'closed') closeReason = message.data.reason;
        for (const l of this.notificationListeners) l(message);
        return;
      }
      const id = message.response;
      const pending = id === undefined ? undefined : this.pending.get(id);
      if (!pending) return;
      this.pending.delete(id!);
      clearTimeout(pending.timer);
      if (message.ok) pending.resolve(message.data);
      else pending.reject(new RequestError(message.error.code, message.error.message, pending.method));
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return; // replaced or stopped
      this.ws = null;
      this.failPending('the connection to the server dropped');
      if (this.stopped) return;
      if (closeReason === 'kicked') return this.stop('kicked', 'You were removed from the class.');
      if (closeReason === 'left') return this.stop('left', 'You left the class.');
      // Admitted on one node while the class filled up on others.
      if (closeReason === 'roomFull') return this.stop('refused', 'This class is full.');
      if (closeReason === 'replaced') {
        return this.stop('replaced', 'This class was opened with your link in another tab or on another device.');
      }
      if (opened) {
        this.dropped(describeClose(closeReason, event));
      } else {
        void this.diagnose().then((why) => {
          if (!this.stopped && why !== null) this.scheduleRetry(why);
        });
      }
    };
  }

  /** An open connection is gone: tell the owner, then reconnect. */
  private dropped(why: string): void {
    this.failPending('the connection to the server dropped');
    for (const l of this.lostListeners) l(why);
    if (!this.stopped) this.scheduleRetry(why);
  }

  /** Why a connection could not open; null when it stopped for good. */
  private async diagnose(): Promise<string | null> {
    if (!this.options.diagnoseUrl) return 'cannot reach the server';
    try {
      const response = await fetch(this.options.diagnoseUrl, {
        cache: 'no-store',
        headers: { authorization: `Bearer ${this.options.token}` },
      });
      if (response.status === 401) {
        const body = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
        const message = body?.error?.message ?? 'the server refused this link';
        this.stop('unauthorized', message);
        return null;
      }
      return `the server did not accept the connection (HTTP ${response.status})`;
    } catch {
      return 'the server is unreachable';
    }
  }

  private scheduleRetry(reason: string): void {
    const delay = this.backoff.next();
    this.setState({ kind: 'retrying', attempt: this.backoff.attempt, at: Date.now() + delay, reason });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.connect();
    }, delay);
  }

  private failPending(message: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new RequestError('disconnected', message, p.method));
      this.pending.delete(id);
    }
  }

  private setState(state: SignalingState): void {
    this.current = state;
    for (const l of this.stateListeners) l(state);
  }
}

function describeClose(reason: CloseReason | null, event: CloseEvent): string {
  switch (reason) {
    case 'workerDied':
      return 'the media server restarted';
    case 'serverShutdown':
      return 'the server is restarting';
    case 'tooSlow':
      return 'the connection was too slow';
    default:
      return event.code === 1006 ? 'the connection to the server was cut' : 'the connection to the server dropped';
  }
}
