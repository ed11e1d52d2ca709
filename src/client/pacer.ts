/**
 * The client's mirror of the server's per-connection pacing limits, as the connect reply
 * announces them (`limits`): the outbox sends no more than they allow, so a client that queued a
 * thousand publishes while offline is never answered RATE_LIMITED or LIMIT_EXCEEDED when it
 * comes back, and never closed with 4008. Without announced limits it limits nothing.
 *
 * It keeps a little below what the server allows. The server counts a frame when it reads it,
 * the client when it sends it: frames sent apart can arrive together after a network stall, so
 * the bucket keeps a tenth of its size in reserve (a stall of up to burst / 10 / rate seconds is
 * absorbed). And one request slot is kept free: the server may still count a subscribe it has
 * answered while it announces the subscriber's presence.
 */
export class Pacer {
  /** Requests that may await their reply at once. */
  readonly inFlight: number;
  /** Frames per WebSocket message. */
  readonly batch: number;
  /** Tokens per ms; 0 when unpaced (the bucket then holds Infinity). */
  #rate = 0;
  #size = Infinity;
  #tokens = Infinity;
  #at: number;

  constructor(limits: unknown, maxBatch: number, now = Date.now()) {
    const l = (limits ?? {}) as Record<string, unknown>;
    this.inFlight = Math.max(1, whole(l['maxInFlight']) - 1);
    this.batch = Math.min(maxBatch, whole(l['maxBatch']));
    const rate = l['messagesPerSecond'];
    const burst = whole(l['burst']);
    if (typeof rate === 'number' && rate > 0 && rate < Infinity && burst < Infinity) {
      this.#rate = rate / 1000;
      this.#size = Math.max(1, burst - Math.ceil(burst / 10));
      // The connect request spent one token already.
      this.#tokens = this.#size - 1;
    }
    this.#at = now;
  }

  /** Whole tokens available now. */
  tokens(now = Date.now()): number {
    this.#tokens = Math.min(this.#size, this.#tokens + Math.max(0, now - this.#at) * this.#rate);
    this.#at = now;
    return Math.floor(this.#tokens);
  }

  spend(count: number): void {
    this.#tokens -= count;
  }

  /** Milliseconds until the next whole token (after `tokens()` found none). */
  wait(): number {
    // Capped: past 2^31 ms setTimeout fires at once.
    return Math.min(Math.ceil((1 - this.#tokens) / this.#rate) + 1, 1e9);
  }
}

/** A positive integer limit; anything else (absent, malformed) is no limit. */
function whole(value: unknown): number {
  return Number.isSafeInteger(value) && (value as number) >= 1 ? (value as number) : Infinity;
}
