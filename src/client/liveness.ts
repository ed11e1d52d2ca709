/**
 * Whether the connection is still alive, and keeping it authorized: the heartbeat check (silence
 * judged by the wall clock), an immediate check when the page regains focus or the network comes
 * back, and the timer of the token refresh before the server's expiry.
 */
import { HEARTBEAT_FACTOR, type ResolvedOptions } from './options.js';

type Timer = ReturnType<typeof setTimeout>;

/** Browsers' window (or a worker's global): where 'online' and 'focus' are announced. Node has neither. */
const wakeTarget = globalThis as unknown as {
  addEventListener?: (type: string, fn: () => void) => void;
  removeEventListener?: (type: string, fn: () => void) => void;
};

/** What wakes the check at once: the network coming back, the page regaining focus. */
const WAKES = ['online', 'focus'];

export class Liveness {
  #o: ResolvedOptions;
  /** Nothing arrived for longer than the timeout: the link is dead. */
  #onSilent: () => void;
  /** Time to send a fresh token (and then call `refreshAt` with the new expiry). */
  #onRefresh: () => void;
  /** What the connection last heard, while connected; undefined otherwise. */
  #link: { readonly lastSeen: number } | undefined;
  /** Silence longer than this means a dead link. */
  #timeoutMs = 0;
  #checkTimer: ReturnType<typeof setInterval> | undefined;
  #refreshTimer: Timer | undefined;

  constructor(options: ResolvedOptions, onSilent: () => void, onRefresh: () => void) {
    this.#o = options;
    this.#onSilent = onSilent;
    this.#onRefresh = onRefresh;
  }

  /**
   * Connected, to a server that pings every `heartbeatMs` (0: never). The check is judged by the
   * wall clock, not by counting timer ticks: a throttled background tab fires it late, but it
   * still sees how long the line has really been silent.
   */
  start(link: { readonly lastSeen: number }, heartbeatMs: number): void {
    this.#link = link;
    const { heartbeat } = this.#o;
    const timeout = (heartbeat || undefined)?.timeoutMs ?? heartbeatMs * HEARTBEAT_FACTOR;
    // A server that never pings cannot be judged by silence.
    this.#timeoutMs = heartbeatMs > 0 ? timeout : Infinity;
    // Waking up (focus, network back) checks at once instead of waiting for the next tick.
    for (const wake of WAKES) wakeTarget.addEventListener?.(wake, this.#check);
    if (heartbeat === false || heartbeatMs <= 0) return;
    // Capped: past 2^31 ms Node fires intervals every millisecond, and a server may announce any
    // interval; the check reads the wall clock, so ticking more often than needed costs nothing.
    const every = Math.min(Math.max(50, timeout / 4), 30_000);
    this.#checkTimer = setInterval(this.#check, every);
  }

  /** Disconnected (or closed): no checks, no refresh, until the next start. */
  stop(): void {
    this.#link = undefined;
    for (const wake of WAKES) wakeTarget.removeEventListener?.(wake, this.#check);
    clearInterval(this.#checkTimer);
    clearTimeout(this.#refreshTimer);
  }

  /** A field, not a method: the interval and the wake listeners hold it. */
  #check = (): void => {
    const link = this.#link;
    if (link && Date.now() - link.lastSeen > this.#timeoutMs) {
      this.#o.log?.('heartbeat timeout');
      this.#onSilent();
    }
  };

  /** Schedules the token refresh well before `expiresAt`; nothing to do for a fixed token. */
  refreshAt(expiresAt: number | undefined): void {
    clearTimeout(this.#refreshTimer);
    // Number.isFinite is false for anything but a finite number (and undefined).
    if (!Number.isFinite(expiresAt) || typeof this.#o.token !== 'function') return;
    // Well before expiry, whatever the token's lifetime; capped to what setTimeout can count.
    const delay = Math.min(Math.max(0, (expiresAt! - Date.now()) * 0.8), 2 ** 31 - 1);
    this.#refreshTimer = setTimeout(this.#onRefresh, delay);
  }
}
